"""Sensor faults: the twin is right, but a measurement the EMS reads is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from .catalogue import Bench, Params, Targets, fault


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
