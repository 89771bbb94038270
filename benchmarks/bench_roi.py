"""How long ``hil roi`` takes for a simulated year (issue 10): whole processes, median of runs.

    .venv/bin/python benchmarks/bench_roi.py                     # REF-A, REF-B, the tutorial study
    .venv/bin/python benchmarks/bench_roi.py --year aidc_10k_cn_north --runs 1   # the twin's year

Recorded in docs/performance.md; never asserted in the tests. The aidc_10k year (the twin at a
60 s tick with the reference EMS in the loop) takes minutes: run it on purpose, not in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HIL = [sys.executable, "-m", "hil.cli"]


def time_study(study: str, runs: int) -> tuple[list[float], dict]:
    walls: list[float] = []
    roi: dict = {}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run(
                [*HIL, "roi", study, "--out", tmp, "--no-status"], check=True, capture_output=True, cwd=ROOT
            )
            walls.append(time.perf_counter() - t0)
            roi = json.loads((Path(tmp) / "roi.json").read_text())
    return walls, roi


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--year", nargs="*", default=["ref_a", "ref_b", "example_training_cluster"])
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    print("| study | intervals | runs | wall median (min–max) | of which the study (roi.json wall_s) |")
    print("|---|---|---|---|---|")
    for study in a.year:
        walls, roi = time_study(study, a.runs)
        n = round(roi["study"]["days"] * 86400 / roi["study"]["step_s"])
        spread = f"{min(walls):.2f}–{max(walls):.2f}"
        print(
            f"| {study} | {n:,} | {len(walls)} | {statistics.median(walls):.2f} s ({spread})"
            f" | {roi.get('wall_s', float('nan')):.2f} s |"
        )


if __name__ == "__main__":
    main()
