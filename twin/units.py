"""Units and durations in the project's input files: one parser for the twin and the bench.

``"250 ms"``, ``"5 min"`` -> seconds (:func:`parse_duration`); ``"25 MW"`` -> a number in the
unit a signal or option wants (:func:`parse_quantity`); a signal's unit from its name's
suffix (:func:`signal_unit`). A bad value raises :class:`UnitProblem` (a :class:`ValueError`)
whose message says what to write; the file parsers add the file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

from twin.params import did_you_mean

__all__ = [
    "DURATION_UNITS",
    "QUANTITY_UNITS",
    "UnitProblem",
    "number_and_unit",
    "parse_duration",
    "parse_quantity",
    "signal_unit",
]

DURATION_UNITS: dict[str, float] = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}

#: unit -> (dimension, factor to the dimension's base unit)
QUANTITY_UNITS: dict[str, tuple[str, float]] = {
    "W": ("power", 1e-3),
    "kW": ("power", 1.0),
    "MW": ("power", 1e3),
    "var": ("reactive", 1e-3),
    "kvar": ("reactive", 1.0),
    "Mvar": ("reactive", 1e3),
    "Wh": ("energy", 1e-3),
    "kWh": ("energy", 1.0),
    "MWh": ("energy", 1e3),
    "%": ("percent", 1.0),
    "degC": ("temperature", 1.0),
    "Hz": ("frequency", 1.0),
    "Hz/s": ("rocof", 1.0),
    "mV": ("voltage", 1e-3),
    "V": ("voltage", 1.0),
    "kV": ("voltage", 1e3),
    "A": ("current", 1.0),
    "pu": ("per-unit", 1.0),
    "s": ("time", 1.0),
    "L": ("volume", 1.0),
}

#: signal-name suffix -> its unit (longest suffix first)
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_hz_per_s", "Hz/s"),
    ("_kvar", "kvar"),
    ("_kwh", "kWh"),
    ("_kw", "kW"),
    ("_pct", "%"),
    ("_degc", "degC"),
    ("_hz", "Hz"),
    ("_mv", "mV"),
    ("_v", "V"),
    ("_a", "A"),
    ("_pu", "pu"),
    ("_s", "s"),
    ("_l", "L"),
)

_NUM_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%/]+)?\s*$")


class UnitProblem(ValueError):
    """A value with a missing, unknown or incompatible unit."""


def number_and_unit(text: str) -> tuple[str, str | None] | None:
    """``"25 MW"`` -> ``("25", "MW")``, ``"7"`` -> ``("7", None)``; None if ``text`` is not a
    number with an optional unit word."""
    m = _NUM_UNIT.match(text)
    return None if m is None else (m.group(1), m.group(2))


def parse_duration(value: Any, *, allowed: Collection[str] = DURATION_UNITS.keys()) -> float:
    """``"250 ms"``, ``"5 min"``, ``"1.5 h"`` -> seconds. A bare number is an error: say the unit.
    ``allowed`` narrows the units a caller accepts (a cycler step takes no days)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnitProblem(f"a duration is a number and a unit (ms, s, min, h, d), got {value!r}")
    if not isinstance(value, str):
        raise UnitProblem(f"a duration needs its unit: write '{value} s' (or ms, min, h, d)")
    m = _NUM_UNIT.match(value)
    if m is None:
        raise UnitProblem(f"cannot read {value!r} as a duration; write e.g. '30 s' or '5 min'")
    number, unit = m.groups()
    if unit is None:
        raise UnitProblem(f"a duration needs its unit: write '{number} s' (or ms, min, h, d)")
    if unit not in DURATION_UNITS:
        tail = did_you_mean(unit, list(DURATION_UNITS)) or did_you_mean(
            unit.lower().rstrip("s"), list(DURATION_UNITS)
        )
        raise UnitProblem(f"unknown duration unit {unit!r}{tail} (use ms, s, min, h or d)")
    if unit not in allowed:
        raise UnitProblem(f"{unit!r} is not a unit for this duration (use {', '.join(allowed)})")
    seconds = float(number) * DURATION_UNITS[unit]
    if seconds < 0:
        raise UnitProblem(f"a duration cannot be negative, got {value!r}")
    return seconds


def signal_unit(name: str) -> str | None:
    """The unit of a signal from its name's suffix (``grid.p_import_kw`` -> kW), or None."""
    sig = name.rsplit(".", 1)[-1]
    for suffix, unit in _SUFFIX_UNITS:
        if sig.endswith(suffix):
            return unit
    return None


def parse_quantity(value: Any, unit: str | None) -> float:
    """A number in ``unit``; a string ``"<number> <unit>"`` is converted to ``unit``."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(float(value)):
            raise UnitProblem(f"value must be finite, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise UnitProblem(f"expected a number or '<number> <unit>', got {value!r}")
    m = _NUM_UNIT.match(value)
    if m is None:
        raise UnitProblem(f"cannot read {value!r} as a number with a unit (e.g. '25 MW')")
    number, given = m.groups()
    if given is None:
        return float(number)
    if given not in QUANTITY_UNITS:
        tail = did_you_mean(given, list(QUANTITY_UNITS))
        raise UnitProblem(f"unknown unit {given!r}{tail}")
    if unit is None:
        raise UnitProblem(f"this value has no unit; write the bare number instead of {value!r}")
    dim_g, f_g = QUANTITY_UNITS[given]
    dim_t, f_t = QUANTITY_UNITS[unit]
    if dim_g != dim_t:
        same = [u for u, (d, _) in QUANTITY_UNITS.items() if d == dim_t]
        raise UnitProblem(f"unit {given!r} is {dim_g}, but this value is {dim_t} (use {', '.join(same)})")
    return float(number) * f_g / f_t
