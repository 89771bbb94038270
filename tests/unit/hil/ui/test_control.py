"""The dashboard's actions: validated like a scenario file's, applied at the next tick boundary
through the run's timeline, recorded with their origin; a bad one changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from hil.config import load_bench
from hil.run.runner import Manual, RealTime, Runner
from hil.ui import ActionError, Console, empty_timeline
from twin.models.pcs_params import PcsState


@pytest.fixture
def bench() -> Iterator[tuple[Runner, Console, list[tuple[Any, ...]]]]:
    site, cfg = load_bench("lab_rack")
    runner = Runner(site, cfg, pacer=Manual(), serve=False)
    runner.play = empty_timeline(runner)
    logged: list[tuple[Any, ...]] = []
    runner.play.listeners.append(lambda *ev: logged.append(ev))
    return runner, Console(runner), logged


def _step(runner: Runner, n: int = 1) -> None:
    asyncio.run(runner.step(n))


def _state(runner: Runner, unit: int = 0) -> PcsState:
    return PcsState(int(runner.site.snapshot().arrays["pcs.state"][unit]))


def test_a_fault_from_the_page_trips_the_pcs_at_the_next_boundary(bench: Any) -> None:
    runner, console, logged = bench
    _step(runner, 5)
    assert _state(runner) is not PcsState.FAULT
    done = console.act({"fault": {"type": "pcs_trip", "target": "PCS01"}})
    assert "pcs_trip" in done
    assert _state(runner) is not PcsState.FAULT  # nothing happens before the boundary
    _step(runner)
    assert _state(runner) is PcsState.FAULT
    kinds = [ev[1] for ev in logged]
    assert kinds[:2] == ["ui_action", "fault_inject"]  # its origin first, then what it did
    assert logged[0][2] == "ui"
    assert [f.spec.type for f in runner.play.faults if not f.cleared] == ["pcs_trip"]


def test_a_bad_fault_parameter_is_refused_and_changes_nothing(bench: Any) -> None:
    runner, console, logged = bench
    _step(runner, 2)
    before = runner.site.snapshot()
    due = len(runner.play._due)
    with pytest.raises(ActionError) as info:
        console.act({"fault": {"type": "pcs_overtemp_derate", "target": "PCS01", "derate_pu": "lots"}})
    (problem,) = info.value.problems
    assert problem.where == "fault.derate_pu"
    assert problem.file == "<dashboard>"
    with pytest.raises(ActionError) as info:
        console.act({"fault": {"type": "pcs_trip", "target": "PCS07"}})  # lab_rack has one cabinet
    assert "no device 'PCS07'" in str(info.value)
    with pytest.raises(ActionError) as info:
        console.act({"fault": {"type": "pcs_tripp", "target": "PCS01"}})
    assert "did you mean 'pcs_trip'" in str(info.value)
    with pytest.raises(ActionError) as info:
        console.act({"grid_outagee": {"duration": "10 s"}})
    assert "did you mean 'grid_outage'" in str(info.value)
    assert len(runner.play._due) == due
    assert not logged
    assert console.accepted == 0
    _step(runner)
    after = runner.site.snapshot()
    assert after.scalars["grid.available"] == before.scalars["grid.available"] == 1.0
    assert _state(runner) is not PcsState.FAULT


def test_set_and_grid_outage_are_applied_as_a_scenario_would(bench: Any) -> None:
    runner, console, _ = bench
    _step(runner, 2)
    console.act({"set": {"pcs[0].q_set_kvar": "20 kvar"}})
    console.act({"grid_outage": {"duration": "0.5 s"}})
    _step(runner)
    snap = runner.site.snapshot()
    assert runner.site.pcs.q_set[0] == pytest.approx(20.0)  # the input the set: names
    assert snap.scalars["grid.available"] == 0.0
    _step(runner, 5)  # the outage's own end, 0.5 s later
    assert runner.site.snapshot().scalars["grid.available"] == 1.0


def test_the_clock_pauses_resumes_and_takes_a_speed() -> None:
    site, cfg = load_bench("lab_rack")
    runner = Runner(site, cfg, pacer=RealTime(speed=1.0), serve=False)
    runner.play = empty_timeline(runner)
    console = Console(runner)
    console.act({"clock": "pause"})
    assert runner.clock.paused
    console.act({"clock": "resume"})
    assert not runner.clock.paused
    console.act({"speed": 4})
    assert runner.clock.speed == 4.0
    assert runner.clock.changed
    for bad in ({"speed": 0}, {"speed": "fast"}, {"clock": "stop"}):
        with pytest.raises(ActionError):
            console.act(bad)
    assert runner.clock.speed == 4.0


def test_speed_is_refused_on_a_run_that_is_not_paced(bench: Any) -> None:
    _runner, console, _ = bench
    with pytest.raises(ActionError, match="real-time runs only"):
        console.act({"speed": 2})
    with pytest.raises(ActionError, match="one key"):
        console.act({"set": {}, "speed": 2})


def test_a_paused_real_time_run_holds_its_clock_and_stops_when_asked() -> None:
    async def go() -> tuple[int, int, int]:
        site, cfg = load_bench("lab_rack")
        runner = Runner(site, cfg, pacer=RealTime(speed=10.0), serve=False)
        task = asyncio.create_task(runner.run(duration_s=60.0))
        await asyncio.sleep(0.3)
        runner.clock.pause()
        await asyncio.sleep(0.1)  # the tick under way ends
        held = runner.ticks
        await asyncio.sleep(0.4)
        still = runner.ticks
        runner.clock.resume()
        await asyncio.sleep(0.3)
        moved = runner.ticks
        runner.clock.pause()
        runner.stop()  # a paused run stops too
        await asyncio.wait_for(task, 5.0)
        return held, still, moved

    held, still, moved = asyncio.run(go())
    assert held > 0
    assert still == held
    assert moved > still
