"""Modbus TCP server under load: the twin served in real time, and our server against a bare one.

Run:  .venv/bin/python benchmarks/bench_modbus.py [--site aidc_10k] [--poll-s 10] [--max-s 8]

The server side runs in this process on one asyncio loop: the gateway is stepped every tick
(100 ms for aidc_10k) to absolute deadlines (``t0 + k * tick``) and
:class:`hil.protocols.modbus.endpoint.ModbusEndpoint` answers on the same loop, so tick
lateness shows what the requests cost the clock. The clients
run in separate processes (``multiprocessing``, spawn), each hosting several pymodbus
``AsyncModbusTcpClient`` connections; every client reads 125 registers of model 701 of a PCS,
rotating over the PCS unit ids.

Scenarios:
  poll     N clients (``--clients``, default 8 and 32) each polling every 100 ms (absolute
           schedule, random phase; a slot missed because the answer came late is skipped).
  max      the same requests back to back (one outstanding per connection), ``--max-clients``
           connections, against (a) our server with the clock ticking, (b) our server with the
           clock stopped and (c) a bare pymodbus server (``SimDevice`` / ``SimData(address=40000)``
           holding the same registers as one PCS image; ``bare_server``), all in this run.

Prints a Markdown table (requests/s, response-time p50/p99, tick lateness p50/p99/max) and the
throughput ratio ours/bare. Nothing is asserted; speed is a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HOST = "127.0.0.1"
COUNT = 125
OURS_TICK = "ours (clock ticking)"
OURS_IDLE = "ours (clock stopped)"
BARE = "bare pymodbus"


# -- clients (run in worker processes) --------------------------------------------------------


async def _client_task(
    port: int,
    units: list[int],
    address: int,
    mode: str,
    period: float,
    t_start: float,
    t_end: float,
    seed: int,
) -> tuple[list[float], int]:
    from pymodbus.client import AsyncModbusTcpClient

    rng = random.Random(seed)
    c = AsyncModbusTcpClient(HOST, port=port, timeout=5, retries=0)
    lat: list[float] = []
    errors = 0
    try:
        if not await c.connect():
            return lat, 1
        k = rng.randrange(len(units))
        phase = rng.random() * period
        slot = 0
        loop = asyncio.get_running_loop()
        while True:
            if mode == "poll":
                due = t_start + phase + slot * period
                now = loop.time()
                if due > now:
                    await asyncio.sleep(due - now)
            if loop.time() >= t_end:
                break
            unit = units[k % len(units)]
            k += 1
            t0 = time.perf_counter()
            try:
                r = await c.read_holding_registers(address, count=COUNT, device_id=unit)
                ok = not r.isError() and len(r.registers) == COUNT
            except Exception:
                ok = False
            dt = time.perf_counter() - t0
            if ok:
                lat.append(dt)
            else:
                errors += 1
            if mode == "poll":
                slot = max(slot + 1, int((loop.time() - t_start - phase) / period) + 1)
    finally:
        c.close()
    return lat, errors


async def _worker_main(args: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    loop = asyncio.get_running_loop()
    ready.put(os.getpid())
    await loop.run_in_executor(None, go.wait)
    # both processes use CLOCK_MONOTONIC (asyncio's loop.time), so the window is shared
    t_start = loop.time() + 0.05
    t_end = t_start + args["duration"]
    results = await asyncio.gather(
        *(
            _client_task(
                args["port"],
                args["units"],
                args["address"],
                args["mode"],
                args["period"],
                t_start,
                t_end,
                args["seed"] + i,
            )
            for i in range(args["n_clients"])
        )
    )
    lat = [x for r, _ in results for x in r]
    out.put({"lat": lat, "errors": sum(e for _, e in results), "duration": args["duration"]})


def _worker(args: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    asyncio.run(_worker_main(args, ready, go, out))


# -- servers (this process) ---------------------------------------------------------------------


async def bare_server(registers: list[int], *, host: str = HOST, port: int = 0) -> tuple[Any, int]:
    """A bare pymodbus server holding ``registers`` at PDU 40000 for every unit id (``id=0``).
    Returns ``(server, bound port)``; stop it with ``await server.shutdown()``."""
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    dev = SimDevice(id=0, simdata=[SimData(address=40000, values=registers, datatype=DataType.REGISTERS)])
    server = ModbusTcpServer(dev, address=(host, port))
    await server.serve_forever(background=True)
    return server, int(server.transport.sockets[0].getsockname()[1])


@dataclass
class Clock:
    """The gateway stepped to absolute deadlines on the running loop; lateness per tick."""

    gw: Any
    tick: float
    lateness: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    recording: bool = False
    _task: asyncio.Task[None] | None = None
    _stop: bool = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        k = 0
        while not self._stop:
            deadline = t0 + k * self.tick
            now = loop.time()
            if deadline > now:
                await asyncio.sleep(deadline - now)
            late = loop.time() - deadline
            s = time.perf_counter()
            self.gw.step()
            if self.recording:
                self.lateness.append(late)
                self.step_s.append(time.perf_counter() - s)
            k += 1

    async def stop(self) -> None:
        self._stop = True
        if self._task is not None:
            await self._task


@dataclass
class Result:
    scenario: str
    server: str
    clients: int
    duration: float
    lat: np.ndarray
    errors: int
    lateness: np.ndarray | None

    @property
    def rps(self) -> float:
        return self.lat.size / self.duration


async def run_clients(
    port: int,
    *,
    n_clients: int,
    procs: int,
    mode: str,
    duration: float,
    units: list[int],
    address: int,
    period: float,
    clock: Clock | None,
    on_window: Callable[[bool], None] | None = None,
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Spawn the client processes, run them for one window, pool their response times.

    ``on_window(True)`` / ``on_window(False)`` are called as the measured window opens and
    closes (``bench_serve.py`` marks the runner's own lateness record with them)."""
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    per = [n_clients // procs + (1 if i < n_clients % procs else 0) for i in range(procs)]
    workers = []
    for i, n in enumerate(x for x in per if x):
        args = {
            "port": port,
            "units": units,
            "address": address,
            "mode": mode,
            "period": period,
            "duration": duration,
            "n_clients": n,
            "seed": 1000 * i,
        }
        p = ctx.Process(target=_worker, args=(args, ready, go, out), daemon=True)
        p.start()
        workers.append(p)
    loop = asyncio.get_running_loop()
    for _ in workers:  # the server keeps serving while the workers import and connect
        await loop.run_in_executor(None, ready.get)
    if clock is not None:
        clock.lateness.clear()
        clock.step_s.clear()
    go.set()
    await asyncio.sleep(0.05)
    if clock is not None:
        clock.recording = True
    if on_window is not None:
        on_window(True)
    results = [await loop.run_in_executor(None, out.get) for _ in workers]
    if on_window is not None:
        on_window(False)
    if clock is not None:
        clock.recording = False
    for p in workers:
        await loop.run_in_executor(None, p.join)
    lat = np.asarray([x for r in results for x in r["lat"]])
    lateness = np.asarray(clock.lateness) if clock is not None else None
    return lat, sum(r["errors"] for r in results), lateness


def _merge(results: list[Result]) -> list[Result]:
    """Pool the rounds of one (scenario, server, clients) into one row."""
    out: dict[tuple[str, str, int], Result] = {}
    for r in results:
        key = (r.scenario, r.server, r.clients)
        if key not in out:
            out[key] = r
            continue
        m = out[key]
        late = None if r.lateness is None or m.lateness is None else np.concatenate([m.lateness, r.lateness])
        out[key] = Result(
            m.scenario, m.server, m.clients, m.duration + r.duration, np.concatenate([m.lat, r.lat]),
            m.errors + r.errors, late,
        )  # fmt: skip
    return list(out.values())


def _ms(a: np.ndarray | None, q: float | None = None) -> str:
    if a is None or a.size == 0:
        return "–"
    v = float(a.max()) if q is None else float(np.percentile(a, q))
    return f"{v * 1000:.2f}"


async def main_async(opts: argparse.Namespace) -> None:
    from hil.config import load_site
    from hil.protocols.modbus.endpoint import ModbusEndpoint
    from hil.wire.gateway import Gateway

    gw = Gateway(load_site(opts.site))
    gw.step(10)
    tick = gw.site.dt
    pcs = [d for d in gw.devices if d.kind == "bess"]
    units = [d.unit_id for d in pcs]
    address = 40000 + pcs[0].point("701.ID").offset
    period = opts.period
    results: list[Result] = []
    gc.collect()
    gc.freeze()

    image = pcs[0].regs.tolist()
    bare, bare_port = await bare_server(image)
    try:
        async with ModbusEndpoint(gw, gw.devices, host=HOST, port=0) as ep:
            common = {"units": units, "address": address, "period": period}
            clock = Clock(gw, tick)
            clock.start()
            await asyncio.sleep(1.0)  # warm up
            for n in opts.clients:
                lat, err, late = await run_clients(
                    ep.port, n_clients=n, procs=min(opts.procs, n), mode="poll", duration=opts.poll_s,
                    clock=clock, **common,
                )  # fmt: skip
                results.append(
                    Result(f"poll {period * 1000:g} ms", OURS_TICK, n, opts.poll_s, lat, err, late)
                )
            # max rate: the three servers interleaved, so they share whatever else loads the machine
            for _ in range(opts.rounds):
                if clock._task is None or clock._task.done():
                    clock = Clock(gw, tick)
                    clock.start()
                for server, port, clk in (
                    (OURS_TICK, ep.port, clock),
                    (OURS_IDLE, ep.port, None),
                    (BARE, bare_port, None),
                ):
                    if server == OURS_IDLE:
                        await clock.stop()
                    lat, err, late = await run_clients(
                        port, n_clients=opts.max_clients, procs=opts.procs, mode="max", duration=opts.max_s,
                        clock=clk, **common,
                    )  # fmt: skip
                    results.append(Result("max rate", server, opts.max_clients, opts.max_s, lat, err, late))
            await clock.stop()
    finally:
        await bare.shutdown()
    gc.unfreeze()
    results = _merge(results)

    print(
        f"\n{opts.site}: {len(gw.devices)} devices, tick {tick * 1000:g} ms; each request reads {COUNT} "
        f"registers of model 701 (PDU {address}) rotating over {len(units)} PCS units; "
        f"{os.cpu_count()} CPUs, {opts.procs} client processes; Python {platform.python_version()}\n"
    )
    print(
        "| scenario | server | clients | requests/s | resp p50 ms | resp p99 ms "
        "| tick late p50 ms | tick late p99 ms | tick late max ms | errors |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.scenario} | {r.server} | {r.clients} | {r.rps:.0f} | {_ms(r.lat, 50)} | {_ms(r.lat, 99)} "
            f"| {_ms(r.lateness, 50)} | {_ms(r.lateness, 99)} | {_ms(r.lateness)} | {r.errors} |"
        )
    mx = {r.server: r for r in results if r.scenario == "max rate"}
    print(
        f"\nthroughput ratio ours/bare at max rate: {mx[OURS_IDLE].rps / mx[BARE].rps:.2f} (clock stopped), "
        f"{mx[OURS_TICK].rps / mx[BARE].rps:.2f} (clock ticking at {tick * 1000:g} ms); "
        f"max-rate rows pool {opts.rounds} interleaved rounds of {opts.max_s:g} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", default="aidc_10k")
    ap.add_argument("--clients", type=int, nargs="+", default=[8, 32], help="client counts for the poll runs")
    ap.add_argument("--period", type=float, default=0.1, help="poll period in seconds")
    ap.add_argument("--poll-s", type=float, default=10.0, help="duration of each poll run (s)")
    ap.add_argument("--max-clients", type=int, default=32, help="connections in the max-rate runs")
    ap.add_argument("--max-s", type=float, default=6.0, help="duration of each max-rate run (s)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the max-rate runs")
    ap.add_argument("--procs", type=int, default=2, help="client processes")
    opts = ap.parse_args()
    asyncio.run(main_async(opts))


if __name__ == "__main__":
    main()
