"""Running the reference EMS against a bench (or hardware) over Modbus TCP: what ``hil ems``
does, as a library function the tests and benchmarks call too."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .io import EmsClock, EmsLog, TransportError, run_ems
from .modbus_io import ModbusIO
from .profile import EmsProfile, load_profile
from .readings import Commands
from .reference import ReferenceEMS

__all__ = ["ModbusSession", "describe_period", "parse_connect", "run_over_modbus"]

log = logging.getLogger(__name__)


def parse_connect(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:1502"`` for IPv6) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--connect {text!r}: expected HOST:PORT, e.g. 127.0.0.1:1502")
    return host.strip("[]"), int(port)


@dataclass
class ModbusSession:
    """What a run over Modbus did."""

    profile: EmsProfile
    units: dict[str, int]
    log: EmsLog
    writes_ok: int
    writes_refused: int
    heartbeats: int
    requests: int
    wall_s: float
    ems_s: float
    skipped: int
    clock_resyncs: int = 0


async def run_over_modbus(
    host: str,
    port: int,
    *,
    profile: str | EmsProfile = "aidc_peak_shave",
    overrides: Mapping[str, Any] | None = None,
    unit_map: dict[str, list[int]] | None = None,
    duration_s: float | None = None,
    period_s: float | None = None,
    clock_start: str | None = None,
    speed: float = 1.0,
    sync_clock: bool = False,
    timeout_s: float = 2.0,
    stop: asyncio.Event | None = None,
    on_period: Callable[[Commands], None] | None = None,
) -> ModbusSession:
    """Connect, discover, then read-decide-write every period until ``duration_s`` of EMS
    time or ``stop``. ``clock_start``/``speed`` set the EMS clock (the bench's start and
    pacing); ``sync_clock`` puts it on the bench's seconds counter (715 ``DERHb``) at start
    and keeps it there."""
    prof = profile if isinstance(profile, EmsProfile) else load_profile(profile, overrides=overrides)
    if period_s is not None:
        prof = dataclasses.replace(prof, period_s=float(period_s))
    clock = EmsClock(clock_start, speed=speed)
    io = ModbusIO(host, port, clock=clock, unit_map=unit_map, timeout_s=timeout_s, follow_clock=sync_clock)
    wall0 = time.perf_counter()
    await io.connect()
    try:
        if sync_clock:
            elapsed = await io.elapsed_s()
            if elapsed is not None:
                clock.sync(elapsed)
        units: dict[str, int] = {}
        for u in io.units:
            units[u.kind] = units.get(u.kind, 0) + 1
        if not units.get("bess"):
            raise TransportError(f"{host}:{port}: no battery PCS (SunSpec 802 + 704) found")
        ems = ReferenceEMS(prof)
        t_start = clock.t_s()
        remaining = None if duration_s is None else max(0.0, duration_s - (t_start if sync_clock else 0.0))
        out = await run_ems(
            io,
            ems,
            period_s=prof.period_s,
            duration_s=remaining,
            speed=speed,
            stop=stop,
            on_period=on_period,
        )
    finally:
        await io.close()
    hb = sum(n for k, n in io.tally.by_point.items() if k in ("802.CtrlHb", "715.ControllerHb"))
    return ModbusSession(
        profile=prof,
        units=units,
        log=out,
        writes_ok=io.tally.ok,
        writes_refused=io.tally.refused,
        heartbeats=hb,
        requests=io.requests,
        wall_s=time.perf_counter() - wall0,
        ems_s=clock.t_s() - t_start,
        skipped=out.skipped,
        clock_resyncs=io.clock_resyncs,
    )


def describe_period(fig: dict[str, float]) -> str:
    """One log line of a period's figures (what ``hil ems`` prints)."""

    def kw(key: str) -> str:
        v = fig.get(key)
        return "-" if v is None or v != v else f"{v / 1000.0:.2f}"

    mode = {1.0: "tou:discharge", -1.0: "tou:charge"}.get(fig.get("tou_mode", 0.0), "")
    return (
        f"t={fig.get('t_s', 0.0):8.1f}s import {kw('import_kw')} MW (filtered net {kw('net_filtered_kw')}),"
        f" 15-min window {kw('window_mean_kw')} / target {kw('target_kw')} MW, ref {kw('import_ref_kw')} MW,"
        f" bess cmd {kw('command_kw')} MW, SoC {fig.get('soc_pct', float('nan')):.1f} %"
        + (
            f", DR limit {kw('dr_limit_kw')} MW"
            if fig.get("dr_limit_kw", float("nan")) == fig.get("dr_limit_kw")
            else ""
        )
        + (f", {mode}" if mode else "")
        + (", ISLANDED" if fig.get("islanded") else "")
    )
