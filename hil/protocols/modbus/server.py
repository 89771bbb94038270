"""Modbus/TCP framing and connection handling for :mod:`hil.protocols.modbus.endpoint` (plain asyncio).

A request is an MBAP header (transaction id, protocol id 0, length, unit id: 7 bytes) and a PDU
of ``length - 1`` bytes (1..253). This module cuts the byte stream into requests, hands each
``(unit, pdu)`` to a handler and writes the answers back, and guards the bench against clients
that misbehave:

* **pipelining**: every request in a segment, or split across segments, gets exactly one answer
  with its own transaction id, in the order the requests came (at most one request of a
  connection is handled at a time; a held-back answer holds back the ones behind it);
* **fairness**: a connection has at most :data:`BATCH` requests handled per turn of the event
  loop, so a flooding client cannot starve the clock or the other clients;
* **back-pressure**: a client that does not read its answers stops being read;
* **limits** (:class:`~hil.endpoints.ModbusLimits`): a connection over ``max_connections`` is
  closed at once; a connection without a whole request for ``idle_timeout_s`` is closed; a
  request that has not arrived whole within ``frame_timeout_s`` of its first byte (a slowloris)
  closes the connection; ``max_requests_per_s`` (0: no cap) throttles each connection by
  reading it more slowly;
* **bad framing** (protocol id not 0, a length outside 2..254) cannot be re-synchronised: the
  connection is closed after the answers already due are sent.

Everything refused or closed is counted in :class:`ModbusStats` and logged through
:class:`RateLimitedLog` (one line per interval with the count since the last, never a
traceback per frame).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ...endpoints import ModbusLimits
from .tls import WRITE_FCS, Access

if TYPE_CHECKING:
    from ssl import SSLContext


__all__ = ["BATCH", "Deferred", "ModbusStats", "RateLimitedLog", "TcpServer"]

log = logging.getLogger("hil.protocols.modbus.endpoint")


MBAP = struct.Struct(">HHHB")
MAX_LENGTH = 254  # MBAP length: the unit id and a PDU of at most 253 bytes
BATCH = 32  # requests handled per connection per turn of the event loop
_READ_AHEAD = 4 * (6 + MAX_LENGTH)  # buffered bytes beyond which a busy connection is not read


def exception_pdu(fc: int, code: int) -> bytes:
    """The exception answer to function ``fc``: the code with its top bit set, then ``code``."""
    return bytes(((fc | 0x80) & 0xFF, code))


def pack_bits(bits: Sequence[bool]) -> bytes:
    """Coils or discrete inputs packed LSB first, eight to a byte (FC01, FC02)."""
    out = bytearray((len(bits) + 7) // 8)
    for k, b in enumerate(bits):
        if b:
            out[k >> 3] |= 1 << (k & 7)
    return bytes(out)


@dataclass(frozen=True)
class Deferred:
    """A handler's answer that comes ``delay_s`` later: ``then()`` computes it then."""

    delay_s: float
    then: Callable[[], bytes | None]


Answer = bytes | Deferred | None
Handler = Callable[[int, bytes], Answer]


@dataclass
class ModbusStats:
    """What an endpoint has seen since it started (counters only grow)."""

    connections: int = 0  # accepted
    refused: int = 0  # closed at once: over max_connections
    idle_closed: int = 0  # no whole request for idle_timeout_s
    slow_closed: int = 0  # a request not whole within frame_timeout_s
    malformed: int = 0  # bad framing: connection closed
    requests: int = 0
    exceptions: int = 0  # answered with a Modbus exception
    unanswered: int = 0  # silent unit, offline fault
    errors: int = 0  # unexpected errors in the handler (answered 04)
    throttled: int = 0  # times a connection waited for the request-rate cap
    denied: int = 0  # closed at once: not in the allow-list (hil.protocols.modbus.tls)
    read_only_refused: int = 0  # writes answered 01 on a read-only endpoint or connection

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


class RateLimitedLog:
    """``log(msg, *args)`` at ``level`` at most once per ``interval_s``; the next line says how
    many were left out meanwhile."""

    def __init__(self, logger: logging.Logger, level: int, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.level = level
        self.interval_s = interval_s
        self._last = -float("inf")
        self._skipped = 0

    def __call__(self, msg: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._skipped += 1
            return
        if self._skipped:
            msg += f" ({self._skipped} more like this in the last {now - self._last:.0f} s)"
        self._last, self._skipped = now, 0
        self.logger.log(self.level, msg, *args, exc_info=exc_info)


class _Connection(asyncio.Protocol):
    def __init__(self, server: TcpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.peer: Any = None
        self.closed = False
        self.busy = False  # a deferred answer is pending
        self.write_paused = False
        self.reading = True
        self.scheduled = False  # a _drain is scheduled (fairness or the rate cap)
        self.eof = False
        self.task: asyncio.Task[None] | None = None
        now = self.loop.time()
        self.last_active = now
        self.partial_since: float | None = None
        self.read_only = False  # writes answered 01 (hil.protocols.modbus.tls)
        rate = server.limits.max_requests_per_s
        self.tokens = max(1.0, rate) if rate else 0.0
        self.token_t = now

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        srv = self.server
        if len(srv.connections) >= srv.limits.max_connections:
            self.closed = True
            srv.stats.refused += 1
            srv.log_refused(
                "modbus %s: connection from %s refused, %d open (max_connections)",
                srv.url,
                self.peer,
                len(srv.connections),
            )
            transport.abort()
            return
        if srv.access is not None:
            ok, self.read_only = srv.access.admit(transport, srv.url)
            if not ok:
                self.closed = True
                srv.stats.denied += 1
                transport.abort()
                return
        srv.stats.connections += 1
        srv.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if not self.buf:
            self.partial_since = self.loop.time()
        self.buf += data
        if not self.scheduled:
            self._drain()

    def eof_received(self) -> bool:
        self.eof = True  # answer what came whole, then close (in _drain)
        if not self.scheduled:
            self._drain()
        return not self.closed

    def pause_writing(self) -> None:
        self.write_paused = True
        self._set_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.scheduled:
            self._drain()

    # -- requests -----------------------------------------------------------------------------
    def _drain(self) -> None:
        self.scheduled = False
        if self.closed or self.busy or self.write_paused:
            self._set_reading()
            return
        srv = self.server
        buf = self.buf
        handled = 0
        while len(buf) >= 7:
            tid, pid, length, unit = MBAP.unpack_from(buf)
            if pid != 0 or not 2 <= length <= MAX_LENGTH:
                srv.stats.malformed += 1
                srv.log_malformed(
                    "modbus %s: bad MBAP header from %s (protocol id %d, length %d): connection closed",
                    srv.url,
                    self.peer,
                    pid,
                    length,
                )
                self.close()
                return
            end = 6 + length
            if len(buf) < end:
                break
            if handled >= BATCH or (srv.limits.max_requests_per_s and not self._take_token()):
                self.scheduled = True
                if handled >= BATCH:
                    self.loop.call_soon(self._drain)
                break
            pdu = bytes(buf[7:end])
            del buf[:end]
            handled += 1
            now = self.loop.time()
            self.last_active = now
            self.partial_since = now if buf else None
            srv.stats.requests += 1
            if self.read_only and pdu[0] in WRITE_FCS:
                srv.stats.read_only_refused += 1
                answer: Answer = bytes((pdu[0] | 0x80, 0x01))
            else:
                answer = srv.answer(unit, pdu)
            if isinstance(answer, Deferred):
                self.busy = True
                self.task = self.loop.create_task(self._later(tid, unit, answer))
                break
            self._send(tid, unit, answer)
        if self.eof and not self.busy and not self.scheduled:
            self.close()  # what is left of the buffer can never become a request
            return
        self._set_reading()

    def _take_token(self) -> bool:
        rate = self.server.limits.max_requests_per_s
        now = self.loop.time()
        self.tokens = min(max(1.0, rate), self.tokens + (now - self.token_t) * rate)
        self.token_t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.server.stats.throttled += 1
        self.loop.call_later((1.0 - self.tokens) / rate, self._drain)
        return False

    async def _later(self, tid: int, unit: int, d: Deferred) -> None:
        try:
            await asyncio.sleep(d.delay_s)
            if not self.closed:
                self._send(tid, unit, self.server.call(d.then))
        finally:
            self.busy = False
            self.task = None
        if not self.closed and not self.scheduled:
            self._drain()

    def _send(self, tid: int, unit: int, pdu: bytes | None) -> None:
        if pdu is None:
            self.server.stats.unanswered += 1
            return
        if pdu[0] & 0x80:
            self.server.stats.exceptions += 1
        if self.transport is not None and not self.closed:
            self.transport.write(MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)

    def _set_reading(self) -> None:
        if self.closed or self.transport is None:
            return
        want = not (self.write_paused or ((self.busy or self.scheduled) and len(self.buf) > _READ_AHEAD))
        if want != self.reading:
            self.reading = want
            if want:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def close(self, *, abort: bool = False) -> None:
        """Close the connection (after what is queued has been sent, unless ``abort``)."""
        if self.transport is None:
            return
        self.closed = True
        self.server.connections.discard(self)
        if self.task is not None:
            self.task.cancel()
        if abort:
            self.transport.abort()
        else:
            self.transport.close()


class TcpServer:
    """The listening socket and its connections; ``answer(unit, pdu)`` serves each request."""

    def __init__(
        self, handler: Handler, limits: ModbusLimits, *, url: Callable[[], str], access: Access | None = None
    ) -> None:
        self.handler = handler
        self.access = access  # allow-list, read-only, TLS roles (hil.protocols.modbus.tls)
        self.limits = limits
        self._url = url
        self.stats = ModbusStats()
        self.connections: set[_Connection] = set()
        self.loop = asyncio.get_running_loop()
        self.log_refused = RateLimitedLog(log, logging.WARNING)
        self.log_malformed = RateLimitedLog(log, logging.WARNING)
        self.log_closed = RateLimitedLog(log, logging.INFO)
        self.log_error = RateLimitedLog(log, logging.ERROR)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return self._url()

    async def start(self, host: str, port: int, *, ssl: SSLContext | None = None) -> int:
        """Listen (over TLS with ``ssl``); return the bound port. OSError when the address is taken."""
        self._server = await self.loop.create_server(lambda: _Connection(self), host, port, ssl=ssl)
        self._schedule_sweep()
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        server, self._server = self._server, None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if server is None:
            return
        server.close()
        self.drop(log_it=False)
        await server.wait_closed()

    def drop(self, *, log_it: bool = True) -> int:
        """Abort every open connection; return how many there were."""
        conns = list(self.connections)
        for c in conns:
            c.close(abort=True)
        return len(conns)

    def answer(self, unit: int, pdu: bytes) -> Answer:
        try:
            return self.handler(unit, pdu)
        except Exception:
            return self._failed(pdu)

    def call(self, then: Callable[[], bytes | None]) -> bytes | None:
        try:
            return then()
        except Exception:
            return self._failed(b"\x00")

    def _failed(self, pdu: bytes) -> bytes:
        self.stats.errors += 1
        self.log_error("modbus %s: request %s failed", self.url, pdu[:8].hex(), exc_info=True)
        return bytes(((pdu[0] | 0x80) & 0xFF, 0x04))

    # -- idle and slow clients ------------------------------------------------------------------
    def _schedule_sweep(self) -> None:
        lim = self.limits
        interval = min(1.0, max(0.02, min(lim.idle_timeout_s, lim.frame_timeout_s) / 4))
        self._sweeper = self.loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        lim = self.limits
        for c in list(self.connections):
            if c.busy:
                continue
            if c.partial_since is not None and now - c.partial_since > lim.frame_timeout_s:
                self.stats.slow_closed += 1
                self.log_closed(
                    "modbus %s: %s sent part of a request %.1f s ago and not the rest: closed",
                    self.url,
                    c.peer,
                    now - c.partial_since,
                )
                c.close()
            elif now - c.last_active > lim.idle_timeout_s:
                self.stats.idle_closed += 1
                self.log_closed(
                    "modbus %s: %s idle for %.1f s: closed", self.url, c.peer, now - c.last_active
                )
                c.close()
        if self._server is not None:
            self._schedule_sweep()
