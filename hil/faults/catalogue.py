"""The catalogue itself: fault types, their registry (:data:`FAULTS`, filled by the
:func:`fault` decorator of each layer module), the scenario's :class:`FaultSpec`, parsing and
target checks, and the generated Markdown."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from twin.units import UnitProblem, parse_duration

from ..errors import did_you_mean
from ..validation import validate

if TYPE_CHECKING:
    from hil.wire.gateway import Device, Gateway


__all__ = [
    "FAULTS",
    "Bench",
    "FaultSpec",
    "FaultType",
    "Layer",
    "NoParams",
    "Params",
    "catalogue_markdown",
    "check_target",
    "fault",
    "parse_fault",
    "resolve_targets",
]

log = logging.getLogger("hil.faults")

Layer = Literal["physics", "sensor", "protocol"]


class Bench(Protocol):
    """What a fault may touch: the runner provides these."""

    site: Any
    gateway: Gateway
    servers: list[Any]  # every protocol's servers (hil.protocols.Served)
    controller: Any

    @property
    def modbus(self) -> list[Any]:
        """The Modbus endpoints, for the faults of Modbus itself."""
        ...

    @property
    def opcua(self) -> Any:
        """The OPC UA endpoint or None, for the faults of OPC UA itself."""
        ...


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
        tail = did_you_mean(str(ftype), list(FAULTS))
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
        tail = did_you_mean(spec.target, names + kinds + ["all"])
        return [f"no device {spec.target!r} on this site{tail}"]
    dev = devs[names.index(spec.target)]
    if dev.kind not in ft.kinds:
        return [f"{spec.type} applies to {', '.join(ft.kinds)} devices; {dev.name} is a {dev.kind}"]
    point = getattr(spec.params, "point", None)
    if point is not None and point not in dev.group.by_key:
        tail = did_you_mean(point, list(dev.group.by_key))
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


def catalogue_markdown() -> str:
    """The fault catalogue as Markdown (docs/faults.md is this text)."""
    out = [
        "# Fault catalogue",
        "",
        "Generated from `hil/faults/` by `hil faults --format md`; do not edit by hand.",
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
