"""The OPC UA endpoint against a hostile client: per-request, per-session and transport limits
(:mod:`hil.protocols.opcua.guard`), methods called on the wrong object, and the configured URL path.

Servers bind 127.0.0.1 port 0; the twin is stepped in-process on the server's loop, as the
serve loop does, so a request that blocks the loop shows up as tick lateness.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import Client, ua

from hil.config import load_site
from hil.endpoints import OpcUaLimits, parse_endpoints
from hil.errors import ConfigError
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.wire.gateway import Gateway

SITE_DT = 0.1


class Ticker:
    """The serve loop's shape: step the gateway and publish every ``SITE_DT``; lateness kept."""

    def __init__(self, gw: Gateway, ep: OpcUaEndpoint) -> None:
        self.gw, self.ep = gw, ep
        self.late: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        nxt = time.perf_counter() + SITE_DT
        while True:
            await asyncio.sleep(max(0.0, nxt - time.perf_counter()))
            self.late.append(time.perf_counter() - nxt)
            self.gw.step()
            await self.ep.publish()
            nxt += SITE_DT

    def __enter__(self) -> Ticker:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


@contextlib.asynccontextmanager
async def endpoint(limits: OpcUaLimits | None = None, path: str = "/") -> AsyncIterator[OpcUaEndpoint]:
    ep = OpcUaEndpoint(Gateway(load_site("lab_rack")), port=0, limits=limits, path=path)
    await ep.start()
    try:
        yield ep
    finally:
        await ep.stop()


@contextlib.asynccontextmanager
async def client(ep: OpcUaEndpoint) -> AsyncIterator[Client]:
    c = Client(ep.url, timeout=20)
    c.session_timeout = 600_000
    await c.connect()
    try:
        yield c
    finally:
        try:
            await c.disconnect()
        except (TimeoutError, ConnectionError, ua.UaError):  # a socket the test aborted
            c.disconnect_socket()


def browse_params(nodes: list[ua.NodeId]) -> ua.BrowseParameters:
    p = ua.BrowseParameters()
    p.NodesToBrowse = [
        ua.BrowseDescription(
            NodeId=n,
            BrowseDirection=ua.BrowseDirection.Both,
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.HierarchicalReferences),
            IncludeSubtypes=True,
            ResultMask=63,
        )
        for n in nodes
    ]
    return p


def read_params(nodes: list[ua.NodeId]) -> ua.ReadParameters:
    p = ua.ReadParameters()
    p.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=ua.AttributeIds.Value) for n in nodes]
    return p


@pytest.mark.asyncio
async def test_requests_over_the_operation_limit_get_bad_too_many_operations() -> None:
    async with endpoint() as ep, client(ep) as c:
        n = ep.limits.max_nodes_per_request
        ns = await c.get_namespace_index(ep.namespace_uri)
        var = ua.NodeId(ep.variables()[0][2], ns)
        ops = {
            "read": lambda k: c.uaclient.read(read_params([var] * k)),
            "browse": lambda k: c.uaclient.browse(browse_params([var] * k)),
            "write": lambda k: c.uaclient.write(
                ua.WriteParameters(
                    NodesToWrite=[
                        ua.WriteValue(
                            NodeId=var,
                            AttributeId=ua.AttributeIds.Value,
                            Value=ua.DataValue(ua.Variant(1.0, ua.VariantType.Double)),
                        )
                    ]
                    * k
                )
            ),
            "translate": lambda k: c.uaclient.translate_browsepaths_to_nodeids(
                [
                    ua.BrowsePath(
                        StartingNode=ua.NodeId(ua.ObjectIds.ObjectsFolder),
                        RelativePath=ua.RelativePath(
                            Elements=[ua.RelativePathElement(TargetName=ua.QualifiedName("Server", 0))]
                        ),
                    )
                ]
                * k
            ),
            "call": lambda k: c.uaclient.call(
                [ua.CallMethodRequest(ObjectId=ua.NodeId(ua.ObjectIds.Server), MethodId=var)] * k
            ),
        }
        for name, op in ops.items():
            with pytest.raises(ua.uaerrors.BadTooManyOperations):
                await op(n + 1)
            assert await op(1), name  # one operation is still served on the same session
        sub = await c.create_subscription(100, None)
        params = [ua.MonitoredItemCreateRequest() for _ in range(n + 1)]
        with pytest.raises(ua.uaerrors.BadTooManyOperations):
            await sub.server.create_monitored_items(
                ua.CreateMonitoredItemsParameters(SubscriptionId=sub.subscription_id, ItemsToCreate=params)
            )
        # advertised where the specification says (Part 5 ServerCapabilities/OperationLimits)
        limit = c.get_node(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse)
        assert await limit.read_value() == n
        cps = c.get_node(ua.ObjectIds.Server_ServerCapabilities_MaxBrowseContinuationPoints)
        assert await cps.read_value() == 0


@pytest.mark.asyncio
async def test_maximal_requests_keep_the_twin_ticking() -> None:
    """The probe's 2,000-node browse took 13.6 s (a tick 10.5 s late); maximal requests now stay
    within a tick or two: the reference-type check is a set lookup and a response is bounded."""
    # the default budget: 5,000 references, ~0.13 s of encoding unloaded (the client decodes on this loop)
    async with endpoint(OpcUaLimits(max_references_per_browse=5000)) as ep, client(ep) as c:
        n = ep.limits.max_nodes_per_request
        big = ua.NodeId(ua.ObjectIds.Structure)  # a standard node with ~270 references
        ns = await c.get_namespace_index(ep.namespace_uri)
        vars_ = [ua.NodeId(s, ns) for _, _, s in ep.variables()]
        with Ticker(ep.gw, ep) as ticker:
            t0 = time.perf_counter()
            for _ in range(2):
                res = await c.uaclient.browse(browse_params([big] * n))
                served = [r for r in res if r.StatusCode.is_good()]
                assert served
                assert len(served) < n
                assert sum(len(r.References) for r in served) <= ep.limits.max_references_per_browse
                assert {r.StatusCode.value for r in res if not r.StatusCode.is_good()} == {
                    ua.StatusCodes.BadNoContinuationPoints
                }
                await c.uaclient.read(read_params((vars_ * n)[:n]))
                await c.uaclient.browse(browse_params((vars_ * n)[:n]))
            elapsed = time.perf_counter() - t0
        assert len(ticker.late) >= 2
        # before: a Browse of 2,000 x Structure took 34 s with a tick 22 s late
        assert max(ticker.late) < 2.0, (max(ticker.late), elapsed)


@pytest.mark.asyncio
async def test_session_subscription_and_item_limits() -> None:
    limits = OpcUaLimits(max_sessions=2, max_subscriptions=2, max_monitored_items=5)
    async with contextlib.AsyncExitStack() as stack:
        ep = await stack.enter_async_context(endpoint(limits))
        c1 = await stack.enter_async_context(client(ep))
        c2 = await stack.enter_async_context(client(ep))
        with pytest.raises(ua.uaerrors.BadTooManySessions):
            async with client(ep):
                pass
        subs = [await c1.create_subscription(100, None) for _ in range(2)]
        with pytest.raises(ua.uaerrors.BadTooManySubscriptions):
            await c1.create_subscription(100, None)
        ns = await c1.get_namespace_index(ep.namespace_uri)
        nodes = [c1.get_node(ua.NodeId(s, ns)) for _, _, s in ep.variables()[:6]]
        handles = await subs[0].subscribe_data_change(nodes[:5])
        assert all(isinstance(h, int) for h in handles)
        with pytest.raises(ua.uaerrors.BadTooManyMonitoredItems):
            await subs[1].subscribe_data_change(nodes[5])
        # another session may not add items to (or count against) c1's subscription
        sub2 = await c2.create_subscription(100, None)
        with pytest.raises(ua.uaerrors.BadSubscriptionIdInvalid):
            await c2.uaclient.create_monitored_items(
                ua.CreateMonitoredItemsParameters(
                    SubscriptionId=subs[1].subscription_id,
                    ItemsToCreate=[ua.MonitoredItemCreateRequest()],
                )
            )
        assert await sub2.subscribe_data_change(c2.get_node(nodes[5].nodeid))
        # the slot of a closed session is free again
        await c2.disconnect()
        for _ in range(2):
            async with client(ep) as c:
                assert await c.get_namespace_index(ep.namespace_uri) >= 0
        # a client that drops its socket keeps its session (it has subscriptions) for a
        # reconnect, but not a slot another client needs: the orphan is closed for it
        c3 = await stack.enter_async_context(client(ep))
        subsvc = ep.server.iserver.subscription_service
        c1_session = subsvc.subscriptions[subs[0].subscription_id].session_id
        bserver = ep.server.bserver
        n_conn = len(bserver.clients)
        assert c1.uaclient.protocol is not None
        assert c1.uaclient.protocol.transport is not None
        c1.uaclient.protocol.transport.abort()
        for _ in range(200):
            if len(bserver.clients) < n_conn:
                break
            await asyncio.sleep(0.01)
        assert [s for s in subsvc.subscriptions.values() if s.session_id == c1_session]  # kept
        async with client(ep) as c4:
            assert await c4.get_namespace_index(ep.namespace_uri) >= 0
            assert await c3.get_namespace_index(ep.namespace_uri) >= 0
            assert not [s for s in subsvc.subscriptions.values() if s.session_id == c1_session]


@pytest.mark.asyncio
async def test_a_method_called_on_another_object_is_refused_and_changes_nothing() -> None:
    async with endpoint(path="/aidc-hil") as ep, client(ep) as c:
        # endpoints.opcua.path is part of the URL the server listens on and advertises
        assert ep.url.endswith(f":{ep.port}/aidc-hil")
        assert {e.EndpointUrl for e in await c.get_endpoints()} == {ep.url}
        gw = ep.gw
        a = next(d for d in gw.by_name.values() if "stop" in d.group.behaviour.commands)
        b = next(d for d in gw.by_name.values() if d is not a)
        ns = await c.get_namespace_index(ep.namespace_uri)
        assert gw.command(a, "start").name == "OK"
        for _ in range(3):
            gw.step()
        before = a.group.image.copy()
        stop = ua.NodeId(ep.node_path(a) + ".Stop", ns)
        for obj in (
            ua.NodeId(ep.node_path(b), ns),
            ua.NodeId(ep.site_name, ns),
            ua.NodeId(ua.ObjectIds.Server),
        ):
            res = await c.uaclient.call([ua.CallMethodRequest(ObjectId=obj, MethodId=stop)])
            assert res[0].StatusCode.value == ua.StatusCodes.BadMethodInvalid, obj
        res = await c.uaclient.call([ua.CallMethodRequest(ObjectId=ua.NodeId("nope", ns), MethodId=stop)])
        assert res[0].StatusCode.value == ua.StatusCodes.BadNodeIdInvalid
        assert (a.group.image == before).all()
        res = await c.uaclient.call(
            [ua.CallMethodRequest(ObjectId=ua.NodeId(ep.node_path(a), ns), MethodId=stop)]
        )
        assert res[0].StatusCode.is_good()


def _cfg(tmp_path: Path, text: str) -> tuple[dict[str, object], dict[tuple[object, ...], int]]:
    data = {"opcua": {}}
    lines: dict[tuple[object, ...], int] = {}
    for k, line in enumerate(text.strip().splitlines(), start=3):
        key, _, value = line.partition(":")
        data["opcua"][key.strip()] = int(value) if value.strip().isdigit() else value.strip()
        lines[("endpoints", "opcua", key.strip())] = k
    return data, lines


def test_opcua_limit_keys_are_validated_with_line_and_did_you_mean(tmp_path: Path) -> None:
    data, lines = _cfg(tmp_path, "max_sesions: 4\nmax_message_size: 100\nmax_nodes_per_request: 0")
    with pytest.raises(ConfigError) as exc:
        parse_endpoints(data, path=tmp_path / "site.yaml", lines=lines)
    text = str(exc.value)
    assert "site.yaml:3" in text
    assert "did you mean 'max_sessions'" in text
    assert "site.yaml:4" in text
    assert "8192" in text
    assert "site.yaml:5" in text
    assert "1..100000" in text
    data, lines = _cfg(tmp_path, "max_sessions: 4\nmax_chunk_size: 16384\npath: plant")
    cfg = parse_endpoints(data, path=tmp_path / "site.yaml", lines=lines)
    assert cfg.opcua_limits == OpcUaLimits(max_sessions=4, max_chunk_size=16384)
    assert cfg.opcua_path == "/plant"


# -- transport: raw bytes ----------------------------------------------------------------
def hello(url: str = "opc.tcp://127.0.0.1/", size: int | None = None, buffers: int = 65535) -> bytes:
    body = struct.pack("<IIIII", 0, buffers, buffers, 0, 0) + struct.pack("<i", len(url)) + url.encode()
    return b"HELF" + struct.pack("<I", size if size is not None else 8 + len(body)) + body


def read_error(sock: socket.socket) -> int | None:
    """The status code of the ERR message the server sends before it closes, else None."""
    data = b""
    sock.settimeout(5)
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    k = data.find(b"ERRF")
    return int.from_bytes(data[k + 8 : k + 12], "little") if k >= 0 else None


GARBAGE = b"\x01\x00\x00\x00" + bytes(range(7, 67))
BAD_FRAMES: dict[str, tuple[list[bytes], int | tuple[int, ...]]] = {
    "huge-hel": ([hello(size=100 * 1024 * 1024)], ua.StatusCodes.BadTcpMessageTooLarge),
    "msg-before-hel": (
        [b"MSGF" + struct.pack("<I", 64) + b"\0" * 56],
        ua.StatusCodes.BadTcpMessageTypeInvalid,
    ),
    "bad-type": ([b"XYZF" + struct.pack("<I", 16) + b"\0" * 8], ua.StatusCodes.BadTcpMessageTypeInvalid),
    "huge-msg": ([hello(), b"MSGF" + struct.pack("<I", 1 << 30)], ua.StatusCodes.BadTcpMessageTooLarge),
    "huge-opn": ([hello(), b"OPNF" + struct.pack("<I", 70_000)], ua.StatusCodes.BadTcpMessageTooLarge),
    "second-hel": ([hello(), hello()], ua.StatusCodes.BadTcpMessageTypeInvalid),
    # Part 6 names no code for a size under the header's own: either is an answer
    "tiny-chunk": (
        [hello(), b"MSGF" + struct.pack("<I", 3)],
        (ua.StatusCodes.BadTcpInternalError, ua.StatusCodes.BadTcpMessageTypeInvalid),
    ),
    # within the caps but undecodable: ERR and closed at once (was a traceback and an open socket)
    "garbage-opn": ([hello(), b"OPNF" + struct.pack("<I", 72) + GARBAGE], ua.StatusCodes.BadDecodingError),
    "garbage-msg": ([hello(), b"MSGF" + struct.pack("<I", 72) + GARBAGE], ua.StatusCodes.BadDecodingError),
    "huge-in-one-segment": (
        [hello() + b"MSGF" + struct.pack("<I", 1 << 28)],
        ua.StatusCodes.BadTcpMessageTooLarge,
    ),
}


@pytest.mark.asyncio
async def test_bad_transport_frames_get_an_err_and_are_closed() -> None:
    """The probe's 98 MiB buffered before the handshake: now the header is enough to refuse."""
    async with endpoint() as ep:
        bserver = ep.server.bserver  # type: ignore[union-attr]
        assert bserver is not None

        def probe(frames: list[bytes]) -> int | None:
            with socket.create_connection(("127.0.0.1", ep.port), timeout=5) as s:
                for f in frames:
                    s.sendall(f)
                return read_error(s)

        def ack(buffers: int) -> tuple[int, ...]:
            with socket.create_connection(("127.0.0.1", ep.port), timeout=5) as s:
                s.sendall(hello(buffers=buffers))
                data = s.recv(64)
            assert data[:4] == b"ACKF"
            return struct.unpack_from("<IIIII", data, 8)

        # HEL/ACK: a peer asking for 16 MiB chunks and no message cap gets the server's caps
        _, recv, send, max_msg, max_chunks = await asyncio.to_thread(ack, 1 << 24)
        lim = ep.limits
        assert recv <= lim.max_chunk_size
        assert send <= lim.max_chunk_size
        assert max_msg == lim.max_message_size
        assert 0 < max_chunks * lim.max_chunk_size <= 2 * lim.max_message_size
        for name, (frames, code) in BAD_FRAMES.items():
            got = await asyncio.to_thread(probe, frames)
            assert got in (code if isinstance(code, tuple) else (code,)), (
                name,
                got and ua.StatusCode(got).name,
            )
        for _ in range(50):  # the closed connections are gone, no buffer kept
            if not bserver.clients:
                break
            await asyncio.sleep(0.02)
        assert bserver.clients == []
        async with client(ep) as c:  # the server still serves a legitimate client
            assert await c.get_namespace_index(ep.namespace_uri) > 0
