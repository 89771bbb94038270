"""The fault catalogue: every fault a scenario can inject, with its layer, parameters and effect.

A fault is data in a scenario (``fault: {type: pcs_trip, target: PCS03, duration: 30 s}``) and a
:class:`FaultType` here. Each declares:

* its **layer**: ``physics`` (the twin misbehaves: a trip, a derate, a hot cell), ``sensor``
  (the twin is right but a measurement the EMS reads is wrong) or ``protocol`` (the device is
  fine but its communication is not: exceptions, delays, stale values, dropped links);
* the **device kinds** it may target (gateway device names such as ``PCS03``, a kind such as
  ``bess`` for every unit of it, ``all``, or ``ems`` for the controller link);
* its **parameters**, a pydantic model validated when the scenario loads;
* **what a real device shows** when it happens: the reason it is in the catalogue.

Injection and clearing go through a :class:`Bench` (the runner): the twin's inputs, the gateway's
observation layer, the protocol endpoints and the controller. Faults never reach into the
servers' internals; the endpoints expose fault hooks (``set_unit_fault``, ``set_status``, ...).
``docs/faults.md`` is generated from this module (``hil faults --format md``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.params import suggest
from twin.units import UnitProblem, parse_duration

from .opcua_nodes import status_code
from .validation import validate

if TYPE_CHECKING:
    from .gateway import Device, Gateway

__all__ = ["FAULTS", "Bench", "FaultType", "check_target", "parse_fault", "resolve_targets"]

log = logging.getLogger(__name__)

Layer = Literal["physics", "sensor", "protocol"]


class Bench(Protocol):
    """What a fault may touch: the runner provides these."""

    site: Any
    gateway: Gateway
    modbus: list[Any]
    opcua: Any
    controller: Any


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


Targets = list["Device"]
Fn = Callable[[Bench, Targets, Any], None]


@dataclass(frozen=True)
class FaultType:
    name: str
    layer: Layer
    kinds: tuple[str, ...]  # device kinds it applies to; ("ems",) for the controller link
    params: type[Params]
    summary: str
    shows: str
    inject: Fn
    clear: Fn
    update: Callable[[Bench, Targets, Any, float], None] | None = None  # every tick while active
    clears_itself: bool = True  # False: clearing removes the cause, the device stays latched


FAULTS: dict[str, FaultType] = {}


def fault(
    name: str,
    *,
    layer: Layer,
    kinds: tuple[str, ...],
    summary: str,
    shows: str,
    params: type[Params] = NoParams,
    clears_itself: bool = True,
) -> Callable[[type], type]:
    """Register the ``inject``/``clear`` (and optional ``update``) static methods of a class."""

    def deco(cls: type) -> type:
        FAULTS[name] = FaultType(
            name=name,
            layer=layer,
            kinds=kinds,
            params=params,
            summary=summary,
            shows=shows,
            inject=cls.inject,  # type: ignore[attr-defined]
            clear=cls.clear,  # type: ignore[attr-defined]
            update=getattr(cls, "update", None),
            clears_itself=clears_itself,
        )
        return cls

    return deco


@dataclass(frozen=True)
class FaultSpec:
    """``fault:`` in a timeline: the fault type, its target and its validated parameters."""

    type: str
    target: str
    duration: float | None
    id: str | None
    params: BaseModel


# -- parsing and target checks (called by hil.scenario) ------------------------------------------
def parse_fault(
    raw: Any, where: tuple[Any, ...], prob: Callable[[tuple[Any, ...], str], None]
) -> FaultSpec | None:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        prob(where, "fault: {type: <fault>, target: <device>, duration: <time>, ...parameters}")
        return None
    ftype = raw.get("type")
    if ftype not in FAULTS:
        hint = suggest(str(ftype), list(FAULTS))
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        prob((*where, "type"), f"unknown fault type {ftype!r}{tail}")
        return None
    ft = FAULTS[str(ftype)]
    duration = None
    if raw.get("duration") is not None:
        try:
            duration = parse_duration(raw["duration"])
        except UnitProblem as exc:
            prob((*where, "duration"), str(exc))
    target = raw.get("target", "ems" if ft.kinds == ("ems",) else None)
    if target is None:
        prob(
            where, f"target: is required (a device name such as PCS03, a kind ({', '.join(ft.kinds)}) or all)"
        )
        return None
    params = {k: v for k, v in raw.items() if k not in ("type", "target", "duration", "id")}
    model = validate(ft.params, params, where, prob)
    if model is None:
        return None
    fid = raw.get("id")
    return FaultSpec(
        type=str(ftype),
        target=str(target),
        duration=duration,
        id=None if fid is None else str(fid),
        params=model,
    )


def resolve_targets(spec: FaultSpec, devices: Sequence[Device]) -> list[Device]:
    ft = FAULTS[spec.type]
    if ft.kinds == ("ems",):
        return []
    if spec.target == "all":
        return [d for d in devices if d.kind in ft.kinds]
    named = [d for d in devices if d.name == spec.target]
    if named:
        return named
    return [d for d in devices if d.kind == spec.target]


def check_target(spec: FaultSpec, site: Any, devices: Sequence[Any]) -> list[str]:
    """Problems with a fault's target on this site (names may be Devices or strings)."""
    ft = FAULTS[spec.type]
    if ft.kinds == ("ems",):
        return [] if spec.target == "ems" else [f"{spec.type} targets the controller link: target: ems"]
    devs = [d for d in devices if not isinstance(d, str)]
    names = [d.name for d in devs]
    kinds = sorted({d.kind for d in devs})
    if spec.target == "all" or spec.target in kinds:
        if not resolve_targets(spec, devs):
            return [f"{spec.type} applies to {', '.join(ft.kinds)} devices; this site has none"]
        if spec.target != "all" and spec.target not in ft.kinds:
            return [f"{spec.type} does not apply to {spec.target} devices (only {', '.join(ft.kinds)})"]
        return []
    if spec.target not in names:
        hint = suggest(spec.target, names + kinds + ["all"])
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        return [f"no device {spec.target!r} on this site{tail}"]
    dev = devs[names.index(spec.target)]
    if dev.kind not in ft.kinds:
        return [f"{spec.type} applies to {', '.join(ft.kinds)} devices; {dev.name} is a {dev.kind}"]
    point = getattr(spec.params, "point", None)
    if point is not None and point not in dev.group.by_key:
        hint = suggest(point, list(dev.group.by_key))
        tail = f"; did you mean {hint[0]!r}?" if hint else ""
        return [f"{dev.name} has no point {point!r}{tail}"]
    if point is not None:
        # what Gateway.set_override refuses at run time must fail here, at load, with a line
        ptype = dev.group.by_key[point].pdef.type
        if ptype in ("sunssf", "pad"):
            return [f"{dev.name} {point} is a {ptype} point; fault the points it scales or pads"]
        if ptype == "string" and spec.type == "biased_sensor":
            return [f"{dev.name} {point} is a string; it can be stuck, not biased"]
    return []


# -- helpers ------------------------------------------------------------------------------------
def _set(bench: Bench, name: str, targets: Targets, value: float) -> None:
    for d in targets:
        bench.site.set(f"{name.split('.')[0]}[{d.index}].{name.split('.')[1]}", value)


def _modbus_eps(bench: Bench, dev: Device) -> list[Any]:
    return [ep for ep in bench.modbus if dev in ep.devices]


# -- physics ------------------------------------------------------------------------------------
def input_fault(
    name: str,
    *,
    set_: Mapping[str, float | str],
    reset: Mapping[str, float],
    kinds: tuple[str, ...] = ("bess",),
    summary: str,
    shows: str,
    params: type[Params] = NoParams,
    clears_itself: bool = True,
    per_unit: bool = True,
) -> None:
    """Register a fault that sets twin inputs of its targets' units while it lasts.

    ``set_`` maps an input to a value, or to ``"@field"`` for a parameter of the fault;
    ``reset`` is what clearing writes back (empty: clearing changes nothing)."""

    def apply(b: Bench, t: Targets, p: Any, values: Mapping[str, float | str]) -> None:
        for name_, v in values.items():
            value = float(getattr(p, v[1:])) if isinstance(v, str) else float(v)
            if per_unit:
                _set(b, name_, t, value)
            else:
                b.site.set(name_, value)

    FAULTS[name] = FaultType(
        name=name,
        layer="physics",
        kinds=kinds,
        params=params,
        summary=summary,
        shows=shows,
        inject=lambda b, t, p: apply(b, t, p, set_),
        clear=lambda b, t, p: apply(b, t, p, reset),
        clears_itself=clears_itself,
    )


class DerateParams(Params):
    derate_pu: float = Field(0.5, ge=0.0, le=1.0)


class HeatParams(Params):
    heat_w: float = Field(1500.0, gt=0.0, le=20_000.0)


class ImbalanceParams(Params):
    soc_offset_pct: float = Field(-10.0, ge=-100.0, le=100.0)


class DriftParams(Params):
    a_per_h: float = 20.0


class BiasParams(Params):
    a: float = 5.0


input_fault(
    "pcs_trip",
    set_={"pcs.fault_trip": 1},
    reset={"pcs.fault_trip": 0},
    summary="The PCS trips on an internal fault and opens its AC contactor.",
    shows="701 InvSt FAULT, Alrm MANUFACTURER_ALRM, W falls to 0 within a tick; stays latched "
    "after the cause clears until an alarm reset (715 AlarmReset / 802 AlmRst).",
    clears_itself=False,
)
input_fault(
    "pcs_overtemp_derate",
    set_={"pcs.derate_pu": "@derate_pu", "pcs.overtemp": 1},
    reset={"pcs.derate_pu": 1.0, "pcs.overtemp": 0},
    params=DerateParams,
    summary="The PCS heat sink runs hot; the inverter derates its apparent power.",
    shows="701 Alrm OVER_TEMP, W capped at derate_pu × rating; InvSt stays RUNNING "
    "(THROTTLED when the cap bites).",
)
input_fault(
    "dc_overvoltage",
    set_={"pcs.fault_dc_overvolt": 1},
    reset={"pcs.fault_dc_overvolt": 0},
    summary="The PCS measures DC-link over-voltage and trips.",
    shows="701 InvSt FAULT, Alrm DC_OVER_VOLT; latched until an alarm reset.",
    clears_itself=False,
)
input_fault(
    "cell_overtemp",
    set_={"bess.fault_heat_w": "@heat_w"},
    reset={"bess.fault_heat_w": 0.0},
    params=HeatParams,
    summary="A hot spot: one cell of the cabinet heats (failed cooling plate, bad busbar joint).",
    shows="802 CellTmpMax rises; 802 Evt1 OVER_TEMP_WARNING then OVER_TEMP_ALARM; the BMS opens "
    "its contactor on the alarm (802 State FAULT) and the PCS trips with DC_DISCONNECT.",
)
input_fault(
    "cell_imbalance",
    set_={"bess.cell_soc_offset_pct": "@soc_offset_pct"},
    reset={},
    params=ImbalanceParams,
    summary="One cell's SoC is offset from its string (a weak or self-discharging cell).",
    shows="802 CellVMax − CellVMin grows (most at the ends of the OCV curve); 802 Evt1 "
    "VOLTAGE_IMBALANCE_WARNING; the weak cell reaches its voltage limit first, so usable "
    "energy shrinks. Clearing does nothing: the twin has no balancing, the cell stays offset.",
    clears_itself=False,
)
input_fault(
    "contactor_failure",
    set_={"bms.fault_contactor": 1},
    reset={"bms.fault_contactor": 0},
    summary="The rack's DC contactor fails open (welded-open coil, auxiliary contact mismatch).",
    shows="802 Evt1 CONTACTOR_ERROR, 802 State FAULT, 803 ConSt open; the PCS trips with "
    "DC_DISCONNECT; needs an alarm reset after the cause clears.",
    clears_itself=False,
)
input_fault(
    "insulation_fault",
    set_={"bms.fault_ground": 1},
    reset={"bms.fault_ground": 0},
    summary="Low insulation resistance between the DC bus and earth (ground fault).",
    shows="802 Evt1 GROUND_FAULT; the BMS opens the contactor; the PCS trips with DC_DISCONNECT.",
    clears_itself=False,
)
input_fault(
    "soc_sensor_drift",
    set_={"bms.soc_sensor_drift_a_per_h": "@a_per_h"},
    reset={"bms.soc_sensor_drift_a_per_h": 0.0},
    params=DriftParams,
    summary="The BMS current sensor's offset drifts, so its Coulomb-counted SoC walks away from the truth.",
    shows="802 SoC diverges from the true SoC by a growing amount; an EMS that trusts it "
    "over-charges or over-discharges; cell voltages tell the truth.",
)
input_fault(
    "current_sensor_bias",
    set_={"bms.soc_sensor_bias_a": "@a"},
    reset={"bms.soc_sensor_bias_a": 0.0},
    params=BiasParams,
    summary="A fixed offset on the BMS current sensor (the SoC estimate integrates it).",
    shows="802 SoC drifts at a constant rate at zero current; 803 current reads the offset.",
)
input_fault(
    "genset_fail_to_start",
    set_={"genset.fail_to_start": 1},
    reset={"genset.fail_to_start": 0},
    kinds=("genset",),
    summary="The genset cranks but does not start (fuel, battery, governor).",
    shows="Genset state CRANKING then FAIL_TO_START; 701 InvSt FAULT; no power; the EMS must "
    "ride through on the battery and shed load.",
)
input_fault(
    "pv_trip",
    set_={"pv.trip": 1},
    reset={"pv.trip": 0},
    kinds=("pv",),
    per_unit=False,
    summary="The PV inverter trips (anti-islanding, DC arc, isolation).",
    shows="701 InvSt FAULT, W 0; the site's import steps up by the PV output.",
)


class RunawayParams(Params):
    heat_w_per_s: float = Field(20.0, gt=0.0)
    max_heat_w: float = Field(8000.0, gt=0.0, le=20_000.0)


@fault(
    "thermal_runaway_precursor",
    layer="physics",
    kinds=("bess",),
    params=RunawayParams,
    summary="Self-heating of one cell that accelerates (internal short): heat rising at heat_w_per_s.",
    shows="802 CellTmpMax climbing faster every minute; temperature-imbalance then over-temperature "
    "alarms; the BMS isolates the rack. The EMS must not re-close it.",
)
class _Runaway:
    @staticmethod
    def inject(b: Bench, t: Targets, p: RunawayParams) -> None:
        _set(b, "bess.fault_heat_w", t, 0.0)

    @staticmethod
    def update(b: Bench, t: Targets, p: RunawayParams, elapsed_s: float) -> None:
        _set(b, "bess.fault_heat_w", t, min(p.max_heat_w, p.heat_w_per_s * elapsed_s))

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        _set(b, "bess.fault_heat_w", t, 0.0)


# -- sensor (observation) ------------------------------------------------------------------------
class PointParams(Params):
    point: str
    value: float | None = None


class BiasPointParams(Params):
    point: str
    offset: float = 0.0
    gain: float = 1.0


_SENSOR_KINDS = ("bess", "pv", "genset", "meter", "site", "utility")


@fault(
    "stuck_sensor",
    layer="sensor",
    kinds=_SENSOR_KINDS,
    params=PointParams,
    summary="A measurement freezes at one value (failed transducer, frozen A/D): the twin is fine.",
    shows="The point reads a constant (value, or the value at injection) on Modbus and OPC UA "
    "while everything that depends on the real quantity moves.",
)
class _Stuck:
    @staticmethod
    def inject(b: Bench, t: Targets, p: PointParams) -> None:
        for d in t:
            b.gateway.set_override(d, p.point, value=p.value)

    @staticmethod
    def clear(b: Bench, t: Targets, p: PointParams) -> None:
        for d in t:
            b.gateway.clear_override(d, p.point)


@fault(
    "biased_sensor",
    layer="sensor",
    kinds=_SENSOR_KINDS,
    params=BiasPointParams,
    summary="A measurement reads gain × true + offset (a miscalibrated CT, a drifting thermistor).",
    shows="The point reads consistently off; cross-checks against other points disagree.",
)
class _Biased:
    @staticmethod
    def inject(b: Bench, t: Targets, p: BiasPointParams) -> None:
        for d in t:
            b.gateway.set_override(d, p.point, offset=p.offset, gain=p.gain)

    @staticmethod
    def clear(b: Bench, t: Targets, p: BiasPointParams) -> None:
        for d in t:
            b.gateway.clear_override(d, p.point)


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
            for ep in _modbus_eps(b, d):
                ep.set_unit_fault(d.unit_id, offline=True)
            if b.opcua is not None:
                b.opcua.set_status(d.name, "BadCommunicationError")

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        for d in t:
            for ep in _modbus_eps(b, d):
                ep.clear_unit_fault(d.unit_id)
            if b.opcua is not None:
                b.opcua.clear_status(d.name)


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
        for ep in b.modbus:
            for d in ep.devices:
                ep.set_unit_fault(d.unit_id, offline=True)
            ep.drop_connections()
        if b.opcua is not None:
            b.opcua.stall(True)

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        if b.controller is not None:
            b.controller.silenced = False
            return
        for ep in b.modbus:
            for d in ep.devices:
                ep.clear_unit_fault(d.unit_id)
        if b.opcua is not None:
            b.opcua.stall(False)


def catalogue_markdown() -> str:
    """The fault catalogue as Markdown (docs/faults.md is this text)."""
    out = [
        "# Fault catalogue",
        "",
        "Generated from `hil/faults.py` by `hil faults --format md`; do not edit by hand.",
        "",
        "Inject a fault from a scenario's timeline:",
        "",
        "```yaml",
        "- at: 2 min",
        "  fault: {type: pcs_trip, target: PCS03, duration: 30 s}",
        "```",
        "",
        "`target` is a device name (`PCS03`, `Genset02`, `PV01`), a device kind (`bess`: every "
        "PCS) or `all`; `duration` is optional (without it the fault stays until a "
        "`clear_fault` event or the end of the run); `id` names it for `clear_fault`. "
        "Faults marked *latched* leave the device in FAULT after they clear, as real "
        "equipment does: the EMS must send an alarm reset.",
        "",
    ]
    for layer in ("physics", "sensor", "protocol"):
        out += [f"## {layer.capitalize()} faults", ""]
        for ft in FAULTS.values():
            if ft.layer != layer:
                continue
            params = []
            for name, f in ft.params.model_fields.items():
                default = "required" if f.is_required() else f"default {f.default!r}"
                params.append(f"`{name}` ({default})")
            out += [
                f"### `{ft.name}`" + ("" if ft.clears_itself else " (latched)"),
                "",
                ft.summary,
                "",
                f"- **Targets:** {', '.join(ft.kinds)}",
                f"- **Parameters:** {', '.join(params) if params else 'none'}",
                f"- **What a real device shows:** {ft.shows}",
                "",
            ]
    return "\n".join(out)
