"""Swing figures of the GPU fleet quoted in docs/models/gpu.md: closed forms and one measured run.

For each case (the worst-case defaults, twelve staggered jobs with the communication plateau
still at idle, the realistic profile, and both with smoothing on) it prints:

* closed forms from the parameters: a rack's peak-to-peak swing and edge rate, the site's
  envelope (every job in phase) and the RMS of the site total when the jobs' phases are
  independent (variances add: sqrt(Σ_j (n_j·N_node·ΔP·(1 − c))² · (f_c − f_c² − e/(3·T_j))));
* measured over ``--seconds`` of exact ``--dt`` means: RMS, the peak-to-peak swing over the
  whole run and within windows of one nominal iteration (median and 99th percentile), the
  steepest step between means, the mean node power, and the 0.1–20 Hz band energy against
  the worst case.

Usage::

    .venv/bin/python tools/gpu_swing.py [--racks 313] [--seconds 3600] [--dt 0.01] [--seed 1]
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from twin.models.gpu import GpuFleet, GpuFleetParams


def closed_rms_kw(p: GpuFleetParams, fleet: GpuFleet) -> float:
    sizes = np.bincount(fleet.job_of_rack)
    f_c = p.compute_fraction
    var = (1.0 - p.comm_level) ** 2 * (f_c - f_c**2 - p.edge_s / (3.0 * fleet.job_period_s))
    swing = sizes * p.nodes_per_rack * (p.node_peak_kw - p.node_idle_kw)
    return float(np.sqrt(np.sum(swing**2 * var)))


def sample(p: GpuFleetParams, seconds: float, dt: float, seed: int) -> tuple[np.ndarray, GpuFleet]:
    fleet = GpuFleet(p, seed=seed)
    on = np.ones(p.n_racks, dtype=bool)
    n = round(seconds / dt)
    total = np.empty(n)
    for k in range(n):
        total[k] = fleet.mean_power_kw(k * dt, dt, on).sum()
    return total, fleet


def band_energy(x: np.ndarray, dt: float) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean())) ** 2
    freq = np.fft.rfftfreq(x.size, dt)
    return float(spec[(freq >= 0.1) & (freq <= 20.0)].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--racks", type=int, default=313)
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--dt", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    site = {"n_racks": a.racks, "checkpoint_interval_s": 0.0, "failure_rate_per_h": 0.0}
    smooth = {**site, "smoothing_enabled": True}
    cases = {
        "worst_case": GpuFleetParams(**site),
        "12 jobs, comm at idle": GpuFleetParams(**site, n_jobs=12, job_period_spread=0.2),
        "realistic": GpuFleetParams.from_profile("realistic", site),
        "worst_case + smoothing": GpuFleetParams(**smooth),
        "realistic + smoothing": GpuFleetParams.from_profile("realistic", smooth),
    }
    print(
        "| case | rack p-p kW | rack edge kW/s | envelope MW | envelope edge MW/s | RMS closed MW "
        "| RMS MW | p-p run MW | p-p iteration median / p99 MW | max step MW/s | node kW | band |"
    )
    print("|---" * 12 + "|")
    ref_band = 0.0
    for name, p in cases.items():
        x, fleet = sample(p, a.seconds, a.dt, a.seed)
        rack_pp = p.nodes_per_rack * (p.node_peak_kw - p.node_idle_kw) * (1.0 - p.comm_level)
        win = sliding_window_view(x, round(p.iteration_period_s / a.dt))[:: round(0.5 / a.dt)]
        pp_win = win.max(axis=1) - win.min(axis=1)
        band = band_energy(x, a.dt)
        ref_band = ref_band or band
        print(
            f"| {name} | {rack_pp:.1f} | {rack_pp / p.edge_s:.0f} | {p.n_racks * rack_pp / 1e3:.2f} "
            f"| {p.n_racks * rack_pp / p.edge_s / 1e3:.1f} | {closed_rms_kw(p, fleet) / 1e3:.3f} "
            f"| {x.std() / 1e3:.3f} | {np.ptp(x) / 1e3:.2f} "
            f"| {np.median(pp_win) / 1e3:.2f} / {np.percentile(pp_win, 99) / 1e3:.2f} "
            f"| {np.abs(np.diff(x)).max() / a.dt / 1e3:.1f} "
            f"| {x.mean() / (p.n_racks * p.nodes_per_rack):.3f} | {band / ref_band:.3f} |"
        )
    print(
        "\nclosed forms and envelopes ignore smoothing; 'band' is the 0.1-20 Hz fluctuation energy "
        "relative to the worst case"
    )


if __name__ == "__main__":
    main()
