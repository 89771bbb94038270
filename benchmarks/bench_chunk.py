"""Chunked advance against the per-tick path, in one run (issue 12 item 4).

    .venv/bin/python benchmarks/bench_chunk.py [--ticks 6000] [--site aidc_10k]

Two copies of the site, the PCS enabled and a storage setpoint held; one advances with
``Site.step(n)`` (per tick), the other with ``Site.advance(n)`` (chunks). Prints µs per tick
for each, their ratio, the share of ticks that ran in chunks, and checks that the two end in
the same snapshot (to the bit). The first chunk's compile is excluded (a warm-up run).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import twin.chunk as chunk
from hil.config import load_site


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=6000)
    ap.add_argument("--site", default="aidc_10k")
    args = ap.parse_args()
    sites = [load_site(args.site) for _ in range(3)]
    for s in sites:
        s.set("pcs.enable", 1)
        s.set("bess.p_set_kw", 500.0)
        s.step(20)
    sites[2].advance(200)  # warm-up: compile or load the kernel
    runs: list[int] = []
    real = chunk._run

    def counted(site, k):  # type: ignore[no-untyped-def]
        done = real(site, k)
        runs.append(done)
        return done

    chunk._run = counted  # type: ignore[assignment]
    t0 = time.perf_counter()
    a = sites[0].step(args.ticks)
    t1 = time.perf_counter()
    b = sites[1].advance(args.ticks)
    t2 = time.perf_counter()
    per_tick = (t1 - t0) / args.ticks * 1e6
    chunked = (t2 - t1) / args.ticks * 1e6
    same = all(np.array_equal(a.scalars[k], b.scalars[k], equal_nan=True) for k in a.scalars) and all(
        np.array_equal(a.arrays[k], b.arrays[k], equal_nan=True) for k in a.arrays
    )
    print(f"{args.site}, {args.ticks} ticks of {sites[0].dt} s, PCS at 500 kW each")
    print(f"  per tick (Site.step): {per_tick:8.1f} µs/tick")
    print(f"  chunked (Site.advance): {chunked:6.1f} µs/tick  -> {per_tick / chunked:.2f}x")
    print(f"  ticks in chunks: {sum(runs)} of {args.ticks}; same snapshot to the bit: {same}")


if __name__ == "__main__":
    main()
