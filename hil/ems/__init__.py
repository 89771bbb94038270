"""Controllers that drive a site through the gateway as an EMS would (scenario runs, CI).

``CONTROLLERS`` maps a controller's name to its class; each is built as
``cls(gateway, mode=..., period_s=..., **options)`` and called with ``on_tick(t_s)`` at every
tick boundary, before the gateway applies the writes queued for it (``gateway.step()`` or
``gateway.apply_writes()``): it reads the registers a wire client reads and its writes are
applied with theirs, before the scenario's actions at the same boundary. Setting ``silenced``
emulates a loss of EMS communication. A controller that knows when it acts next says so with
``quiet_until()`` (:class:`ScheduledController`); a run as fast as possible then advances to
that time in one call (:meth:`hil.run.runner.Runner.quiet_ticks`).

``standin`` is the scripted stand-in (:mod:`hil.ems.standin`); ``reference`` the reference EMS
(:mod:`hil.ems.reference`, profiles under ``profiles/ems/``), which also runs as a Modbus TCP
client against any bench (:mod:`hil.ems.modbus_io`, ``hil ems``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hil.ems.controller import ReferenceController
from hil.ems.io import EmsClock, EmsLog, GatewayIO, PointIO, run_ems
from hil.ems.profile import EmsProfile, load_profile
from hil.ems.readings import Commands, PcsCommand, PcsReading, Readings
from hil.ems.reference import ReferenceEMS
from hil.ems.standin import MODES, StandIn, StandInOptions

__all__ = [
    "CONTROLLERS",
    "MODES",
    "Commands",
    "Controller",
    "EmsClock",
    "EmsLog",
    "EmsProfile",
    "GatewayIO",
    "PcsCommand",
    "PcsReading",
    "PointIO",
    "Readings",
    "ReferenceController",
    "ReferenceEMS",
    "ScheduledController",
    "StandIn",
    "StandInOptions",
    "load_profile",
    "run_ems",
]


class Controller(Protocol):
    """What the runner needs from a controller."""

    name: str
    silenced: bool
    writes: int
    rejected: int

    def on_tick(self, t_s: float) -> None: ...


@runtime_checkable
class ScheduledController(Controller, Protocol):
    """A controller whose :meth:`on_tick` at a boundary before ``quiet_until()`` (its next
    decision) only calls :meth:`observe`, which writes nothing and reads only the points in
    ``observes`` (``(device kind, point key)``; the reference EMS: none; the stand-in: the
    import and battery power it averages over a period)."""

    observes: frozenset[tuple[str, str]]

    def quiet_until(self) -> float: ...

    def observe(self, t_s: float) -> None: ...


CONTROLLERS: dict[str, type] = {StandIn.name: StandIn, ReferenceController.name: ReferenceController}
