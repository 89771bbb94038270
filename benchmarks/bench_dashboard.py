"""The dashboard's cost to the clock, nothing else running: tick lateness with and without a page.

Run:  .venv/bin/python benchmarks/bench_dashboard.py [--site aidc_10k] [--seconds 30] [--modes page none page]

Each mode serves the site in real time (Modbus and OPC UA on free loopback ports, no client)
with the dashboard attached; ``page`` opens it in Debian's headless Chromium
(``ui_page.py``, its own process, a PCS's point panel shown) for the window, ``none`` leaves
it without a page. Prints per mode the tick lateness p50/p99/max over the window and, with a
page, the CPU Chromium used (all its processes, from /proc) and the frames the page drew a
second. Modes run one after the other in the order given: compare within one invocation.
``bench_serve.py --ui off on`` is the same question under issue 3's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hil.config import load_bench
from hil.run.runner import RealTime, Runner
from hil.ui import Dashboard, UiConfig

HERE = Path(__file__).resolve().parent


def _cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def _chromium_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "chromium"], capture_output=True, text=True, check=False).stdout
    return [int(x) for x in out.split()]


async def one(site_name: str, mode: str, seconds: float) -> str:
    site, cfg = load_bench(site_name)
    cfg = cfg.with_ports(modbus=0, opcua=0)
    async with Runner(site, cfg, pacer=RealTime()) as runner:
        dash = Dashboard(UiConfig(port=0))
        await dash.attach(runner)
        await runner.step(round(10.0 / site.dt))  # past start-up transients
        clock = asyncio.create_task(runner.run())
        extra = ""
        try:
            if mode == "page":
                page = await asyncio.create_subprocess_exec(
                    sys.executable, str(HERE / "ui_page.py"), dash.url, str(seconds + 1.0),
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                assert page.stdout is not None
                if (await page.stdout.readline()).decode().strip() != "START":
                    raise RuntimeError("the dashboard page did not open")
                i0 = len(runner.lateness.samples)
                c0, t0 = _cpu_s(_chromium_pids()), time.monotonic()
                await asyncio.sleep(seconds)
                c1, t1 = _cpu_s(_chromium_pids()), time.monotonic()
                i1 = len(runner.lateness.samples)
                frames = json.loads((await page.stdout.read()).decode().strip().splitlines()[-1])
                await page.wait()
                cpu = 100 * (c1 - c0) / (t1 - t0)
                extra = f"Chromium {cpu:.0f} % of a core, {frames['frames_per_s']:.1f} frames/s"
            else:
                i0 = len(runner.lateness.samples)
                await asyncio.sleep(seconds)
                i1 = len(runner.lateness.samples)
        finally:
            runner.stop()
            await clock
            await dash.detach()
    late = np.asarray(runner.lateness.samples[i0:i1]) * 1000.0
    return (
        f"| {mode} | {late.size} | {np.percentile(late, 50):.2f} | {np.percentile(late, 99):.2f} "
        f"| {late.max():.2f} | {extra or '–'} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--modes", nargs="+", choices=["none", "page"], default=["page", "none", "page"])
    a = ap.parse_args()
    print(f"site {a.site}, served in real time, no client; {a.seconds:g} s window per mode\n")
    print("| mode | ticks | tick late p50 ms | tick late p99 ms | max ms | page |")
    print("|---|---:|---:|---:|---:|---|")
    for mode in a.modes:
        print(asyncio.run(one(a.site, mode, a.seconds)), flush=True)


if __name__ == "__main__":
    main()
