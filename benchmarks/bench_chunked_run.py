"""A scenario run with the reference EMS in process, chunked against tick by tick, in one run.

    .venv/bin/python benchmarks/bench_chunked_run.py [--site lab_rack] [--tick "10 s"]
        [--period "5 min"] [--hours 48] [--runs 2]

Plays the same scenario (the reference EMS deciding every ``--period``, its reversion timer
and the heartbeat watchdog set past the period, the trace every 15 min, nothing served) with
``run_scenario(chunked=True)`` and ``chunked=False``, alternating, ``--runs`` times each;
prints the wall time of each, the median ratio, the share of ticks advanced in stretches, and
checks that both left the same trace (every column, to the bit). The numba kernels are loaded
by a warm-up run first. Timings are never asserted (docs/performance.md records them).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hil.run.runner import AsFastAsPossible, prepare_run, run_scenario
from hil.scenario import parse_scenario
from hil.trace.store import read_trace


def scenario(site: str, tick: str, period: str, hours: float) -> dict[str, Any]:
    return {
        "scenario": "bench_chunked_run",
        "title": "chunked against tick by tick (benchmark)",
        "site": site,
        "tick": tick,
        "duration": f"{hours:g} h",
        "start": "2026-06-01T00:00",
        "site_params": {"endpoints": {"watchdog_s": 3600}},
        "controller": {
            "name": "reference",
            "period": period,
            "options": {
                "profile": "lab_peak_shave" if site == "lab_rack" else "aidc_peak_shave",
                "alarms": {"revert_s": 3600},
            },
        },
        "trace": {"every": "15 min"},
    }


def play(data: dict[str, Any], out: Path, *, chunked: bool) -> tuple[float, dict[str, Any]]:
    prepared = prepare_run(parse_scenario(data, path=None, lines={}))
    t = time.perf_counter()
    outcome = asyncio.run(
        run_scenario(
            prepared, out_dir=out, pacer=AsFastAsPossible(), serve=False, report=False, chunked=chunked
        )
    )
    return time.perf_counter() - t, outcome.results


def _same(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", default="lab_rack")
    ap.add_argument("--tick", default="10 s")
    ap.add_argument("--period", default="5 min")
    ap.add_argument("--hours", type=float, default=48.0)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    data = scenario(args.site, args.tick, args.period, args.hours)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        play(scenario(args.site, args.tick, args.period, 1.0), root / "warm", chunked=True)
        times: dict[bool, list[float]] = {True: [], False: []}
        ratios: list[float] = []
        res: dict[str, Any] = {}
        for i in range(args.runs):
            w_c, res = play(data, root / f"c{i}", chunked=True)
            w_t, _ = play(data, root / f"t{i}", chunked=False)
            times[True].append(w_c)
            times[False].append(w_t)
            ratios.append(w_t / w_c)
        a, b = read_trace(root / "c0"), read_trace(root / "t0")
        same = a.column_names == b.column_names and all(
            _same(a.column(n).to_numpy(zero_copy_only=False), b.column(n).to_numpy(zero_copy_only=False))
            for n in a.column_names
        )
    ticks = round(res["simulated_s"] / res["tick_s"])
    per = {k: statistics.median(v) / ticks * 1e6 for k, v in times.items()}
    print(
        f"{args.site}, tick {args.tick}, EMS every {args.period}, {args.hours:g} h ({ticks:,} ticks), "
        f"{args.runs} runs each"
    )
    print(f"  tick by tick: {statistics.median(times[False]):6.2f} s  ({per[False]:6.0f} µs/tick)")
    print(f"  chunked:      {statistics.median(times[True]):6.2f} s  ({per[True]:6.0f} µs/tick)")
    print(f"  ratio (median of pairs): {statistics.median(ratios):.2f}×")
    print(
        f"  in stretches: {res['chunks']['ticks']:,} of {ticks:,} ticks "
        f"({res['chunks']['stretches']:,} stretches); same trace: {same}"
    )


if __name__ == "__main__":
    main()
