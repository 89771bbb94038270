"""A device added to a site from outside ``twin/``: a load on the site bus.

``Site(config, devices=[...])`` takes any object that declares itself like the built-in
devices (``name``, ``inputs``, ``outputs`` of :class:`~twin.signals.Signal`) and implements
the three methods of :class:`Device`. Its outputs then appear in every snapshot and trace row
(``name.sig`` or ``name[i].sig``, with their units), its inputs are accepted by
``Site.set`` and scenario ``set:``, and the mean power it draws each tick is part of the bus's
load: grid import, the island's balance, ``site.p_facility_kw`` and the energy balance (as
base load, ``base_kwh``). On a dead bus it is told so and draws nothing. See
``docs/howto-add-a-device.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from twin._interp import FloatArray
from twin.signals import Declares

__all__ = ["Device"]


class Device(Declares, Protocol):
    """What a device added with ``Site(..., devices=[...])`` implements."""

    def set_input(self, name: str, value: float, idx: int | None) -> None:
        """Set the declared input ``name`` (on unit ``idx``, or every unit when ``None``)."""
        ...

    def advance(self, t0: float, dt: float, *, live: bool) -> float:
        """Advance over ``[t0, t0 + dt)`` and return the mean power drawn from the bus (kW);
        ``live`` is False while the bus is dead (no voltage), when it must return 0."""
        ...

    def outputs_now(self) -> Mapping[str, float | FloatArray]:
        """Every declared output by its name: a float, or an array (one value per unit)."""
        ...
