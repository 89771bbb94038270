"""The battery's tick alone, numpy path against the compiled kernel, in one run.

    .venv/bin/python benchmarks/bench_battery_kernel.py          # ~30 s

16 cabinets × 16 modelled cells (aidc_10k's battery) on each shipped cell set; per call of
``step_power`` + ``outputs_now`` (a tick's battery work without ``pack_instant``), after a
warm-up that compiles the kernel. Nothing is asserted: speed is a benchmark, not a test
(``tests/unit/twin/models/test_battery_kernel.py`` holds the two paths equal).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from twin.models.battery import Battery, BatteryParams
from twin.models.cell import load_cell

CELLS = ("lfp_280ah", "ecm_example_100ah", "ecm_example_100ah_2rc")


def per_call_us(bat: Battery, calls: int) -> float:
    closed = np.ones(bat.shape[0])
    p = np.full(bat.shape[0], 1.0e5)
    for _ in range(20):  # warm-up (compiles the kernel on a first run)
        bat.step_power(p, 1.0, closed=closed)
        bat.outputs_now()
    t0 = time.perf_counter()
    for k in range(calls):
        bat.step_power(p if k % 2 else -p, 1.0, closed=closed)
        bat.outputs_now()
    return (time.perf_counter() - t0) / calls * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    print("| cell set | numpy µs | compiled µs | ratio |")
    print("|---|---|---|---|")
    for cell in CELLS:
        cp = load_cell(cell)
        bp = BatteryParams(n_cabinets=16, cell=cell, cells_modelled=16)
        ref = per_call_us(Battery(bp, cp, rng=np.random.default_rng(1), kernel="numpy"), args.calls)
        fast = per_call_us(Battery(bp, cp, rng=np.random.default_rng(1), kernel="compiled"), args.calls)
        print(f"| {cell} | {ref:,.0f} | {fast:,.0f} | {ref / fast:.1f}× |")


if __name__ == "__main__":
    main()
