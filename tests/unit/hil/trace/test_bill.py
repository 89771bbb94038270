"""A run given a tariff bills itself into results.json: exact energy from the meter's books,
the 15-minute peaks, the same run without its storage and the difference."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from hil.run.runner import prepare_run, run_scenario
from hil.scenario import ScenarioError
from hil.tariff import load_tariff
from hil.trace.store import read_trace

SCENARIO = """\
scenario: tou_bill
site: lab_rack
tick: 5 s
duration: 1 h
start: "2026-07-31T23:30"
tariff: example_cn_north_2026
controller:
  name: standin
  options:
    limit_kw: 30 kW
trace: {every: 1 min}
expect:
  - name: runs
    signal: grid.f_hz
    gt: 49 Hz
"""


@pytest.fixture(scope="module")
def billed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("run_bill")
    (d / "sc.yaml").write_text(SCENARIO)
    asyncio.run(run_scenario(str(d / "sc.yaml"), out_dir=d / "out", serve=False))
    return d / "out", json.loads((d / "out" / "results.json").read_text())["bill"]


def test_the_bill_energy_is_the_meter_books_and_splits_at_the_month_boundary(billed_run) -> None:  # type: ignore[no-untyped-def]
    out, bill = billed_run
    tr = read_trace(out, ["t_s", "grid.import_kwh", "grid.export_kwh", "site.local_time"])
    imp = tr.column("grid.import_kwh").to_numpy()
    local = tr.column("site.local_time").to_numpy().astype("datetime64[m]")
    assert bill["energy_kwh"] == pytest.approx(imp[-1], rel=1e-9)
    # the run crosses midnight of 31 July: the two months' kWh are the books at the boundary
    assert [m["month"] for m in bill["months"]] == ["2026-07", "2026-08"]
    at_midnight = imp[local == np.datetime64("2026-08-01T00:00")][0]
    assert bill["months"][0]["energy_kwh"] == pytest.approx(at_midnight, rel=1e-9)
    tariff = load_tariff("example_cn_north_2026")
    valley = tariff.period_prices[tariff.period_names.index("valley")]
    assert bill["energy_cost"] == pytest.approx(imp[-1] * valley, rel=1e-9)  # 23:30-00:30 is all valley


def test_the_bill_peaks_are_15_minute_means_of_the_books(billed_run) -> None:  # type: ignore[no-untyped-def]
    out, bill = billed_run
    tr = read_trace(out, ["t_s", "grid.import_kwh"])
    t = tr.column("t_s").to_numpy()
    imp = tr.column("grid.import_kwh").to_numpy()
    e = np.interp(np.arange(0.0, 3601.0, 900.0), np.concatenate([[0.0], t]), np.concatenate([[0.0], imp]))
    means = np.diff(e) / 0.25  # kW over each 15 min: 23:30, 23:45 | 00:00, 00:15
    assert bill["peak_kw_by_month"]["2026-07"] == pytest.approx(means[:2].max(), rel=1e-9)
    assert bill["peak_kw_by_month"]["2026-08"] == pytest.approx(means[2:].max(), rel=1e-9)
    assert bill["demand_cost"] == pytest.approx(40.0 * (means[:2].max() + means[2:].max()), rel=1e-9)


def test_without_storage_adds_the_battery_books_back(billed_run) -> None:  # type: ignore[no-untyped-def]
    out, bill = billed_run
    tr = read_trace(out, ["bess.discharge_kwh", "bess.charge_kwh"])
    net = tr.column("bess.discharge_kwh").to_numpy()[-1] - tr.column("bess.charge_kwh").to_numpy()[-1]
    base = bill["without_storage"]
    assert base["energy_kwh"] - bill["energy_kwh"] == pytest.approx(net, abs=1e-6)
    assert bill["savings"]["total"] == pytest.approx(base["total"] - bill["total"], rel=1e-12)
    assert bill["savings"]["energy"] + bill["savings"]["demand"] == pytest.approx(bill["savings"]["total"])


def test_the_report_shows_the_bill(billed_run) -> None:  # type: ignore[no-untyped-def]
    out, bill = billed_run
    md = (out / "summary.md").read_text()
    assert f"{bill['total']:,.2f} CNY" in md
    assert "Storage saved" in md


def test_an_unknown_tariff_in_a_scenario_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "sc.yaml"
    f.write_text(SCENARIO.replace("tariff: example_cn_north_2026", "tariff: example_cn_nort_2026"))
    with pytest.raises(ScenarioError) as ei:
        prepare_run(str(f))
    (p,) = ei.value.problems
    assert str(p).startswith(f"{f}:6: tariff:")
    assert "did you mean 'example_cn_north_2026'" in str(p)


def test_the_run_is_scored_against_the_optimum_of_its_window(billed_run) -> None:  # type: ignore[no-untyped-def]
    out, bill = billed_run
    opt = bill["optimum"]
    # the run's own dispatch is a feasible point of the LP (the optimum ends each month with at
    # least what the run had stored), so the optimum saves at least as much; up to the LP's
    # efficiency stand-ins (0.95 each way) and the first row's stored energy standing for t = 0
    assert opt["savings"] >= -1e-6 * bill["without_storage"]["total"]
    assert opt["savings"] >= bill["savings"]["total"] - 1e-6 * bill["without_storage"]["total"]
    assert bill["optimum_share"] == pytest.approx(bill["savings"]["total"] / opt["savings"], rel=1e-9)
    assert opt["storage"]["power_kw"] > 0
    assert "Against the optimum" in (out / "summary.md").read_text()


def test_the_optimum_is_solved_on_minute_means_that_keep_every_kwh() -> None:
    """A run's optimum is solved on 1-min means (a day at 100 ms would be a 4-million-variable
    LP: the first full-day benchmark spent hours in HiGHS): the means keep each month's energy
    exactly and never straddle a month boundary, and a coarse trace passes through as it is."""
    from hil.trace.bill import bucket_means

    rng = np.random.default_rng(3)
    ts = np.datetime64("2026-06-30T23:58:00.000") + np.arange(3000) * np.timedelta64(100, "ms")
    p = rng.uniform(-50.0, 900.0, ts.size)
    starts, (m,), step = bucket_means(ts, (p,), 0.1)
    assert step == 60.0
    june = ts < np.datetime64("2026-07-01")
    for month_mask, bucket_mask in (
        (june, starts < np.datetime64("2026-07-01")),
        (~june, starts >= np.datetime64("2026-07-01")),
    ):
        assert m[bucket_mask].sum() * 60.0 == pytest.approx(p[month_mask].sum() * 0.1, rel=1e-12)
    assert np.datetime64("2026-07-01T00:00:00.000") in starts  # July opens its own bucket
    # 1,200 June intervals = 2 whole buckets; 1,800 July intervals = 3 whole buckets
    assert starts.size == 5
    assert m[0] == pytest.approx(p[:600].mean(), rel=1e-12)
    coarse, pc = ts[::600], p[::600]  # already at the optimum's step: left as it is
    same_ts, (same,), same_step = bucket_means(coarse, (pc,), 60.0)
    assert same_step == 60.0
    assert same_ts is coarse
    assert same is pc
