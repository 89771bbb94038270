"""The ROI report: HTML, Markdown, PNG plots and the terminal summary, from roi.json + series.

The fixture is a REF-A/REF-B-like year (economics.md §5) billed here with plain numpy, so the
figures in roi.json agree with each other and with the series; the expected strings in the
assertions are formatted from the fixture, never typed in.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from hil.roi_report import ROI_FILE, ROI_SERIES_FILE, build_roi_report, print_roi_summary

PNG = b"\x89PNG\r\n\x1a\n"
DT_H = 0.25
DEMAND_RATE = 40.0
DISCOUNT = 0.06
BESS_KWH = 4000.0
ETA = 0.95


def _prices(hour: np.ndarray) -> np.ndarray:
    """example_cn_north_2026: valley 23-07, peak 10-13 and 17-22, flat otherwise."""
    peak = ((hour >= 10) & (hour < 13)) | ((hour >= 17) & (hour < 22))
    valley = (hour >= 23) | (hour < 7)
    return np.where(peak, 1.04, np.where(valley, 0.26, 0.65))


def _billsum(grid: np.ndarray, price: np.ndarray, month: np.ndarray) -> dict[str, Any]:
    keys = [str(m) for m in np.unique(month)]
    energy_m = {k: float(np.sum(grid[month == k] * price[month == k]) * DT_H) for k in keys}
    peak_m = {k: float(np.max(grid[month == k])) for k in keys}
    energy_cost = sum(energy_m.values())
    demand_cost = DEMAND_RATE * sum(peak_m.values())
    kwh = float(grid.sum() * DT_H)
    total = energy_cost + demand_cost
    return {
        "bill_total": total,
        "energy_cost": energy_cost,
        "demand_cost": demand_cost,
        "fixed_cost": 0.0,
        "export_credit": 0.0,
        "energy_kwh": kwh,
        "avg_price_per_kwh": total / kwh,
        "peak_kw_by_month": peak_m,
        "bill_by_month": {k: energy_m[k] + DEMAND_RATE * peak_m[k] for k in keys},
    }


def _savings(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    return {
        "total": before["bill_total"] - after["bill_total"],
        "energy": before["energy_cost"] - after["energy_cost"],
        "demand": before["demand_cost"] - after["demand_cost"],
        "fixed": 0.0,
        "export": 0.0,
    }


def _dispatch(load: np.ndarray, hour: np.ndarray, first_hour_kw: float | None) -> np.ndarray:
    """Charge 00-07 to refill 3,400 kWh; discharge in 18-19 (a fixed power, or shave to 6,200 kW)."""
    bat = np.zeros_like(load)
    bat[hour < 7] = -3400.0 / ETA / 7.0
    evening = (hour >= 18) & (hour < 19)
    shave = (
        np.clip(load - 6200.0, 0.0, 2500.0) if first_hour_kw is None else np.full_like(load, first_hour_kw)
    )
    bat[evening] = shave[evening]
    used = np.add.reduceat(np.where(evening, bat, 0.0), np.arange(0, load.size, 96)) * DT_H
    rest = np.repeat((3400.0 * ETA - used) / 1.0, 96)
    bat[(hour >= 19) & (hour < 20)] = rest[(hour >= 19) & (hour < 20)]
    return bat


def _soc(bat: np.ndarray) -> np.ndarray:
    de = np.where(bat < 0, -bat * ETA, -bat / ETA) * DT_H / BESS_KWH
    return 0.1 + np.concatenate([[0.0], np.cumsum(de)[:-1]])


def _irr(flows: np.ndarray) -> float:
    lo, hi = -0.9, 10.0
    npv = lambda r: float(np.sum(flows / (1 + r) ** np.arange(flows.size)))  # noqa: E731
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if npv(mid) > 0 else (lo, mid)
    return (lo + hi) / 2


def _payback(cum: np.ndarray, net: np.ndarray) -> float | None:
    """SAM libfin::payback: the first year i with cumulative > 0, minus cumulative_i / net_i."""
    idx = np.flatnonzero(cum > 0)
    if not idx.size:
        return None
    i = int(idx[0])
    return float(i + 1 - cum[i] / net[i])


def write_roi_fixture(out_dir: Path, *, pv: bool = True, optimum: bool = True, claims: bool = True) -> dict:
    """Write a consistent roi.json + roi_series.parquet for one 2026 year at 15 min; return roi."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t = np.arange(
        np.datetime64("2026-01-01T00:00"), np.datetime64("2027-01-01T00:00"), np.timedelta64(15, "m")
    )
    hour = (t - t.astype("datetime64[D]")).astype("timedelta64[m]").astype(float) / 60.0
    day = np.arange(t.size) // 96
    month = t.astype("datetime64[M]").astype(str)
    rng = np.random.default_rng(7)
    load = 5000.0 + 3500.0 * ((hour >= 18) & (hour < 19)) + 300.0 * np.sin(2 * np.pi * day / 365.0)
    load += rng.normal(0.0, 60.0, t.size)
    season = 1.0 + 0.3 * np.sin(2 * np.pi * (day - 80) / 365.0)
    pv_kw = (2913.863 * season * np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)) if pv else 0 * load
    bat = _dispatch(load, hour, 2000.0)
    bat_opt = _dispatch(load, hour, None)
    grid, grid_opt = load - pv_kw - bat, load - pv_kw - bat_opt
    price = _prices(hour)

    cols: dict[str, Any] = {
        "timestamp": pa.array(t.astype("datetime64[us]")),
        "load_kw": load,
        "pv_kw": pv_kw,
        "battery_kw": bat,
        "grid_kw": grid,
        "soc": _soc(bat),
    }
    if optimum:
        cols |= {"battery_kw_optimum": bat_opt, "grid_kw_optimum": grid_opt, "soc_optimum": _soc(bat_opt)}
    pq.write_table(pa.table(cols), out_dir / ROI_SERIES_FILE)

    base = _billsum(load, price, month)
    pv_only = _billsum(load - pv_kw, price, month) if pv else None
    project = _billsum(grid, price, month)
    best = _billsum(grid_opt, price, month) if optimum else None
    sav = _savings(base, project)
    sav |= {"storage": (pv_only or base)["bill_total"] - project["bill_total"]}
    sav |= {"pv": base["bill_total"] - pv_only["bill_total"] if pv_only else None}
    opt_sav = _savings(base, best) if best else None

    capex = 4.0e6 + (18.75e6 if pv else 0.0)
    discharge = float(np.clip(bat, 0, None).sum() * DT_H)
    years, cum, cum_d = [], -capex, -capex
    for y in range(1, 11):
        soh = 1.0 - 0.02 * (y - 1)
        savings = (sav["energy"]) * soh + sav["demand"]
        om = 80_000.0 + (187_500.0 if pv else 0.0)
        net = savings - om
        disc = net / (1 + DISCOUNT) ** y
        cum, cum_d = cum + net, cum_d + disc
        years.append(
            {
                "year": y,
                "usable_kwh": 3400.0 * soh,
                "soh": soh,
                "savings": savings,
                "om": om,
                "replacement": 0.0,
                "net": net,
                "discounted": disc,
                "cumulative": cum,
                "cumulative_discounted": cum_d,
                "discharge_kwh": discharge * soh,
            }
        )
    net = np.array([r["net"] for r in years])
    disc = np.array([r["discounted"] for r in years])
    dis_d = sum(r["discharge_kwh"] / (1 + DISCOUNT) ** r["year"] for r in years)
    om_d = sum(r["om"] / (1 + DISCOUNT) ** r["year"] for r in years)
    charge_d = 0.26 * 3400.0 / ETA * 365 * sum(1 / (1 + DISCOUNT) ** y for y in range(1, 11))
    ren = float(pv_kw.sum() / load.sum()) if pv else 0.0
    roi: dict[str, Any] = {
        "study": {
            "name": "ref_b_fixture",
            "file": "profiles/studies/ref_b.yaml",
            "site": None,
            "tariff": "example_cn_north_2026",
            "dispatch": "evening_fixed_2000kw",
            "years": 10,
            "start": "2026-01-01T00:00",
            "timezone": "Asia/Shanghai",
            "discount_rate": DISCOUNT,
        },
        "currency": "CNY",
        "baseline": base,
        "pv_only": pv_only,
        "project": project,
        "optimum": best,
        "savings_year1": sav,
        "optimum_savings_year1": opt_sav,
        "optimum_share": sav["total"] / opt_sav["total"] if opt_sav else None,
        "years": years,
        "capex": capex,
        "npv": float(disc.sum() - capex),
        "simple_payback_years": _payback(np.array([r["cumulative"] for r in years]), net),
        "discounted_payback_years": _payback(np.array([r["cumulative_discounted"] for r in years]), disc)
        if pv
        else None,
        "irr": _irr(np.concatenate([[-capex], net])) if pv else None,
        "lcos_per_kwh": (capex + om_d + charge_d) / dis_d,
        "lcos_per_kwh_excl_charging": (capex + om_d) / dis_d if optimum else None,
        "resilience_hours": {
            "min": 0.0,
            "mean": 1.029,
            "max": 1.615,
            "counting": "continuous",
            "critical_load_kw": 2000.0,
            "mean_whole_steps": 0.930,
        },
        "renewable_share": ren,
        "renewable_share_baseline": 0.0,
        "gpu_hours_lost": {"project": 0.0 if optimum else None, "without_storage": 15.0},
        "claims": [],
        "notes": ["tariff is ILLUSTRATIVE <not a utility sheet> & labelled so", "dispatch from a fixture"],
    }
    if claims:
        peak_b, peak_p = max(base["peak_kw_by_month"].values()), max(project["peak_kw_by_month"].values())
        roi["claims"] = [
            {
                "claim": "peak demand",
                "value_claimed": "8,500 → 6,200 kW",
                "simulated": f"{peak_b:,.0f} → {peak_p:,.0f} kW",
                "supported": bool(peak_p <= 6200.0),
                "why": "a 2,000 kW evening discharge leaves the 18:00 peak above 6,200 kW",
            },
            {
                "claim": "renewable share",
                "value_claimed": "2 % → 18 %",
                "simulated": f"0 % → {100 * ren:.1f} %",
                "supported": True,
                "why": "carried by PV, not by storage",
            },
            {
                "claim": "compute interruptions",
                "value_claimed": "15 h/yr → 0",
                "simulated": "not simulated",
                "supported": None,
                "why": "no outage record for the site",
            },
        ]
    (out_dir / ROI_FILE).write_text(json.dumps(roi, indent=1, ensure_ascii=False), encoding="utf-8")
    return roi


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Any]:
    out = tmp_path_factory.mktemp("roi_full")
    roi = write_roi_fixture(out, pv=True, optimum=True, claims=True)
    return out, roi, build_roi_report(out)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Any]:
    out = tmp_path_factory.mktemp("roi_bare")
    roi = write_roi_fixture(out, pv=False, optimum=False, claims=False)
    return out, roi, build_roi_report(out)


def _money(v: float) -> str:
    return f"{v:,.0f} CNY"


def _row(page: str, label: str) -> str:
    """The value cell of a headline row."""
    m = re.search(rf"<th[^>]*>{re.escape(html.escape(label.strip()))}</th><td[^>]*>([^<]*)</td>", page)
    assert m, f"no headline row {label!r}"
    return m.group(1)


def test_files_exist_and_pngs_decode(full: tuple[Path, dict, Any]) -> None:
    out, _, files = full
    assert files.html == out / "report.html"
    assert files.md == out / "report.md"
    assert files.html.is_file()
    assert files.md.is_file()
    assert len(files.plots) == 6
    page = files.html.read_text(encoding="utf-8")
    md = files.md.read_text(encoding="utf-8")
    for p in files.plots:
        data = p.read_bytes()
        assert data.startswith(PNG), p
        assert len(data) > 10_000, p
        assert f"]({p.relative_to(out).as_posix()})" in md
    assert page.count("data:image/png;base64,") == len(files.plots)
    assert "<script" not in page


def test_headline_figures_are_formatted_from_roi_json(full: tuple[Path, dict, Any]) -> None:
    _, roi, files = full
    page = files.html.read_text(encoding="utf-8")
    md = files.md.read_text(encoding="utf-8")
    sav = roi["savings_year1"]
    assert _row(page, "Bill savings, year 1") == _money(sav["total"])
    assert _row(page, "  energy charge") == _money(sav["energy"])
    assert _row(page, "  demand charge") == _money(sav["demand"])
    assert _row(page, "Earned by storage") == _money(sav["storage"])
    assert _row(page, "Earned by PV") == _money(sav["pv"])
    assert _row(page, "NPV") == _money(roi["npv"])
    assert _row(page, "Investment (capex)") == _money(roi["capex"])
    assert _row(page, "Simple payback") == f"{roi['simple_payback_years']:.2f} years"
    assert _row(page, "LCOS") == f"{roi['lcos_per_kwh']:.4f} CNY/kWh"
    assert _row(page, "IRR") == f"{100 * roi['irr']:.1f} %"
    assert _row(page, "Discounted payback") == f"{roi['discounted_payback_years']:.2f} years"
    share = f"this EMS earned {100 * roi['optimum_share']:.1f} % of what was possible"
    assert _row(page, "Against the optimum") == share
    res = roi["resilience_hours"]
    assert _row(page, "Critical load carried") == f"{res['mean']:.2f} h"
    assert "continuous" in _row(page, "  counting")
    assert f"{res['critical_load_kw']:,.0f} kW" in page
    assert _row(page, "Renewable share") == f"0.0 % → {100 * roi['renewable_share']:.1f} %"
    gpu = roi["gpu_hours_lost"]
    assert _row(page, "GPU-hours lost per year") == f"{gpu['without_storage']:,.1f} → {gpu['project']:,.1f}"
    peak_b = max(roi["baseline"]["peak_kw_by_month"].values())
    peak_p = max(roi["project"]["peak_kw_by_month"].values())
    assert _row(page, "Highest monthly 15-min peak") == f"{peak_b:,.0f} kW → {peak_p:,.0f} kW"
    # resilience is its own block, after the bill savings, and the lead sentence says so
    assert page.index("Resilience (reported apart") > page.index("Bill savings, year 1")
    assert "not in these savings" in page
    # the same figures in the Markdown
    for text in (_money(sav["total"]), _money(roi["npv"]), share):
        assert text in md
    # tables: bills of every case, year-by-year cash flow (cumulative of the last year)
    assert f"{roi['optimum']['bill_total']:,.0f} CNY" in page
    assert f"{roi['pv_only']['bill_total']:,.0f} CNY" in page
    assert f"{roi['years'][-1]['cumulative']:,.0f}" in page
    assert f"{-roi['capex']:,.0f}" in page
    # notes are escaped
    assert html.escape(roi["notes"][0]) in page
    assert "<not a utility sheet>" not in page


def test_typical_days_name_the_peak_day(full: tuple[Path, dict, Any]) -> None:
    out, _, files = full
    table = pq.read_table(out / ROI_SERIES_FILE)
    t = table["timestamp"].to_numpy().astype("datetime64[D]")
    peak_day = t[int(np.argmax(table["grid_kw"].to_numpy()))]
    page = files.html.read_text(encoding="utf-8")
    assert f"day of the year&#x27;s highest project import ({peak_day})" in page
    assert "median day by project grid import" in page


def test_claims_table_present_iff_claims(full: tuple[Path, dict, Any], bare: tuple[Path, dict, Any]) -> None:
    _, roi, files = full
    page = files.html.read_text(encoding="utf-8")
    md = files.md.read_text(encoding="utf-8")
    assert "<h2>Claims</h2>" in page
    assert "## Claims" in md
    claims = page[page.index('<div id="claims">') :]
    claims = claims[: claims.index("</div>")]
    assert claims.count("<tr>") == 1 + len(roi["claims"])
    assert "Supported?" in claims
    assert '<td class="no">no</td>' in claims
    assert '<td class="yes">yes</td>' in claims
    assert "<td>—</td>" in claims  # supported: null
    for c in roi["claims"]:
        assert html.escape(c["simulated"]) in claims
    _, _, bare_files = bare
    assert "Claims" not in bare_files.html.read_text(encoding="utf-8")
    assert "## Claims" not in bare_files.md.read_text(encoding="utf-8")


def test_nulls_render_as_a_dash(bare: tuple[Path, dict, Any]) -> None:
    _, roi, files = bare
    page = files.html.read_text(encoding="utf-8")
    assert roi["irr"] is None
    assert roi["pv_only"] is None
    assert _row(page, "IRR") == "—"
    assert _row(page, "Discounted payback") == "—"
    assert _row(page, "LCOS excl. charging") == "—"
    assert _row(page, "Earned by PV") == "—"
    assert _row(page, "Against the optimum") == "—"
    assert _row(page, "GPU-hours lost per year") == f"{roi['gpu_hours_lost']['without_storage']:,.1f} → —"
    # the bill table keeps its PV-only and optimum columns, dashed
    bill_total = re.search(r"<td>Bill total</td>((?:<td[^>]*>[^<]*</td>)+)", page)
    assert bill_total
    cells = re.findall(r">([^<]*)</td>", bill_total.group(1))
    assert cells == [_money(roi["baseline"]["bill_total"]), "—", _money(roi["project"]["bill_total"]), "—"]
    assert "| IRR | — |" in files.md.read_text(encoding="utf-8")
    assert all(p.read_bytes().startswith(PNG) for p in files.plots)


def test_missing_roi_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / ROI_FILE))):
        build_roi_report(tmp_path)
    (tmp_path / ROI_FILE).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape("roi.json: expected a JSON object")):
        build_roi_report(tmp_path)


def test_a_missing_series_is_noted_not_fatal(tmp_path: Path) -> None:
    roi = write_roi_fixture(tmp_path, pv=False, optimum=False, claims=False)
    (tmp_path / ROI_SERIES_FILE).unlink()
    files = build_roi_report(tmp_path)
    page = files.html.read_text(encoding="utf-8")
    assert f"no {ROI_SERIES_FILE}" in page
    assert _money(roi["npv"]) in page
    assert all(p.read_bytes().startswith(PNG) for p in files.plots)


def test_print_roi_summary(full: tuple[Path, dict, Any]) -> None:
    out, roi, _ = full
    console = Console(record=True, width=160)
    print_roi_summary(out, console)
    text = console.export_text()
    assert _money(roi["savings_year1"]["total"]) in text
    assert _money(roi["npv"]) in text
    assert f"{roi['simple_payback_years']:.2f} years" in text
    assert f"{100 * roi['optimum_share']:.1f} %" in text
    assert "Resilience (reported apart" in text
