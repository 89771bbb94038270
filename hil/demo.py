"""The demo job: run a site under the stand-in EMS on the bench's one :class:`~hil.run.runner.Runner`
and summarise it.

The site runs as fast as it can with no server started; the stand-in EMS (:mod:`hil.ems.standin`,
mode ``good``) drives the batteries through the gateway's write path, as it does in a scenario
run: it learns an import limit (0.9 × the mean net load over the first minute) unless one is
given, shaves above it and recharges gently below it. ``make demo`` plays a scenario instead
(``hil run demo_aidc``); this is the bare site with a summary and a bill.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hil.run.pacing import AsFastAsPossible
from hil.run.runner import Runner
from hil.wire.gateway import Gateway
from twin import Site
from twin.econ import Bill, Tariff, compute_bill
from twin.transitions import Event

from .ems import StandIn
from .endpoints import EndpointConfig

__all__ = ["DemoSummary", "run_demo"]


@dataclass
class DemoSummary:
    site: str
    simulated_s: float
    wall_s: float
    tick_s: float
    energy: dict[str, float]
    peak_import_kw: float
    mean_import_kw: float
    min_import_kw: float
    soc_min_pct: float
    soc_max_pct: float
    t_cell_max_degc: float
    f_min_hz: float
    f_max_hz: float
    gpu_hours_lost: float
    events: list[Event] = field(default_factory=list)
    bill: Bill | None = None  # the run's import billed under the tariff, if one was given
    ems_writes: int = 0  # the stand-in EMS's accepted writes through the gateway
    ems_limit_kw: float | None = None  # the import limit it shaved to (given or learned)

    @property
    def speedup(self) -> float:
        return self.simulated_s / max(self.wall_s, 1e-9)


def run_demo(
    site: Site,
    *,
    duration_s: float,
    shave_threshold_kw: float | None = None,
    period_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
    tariff: Tariff | None = None,
    endpoints: EndpointConfig | None = None,
) -> DemoSummary:
    """Run ``site`` for ``duration_s`` under the stand-in EMS (acting every ``period_s``, import
    limit ``shave_threshold_kw`` or learned) and summarise the run; ``tariff`` bills its import."""
    n_ticks = round(duration_s / site.dt)
    cfg = endpoints or EndpointConfig()
    gw = Gateway.from_config(site, cfg)
    ems = StandIn(gw, period_s=period_s, limit_kw=shave_threshold_kw)
    runner = Runner(site, cfg, pacer=AsFastAsPossible(), serve=False, gateway=gw, controller=ems)
    p_import = np.zeros(n_ticks)
    t_local = np.zeros(n_ticks)  # local time at the start of each tick (the bill's intervals)
    soc = np.zeros(n_ticks)
    f_hz = np.zeros(n_ticks)
    t_hot = np.full(n_ticks, -np.inf)
    start = [float(site.snapshot()["site.local_time_s"])]
    report_every = max(1, n_ticks // 200)

    def on_tick(r: Runner) -> None:
        k = r.ticks - 1
        snap = r.gateway.snapshot
        t_local[k] = start[0]
        start[0] = snap["site.local_time_s"]
        p_import[k] = snap["grid.p_import_kw"]
        soc[k] = snap["bess.soc_pct"]
        f_hz[k] = snap["grid.f_hz"]
        t_hot[k] = snap["bess.t_cell_max_degc"]
        if progress is not None and k % report_every == 0:
            progress(k / n_ticks)

    runner.on_tick.append(on_tick)

    async def go() -> None:
        async with runner:
            await runner.run(duration_s=n_ticks * site.dt)

    t_start = time.perf_counter()
    asyncio.run(go())
    wall = time.perf_counter() - t_start
    if progress is not None:
        progress(1.0)
    bill = None
    if tariff is not None and n_ticks:
        ts = np.round(t_local * 1000.0).astype(np.int64).astype("datetime64[ms]")
        bill = compute_bill(tariff, ts, p_import, site.dt)
    snap = site.snapshot()
    ran = n_ticks > 0
    return DemoSummary(
        site=site.params.name,
        simulated_s=n_ticks * site.dt,
        wall_s=wall,
        tick_s=site.dt,
        energy=site.energy_balance(),
        peak_import_kw=float(p_import.max()) if ran else -np.inf,
        mean_import_kw=float(p_import.sum()) / max(n_ticks, 1),
        min_import_kw=float(p_import.min()) if ran else np.inf,
        soc_min_pct=float(soc.min()) if ran else np.inf,
        soc_max_pct=float(soc.max()) if ran else -np.inf,
        t_cell_max_degc=float(t_hot.max()) if ran else -np.inf,
        f_min_hz=float(f_hz.min()) if ran else np.inf,
        f_max_hz=float(f_hz.max()) if ran else -np.inf,
        gpu_hours_lost=snap["site.gpu_hours_lost"],
        events=list(site.events),
        bill=bill,
        ems_writes=ems.writes,
        ems_limit_kw=ems.limit_kw,
    )
