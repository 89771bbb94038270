"""The three-phase AC measurement block every AC device serves (SunSpec 701, 203, 103):
one function for the PCS, the meter, the PV inverter and the gensets."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hil.wire.devices.base import SQRT3

__all__ = ["ac_block"]


def ac_block(w: Any, var: Any, v_ll: Any) -> dict[str, Any]:
    """W, var, VA, PF, A, line-line and line-neutral voltage and the per-phase values of a
    balanced three-phase system from total ``w`` (W), ``var`` (var; ``None`` for a source at
    unity power factor) and the line-line voltage ``v_ll`` (V). Floats in, floats out (the
    single devices); arrays in, arrays out (one entry per unit).

    The current is |S| / (√3 V) with V floored at 1 V (a dead bus reads 0 A, not a division
    by zero); the power factor is |P| / |S|, 1 below 1 VA."""
    scalar = isinstance(w, float | int) and isinstance(v_ll, float | int)
    if var is None:
        var = 0.0
        va = abs(w) if scalar else np.abs(w)
        pf: Any = 1.0
    elif scalar:
        va = math.hypot(w, var)
        pf = abs(w) / va if va > 1.0 else 1.0
    else:
        va = np.hypot(w, var)
        pf = np.where(va > 1.0, np.abs(w) / np.maximum(va, 1e-9), 1.0)
    v_floor = max(v_ll, 1.0) if scalar else np.maximum(v_ll, 1.0)
    return {
        "w": w,
        "var": var,
        "va": va,
        "pf": pf,
        "a": va / (SQRT3 * v_floor),
        "v_ll": v_ll,
        "v_ln": v_ll / SQRT3,
        "w_ph": w / 3.0,
        "var_ph": var / 3.0,
        "va_ph": va / 3.0,
    }
