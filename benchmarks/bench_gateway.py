"""The gateway's per-tick costs on a site: the encode of every register and its parts (the
behaviours' derived values, the gathers into the value matrices, the compiled encode), and the
in-process EMS's read in batch against the one-by-one decode, in one run (compare ratios, not
times). To compare with an older commit, run this file with that commit's checkout first on
``PYTHONPATH`` (a ``git worktree``): the ``_encode_all`` row exists in every version.

    .venv/bin/python benchmarks/bench_gateway.py [--site aidc_10k] [--reps 300]

Prints µs per call (best of 5 repetitions of ``--reps`` calls) as a Markdown table for
docs/performance.md. Nothing is asserted: speed is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from hil.config import load_bench
from hil.ems.batch_read import BatchReader
from hil.ems.io import GatewayIO
from hil.ems.readings import PCS_POINTS
from hil.wire.gateway import Gateway
from hil.wire.sunspec_fast import encode_columns


def best_us(fn: Callable[[], object], reps: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--reps", type=int, default=300)
    args = ap.parse_args()
    tw, cfg = load_bench(args.site)
    gw = Gateway.from_config(tw, cfg)
    for _ in range(20):
        gw.advance()
    io = GatewayIO(gw)
    pcs = io.pcs

    def one_by_one() -> None:
        for d in pcs:
            for key in PCS_POINTS:
                p = d.group.by_key.get(key)
                if p is not None:
                    d.value(p)

    batch = BatchReader(pcs, PCS_POINTS)

    def derive_all() -> None:
        for grp in gw.groups.values():
            grp.behaviour.derive(gw.snapshot, grp.controls, dt=tw.dt)

    derived = {k: g.behaviour.derive(gw.snapshot, g.controls, dt=tw.dt) for k, g in gw.groups.items()}

    def gather_all() -> None:
        for kind, plan in gw.plans.items():
            plan._stacked(gw.snapshot, derived[kind])
            plan._one_by_one(gw.snapshot, derived[kind], plan.other)

    def kernel_all() -> None:
        for kind, plan in gw.plans.items():
            encode_columns(plan.values, plan.codes, gw.groups[kind].image)

    rows = [
        ("encode every register (`Gateway._encode_all`)", best_us(gw._encode_all, args.reps)),
        ("… of which the behaviours' `derive`", best_us(derive_all, args.reps)),
        ("… of which the gathers into the value matrices", best_us(gather_all, args.reps)),
        ("… of which the compiled encode (one call per kind)", best_us(kernel_all, args.reps)),
        ("the EMS's whole read (`GatewayIO.read_now`)", best_us(io.read_now, args.reps)),
        (
            f"PCS points one by one ({len(pcs)} × {len(PCS_POINTS)}, `Device.value`)",
            best_us(one_by_one, args.reps),
        ),
        ("the same in batch (`BatchReader.read`)", best_us(batch.read, args.reps)),
    ]
    print(f"bench_gateway: {args.site}, best of 5 × {args.reps} calls")
    print()
    print("| what | µs per call |")
    print("|---|---:|")
    for name, us in rows:
        print(f"| {name} | {us:,.0f} |")


if __name__ == "__main__":
    main()
