"""Hostile OPC UA traffic against the bench, and what must still hold afterwards.

The server side is what ``hil serve`` runs: a gateway (``--site``) served by an
:class:`~hil.protocols.opcua.endpoint.OpcUaEndpoint` on 127.0.0.1 with its limits, a clock that steps it and
publishes every ``--tick-ms`` (and a reference gateway beside it that no client touches). The
attackers and one legitimate asyncua client run in **another process** (``--same-process``
runs them in a thread with its own event loop instead, as the bounded test does), so the
tick lateness measured is the server's share alone:

* raw TCP: random bytes; a Hello with a wrong, huge or truncated size; Acknowledge, Error,
  ReverseHello or unknown message types first; after a valid Hello: chunks over the receive
  buffer, below their header size, a second Hello, garbage secure-channel chunks, a huge chunk
  streamed 64 KiB at a time; half a header then a disconnect;
* asyncua sessions (``--sessions`` of them): Read, Browse, TranslateBrowsePaths, Call and
  CreateMonitoredItems one operation over ``max_nodes_per_request`` (and maximal ones at the
  limit), the Browse of a node with ~270 references ``max_nodes_per_request`` times, writes out
  of range or of the wrong type, Stop/Start/AlarmReset called on the wrong object, a
  subscription flood up to and past the session's limits, and abrupt disconnects.

Checks: every raw attack ends with an Error message or a close (none left hanging); each
over-limit request gets its Bad status; no hostile write or command changes the twin (identical
to the reference); the legitimate client is served throughout; tick lateness stays bounded; no
file descriptor, connection or session left behind.

Usage::

    .venv/bin/python tools/fuzz_opcua.py --requests 12000 [--seed 1] [--json fuzz_opcua.json]

Exit status 0 when every check held. ``tests/integration/test_opcua_fuzz.py`` runs a few
hundred requests of the same harness.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import random
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from asyncua import Client, ua

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/_fuzz_common.py

from _fuzz_common import emit, twin_state

from hil.config import load_site
from hil.endpoints import OpcUaLimits
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.wire.gateway import Gateway

RAW_WAIT_S = 3.0  # a raw attack must be answered or closed within this
SESSION_TIMEOUT_MS = 5_000  # attackers' sessions: orphans expire quickly
#: Raw attacks that stop inside a header: slow senders, closed after ``activation_timeout_s``.
SLOW = frozenset({"hel-truncated", "partial-header"})


@dataclass
class Target:
    """What the attackers need to know about the server (picklable, for the other process)."""

    url: str
    port: int
    namespace_uri: str
    variables: list[str]  # NodeId strings
    writable: list[tuple[str, float, float]]  # NodeId string, EURange low, high
    methods: list[tuple[str, str]]  # method NodeId string, owning object NodeId string
    objects: list[str]  # device object NodeId strings
    limits: OpcUaLimits


@dataclass
class AttackReport:
    requests: int = 0  # raw attacks + OPC UA service requests sent by the attackers
    raw: int = 0
    raw_outcomes: dict[str, int] = field(default_factory=dict)  # "ERR <code>", "closed", "hung"
    statuses: dict[str, int] = field(default_factory=dict)  # Bad status answers by name
    sessions: int = 0
    sessions_refused: int = 0
    abrupt: int = 0
    unexpected: list[str] = field(default_factory=list)  # an answer that should not have been
    legit_reads: int = 0
    legit_failures: int = 0
    legit_max_ms: float = 0.0
    legit_p99_ms: float = 0.0


@dataclass
class FuzzReport:
    attack: AttackReport = field(default_factory=AttackReport)
    ticks: int = 0
    tick_lateness_p99_ms: float = 0.0
    tick_lateness_max_ms: float = 0.0
    writes_accepted: int = 0
    twin_identical: bool = False
    fds_before: int = 0
    fds_after: int = 0
    connections_left: int = 0
    sessions_left: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # transport refusals seen by the server
    tracebacks_logged: int = 0
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def fd_count() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


# -- raw transport attacks ---------------------------------------------------------------
def hello(url: str, *, size: int | None = None, buf: int = 65535) -> bytes:
    body = struct.pack("<IIIII", 0, buf, buf, 0, 0) + struct.pack("<i", len(url)) + url.encode()
    return b"HELF" + struct.pack("<I", 8 + len(body) if size is None else size) + body


def chunk(kind: bytes, size: int, body: bytes = b"") -> bytes:
    return kind + b"F" + struct.pack("<I", size) + body


def raw_attacks(url: str, rng: random.Random) -> list[tuple[str, list[bytes]]]:
    """One of each class, with random sizes and contents."""
    h = hello(url)
    junk = rng.randbytes(rng.randint(8, 300))  # a whole header at least (see "partial-header")
    body = rng.randbytes(rng.randint(0, 2000))
    return [
        ("random-bytes", [junk]),
        ("partial-header", [junk[: rng.randint(1, 7)]]),
        ("hel-huge", [hello(url, size=rng.choice([1 << 20, 100 << 20, 0xFFFFFFFF]))]),
        ("hel-size-too-small", [hello(url, size=rng.randint(0, 27))]),
        ("hel-truncated", [h[: rng.randint(1, len(h) - 1)]]),
        (
            "first-" + rng.choice(["ACK", "ERR", "RHE", "XYZ"]),
            [chunk(rng.choice([b"ACK", b"ERR", b"RHE", b"XYZ"]), 32, b"\0" * 24)],
        ),
        ("msg-before-hel", [chunk(b"MSG", 24 + len(body), b"\0" * 16 + body)]),
        ("chunk-over-buffer", [h, chunk(rng.choice([b"MSG", b"OPN", b"CLO"]), rng.randint(65536, 1 << 30))]),
        ("chunk-below-header", [h, chunk(rng.choice([b"MSG", b"OPN", b"CLO"]), rng.randint(0, 7))]),
        ("second-hel", [h, h]),
        ("garbage-opn", [h, chunk(b"OPN", 8 + len(body), body)]),
        ("garbage-msg", [h, chunk(b"MSG", 8 + len(body), body)]),
        ("hel-then-junk", [h, junk]),
        ("huge-streamed", [h, chunk(b"MSG", 200 << 20)] + [b"\0" * 65536] * 8),
    ]


async def raw_attack(port: int, frames: list[bytes], wait_s: float = RAW_WAIT_S) -> str:
    """Send ``frames``; the outcome: ``ERR <name>`` then closed, ``closed``, or ``hung``."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        return f"connect failed: {e.__class__.__name__}"
    data = b""
    try:
        for f in frames:
            if writer.is_closing():
                break
            writer.write(f)
            with contextlib.suppress(OSError):
                await writer.drain()
        t_end = time.perf_counter() + wait_s
        while (left := t_end - time.perf_counter()) > 0:
            try:
                got = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                break
            except OSError:  # reset by the server: closed
                got = b""
            if not got:
                k = data.find(b"ERRF")
                if k >= 0 and len(data) >= k + 12:
                    code = int.from_bytes(data[k + 8 : k + 12], "little")
                    return f"ERR {ua.StatusCode(code).name}"
                return "closed"
            data += got
        return "hung"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def truncated_then_gone(port: int, url: str, rng: random.Random) -> str:
    """Half a chunk header, then an abrupt close (the server must just forget it)."""
    with contextlib.suppress(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(hello(url)[: rng.randint(1, 7)])
        writer.transport.abort()
    return "closed"


# -- session attacks -----------------------------------------------------------------------
class Attacker:
    def __init__(self, target: Target, rep: AttackReport, rng: random.Random) -> None:
        self.t, self.rep, self.rng = target, rep, rng
        self.n = target.limits.max_nodes_per_request

    def status(self, name: str) -> None:
        self.rep.statuses[name] = self.rep.statuses.get(name, 0) + 1

    def unexpected(self, what: str) -> None:
        if len(self.rep.unexpected) < 50:
            self.rep.unexpected.append(what)

    async def expect(self, what: str, coro: Any, *bad: type[Exception]) -> Any:
        """Await one request; a ``bad`` status is counted, another exception is unexpected."""
        self.rep.requests += 1
        try:
            return await coro
        except bad as e:
            self.status(type(e).__name__)
        except ua.UaStatusCodeError as e:
            self.unexpected(f"{what}: {type(e).__name__}")
        return None

    async def session(self) -> None:
        t, rng = self.t, self.rng
        c = Client(t.url, timeout=10)
        c.session_timeout = SESSION_TIMEOUT_MS
        self.rep.requests += 4  # Hello, OpenSecureChannel, CreateSession, ActivateSession
        try:
            await c.connect()
        except ua.uaerrors.BadTooManySessions:
            self.rep.sessions_refused += 1
            self.status("BadTooManySessions")
            with contextlib.suppress(Exception):
                await c.disconnect()
            return
        self.rep.sessions += 1
        abrupt = rng.random() < 0.3
        try:
            ns = await c.get_namespace_index(t.namespace_uri)
            self.rep.requests += 1
            ops = [self.oversized, self.maximal, self.bad_writes, self.wrong_object, self.sub_flood]
            rng.shuffle(ops)
            for op in ops:
                await op(c, ns)
        finally:
            if abrupt:  # no CloseSession, no CloseSecureChannel: the socket just goes
                self.rep.abrupt += 1
                proto = c.uaclient.protocol
                if proto is not None and proto.transport is not None:
                    proto.transport.abort()
            with contextlib.suppress(Exception):
                await c.disconnect()

    def var(self, ns: int) -> ua.NodeId:
        return ua.NodeId(self.rng.choice(self.t.variables), ns)

    async def oversized(self, c: Client, ns: int) -> None:
        k = self.n + self.rng.choice([1, 2, self.n])
        nodes = [self.var(ns) for _ in range(k)]
        u = c.uaclient
        reads = ua.ReadParameters(NodesToRead=[ua.ReadValueId(NodeId=n, AttributeId=13) for n in nodes])
        tmo = ua.uaerrors.BadTooManyOperations
        await self.expect("read n+", u.read(reads), tmo)
        await self.expect("browse n+", u.browse(browse_params(nodes)), tmo)
        paths = [
            ua.BrowsePath(
                StartingNode=ua.NodeId(ua.ObjectIds.ObjectsFolder),
                RelativePath=ua.RelativePath(
                    Elements=[ua.RelativePathElement(TargetName=ua.QualifiedName("Server", 0))]
                ),
            )
        ] * k
        await self.expect("translate n+", u.translate_browsepaths_to_nodeids(paths), tmo)
        calls = [ua.CallMethodRequest(ObjectId=ua.NodeId(ua.ObjectIds.Server), MethodId=nodes[0])] * k
        await self.expect("call n+", u.call(calls), tmo)
        sub = await self.expect(
            "subscribe", c.create_subscription(100, None), ua.uaerrors.BadTooManySubscriptions
        )
        if sub is not None:
            items = ua.CreateMonitoredItemsParameters(
                SubscriptionId=sub.subscription_id, ItemsToCreate=[ua.MonitoredItemCreateRequest()] * k
            )
            await self.expect("items n+", u.create_monitored_items(items), tmo)

    async def maximal(self, c: Client, ns: int) -> None:
        u = c.uaclient
        big = [ua.NodeId(ua.ObjectIds.Structure)] * self.n  # ~270 references each
        res = await self.expect("browse big", u.browse(browse_params(big)))
        if res is not None:
            for r in res:
                if not r.StatusCode.is_good():
                    self.status(r.StatusCode.name)
        nodes = [self.var(ns) for _ in range(self.n)]
        reads = ua.ReadParameters(NodesToRead=[ua.ReadValueId(NodeId=n, AttributeId=13) for n in nodes])
        await self.expect("read n", u.read(reads))
        await self.expect("browse n", u.browse(browse_params(nodes)))

    async def bad_writes(self, c: Client, ns: int) -> None:
        if not self.t.writable:
            return
        wvs = []
        for _ in range(self.rng.randint(1, 20)):
            nid, lo, hi = self.rng.choice(self.t.writable)
            value = self.rng.choice(
                [
                    ua.Variant(hi + abs(hi - lo) + 1.0, ua.VariantType.Double),  # over the range
                    ua.Variant(lo - abs(hi - lo) - 1.0, ua.VariantType.Double),
                    ua.Variant(float("nan"), ua.VariantType.Double),
                    ua.Variant(2**53 + 1, ua.VariantType.Int64),  # a type that does not convert exactly
                    ua.Variant("x", ua.VariantType.String),
                ]
            )
            wvs.append(ua.WriteValue(NodeId=ua.NodeId(nid, ns), AttributeId=13, Value=ua.DataValue(value)))
        res = await self.expect("bad writes", c.uaclient.write(ua.WriteParameters(NodesToWrite=wvs)))
        for r in res or []:
            if r.is_good():
                self.unexpected("a hostile write was accepted")
            else:
                self.status(r.name)

    async def wrong_object(self, c: Client, ns: int) -> None:
        if not self.t.methods:
            return
        calls = []
        for _ in range(self.rng.randint(1, 10)):
            method, owner = self.rng.choice(self.t.methods)
            others = [o for o in self.t.objects if o != owner]
            obj = (
                ua.NodeId(self.rng.choice(others), ns)
                if others and self.rng.random() < 0.7
                else ua.NodeId(self.rng.choice([ua.ObjectIds.Server, ua.ObjectIds.ObjectsFolder]))
            )
            calls.append(ua.CallMethodRequest(ObjectId=obj, MethodId=ua.NodeId(method, ns)))
        res = await self.expect("wrong object", c.uaclient.call(calls))
        for r in res or []:
            if r.StatusCode.is_good():
                self.unexpected("a method ran on the wrong object")
            else:
                self.status(r.StatusCode.name)

    async def sub_flood(self, c: Client, ns: int) -> None:
        lim = self.t.limits
        subs = []
        for _ in range(lim.max_subscriptions + 1):
            sub = await self.expect(
                "sub flood", c.create_subscription(100, None), ua.uaerrors.BadTooManySubscriptions
            )
            if sub is None:
                break
            subs.append(sub)
        if not subs:
            return
        per_call = self.n
        left = lim.max_monitored_items + 5
        k = 0
        while left > 0:
            take = min(per_call, left)
            items = [
                ua.MonitoredItemCreateRequest(
                    ItemToMonitor=ua.ReadValueId(NodeId=self.var(ns), AttributeId=13),
                    MonitoringMode=ua.MonitoringMode.Reporting,
                    RequestedParameters=ua.MonitoringParameters(
                        ClientHandle=k + j, SamplingInterval=0, QueueSize=1
                    ),
                )
                for j in range(take)
            ]
            params = ua.CreateMonitoredItemsParameters(
                SubscriptionId=subs[k % len(subs)].subscription_id, ItemsToCreate=items
            )
            res = await self.expect("items", c.uaclient.create_monitored_items(params))
            for r in res or []:
                if not r.StatusCode.is_good():
                    self.status(r.StatusCode.name)
            left -= take
            k += 1


def browse_params(nodes: list[ua.NodeId]) -> ua.BrowseParameters:
    return ua.BrowseParameters(
        NodesToBrowse=[
            ua.BrowseDescription(
                NodeId=n,
                BrowseDirection=ua.BrowseDirection.Both,
                ReferenceTypeId=ua.NodeId(ua.ObjectIds.References),
                IncludeSubtypes=True,
                ResultMask=63,
            )
            for n in nodes
        ]
    )


async def legit(target: Target, stop: asyncio.Event, rep: AttackReport) -> None:
    """A well-behaved client: reads 10 variables every 100 ms on one session throughout."""
    c = Client(target.url, timeout=10)
    c.session_timeout = 60_000
    lat: list[float] = []
    async with c:
        ns = await c.get_namespace_index(target.namespace_uri)
        nodes = [c.get_node(ua.NodeId(s, ns)) for s in target.variables[:10]]
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                await asyncio.wait_for(c.read_values(nodes), 5.0)
                rep.legit_reads += 1
                lat.append(time.perf_counter() - t0)
            except Exception as e:
                rep.legit_failures += 1
                if rep.legit_failures <= 3:
                    rep.unexpected.append(f"legit read: {type(e).__name__}: {e}"[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)
    if lat:
        rep.legit_max_ms = round(max(lat) * 1000, 1)
        rep.legit_p99_ms = round(float(np.percentile(lat, 99)) * 1000, 1)


async def attack(target: Target, *, requests: int, seed: int, workers: int) -> AttackReport:
    """The attackers and the legitimate client, until ``requests`` hostile requests were sent."""
    rep = AttackReport()
    stop = asyncio.Event()
    legit_task = asyncio.create_task(legit(target, stop, rep))
    await asyncio.sleep(0.3)  # the legitimate session first: the session cap must not lock it out
    host = f"opc.tcp://127.0.0.1:{target.port}/"

    async def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        a = Attacker(target, rep, rng)
        while rep.requests < requests:
            if rng.random() < 0.5:
                for name, frames in raw_attacks(host, rng):
                    rep.requests += 1
                    rep.raw += 1
                    # a truncated Hello is a slow sender: it waits for activation_timeout_s
                    out = await raw_attack(target.port, frames, 0.3 if name in SLOW else RAW_WAIT_S)
                    if out == "hung" and name in SLOW:
                        out = "waiting"
                    rep.raw_outcomes[out] = rep.raw_outcomes.get(out, 0) + 1
                    if out == "hung" or out.startswith("connect"):
                        a.unexpected(f"raw {name}: {out}")
                rep.requests += 1
                rep.raw += 1
                await truncated_then_gone(target.port, host, rng)
            else:
                try:
                    await a.session()
                except Exception as e:  # a client-side failure is noted, never fatal
                    a.unexpected(f"session: {type(e).__name__}: {e}"[:200])

    try:
        await asyncio.gather(*(worker(k) for k in range(workers)))
    finally:
        stop.set()
        await legit_task
    rep.raw_outcomes = dict(sorted(rep.raw_outcomes.items()))
    rep.statuses = dict(sorted(rep.statuses.items()))
    return rep


def _attack_main(target: Target, requests: int, seed: int, workers: int, out: Any) -> None:
    logging.disable(logging.WARNING)  # the client library's own complaints about refusals
    try:
        out.send(asyncio.run(attack(target, requests=requests, seed=seed, workers=workers)))
    except BaseException as e:
        rep = AttackReport()
        rep.unexpected.append(f"attacker crashed: {type(e).__name__}: {e}")
        out.send(rep)


# -- the server side -----------------------------------------------------------------------
def target_of(ep: OpcUaEndpoint) -> Target:
    writable = []
    for dev, p, s in ep.variables():
        if p.writable and p.pdef.type not in ("string",) and not p.pdef.type.startswith(("enum", "bitfield")):
            lo, hi = ep.eu_range(dev, p)
            writable.append((s, lo, hi))
    methods = []
    for dev in ep.gw.devices:
        for command in dev.group.behaviour.commands:
            name = {"start": "Start", "stop": "Stop", "alarm_reset": "AlarmReset"}.get(command, command)
            methods.append((f"{ep.node_path(dev)}.{name}", ep.node_path(dev)))
    return Target(
        url=ep.url,
        port=ep.port,
        namespace_uri=ep.namespace_uri,
        variables=[s for _, _, s in ep.variables()],
        writable=writable,
        methods=methods,
        objects=[ep.node_path(d) for d in ep.gw.devices],
        limits=ep.limits,
    )


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        # the server's side only (asyncua's client logs its own in --same-process runs)
        if record.exc_info and record.name.startswith(("asyncua.server", "asyncua.common", "hil")):
            self.count += 1


async def run_fuzz(  # noqa: C901 - over 15 branches before the gate; to split
    *,
    requests: int,
    seed: int = 1,
    site: str = "lab_rack",
    workers: int = 4,
    tick_s: float = 0.1,
    limits: OpcUaLimits | None = None,
    same_process: bool = False,
) -> FuzzReport:
    limits = limits or OpcUaLimits(
        max_sessions=8, max_subscriptions=3, max_monitored_items=300, max_nodes_per_request=500
    )
    rep = FuzzReport()
    t_start = time.perf_counter()
    if not same_process:  # spawn's resource tracker keeps one descriptor for the process's life
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    rep.fds_before = fd_count()
    gw, ref = Gateway(load_site(site)), Gateway(load_site(site))
    tb = _Tracebacks()
    logging.getLogger().addHandler(tb)
    ep = OpcUaEndpoint(gw, port=0, limits=limits)
    await ep.start()
    late: list[float] = []
    stop = asyncio.Event()

    async def clock() -> None:
        loop = asyncio.get_running_loop()
        t0, k = loop.time(), 0
        while not stop.is_set():
            k += 1
            deadline = t0 + k * tick_s
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            late.append(max(0.0, loop.time() - deadline))
            gw.step()
            ref.step()
            await ep.publish()

    try:
        clock_task = asyncio.create_task(clock())
        target = target_of(ep)
        if same_process:
            box: list[AttackReport] = []
            th = threading.Thread(
                target=lambda: box.append(
                    asyncio.run(attack(target, requests=requests, seed=seed, workers=workers))
                )
            )
            th.start()
            while th.is_alive():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            th.join()
            rep.attack = box[0] if box else AttackReport(unexpected=["attacker thread died"])
        else:
            ctx = multiprocessing.get_context("spawn")
            recv, send = ctx.Pipe(duplex=False)  # a pipe, not a Queue: no semaphore, no tracker
            proc = ctx.Process(target=_attack_main, args=(target, requests, seed, workers, send))
            proc.start()
            send.close()
            while proc.is_alive() and not recv.poll():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            got = recv.recv() if recv.poll() else None
            rep.attack = got if got is not None else AttackReport(unexpected=["attacker process died"])
            recv.close()
            await asyncio.to_thread(proc.join, 30)
            proc.close()
        # orphaned sessions (abrupt disconnects with subscriptions) expire with their timeout
        t_end = time.perf_counter() + SESSION_TIMEOUT_MS / 1000 * 2 + 2
        assert ep.server is not None
        iserver, bserver = ep.server.iserver, ep.server.bserver
        while time.perf_counter() < t_end and (iserver._external_sessions or (bserver and bserver.clients)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        rep.sessions_left = len(iserver._external_sessions)
        rep.connections_left = len(bserver.clients) if bserver else 0
        guard = getattr(bserver, "guard", None)
        rep.refused = dict(sorted(getattr(guard, "refused", {}).items()))
        stop.set()
        await clock_task
    finally:
        stop.set()
        await ep.stop()
        logging.getLogger().removeHandler(tb)
    await asyncio.sleep(0.1)
    rep.fds_after = fd_count()
    rep.ticks = len(late)
    if late:
        rep.tick_lateness_p99_ms = round(float(np.percentile(late, 99)) * 1000, 1)
        rep.tick_lateness_max_ms = round(max(late) * 1000, 1)
    rep.writes_accepted = gw.writes_accepted
    a, b = twin_state(gw), twin_state(ref)
    rep.twin_identical = a[0] == b[0] and a[1] == b[1]
    rep.tracebacks_logged = tb.count
    at = rep.attack
    if at.unexpected:
        rep.problems.append(f"{len(at.unexpected)} unexpected answer(s), first {at.unexpected[0]!r}")
    if at.raw_outcomes.get("hung"):
        rep.problems.append(f"{at.raw_outcomes['hung']} raw attack(s) neither answered nor closed")
    if rep.writes_accepted:
        rep.problems.append(f"{rep.writes_accepted} hostile write(s) accepted")
    if not rep.twin_identical:
        rep.problems.append("the twin differs from the reference")
    if rep.fds_after > rep.fds_before:
        rep.problems.append(f"file descriptors leaked: {rep.fds_before} before, {rep.fds_after} after")
    if rep.sessions_left or rep.connections_left:
        rep.problems.append(
            f"left behind: {rep.sessions_left} session(s), {rep.connections_left} connection(s)"
        )
    if at.legit_failures or not at.legit_reads:
        rep.problems.append(f"legitimate client: {at.legit_reads} reads, {at.legit_failures} failed")
    rep.wall_s = round(time.perf_counter() - t_start, 1)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=12_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--site", default="lab_rack")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tick-ms", type=float, default=100.0)
    ap.add_argument("--same-process", action="store_true", help="attackers in a thread, not a process")
    ap.add_argument("--max-references", type=int, default=None, help="max_references_per_browse")
    ap.add_argument("--json", type=Path, help="also write the report here")
    a = ap.parse_args(argv)
    limits = OpcUaLimits(
        max_sessions=8, max_subscriptions=3, max_monitored_items=300, max_nodes_per_request=500
    )
    if a.max_references is not None:
        limits = dataclasses.replace(limits, max_references_per_browse=a.max_references)
    logging.basicConfig(level=logging.ERROR)
    rep = asyncio.run(
        run_fuzz(
            requests=a.requests,
            seed=a.seed,
            site=a.site,
            workers=a.workers,
            tick_s=a.tick_ms / 1000,
            same_process=a.same_process,
            limits=limits,
        )
    )
    return emit(asdict(rep), a.json, rep.problems)


if __name__ == "__main__":
    sys.exit(main())
