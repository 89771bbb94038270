"""Protocol faults: the device is fine, its communication is not (exceptions, delays,
stale values, dropped links, OPC UA status codes, a stalled subscription, the EMS link)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from twin.units import parse_duration

from ..protocols.opcua.nodes import status_code

if TYPE_CHECKING:
    pass

from .catalogue import Bench, Params, Targets, _modbus_eps, fault, log
from .sensor import PointParams, _Stuck

# -- protocol -----------------------------------------------------------------------------------
_ANY = ("bess", "pv", "genset", "meter", "site", "utility")


class ExceptionParams(Params):
    code: int = 4

    @field_validator("code")
    @classmethod
    def _c(cls, v: int) -> int:
        if v not in (1, 2, 3, 4, 5, 6, 8, 10, 11):
            raise ValueError(f"not a Modbus exception code: {v} (1-6, 8, 10, 11)")
        return v


@fault(
    "modbus_exception",
    layer="protocol",
    kinds=_ANY,
    params=ExceptionParams,
    summary="Every Modbus request to the device is answered with an exception code.",
    shows="Exception replies (04 SERVER DEVICE FAILURE, 06 BUSY, 0B gateway target failed...) "
    "on every function; OPC UA is unaffected.",
)
class _MbExc:
    @staticmethod
    def inject(b: Bench, t: Targets, p: ExceptionParams) -> None:
        for d in t:
            for ep in _modbus_eps(b, d):
                ep.set_unit_fault(d.unit_id, exception=p.code)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            for ep in _modbus_eps(b, d):
                ep.clear_unit_fault(d.unit_id)


class DelayParams(Params):
    delay: float = 2.0

    @field_validator("delay", mode="before")
    @classmethod
    def _d(cls, v: Any) -> float:
        return parse_duration(v)


@fault(
    "modbus_slow",
    layer="protocol",
    kinds=_ANY,
    params=DelayParams,
    summary="The device answers Modbus requests late (an overloaded gateway, a serial bridge).",
    shows="Correct answers after `delay`; a client with a shorter timeout sees timeouts and "
    "late answers to old transaction ids.",
)
class _MbSlow:
    @staticmethod
    def inject(b: Bench, t: Targets, p: DelayParams) -> None:
        for d in t:
            for ep in _modbus_eps(b, d):
                ep.set_unit_fault(d.unit_id, delay_s=p.delay)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        _MbExc.clear(b, t, p)


class DropParams(Params):
    every: float | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _d(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)


@fault(
    "modbus_drop",
    layer="protocol",
    kinds=_ANY,
    params=DropParams,
    summary="The Modbus TCP connections of the device's port are dropped (and again every `every`).",
    shows="A TCP reset / EOF mid-session; the server keeps listening, so a client that "
    "reconnects carries on.",
)
class _MbDrop:
    @staticmethod
    def inject(b: Bench, t: Targets, p: DropParams) -> None:
        for ep in {id(ep): ep for d in t for ep in _modbus_eps(b, d)}.values():
            n = ep.drop_connections()
            log.info("dropped %d Modbus connections on port %s", n, ep.port)

    @staticmethod
    def update(b: Bench, t: Targets, p: DropParams, elapsed_s: float) -> None:
        dt = b.site.dt
        if p.every and int(elapsed_s / p.every) != int((elapsed_s - dt) / p.every):
            _MbDrop.inject(b, t, p)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        return None


@fault(
    "stale_values",
    layer="protocol",
    kinds=_ANY,
    summary="The device's values stop updating (a hung data-acquisition task) while it still answers.",
    shows="Every register and node keeps its last value, heartbeats included (802 Hb, 715 DERHb "
    "stop counting): only an EMS that watches heartbeats can tell.",
)
class _Stale:
    @staticmethod
    def inject(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            b.gateway.freeze(d)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            b.gateway.unfreeze(d)


@fault(
    "stuck_register",
    layer="protocol",
    kinds=_ANY,
    params=PointParams,
    summary="One register of the device's map holds a value (a firmware mapping bug).",
    shows="That point reads a constant on every protocol; neighbouring points are live.",
)
class _StuckReg:
    inject = _Stuck.inject
    clear = _Stuck.clear


@fault(
    "device_offline",
    layer="protocol",
    kinds=_ANY,
    summary="The device drops off the network (power loss of its comms card, a cut cable).",
    shows="No Modbus answer (client timeouts) and OPC UA status BadCommunicationError on its nodes.",
)
class _Offline:
    @staticmethod
    def inject(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            for server in b.servers:
                server.device_offline(d, True)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            for server in b.servers:
                server.device_offline(d, False)


def _opcua_status(name: str, family: str) -> str:
    status_code(name, family)
    return name


class StatusParams(Params):
    status: str = "BadDeviceFailure"

    @field_validator("status")
    @classmethod
    def _s(cls, v: str) -> str:
        return _opcua_status(v, "Bad")


@fault(
    "opcua_bad_status",
    layer="protocol",
    kinds=_ANY,
    params=StatusParams,
    summary="The device's OPC UA values carry a Bad status code.",
    shows="Values unchanged, StatusCode Bad… (BadDeviceFailure, BadCommunicationError, BadSensorFailure).",
)
class _OpcBad:
    @staticmethod
    def inject(b: Bench, t: Targets, p: StatusParams) -> None:
        if b.opcua is not None:
            for d in t:
                b.opcua.set_status(d.name, p.status)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        if b.opcua is not None:
            for d in t:
                b.opcua.clear_status(d.name)


class UncertainParams(Params):
    status: str = "UncertainLastUsableValue"

    @field_validator("status")
    @classmethod
    def _s(cls, v: str) -> str:
        return _opcua_status(v, "Uncertain")


@fault(
    "opcua_uncertain_status",
    layer="protocol",
    kinds=_ANY,
    params=UncertainParams,
    summary="The device's OPC UA values carry an Uncertain status code.",
    shows="StatusCode Uncertain… (UncertainLastUsableValue, UncertainSensorNotAccurate).",
)
class _OpcUnc:
    inject = _OpcBad.inject
    clear = _OpcBad.clear


@fault(
    "opcua_stalled_subscription",
    layer="protocol",
    kinds=_ANY,
    summary="The OPC UA server stops sending data-change notifications (a stalled publish queue).",
    shows="Keep-alives only, no data changes; reads still answer with the last published values.",
)
class _Stall:
    @staticmethod
    def inject(b: Bench, t: Targets, p: Any) -> None:
        if b.opcua is not None:
            b.opcua.stall(True)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        if b.opcua is not None:
            b.opcua.stall(False)


@fault(
    "ems_comm_loss",
    layer="protocol",
    kinds=("ems",),
    summary="The EMS loses its link to the site (target: ems).",
    shows="No more writes or heartbeats reach the devices: an in-process controller is silenced; "
    "for an external EMS every Modbus unit stops answering and OPC UA stalls. The PCSs must "
    "revert to their safe setpoints (704 reversion, 802 CtrlHb watchdog).",
)
class _CommLoss:
    @staticmethod
    def inject(b: Bench, t: Targets, p: Any) -> None:
        if b.controller is not None:
            b.controller.silenced = True
            return
        for server in b.servers:
            server.link_lost(True)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        if b.controller is not None:
            b.controller.silenced = False
            return
        for server in b.servers:
            server.link_lost(False)
