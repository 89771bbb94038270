"""Limits that keep one OPC UA peer from stalling the bench (issue 11 findings 2 and 10).

asyncua (pinned 2.1.x) serves every request on the twin's event loop and bounds little of it.
:func:`make_server` + :func:`apply_limits` (or :func:`guard` + :func:`start_server`) give an
asyncua ``Server`` with, on top of the library, the :class:`~hil.endpoints.OpcUaLimits` of the
site's ``endpoints.opcua:``:

* **A fast Browse.** asyncua's ``ViewService`` walks the whole reference-type tree again (and
  builds a fresh ``NodeId`` at every step) for *each reference of each node* it browses with
  ``IncludeSubtypes`` (the usual ``HierarchicalReferences`` browse): ≈ 75–90 % of a Browse in
  cProfile and pyinstrument. The subtypes of a reference type are now computed once and kept in
  a set: filtering 200 × the ``Structure`` node went from 1,795 ms to 49 ms.
* **A bounded Browse response.** Encoding a reference costs ≈ 25 µs; a response holds at most
  ``max_references_per_browse`` and the nodes past it get ``BadNoContinuationPoints`` (no
  continuation points are kept: asyncua does not dispatch BrowseNext, and
  ``MaxBrowseContinuationPoints`` is advertised as 0).
* **Per-request operation limits** (OPC UA Part 4 §5.4): a Browse, Read, Write, HistoryRead,
  Call, RegisterNodes, TranslateBrowsePathsToNodeIds or CreateMonitoredItems with more than
  ``max_nodes_per_request`` operations is answered with a ServiceFault ``BadTooManyOperations``
  before any of it is done, and the limit is advertised in
  ``Server/ServerCapabilities/OperationLimits``.
* **Sessions, subscriptions, monitored items**: at most ``max_sessions`` sessions
  (``BadTooManySessions``; at the limit, the longest-idle session whose connection is gone is
  closed first), ``max_subscriptions`` per session (``BadTooManySubscriptions``) and
  ``max_monitored_items`` per session (each item over it ``BadTooManyMonitoredItems``), with short
  per-item queues and a small unacknowledged-message budget so a client that never publishes
  holds little memory. A session may only use its own subscription ids.
* **Transport caps** (OPC UA Part 6 §7.1): the first message must be a Hello of at most
  :data:`MAX_HELLO_BYTES`; no chunk may exceed ``max_chunk_size`` and no message
  ``max_message_size``. A peer over a limit, or whose chunk cannot be decoded, gets an Error
  message (``BadTcpMessageTooLarge``, ``BadTcpMessageTypeInvalid``, ``BadTcpInternalError``,
  ``BadDecodingError``) and is closed; at most one chunk is ever buffered per connection, and
  at most ``max_connections`` sockets are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.common.utils import ServiceError
from asyncua.crypto import uacrypto
from asyncua.server.address_space import AddressSpace, ViewService
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.internal_server import InternalServer
from asyncua.ua.ua_binary import uatcp_to_binary

from ...endpoints import OpcUaLimits
from .ua_types import ua_node, ua_status

__all__ = ["MAX_HELLO_BYTES", "Guard", "apply_limits", "guard", "make_server", "start_server"]

_log = logging.getLogger(__name__)

#: A Hello is 8 header + 20 bytes of limits + an EndpointUrl of at most 4096 bytes (Part 6 §7.1.2.3).
MAX_HELLO_BYTES = 8 + 20 + 4 + 4096
#: Per-item notification queue and unacknowledged-message budget per subscription.
MAX_ITEM_QUEUE = 100
MAX_UNACKED = 100
#: A connection must activate a session this soon after connecting, or it is closed.
ACTIVATION_S = 10.0

_CLIENT_TYPES = (b"HEL", b"OPN", b"MSG", b"CLO")
_T = TypeVar("_T")


@dataclass
class Guard:
    """What :func:`guard` installed on one server (for tests and logs)."""

    limits: OpcUaLimits
    refused: dict[str, int] = field(default_factory=dict)  # transport refusals by reason


def guard(server: Server, limits: OpcUaLimits) -> Guard:
    """Configure ``server`` (initialised, not started) with the module's limits; the fast
    Browse and the per-request checks are installed on its services. Start it with
    :func:`start_server`."""
    state = Guard(limits)
    chunk = int(limits.max_chunk_size)
    max_message = int(limits.max_message_size)
    server.limits = TransportLimits(
        max_recv_buffer=chunk,
        max_send_buffer=chunk,
        max_chunk_count=math.ceil(max_message / chunk),
        max_message_size=max_message,
    )
    iserver = server.iserver
    iserver.max_connections = limits.max_connections
    iserver.max_subscriptions = limits.max_sessions * limits.max_subscriptions
    iserver.max_monitored_item_queue_size = MAX_ITEM_QUEUE
    iserver.max_unacked_messages_per_subscription = MAX_UNACKED
    iserver.max_pending_activation_seconds = float(limits.activation_timeout_s)
    iserver.max_pending_messages_per_connection = 64  # x one chunk at most
    iserver.view_service = _FastViewService(iserver.aspace, limits.max_references_per_browse)
    n = limits.max_nodes_per_request
    view, attrs, methods, history = (
        iserver.view_service,
        iserver.attribute_service,
        iserver.method_service,
        iserver.history_manager,
    )
    view.browse = _sync_limit(view.browse, n, lambda p: p.NodesToBrowse)  # type: ignore[method-assign,assignment]
    view.translate_browsepaths_to_nodeids = _sync_limit(  # type: ignore[method-assign,assignment]
        view.translate_browsepaths_to_nodeids, n, lambda p: p
    )
    attrs.read = _sync_limit(attrs.read, n, lambda p: p.NodesToRead)  # type: ignore[method-assign,assignment]
    attrs.write = _async_limit(attrs.write, n, lambda p: p.NodesToWrite)  # type: ignore[method-assign,assignment]
    methods.call = _async_limit(methods.call, n, lambda p: p)  # type: ignore[method-assign,assignment]
    history.read_history = _async_limit(history.read_history, n, lambda p: p.NodesToRead)  # type: ignore[method-assign,assignment]
    _guard_sessions(server, limits)
    _guard_subscriptions(iserver, limits)
    return state


async def start_server(server: Server, state: Guard) -> None:
    """Advertise the limits (Part 5 ServerCapabilities) and start listening, every chunk header
    checked before its body is kept (asyncua 2.1's ``Server.start`` with our socket server)."""
    await _advertise(server, state.limits)
    await _start_guarded(server, state)


async def _start_guarded(server: Server, state: Guard) -> None:
    """asyncua 2.1's ``Server.start`` with our socket server in place of its own."""
    iserver = server.iserver
    if iserver.certificate is not None:
        uacrypto.check_certificate(iserver.certificate, server._application_uri, socket.gethostname())
    await server._setup_server_nodes()
    await iserver.start()
    try:
        host, port = server._get_bind_socket_info()
        bserver = _GuardedBinaryServer(iserver, host, port, server.limits)  # type: ignore[arg-type]
        bserver.guard = state
        server.bserver = bserver
        bserver.set_policies(server._policies)
        await bserver.start()
    except Exception:
        await iserver.stop()
        raise


def make_server(limits: OpcUaLimits) -> Server:
    """An asyncua ``Server`` whose socket server checks every chunk header before buffering;
    configure it, ``init()`` it, then :func:`apply_limits` before ``start()``."""
    server = _GuardedServer()
    server.guard_state = Guard(limits)
    return server


class LogThrottle(logging.Filter):
    """At most one asyncua record of WARNING or above per logger and message per ``period_s``;
    the next one let through says how many alike were dropped. asyncua logs every refused or
    malformed request at ERROR with its traceback: a hostile peer could otherwise fill the
    disk and bury the bench's own messages (the Modbus side logs refusals the same way)."""

    MAX_KEYS = 1000

    def __init__(self, period_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.period_s = period_s
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        last, dropped = self._last.get(key, (-math.inf, 0))
        if now - last < self.period_s:
            self._last[key] = (last, dropped + 1)
            return False
        if len(self._last) >= self.MAX_KEYS:
            self._last.clear()
        self._last[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} [{dropped} alike in the last {now - last:.0f} s not logged]"
        return True


def throttle_asyncua_logs(period_s: float = 10.0) -> None:
    """Put a :class:`LogThrottle` on every asyncua logger (once; records do not pass a parent
    logger's filters, so each logger gets it)."""
    throttle = LogThrottle(period_s)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] != "asyncua":
            continue
        lg = logging.getLogger(name)
        if not any(isinstance(f, LogThrottle) for f in lg.filters):
            lg.addFilter(throttle)


async def apply_limits(server: Server, limits: OpcUaLimits) -> Guard:
    """:func:`guard` and advertise the limits, on a server from :func:`make_server` (after
    ``init()``, before ``start()``); asyncua's logs are throttled (:class:`LogThrottle`)."""
    throttle_asyncua_logs()
    state = guard(server, limits)
    if isinstance(server, _GuardedServer):
        server.guard_state = state
    await _advertise(server, limits)
    return state


class _GuardedServer(Server):
    guard_state: Guard

    async def start(self) -> None:
        await _start_guarded(self, self.guard_state)

    async def stop(self) -> None:
        """Stop without waiting out asyncua's once-a-second ``ServerStatus.CurrentTime`` loop:
        its ``stop()`` awaits that task's next wake-up (up to 1 s for every server stopped;
        asyncua 2.1 ``InternalServer.stop``). The task is cancelled here and forgotten, then
        asyncua stops the rest as usual."""
        iserver = self.iserver
        task = iserver.time_task
        if task is not None:
            iserver._time_task_stop = True  # asyncua 2.1's own flag for this loop
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            iserver.time_task = None
        await super().stop()


async def _advertise(server: Server, limits: OpcUaLimits) -> None:
    n = limits.max_nodes_per_request
    caps = "Server_ServerCapabilities_OperationLimits_"
    values: list[tuple[int, int]] = [
        (getattr(ua.ObjectIds, caps + name), n)
        for name in (
            "MaxNodesPerRead",
            "MaxNodesPerWrite",
            "MaxNodesPerBrowse",
            "MaxNodesPerMethodCall",
            "MaxNodesPerRegisterNodes",
            "MaxNodesPerTranslateBrowsePathsToNodeIds",
            "MaxNodesPerHistoryReadData",
            "MaxNodesPerHistoryReadEvents",
            "MaxMonitoredItemsPerCall",
        )
    ]
    values += [
        (ua.ObjectIds.Server_ServerCapabilities_MaxBrowseContinuationPoints, 0),
        (ua.ObjectIds.Server_ServerCapabilities_MaxSessions, limits.max_sessions),
        (ua.ObjectIds.Server_ServerCapabilities_MaxSubscriptionsPerSession, limits.max_subscriptions),
        (ua.ObjectIds.Server_ServerCapabilities_MaxMonitoredItemsPerSubscription, limits.max_monitored_items),
    ]
    iserver = server.iserver
    writes = ua.WriteParameters()
    for nodeid, value in values:
        node = ua_node(nodeid)
        if node not in iserver.aspace:
            continue
        dv = iserver.aspace[node].attributes[ua.AttributeIds.DataType].value
        assert dv is not None
        assert dv.Value is not None
        dtype = dv.Value.Value
        vtype = ua.VariantType(dtype.Identifier)  # UInt16 or UInt32, as Part 5 declares each
        wv = ua.WriteValue()
        wv.NodeId = node
        wv.AttributeId = ua.AttributeIds.Value
        wv.Value = ua.DataValue(ua.Variant(value, vtype))
        writes.NodesToWrite.append(wv)
    for status in await iserver.isession.write(writes):
        status.check()


# -- operations per request ----------------------------------------------------------------
def _too_many(ops: Any, limit: int) -> None:
    if ops is not None and len(ops) > limit:
        raise ServiceError(ua.StatusCodes.BadTooManyOperations)


def _sync_limit(fn: Callable[[Any], _T], limit: int, ops: Callable[[Any], Any]) -> Callable[[Any], _T]:
    @functools.wraps(fn)
    def guarded(params: Any, *args: Any, **kwargs: Any) -> _T:
        _too_many(ops(params), limit)
        return fn(params, *args, **kwargs)

    return guarded


def _async_limit(
    fn: Callable[..., Awaitable[_T]], limit: int, ops: Callable[[Any], Any]
) -> Callable[..., Awaitable[_T]]:
    @functools.wraps(fn)
    async def guarded(params: Any, *args: Any, **kwargs: Any) -> _T:
        _too_many(ops(params), limit)
        return await fn(params, *args, **kwargs)

    return guarded


def _guard_sessions(server: Server, limits: OpcUaLimits) -> None:
    iserver = server.iserver
    create = iserver.create_session
    closing: set[asyncio.Task[None]] = set()

    def orphans() -> list[Any]:
        """Sessions kept for a reconnect (they have subscriptions) whose connection is gone."""
        bserver = server.bserver
        clients = bserver.clients if bserver is not None else []
        bound = {id(p.processor.session) for p in clients if p.processor is not None}
        left = [s for s in iserver._external_sessions.values() if id(s) not in bound]
        return sorted(left, key=lambda s: s._last_activity)

    def create_session(name: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("external") and len(iserver._external_sessions) >= limits.max_sessions:
            # a client that drops its sockets must not hold every slot for its session
            # timeout (up to 10 min): the longest-idle orphaned session makes room
            left = orphans()
            if not left:
                _log.warning("OPC UA: session refused, %d sessions open", limits.max_sessions)
                raise ServiceError(ua.StatusCodes.BadTooManySessions)
            old = left[0]
            iserver.unregister_external_session(old)
            task = asyncio.get_running_loop().create_task(old.close_session(True))
            closing.add(task)
            task.add_done_callback(closing.discard)
            _log.warning("OPC UA: at %d sessions, closed an orphaned one", limits.max_sessions)
        session = create(name, *args, **kwargs)
        _own_subscriptions(session)
        return session

    iserver.create_session = create_session  # type: ignore[method-assign]


_BY_SUBSCRIPTION_ID = (
    "create_monitored_items",
    "modify_monitored_items",
    "delete_monitored_items",
    "set_monitoring_mode",
)


def _own_subscriptions(session: Any) -> None:
    """A session may only touch its own subscriptions (asyncua checks the id exists, not whose
    it is): another session's SubscriptionId gets BadSubscriptionIdInvalid."""
    subs = session.subscription_service.subscriptions

    def check(sub_id: int) -> None:
        sub = subs.get(sub_id)
        if sub is None or sub.session_id != session.session_id:
            raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)

    def by_id(fn: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        async def call(params: Any) -> Any:
            check(params.SubscriptionId)
            return await fn(params)

        return call

    for name in _BY_SUBSCRIPTION_ID:
        setattr(session, name, by_id(getattr(session, name)))
    delete = session.delete_subscriptions

    async def delete_subscriptions(ids: list[int]) -> list[ua.StatusCode]:
        mine = [i for i in ids if i in subs and subs[i].session_id == session.session_id]
        done = dict(zip(mine, await delete(mine), strict=True)) if mine else {}
        return [done.get(i, ua_status(ua.StatusCodes.BadSubscriptionIdInvalid)) for i in ids]

    session.delete_subscriptions = delete_subscriptions


def _guard_subscriptions(iserver: InternalServer, limits: OpcUaLimits) -> None:
    subs = iserver.subscription_service
    create_sub = subs.create_subscription
    create_items = subs.create_monitored_items

    async def create_subscription(params: Any, callback: Any, session_id: Any, **kwargs: Any) -> Any:
        mine = sum(1 for s in subs.subscriptions.values() if s.session_id == session_id)
        if mine >= limits.max_subscriptions:
            raise ServiceError(ua.StatusCodes.BadTooManySubscriptions)
        return await create_sub(params, callback, session_id, **kwargs)

    async def create_monitored_items(params: ua.CreateMonitoredItemsParameters) -> Any:
        _too_many(params.ItemsToCreate, limits.max_nodes_per_request)
        sub = subs.subscriptions.get(params.SubscriptionId)
        if sub is None:
            raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)
        used = sum(
            len(s.monitored_item_srv._monitored_items)
            for s in subs.subscriptions.values()
            if s.session_id == sub.session_id
        )
        room = max(0, limits.max_monitored_items - used)
        items = list(params.ItemsToCreate)
        if len(items) <= room:
            return await create_items(params)
        params.ItemsToCreate = items[:room]
        results = list(await create_items(params)) if room else []
        for _ in items[room:]:
            r = ua.MonitoredItemCreateResult()
            r.StatusCode = ua_status(ua.StatusCodes.BadTooManyMonitoredItems)
            results.append(r)
        return results

    subs.create_subscription = create_subscription  # type: ignore[method-assign,assignment]
    subs.create_monitored_items = create_monitored_items  # type: ignore[method-assign]


# -- the fast Browse -----------------------------------------------------------------------
class _FastViewService(ViewService):
    """asyncua's ViewService with the subtypes of each reference type computed once."""

    def __init__(self, aspace: AddressSpace, max_references: int) -> None:
        super().__init__(aspace)
        self._subtypes: dict[ua.NodeId, frozenset[ua.NodeId]] = {}
        self._max_references = max_references

    def browse(self, params: ua.BrowseParameters) -> list[ua.BrowseResult]:
        """Nodes whose references would take the response past ``max_references`` get
        BadNoContinuationPoints (this server keeps no continuation points: MaxBrowseContinuationPoints 0)."""
        out: list[ua.BrowseResult] = []
        room = self._max_references
        for desc in params.NodesToBrowse:
            res = self._browse(desc) if room >= 0 else None
            if res is None or len(res.References) > room:
                res = ua.BrowseResult(StatusCode=ua_status(ua.StatusCodes.BadNoContinuationPoints))
                room = -1  # the nodes after it too: a response stays in request order and bounded
            else:
                room -= len(res.References)
            out.append(res)
        return out

    def _suitable_reftype(self, ref1: ua.NodeId, ref2: ua.NodeId, subtypes: bool) -> bool:
        if ref1 in (_NULL, ref2):
            return True
        if not subtypes:
            return False
        known = self._subtypes.get(ref1)
        if known is None:  # reference types are added at start-up only; a miss is computed once
            known = self._subtypes[ref1] = frozenset(self._get_sub_ref(ref1))
        return ref2 in known


_NULL = ua_node(ua.ObjectIds.Null)


# -- the transport -------------------------------------------------------------------------
class _GuardedBinaryServer(BinaryServer):
    guard: Guard

    def _make_protocol(self) -> OPCUAProtocol:
        proto = _GuardedProtocol(
            iserver=self.iserver,
            policies=self._policies,
            clients=self.clients,
            closing_tasks=self.closing_tasks,
            limits=self.limits,
        )
        proto.guard = self.guard
        return proto


class _GuardedProtocol(OPCUAProtocol):
    """Checks each chunk's 8-byte header before keeping its body: at most one chunk is buffered."""

    guard: Guard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        self._hello = False
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport is None:
            return
        pending = self._pending
        pending += data
        while len(pending) >= 8:
            kind = bytes(pending[:3])
            (size,) = struct.unpack_from("<I", pending, 4)
            if kind not in _CLIENT_TYPES or (not self._hello and kind != b"HEL"):
                self._refuse(ua.StatusCodes.BadTcpMessageTypeInvalid, f"unexpected message {kind!r}")
                return
            if size < 8 + (4 if kind in (b"OPN", b"MSG", b"CLO") else 0):
                self._refuse(ua.StatusCodes.BadTcpInternalError, f"chunk size {size} below its header")
                return
            cap = MAX_HELLO_BYTES if kind == b"HEL" else self.limits.max_recv_buffer
            if size > cap:
                self._refuse(ua.StatusCodes.BadTcpMessageTooLarge, f"chunk of {size} bytes over {cap}")
                return
            if kind == b"HEL":
                if self._hello:
                    self._refuse(ua.StatusCodes.BadTcpMessageTypeInvalid, "second Hello")
                    return
                self._hello = True
            if len(pending) < size:
                return
            chunk = bytes(pending[:size])
            del pending[:size]
            super().data_received(chunk)
            if self.transport is None or self.transport.is_closing():
                return

    async def _process_one_msg(self, header: Any, buf: Any) -> bool:
        """A chunk that passed the header checks but cannot be decoded or is out of turn (a
        garbage OPN, a MSG on no channel): asyncua logged a traceback and kept the socket until
        the activation watchdog. Answer ERR and close instead, with one WARNING line."""
        try:
            return await super()._process_one_msg(header, buf)
        except Exception as e:  # the peer's bytes, not our bug: no traceback
            code = getattr(e, "code", None)
            if not isinstance(code, int) or not ua_status(code).is_bad():
                code = ua.StatusCodes.BadDecodingError
            self._refuse(
                code, f"undecodable {bytes(header.MessageType).decode(errors='replace')} chunk: {e}"[:200]
            )
            return False

    def _refuse(self, code: int, reason: str) -> None:
        self._refused = True
        self._pending.clear()
        name = ua_status(code).name
        self.guard.refused[name] = self.guard.refused.get(name, 0) + 1
        _log.warning("OPC UA: closing %s: %s", self.peer_name, reason)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            err = ua.ErrorMessage(ua_status(code), reason)  # type: ignore[arg-type]  # asyncua's String
            transport.write(uatcp_to_binary(ua.MessageType.Error, err))  # type: ignore[arg-type]
            transport.close()
