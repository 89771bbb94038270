"""How much faster than real time the twin runs, per integration path and tick.

Run:  .venv/bin/python benchmarks/bench_site.py [--site aidc_10k] [--seconds 120]

Each case simulates ``--seconds`` of the site (after a short warm-up) with the demo's
stand-in EMS writing a setpoint every second, and reports wall time, µs per tick and the
speed-up over real time. The ivp (solve_ivp reference) path is run on a shorter span
(``--ivp-seconds``) because it restarts the solver every tick. Results go to stdout as a
Markdown table for docs/performance.md; nothing is asserted (speed is a benchmark).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from hil.config import load_site


def run(site_name: str, tick: float, method: str, seconds: float) -> tuple[float, int]:
    site = load_site(site_name, overrides={"tick_s": tick, "method": method})
    site.set("pcs.enable", 1)
    site.step(max(1, round(10.0 / tick)))  # warm-up: start the PCS, fill caches
    n = round(seconds / tick)
    every = max(1, round(1.0 / tick))
    t0 = time.perf_counter()
    for k in range(n):
        if k % every == 0:
            snap = site.snapshot()
            site.set("bess.p_set_kw", float(np.clip(snap["site.p_facility_kw"] * 0.02, -1e3, 1e4)))
        site.step()
    return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--ivp-seconds", type=float, default=20.0)
    args = ap.parse_args()
    print(
        f"site {args.site}; {platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    print()
    print("| path | tick | simulated | wall | µs / tick | × real time | year at this rate |")
    print("|---|---|---|---|---|---|---|")
    for method, span in (("fixed", args.seconds), ("ivp", args.ivp_seconds)):
        for tick in (1.0, 0.1):
            wall, n = run(args.site, tick, method, span)
            speed = span / wall
            year_min = 365 * 86400 / speed / 60
            print(
                f"| {method} | {tick:g} s | {span:g} s | {wall:.2f} s | {wall / n * 1e6:.0f} | "
                f"{speed:.1f} | {year_min:.0f} min |"
            )


if __name__ == "__main__":
    main()
