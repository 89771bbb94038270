"""The OPC UA endpoint under load: a whole site served in real time to a client that watches it all.

Run:  .venv/bin/python benchmarks/bench_opcua.py [--site aidc_10k] [--seconds 20]

For each case (without, then with ``gc.freeze()`` after the address space is built) the site is
served in real time at its tick (asyncio loop: ``gw.step()``; ``await endpoint.publish()``;
sleep to the next absolute deadline) while one asyncua client, in a separate process,
subscribes to every variable node with a publishing interval of one tick. Once the client's
subscription is up and warmed, both sides measure over the same ``--seconds`` window:

* notifications/s the client received (data changes, counted in the client process);
* the per-tick cost of ``publish()`` (p50/p99) and the nodes it wrote per tick;
* tick lateness: how late each tick started after its deadline (p50/p99/max).

Results go to stdout as a Markdown table; nothing is asserted (speed is a benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import sys
import time
from typing import Any

import numpy as np

from hil.config import load_site
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.wire.gateway import Gateway


# -- the client process --------------------------------------------------------------------------
async def client_main(
    url: str, spec: dict[str, Any], interval_ms: float, warmup: float, seconds: float
) -> None:
    from asyncua import Client, ua

    counts = {"n": 0}

    class Handler:
        def datachange_notification(self, node: object, val: object, data: object) -> None:
            counts["n"] += 1

    client = Client(url, timeout=60)
    client.session_timeout = 600_000
    async with client:
        ns = await client.get_namespace_index(spec["namespace"])
        nodes = [client.get_node(ua.NodeId(s, ns)) for s in spec["nodes"]]
        sub = await client.create_subscription(interval_ms, Handler())
        t0 = time.perf_counter()
        for k in range(0, len(nodes), 1000):
            await sub.subscribe_data_change(nodes[k : k + 1000], queuesize=10)
        subscribe_s = time.perf_counter() - t0
        await asyncio.sleep(warmup)
        print("START", flush=True)
        n0, t0 = counts["n"], time.perf_counter()
        await asyncio.sleep(seconds)
        n1, t1 = counts["n"], time.perf_counter()
        print("END", flush=True)
        await sub.delete()
    result = {"notifications": n1 - n0, "seconds": t1 - t0, "subscribe_s": subscribe_s, "items": len(nodes)}
    print(json.dumps(result), flush=True)


# -- the server side -----------------------------------------------------------------------------
async def serve_case(site: str, *, freeze: bool, seconds: float, warmup: float) -> dict[str, float]:
    gw = Gateway(load_site(site))
    gw.step(round(10.0 / gw.site.dt))  # past start-up transients
    ep = OpcUaEndpoint(gw, port=0, keep_history=True)
    t0 = time.perf_counter()
    await ep.start()
    build_s = time.perf_counter() - t0
    if freeze:
        gc.collect()
        gc.freeze()
    dt = gw.site.dt
    spec = {"namespace": ep.namespace_uri, "nodes": [s for _, _, s in ep.variables()]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--client",
        ep.url,
        "--interval-ms",
        str(dt * 1000.0),
        "--warmup",
        str(warmup),
        "--seconds",
        str(seconds),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(spec).encode())  # the node list, read by the client at start
    await proc.stdin.drain()
    proc.stdin.close()
    measuring = {"on": False, "done": False}
    lateness: list[float] = []
    publish: list[float] = []
    written: list[int] = []

    async def loop() -> None:
        start = time.perf_counter()
        k = 0
        while not measuring["done"]:
            k += 1
            deadline = start + k * dt
            await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
            late = time.perf_counter() - deadline
            gw.step()
            n = await ep.publish()
            if measuring["on"]:
                lateness.append(max(0.0, late))
                publish.append(ep.stats.seconds)
                written.append(n)

    task = asyncio.create_task(loop())
    result: dict[str, float] = {}
    assert proc.stdout is not None
    try:
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "START":
                measuring["on"] = True
            elif line == "END":
                measuring["on"] = False
            elif line.startswith("{"):
                result = json.loads(line)
        await proc.wait()
    finally:
        measuring["done"] = True
        await task
        await ep.stop()
        if freeze:
            gc.unfreeze()
        gc.collect()
    if proc.returncode != 0 or not result:
        raise RuntimeError(f"the client process failed (exit {proc.returncode})")
    lat = np.asarray(lateness) * 1000.0
    pub = np.asarray(publish) * 1000.0
    return {
        "nodes": ep.variable_count,
        "build_s": build_s,
        "subscribe_s": float(result["subscribe_s"]),
        "notif_per_s": result["notifications"] / result["seconds"],
        "written_per_tick": float(np.mean(written)) if written else 0.0,
        "publish_p50": float(np.percentile(pub, 50)),
        "publish_p99": float(np.percentile(pub, 99)),
        "late_p50": float(np.percentile(lat, 50)),
        "late_p99": float(np.percentile(lat, 99)),
        "late_max": float(np.max(lat)),
        "ticks": len(lateness),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window per case")
    ap.add_argument("--warmup", type=float, default=3.0, help="after subscribing, before measuring")
    # the client process (internal)
    ap.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--interval-ms", type=float, default=100.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        spec = json.load(sys.stdin)  # {"namespace": uri, "nodes": [string NodeIds]}
        asyncio.run(client_main(args.client, spec, args.interval_ms, args.warmup, args.seconds))
        return
    print(
        f"site {args.site}; {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; {args.seconds:g} s window per case"
    )
    print()
    print(
        "| gc | variables | build | subscribe all | notifications/s | nodes written / tick "
        "| publish p50 | publish p99 | lateness p50 | lateness p99 | lateness max |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for freeze in (False, True):
        r = asyncio.run(serve_case(args.site, freeze=freeze, seconds=args.seconds, warmup=args.warmup))
        print(
            f"| {'freeze' if freeze else 'default'} | {r['nodes']:.0f} | {r['build_s']:.1f} s "
            f"| {r['subscribe_s']:.1f} s | {r['notif_per_s']:.0f} | {r['written_per_tick']:.0f} "
            f"| {r['publish_p50']:.2f} ms | {r['publish_p99']:.2f} ms "
            f"| {r['late_p50']:.2f} ms | {r['late_p99']:.2f} ms | {r['late_max']:.1f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    main()
