"""A run advanced in chunks is the run advanced tick by tick, to the bit.

With an in-process controller whose next decision time is known (the reference EMS), nothing
served and no scenario action, ramp or expectation needing a tick, the runner advances the
stretch to the next decision (or trace row, device timer, action) in one call. These runs
play the same scenario both ways and compare everything a run leaves: every trace column,
every event, the results, the register images and the twin's books at the end.

The month runs on lab_rack at a 1-min tick (the site's longest) with the reference EMS
deciding every 30 min (≈ 30 ticks a stretch), its rack training in 20-s iterations (the GPU
model costs Python work per iteration, ≈ 0.4 ms a 1-min tick at 1.5 s, and is not what is
tested here); six hours of aidc_10k at a 10-s tick, deciding every 5 min, adds the 16-cabinet
fleet and its 1.5-s swings. Both EMS profiles arm the 704 reversion timer at every decision
(here for an hour, past the period), and the heartbeat watchdog is set past the period too,
so both count down through every stretch and neither fires; a third run lets the reversion
fire between decisions, so stretches must stop at it. The month costs ≈ 35 s, most of it the
tick-by-tick run it is compared with.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from hil.run.runner import AsFastAsPossible, prepare_run, run_scenario
from hil.scenario import parse_scenario
from hil.trace.store import read_events, read_trace

# results.json keys that measure the machine or the chunking, not the run
_NOT_THE_RUN = {"wall_s", "lateness", "chunks", "file"}


def _scenario(
    site: str,
    tick: str,
    period: str,
    duration: str,
    revert_s: float,
    gpu: dict[str, Any] | None = None,
    watchdog_s: float = 3600.0,
) -> dict[str, Any]:
    return {
        "scenario": f"chunked_{site}",
        "title": "chunked against per-tick (test)",
        "site": site,
        "tick": tick,
        "duration": duration,
        "start": "2026-06-01T00:00",
        "site_params": {"endpoints": {"watchdog_s": watchdog_s}, **({"gpu": gpu} if gpu else {})},
        "controller": {
            "name": "reference",
            "period": period,
            "options": {
                "profile": "lab_peak_shave" if site == "lab_rack" else "aidc_peak_shave",
                "alarms": {"revert_s": revert_s},
            },
        },
        "trace": {"every": "1 h"},
    }


def _play(
    data: dict[str, Any], out: Path, *, chunked: bool, serve: bool = False
) -> tuple[dict[str, Any], Any]:
    prepared = prepare_run(parse_scenario(data, path=None, lines={}))
    kw: dict[str, Any] = {"serve": False}
    if serve:
        kw = {"serve": True, "protocols": ["modbus"], "ports": (0, 0)}
    outcome = asyncio.run(
        run_scenario(prepared, out_dir=out, pacer=AsFastAsPossible(), report=False, chunked=chunked, **kw)
    )
    return outcome.results, prepared


def _same_table(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), name
        else:
            assert (x == y).all(), name


def _compare(data: dict[str, Any], tmp_path: Path, *, serve: bool = False) -> dict[str, Any]:
    res_c, prep_c = _play(data, tmp_path / "chunked", chunked=True, serve=serve)
    res_t, prep_t = _play(data, tmp_path / "per_tick", chunked=False)
    assert res_t["chunks"] == {"stretches": 0, "ticks": 0}
    assert not res_c["interrupted"]
    assert not res_t["interrupted"]
    assert {k: v for k, v in res_c.items() if k not in _NOT_THE_RUN} == {
        k: v for k, v in res_t.items() if k not in _NOT_THE_RUN
    }
    _same_table(read_trace(tmp_path / "chunked"), read_trace(tmp_path / "per_tick"))
    _same_table(read_events(tmp_path / "chunked"), read_events(tmp_path / "per_tick"))
    # what a wire client would read at the end, and the twin's state behind it
    for kind, grp in prep_c.gateway.groups.items():
        assert np.array_equal(grp.image, prep_t.gateway.groups[kind].image), kind
    snap_c, snap_t = prep_c.site.snapshot(), prep_t.site.snapshot()
    for key, value in snap_c.arrays.items():
        assert np.array_equal(value, snap_t.arrays[key], equal_nan=True), key
    for key, value in snap_c.scalars.items():
        assert value == snap_t.scalars[key] or (np.isnan(value) and np.isnan(snap_t.scalars[key])), key
    assert prep_c.site.energy == prep_t.site.energy
    return res_c


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_month_with_the_reference_ems_chunked_is_the_month_tick_by_tick(tmp_path: Path) -> None:
    data = _scenario(
        "lab_rack", "1 min", "30 min", "720 h", revert_s=3600.0, gpu={"iteration_period_s": 20.0}
    )
    res = _compare(data, tmp_path)
    ticks = round(res["simulated_s"] / res["tick_s"])
    assert ticks == 30 * 24 * 60
    # the EMS worked (it charged and discharged) and most of the month went in stretches
    assert res["writes"]["accepted"] > 1000
    assert res["chunks"]["ticks"] > 0.8 * ticks
    books = read_trace(tmp_path / "chunked", ["bess.discharge_kwh", "bess.charge_kwh"])
    assert books.column("bess.discharge_kwh")[-1].as_py() > 10.0
    assert books.column("bess.charge_kwh")[-1].as_py() > 10.0


@pytest.mark.timeout(240)
def test_six_hours_of_aidc_10k_chunked_is_tick_by_tick(tmp_path: Path) -> None:
    res = _compare(_scenario("aidc_10k", "10 s", "5 min", "6 h", revert_s=3600.0), tmp_path)
    assert res["chunks"]["stretches"] > 0


@pytest.mark.timeout(240)
def test_stretches_stop_where_a_reversion_fires(tmp_path: Path) -> None:
    """The EMS arms a 10-min reversion and decides every 30 min: each setpoint reverts 10 min
    after it was written, inside what would otherwise be one stretch."""
    res = _compare(_scenario("lab_rack", "1 min", "30 min", "24 h", revert_s=600.0), tmp_path)
    events = read_events(tmp_path / "chunked").to_pylist()
    reverted = [e for e in events if e["kind"] == "input" and e["detail"] == "reversion"]
    assert len(reverted) >= 24
    assert res["chunks"]["stretches"] > 0


@pytest.mark.timeout(240)
def test_stretches_stop_where_the_heartbeat_watchdog_fires(tmp_path: Path) -> None:
    """The site's comm-loss watchdog at 60 s, the EMS's heartbeat every 5 min: each PCS falls
    back to its reversion values a minute after each decision, inside a stretch's reach."""
    data = _scenario("lab_rack", "10 s", "5 min", "12 h", revert_s=3600.0, watchdog_s=60.0)
    res = _compare(data, tmp_path)
    events = read_events(tmp_path / "chunked").to_pylist()
    fired = [e for e in events if e["kind"] == "input" and e["detail"] == "comm-loss watchdog"]
    assert len(fired) >= 12 * 6
    assert res["chunks"]["stretches"] > 0


@pytest.mark.timeout(240)
def test_a_scenario_with_actions_ramps_faults_and_expectations_chunked_is_tick_by_tick(
    tmp_path: Path,
) -> None:
    """Stretches stop at every action, ramp step, fault and expectation window, and the
    verdicts are the same: a `set:`, a frequency ramp, a PCS trip and its clearing, an
    expectation at a time, two held from a time (one of them violated at many ticks, each
    counted) and one to be met within a window."""
    data = _scenario("lab_rack", "5 s", "5 min", "6 h", revert_s=3600.0)
    data["events"] = [
        {"at": "1 h", "set": {"pcs[0].q_set_kvar": "10 kvar"}},
        {"at": "2 h", "frequency": {"f_hz": "50.3 Hz", "duration": "10 min", "ramp_hz_per_s": 0.01}},
        {"at": "3 h", "fault": {"type": "pcs_trip", "target": "PCS01", "duration": "30 s"}},
        {"at": "4 h", "set": {"pcs[0].q_set_kvar": "0 kvar"}},
    ]
    data["expect"] = [
        {"name": "stored energy left at 5 h", "signal": "bess.soc_pct", "gt": 5, "at": "5 h"},
        {"name": "frequency back", "signal": "grid.f_hz", "lt": "50.1 Hz", "always": {"from": "2.5 h"}},
        # set under the rack's swings: it fails, and its count of violations is every tick's
        {
            "name": "import under 40 kW",
            "signal": "grid.p_import_kw",
            "lt": "40 kW",
            "always": {"from": "30 min"},
        },
        {
            "name": "running again after the trip",
            "state": "pcs[0].state",
            "is": ["RUNNING", "THROTTLED", "STANDBY"],
            "eventually": {"after": "3 h", "within": "1 h"},
        },
    ]
    res = _compare(data, tmp_path)
    assert res["chunks"]["stretches"] > 0
    assert len(res["expectations"]) == 4
    assert res["expectations"][2]["violations"] > 100  # the ticks of the stretches were seen
    kinds = {e["kind"] for e in read_events(tmp_path / "chunked").to_pylist()}
    assert {"fault_inject", "fault_clear", "event", "expectation"} <= kinds


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("site", "tick", "period", "duration"),
    [("lab_rack", "1 s", "10 s", "10 min"), ("aidc_10k", "100 ms", "1 s", "90 s")],
)
def test_the_stand_in_and_a_per_tick_trace_chunked_are_tick_by_tick(
    site: str, tick: str, period: str, duration: str, tmp_path: Path
) -> None:
    """The stand-in samples the import at every boundary between its decisions and the trace
    keeps every tick, as a shipped scenario's: the stretches hand every tick's snapshot over
    (the trace, a trailing-mean expectation, the stand-in's sample from the totals' registers
    encoded from it) and the run is the same to the bit."""
    data = _scenario(site, tick, "1 min", duration, revert_s=3600.0)
    data["controller"] = {"name": "standin", "period": period}
    del data["trace"]  # every tick, every signal
    data["expect"] = [
        {
            "name": "import (10 s mean)",
            "signal": "grid.p_import_kw",
            "lt": "100 MW",
            "mean": "10 s",
            "always": {},
        },
    ]
    res = _compare(data, tmp_path)
    ticks = round(res["simulated_s"] / res["tick_s"])
    assert res["chunks"]["ticks"] > 0.8 * ticks
    assert res["expectations"][0]["passed"] is True


@pytest.mark.timeout(240)
def test_a_served_run_chunks_while_the_controller_is_in_process(tmp_path: Path) -> None:
    """With the endpoints served (``hil run --fast``) the stand-in still bounds the stretches:
    chunked, the same run to the bit as tick by tick unserved; with no controller in process
    (the EMS on the wire) every tick is stepped."""
    data = _scenario("lab_rack", "1 s", "1 min", "5 min", revert_s=3600.0)
    data["controller"] = {"name": "standin", "period": "10 s"}
    del data["trace"]
    res = _compare(data, tmp_path, serve=True)
    assert res["chunks"]["ticks"] > 200
    data["controller"] = {"name": "external"}
    wire, _ = _play(data, tmp_path / "wire", chunked=True, serve=True)
    assert wire["chunks"] == {"stretches": 0, "ticks": 0}
    assert round(wire["simulated_s"]) == 300


@pytest.mark.timeout(240)
def test_a_cloud_held_at_its_depth_is_quiet_and_chunked_is_tick_by_tick(tmp_path: Path) -> None:
    """A ramp sets its input at every boundary of its window; where it sets what it set at the
    boundary before (a cloud held at its depth) nothing changes, so the stretches run on
    through the hold and stop for the ramps in and out. The same run to the bit."""
    data = _scenario("aidc_10k", "100 ms", "1 min", "60 s", revert_s=3600.0)
    data["controller"] = {"name": "standin", "period": "1 s"}
    data["start"] = "2026-06-21T12:00"  # midday sun
    del data["trace"]
    data["events"] = [{"at": "10 s", "cloud": {"index": 0.2, "duration": "30 s", "ramp": "5 s"}}]
    res = _compare(data, tmp_path)
    ticks = round(res["simulated_s"] / res["tick_s"])
    ramps = 2 * 50 + 1  # the boundaries that move the index, and the one that ends the cloud
    assert ticks - res["chunks"]["ticks"] < ramps + 60 + 10  # + a decision a second, + slack
    pv = read_trace(tmp_path / "chunked", ["pv.p_ac_kw"]).column(0).to_numpy()
    assert pv[250] < 0.5 * pv[50]  # the cloud was there (the diffuse light stays)
