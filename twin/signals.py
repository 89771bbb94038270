"""Signals, units and the sign convention, stated once for the whole twin.

Sign convention
---------------
* Battery, PCS, PV and genset power is **positive when delivering** power to the AC bus
  (battery discharging, inverter exporting).
* Grid power ``grid.p_import_kw`` is **positive when importing** from the utility.
* Cell and pack current is **positive on discharge** (PyBaMM's convention).
* Loads (``site.p_it_kw``, ``site.p_facility_kw``) are positive when consuming.

Names carry their unit as a suffix (``p_ac_kw``, ``soc_pct``, ``t_cell_degc``, ``v_dc_v``).
A fully qualified name is ``device.signal``; per-unit signals of a fleet are addressed as
``device[i].signal`` (0-based), aggregates as ``device.signal``. Fully qualified names are
public API: renames go through :data:`ALIASES` with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

__all__ = ["ALIASES", "Signal", "resolve_alias"]


@dataclass(frozen=True, slots=True)
class Signal:
    """A named, unit-carrying quantity: a state, an input or an output of a device."""

    name: str
    unit: str
    doc: str = ""
    per_unit: bool = True
    """True when the signal has one value per unit of a fleet (one per cabinet, rack...)."""


#: Old fully qualified name -> new name. Looked up by :func:`resolve_alias`.
ALIASES: dict[str, str] = {}


def resolve_alias(name: str) -> str:
    """Return the current name for ``name``, warning when an old alias was used."""
    new = ALIASES.get(name)
    if new is None:
        return name
    warnings.warn(
        f"signal {name!r} was renamed to {new!r}; the old name will be removed",
        DeprecationWarning,
        stacklevel=3,
    )
    return new
