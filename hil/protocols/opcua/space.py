"""The OPC UA address space built from the gateway: folders, device objects with their
identification properties, one variable per implemented point (with EngineeringUnits and
EURange for analog values), the Start/Stop/AlarmReset methods and the alarm event type.

The base of :class:`hil.protocols.opcua.endpoint.OpcUaEndpoint` (split from that module along
its seams): it owns the tables the per-tick publish and the write handler read, and fills them once, at
start-up; the endpoint supplies how a value is published.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from asyncua import Server, ua

from hil.wire.gateway import Device, Gateway, PointInstance, WriteStatus
from hil.wire.sunspec import usable_range

from .nodes import (
    _DATATYPES,
    _METHODS,
    _STATUS,
    ALARM_POINTS,
    DIMENSIONLESS,
    UNECE_NAMESPACE,
    _command_point,
    _description,
    _object_item,
    _property_item,
    _Var,
    _Watch,
    unece_unit_id,
    variant_type,
)
from .ua_types import ua_node, ua_status
from .values import BatchValues, batchable

__all__ = ["AddressSpace"]


class AddressSpace(abc.ABC):
    """The address space of an endpoint: its tables (variables by index, NodeId and point;
    device objects; change watches; event generators), its names, and how they are built
    once at start-up.

    The endpoint (:class:`hil.protocols.opcua.endpoint.OpcUaEndpoint`) sets ``gw``, ``server``,
    ``namespace_index``, ``site_name`` and ``epoch``, and says how a value is published
    (:meth:`_datavalue`, :meth:`_refresh`)."""

    gw: Gateway
    server: Server | None
    namespace_index: int
    site_name: str
    epoch: datetime

    def __init__(self) -> None:
        self._vars: list[_Var] = []
        self._by_nodeid: dict[ua.NodeId, _Var] = {}
        self._by_point: dict[tuple[str, str], _Var] = {}
        self._device_nodes: dict[str, ua.NodeId] = {}
        self._watches: list[_Watch] = []
        self._dirty = np.empty(0)  # per variable: simulated time of its last unpublished change, or NaN
        self._is_alarm = np.zeros(0, dtype=bool)  # per variable: an alarm bitfield (events fire)
        self._batch = BatchValues([])  # the numeric variables decoded in one go (hil.protocols.opcua.values)
        self.event_type: ua.NodeId | None = None  # DeviceAlarmEventType, once started
        self._evgens: dict[str, Any] = {}
        self._server_evgen: Any = None
        self._ts_cache: tuple[float, datetime] = (math.nan, self.epoch)

    @abc.abstractmethod
    def _datavalue(self, var: _Var, value: Any, src: datetime, now: datetime) -> ua.DataValue:
        """The DataValue that publishes ``value`` (None: not implemented) of ``var``."""

    @abc.abstractmethod
    async def _refresh(self, var: _Var) -> None:
        """Publish one variable now (after a write or a command)."""

    # -- names ---------------------------------------------------------------------------
    def node_path(self, device: Device, point: PointInstance | None = None) -> str:
        """The dotted browse path that is also the string NodeId."""
        parts = [self.site_name, device.area, device.name]
        if point is not None:
            parts += point.browse
        return ".".join(parts)

    def nodeid(self, device: Device, point: PointInstance | None = None) -> ua.NodeId:
        return ua_node(self.node_path(device, point), self.namespace_index)

    def source_time(self, t: float) -> datetime:
        """The SourceTimestamp of simulated time ``t`` seconds."""
        if t != self._ts_cache[0]:
            self._ts_cache = (t, self.epoch + timedelta(seconds=t))
        return self._ts_cache[1]

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
            nid = ua_node(path, idx)
            if path not in containers:
                containers.add(path)
                items.append(_object_item(nid, parent, qn(name), folder=folder))
            return nid

        objects = ua_node(ua.ObjectIds.ObjectsFolder)
        site = container(self.site_name, objects, self.site_name)
        for dev in self.gw.devices:
            area = container(f"{self.site_name}.{dev.area}", site, dev.area)
            dpath = self.node_path(dev)
            dnode = container(dpath, area, dev.name, folder=False)
            self._device_nodes[dev.name] = dnode
            for name, vtype, value in self._identification(dev):
                items.append(
                    _property_item(ua_node(f"{dpath}.{name}", idx), dnode, qn(name), value, vtype, src, now)
                )
            for p in dev.points:
                if not p.implemented or p.pdef.type == "sunssf":
                    continue
                parent = dnode
                for depth in range(1, len(p.browse)):
                    cpath = ".".join((dpath, *p.browse[:depth]))
                    parent = container(cpath, parent, p.browse[depth - 1])
                var = _Var(len(self._vars), dev, p, ua_node(self.node_path(dev, p), idx), variant_type(p))
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
        self._is_alarm = np.array([v.alarm for v in self._vars], dtype=bool)
        for grp in self.gw.groups.values():
            var_of = np.full((grp.n, len(grp.points)), -1, dtype=np.int64)
            alarm_words = 0
            for v in self._vars:
                if v.device.group is grp:
                    var_of[v.device.index, v.point.col] = v.index
                    alarm_words += v.point.words if v.alarm else 0
            out = np.empty(max(alarm_words, 1), dtype=np.int64)
            self._watches.append(_Watch(grp, grp.image.copy(), var_of, out))

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
        attrs.DataType = ua_node(_DATATYPES[var.vtype])
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
        item.ReferenceTypeId = ua_node(ua.ObjectIds.HasComponent)
        item.TypeDefinition = ua_node(
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
                    ua_node(f"{path}.EngineeringUnits", idx),
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
                    ua_node(f"{path}.EURange", idx),
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
                nid = ua_node(f"{self.node_path(dev)}.{name}", idx)
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
                item.ReferenceTypeId = ua_node(ua.ObjectIds.HasComponent)
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
                return ua_status(ua.StatusCodes.BadMethodInvalid)
            if args:
                return ua_status(ua.StatusCodes.BadTooManyArguments)
            status = self.gw.command(dev, command)
            if status is WriteStatus.OK:
                spec = dev.group.behaviour.commands[command]
                var = self._by_point.get((dev.name, spec[0]))
                if var is not None:
                    await self._refresh(var)
            return ua_status(_STATUS[status])

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
