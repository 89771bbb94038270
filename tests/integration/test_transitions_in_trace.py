"""The twin's transitions reach the trace once: every event the twin recorded during a run is
one row of events.parquet (source ``twin``), and nothing else re-detects them."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from hil import AsFastAsPossible, Runner, run_scenario
from hil.trace.store import EVENT_KINDS, read_events
from twin.transitions import TRANSITION_KINDS


def _run(scenario: str, out: Path) -> Runner:
    seen: list[Runner] = []
    asyncio.run(
        run_scenario(
            scenario, out_dir=out, pacer=AsFastAsPossible(), serve=False, on_start=seen.append, report=False
        )
    )
    return seen[0]


def test_every_twin_transition_is_one_trace_row(tmp_path: Path) -> None:
    runner = _run("pcs_trip_recovery", tmp_path / "run")
    t0 = runner.play.t0 if runner.play is not None else 0.0
    twin_events = [ev for ev in runner.site.events if ev.t >= t0 - 1e-9]
    rows = [r for r in read_events(tmp_path / "run").to_pylist() if r["source"] == "twin"]
    assert len(rows) == len(twin_events) > 0
    for r, ev in zip(rows, twin_events, strict=True):
        assert (r["kind"], r["target"], r["detail"]) == (ev.kind, ev.device, ev.detail)
        assert math.isclose(r["t_s"], ev.t - t0, abs_tol=1e-9)
        assert (r["value"] is None) == math.isnan(ev.value)
    kinds = {r["kind"] for r in rows}
    # the trip latches the PCS in FAULT with an alarm, the EMS's reset clears it, it restarts
    assert {"alarm", "alarm_cleared", "state"} <= kinds
    raised = [r for r in rows if r["kind"] == "alarm" and r["target"] == "pcs[0]"]
    cleared = [r for r in rows if r["kind"] == "alarm_cleared" and r["target"] == "pcs[0]"]
    assert raised
    assert cleared
    assert cleared[0]["t_s"] > raised[0]["t_s"]
    assert "MANUFACTURER_ALRM" in raised[0]["detail"]
    states = [r["detail"] for r in rows if r["kind"] == "state" and r["target"] == "pcs[0]"]
    fault = next(i for i, s in enumerate(states) if s.startswith("FAULT"))
    assert "RUNNING" in states[fault:]
    assert set(TRANSITION_KINDS) <= set(EVENT_KINDS)


SHORT_OUTAGE = """
scenario: short_outage
title: a short grid outage on the lab rack
site: lab_rack
duration: 90 s  # the breaker recloses 60 s after the grid is back (grid.reclose_delay_s)
controller: standin
events:
  - at: 5 s
    grid_outage: {duration: 10 s}
"""


def test_grid_outage_shows_breaker_and_bus_in_the_trace(tmp_path: Path) -> None:
    """The outage's protection sequence (breaker, bus mode) was missing from the trace's
    events before the twin's record was forwarded; it is there now, in the twin's order."""
    path = tmp_path / "short_outage.yaml"
    path.write_text(SHORT_OUTAGE)
    runner = _run(str(path), tmp_path / "run")
    rows = [r for r in read_events(tmp_path / "run").to_pylist() if r["source"] == "twin"]
    bus = [r["detail"] for r in rows if r["kind"] == "bus"]
    transfers = [r["detail"] for r in rows if r["kind"] == "transfer"]
    assert bus
    assert bus[-1] == "GRID"
    assert any(m != "GRID" for m in bus)
    assert any("opened" in d for d in transfers)
    t = [r["t_s"] for r in rows]
    assert t == sorted(t)
    t0 = runner.play.t0 if runner.play is not None else 0.0
    assert len(rows) == sum(1 for ev in runner.site.events if ev.t >= t0 - 1e-9)
