"""The OPC UA endpoint: the gateway's devices as a browsable, self-describing address space.

This is the only module that imports ``asyncua`` (pinned to a minor range in ``pyproject.toml``;
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
  device; combine with :meth:`Gateway.freeze <hil.gateway.Gateway.freeze>` for a last-known
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
import difflib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import numpy as np
from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import AttributeValue

from . import opcua_guard
from .endpoints import OpcUaLimits
from .gateway import Device, Gateway, KindGroup, PointInstance, WriteStatus
from .opcua_security import apply_security
from .opcua_values import BatchValues, batchable
from .security import OpcUaSecurity
from .sunspec import TYPES, usable_range

__all__ = ["SIM_EPOCH", "OpcUaEndpoint"]

_log = logging.getLogger(__name__)

#: SourceTimestamp of simulated time t = 0.
SIM_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
DIMENSIONLESS = ("C62", "1")  # UNECE "one": for scaled values without a SunSpec unit (PF)

#: Points whose bits are device alarms and warnings, published as events.
ALARM_POINTS = frozenset({"Alrm", "Evt1", "Evt2", "Evt"})
SEVERITY_ALARM = 700
SEVERITY_WARNING = 400

_STATUS = {
    WriteStatus.OK: ua.StatusCodes.Good,
    WriteStatus.NOT_WRITABLE: ua.StatusCodes.BadNotWritable,
    WriteStatus.NO_SUCH_POINT: ua.StatusCodes.BadNodeIdUnknown,
    WriteStatus.OUT_OF_RANGE: ua.StatusCodes.BadOutOfRange,
    WriteStatus.TYPE_MISMATCH: ua.StatusCodes.BadTypeMismatch,
    WriteStatus.LOCAL_CONTROL: ua.StatusCodes.BadUserAccessDenied,
}

_GOOD = ua.StatusCode(ua.StatusCodes.Good)
_ADMIN = User(role=UserRole.Admin)  # AttributeService.write's default caller
_NO_DATA = ua.StatusCode(ua.StatusCodes.BadNoData)

_METHODS = {"start": "Start", "stop": "Stop", "alarm_reset": "AlarmReset"}

_INT_TYPES = {  # (words, signed) -> variant type
    (1, False): ua.VariantType.UInt16,
    (1, True): ua.VariantType.Int16,
    (2, False): ua.VariantType.UInt32,
    (2, True): ua.VariantType.Int32,
    (4, False): ua.VariantType.UInt64,
    (4, True): ua.VariantType.Int64,
}

_DATATYPES = {
    ua.VariantType.Double: ua.ObjectIds.Double,
    ua.VariantType.Float: ua.ObjectIds.Float,
    ua.VariantType.String: ua.ObjectIds.String,
    ua.VariantType.UInt16: ua.ObjectIds.UInt16,
    ua.VariantType.Int16: ua.ObjectIds.Int16,
    ua.VariantType.UInt32: ua.ObjectIds.UInt32,
    ua.VariantType.Int32: ua.ObjectIds.Int32,
    ua.VariantType.UInt64: ua.ObjectIds.UInt64,
    ua.VariantType.Int64: ua.ObjectIds.Int64,
}


def status_code(name: str, family: str = "") -> int:
    """The OPC UA StatusCode named ``name`` (``"BadDeviceFailure"``), which must start with
    ``family`` (``"Bad"``, ``"Uncertain"`` or ``""`` for any); ValueError with a did-you-mean."""
    code = getattr(ua.StatusCodes, name, None) if not name.startswith("_") else None
    if not isinstance(code, int) or not name.startswith(family):
        names = [n for n in vars(ua.StatusCodes) if not n.startswith("_") and n.startswith(family)]
        hint = difflib.get_close_matches(name, names, n=1)
        did = f"; did you mean {hint[0]!r}?" if hint else ""
        what = f"{family} status code" if family else "status code"
        raise ValueError(f"unknown OPC UA {what} {name!r}{did}")
    return code


def unece_unit_id(code: str) -> int:
    """OPC UA Part 8 §5.6.3: the UnitId of a UNECE common code ("WTT" -> 5723220)."""
    unit_id = 0
    for c in code.upper():
        unit_id = (unit_id << 8) | ord(c)
    return unit_id


def variant_type(p: PointInstance) -> ua.VariantType:
    """The DataType a point is served with (see the module docstring)."""
    t = p.pdef.type
    if t == "string":
        return ua.VariantType.String
    if is_analog(p):
        return ua.VariantType.Double
    if t == "float32":
        return ua.VariantType.Float
    info = TYPES[t]
    return _INT_TYPES[(info.words, info.signed)]


def is_analog(p: PointInstance) -> bool:
    """A measured or set quantity: a number with a unit or a scale factor."""
    t = p.pdef.type
    if t in ("string", "sunssf", "pad") or t.startswith(("enum", "bitfield")):
        return False
    return bool(p.pdef.units) or p.pdef.sf is not None or t == "float32"


class _Value(ua.DataValue):
    """A DataValue this module never changes once it is made (every update makes a new one).

    asyncua's monitored items deep-copy each value they are given, to guard against later
    in-place changes; with one subscription on every node that copy was ~90 % of the per-tick
    publish cost (aidc_10k: ~40 ms of ~45 ms). An immutable value can be shared instead."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> _Value:
        return self


def scalar_value(v: Any, vt: ua.VariantType, status: ua.StatusCode, src: datetime, now: datetime) -> _Value:
    """``_Value(ua.Variant(v, vt), StatusCode=status, SourceTimestamp=src, ServerTimestamp=now)``
    for a scalar ``v`` already of type ``vt``, without the dataclasses' ``__init__`` and
    ``__post_init__`` (which only infer what is given here: not an array, no dimensions):
    ≈ 0.5 µs instead of ≈ 2.3 µs, ≈ 2,000 times a publish on aidc_10k. A test holds the two
    equal, slot by slot and in their binary encoding, for every type the address space uses."""
    var = object.__new__(ua.Variant)
    var.Value = v
    var.VariantType = vt
    var.Dimensions = None
    var.is_array = False
    dv = object.__new__(_Value)
    dv.Encoding = 0
    dv.Value = var
    dv.StatusCode = status
    dv.SourceTimestamp = src
    dv.ServerTimestamp = now
    dv.SourcePicoseconds = None
    dv.ServerPicoseconds = None
    return dv


@dataclass(eq=False)
class _Var:
    """One served point: where it lives in the twin and in the address space."""

    index: int
    device: Device
    point: PointInstance
    nodeid: ua.NodeId
    vtype: ua.VariantType
    attr: AttributeValue | None = None  # the node's Value attribute, for the per-tick fast path
    alarm: bool = False
    last_bits: int = 0


@dataclass
class _Watch:
    """Change detection for one device kind: the register image as last published."""

    group: KindGroup
    prev: np.ndarray
    var_of: np.ndarray  # (instance, point column) -> variable index or -1
    alarm_vars: np.ndarray  # variable indices of this kind's alarm points


@dataclass
class PublishStats:
    """What the last :meth:`OpcUaEndpoint.publish` did (for benchmarks and logs)."""

    nodes: int = 0
    events: int = 0
    seconds: float = 0.0
    total_nodes: int = 0
    total_events: int = 0
    history: list[float] = field(default_factory=list)


class OpcUaEndpoint:
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
        # access control (hil.opcua_security); default: the gateway's endpoints: configuration
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
        self._vars: list[_Var] = []
        self._by_nodeid: dict[ua.NodeId, _Var] = {}
        self._by_point: dict[tuple[str, str], _Var] = {}
        self._device_nodes: dict[str, ua.NodeId] = {}
        self._watches: list[_Watch] = []
        self._dirty = np.empty(0)  # per variable: simulated time of its last unpublished change, or NaN
        self._batch = BatchValues([])  # the numeric variables decoded in one go (hil.opcua_values)
        self._events: list[tuple[float, _Var, str, bool]] = []  # t, variable, symbol, raised
        self.event_type: ua.NodeId | None = None  # DeviceAlarmEventType, once started
        self._evgens: dict[str, Any] = {}
        self._server_evgen: Any = None
        self._orig_write: Callable[..., Coroutine[Any, Any, list[ua.StatusCode]]] | None = None
        self._ts_cache: tuple[float, datetime] = (math.nan, epoch)
        self._status: dict[str, ua.StatusCode] = {}  # device name -> status it is published with
        self._stalled = False

    # -- names ---------------------------------------------------------------------------
    def node_path(self, device: Device, point: PointInstance | None = None) -> str:
        """The dotted browse path that is also the string NodeId."""
        parts = [self.site_name, device.area, device.name]
        if point is not None:
            parts += point.browse
        return ".".join(parts)

    def nodeid(self, device: Device, point: PointInstance | None = None) -> ua.NodeId:
        return ua.NodeId(self.node_path(device, point), self.namespace_index)

    def source_time(self, t: float) -> datetime:
        """The SourceTimestamp of simulated time ``t`` seconds."""
        if t != self._ts_cache[0]:
            self._ts_cache = (t, self.epoch + timedelta(seconds=t))
        return self._ts_cache[1]

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
    async def _build(self) -> None:
        assert self.server is not None
        server = self.server
        idx = self.namespace_index
        items: list[ua.AddNodesItem] = []
        now = datetime.now(UTC)
        src = self.source_time(self.gw.snapshot.t)
        min_interval = float(self.gw.site.dt) * 1000.0
        containers: set[str] = set()

        def qn(name: str) -> ua.QualifiedName:
            return ua.QualifiedName(name, idx)

        def container(path: str, parent: ua.NodeId, name: str, *, folder: bool = True) -> ua.NodeId:
            nid = ua.NodeId(path, idx)
            if path not in containers:
                containers.add(path)
                items.append(_object_item(nid, parent, qn(name), folder=folder))
            return nid

        objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
        site = container(self.site_name, objects, self.site_name)
        for dev in self.gw.devices:
            area = container(f"{self.site_name}.{dev.area}", site, dev.area)
            dpath = self.node_path(dev)
            dnode = container(dpath, area, dev.name, folder=False)
            self._device_nodes[dev.name] = dnode
            for name, vtype, value in self._identification(dev):
                items.append(
                    _property_item(ua.NodeId(f"{dpath}.{name}", idx), dnode, qn(name), value, vtype, src, now)
                )
            for p in dev.points:
                if not p.implemented or p.pdef.type == "sunssf":
                    continue
                parent = dnode
                for depth in range(1, len(p.browse)):
                    cpath = ".".join((dpath, *p.browse[:depth]))
                    parent = container(cpath, parent, p.browse[depth - 1])
                var = _Var(len(self._vars), dev, p, ua.NodeId(self.node_path(dev, p), idx), variant_type(p))
                var.alarm = (
                    p.pdef.type.startswith("bitfield")
                    and bool(p.pdef.symbols)
                    and p.pdef.name in ALARM_POINTS
                )
                if var.alarm:
                    bits = dev.value(p)
                    var.last_bits = int(bits) if isinstance(bits, int) else 0
                self._vars.append(var)
                self._by_nodeid[var.nodeid] = var
                self._by_point[(dev.name, p.key)] = var
                items += self._variable_items(var, parent, src, now, min_interval)
        results = server.iserver.node_mgt_service.add_nodes(items)
        bad = [
            (it.RequestedNewNodeId, r.StatusCode)
            for it, r in zip(items, results, strict=True)
            if r.StatusCode.is_bad()
        ]
        if bad:
            raise RuntimeError(f"OPC UA address space: {len(bad)} nodes not added, first {bad[0]}")
        aspace = server.iserver.aspace
        for var in self._vars:  # the first values, with their timestamps and status
            var.attr = aspace[var.nodeid].attributes[ua.AttributeIds.Value]
            var.attr.value = self._datavalue(var, var.device.value(var.point), src, now)
        await self._add_methods()
        await self._add_events()
        self._dirty = np.full(len(self._vars), np.nan)
        float_types = (ua.VariantType.Double, ua.VariantType.Float)
        self._batch = BatchValues(
            [(v.index, v.device, v.point) for v in self._vars if batchable(v.point, v.vtype in float_types)]
        )
        for grp in self.gw.groups.values():
            var_of = np.full((grp.n, len(grp.points)), -1, dtype=np.int64)
            alarms = []
            for v in self._vars:
                if v.device.group is grp:
                    var_of[v.device.index, v.point.col] = v.index
                    if v.alarm:
                        alarms.append(v.index)
            self._watches.append(_Watch(grp, grp.image.copy(), var_of, np.asarray(alarms, dtype=np.int64)))

    def _identification(self, dev: Device) -> list[tuple[str, ua.VariantType, Any]]:
        def text(key: str) -> str:
            p = dev.group.by_key.get(key)
            v = dev.value(p) if p is not None and p.implemented else None
            return "" if v is None else str(v)

        return [
            ("Manufacturer", ua.VariantType.LocalizedText, ua.LocalizedText(text("1.Mn"))),
            ("Model", ua.VariantType.LocalizedText, ua.LocalizedText(text("1.Md"))),
            ("SerialNumber", ua.VariantType.String, text("1.SN")),
            ("SoftwareRevision", ua.VariantType.String, text("1.Vr")),
            ("UnitId", ua.VariantType.UInt16, int(dev.unit_id)),
        ]

    def _variable_items(
        self, var: _Var, parent: ua.NodeId, src: datetime, now: datetime, min_interval: float
    ) -> list[ua.AddNodesItem]:
        p, dev = var.point, var.device
        idx = self.namespace_index
        analog = var.vtype is ua.VariantType.Double
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(p.name)
        attrs.Description = ua.LocalizedText(_description(p))
        attrs.DataType = ua.NodeId(_DATATYPES[var.vtype])
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.Value = self._datavalue(var, dev.value(p), src, now).Value
        access = ua.AccessLevel.CurrentRead.mask
        if p.writable:
            access |= ua.AccessLevel.CurrentWrite.mask
        attrs.AccessLevel = access
        attrs.UserAccessLevel = access
        attrs.WriteMask = 0
        attrs.UserWriteMask = 0
        attrs.Historizing = False
        attrs.MinimumSamplingInterval = min_interval
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = var.nodeid
        item.BrowseName = ua.QualifiedName(p.name, idx)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
        item.TypeDefinition = ua.NodeId(
            ua.ObjectIds.AnalogItemType if analog else ua.ObjectIds.BaseDataVariableType
        )
        item.NodeAttributes = attrs
        out = [item]
        if analog:
            code, display = p.unit_code() or DIMENSIONLESS
            eu = ua.EUInformation(
                NamespaceUri=UNECE_NAMESPACE,
                UnitId=unece_unit_id(code),
                DisplayName=ua.LocalizedText(display),
                Description=ua.LocalizedText(p.pdef.units or "dimensionless"),
            )
            lo, hi = self.eu_range(dev, p)
            path = str(var.nodeid.Identifier)
            out.append(
                _property_item(
                    ua.NodeId(f"{path}.EngineeringUnits", idx),
                    var.nodeid,
                    ua.QualifiedName("EngineeringUnits", 0),
                    eu,
                    ua.VariantType.ExtensionObject,
                    src,
                    now,
                    datatype=ua.ObjectIds.EUInformation,
                )
            )
            out.append(
                _property_item(
                    ua.NodeId(f"{path}.EURange", idx),
                    var.nodeid,
                    ua.QualifiedName("EURange", 0),
                    ua.Range(lo, hi),
                    ua.VariantType.ExtensionObject,
                    src,
                    now,
                    datatype=ua.ObjectIds.Range,
                )
            )
        return out

    def eu_range(self, dev: Device, p: PointInstance) -> tuple[float, float]:
        """EURange: a setpoint's write range, clipped to what its register can hold."""
        t = p.pdef.type
        scale = 10.0 ** dev.sf_of(p)
        tlo, thi = usable_range(t)
        lo, hi = tlo * scale, thi * scale
        if p.writable:
            rng = dev.group.ranges.get(p.path)
            if rng is not None:
                wlo, whi = float(rng[0][dev.index]), float(rng[1][dev.index])
                lo = max(lo, wlo) if math.isfinite(wlo) else lo
                hi = min(hi, whi) if math.isfinite(whi) else hi
        return float(lo), float(hi)

    async def _add_methods(self) -> None:
        assert self.server is not None
        idx = self.namespace_index
        items: list[ua.AddNodesItem] = []
        calls: list[tuple[ua.NodeId, Callable[..., Coroutine[Any, Any, ua.StatusCode]]]] = []
        for dev in self.gw.devices:
            for command in dev.group.behaviour.commands:
                name = _METHODS.get(command, command)
                nid = ua.NodeId(f"{self.node_path(dev)}.{name}", idx)
                attrs = ua.MethodAttributes()
                attrs.DisplayName = ua.LocalizedText(name)
                attrs.Description = ua.LocalizedText(
                    f"{command.replace('_', ' ')} (SunSpec {_command_point(dev, command)})"
                )
                attrs.Executable = True
                attrs.UserExecutable = True
                attrs.WriteMask = 0
                attrs.UserWriteMask = 0
                item = ua.AddNodesItem()
                item.RequestedNewNodeId = nid
                item.BrowseName = ua.QualifiedName(name, idx)
                item.NodeClass = ua.NodeClass.Method
                item.ParentNodeId = self._device_nodes[dev.name]
                item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
                item.NodeAttributes = attrs
                items.append(item)
                calls.append((nid, self._method(dev, command)))
        iserver = self.server.iserver
        for r in iserver.node_mgt_service.add_nodes(items):
            r.StatusCode.check()
        for nid, fn in calls:
            iserver.aspace.add_method_callback(nid, fn)

    def _method(self, dev: Device, command: str) -> Callable[..., Coroutine[Any, Any, ua.StatusCode]]:
        # an async callback runs on the event loop (asyncua runs plain functions in a thread pool)
        owner = self._device_nodes[dev.name]

        async def call(parent: ua.NodeId, *args: Any) -> ua.StatusCode:
            # Part 4 §5.11.2: the method must be a component of the ObjectId it is called on
            if parent != owner:
                return ua.StatusCode(ua.StatusCodes.BadMethodInvalid)
            if args:
                return ua.StatusCode(ua.StatusCodes.BadTooManyArguments)
            status = self.gw.command(dev, command)
            if status is WriteStatus.OK:
                spec = dev.group.behaviour.commands[command]
                var = self._by_point.get((dev.name, spec[0]))
                if var is not None:
                    await self._refresh(var)
            return ua.StatusCode(_STATUS[status])

        return call

    async def _add_events(self) -> None:
        assert self.server is not None
        server = self.server
        etype = await server.create_custom_event_type(
            self.namespace_index,
            "DeviceAlarmEventType",
            ua.ObjectIds.BaseEventType,
            [
                ("Point", ua.VariantType.String),
                ("Symbol", ua.VariantType.String),
                ("Active", ua.VariantType.Boolean),
            ],
        )
        with_alarms = sorted({v.device.name for v in self._vars if v.alarm})
        for name in with_alarms:
            self._evgens[name] = await server.get_event_generator(etype, self._device_nodes[name])
        self._server_evgen = await server.get_event_generator(etype, ua.ObjectIds.Server)
        self.event_type = etype.nodeid

    # -- per tick ------------------------------------------------------------------------
    def _on_tick(self, gw: Gateway) -> None:
        """Gateway callback after every step: note which variables changed (no I/O here)."""
        t = float(gw.snapshot.t)
        for w in self._watches:
            img = w.group.image
            diff = img != w.prev
            if not diff.any():
                continue
            ii, oo = np.nonzero(diff)
            cols = w.group.owner[oo]
            keep = cols >= 0
            vids = w.var_of[ii[keep], cols[keep]]
            vids = vids[vids >= 0]
            self._dirty[vids] = t
            np.copyto(w.prev, img)
            if w.alarm_vars.size:
                for k in np.intersect1d(vids, w.alarm_vars).tolist():
                    self._diff_alarm(self._vars[k], t)

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
                await self._set(var, self._datavalue(var, value, self.source_time(t), now))
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
                SourceTimestamp=src,
                ServerTimestamp=now,
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
        self._status[dev.name] = ua.StatusCode(status_code(status))
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
            hint = difflib.get_close_matches(name, list(self.gw.by_name), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
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
        return [r if r is not None else ua.StatusCode(ua.StatusCodes.BadInternalError) for r in results]

    async def _write_one(self, wv: ua.WriteValue) -> ua.StatusCode:
        assert self.server is not None
        var = self._by_nodeid.get(wv.NodeId)
        if var is None:
            known = wv.NodeId in self.server.iserver.aspace
            return ua.StatusCode(ua.StatusCodes.BadNotWritable if known else ua.StatusCodes.BadNodeIdUnknown)
        if wv.AttributeId != ua.AttributeIds.Value or not var.point.writable:
            return ua.StatusCode(ua.StatusCodes.BadNotWritable)
        if wv.IndexRange:
            return ua.StatusCode(ua.StatusCodes.BadWriteNotSupported)
        dv = wv.Value
        variant = dv.Value if dv is not None else None
        if dv is None or variant is None or (dv.StatusCode is not None and not dv.StatusCode.is_good()):
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        if variant.is_array or variant.Value is None:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        value = exact_value(variant, var.vtype)
        if value is None:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        status = self.gw.write_value(var.device, var.point.key, value)
        if status is WriteStatus.OK:
            await self._refresh(var)
        return ua.StatusCode(_STATUS[status])


#: the integer DataTypes and their ranges
_INT_RANGES = {
    ua.VariantType.SByte: (-(2**7), 2**7 - 1),
    ua.VariantType.Byte: (0, 2**8 - 1),
    ua.VariantType.Int16: (-(2**15), 2**15 - 1),
    ua.VariantType.UInt16: (0, 2**16 - 1),
    ua.VariantType.Int32: (-(2**31), 2**31 - 1),
    ua.VariantType.UInt32: (0, 2**32 - 1),
    ua.VariantType.Int64: (-(2**63), 2**63 - 1),
    ua.VariantType.UInt64: (0, 2**64 - 1),
}
_FLOATS = (ua.VariantType.Double, ua.VariantType.Float)


def exact_value(variant: ua.Variant, target: ua.VariantType) -> Any:
    """The value of a written ``variant`` for a variable of DataType ``target``, or None when
    it does not convert exactly: a client may write an Int32 to a Double setpoint (Modbus
    serves it as an int32) or 3.0 to a UInt16 enum, but never 2.5 to an integer or 2**60 to a
    Double (not exact). Same type: the value as is."""
    vt, v = variant.VariantType, variant.Value
    if vt == target:
        return v
    if isinstance(v, bool) or (vt not in _INT_RANGES and vt not in _FLOATS):
        return None
    if target in _FLOATS:
        if vt in _FLOATS:
            return float(v) if target is ua.VariantType.Double or vt is ua.VariantType.Float else None
        f = float(v)
        return f if int(f) == v and (target is ua.VariantType.Double or abs(v) <= 2**24) else None
    rng = _INT_RANGES.get(target)
    if rng is None:
        return None
    if vt in _FLOATS:
        if not math.isfinite(v) or v != int(v):
            return None
        v = int(v)
    return v if rng[0] <= v <= rng[1] else None


def _object_item(
    nid: ua.NodeId, parent: ua.NodeId, name: ua.QualifiedName, *, folder: bool
) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name.Name)
    attrs.Description = ua.LocalizedText(name.Name)
    attrs.EventNotifier = 0
    attrs.WriteMask = 0
    attrs.UserWriteMask = 0
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nid
    item.BrowseName = name
    item.NodeClass = ua.NodeClass.Object
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.Organizes)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.FolderType if folder else ua.ObjectIds.BaseObjectType)
    item.NodeAttributes = attrs
    return item


def _property_item(
    nid: ua.NodeId,
    parent: ua.NodeId,
    name: ua.QualifiedName,
    value: Any,
    vtype: ua.VariantType,
    src: datetime,
    now: datetime,
    *,
    datatype: int | None = None,
) -> ua.AddNodesItem:
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name.Name)
    attrs.Description = ua.LocalizedText(name.Name)
    attrs.DataType = ua.NodeId(datatype if datatype is not None else _DATATYPES.get(vtype, vtype.value))
    attrs.Value = ua.Variant(value, vtype)
    attrs.ValueRank = ua.ValueRank.Scalar
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.WriteMask = 0
    attrs.UserWriteMask = 0
    attrs.Historizing = False
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nid
    item.BrowseName = name
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
    item.NodeAttributes = attrs
    return item


def _description(p: PointInstance) -> str:
    d = p.pdef
    text = d.label or d.name
    if d.desc and d.desc != d.label:
        text = f"{text}: {d.desc}"
    if d.symbols:
        what = "bits" if d.type.startswith("bitfield") else "values"
        listed = ", ".join(f"{v}={k}" for k, v in sorted(d.symbols.items(), key=lambda kv: kv[1]))
        text = f"{text} [{what}: {listed}]"
    return f"{text} (SunSpec {p.key})"


def _command_point(dev: Device, command: str) -> str:
    key, value = dev.group.behaviour.commands[command]
    return f"{key} = {value:g}" if isinstance(value, (int, float)) else key
