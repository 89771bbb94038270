"""Soak: serve a site for a long span with EMS-like clients in separate processes, and record
how the server holds up over time.

    nice -n 19 .venv/bin/python tools/soak.py --fast --sim-hours 168 --out soak-week
    nice -n 19 .venv/bin/python tools/soak.py --realtime --wall-hours 1 --out soak-hour

Processes (each its own interpreter, so the server's numbers are its own):

* the **server** (``_server``): the site (``--site``, default aidc_10k) in a :class:`~hil.run.runner.Runner`
  with Modbus TCP and OPC UA on 127.0.0.1, free ports; ``--fast`` steps as fast as possible for
  ``--sim-hours`` of simulated time, ``--realtime`` keeps real time for ``--wall-hours``. Every
  ``--sample-s`` of wall time it reports its RSS (``/proc/self/status``), open file descriptors
  (``/proc/self/fd``), the tick lateness of that interval (real time only) and the event-loop
  lag of a 50 ms probe (both modes: how long a ready client waits for the loop);
* ``--modbus-clients`` (16) **Modbus clients** (``_modbus``, pymodbus): each polls the meter's
  SunSpec 203 block and one PCS's 701 and 802 blocks every second; the first quarter also
  write the 802 controller heartbeat every second and a 704 WSet of 0 every 5 s. Each reports
  its response times (p50/p99/max) and errors per interval;
* one **OPC UA subscriber** (``_opcua``, asyncua) subscribed to ``--opcua-vars`` (300) variables
  at 1 s, also reading 20 of them once a second (response time).

Writes ``series.json`` (every sample of every process), ``series.csv`` (one row per server
sample with the clients' figures of the same interval), ``soak.png`` and ``summary.json``
into ``--out``; prints the summary. Memory growth is measured from the end of ``--warmup-s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HOST = "127.0.0.1"


def _emit(kind: str, **data: Any) -> None:
    print(json.dumps({"kind": kind, "wall": time.time(), **data}, default=float), flush=True)


def _stats_ms(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    a = np.asarray(values) * 1000.0
    return {
        "n": int(a.size),
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
    }


class Hist:
    """Fixed-memory percentiles over a whole run: 0.1 ms bins up to 10 s (a week's samples in a
    list would grow the very RSS this tool measures)."""

    def __init__(self) -> None:
        self.counts = np.zeros(100_001, dtype=np.int64)
        self.max_s = 0.0

    def add(self, x: float) -> None:
        self.counts[min(int(x * 10_000.0), 100_000)] += 1
        self.max_s = max(self.max_s, x)

    def stats_ms(self) -> dict[str, float]:
        n = int(self.counts.sum())
        if not n:
            return _stats_ms([])
        cum = np.cumsum(self.counts)
        p50, p99 = (float(np.searchsorted(cum, q * n)) / 10.0 for q in (0.5, 0.99))
        return {"n": n, "p50_ms": p50, "p99_ms": p99, "max_ms": self.max_s * 1000.0}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


# -- the server --------------------------------------------------------------------------------
def _plan(runner: Any, n_vars: int) -> dict[str, Any]:
    """Where the clients read and write: Modbus blocks per unit, OPC UA node ids."""
    from hil.wire.sunspec import BASE_ADDRESS

    def block(dev: Any, model: int) -> list[int]:
        pts = [p for p in dev.group.by_key.values() if p.model_id == model]
        lo = min(p.offset for p in pts)
        hi = max(p.offset + p.words for p in pts)
        return [dev.unit_id, BASE_ADDRESS + lo, min(hi - lo, 125)]

    devs = runner.gateway.devices
    meter = next(d for d in devs if d.kind == "meter")
    pcs = []
    for d in (d for d in devs if d.kind == "bess"):
        by = d.group.by_key
        pcs.append(
            {
                "blocks": [block(d, 701), block(d, 802)],
                "hb": [d.unit_id, BASE_ADDRESS + by["802.CtrlHb"].offset],
                "wset": [d.unit_id, BASE_ADDRESS + by["704.WSet"].offset],
            }
        )
    ids = [s for dev, _p, s in runner.opcua.variables() if dev.kind in ("meter", "bess", "site")]
    step = max(1, len(ids) // n_vars)
    return {
        "modbus_port": runner.modbus[0].port,
        "meter": block(meter, 203),
        "pcs": pcs,
        "opcua_url": runner.opcua.url,
        "opcua_ns": runner.opcua.namespace_uri,
        "opcua_ids": ids[::step][:n_vars],
    }


async def _server(a: argparse.Namespace) -> None:
    import gc

    from hil.config import load_bench
    from hil.run.runner import AsFastAsPossible, RealTime, Runner

    site, endpoints = load_bench(a.site)
    endpoints = endpoints.with_ports(modbus=0, opcua=0)
    endpoints.host = HOST
    pacer = AsFastAsPossible() if a.pacing == "fast" else RealTime(speed=1.0)
    async with Runner(site, endpoints, pacer=pacer) as runner:
        _emit("ready", plan=_plan(runner, a.opcua_vars), rss_mb=_rss_mb(), fds=_fds())
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        all_lags = Hist()

        async def probe() -> None:
            while True:
                t = loop.time()
                await asyncio.sleep(0.05)
                lag = max(loop.time() - t - 0.05, 0.0)
                lags.append(lag)
                all_lags.add(lag)

        async def sampler() -> None:
            seen = 0
            while True:
                await asyncio.sleep(a.sample_s)
                late = runner.lateness.samples[seen:].copy()
                seen += len(late)
                _emit(
                    "server",
                    sim_s=site.t,
                    ticks=runner.ticks,
                    rss_mb=_rss_mb(),
                    fds=_fds(),
                    lateness=_stats_ms(late),
                    loop_lag=_stats_ms(lags),
                    gc_counts=list(gc.get_count()),
                )
                lags.clear()

        tasks = [asyncio.create_task(probe()), asyncio.create_task(sampler())]
        wall0 = time.perf_counter()
        duration = a.sim_s if a.pacing == "fast" else a.wall_s
        await runner.run(duration_s=duration)
        for t in tasks:
            t.cancel()
        _emit(
            "done",
            sim_s=site.t,
            ticks=runner.ticks,
            wall_s=time.perf_counter() - wall0,
            lateness=runner.lateness.summary(),
            loop_lag=all_lags.stats_ms(),
            writes_accepted=runner.gateway.writes_accepted,
            writes_rejected=runner.gateway.writes_rejected,
            rss_mb=_rss_mb(),
            fds=_fds(),
        )
        # keep serving (the clock stopped) until the parent has stopped the clients
        await loop.run_in_executor(None, sys.stdin.read)


# -- the clients -------------------------------------------------------------------------------
def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _modbus(a: argparse.Namespace) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    plan = json.loads(a.plan)
    pcs = plan["pcs"][a.index % len(plan["pcs"])]
    writer = a.index < max(1, a.n_clients // 4)
    stop = _stop_event()
    client = AsyncModbusTcpClient(HOST, port=plan["modbus_port"], timeout=5, retries=0)
    await client.connect()
    rt: list[float] = []
    rt_all = Hist()
    errors = exceptions = requests = 0
    last = time.monotonic()
    k = 0

    async def call(coro: Any) -> None:
        nonlocal errors, exceptions, requests
        t = time.perf_counter()
        requests += 1
        try:
            r = await coro
            if r.isError():
                exceptions += 1
        except Exception:
            errors += 1
            if not client.connected:
                await client.connect()
            return
        dt = time.perf_counter() - t
        rt.append(dt)
        rt_all.add(dt)

    while not stop.is_set():
        t_cycle = time.monotonic()
        unit, addr, n = plan["meter"]
        await call(client.read_holding_registers(addr, count=n, device_id=unit))
        for unit, addr, n in pcs["blocks"]:
            await call(client.read_holding_registers(addr, count=n, device_id=unit))
        if writer:
            unit, addr = pcs["hb"]
            await call(client.write_register(addr, k % 65536, device_id=unit))
            if k % 5 == 0:
                unit, addr = pcs["wset"]
                await call(client.write_registers(addr, [0, 0], device_id=unit))
        k += 1
        if time.monotonic() - last >= a.sample_s:
            last = time.monotonic()
            _emit(
                "modbus",
                index=a.index,
                requests=requests,
                errors=errors,
                exceptions=exceptions,
                rt=_stats_ms(rt),
            )
            rt.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - t_cycle)))
    _emit(
        "modbus_done",
        index=a.index,
        requests=requests,
        errors=errors,
        exceptions=exceptions,
        rt=rt_all.stats_ms(),
    )
    client.close()


async def _opcua(a: argparse.Namespace) -> None:
    from asyncua import Client, ua

    plan = json.loads(a.plan)
    stop = _stop_event()
    notes = 0
    errors = 0

    class Handler:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            nonlocal notes
            notes += 1

    client = Client(plan["opcua_url"], timeout=10)
    await client.connect()
    ns = await client.get_namespace_index(plan["opcua_ns"])
    nodes = [client.get_node(ua.NodeId(s, ns)) for s in plan["opcua_ids"]]
    sub = await client.create_subscription(1000, Handler())
    await sub.subscribe_data_change(nodes)
    rt: list[float] = []
    rt_all = Hist()
    last = time.monotonic()
    while not stop.is_set():
        t = time.perf_counter()
        try:
            await client.read_values(nodes[:20])
            dt = time.perf_counter() - t
            rt.append(dt)
            rt_all.add(dt)
        except Exception:
            errors += 1
        if time.monotonic() - last >= a.sample_s:
            last = time.monotonic()
            _emit("opcua", notifications=notes, errors=errors, rt=_stats_ms(rt), subscribed=len(nodes))
            rt.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    _emit("opcua_done", notifications=notes, errors=errors, rt=rt_all.stats_ms(), subscribed=len(nodes))
    with contextlib.suppress(Exception):
        await client.disconnect()


# -- the parent --------------------------------------------------------------------------------
class Child:
    """A child process whose JSON lines are collected by a thread."""

    def __init__(self, args: list[str], *, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(json.JSONDecodeError), self.cond:
                self.lines.append(json.loads(line))
                self.cond.notify_all()

    def wait_for(self, kind: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while True:
                for x in self.lines:
                    if x["kind"] == kind:
                        return x
                if self.proc.poll() is not None:
                    raise RuntimeError(f"child exited ({self.proc.returncode}) before {kind!r}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(kind)
                self.cond.wait(timeout=5.0 if left is None else min(left, 5.0))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", nargs="?", default="run", choices=["run", "_server", "_modbus", "_opcua"])
    pacing = ap.add_mutually_exclusive_group()
    pacing.add_argument("--fast", action="store_const", const="fast", dest="pacing")
    pacing.add_argument("--realtime", action="store_const", const="realtime", dest="pacing")
    ap.add_argument("--sim-hours", type=float, default=168.0, help="--fast: simulated hours")
    ap.add_argument("--wall-hours", type=float, default=1.0, help="--realtime: wall-clock hours")
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--modbus-clients", type=int, default=16)
    ap.add_argument("--opcua-vars", type=int, default=300)
    ap.add_argument("--sample-s", type=float, default=10.0)
    ap.add_argument("--warmup-s", type=float, default=60.0, help="memory growth is measured after this")
    ap.add_argument("--out", type=Path, default=Path("soak-out"))
    # internal (children)
    ap.add_argument("--plan", default="")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--n-clients", type=int, default=16)
    ap.add_argument("--sim-s", type=float, default=0.0)
    ap.add_argument("--wall-s", type=float, default=0.0)
    a = ap.parse_args(argv)
    a.pacing = a.pacing or "fast"
    if a.role == "_server":
        asyncio.run(_server(a))
        return 0
    if a.role == "_modbus":
        asyncio.run(_modbus(a))
        return 0
    if a.role == "_opcua":
        asyncio.run(_opcua(a))
        return 0
    return run(a)


def run(a: argparse.Namespace) -> int:
    common = ["--sample-s", str(a.sample_s)]
    wall0 = time.time()
    server = Child(
        [
            "_server",
            f"--{a.pacing}",
            "--site",
            a.site,
            "--sim-s",
            str(a.sim_hours * 3600.0),
            "--wall-s",
            str(a.wall_hours * 3600.0),
            "--opcua-vars",
            str(a.opcua_vars),
            *common,
        ],
        stdin=True,
    )
    ready = server.wait_for("ready", timeout=300)
    plan = json.dumps(ready["plan"])
    clients = [
        Child(["_modbus", "--plan", plan, "--index", str(i), "--n-clients", str(a.modbus_clients), *common])
        for i in range(a.modbus_clients)
    ]
    clients.append(Child(["_opcua", "--plan", plan, *common]))
    print(
        f"serving {a.site} (pid {server.proc.pid}) on Modbus port {ready['plan']['modbus_port']} and "
        f"{ready['plan']['opcua_url']}; {a.modbus_clients} Modbus clients and 1 OPC UA subscriber "
        f"({len(ready['plan']['opcua_ids'])} variables)",
        flush=True,
    )
    done = server.wait_for("done")
    for c in clients:
        c.proc.send_signal(signal.SIGTERM)
    for c in clients:
        try:
            c.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    server.proc.wait(timeout=60)
    time.sleep(0.2)  # the reader threads drain the pipes
    return report(a, wall0, server, clients, done)


def report(
    a: argparse.Namespace, wall0: float, server: Child, clients: list[Child], done: dict[str, Any]
) -> int:
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    samples = [x for x in server.lines if x["kind"] == "server"]
    everything = [dict(x, source="server") for x in server.lines]
    for i, c in enumerate(clients):
        everything += [dict(x, source=f"client{i}") for x in c.lines]
    (out / "series.json").write_text(json.dumps(everything, default=float, indent=None))
    mb_lines = [x for c in clients for x in c.lines if x["kind"] == "modbus"]
    ua_lines = [x for c in clients for x in c.lines if x["kind"] == "opcua"]
    rows = []
    prev = wall0
    for s in samples:
        in_iv = [x for x in mb_lines if prev < x["wall"] <= s["wall"]]
        ua_iv = [x for x in ua_lines if prev < x["wall"] <= s["wall"]]
        prev = s["wall"]
        rows.append(
            {
                "wall_s": s["wall"] - wall0,
                "sim_h": s["sim_s"] / 3600.0,
                "rss_mb": s["rss_mb"],
                "fds": s["fds"],
                "late_p50_ms": s["lateness"]["p50_ms"],
                "late_p99_ms": s["lateness"]["p99_ms"],
                "late_max_ms": s["lateness"]["max_ms"],
                "lag_p99_ms": s["loop_lag"]["p99_ms"],
                "lag_max_ms": s["loop_lag"]["max_ms"],
                "modbus_p50_ms": float(np.nanmedian([x["rt"]["p50_ms"] for x in in_iv])) if in_iv else np.nan,
                "modbus_p99_ms": float(np.nanmax([x["rt"]["p99_ms"] for x in in_iv])) if in_iv else np.nan,
                "modbus_max_ms": float(np.nanmax([x["rt"]["max_ms"] for x in in_iv])) if in_iv else np.nan,
                "opcua_p99_ms": float(np.nanmax([x["rt"]["p99_ms"] for x in ua_iv])) if ua_iv else np.nan,
            }
        )
    if rows:
        with (out / "series.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    mb_done = [x for c in clients for x in c.lines if x["kind"] == "modbus_done"]
    ua_done = [x for c in clients for x in c.lines if x["kind"] == "opcua_done"]
    after = [r for r in rows if r["wall_s"] >= a.warmup_s] or rows
    rss = [r["rss_mb"] for r in after]
    hours = (after[-1]["wall_s"] - after[0]["wall_s"]) / 3600.0 if len(after) > 1 else 0.0

    def worst(key: str) -> float | None:
        vals = [r[key] for r in after if not np.isnan(r[key])]
        return float(max(vals)) if vals else None

    summary = {
        "site": a.site,
        "pacing": a.pacing,
        "wall_s": done["wall_s"],
        "simulated_h": done["sim_s"] / 3600.0,
        "ticks": done["ticks"],
        "modbus_clients": a.modbus_clients,
        "opcua_subscribed": ua_done[0]["subscribed"] if ua_done else 0,
        "rss_mb_after_warmup": rss[0] if rss else None,
        "rss_mb_end": rss[-1] if rss else None,
        "rss_growth_mb": (rss[-1] - rss[0]) if rss else None,
        "rss_growth_mb_per_h": (rss[-1] - rss[0]) / hours if hours > 0 else None,
        "rss_mb_max": max(r["rss_mb"] for r in rows) if rows else None,
        "fds_min_max": [min(r["fds"] for r in rows), max(r["fds"] for r in rows)] if rows else None,
        "lateness": done["lateness"],  # the whole run, start-up included
        "after_warmup": {  # the worst interval after --warmup-s
            key: worst(key)
            for key in (
                "late_p99_ms",
                "late_max_ms",
                "lag_p99_ms",
                "lag_max_ms",
                "modbus_p99_ms",
                "modbus_max_ms",
                "opcua_p99_ms",
            )
        },
        "loop_lag": done["loop_lag"],
        "modbus_requests": sum(x["requests"] for x in mb_done),
        "modbus_errors": sum(x["errors"] for x in mb_done),
        "modbus_exceptions": sum(x["exceptions"] for x in mb_done),
        "modbus_rt_p50_ms": float(np.median([x["rt"]["p50_ms"] for x in mb_done])) if mb_done else None,
        "modbus_rt_p99_ms": float(max(x["rt"]["p99_ms"] for x in mb_done)) if mb_done else None,
        "modbus_rt_max_ms": float(max(x["rt"]["max_ms"] for x in mb_done)) if mb_done else None,
        "opcua_notifications": ua_done[0]["notifications"] if ua_done else 0,
        "opcua_errors": ua_done[0]["errors"] if ua_done else None,
        "opcua_read_rt": ua_done[0]["rt"] if ua_done else None,
        "writes_accepted": done["writes_accepted"],
        "writes_rejected": done["writes_rejected"],
        "clients_finished": len(mb_done) + len(ua_done),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    _plot(rows, out / "soak.png", title=f"soak: {a.site}, {a.pacing}")
    print(json.dumps(summary, indent=2, default=float))
    ok = (
        summary["clients_finished"] == a.modbus_clients + 1
        and summary["modbus_errors"] == 0
        and summary["opcua_errors"] == 0
    )
    return 0 if ok else 1


def _plot(rows: list[dict[str, Any]], path: Path, *, title: str) -> None:
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["wall_s"] / 60.0 for r in rows]
    fig, ax = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    ax[0].plot(x, [r["rss_mb"] for r in rows])
    ax[0].set_ylabel("server RSS (MB)")
    ax[1].plot(x, [r["fds"] for r in rows])
    ax[1].set_ylabel("open fds")
    for key in ("late_p99_ms", "late_max_ms", "lag_p99_ms", "lag_max_ms"):
        ax[2].plot(x, [r[key] for r in rows], label=key)
    ax[2].set_ylabel("ms")
    ax[2].set_yscale("symlog", linthresh=1.0)
    ax[2].legend(fontsize=7)
    for key in ("modbus_p50_ms", "modbus_p99_ms", "modbus_max_ms", "opcua_p99_ms"):
        ax[3].plot(x, [r[key] for r in rows], label=key)
    ax[3].set_ylabel("response (ms)")
    ax[3].set_yscale("symlog", linthresh=1.0)
    ax[3].legend(fontsize=7)
    ax[3].set_xlabel("wall time (min)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
