"""Campaign throughput on Dask against the number of workers, and the overhead per task
against the same runs in a plain loop (issue 15).

    .venv/bin/python benchmarks/bench_campaign.py --runs 16 --workers 1 2 --rounds 2

The campaign: ``--runs`` runs of a 2-minute lab_rack scenario (the PCS trips at 30 s for a
drawn time; the stand-in resets and restarts it). Each round, in one process: the runs one by
one through :func:`hil.campaign.task.run_one` (the plain loop), then ``hil.campaign``'s
engine with each worker count on a LocalCluster (started apart, to time it). Printed per
round and as medians: the cluster's start, the first
campaign on it (workers importing the bench and loading the compiled kernels), the same
campaign again on the warm workers, runs per minute, and the overhead per task
``(warm wall × workers − loop wall) / runs``: what Dask (transfer, scheduling, the part
files) adds to each run's CPU once the workers are up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from distributed import LocalCluster

from hil.campaign import load_campaign, plan_campaign
from hil.campaign.engine import cluster_kwargs, run_campaign
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
                camp = load_campaign(path)
                t = time.perf_counter()
                with LocalCluster(**cluster_kwargs(camp.spec.cluster, w)) as cluster:
                    start = time.perf_counter() - t
                    walls = []
                    for label in ("cold", "warm"):  # workers fresh, then with the bench loaded
                        t1 = time.perf_counter()
                        out = run_campaign(
                            camp,
                            folder / f"c{k}_{w}_{label}",
                            scheduler=cluster.scheduler_address,
                            fresh=True,
                        )
                        walls.append(time.perf_counter() - t1)
                        assert out.failed == 0
                        assert out.workers == w
                total = start + walls[0]
                over = (walls[1] * w - loop) / len(specs)
                for key, v in (
                    (f"s{w}", start),
                    (f"c{w}", walls[0]),
                    (f"w{w}", walls[1]),
                    (f"o{w}", over),
                    (f"t{w}", total),
                ):
                    figures.setdefault(key, []).append(v)
                print(
                    f"round {k}: {w} worker(s)  cluster start {start:4.1f} s, cold {walls[0]:5.1f} s,"
                    f" warm {walls[1]:5.1f} s ({60 * len(specs) / walls[1]:5.1f} runs/min),"
                    f" overhead {over:5.2f} s/task"
                )
    n = args.runs
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"\nmedians over {args.rounds} rounds, {n} runs each")
    print("| how | cluster start | first campaign (cold workers) | again (warm workers) | runs/min (warm) |"
          " overhead per task (warm) | speed-up vs the loop (warm) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    loop = med["loop"]
    print(f"| plain loop (run_one, one process) | – | {loop:.1f} s | – | {60 * n / loop:.1f} | – | 1.00× |")
    for w in args.workers:
        start, cold, warm = med[f"s{w}"], med[f"c{w}"], med[f"w{w}"]
        print(
            f"| Dask LocalCluster, {w} worker(s) | {start:.1f} s | {cold:.1f} s | {warm:.1f} s |"
            f" {60 * n / warm:.1f} | {med[f'o{w}']:.2f} s | {loop / warm:.2f}× |"
        )


if __name__ == "__main__":
    main()
