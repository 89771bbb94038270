"""The demo job: run a site with a simple peak-shaving stand-in EMS and summarise it.

The stand-in is deliberately simple (it is not the reference EMS): every ``period_s`` it
reads the site's import and asks the batteries to shave what exceeds a threshold, and to
recharge gently below it. It exists so that ``make demo`` shows storage doing something.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from twin import Site
from twin.econ import Bill, Tariff, compute_bill

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
    events: list[tuple[float, str, str, str]] = field(default_factory=list)
    bill: Bill | None = None  # the run's import billed under the tariff, if one was given

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
) -> DemoSummary:
    site.set("pcs.enable", 1)
    n_ticks = round(duration_s / site.dt)
    every = max(1, round(period_s / site.dt))
    snap = site.snapshot()
    threshold = shave_threshold_kw
    p_rated = site.params.pcs.p_rated_kw * site.n_cab
    peak = -np.inf
    low = np.inf
    total = 0.0
    soc_lo, soc_hi = np.inf, -np.inf
    f_lo, f_hi = np.inf, -np.inf
    t_hot = -np.inf
    load_avg: float | None = None
    alpha = min(1.0, period_s / 30.0)  # 30 s filter: shave the envelope, not the 0.2–3 Hz swings
    t_start = time.perf_counter()
    report_every = max(1, n_ticks // 200)
    p_import = np.zeros(n_ticks)
    t_local = np.zeros(n_ticks)
    for k in range(n_ticks):
        t_local[k] = snap["site.local_time_s"]  # the tick's interval starts here
        if k % every == 0:
            load = snap["site.p_facility_kw"] + snap["site.p_aux_kw"] - snap["pv.p_ac_kw"]
            load_avg = load if load_avg is None else load_avg + alpha * (load - load_avg)
            if threshold is None and k * site.dt >= 60.0:
                threshold = 0.9 * load_avg
            want = 0.0 if threshold is None else float(np.clip(load_avg - threshold, -0.2 * p_rated, p_rated))
            site.set("bess.p_set_kw", want)
        snap = site.step()
        p = snap["grid.p_import_kw"]
        p_import[k] = p
        peak = max(peak, p)
        low = min(low, p)
        total += p
        soc = snap["bess.soc_pct"]
        soc_lo, soc_hi = min(soc_lo, soc), max(soc_hi, soc)
        f = snap["grid.f_hz"]
        f_lo, f_hi = min(f_lo, f), max(f_hi, f)
        t_hot = max(t_hot, snap["bess.t_cell_max_degc"])
        if progress is not None and k % report_every == 0:
            progress(k / n_ticks)
    wall = time.perf_counter() - t_start
    if progress is not None:
        progress(1.0)
    bill = None
    if tariff is not None and n_ticks:
        ts = np.round(t_local * 1000.0).astype(np.int64).astype("datetime64[ms]")
        bill = compute_bill(tariff, ts, p_import, site.dt)
    return DemoSummary(
        site=site.params.name,
        simulated_s=n_ticks * site.dt,
        wall_s=wall,
        tick_s=site.dt,
        energy=site.energy_balance(),
        peak_import_kw=float(peak),
        mean_import_kw=total / max(n_ticks, 1),
        min_import_kw=float(low),
        soc_min_pct=float(soc_lo),
        soc_max_pct=float(soc_hi),
        t_cell_max_degc=float(t_hot),
        f_min_hz=float(f_lo),
        f_max_hz=float(f_hi),
        gpu_hours_lost=snap["site.gpu_hours_lost"],
        events=list(site.events),
        bill=bill,
    )
