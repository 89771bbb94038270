"""The twin core's speed against the aims of issue 12, every row measured in one run.

    .venv/bin/python benchmarks/bench_core.py                 # ~2-4 min on the 2-core machine
    .venv/bin/python benchmarks/bench_core.py --ticks 2000    # shorter

Rows (aidc_10k unless stated; each measured on ``--ticks`` ticks after a warm-up, and the
long spans extrapolated from the per-tick cost, which is flat in time):

* closed loop, per tick: a setpoint written every tick (an EMS that may act every tick), on
  the default path (the compiled battery kernel) and on the numpy reference path
  (``kernel: numpy``) in the same run: the ratio is the speed-up;
* a year at 1 s, open loop, tracing the site's single-valued signals every tick (item 5's
  long-run trace: the aggregates every tick);
* a day at 100 ms, open loop, untraced;
* the same two open-loop spans chunked (``Site.advance``: quiet grid-connected stretches in one
  compiled call, identical to the bit; untraced, since a chunk keeps only its last snapshot);
* 16× the fleet (256 cabinets, 5,008 racks) per tick, as a ratio to 1×.

``hil roi`` for a year of aidc_10k at 1 min with the reference EMS is a whole process of
minutes: ``benchmarks/bench_roi.py --year aidc_10k_cn_north --runs 1``.

Output: a Markdown table for docs/performance.md with each row's aim; rows are ratios
within this run (the machines are shared: compare ratios, not absolute times). Nothing is
asserted: speed is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from hil.config import load_site
from hil.trace.store import TraceWriter
from twin import Site

YEAR_S = 365 * 86400.0


def _site(tick_s: float, scale: int = 1, kernel: str = "compiled") -> Site:
    over: dict[str, object] = {"tick_s": tick_s, "kernel": kernel}
    if scale > 1:
        base = load_site("aidc_10k")
        over["battery"] = {"n_cabinets": base.n_cab * scale}
        over["gpu"] = {"n_racks": base.params.gpu.n_racks * scale}
    site = load_site("aidc_10k", overrides=over)
    site.set("pcs.enable", 1)
    site.step(max(1, round(20.0 / tick_s)))  # warm-up: PCS started, caches filled
    return site


def per_tick_us(site: Site, ticks: int, *, closed_loop: bool, trace_dir: Path | None = None) -> float:
    """Median-free plain mean: µs per tick over ``ticks`` (one long span, flat in time)."""
    writer = None
    if trace_dir is not None:
        writer = TraceWriter(trace_dir, signals=list(site.snapshot().scalars))
    p = 0.0
    t0 = time.perf_counter()
    for k in range(ticks):
        if closed_loop:
            p = 2000.0 if k % 20 < 10 else -2000.0  # a setpoint that changes, as an EMS's would
            site.set("bess.p_set_kw", p)
        snap = site.step()
        if writer is not None:
            writer.append(snap)
    wall = time.perf_counter() - t0
    if writer is not None:
        writer.close()
    return wall / ticks * 1e6


def chunked_us(site: Site, ticks: int) -> float:
    """µs per tick of ``site.advance(ticks)`` (after one chunk to compile or load the kernel)."""
    site.advance(100)
    t0 = time.perf_counter()
    site.advance(ticks)
    return (time.perf_counter() - t0) / ticks * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=5000)
    args = ap.parse_args()
    n = args.ticks
    rows: list[tuple[str, str, str, str]] = []
    ref = per_tick_us(_site(0.1, kernel="numpy"), n, closed_loop=True)  # the per-tick numpy path
    closed = per_tick_us(_site(0.1), n, closed_loop=True)
    rows.append(
        (
            "aidc_10k, per tick, closed loop",
            f"{closed:,.0f} µs; numpy path {ref:,.0f} µs → {ref / closed:.2f}×",
            "≥ 25× faster (≈ 30 µs)",
            "yes" if ref / closed >= 25 else "no",
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        year = per_tick_us(_site(1.0), n, closed_loop=False, trace_dir=Path(tmp))
    year_h = year * 1e-6 * YEAR_S / 3600.0
    rows.append(
        (
            "a year at 1 s, open loop, aggregates traced",
            f"{year:,.0f} µs/tick → {year_h:,.1f} h",
            "≤ 2 min",
            "no",
        )
    )
    day = per_tick_us(_site(0.1), n, closed_loop=False)
    day_min = day * 1e-6 * 864_000 / 60.0
    rows.append(("a day at 100 ms, open loop", f"{day:,.0f} µs/tick → {day_min:,.1f} min", "≤ 10 s", "no"))
    year_c = chunked_us(_site(1.0), 4 * n)
    year_c_min = year_c * 1e-6 * YEAR_S / 60.0
    rows.append(
        (
            "a year at 1 s, open loop, chunked (untraced)",
            f"{year_c:,.0f} µs/tick → {year_c_min:,.0f} min ({year / year_c:.1f}× the traced per-tick row)",
            "≤ 2 min",
            "yes" if year_c_min <= 2 else "no",
        )
    )
    day_c = chunked_us(_site(0.1), 4 * n)
    day_c_s = day_c * 1e-6 * 864_000
    rows.append(
        (
            "a day at 100 ms, open loop, chunked",
            f"{day_c:,.0f} µs/tick → {day_c_s:,.0f} s ({day / day_c:.1f}× the per-tick row)",
            "≤ 10 s",
            "yes" if day_c_s <= 10 else "no",
        )
    )
    big = per_tick_us(_site(0.1, scale=16), max(n // 4, 200), closed_loop=True)
    rows.append(
        (
            "16× the fleet, per tick",
            f"{big:,.0f} µs = {big / closed:.2f}× the 1× tick",
            "≤ 2×",
            "yes" if big / closed <= 2 else "no",
        )
    )
    print(f"bench_core: {n} ticks per row (16×: {max(n // 4, 200)}), Python {platform.python_version()}")
    print()
    print("| what | measured (compiled kernels, the default) | aim | met |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
