"""Acceptance benchmark: the reference EMS over Modbus TCP through a TOU day on aidc_10k.

The bench serves aidc_10k (100 ms tick, GPU training swings on) on a free loopback port, paced
at ``--speed`` × real time; the reference EMS (profile ``--profile``) runs as a Modbus TCP
client in the same process and controls it. At the end it prints the mean import of every
clock-aligned 15-minute window against the target, the bill under example_cn_north_2026,
the EMS's counters and the wall time. A full day at 10× takes 2.4 h of wall time: this is an
acceptance script, not part of ``make test``.

    python benchmarks/ems_tou_day.py                       # 24 h from 00:00 at 10x
    python benchmarks/ems_tou_day.py --speed 30 --start 2026-06-21T16:00 --hours 3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hil.ems.check import demand_windows, trace_bill
from hil.ems.profile import load_profile
from hil.ems.session import ModbusSession, run_over_modbus
from hil.runner import RealTime, Runner, prepare_run, run_scenario
from hil.tariff import load_tariff
from hil.trace import read_trace

SCENARIO = """\
scenario: ems_tou_day_bench
title: reference EMS over Modbus TCP (benchmark)
site: aidc_10k
start: "{start}"
duration: {seconds:g} s
controller: external
trace:
  every: {trace_every}
  signals: [grid.p_import_kw, bess.p_ac_kw, bess.soc_pct, grid.demand_15min_max_kw, site.local_time_s]
"""


async def bench(args: argparse.Namespace, out: Path) -> tuple[Any, ModbusSession, float]:
    seconds = args.hours * 3600.0
    sc = out / "scenario.yaml"
    sc.write_text(SCENARIO.format(start=args.start, seconds=seconds, trace_every=args.trace_every))
    prep = prepare_run(str(sc), ports=(0, 0))
    overrides: dict[str, Any] = {}
    if args.target_kw is not None:
        overrides["peak_shave"] = {"target_kw": args.target_kw}
    done: dict[str, Any] = {}
    stop = asyncio.Event()

    def on_start(runner: Runner) -> None:
        port = runner.modbus[0].port

        async def ems() -> None:
            done["session"] = await run_over_modbus(
                "127.0.0.1",
                port,
                profile=args.profile,
                overrides=overrides,
                duration_s=seconds,
                period_s=args.period,
                clock_start=args.start,
                speed=args.speed,
                sync_clock=True,
                timeout_s=max(0.2, 5.0 / args.speed),
                stop=stop,
            )

        done["task"] = asyncio.get_running_loop().create_task(ems())

    wall0 = time.perf_counter()
    outcome = await run_scenario(
        prep, out_dir=out / "run", pacer=RealTime(speed=args.speed), opcua=False, on_start=on_start
    )
    wall = time.perf_counter() - wall0
    stop.set()
    await asyncio.wait_for(done["task"], 60)
    return outcome, done["session"], wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--speed", type=float, default=10.0, help="simulated seconds per wall second")
    ap.add_argument("--start", default="2026-06-21T00:00", help="local start time")
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    ap.add_argument("--profile", default="aidc_peak_shave")
    ap.add_argument("--target-kw", type=float, default=None, help="override the 15-min demand target")
    ap.add_argument("--period", type=float, default=None, help="EMS period, s (default: the profile's)")
    ap.add_argument("--trace-every", default="100 ms", help="trace interval (default every tick)")
    ap.add_argument("--out", type=Path, default=None, help="keep the run folder here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = args.out or Path(tempfile.mkdtemp(prefix="ems_tou_day-"))
    out.mkdir(parents=True, exist_ok=True)
    outcome, s, wall = asyncio.run(bench(args, out))
    prof = load_profile(args.profile)
    target = args.target_kw or (prof.peak_shave.target_kw if prof.peak_shave else None)
    run = out / "run"
    dw = demand_windows(run)
    print(f"15-min windows (target {target if target is not None else '-'} kW):")
    for start, mean, full in zip(dw.starts, dw.mean_kw, dw.complete, strict=True):
        flag = "" if full else "  (partial)"
        over = " OVER" if (full and target is not None and mean >= target) else ""
        print(f"  {str(start)[:16]}  {mean:10.1f} kW{over}{flag}")
    full = dw.complete_means()
    if full.size:
        print(f"max complete-window mean import: {full.max():.1f} kW over {full.size} windows")
    p = np.asarray(read_trace(run, ["grid.p_import_kw"]).column(0))
    print(f"min import sample: {p.min():.1f} kW")
    bill = trace_bill(run, load_tariff("example_cn_north_2026"))
    parts = ", ".join(f"{k} {v:,.2f}" for k, v in bill.by_kind().items() if v)
    print(f"bill (example_cn_north_2026): {bill.total:,.2f} CNY ({parts}); import {bill.import_kwh:,.0f} kWh")
    lat = outcome.results["lateness"]
    print(
        f"wall {wall:.1f} s for {args.hours:g} h at {args.speed:g}x "
        f"(ideal {args.hours * 3600 / args.speed:.1f} s); tick lateness p50 {lat['p50_ms']:.1f} ms, "
        f"p99 {lat['p99_ms']:.1f} ms; EMS periods {s.log.periods}, skipped {s.log.skipped}, "
        f"late {s.log.overruns}, clock resyncs {s.clock_resyncs}, requests {s.requests}, "
        f"writes {s.writes_ok} (refused {s.writes_refused}), heartbeats {s.heartbeats}"
    )
    print(f"run folder: {run}")


if __name__ == "__main__":
    main()
