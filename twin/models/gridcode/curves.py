"""The steady-state control curves and the IEEE 1547 response-time lag (pure, vectorised).

Part of :mod:`twin.models.gridcode`.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import numpy.typing as npt

from twin._interp import FloatArray
from twin.models.gridcode.settings import (
    VOLT_VAR_CAT_B,
    VOLT_WATT_CAT_B,
    ReactiveCurrent,
    VoltVarCurve,
    VoltWattCurve,
)

# --------------------------------------------------------------------------------------
# Control curves (pure, vectorised)
# --------------------------------------------------------------------------------------


def volt_var_q_pu(v_pu: npt.ArrayLike, curve: VoltVarCurve = VOLT_VAR_CAT_B) -> FloatArray:
    """Reactive power (pu of S_rated, + = inject) from the volt-var curve, flat outside
    the end points. Cat B default: (0.92, +0.44), (0.98, 0), (1.02, 0), (1.08, −0.44)."""
    v = np.asarray(v_pu, dtype=np.float64)
    return np.asarray(np.interp(v, curve.v_pu, curve.q_pu), dtype=np.float64)


def volt_watt_p_pu(
    v_pu: npt.ArrayLike, curve: VoltWattCurve = VOLT_WATT_CAT_B, *, absorbing: bool = False
) -> FloatArray:
    """Active-power limit (pu of P_rated) from the volt-watt curve: 1 up to V1, linear to P2
    at V2, P2 beyond. ``absorbing=True`` uses ``p2_absorbing_pu`` (0 by default: a BESS
    can go to zero export)."""
    p2 = curve.p2_absorbing_pu if absorbing else curve.p2_pu
    v = np.asarray(v_pu, dtype=np.float64)
    return np.asarray(np.interp(v, (curve.v1_pu, curve.v2_pu), (1.0, p2)), dtype=np.float64)


def freq_watt_dp_pu(
    f_hz: npt.ArrayLike, f_nom: float, deadband_hz: float = 0.036, droop: float = 0.05
) -> FloatArray:
    """Active-power change (pu of P_rated) from frequency droop, over and under frequency:

    ΔP = −(f − f_nom − db)/(f_nom·droop) for f > f_nom + db,
    ΔP = +(f_nom − db − f)/(f_nom·droop) for f < f_nom − db, 0 inside the deadband.

    Not clipped: the caller limits P_pre + ΔP to the unit's available range.
    """
    dev = np.asarray(f_hz, dtype=float) - f_nom
    excess = np.sign(dev) * np.maximum(np.abs(dev) - deadband_hz, 0.0)
    return np.asarray(-excess / (f_nom * droop), dtype=float)


def fault_reactive_current_pu(v_pu: npt.ArrayLike, spec: ReactiveCurrent) -> FloatArray:
    """Reactive current (pu of rated current, + = inject) the grid code asks for in a sag:
    k·(V_th − V) below V_th, 0 above it or when injection is disabled. Not limited: the
    caller caps it at the unit's current limit."""
    v = np.asarray(v_pu, dtype=np.float64)
    if not spec.enabled:
        return np.zeros_like(v)
    return np.asarray(spec.k_factor * np.maximum(spec.v_threshold_pu - v, 0.0), dtype=np.float64)


@overload
def response_tau_s(t_r_s: float) -> float: ...
@overload
def response_tau_s(t_r_s: FloatArray) -> FloatArray: ...
def response_tau_s(t_r_s: float | FloatArray) -> float | FloatArray:
    """First-order lag time constant τ = T_r/ln 10 for an IEEE 1547 open-loop response time
    T_r (the time to 90 % of a step): T_r = 5 s → τ = 2.17 s."""
    if isinstance(t_r_s, np.ndarray):
        return np.asarray(t_r_s / math.log(10.0), dtype=float)
    return float(t_r_s) / math.log(10.0)


def lag_step(y: npt.ArrayLike, target: npt.ArrayLike, dt: float, tau: npt.ArrayLike) -> FloatArray:
    """Exact zero-order-hold step of the lag τ·y' = target − y over ``dt``: y + (target −
    y)·(1 − e^(−dt/τ)). τ = 0 jumps to the target."""
    y_arr = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        alpha = -np.expm1(-dt / np.asarray(tau, dtype=float))
    return np.asarray(y_arr + (np.asarray(target, dtype=float) - y_arr) * alpha, dtype=float)
