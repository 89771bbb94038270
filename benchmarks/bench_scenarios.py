"""How much faster than real time each shipped scenario runs with ``--fast``.

Run:  .venv/bin/python benchmarks/bench_scenarios.py [--no-serve] [NAME ...]

Each scenario is played exactly as ``hil run NAME --fast`` plays it (stand-in EMS, endpoints
served on free ports, full trace and report; ``--no-serve``: nothing served, as a pytest
scenario item or a campaign run plays it). ``wall`` counts from before the servers start to
the end of the report; ``run only`` excludes the servers' start-up and the report, which are
fixed costs (asyncua builds its address space in ~2 s for aidc_10k); *ticks in chunks* is
the share of ticks advanced in quiet stretches (``Runner.advance_quiet``). Prints a Markdown
table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from hil.run.runner import AsFastAsPossible, run_scenario

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="scenario names (default: every shipped one)")
    ap.add_argument("--no-serve", action="store_true", help="serve no endpoint (the in-process run alone)")
    opts = ap.parse_args()
    names = opts.names or sorted(p.stem for p in (ROOT / "profiles" / "scenarios").glob("*.yaml"))
    serving: dict[str, Any] = {"serve": False} if opts.no_serve else {"ports": (0, 0)}
    served = "nothing" if opts.no_serve else "endpoints"
    print(f"Python {platform.python_version()}, {platform.machine()}, {served} served\n")
    print(
        "| scenario | site | tick | simulated | wall | × real time | run only | × (run only) "
        "| ticks in chunks | passed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in names:
        box: dict[str, Any] = {}

        def on_start(runner: Any, box: dict[str, Any] = box) -> None:
            # the clock loop alone, timed around Runner.run (a tick callback would stop the
            # run from advancing quiet stretches in one call)
            run = runner.run

            async def timed(**kw: Any) -> None:
                box["t"] = time.perf_counter()
                try:
                    await run(**kw)
                finally:
                    box["end"] = time.perf_counter()
                    box["chunked"] = runner.chunked_ticks

            runner.run = timed

        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            res = asyncio.run(
                run_scenario(name, out_dir=out, pacer=AsFastAsPossible(), on_start=on_start, **serving)
            )
            wall = time.perf_counter() - t0
        r = res.results
        run_only = box["end"] - box["t"]
        share = box["chunked"] / max(round(r["simulated_s"] / r["tick_s"]), 1)
        sim = r["simulated_s"]
        print(
            f"| {name} | {r['site']} | {r['tick_s']:g} s | {sim:,.0f} s | {wall:.1f} s | {sim / wall:,.0f} "
            f"| {run_only:.1f} s | {sim / run_only:,.0f} | {share:.0%} "
            f"| {'yes' if res.passed else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
