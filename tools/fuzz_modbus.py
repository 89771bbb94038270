"""Hostile Modbus/TCP traffic against the bench, and what must still hold afterwards.

One process, one event loop, as in ``hil serve``: a gateway (``--site``) served by a
:class:`~hil.protocols.modbus.endpoint.ModbusEndpoint` on 127.0.0.1, a clock that steps it every ``--tick-ms``
(and a reference gateway beside it that no client touches), one legitimate pymodbus client
polling, and ``--workers`` hostile clients sending ``--frames`` frames:

* well-framed requests of every function code 0..255 with random PDUs (0..253 bytes), random
  and edge addresses and counts, to served, unknown and broadcast unit ids, pipelined in one
  segment or cut into random pieces; writes are aimed outside the register image and the coil
  table, or malformed, so that none may be accepted;
* bad framing: protocol id not 0, MBAP lengths 0, 1 and 255..65535, oversized frames;
* clients that send half a request and disconnect;
* a flood of connections beyond ``max_connections``; slowloris clients that connect and never
  send, or send a byte at a time.

Checks: every well-framed request gets exactly one answer with its own transaction id and
unit id, in order, of the same function code (or its exception); bad framing closes the
connection; no exception 04 (a handler error); no write accepted and the twin identical to the
reference (snapshot and register images); the legitimate client is served throughout; tick
lateness stays bounded; no file descriptor leaks (``/proc/self/fd`` before and after).

Usage::

    .venv/bin/python tools/fuzz_modbus.py --frames 200000 [--seed 1] [--workers 4]

Exit status 0 when every check held. ``tests/integration/test_modbus_fuzz.py`` runs a few
thousand frames of the same harness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import struct
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/_fuzz_common.py

from _fuzz_common import emit, twin_state

from hil.config import load_site
from hil.endpoints import ModbusLimits
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.wire.gateway import Gateway
from hil.wire.sunspec import BASE_ADDRESS

MBAP = struct.Struct(">HHHB")
WRITE_FCS = (5, 6, 15, 16, 22, 23)
ANSWER_WAIT_S = 3.0


@dataclass
class FuzzReport:
    frames_sent: int = 0
    well_framed: int = 0
    answered: int = 0
    normal_answers: int = 0
    exceptions: dict[str, int] = field(default_factory=dict)
    bad_framing_sent: int = 0
    closes_expected: int = 0
    closes_seen: int = 0
    half_requests: int = 0
    flood_connections: int = 0
    flood_refused: int = 0
    slowloris: int = 0
    slowloris_closed: int = 0
    legit_reads: int = 0
    legit_failures: int = 0
    ticks: int = 0
    tick_lateness_p99_ms: float = 0.0
    tick_lateness_max_ms: float = 0.0
    fds_before: int = 0
    fds_after: int = 0
    writes_accepted: int = 0
    twin_identical: bool = False
    server: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)

    @property
    def ok(self) -> bool:
        return not self.problems


def fd_count() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


class Frames:
    """Random hostile frames for a gateway's devices."""

    def __init__(self, gw: Gateway, rng: random.Random) -> None:
        self.rng = rng
        self.units = [d.unit_id for d in gw.devices]
        self.n_regs = max(d.group.n_regs for d in gw.devices)
        self.min_regs = min(d.group.n_regs for d in gw.devices)
        self.tid = 0

    def unit(self) -> int:
        r = self.rng.random()
        if r < 0.6:
            return self.rng.choice(self.units)
        return self.rng.choice((0, 99, 247, 255, self.rng.randrange(256)))

    def address(self) -> int:
        rng = self.rng
        return rng.choice(
            (
                0,
                1,
                39_999,
                BASE_ADDRESS,
                BASE_ADDRESS + rng.randrange(self.n_regs),
                BASE_ADDRESS + self.n_regs - 1,
                65_535,
                rng.randrange(65_536),
            )
        )

    def count(self) -> int:
        return self.rng.choice((0, 1, 2, 125, 126, 2000, 2001, 65_535, self.rng.randrange(300)))

    def pdu(self) -> bytes:
        """A PDU of any function code that must not change the twin."""
        rng = self.rng
        fc = rng.randrange(256) if rng.random() < 0.5 else rng.choice((1, 2, 3, 4, 5, 6, 15, 16, 22, 23, 43))
        kind = rng.random()
        if kind > 0.8:  # a good read amid the hostile ones
            fc, n = rng.choice((3, 4)), rng.randrange(1, 126)
            body = struct.pack(">HH", BASE_ADDRESS + rng.randrange(max(1, self.min_regs - n)), n)
        elif kind < 0.25:  # random bytes
            body = rng.randbytes(rng.choice((0, 1, 3, 4, 5, rng.randrange(253))))
        elif fc in (1, 2, 3, 4):
            body = struct.pack(">HH", self.address(), self.count())
        elif fc == 5:  # a coil past the table, or an illegal value
            if rng.random() < 0.5:
                body = struct.pack(">HH", rng.randrange(2, 65_536), rng.choice((0xFF00, 0)))
            else:
                body = struct.pack(">HH", rng.randrange(2), rng.choice((1, 0x00FF, 0xFFFF, 0xFF01)))
        elif fc == 15:
            n = rng.randrange(1, 40)
            nb = (n + 7) // 8
            body = struct.pack(">HHB", rng.randrange(2, 65_536), n, nb) + rng.randbytes(nb)
        elif fc in (6, 16, 22, 23):  # outside the register image
            a = rng.randrange(BASE_ADDRESS)
            n = rng.randrange(1, 10)
            if fc == 6:
                body = struct.pack(">HH", a, rng.randrange(65_536))
            elif fc == 16:
                body = struct.pack(">HHB", a, n, 2 * n) + rng.randbytes(2 * n)
            elif fc == 22:
                body = struct.pack(">HHH", a, rng.randrange(65_536), rng.randrange(65_536))
            else:
                body = struct.pack(">HHHHB", self.address(), self.count(), a, n, 2 * n) + rng.randbytes(2 * n)
        elif fc == 43:
            body = bytes((rng.choice((13, 14, 14, rng.randrange(256))), rng.randrange(6), rng.randrange(8)))
        else:
            body = rng.randbytes(rng.randrange(8))
        if fc in WRITE_FCS and kind < 0.25:
            # random bytes for a write: make sure it cannot be a valid one (bad length)
            body = body[:3] if len(body) >= 4 else body
        return bytes((fc,)) + body[:252]

    def frame(self, pdu: bytes, unit: int, *, pid: int = 0, length: int | None = None) -> tuple[int, bytes]:
        self.tid = (self.tid + 1) & 0xFFFF
        n = len(pdu) + 1 if length is None else length
        return self.tid, MBAP.pack(self.tid, pid, n, unit) + pdu

    def bad_header(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            return MBAP.pack(rng.randrange(65_536), rng.randrange(1, 65_536), 6, 1) + b"\x03\x9c\x40\x00\x02"
        length = rng.choice((0, 1, 255, 256, 1000, 65_535))
        return MBAP.pack(rng.randrange(65_536), 0, length, 1) + rng.randbytes(rng.randrange(300))


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, int, bytes] | None:
    """One answer (tid, unit, pdu), or None at EOF."""
    try:
        head = await reader.readexactly(7)
        tid, _pid, length, unit = MBAP.unpack(head)
        pdu = await reader.readexactly(length - 1)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return tid, unit, pdu


async def closed(reader: asyncio.StreamReader, wait_s: float) -> bool:
    """True when the server closes the connection within ``wait_s``."""
    try:
        data = await asyncio.wait_for(reader.read(65_536), wait_s)
        while data:
            data = await asyncio.wait_for(reader.read(65_536), wait_s)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return True


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes, rng: random.Random) -> None:
    if rng.random() < 0.2:  # cut into random pieces
        k = 0
        while k < len(data):
            n = rng.randrange(1, 40)
            writer.write(data[k : k + n])
            await writer.drain()
            k += n
    else:
        writer.write(data)
        await writer.drain()


async def check_answers(
    reader: asyncio.StreamReader, sent: list[tuple[int, int, int]], rep: FuzzReport
) -> None:
    """One answer per request, in order, with its transaction and unit id and function code."""
    for tid, unit, fc in sent:
        a = await asyncio.wait_for(read_answer(reader), ANSWER_WAIT_S)
        if a is None:
            raise ConnectionResetError(f"EOF before the answer to tid {tid} fc {fc} unit {unit}")
        atid, aunit, apdu = a
        rep.answered += 1
        if (atid, aunit) != (tid, unit):
            rep.problem(f"answer tid/unit {atid}/{aunit} for request {tid}/{unit}")
            return
        if apdu[0] == fc and fc < 0x80:
            rep.normal_answers += 1
        elif apdu[0] == (fc | 0x80) & 0xFF and len(apdu) == 2:
            key = f"{apdu[1]:02x}"
            rep.exceptions[key] = rep.exceptions.get(key, 0) + 1
            if apdu[1] not in (1, 2, 3, 0x0B):
                rep.problem(f"exception {apdu[1]:02x} to fc {fc} unit {unit}")
        else:
            rep.problem(f"answer {apdu[:4].hex()} to fc {fc}")


async def hostile_worker(
    port: int, frames: Frames, budget: list[int], gate: asyncio.Event, rep: FuzzReport, rng: random.Random
) -> None:
    """Batches of pipelined frames on fresh connections until the shared budget is spent (no
    new connection while ``gate`` is clear: a flood holds every slot)."""
    while budget[0] > 0:
        await gate.wait()
        batch = min(budget[0], rng.choice((1, 5, 20, 64, 200)))
        budget[0] -= batch
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            sent: list[tuple[int, int, int]] = []  # tid, unit, fc
            chunks: list[bytes] = []
            bad = False
            half = False
            for _ in range(batch):
                r = rng.random()
                if r < 0.01:
                    chunks.append(frames.bad_header())
                    bad = True
                    break
                if r < 0.015:
                    _, f = frames.frame(frames.pdu(), frames.unit())
                    chunks.append(f[: rng.randrange(1, len(f))])
                    half = True
                    break
                unit, pdu = frames.unit(), frames.pdu()
                tid, f = frames.frame(pdu, unit)
                chunks.append(f)
                sent.append((tid, unit, pdu[0]))
            data = b"".join(chunks)
            budget[0] += batch - len(chunks)  # a batch ends early at a bad or half frame
            rep.frames_sent += len(chunks)
            rep.well_framed += len(sent)
            try:
                await send(writer, data, rng)
                await check_answers(reader, sent, rep)
            except ConnectionError as exc:
                # after bad framing the server closes, and the kernel resets the connection if
                # bytes of it were still unread: answers in flight may be lost with it
                if not bad:
                    rep.problem(f"connection lost without bad framing: {exc!r}")
            if half:
                rep.half_requests += 1
            if bad:
                rep.bad_framing_sent += 1
                rep.closes_expected += 1
                if await closed(reader, ANSWER_WAIT_S):
                    rep.closes_seen += 1
                else:
                    rep.problem("bad framing did not close the connection")
        except TimeoutError:
            rep.problem("an answer took longer than 3 s (hang)")
        finally:
            await close_writer(writer)


async def flood(port: int, cap: int, extra: int, rep: FuzzReport) -> None:
    """Open ``cap + extra`` connections at once: at least ``extra`` must be closed at once."""
    conns = []
    try:
        for _ in range(cap + extra):
            conns.append(await asyncio.open_connection("127.0.0.1", port))  # noqa: PERF401 (one at a time)
        rep.flood_connections += len(conns)
        results = await asyncio.gather(*(closed(r, 0.5) for r, _ in conns))
        n = sum(results)
        rep.flood_refused += n
        if n < extra:
            rep.problem(f"only {n} of {cap + extra} connections refused over a cap of {cap}")
    finally:
        for _, w in conns:
            await close_writer(w)


async def slowloris(port: int, limits: ModbusLimits, rep: FuzzReport) -> None:
    """One client that never sends and one that sends a byte at a time: both closed in time."""
    frame = MBAP.pack(1, 0, 6, 10) + b"\x03\x9c\x40\x00\x02"
    silent = await asyncio.open_connection("127.0.0.1", port)
    dribble = await asyncio.open_connection("127.0.0.1", port)
    rep.slowloris += 2
    try:

        async def drip() -> bool:
            step = limits.frame_timeout_s / 3
            for b in frame[:-1]:
                try:
                    dribble[1].write(bytes((b,)))
                    await dribble[1].drain()
                except ConnectionError:
                    return True
                if dribble[0].at_eof():
                    return True
                await asyncio.sleep(step)
            return await closed(dribble[0], limits.frame_timeout_s + 2)

        wait = limits.idle_timeout_s + 2
        res = await asyncio.gather(closed(silent[0], wait), drip())
        rep.slowloris_closed += sum(res)
        if not all(res):
            rep.problem(f"slowloris not closed (silent, dribbling): {res}")
    finally:
        for _, w in (silent, dribble):
            await close_writer(w)


async def legit(port: int, unit: int, stop: asyncio.Event, rep: FuzzReport) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    c = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0)
    try:
        if not await c.connect():
            rep.problem("the legitimate client cannot connect")
            return
        while not stop.is_set():
            try:
                r = await c.read_holding_registers(BASE_ADDRESS, count=4, device_id=unit)
                ok = not r.isError() and r.registers[:2] == [0x5375, 0x6E53]
            except Exception as exc:
                ok = False
                rep.problem(f"legitimate read failed: {exc!r}")
            rep.legit_reads += 1
            rep.legit_failures += not ok
            await asyncio.sleep(0.02)
    finally:
        c.close()


async def clock(gw: Gateway, ref: Gateway, tick_s: float, stop: asyncio.Event, late: list[float]) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    k = 0
    while not stop.is_set():
        k += 1
        deadline = t0 + k * tick_s
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        late.append(max(0.0, loop.time() - deadline))
        gw.step()
        ref.step()


def judge(rep: FuzzReport, *, fds: str = "file descriptors") -> None:
    """The verdict: no hostile write accepted, the twin untouched, nothing leaked or failed."""
    if rep.writes_accepted:
        rep.problem(f"{rep.writes_accepted} hostile write(s) accepted")
    if not rep.twin_identical:
        rep.problem("the twin differs from the reference")
    if rep.fds_after > rep.fds_before:
        rep.problem(f"{fds} leaked: {rep.fds_before} before, {rep.fds_after} after")
    if rep.legit_failures:
        rep.problem(f"{rep.legit_failures} legitimate read(s) failed")
    if rep.server.get("errors"):
        rep.problem(f"{rep.server['errors']} handler error(s) (answered 04)")


async def run_fuzz(
    *,
    frames: int,
    seed: int = 1,
    site: str = "lab_rack",
    workers: int = 4,
    tick_s: float = 0.1,
    limits: ModbusLimits | None = None,
    flood_extra: int = 20,
    rounds: int = 1,
) -> FuzzReport:
    """Run the harness; ``rounds`` repeats the flood and slowloris phases during the frames."""
    limits = limits or ModbusLimits(max_connections=16, idle_timeout_s=1.0, frame_timeout_s=0.6)
    rep = FuzzReport()
    t_start = time.perf_counter()
    rep.fds_before = fd_count()
    gw = Gateway(load_site(site))
    ref = Gateway(load_site(site))
    rng = random.Random(seed)
    gen = Frames(gw, rng)
    stop = asyncio.Event()
    late: list[float] = []
    ep = ModbusEndpoint(gw, host="127.0.0.1", port=0, limits=limits)
    await ep.start()
    try:
        clock_task = asyncio.create_task(clock(gw, ref, tick_s, stop, late))
        pcs = next(d for d in gw.devices if d.kind == "bess")
        legit_task = asyncio.create_task(legit(ep.port, pcs.unit_id, stop, rep))
        budget = [frames]
        gate = asyncio.Event()
        gate.set()

        async def phases() -> None:
            for r in range(rounds):  # in the middle of each share of the frames
                while budget[0] > frames * (1 - (r + 0.5) / rounds) and budget[0] > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                gate.clear()
                try:  # the cap also counts the legitimate client and the workers' open batches
                    await flood(ep.port, limits.max_connections, flood_extra, rep)
                    # until the server has seen the flood go, new connections would be refused
                    t_end = time.perf_counter() + ANSWER_WAIT_S
                    while ep.connections > 1 + workers and time.perf_counter() < t_end:  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                finally:
                    gate.set()
                await slowloris(ep.port, limits, rep)

        hostile = [
            asyncio.create_task(
                hostile_worker(ep.port, gen, budget, gate, rep, random.Random(seed * 1000 + k))
            )
            for k in range(workers)
        ]
        await asyncio.gather(phases(), *hostile)
        stop.set()
        await asyncio.gather(clock_task, legit_task)
    finally:
        stop.set()
        rep.server = ep.stats.as_dict()
        await ep.stop()
    await asyncio.sleep(0.05)  # let the transports finish closing
    rep.fds_after = fd_count()
    rep.ticks = len(late)
    if late:
        rep.tick_lateness_p99_ms = round(float(np.percentile(late, 99)) * 1000, 2)
        rep.tick_lateness_max_ms = round(max(late) * 1000, 2)
    rep.writes_accepted = gw.writes_accepted
    a, b = twin_state(gw), twin_state(ref)
    rep.twin_identical = a[0] == b[0] and a[1] == b[1]
    judge(rep)
    rep.exceptions = dict(sorted(Counter(rep.exceptions).items()))
    rep.wall_s = round(time.perf_counter() - t_start, 1)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--site", default="lab_rack")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tick-ms", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=5, help="flood and slowloris phases during the run")
    ap.add_argument("--json", type=Path, help="also write the report here")
    a = ap.parse_args(argv)
    rep = asyncio.run(
        run_fuzz(
            frames=a.frames,
            seed=a.seed,
            site=a.site,
            workers=a.workers,
            tick_s=a.tick_ms / 1000,
            rounds=a.rounds,
        )
    )
    return emit(asdict(rep), a.json, rep.problems)


if __name__ == "__main__":
    sys.exit(main())
