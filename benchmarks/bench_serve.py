"""Everything at once: the Runner serving a site in real time to Modbus pollers and an OPC UA watcher.

Run:  .venv/bin/python benchmarks/bench_serve.py [--site aidc_10k] [--clients 32] [--seconds 60]
      .venv/bin/python benchmarks/bench_serve.py --clients 32 --seconds 120 --ui off on --rounds 2
      .venv/bin/python benchmarks/bench_serve.py --scenario grid_outage --clients 8 --seconds 600

This is the path ``hil serve`` takes: one :class:`hil.run.runner.Runner` with real-time pacing
(absolute deadlines), its Modbus endpoint(s) and its OPC UA endpoint on one asyncio loop; the
runner's own lateness record is what is reported. Against it, in other processes and at the
same time:

* ``--clients`` pymodbus clients (spread over ``--procs`` processes), each reading 125
  registers of model 701 every ``--period`` seconds on an absolute schedule with a random
  phase, rotating over the PCS unit ids (the client of ``bench_modbus.py``);
* one asyncua client subscribed to every variable node at one tick's publishing interval
  (the client of ``bench_opcua.py``).

Once both are connected and the subscription has warmed up, the window of ``--seconds`` is
measured: Modbus requests/s and response p50/p99, OPC UA notifications/s, and tick lateness
p50/p99/max of the runner. With ``--ui off on`` each case runs without, then with the browser
dashboard attached and a headless Chromium page open on it (``ui_page.py``, its own process,
watching a PCS's point panel), alternated ``--rounds`` times: the lateness of the two is
compared run against run. Prints one Markdown row per run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_modbus import run_clients

HERE = Path(__file__).resolve().parent


async def one_case(
    site: str, n_clients: int, procs: int, period: float, seconds: float, warmup: float, ui: bool = False
) -> dict[str, Any]:
    """The bare site served by a Runner in real time (what ``hil serve`` runs); with ``ui``, the
    dashboard attached (``hil serve --ui``) and a headless Chromium page open on it throughout."""
    from hil.config import load_bench
    from hil.run.runner import RealTime, Runner
    from hil.ui import Dashboard, UiConfig

    site_obj, cfg = load_bench(site)
    cfg = cfg.with_ports(modbus=0, opcua=0)
    async with Runner(site_obj, cfg, pacer=RealTime()) as runner:
        dash = Dashboard(UiConfig(port=0)) if ui else None
        if dash is not None:
            await dash.attach(runner)
        await runner.step(round(10.0 / runner.site.dt))  # past start-up transients
        clock = asyncio.create_task(runner.run())
        page = None
        try:
            if dash is not None:  # the page opens first and stays open past the window
                page = await asyncio.create_subprocess_exec(
                    sys.executable, str(HERE / "ui_page.py"), dash.url, str(seconds + warmup + 30.0),
                    stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                assert page.stdout is not None
                line = (await page.stdout.readline()).decode().strip()
                if line != "START":
                    raise RuntimeError(f"the dashboard page did not open: {line!r}")
            result = await _measure(runner, n_clients, procs, period, seconds, warmup)
            if page is not None:
                assert page.stdout is not None
                out = json.loads((await page.stdout.read()).decode().strip().splitlines()[-1])
                await page.wait()
                result["page_frames_per_s"] = out["frames_per_s"]
            return result
        finally:
            if page is not None and page.returncode is None:
                page.kill()
                await page.wait()
            runner.stop()
            await clock
            if dash is not None:
                await dash.detach()


async def one_case_scenario(
    scenario: str, n_clients: int, procs: int, period: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """The same load against ``hil run SCENARIO`` in real time (stand-in EMS, trace, expectations)."""
    import tempfile

    from hil.run.runner import RealTime, run_scenario

    box: dict[str, Any] = {}

    def on_start(runner: Any) -> None:
        async def load() -> None:
            try:
                box["result"] = await _measure(runner, n_clients, procs, period, seconds, warmup)
            finally:
                runner.stop()

        box["task"] = asyncio.get_running_loop().create_task(load())

    with tempfile.TemporaryDirectory() as out:
        await run_scenario(scenario, out_dir=out, pacer=RealTime(), ports=(0, 0), on_start=on_start)
        await box["task"]
    return dict(box["result"])


async def _measure(
    runner: Any, n_clients: int, procs: int, period: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """Start the OPC UA watcher and the Modbus pollers against a running ``runner``; measure one window."""
    gw = runner.gateway
    ep = runner.modbus[0]
    pcs = [d for d in gw.devices if d.kind == "bess"]
    units = [d.unit_id for d in pcs]
    address = 40000 + pcs[0].point("701.ID").offset
    opc = runner.opcua
    spec = {"namespace": opc.namespace_uri, "nodes": [s for _, _, s in opc.variables()]}

    # the OPC UA watcher: subscribe, warm up, then print START ... END and a JSON result
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "bench_opcua.py"), "--client", opc.url,
        "--interval-ms", str(gw.site.dt * 1000.0), "--warmup", str(warmup), "--seconds", str(seconds),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps(spec).encode())
    await proc.stdin.drain()
    proc.stdin.close()
    line = (await proc.stdout.readline()).decode().strip()
    if line != "START":
        raise RuntimeError(f"OPC UA client did not start: {line!r}")

    # the Modbus pollers (bench_modbus.run_clients), started as the OPC UA window opens
    marks: list[int] = []
    lat_s, errors, _ = await run_clients(
        ep.port, n_clients=n_clients, procs=procs, mode="poll", duration=seconds, units=units,
        address=address, period=period, clock=None,
        on_window=lambda _open: marks.append(len(runner.lateness.samples)),
    )  # fmt: skip
    i0, i1 = marks
    opc_result: dict[str, Any] = {}
    async for raw in proc.stdout:
        text = raw.decode().strip()
        if text.startswith("{"):
            opc_result = json.loads(text)
    await proc.wait()
    late = np.asarray(runner.lateness.samples[i0:i1]) * 1000.0
    lat = lat_s * 1000.0
    return {
        "clients": n_clients,
        "variables": len(spec["nodes"]),
        "rps": lat.size / seconds,
        "errors": errors,
        "resp_p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "resp_p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "notif_per_s": opc_result.get("notifications", 0) / max(opc_result.get("seconds", 1.0), 1e-9),
        "ticks": int(late.size),
        "late_p50": float(np.percentile(late, 50)),
        "late_p99": float(np.percentile(late, 99)),
        "late_max": float(late.max()),
        "opc_exit": proc.returncode,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--clients", type=int, nargs="+", default=[32], help="Modbus client counts, one run each")
    ap.add_argument("--period", type=float, default=0.1, help="Modbus poll period, s")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window per run, s")
    ap.add_argument("--warmup", type=float, default=3.0, help="after the OPC UA subscription is made, s")
    ap.add_argument("--procs", type=int, default=2, help="Modbus client processes")
    ap.add_argument(
        "--scenario",
        default=None,
        help="play this scenario (hil run, stand-in EMS, trace) instead of serving the bare site; "
        "its duration must exceed --seconds plus the warm-up",
    )
    ap.add_argument(
        "--ui",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="without and/or with the dashboard and a page open on it (bare site only), one run each, "
        "in this order, --rounds times",
    )
    ap.add_argument("--rounds", type=int, default=1, help="repeat the --ui sequence (alternated runs)")
    opts = ap.parse_args()
    what = f"scenario {opts.scenario} (hil run, real time)" if opts.scenario else f"site {opts.site}"
    print(
        f"{what}; {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        f"Modbus poll every {opts.period * 1000:g} ms; OPC UA subscription to every variable; "
        f"{opts.seconds:g} s window per run\n"
    )
    if opts.scenario and opts.ui != ["off"]:
        ap.error("--ui applies to the bare site (not --scenario)")
    print(
        "| Modbus clients | dashboard | req/s | resp p50 ms | resp p99 ms | errors | OPC UA variables "
        "| notifications/s | ticks | tick late p50 ms | tick late p99 ms | tick late max ms | page frames/s |"
    )
    print("|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = [(n, mode) for n in opts.clients for _ in range(opts.rounds) for mode in opts.ui]
    for n, mode in cases:
        t = time.perf_counter()
        if opts.scenario:
            r = asyncio.run(
                one_case_scenario(
                    opts.scenario, n, min(opts.procs, n), opts.period, opts.seconds, opts.warmup
                )
            )
        else:
            r = asyncio.run(
                one_case(
                    opts.site, n, min(opts.procs, n), opts.period, opts.seconds, opts.warmup, ui=mode == "on"
                )
            )
        frames = r.get("page_frames_per_s")
        print(
            f"| {n} | {mode} | {r['rps']:.0f} | {r['resp_p50']:.2f} | {r['resp_p99']:.2f} | {r['errors']} "
            f"| {r['variables']} | {r['notif_per_s']:.0f} | {r['ticks']} | {r['late_p50']:.2f} "
            f"| {r['late_p99']:.2f} | {r['late_max']:.2f} | {'–' if frames is None else f'{frames:.1f}'} |",
            flush=True,
        )
        if r["opc_exit"] != 0:
            print(f"  (OPC UA client exited {r['opc_exit']})", file=sys.stderr)
        print(f"  run took {time.perf_counter() - t:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
