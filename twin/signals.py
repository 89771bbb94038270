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

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Literal, Protocol

__all__ = [
    "ALIASES",
    "SUFFIX_UNITS",
    "Declares",
    "Signal",
    "SignalTable",
    "parse_name",
    "resolve_alias",
    "split_name",
]


@dataclass(frozen=True, slots=True)
class Signal:
    """A named, unit-carrying quantity: a state, an input or an output of a device."""

    name: str
    unit: str
    doc: str = ""
    per_unit: bool = True
    """True when the signal has one value per unit of a fleet (one per cabinet, rack...)."""
    enum: type[IntEnum] | None = None
    """For ``unit="enum"``: the enumeration whose values the signal takes."""


class Declares(Protocol):
    """What a device class declares about itself (read by :class:`SignalTable`).

    ``name`` is the device prefix of its fully qualified names; ``outputs`` are in every
    snapshot (one value per unit when ``per_unit``, else one value); ``inputs`` are what
    :meth:`twin.site.Site.set` accepts; ``states`` are documentation of its continuous state.
    """

    name: ClassVar[str]
    inputs: ClassVar[tuple[Signal, ...]]
    outputs: ClassVar[tuple[Signal, ...]]


#: The unit a name's suffix implies (checked against every declaration by the tests).
SUFFIX_UNITS: Mapping[str, str] = {
    "_kw": "kW",
    "_kvar": "kvar",
    "_kwh": "kWh",
    "_hz": "Hz",
    "_hz_per_s": "Hz/s",
    "_pu": "pu",
    "_pct": "%",
    "_degc": "°C",
    "_deg": "deg",
    "_v": "V",
    "_mv": "mV",
    "_a": "A",
    "_a_per_h": "A/h",
    "_w": "W",
    "_w_m2": "W/m²",
    "_l": "l",
    "_l_per_h": "l/h",
    "_s": "s",
}

_NAME_CACHE: dict[str, tuple[str, int | None, str]] = {}


def split_name(name: str) -> tuple[str, int | None, str]:
    """``"pcs[3].p_ac_kw"`` -> ``("pcs", 3, "p_ac_kw")``; ``"grid.f_hz"`` -> ``("grid", None, "f_hz")``.

    The one parser of fully qualified signal names (cached: it is called per ``set``).
    A malformed index (``pcs[x]``) stays part of the device name, so lookups fail by name.
    """
    hit = _NAME_CACHE.get(name)
    if hit is not None:
        return hit
    dev, _, sig = name.partition(".")
    idx: int | None = None
    if dev.endswith("]") and "[" in dev:
        base, _, num = dev[:-1].partition("[")
        if num.isdigit():
            dev, idx = base, int(num)
    out = (dev, idx, sig)
    if len(_NAME_CACHE) < 100_000:
        _NAME_CACHE[name] = out
    return out


_NAME_RE = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[(\*|\d+)\])?\.([a-z_][a-z0-9_]*)$")


def parse_name(name: str) -> tuple[str, int | Literal["*"] | None, str] | None:
    """Strict parse of a name a user wrote: ``dev.sig``, ``dev[i].sig`` or ``dev[*].sig``
    (every unit), lower-case identifiers; ``None`` if it is not one. Scenario files, the
    report's per-unit grouping and the point maps' sources use it; :func:`split_name` is the
    lenient, cached one for the tick's lookups."""
    m = _NAME_RE.match(name)
    if m is None:
        return None
    idx = m.group(2)
    return m.group(1), (None if idx is None else "*" if idx == "*" else int(idx)), m.group(3)


@dataclass(frozen=True)
class SignalTable:
    """Every signal of one site, by fully qualified name, built from the declarations.

    ``arrays`` are the per-unit outputs (``dev.sig`` keys; snapshot names ``dev[i].sig``),
    ``scalars`` the single-valued outputs, ``inputs`` what ``Site.set`` takes. A name may be
    both an array and a scalar (``bess.soc_pct``: per cabinet and the site's), with one unit.
    """

    arrays: Mapping[str, Signal]
    scalars: Mapping[str, Signal]
    inputs: Mapping[str, Signal]
    owners: Mapping[str, str] = field(default_factory=dict)
    """Qualified name -> where it is declared (``twin.models.pcs.Pcs``, ``twin.bus``)."""

    @classmethod
    def build(cls, groups: Iterable[tuple[str, str, Iterable[Signal], Iterable[Signal]]]) -> SignalTable:
        """Build from ``(owner, device name, inputs, outputs)`` groups; duplicates are errors."""
        arrays: dict[str, Signal] = {}
        scalars: dict[str, Signal] = {}
        inputs: dict[str, Signal] = {}
        owners: dict[str, str] = {}
        for owner, dev, ins, outs in groups:
            for table, sigs, kind in ((inputs, ins, "input"), (None, outs, "output")):
                for s in sigs:
                    key = f"{dev}.{s.name}"
                    dest = table if table is not None else (arrays if s.per_unit else scalars)
                    if key in dest:
                        raise ValueError(f"{kind} {key} declared twice ({owners.get(key)} and {owner})")
                    other = scalars.get(key) if dest is arrays else arrays.get(key)
                    if kind == "output" and other is not None and other.unit != s.unit:
                        raise ValueError(f"{key}: unit {s.unit!r} here, {other.unit!r} elsewhere")
                    dest[key] = s
                    owners.setdefault(key, owner)
        return cls(arrays, scalars, inputs, owners)

    def output(self, name: str) -> Signal | None:
        """The declaration of an output, by snapshot name (``dev.sig`` or ``dev[i].sig``)."""
        dev, idx, sig = split_name(name)
        key = f"{dev}.{sig}"
        return self.arrays.get(key) if idx is not None else self.scalars.get(key)

    def unit(self, name: str) -> str | None:
        """The unit of an output or input by any of its names; ``None`` if undeclared."""
        s = self.output(name)
        if s is None:
            dev, _, sig = split_name(name)
            s = self.inputs.get(f"{dev}.{sig}")
        return None if s is None else s.unit


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
