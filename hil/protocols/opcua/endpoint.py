"""The OPC UA endpoint: the gateway's devices as a browsable, self-describing address space.

With ``opcua_nodes.py`` (data types, values, node items), ``opcua_space.py`` (building the
address space), ``opcua_guard.py`` (limits) and ``opcua_security.py``, the only modules that
import ``asyncua`` (pinned to a minor range in ``pyproject.toml``;
``tests/integration/test_opcua.py`` drives it with asyncua's client and with node-opcua).

Address space (``shared/protocols.md`` §3.1), generated from the gateway::

    Objects/<site>/<area>/<device>/<model>[/<group>_k]/<point>

* namespace URI ``urn:aidc-hil:<site>``; string NodeIds equal to the dotted browse path,
  ``ns=<idx>;s=lab_rack.BESS.PCS01.DERMeasureAC.W``. Look the index up by URI.
* BrowseNames are the SunSpec point names, so one mapping file serves Modbus and OPC UA.
  Only implemented points are variables; scale factors are not (values are already scaled).
* Every device carries DI-style properties (Manufacturer, Model, SerialNumber,
  SoftwareRevision from SunSpec model 1, and its Modbus UnitId) and, when its kind has
  commands, the methods Start, Stop and AlarmReset.
* Measured and set values with a unit or a scale factor are ``AnalogItemType`` variables of
  DataType Double with ``EngineeringUnits`` (UNECE code) and ``EURange`` (the write range for
  setpoints, the register type's range otherwise). Enumerations, bitfields and plain counters
  are UInt16/UInt32 (Int… for signed) with their symbols in the Description; strings are String.
  A value the device reports as not implemented (SunSpec's NI value) reads as ``BadNoData``.
* Only setpoints are writable. A client write is validated by :meth:`Gateway.write_value`
  before anything changes; refusals map to BadNotWritable, BadOutOfRange, BadTypeMismatch and
  BadUserAccessDenied (device in local control). The written variant must have the node's
  DataType exactly.
* Alarm bitfields (701 ``Alrm``, 802 ``Evt1``, …) raise one ``DeviceAlarmEventType`` event per
  bit that is raised or cleared, emitted by the device object and by the Server object.

Time: the twin's simulated time is published as SourceTimestamp = ``epoch + t`` (default epoch
2026-01-01T00:00:00Z, :data:`SIM_EPOCH`); ServerTimestamp is the wall clock. Values are updated
once per tick (``site.dt``, 100 ms by default), which is also each variable's
MinimumSamplingInterval. Only variables whose registers changed during the tick are rewritten.

Faults (for :mod:`hil.faults`; each logged at INFO when set and cleared, free while unused;
both take effect at the next :meth:`OpcUaEndpoint.publish`, i.e. the next tick):

* :meth:`OpcUaEndpoint.set_status` / :meth:`OpcUaEndpoint.clear_status`: every variable of one
  device is published with the given StatusCode (``BadCommunicationError``,
  ``BadDeviceFailure``, ``UncertainLastUsableValue``, ...) and its value kept: a client reads
  and is notified of the status change, the Value is still there (and keeps following the
  device; combine with :meth:`Gateway.freeze <hil.wire.gateway.Gateway.freeze>` for a last-known
  value). Clearing republishes Good with the current values.
* :meth:`OpcUaEndpoint.stall`: a stalled subscription. ``publish()`` pushes nothing, so clients
  get no data-change notifications and no alarm events, and reads return the last published
  values; un-stalled, the next ``publish()`` catches up with every node that changed meanwhile
  (each once, with its latest value and the time of its last change) and the queued events.

Register-level faults (frozen devices, stuck or biased points) live in the gateway and reach
OPC UA through the register image like any other change.

Usage (the serve loop awaits :meth:`OpcUaEndpoint.publish` after each gateway step)::

    ep = OpcUaEndpoint(gw, port=0)
    await ep.start()          # builds the address space, binds, ep.url has the real port
    gw.step(); await ep.publish()
    await ep.stop()
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import numpy as np
from asyncua import Server, ua
from asyncua.crypto.permission_rules import User

from hil.wire.gateway import Device, Gateway, PointInstance, WriteStatus

from ...endpoints import OpcUaLimits
from ...errors import did_you_mean
from ...security import OpcUaSecurity
from . import guard as opcua_guard
from .nodes import (  # re-exported: the names this module has always had
    _ADMIN,
    _GOOD,
    _NO_DATA,
    _STATUS,
    ALARM_POINTS,
    SEVERITY_ALARM,
    SEVERITY_WARNING,
    UNECE_NAMESPACE,
    _Value,
    _Var,
    exact_value,
    is_analog,
    scalar_value,
    status_code,
    unece_unit_id,
    variant_type,
)
from .security import apply_security
from .space import AddressSpace
from .ua_types import ua_status
from .values import mark_changes

__all__ = [
    "ALARM_POINTS",
    "SIM_EPOCH",
    "UNECE_NAMESPACE",
    "OpcUaEndpoint",
    "exact_value",
    "is_analog",
    "scalar_value",
    "status_code",
    "unece_unit_id",
    "variant_type",
]

_log = logging.getLogger(__name__)

#: SourceTimestamp of simulated time t = 0.
SIM_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class PublishStats:
    """What the last :meth:`OpcUaEndpoint.publish` did (for benchmarks and logs)."""

    nodes: int = 0
    events: int = 0
    seconds: float = 0.0
    total_nodes: int = 0
    total_events: int = 0
    history: list[float] = field(default_factory=list)


class OpcUaEndpoint(AddressSpace):
    """An asyncua server that serves one :class:`Gateway`."""

    def __init__(
        self,
        gateway: Gateway,
        *,
        host: str = "127.0.0.1",
        port: int = 4840,
        epoch: datetime = SIM_EPOCH,
        keep_history: bool = False,
        path: str = "/",
        limits: OpcUaLimits | None = None,
        security: OpcUaSecurity | None = None,
    ) -> None:
        self.gw = gateway
        # access control (hil.protocols.opcua.security); default: the gateway's endpoints: configuration
        self.security = (
            security or getattr(gateway.endpoint_config, "opcua_security", None) or OpcUaSecurity()
        )
        self.host = host
        self.port = port
        self.path = "/" + path.strip("/")  # the URL is opc.tcp://host:port/path
        self.limits = limits or OpcUaLimits()
        self.epoch = epoch
        self.site_name = str(gateway.site.params.name)
        self.namespace_uri = f"urn:aidc-hil:{self.site_name}"
        self.namespace_index = -1
        self.server: Server | None = None
        self.url = ""
        self.stats = PublishStats()
        self._keep_history = keep_history
        super().__init__()  # the address space's tables, filled at start-up
        self._events: list[tuple[float, _Var, str, bool]] = []  # t, variable, symbol, raised
        self._orig_write: Callable[..., Coroutine[Any, Any, list[ua.StatusCode]]] | None = None
        self._status: dict[str, ua.StatusCode] = {}  # device name -> status it is published with
        self._stalled = False

    @property
    def variable_count(self) -> int:
        return len(self._vars)

    def variables(self) -> list[tuple[Device, PointInstance, str]]:
        """Every served point with its NodeId string."""
        return [(v.device, v.point, str(v.nodeid.Identifier)) for v in self._vars]

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Build the address space and start listening (``Server.init`` blocks for ~1 s)."""
        if self.server is not None:
            raise RuntimeError("endpoint already started")
        server = opcua_guard.make_server(self.limits)
        self.server = server
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}{self.path}")
        server.set_server_name(f"aidc-hil {self.site_name}")
        try:
            await self._start(server)
        except BaseException:
            self.server = None
            with contextlib.suppress(Exception):
                await server.stop()
            raise
        self.gw.on_tick.append(self._on_tick)
        _log.info("OPC UA endpoint %s (namespace %s)", self.url, self.namespace_uri)

    async def _start(self, server: Server) -> None:
        await server.init()
        # policies, certificates, trust list, users and roles; the default offers only the open
        # endpoint and anonymous logins, so asyncua has nothing to warn about
        await apply_security(server, self.security)
        await server.set_application_uri(f"{self.namespace_uri}:server")
        self.namespace_index = await server.register_namespace(self.namespace_uri)
        t0 = time.perf_counter()
        await self._build()
        _log.info("OPC UA address space: %d variables in %.2f s", len(self._vars), time.perf_counter() - t0)
        attr_service = server.iserver.attribute_service
        self._orig_write = attr_service.write
        attr_service.write = self._write  # type: ignore[method-assign]
        await opcua_guard.apply_limits(server, self.limits)
        await server.start()
        bserver = server.bserver
        assert bserver is not None
        self.port = int(bserver.port)
        self.url = f"opc.tcp://{self.host}:{self.port}{self.path}"
        server.endpoint = urlparse(self.url)
        for edp in server.iserver.endpoints:  # advertise the bound port, not 0
            edp.EndpointUrl = self.url
            edp.Server.DiscoveryUrls = [self.url]

    async def stop(self) -> None:
        if self._on_tick in self.gw.on_tick:
            self.gw.on_tick.remove(self._on_tick)
        server, self.server = self.server, None
        if server is None:
            return
        if self._orig_write is not None:
            server.iserver.attribute_service.write = self._orig_write  # type: ignore[method-assign]
        await server.stop()

    async def __aenter__(self) -> OpcUaEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- address space -------------------------------------------------------------------
    # -- per tick ------------------------------------------------------------------------
    def _on_tick(self, gw: Gateway) -> None:
        """Gateway callback after every step: note which variables changed (no I/O here)."""
        t = float(gw.snapshot.t)
        for w in self._watches:
            g = w.group
            k = mark_changes(g.image, w.prev, g.owner, w.var_of, self._is_alarm, self._dirty, t, w.alarms_out)
            if k:
                for v in np.unique(w.alarms_out[:k]).tolist():
                    self._diff_alarm(self._vars[v], t)

    def _diff_alarm(self, var: _Var, t: float) -> None:
        v = var.device.value(var.point)
        bits = int(v) if isinstance(v, int) else 0
        old, var.last_bits = var.last_bits, bits
        changed = old ^ bits
        if not changed:
            return
        for symbol, bit in var.point.pdef.symbols.items():
            if changed >> bit & 1:
                self._events.append((t, var, symbol, bool(bits >> bit & 1)))

    async def publish(self) -> int:
        """Write every variable that changed since the last call, then fire alarm events.

        Returns the number of variables written. Await it after each gateway step."""
        if self._stalled:  # a stalled subscription: everything waits for the catch-up
            self.stats.nodes = self.stats.events = 0
            return 0
        t0 = time.perf_counter()
        dirty = self._dirty
        idx = np.flatnonzero(~np.isnan(dirty))
        n = int(idx.size)
        if n:
            times = dirty[idx].tolist()
            batch = self._batch.values(~np.isnan(dirty))
            dirty[idx] = np.nan
            now = datetime.now(UTC)
            vars_ = self._vars
            for k, t in zip(idx.tolist(), times, strict=True):
                var = vars_[k]
                value = batch[k] if k in batch else var.device.value(var.point)
                dv = self._datavalue(var, value, self.source_time(t), now)
                attr = var.attr
                if attr is not None and not attr.datachange_callbacks:
                    attr.value = dv  # nobody subscribed to it: no coroutine per variable
                else:
                    await self._set(var, dv)
        events, self._events = self._events, []
        for t, var, symbol, raised in events:
            await self._fire(t, var, symbol, raised)
        st = self.stats
        st.nodes, st.events, st.seconds = n, len(events), time.perf_counter() - t0
        st.total_nodes += n
        st.total_events += len(events)
        if self._keep_history:
            st.history.append(st.seconds)
        return n

    async def _set(self, var: _Var, dv: ua.DataValue) -> None:
        # The fast path of AddressSpace.write_attribute_value: the value is ours and already of
        # the node's type, so skip the lookups and the type check but notify subscriptions.
        attr = var.attr
        assert attr is not None
        attr.value = dv
        if attr.datachange_callbacks:
            for handle, callback in list(attr.datachange_callbacks.items()):
                try:
                    await callback(handle, dv)
                except Exception:  # a broken subscription must not stop the tick
                    _log.exception("OPC UA datachange callback failed for %s", var.nodeid)

    async def _refresh(self, var: _Var) -> None:
        """Publish one point now (after a write or a command) and mark it as published."""
        dev, p = var.device, var.point
        if self._stalled:  # published with the catch-up
            self._dirty[var.index] = float(self.gw.snapshot.t)
        else:
            await self._set(
                var,
                self._datavalue(var, dev.value(p), self.source_time(self.gw.snapshot.t), datetime.now(UTC)),
            )
        for w in self._watches:
            if w.group is dev.group:
                w.prev[dev.index, p.offset : p.offset + p.words] = w.group.image[
                    dev.index, p.offset : p.offset + p.words
                ]

    def _datavalue(self, var: _Var, value: Any, src: datetime, now: datetime) -> ua.DataValue:
        status = self._status.get(var.device.name) if self._status else None
        if value is None:  # SunSpec not-implemented value: no data, not a number
            return _Value(
                ua.Variant(None, ua.VariantType.Null),
                StatusCode=status or _NO_DATA,
                SourceTimestamp=src,  # type: ignore[arg-type]  # asyncua's DateTime: a NewType
                ServerTimestamp=now,  # type: ignore[arg-type]
            )
        vt = var.vtype
        if vt is ua.VariantType.Double or vt is ua.VariantType.Float:
            v: Any = float(value)
        elif vt is ua.VariantType.String:
            v = str(value)
        else:
            v = int(value)
        return scalar_value(v, vt, status or _GOOD, src, now)

    # -- faults (hil.faults) ---------------------------------------------------------------
    def set_status(self, device: str, status: str) -> None:
        """Publish every variable of ``device`` (a gateway device name, ``"PCS03"``) with the
        StatusCode named ``status`` (``"BadCommunicationError"``, ``"BadDeviceFailure"``,
        ``"UncertainLastUsableValue"``, ...), values kept, until :meth:`clear_status`; from the
        next :meth:`publish`. ValueError (with a did-you-mean) for an unknown device or name."""
        dev = self._device(device)
        self._status[dev.name] = ua_status(status_code(status))
        self._republish(dev)
        _log.info("fault: OPC UA %s published with status %s", dev.name, status)

    def clear_status(self, device: str) -> None:
        """Undo :meth:`set_status`: the next :meth:`publish` republishes the device's variables
        Good with their current values. No-op without a status fault."""
        dev = self._device(device)
        if self._status.pop(dev.name, None) is not None:
            self._republish(dev)
            _log.info("fault: OPC UA %s status cleared", dev.name)

    def stall(self, on: bool) -> None:
        """Stall (``True``) or resume (``False``) publishing: while stalled, :meth:`publish` pushes
        no values and no events; the first one after resuming catches up with every change."""
        on = bool(on)
        if on != self._stalled:
            self._stalled = on
            _log.info("fault: OPC UA publishing %s", "stalled" if on else "resumed")

    @property
    def stalled(self) -> bool:
        return self._stalled

    def statuses(self) -> dict[str, str]:
        """The status faults in force: device name -> StatusCode name."""
        return {name: sc.name for name, sc in self._status.items()}

    def _device(self, name: str) -> Device:
        dev = self.gw.by_name.get(name)
        if dev is None:
            did = did_you_mean(name, list(self.gw.by_name))
            raise ValueError(f"no device {name!r}{did}")
        return dev

    def _republish(self, dev: Device) -> None:
        """Mark every variable of ``dev`` for the next publish (with the current time)."""
        ids = [v.index for v in self._vars if v.device is dev]
        if ids:
            self._dirty[ids] = float(self.gw.snapshot.t)

    async def _fire(self, t: float, var: _Var, symbol: str, raised: bool) -> None:
        dev = var.device
        message = f"{dev.name}: {symbol} {'raised' if raised else 'cleared'}"
        severity = SEVERITY_WARNING if "WARNING" in symbol else SEVERITY_ALARM
        when = self.source_time(t)
        source = self._device_nodes[dev.name]
        for gen in (self._evgens.get(dev.name), self._server_evgen):
            if gen is None:
                continue
            ev = gen.event
            ev.SourceNode = source
            ev.SourceName = dev.name
            ev.Severity = severity
            ev.Point = var.point.key
            ev.Symbol = symbol
            ev.Active = raised
            await gen.trigger(time_attr=when, message=message)

    # -- client writes -------------------------------------------------------------------
    async def _write(self, params: ua.WriteParameters, user: User = _ADMIN) -> list[ua.StatusCode]:
        """Replaces ``AttributeService.write``: our nodes are validated by the gateway first."""
        assert self._orig_write is not None
        results: list[ua.StatusCode | None] = []
        others: list[tuple[int, ua.WriteValue]] = []
        for k, wv in enumerate(params.NodesToWrite):
            if wv.NodeId.NamespaceIndex != self.namespace_index:
                results.append(None)
                others.append((k, wv))
            else:
                results.append(await self._write_one(wv))
        if others:
            sub = ua.WriteParameters(NodesToWrite=[wv for _, wv in others])
            for (k, _), r in zip(others, await self._orig_write(sub, user), strict=True):
                results[k] = r
        return [r if r is not None else ua_status(ua.StatusCodes.BadInternalError) for r in results]

    async def _write_one(self, wv: ua.WriteValue) -> ua.StatusCode:
        assert self.server is not None
        var = self._by_nodeid.get(wv.NodeId)
        if var is None:
            known = wv.NodeId in self.server.iserver.aspace
            return ua_status(ua.StatusCodes.BadNotWritable if known else ua.StatusCodes.BadNodeIdUnknown)
        if wv.AttributeId != ua.AttributeIds.Value or not var.point.writable:
            return ua_status(ua.StatusCodes.BadNotWritable)
        if wv.IndexRange:
            return ua_status(ua.StatusCodes.BadWriteNotSupported)
        dv = wv.Value
        variant = dv.Value if dv is not None else None
        if dv is None or variant is None or (dv.StatusCode is not None and not dv.StatusCode.is_good()):
            return ua_status(ua.StatusCodes.BadTypeMismatch)
        if variant.is_array or variant.Value is None:
            return ua_status(ua.StatusCodes.BadTypeMismatch)
        value = exact_value(variant, var.vtype)
        if value is None:
            return ua_status(ua.StatusCodes.BadTypeMismatch)
        status = self.gw.write_value(var.device, var.point.key, value)
        if status is WriteStatus.OK:
            await self._refresh(var)
        return ua_status(_STATUS[status])


#: the integer DataTypes and their ranges
