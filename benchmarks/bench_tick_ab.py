"""The closed-loop tick of aidc_10k, for A/B comparisons between two commits in one session.

    git worktree add /tmp/before <commit>
    for i in 1 2 3 4; do
        .venv/bin/python benchmarks/bench_tick_ab.py /tmp/before
        .venv/bin/python benchmarks/bench_tick_ab.py .
    done

Each call imports ``twin`` and ``hil`` from the tree it is given (checked), warms the site up
(PCS started, kernels loaded), then times three spans of 2,000 ticks at 100 ms with a storage
setpoint written every tick, and prints the best span's µs per tick. Run the two trees
alternately and compare them pair by pair: the machines are shared and their speed drifts
between minutes, so only ratios of neighbouring runs mean anything. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", type=Path, help="the checkout whose twin/ and hil/ to time")
    ap.add_argument("--ticks", type=int, default=2000)
    args = ap.parse_args()
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    import twin
    from hil.config import load_site

    if not Path(twin.__file__).resolve().is_relative_to(tree):
        raise SystemExit(f"twin imported from {twin.__file__}, not from {tree}")
    site = load_site("aidc_10k", overrides={"tick_s": 0.1})
    site.set("pcs.enable", 1)
    site.step(300)
    spans = []
    for _ in range(3):
        t0 = time.perf_counter()
        for k in range(args.ticks):
            site.set("bess.p_set_kw", 2000.0 if k % 20 < 10 else -2000.0)
            site.step()
        spans.append((time.perf_counter() - t0) / args.ticks * 1e6)
    print(f"{tree}: {min(spans):.0f} µs per closed-loop tick (best of 3 × {args.ticks})")


if __name__ == "__main__":
    main()
