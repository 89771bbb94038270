"""Bills: closed forms from the inputs, economics.md §5.2 base bill, §6 edge cases, URDB == YAML,
and ``hil bill`` on a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.tariff import load_tariff
from twin.econ import compute_bill, parse_tariff, tariff_from_urdb
from twin.errors import ParameterError

PRICES = {"peak": 1.0, "flat": 0.5, "valley": 0.2}
HOURS = {"valley": 8, "flat": 12, "peak": 4}


def tariff(**over: Any) -> Any:
    d: dict[str, Any] = {
        "tariff_id": "t",
        "energy": {
            "prices": dict(PRICES),
            "periods": {"valley": [[0, 8]], "flat": [[8, 18], [22, 24]], "peak": [[18, 22]]},
        },
        "demand": {"rate_per_kw_month": 40.0},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
            if "tiers" in v:
                d[k].pop("rate_per_kw_month")
        else:
            d[k] = v
    return parse_tariff(d)


def series(start: str, end: str, step_s: int) -> np.ndarray:
    return np.arange(np.datetime64(start), np.datetime64(end), np.timedelta64(step_s, "s")).astype(
        "datetime64[s]"
    )


def hour_of(ts: np.ndarray) -> np.ndarray:
    return (ts - ts.astype("datetime64[D]")).astype("timedelta64[s]").astype(np.int64) // 3600


def test_flat_1mw_for_a_30_day_month() -> None:
    ts = series("2026-06-01T00:00", "2026-07-01T00:00", 900)
    b = compute_bill(tariff(), ts, np.full(ts.size, 1000.0), 900)
    (m,) = b.months
    energy = sum(1000.0 * HOURS[k] * 30 * PRICES[k] for k in PRICES)
    assert b.by_kind()["energy"] == pytest.approx(energy)
    assert b.by_kind()["demand"] == pytest.approx(1000.0 * 40.0)
    assert b.total == pytest.approx(energy + 40_000.0)
    assert m.kwh_by_period == pytest.approx({k: 1000.0 * HOURS[k] * 30 for k in PRICES})
    assert not m.partial
    assert m.import_kwh == pytest.approx(720_000.0)
    json.dumps(b.to_dict())  # JSON-able as is


def test_ref_a_base_bill() -> None:
    """economics.md §5.2: 5 MW, 8.5 MW 18-19 h, example_cn_north_2026 → 33,878,600 CNY."""
    t = load_tariff("example_cn_north_2026")
    ts = series("2026-01-01T00:00", "2027-01-01T00:00", 900)
    p = np.where(hour_of(ts) == 18, 8500.0, 5000.0)
    b = compute_bill(t, ts, p, 900)
    assert len(b.months) == 12
    kwh = {k: sum(m.kwh_by_period[k] for m in b.months) for k in t.period_names}
    assert kwh == pytest.approx({"valley": 14_600_000.0, "flat": 14_600_000.0, "peak": 15_877_500.0})
    assert b.by_kind()["energy"] == pytest.approx(29_798_600.0, rel=5e-4)
    assert b.by_kind()["demand"] == pytest.approx(8500.0 * 40.0 * 12)
    assert b.total == pytest.approx(33_878_600.0, rel=5e-4)
    assert b.to_dict()["average_price_per_kwh"] == pytest.approx(0.7516, abs=1e-4)


@pytest.mark.parametrize("step_s", [1, 60, 900, 3600])
def test_any_interval_length_gives_the_same_bill(step_s: int) -> None:
    ts = series("2026-03-02T00:00", "2026-03-04T00:00", step_s)
    p = 1000.0 + 500.0 * hour_of(ts)  # constant within each hour
    b = compute_bill(tariff(), ts, p, step_s)
    ref = compute_bill(
        tariff(),
        series("2026-03-02T00:00", "2026-03-04T00:00", 3600),
        1000.0 + 500.0 * np.tile(np.arange(24), 2),
        3600,
    )
    assert b.total == pytest.approx(ref.total, rel=1e-12)
    assert b.months[0].peak_kw == pytest.approx(1000.0 + 500.0 * 23)


def test_demand_is_the_15_minute_average_not_the_spike() -> None:
    ts = series("2026-03-02T00:00", "2026-03-03T00:00", 60)
    p = np.full(ts.size, 1000.0)
    p[600] = 9000.0  # one minute at 9 MW
    b = compute_bill(tariff(), ts, p, 60)
    assert b.months[0].peak_kw == pytest.approx(1000.0 + 8000.0 / 15.0)


def test_the_last_interval_of_a_month_belongs_to_that_month() -> None:
    ts = np.array(["2026-06-30T23:45", "2026-07-01T00:00"], dtype="datetime64[s]")
    b = compute_bill(tariff(), ts, np.array([4000.0, 100.0]), 900)
    assert [m.month for m in b.months] == ["2026-06", "2026-07"]
    assert b.months[0].peak_kw == 4000.0
    assert b.months[0].import_kwh == 1000.0
    assert b.months[1].peak_kw == 100.0


def test_a_partial_month_prorates_fixed_but_not_demand() -> None:
    t = tariff(fixed_monthly=310.0, fixed_daily=1.0)
    ts = series("2026-07-10T00:00", "2026-07-11T00:00", 900)
    (m,) = compute_bill(t, ts, np.full(ts.size, 100.0), 900).months
    assert m.partial
    assert m.coverage == pytest.approx(1 / 31)
    assert m.by_kind()["fixed"] == pytest.approx(310.0 / 31 + 1.0)
    assert m.by_kind()["demand"] == pytest.approx(100.0 * 40.0)


def test_export_not_allowed_is_never_credited_nor_netted() -> None:
    ts = series("2026-07-10T00:00", "2026-07-11T00:00", 900)
    p = np.where(hour_of(ts) < 12, 1000.0, -500.0)
    b = compute_bill(tariff(), ts, p, 900)
    (m,) = b.months
    assert m.import_kwh == pytest.approx(12_000.0)
    assert m.export_kwh == pytest.approx(6_000.0)
    assert not m.export_credited
    assert b.by_kind()["export"] == 0.0
    assert m.peak_kw == 1000.0
    assert b.by_kind()["energy"] == pytest.approx(1000.0 * (8 * 0.2 + 4 * 0.5))


def test_export_allowed_is_credited() -> None:
    ts = series("2026-07-10T00:00", "2026-07-11T00:00", 900)
    p = np.where(hour_of(ts) < 12, 1000.0, -500.0)
    b = compute_bill(tariff(export={"allowed": True, "price": 0.1}), ts, p, 900)
    assert b.by_kind()["export"] == pytest.approx(-6_000.0 * 0.1)
    net = compute_bill(tariff(export={"allowed": True, "at_energy_price": True}), ts, p, 900)
    assert net.by_kind()["export"] == pytest.approx(-500.0 * (6 * 0.5 + 4 * 1.0 + 2 * 0.5))


def test_ratchet_and_minimum_demand() -> None:
    t = tariff(demand={"ratchet": {"percent": 80, "lookback_months": 11}, "minimum_kw": 500.0})
    ts = series("2026-01-01T00:00", "2026-04-01T00:00", 900)
    month = ts.astype("datetime64[M]").astype(np.int64) % 12
    p = np.choose(month, [2000.0, 1000.0, 100.0])
    b = compute_bill(t, ts, p, 900)
    assert [m.peak_kw for m in b.months] == [2000.0, 1000.0, 100.0]
    assert [m.billing_demand_kw for m in b.months] == pytest.approx([2000.0, 1600.0, 1600.0])
    assert b.by_kind()["demand"] == pytest.approx(40.0 * (2000 + 1600 + 1600))
    # a peak before the data (prior_peaks_kw) and the minimum
    b2 = compute_bill(t, ts[month == 2], p[month == 2], 900, prior_peaks_kw={"2025-06": 3000.0})
    assert b2.months[0].billing_demand_kw == pytest.approx(2400.0)
    short = tariff(demand={"ratchet": {"percent": 80, "lookback_months": 1}, "minimum_kw": 500.0})
    b3 = compute_bill(short, ts[month == 2], p[month == 2], 900)
    assert b3.months[0].billing_demand_kw == pytest.approx(500.0)


def test_minimum_charge_tops_up() -> None:
    ts = series("2026-06-01T00:00", "2026-07-01T00:00", 3600)
    b = compute_bill(tariff(minimum_monthly=50_000.0), ts, np.full(ts.size, 10.0), 3600)
    items = {it.kind: it.amount for it in b.items}
    assert b.total == pytest.approx(50_000.0)
    assert items["minimum"] > 0


def test_tou_demand_with_tiers() -> None:
    t = tariff(
        demand={"tiers": [{"max_kw": 1000, "rate": 40.0}, {"rate": 30.0}], "tou_rates": {"peak": 10.0}}
    )
    ts = series("2026-06-01T00:00", "2026-07-01T00:00", 900)
    p = np.where(hour_of(ts) == 3, 3000.0, 1500.0)  # the 3 MW is in the valley
    b = compute_bill(t, ts, p, 900)
    demand = {it.name: it.amount for it in b.items if it.kind == "demand"}
    assert demand == pytest.approx({"flat": 1000 * 40.0 + 2000 * 30.0, "peak": 1500 * 10.0})


def test_capacity_basis_saves_nothing_by_shaving() -> None:
    t = tariff(
        demand={"basis": "capacity_kva"}, capacity={"contract_kva": 10_000, "rate_per_kva_month": 30.0}
    )
    ts = series("2026-06-01T00:00", "2026-07-01T00:00", 900)
    hi = compute_bill(t, ts, np.full(ts.size, 8000.0), 900).by_kind()
    lo = compute_bill(t, ts, np.full(ts.size, 6000.0), 900).by_kind()
    assert hi["capacity"] == lo["capacity"] == pytest.approx(300_000.0)
    assert hi["demand"] == lo["demand"] == 0.0


def test_high_utilisation_factor_at_260_kwh_per_kva() -> None:
    t = tariff(
        demand={"high_utilisation_factor": {"threshold_kwh_per_kva_month": 260, "factor": 0.9}},
        capacity={"contract_kva": 2000},
    )
    ts = series("2026-06-01T00:00", "2026-07-01T00:00", 900)
    high = compute_bill(t, ts, np.full(ts.size, 800.0), 900)  # 576,000 kWh = 288 kWh/kVA
    low = compute_bill(t, ts, np.full(ts.size, 700.0), 900)  # 252 kWh/kVA
    assert high.by_kind()["demand"] == pytest.approx(800 * 40 * 0.9)
    assert low.by_kind()["demand"] == pytest.approx(700 * 40)


def test_critical_peak_is_its_own_line() -> None:
    t = tariff(energy={"critical_peak": {"months": [7], "windows": [[19, 21]], "adder": 0.25}})
    ts = series("2026-07-01T00:00", "2026-07-02T00:00", 900)
    b = compute_bill(t, ts, np.full(ts.size, 1000.0), 900)
    assert b.by_kind()["critical_peak"] == pytest.approx(2000.0 * 0.25)


def test_bad_series_are_typed_errors() -> None:
    ts = series("2026-07-01T00:00", "2026-07-01T01:00", 900)
    with pytest.raises(ParameterError, match="not a number"):
        compute_bill(tariff(), ts, np.array([1.0, np.nan, 1.0, 1.0]), 900)
    with pytest.raises(ParameterError, match="strictly increasing"):
        compute_bill(tariff(), ts[::-1], np.ones(4), 900)
    with pytest.raises(ParameterError, match="multiple"):
        compute_bill(tariff(), ts, np.ones(4), 1000)


def test_urdb_and_yaml_give_the_identical_bill() -> None:
    yaml_t = tariff(
        fixed_monthly=100.0,
        minimum_monthly=0.0,
        demand={
            "tiers": [{"max_kw": 1000, "rate": 40.0}, {"rate": 30.0}],
            "tou_rates": {"peak": 10.0},
            "ratchet": {"percent": 60, "lookback_months": 11},
        },
    )
    period = {h: (2 if h < 8 else 0 if 18 <= h < 22 else 1) for h in range(24)}
    sched = [[period[h] for h in range(24)] for _ in range(12)]
    urdb_t = tariff_from_urdb(
        {
            "items": [
                {
                    "energyratestructure": [[{"rate": 0.9, "adj": 0.1}], [{"rate": 0.5}], [{"rate": 0.2}]],
                    "energyweekdayschedule": sched,
                    "energyweekendschedule": sched,
                    "flatdemandstructure": [[{"rate": 40.0, "max": 1000}, {"rate": 30.0}]],
                    "flatdemandmonths": [0] * 12,
                    "demandratestructure": [[{"rate": 10.0}], [{"rate": 0.0}]],
                    "demandweekdayschedule": [[0 if 18 <= h < 22 else 1 for h in range(24)]] * 12,
                    "fixedchargefirstmeter": 100.0,
                    "fixedchargeunits": "$/month",
                    "lookbackpercent": 0.6,
                    "lookbackrange": 11,
                }
            ]
        }
    )
    ts = series("2026-01-01T00:00", "2026-04-01T00:00", 900)
    rng = np.random.default_rng(3)
    p = 1500.0 + 800.0 * rng.standard_normal(ts.size)
    a, b = compute_bill(yaml_t, ts, p, 900), compute_bill(urdb_t, ts, p, 900)
    assert a.by_kind() == pytest.approx(b.by_kind(), rel=1e-12)
    assert [m.total for m in a.months] == pytest.approx([m.total for m in b.months], rel=1e-12)
    assert [m.billing_demand_kw for m in a.months] == [m.billing_demand_kw for m in b.months]


def test_shipped_urdb_file_bills_as_the_yaml() -> None:
    ts = series("2026-07-01T00:00", "2026-08-01T00:00", 900)
    p = np.where(hour_of(ts) == 18, 8500.0, 5000.0)
    a = compute_bill(load_tariff("example_cn_north_2026"), ts, p, 900)
    b = compute_bill(load_tariff("example_urdb_cn_north_2026"), ts, p, 900)
    assert a.total == pytest.approx(b.total, rel=1e-12)


def write_trace(out: Path, t_s: np.ndarray, p: np.ndarray) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table = pa.table({"t_s": t_s, "tick": np.arange(t_s.size, dtype=np.int64), "grid.p_import_kw": p})
    pq.write_table(table, out / "trace.parquet")


def test_hil_bill_prints_and_writes_bill_json(tmp_path: Path) -> None:
    t_s = np.arange(0.0, 86400.0, 10.0)
    p = np.where((t_s // 3600) == 18, 8500.0, 5000.0)
    write_trace(tmp_path / "run", t_s, p)
    res = CliRunner().invoke(
        main,
        ["bill", str(tmp_path / "run"), "--tariff", "example_cn_north_2026", "--start", "2026-07-01T00:00"],
    )
    assert res.exit_code == 0, res.output
    assert "2026-07" in res.output
    data = json.loads((tmp_path / "run" / "bill.json").read_text())
    energy = 5000 * 8 * (0.26 + 0.65 + 1.04) + 3500 * 1.04
    assert data["totals"]["energy"] == pytest.approx(energy)
    assert data["totals"]["demand"] == pytest.approx(8500 * 40)
    assert data["months"][0]["partial"] is True


def test_hil_bill_unknown_tariff_suggests(tmp_path: Path) -> None:
    write_trace(tmp_path / "run", np.arange(0.0, 60.0), np.ones(60))
    res = CliRunner().invoke(main, ["bill", str(tmp_path / "run"), "--tariff", "example_cn_nrth_2026"])
    assert res.exit_code == 2
    assert "did you mean 'example_cn_north_2026'" in res.output


def test_hil_bill_uses_site_local_time_when_the_trace_has_it(tmp_path: Path) -> None:
    t_s = np.arange(0.0, 7200.0, 60.0)
    local = np.datetime64("2026-06-30T23:00", "ms") + (t_s * 1000).astype("timedelta64[ms]")
    out = tmp_path / "run"
    out.mkdir()
    table = pa.table({"t_s": t_s, "grid.p_import_kw": np.full(t_s.size, 100.0), "site.local_time": local})
    pq.write_table(table, out / "trace.parquet")
    res = CliRunner().invoke(main, ["bill", str(out), "--tariff", "example_cn_north_2026"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "bill.json").read_text())
    assert [m["month"] for m in data["months"]] == ["2026-06", "2026-07"]
    assert data["months"][0]["kwh_by_period"]["valley"] == pytest.approx(100.0)


def test_hil_validate_reports_a_bad_tariff_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("tariff_id: x\nenergy:\n  prices: {peak: 1.0}\n  periods: {peak: [[0, 24]]}\nexprot: {}\n")
    res = CliRunner().invoke(main, ["validate", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:5: exprot: unknown key 'exprot'; did you mean 'export'?" in res.output


def _ref_a_day_csv(path: Path, *, step_min: int = 15, start: str = "2026-07-01T00:00") -> tuple[float, float]:
    """One REF-A day (5,000 kW, 8,500 kW 18-19 h) as a CSV; returns (energy cost, demand cost)."""
    t0 = np.datetime64(start, "m")
    n = 24 * 60 // step_min
    rows = ["timestamp,p_import_kw"]
    for k in range(n):
        t = t0 + np.timedelta64(k * step_min, "m")
        hour = k * step_min // 60
        rows.append(f"{t},{8500.0 if hour == 18 else 5000.0}")
    path.write_text("\n".join(rows) + "\n")
    energy = 5000 * 8 * (0.26 + 0.65 + 1.04) + 3500 * 1.04
    return energy, 8500 * 40.0


@pytest.mark.parametrize("step_min", [1, 15, 60])
def test_hil_bill_bills_a_csv_load_file_at_any_interval(tmp_path: Path, step_min: int) -> None:
    energy, demand = _ref_a_day_csv(tmp_path / "load.csv", step_min=step_min)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main,
        [
            "bill",
            "--tariff",
            "example_cn_north_2026",
            "--load",
            str(tmp_path / "load.csv"),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((out / "bill.json").read_text())
    assert data["energy_cost"] == pytest.approx(energy)
    assert data["demand_cost"] == pytest.approx(demand)
    assert data["fixed_cost"] == 0.0
    assert data["export_credit"] == 0.0
    assert data["total"] == pytest.approx(energy + demand)
    assert data["energy_kwh"] == pytest.approx(5000 * 24 + 3500)
    (m,) = data["months"]
    assert m["month"] == "2026-07"
    assert m["peak_kw"] == pytest.approx(8500.0)
    assert m["total"] == pytest.approx(energy + demand)
    assert m["kwh_by_period"]["peak"] == pytest.approx(5000 * 8 + 3500)
    assert m["energy_cost_by_period"]["valley"] == pytest.approx(5000 * 8 * 0.26)
    assert "Bill under example_cn_north_2026" in (out / "bill.md").read_text()


def test_hil_bill_reads_parquet_with_utc_offsets_in_the_tariff_zone(tmp_path: Path) -> None:
    # 18:00-19:00 Asia/Shanghai is 10:00-11:00 UTC: stamped with +00:00 it must still be the peak hour
    t = np.datetime64("2026-06-30T16:00", "m") + np.arange(96) * np.timedelta64(15, "m")
    stamps = [f"{x}+00:00" for x in t]
    p = np.where((t.astype("datetime64[h]").astype(np.int64) % 24) == 10, 8500.0, 5000.0)
    pq.write_table(pa.table({"timestamp": stamps, "p_import_kw": p}), tmp_path / "load.parquet")
    res = CliRunner().invoke(
        main, ["bill", "--tariff", "example_cn_north_2026", "--load", str(tmp_path / "load.parquet")]
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "bill.json").read_text())
    assert data["energy_cost"] == pytest.approx(5000 * 8 * (0.26 + 0.65 + 1.04) + 3500 * 1.04)
    assert [m["month"] for m in data["months"]] == ["2026-07"]


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("timestamp,p_import_kW\n2026-07-01T00:00,1\n", ":1:", "did you mean 'p_import_kw'?"),
        (
            "timestamp,p_import_kw\n2026-07-01T00:00,1\n2026-07-01T00:15,abc\n",
            ":3: p_import_kw",
            "not a number",
        ),
        (
            "timestamp,p_import_kw\n2026-07-01T00:00,1\n2026-07-01T00:15,1\n2026-07-01T00:10,1\n",
            ":4:",
            "does not come after",
        ),
        (
            "timestamp,p_import_kw\n2026-07-01T00:00,1\n2026-07-01T00:15,1\n2026-07-01T00:37,1\n",
            ":4:",
            "whole number",
        ),
        ("timestamp,p_import_kw\n2026-07-01T00:00,1\n2026-07-03T00:00,1\n", "", "outside 1 s to 1 h"),
    ],
)
def test_hil_bill_refuses_a_bad_load_file_with_its_line(
    tmp_path: Path, body: str, where: str, message: str
) -> None:
    f = tmp_path / "load.csv"
    f.write_text(body)
    res = CliRunner().invoke(main, ["bill", "--tariff", "example_cn_north_2026", "--load", str(f)])
    assert res.exit_code == 2
    assert f"{f}{where}" in res.output
    assert message in res.output
    assert not (tmp_path / "bill.json").exists()


def test_time_zone_china_has_no_daylight_saving_on_any_date(tmp_path: Path) -> None:
    """economics.md §6.3: a load stamped in UTC lands at UTC+8 on every date, including the days
    other zones change clocks (2026-03-08, 2026-03-29, 2026-10-25, 2026-11-01): every local day
    keeps 96 quarter-hours and its 18:00 hour is the 10:00 UTC hour."""
    rows = ["timestamp,p_import_kw"]
    for day in ("2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01"):
        t0 = np.datetime64(f"{day}T00:00") - np.timedelta64(8, "h")  # local midnight in UTC
        for k in range(96):
            t = t0 + np.timedelta64(15 * k, "m")
            hour_utc = int((t.astype("datetime64[h]").astype(np.int64)) % 24)
            rows.append(f"{t}Z,{8500.0 if hour_utc == 10 else 5000.0}")
    f = tmp_path / "utc.csv"
    f.write_text("\n".join(rows).replace("Z,", "+00:00,") + "\n")
    from hil.load_file import read_load

    series = read_load(f, timezone="Asia/Shanghai")
    local_days = series.ts.astype("datetime64[D]")
    days, counts = np.unique(local_days, return_counts=True)
    assert [str(d) for d in days] == ["2026-03-08", "2026-03-29", "2026-10-25", "2026-11-01"]
    assert counts.tolist() == [96] * 4
    hours = (series.ts - local_days).astype("timedelta64[h]").astype(int)
    assert np.all((series.p_import_kw == 8500.0) == (hours == 18))
