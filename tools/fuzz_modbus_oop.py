"""tools/fuzz_modbus.py with the attackers in a separate process from the server.

    nice -n 19 .venv/bin/python tools/fuzz_modbus_oop.py --frames 200000 --seed 7 --rounds 10 \\
        --json fuzz_oop.json

``tools/fuzz_modbus.py`` runs the hostile clients on the server's own event loop, so the tick
lateness it reports includes the attackers' work. Here a child process (``_server``) holds the
gateway, its untouched reference twin, the :class:`~hil.protocols.modbus.ModbusEndpoint` and the clock;
this process runs the same hostile workers, floods, slowloris pairs and legitimate pymodbus
client against it over loopback. At the end the child reports its own tick lateness, file
descriptors, handler errors, writes accepted and whether the twin equals the reference.
Exit 0 when every check of ``fuzz_modbus.py`` held.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fuzz_common import emit, twin_state
from fuzz_modbus import (
    ANSWER_WAIT_S,
    Frames,
    FuzzReport,
    clock,
    fd_count,
    flood,
    hostile_worker,
    judge,
    legit,
    slowloris,
)

from hil.config import load_site
from hil.endpoints import ModbusLimits
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.wire.gateway import Gateway

LIMITS = ModbusLimits(max_connections=16, idle_timeout_s=1.0, frame_timeout_s=0.6)


async def _server(site: str, tick_s: float) -> None:
    fds_before = fd_count()
    gw = Gateway(load_site(site))
    ref = Gateway(load_site(site))
    ep = ModbusEndpoint(gw, host="127.0.0.1", port=0, limits=LIMITS)
    await ep.start()
    stop = asyncio.Event()
    late: list[float] = []
    task = asyncio.create_task(clock(gw, ref, tick_s, stop, late))
    pcs = next(d for d in gw.devices if d.kind == "bess")
    print(json.dumps({"port": ep.port, "unit": pcs.unit_id}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stop.set()
    await task
    stats = ep.stats.as_dict()
    await ep.stop()
    await asyncio.sleep(0.05)
    a, b = twin_state(gw), twin_state(ref)
    print(
        json.dumps(
            {
                "ticks": len(late),
                "p50_ms": round(float(np.percentile(late, 50)) * 1000, 2) if late else 0.0,
                "p99_ms": round(float(np.percentile(late, 99)) * 1000, 2) if late else 0.0,
                "max_ms": round(max(late) * 1000, 2) if late else 0.0,
                "fds_before": fds_before,
                "fds_after": fd_count(),
                "writes_accepted": gw.writes_accepted,
                "twin_identical": a[0] == b[0] and a[1] == b[1],
                "server": stats,
            }
        ),
        flush=True,
    )


async def _attack(a: argparse.Namespace, port: int, unit: int, rep: FuzzReport) -> None:
    gw = Gateway(load_site(a.site))  # the address map the frames aim at (never served)
    gen = Frames(gw, random.Random(a.seed))
    stop = asyncio.Event()
    legit_task = asyncio.create_task(legit(port, unit, stop, rep))
    budget = [a.frames]
    gate = asyncio.Event()
    gate.set()

    async def phases() -> None:
        for r in range(a.rounds):
            while budget[0] > a.frames * (1 - (r + 0.5) / a.rounds) and budget[0] > 0:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            gate.clear()
            try:
                await flood(port, LIMITS.max_connections, 20, rep)
                await asyncio.sleep(ANSWER_WAIT_S / 3)  # the server sees the flood go
            finally:
                gate.set()
            await slowloris(port, LIMITS, rep)

    workers = [
        asyncio.create_task(hostile_worker(port, gen, budget, gate, rep, random.Random(a.seed * 1000 + k)))
        for k in range(a.workers)
    ]
    await asyncio.gather(phases(), *workers)
    stop.set()
    await legit_task


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", nargs="?", default="run", choices=["run", "_server"])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--site", default="lab_rack")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tick-ms", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.role == "_server":
        asyncio.run(_server(a.site, a.tick_ms / 1000))
        return 0
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "_server", "--site", a.site, "--tick-ms", str(a.tick_ms)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    hello = json.loads(child.stdout.readline())
    rep = FuzzReport()
    try:
        asyncio.run(_attack(a, hello["port"], hello["unit"], rep))
    finally:
        child.stdin.write("done\n")
        child.stdin.flush()
        srv = json.loads(child.stdout.readline())
        child.wait(timeout=30)
    rep.ticks = srv["ticks"]
    rep.tick_lateness_p99_ms = srv["p99_ms"]
    rep.tick_lateness_max_ms = srv["max_ms"]
    rep.fds_before, rep.fds_after = srv["fds_before"], srv["fds_after"]
    rep.writes_accepted = srv["writes_accepted"]
    rep.twin_identical = srv["twin_identical"]
    rep.server = srv["server"]
    judge(rep, fds="server file descriptors")
    rep.exceptions = dict(sorted(Counter(rep.exceptions).items()))
    rep.wall_s = round(time.perf_counter() - t0, 1)
    out = {**asdict(rep), "server_tick_lateness_p50_ms": srv["p50_ms"], "attackers": "separate process"}
    return emit(out, a.json, rep.problems)


if __name__ == "__main__":
    sys.exit(main())
