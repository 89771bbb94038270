"""Campaign throughput on Dask against the number of workers, and the overhead per task
against the same runs in a plain loop (issue 15).

    .venv/bin/python benchmarks/bench_campaign.py --runs 16 --workers 1 2 --rounds 2

The campaign: ``--runs`` runs of a 2-minute lab_rack scenario (the PCS trips at 30 s for a
drawn time; the stand-in resets and restarts it). Each round, in one process: the runs one by
one through :func:`hil.campaign.task.run_one` (the plain loop), then ``hil.campaign``'s
engine with each worker count (a LocalCluster started and closed inside the timing, as a
user's campaign is). Printed per round and as medians: wall, runs per minute, and the
overhead per task ``(wall × workers − loop wall) / runs``: what Dask (cluster start, transfer,
scheduling, the part files) adds to each run's CPU.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hil.campaign import load_campaign, plan_campaign
from hil.campaign.engine import run_campaign
from hil.campaign.task import run_one

SCENARIO = """\
scenario: bench_trip
site: lab_rack
duration: 2 min
controller: standin
events:
  - at: 30 s
    fault: {type: pcs_trip, target: PCS01, duration: 5 s}
expect:
  - name: running again within 60 s
    state: pcs[0].state
    is: [RUNNING, THROTTLED]
    eventually: {after: 35 s, within: 60 s, hold: 5 s}
"""


def campaign_file(folder: Path, runs: int, workers: int) -> Path:
    (folder / "bench_trip.yaml").write_text(SCENARIO)
    path = folder / f"bench_{workers}.yaml"
    path.write_text(
        "campaign: bench\nbase: {scenario: bench_trip.yaml}\n"
        "parameters:\n  events.0.fault.duration: {values: [2 s, 5 s]}\n"
        f"replicates: {runs // 2}\nseed: 1\ncluster: {{workers: {workers}}}\n"
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=16, help="runs per campaign (even)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        folder = Path(tmp)
        for k in range(args.rounds):
            path = campaign_file(folder, args.runs, 1)
            specs = plan_campaign(load_campaign(path))
            t = time.perf_counter()
            rows = [run_one(s, str(folder / f"loop{k}")) for s in specs]
            loop = time.perf_counter() - t
            assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
            figures.setdefault("loop", []).append(loop)
            rate = 60 * len(specs) / loop
            print(f"round {k}: plain loop {len(specs)} runs {loop:6.1f} s  {rate:6.1f} runs/min")
            for w in args.workers:
                path = campaign_file(folder, args.runs, w)
                t = time.perf_counter()
                out = run_campaign(load_campaign(path), folder / f"c{k}_{w}", fresh=True)
                wall = time.perf_counter() - t
                assert out.failed == 0
                assert out.workers == w
                over = (wall * w - loop) / len(specs)
                figures.setdefault(f"w{w}", []).append(wall)
                figures.setdefault(f"o{w}", []).append(over)
                print(
                    f"round {k}: {w} worker(s)  {wall:6.1f} s  {60 * len(specs) / wall:6.1f} runs/min"
                    f"  overhead {over:5.2f} s/task  speed-up vs loop {loop / wall:4.2f}×"
                )
    n = args.runs
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"\nmedians over {args.rounds} rounds, {n} runs each")
    print("| how | wall | runs/min | overhead per task | speed-up vs the loop |\n|---|---|---|---|---|")
    print(f"| plain loop (run_one) | {med['loop']:.1f} s | {60 * n / med['loop']:.1f} | – | 1.00× |")
    for w in args.workers:
        print(
            f"| Dask, {w} worker(s) | {med[f'w{w}']:.1f} s | {60 * n / med[f'w{w}']:.1f} |"
            f" {med[f'o{w}']:.2f} s | {med['loop'] / med[f'w{w}']:.2f}× |"
        )


if __name__ == "__main__":
    main()
