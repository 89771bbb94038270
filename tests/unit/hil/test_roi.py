"""``hil roi`` end to end on the reference cases of economics.md §5: the expectations are
computed here from the study files' inputs and the tariff (closed forms of §2), with §5.3's
tolerances; the printed §5.2 figures are checked apart, as cross-checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.study import load_study
from hil.tariff import load_tariff

REQUIRED = [
    "baseline", "project", "savings_year1", "npv", "simple_payback_years", "discounted_payback_years", "irr",
    "lcos_per_kwh", "resilience_hours", "renewable_share", "gpu_hours_lost", "optimum_share", "study",
]  # fmt: skip
BILLSUM = ["bill_total", "energy_cost", "demand_cost", "fixed_cost", "energy_kwh", "avg_price_per_kwh",
           "peak_kw_by_month"]  # fmt: skip


def run_roi(name: str, out: Path) -> dict:
    res = CliRunner().invoke(main, ["roi", name, "--out", str(out), "--no-status"])
    assert res.exit_code == 0, res.output
    return json.loads((out / "roi.json").read_text())


@pytest.fixture(scope="module")
def ref_a(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_roi("ref_a", tmp_path_factory.mktemp("roi") / "ref_a")


@pytest.fixture(scope="module")
def ref_b(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_roi("ref_b", tmp_path_factory.mktemp("roi") / "ref_b")


def prices() -> dict[str, float]:
    t = load_tariff("example_cn_north_2026")
    return dict(zip(t.period_names, t.period_prices, strict=True))


def closed_form_a() -> dict[str, float]:
    """REF-A from the study's inputs (economics.md §2 and §5.1)."""
    s = load_study("ref_a").spec
    p = prices()
    st, fin = s.storage, s.finance
    base = s.load.base_kw
    (win,) = s.load.windows
    target = s.dispatch.schedule.shave_target_kw
    days = s.calendar.days
    usable = (st.soc_max - st.soc_min) * st.energy_kwh
    energy_1 = usable * (st.eta_discharge * p["peak"] - p["valley"] / st.eta_charge) * days
    demand = (win.kw - target) * 40.0 * 12
    n, d = fin.horizon_years, fin.discount_rate
    capex = fin.storage_capex_per_kwh * st.energy_kwh
    om = fin.storage_om_fraction * capex
    fade = [1.0 - st.fade_per_year * (y - 1) for y in range(1, n + 1)]
    net = [demand + energy_1 * f - om for f in fade]
    flows = [-capex, *net]
    disc = [(1 + d) ** -y for y in range(n + 1)]

    def payback(f: list[float]) -> float:
        cum = np.cumsum(f)
        i = int(np.flatnonzero(cum > 0)[0])
        return i - cum[i] / f[i]

    # IRR: the root of the NPV polynomial in 1/(1+r) between 0 and 1
    roots = np.roots(flows[::-1])
    v = [r.real for r in roots if abs(r.imag) < 1e-9 and 0 < r.real < 1]
    dis_kwh = [usable * st.eta_discharge * days * f for f in fade]
    charge_cost = [usable / st.eta_charge * p["valley"] * days * f for f in fade]
    pv_d = sum(x * disc[y] for y, x in enumerate(dis_kwh, start=1))
    fixed = capex + sum(om * disc[y] for y in range(1, n + 1))
    baseline = (
        base * 8 * days * p["valley"] + base * 8 * days * p["flat"]
        + (base * 8 + (win.kw - base)) * days * p["peak"] + win.kw * 40.0 * 12
    )  # fmt: skip
    return {
        "baseline": baseline,
        "energy_1": energy_1,
        "demand": demand,
        "npv": sum(f * disc[y] for y, f in enumerate(flows)),
        "simple_pb": payback(flows),
        "disc_pb": payback([f * disc[y] for y, f in enumerate(flows)]),
        "irr": 1.0 / v[0] - 1.0,
        "lcos": (fixed + sum(c * disc[y] for y, c in enumerate(charge_cost, start=1))) / pv_d,
        "lcos_excl": fixed / pv_d,
        "target": target,
        "energy_10": energy_1 * fade[-1],
    }


def test_ref_a_reproduces_the_bill_savings_and_finance_from_its_inputs(ref_a: dict) -> None:
    cf = closed_form_a()
    for key in REQUIRED:
        assert key in ref_a, key
    for key in BILLSUM:
        assert key in ref_a["baseline"], key
        assert key in ref_a["project"], key
    assert ref_a["baseline"]["bill_total"] == pytest.approx(cf["baseline"], rel=5e-4)
    peaks = ref_a["project"]["peak_kw_by_month"]
    assert len(peaks) == 12
    assert list(peaks.values()) == pytest.approx([cf["target"]] * 12, rel=1e-4)
    sav = ref_a["savings_year1"]
    assert sav["energy"] == pytest.approx(cf["energy_1"], rel=1e-3)
    assert sav["demand"] == pytest.approx(cf["demand"], rel=1e-3)
    assert sav["total"] == pytest.approx(cf["energy_1"] + cf["demand"], rel=1e-3)
    years = ref_a["years"]
    assert years[-1]["savings"] - cf["demand"] == pytest.approx(cf["energy_10"], rel=1e-3)
    assert ref_a["npv"] == pytest.approx(cf["npv"], rel=5e-3)
    assert ref_a["simple_payback_years"] == pytest.approx(cf["simple_pb"], abs=0.01)
    assert ref_a["discounted_payback_years"] == pytest.approx(cf["disc_pb"], abs=0.01)
    assert ref_a["irr"] == pytest.approx(cf["irr"], abs=1e-3)
    assert ref_a["lcos_per_kwh"] == pytest.approx(cf["lcos"], rel=0.01)
    assert ref_a["lcos_per_kwh_excl_charging"] == pytest.approx(cf["lcos_excl"], rel=0.01)


def test_ref_a_matches_the_printed_answers_of_economics_md(ref_a: dict) -> None:
    """Cross-check against the figures printed in §5.2 (the test above derives them)."""
    assert ref_a["baseline"]["bill_total"] == pytest.approx(33_878_600, rel=5e-4)
    assert ref_a["baseline"]["avg_price_per_kwh"] == pytest.approx(0.7516, abs=1e-4)
    assert ref_a["project"]["bill_total"] == pytest.approx(31_888_134, rel=5e-4)
    assert ref_a["project"]["avg_price_per_kwh"] == pytest.approx(0.7074, abs=1e-4)
    assert ref_a["savings_year1"]["total"] == pytest.approx(1_990_466, rel=1e-3)
    assert ref_a["npv"] == pytest.approx(9_536_366, rel=5e-3)
    assert ref_a["simple_payback_years"] == pytest.approx(2.1050, abs=0.01)
    assert ref_a["discounted_payback_years"] == pytest.approx(2.3260, abs=0.01)
    assert ref_a["irr"] == pytest.approx(0.4582, abs=1e-3)
    assert ref_a["lcos_per_kwh"] == pytest.approx(0.8632, rel=0.01)
    assert ref_a["lcos_per_kwh_excl_charging"] == pytest.approx(0.5751, rel=0.01)
    r = ref_a["resilience_hours"]
    assert r["counting"] == "continuous"
    assert r["mean"] == pytest.approx(1.029, abs=0.05)
    assert r["mean_whole_steps"] == pytest.approx(0.930, abs=0.05)
    assert r["min"] == pytest.approx(0.0, abs=1e-9)
    assert r["max"] == pytest.approx(1.615, abs=1e-3)


def test_the_optimum_does_at_least_as_well_as_the_reference_dispatch(ref_a: dict) -> None:
    opt = ref_a["optimum_savings_year1"]
    assert opt["total"] >= ref_a["savings_year1"]["total"] * (1 - 1e-3)
    assert max(ref_a["optimum"]["peak_kw_by_month"].values()) <= 6200.0 * (1 + 1e-6)
    assert 0 < ref_a["optimum_share"] <= 1.0 + 1e-9
    assert ref_a["optimum_share"] == pytest.approx(ref_a["savings_year1"]["total"] / opt["total"], rel=1e-9)


def test_ref_b_splits_what_pv_earned_from_what_storage_earned(ref_a: dict, ref_b: dict) -> None:
    """PV is below the load all day, so PV saves exactly its energy at each period's price and
    leaves the storage's evening shave and night charging untouched (economics.md §5.1)."""
    s = load_study("ref_b").spec
    p = prices()
    span = s.pv.hours[1] - s.pv.hours[0]
    k = s.pv.kwp * s.pv.yield_kwh_per_kwp / 365 * math.pi / (2 * span)
    assert k == pytest.approx(2913.863, abs=1e-3)  # economics.md §5.1

    def pv_kwh(a: float, b: float) -> float:  # ∫ k sin(π(h − h0)/T) dh over [a, b] of one day
        h0 = s.pv.hours[0]
        return (
            k * span / math.pi * (math.cos(math.pi * (a - h0) / span) - math.cos(math.pi * (b - h0) / span))
        )

    windows = {"valley": [(6, 7)], "flat": [(7, 10), (13, 17)], "peak": [(10, 13), (17, 18)]}
    pv_saving = 365 * sum(pv_kwh(a, b) * p[name] for name, ws in windows.items() for a, b in ws)
    sav = ref_b["savings_year1"]
    assert sav["pv"] == pytest.approx(pv_saving, rel=1e-3)
    assert sav["storage"] == pytest.approx(ref_a["savings_year1"]["total"], rel=1e-3)
    assert ref_b["pv_only"]["bill_total"] == pytest.approx(
        ref_b["baseline"]["bill_total"] - pv_saving, rel=5e-4
    )
    total_pv = 365 * pv_kwh(*s.pv.hours)
    assert total_pv == pytest.approx(s.pv.kwp * s.pv.yield_kwh_per_kwp, rel=1e-9)
    assert ref_b["renewable_share"] == pytest.approx(total_pv / ref_b["project"]["load_kwh"], rel=1e-3)
    capex = 1000 * 4000 + 3.0 * 6250 * 1000
    assert ref_b["capex"] == pytest.approx(capex)


def test_the_report_files_are_written(tmp_path: Path) -> None:
    out = tmp_path / "a"
    run_roi("ref_a", out)
    for f in ("roi.json", "roi_series.parquet", "report.html", "report.md"):
        assert (out / f).stat().st_size > 0, f
    assert len(list((out / "plots").glob("*.png"))) >= 5


def test_month_indexed_periods_the_same_hardware_earns_differently_under_jibei(tmp_path: Path) -> None:
    """economics.md §6.7, on the optimum. In Jun-Aug Jibei's table is valley 0-7, flat 7-16,
    peak 16-23: a second cycle has nowhere to recharge between 16 and 23 h, so the best is one
    valley → peak cycle a day and the 6,000 kW peak the PCS allows (8,500 − 2,500): exactly
    ``days·usable·(η_d·p_peak − p_valley/η_c) + 2,500·rate``. In the other months a midday deep
    valley (12-15) adds a cycle: valley → flat in the morning, deep valley → peak in the evening.
    Charging the whole usable energy in those 3 h lifts the import to
    ``5,000 + usable/(η_c·3 h)``, so the month's saving lies between that full-arbitrage plan
    (feasible: a lower bound) and full arbitrage with the 6,000 kW peak (an upper bound)."""
    import calendar

    text = (Path(__file__).resolve().parents[3] / "profiles" / "studies" / "ref_a.yaml").read_text()
    f = tmp_path / "ref_a_jibei.yaml"
    f.write_text(text.replace("tariff: example_cn_north_2026", "tariff: example_cn_jibei_2026"))
    out = run_roi(str(f), tmp_path / "jibei")
    t = load_tariff("example_cn_jibei_2026")
    p = dict(zip(t.period_names, t.period_prices, strict=True))
    rate = 38.0  # the tariff's demand.rate_per_kw_month
    s = load_study("ref_a").spec
    st = s.storage
    usable = (st.soc_max - st.soc_min) * st.energy_kwh
    ec, ed = st.eta_charge, st.eta_discharge
    two = usable * ((ed * p["flat"] - p["valley"] / ec) + (ed * p["peak"] - p["deep_valley"] / ec))
    one = usable * (ed * p["peak"] - p["valley"] / ec)
    peak0 = s.load.windows[0].kw
    floor = peak0 - st.power_kw  # 6,000 kW
    full_charge_peak = s.load.base_kw + usable / ec / 3.0
    base, opt = out["baseline"]["bill_by_month"], out["optimum"]["bill_by_month"]
    for month in base:
        y, m = map(int, month.split("-"))
        days = calendar.monthrange(y, m)[1]
        saving = base[month] - opt[month]
        if m in (6, 7, 8):
            assert saving == pytest.approx(days * one + (peak0 - floor) * rate, rel=1e-3), month
        else:
            lower = days * two + (peak0 - full_charge_peak) * rate
            upper = days * two + (peak0 - floor) * rate
            assert lower * (1 - 1e-4) <= saving <= upper * (1 + 1e-4), month
    north = run_roi("ref_a", tmp_path / "north")
    jibei_total, north_total = out["optimum_savings_year1"]["total"], north["optimum_savings_year1"]["total"]
    assert abs(jibei_total - north_total) > 0.01 * north_total
