"""A paced bench with the reference EMS on its Modbus port, in one process: what the wire test
(tests/integration/test_ems.py) and the day benchmark (benchmarks/ems_tou_day.py) run.

The bench serves the prepared scenario on a free loopback port, paced at ``speed`` × real time
(Modbus only); once it is up, the reference EMS connects as a Modbus TCP client
(:func:`~hil.ems.session.run_over_modbus`, clock kept on the bench's 715 ``DERHb``) and runs
until the bench's run ends."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hil.ems.session import ModbusSession, run_over_modbus
from hil.run.runner import RealTime, Runner, run_scenario

__all__ = ["run_paced_with_ems"]


async def run_paced_with_ems(
    prep: Any,
    out_dir: Path,
    *,
    speed: float,
    clock_start: str,
    profile: str = "aidc_peak_shave",
    overrides: Mapping[str, Any] | None = None,
    unit_map: dict[str, list[int]] | None = None,
    period_s: float | None = None,
    timeout_s: float | None = None,
) -> tuple[Any, ModbusSession]:
    """Run ``prep`` (from :func:`hil.run.runner.prepare_run`, controller external, ports (0, 0))
    paced with the EMS on the wire; returns the run's outcome and the EMS session.
    ``timeout_s`` defaults to 5 simulated seconds (a lost answer must not outlast the PCS
    watchdog), at least 0.2 s of wall time."""
    done: dict[str, Any] = {}
    stop = asyncio.Event()

    def on_start(runner: Runner) -> None:
        port = runner.modbus[0].port

        async def ems() -> None:
            done["session"] = await run_over_modbus(
                "127.0.0.1",
                port,
                profile=profile,
                overrides=overrides,
                unit_map=unit_map,
                duration_s=prep.scenario.duration_s,
                clock_start=clock_start,
                speed=speed,
                sync_clock=True,
                period_s=period_s,
                timeout_s=timeout_s if timeout_s is not None else max(0.2, 5.0 / speed),
                stop=stop,
            )

        done["task"] = asyncio.get_running_loop().create_task(ems())

    try:
        outcome = await run_scenario(
            prep, out_dir=out_dir, pacer=RealTime(speed=speed), protocols=("modbus",), on_start=on_start
        )
    finally:
        stop.set()
    if "task" not in done:
        raise RuntimeError("the bench ended before the EMS could connect")
    await asyncio.wait_for(done["task"], 60)
    return outcome, done["session"]
