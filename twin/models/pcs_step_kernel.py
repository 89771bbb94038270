"""The PCS fleet's continuous step compiled: the grid-following ramp + lag and the tick's
losses, auxiliaries and DC power, one loop over the units instead of ~45 numpy calls.

The same arithmetic as :func:`twin.models.pcs_params.lag_ramp_step`,
:meth:`twin.models.pcs.Pcs.step_following` and :meth:`~twin.models.pcs.Pcs.finish_tick`
(which stay the reference, ``kernel: numpy``), written operation for operation in the same
order, so the two paths agree to the bit (``tests/unit/twin/models/test_pcs_step_kernel.py``;
numba does not fuse or reorder floating-point operations without ``fastmath``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache
from twin.models.battery_kernel import _current_for_power
from twin.models.pcs_kernel import _cached
from twin.models.pcs_params import _PCSSTATE_RUNNING, _PCSSTATE_THROTTLED

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

if TYPE_CHECKING:
    from twin.models.pcs import Pcs

__all__ = ["end_current", "finish", "finish_params", "follow", "run_finish", "run_follow"]


@njit(cache=True, error_model="numpy")
def follow(
    p_ac: FloatArray,
    p_ref: FloatArray,
    p_cmd: FloatArray,
    q_ac: FloatArray,
    q_cmd: FloatArray,
    rate: float,
    tau: float,
    tau_q: float,
    dt: float,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """New (p_ac, p_ref, p_ac_mean, q_ac, q_ac_mean) over ``dt``: a ramp at ``rate`` toward the
    held command into a first-order lag τ (exact), and the reactive lag τ_q."""
    n = p_ac.shape[0]
    y_out = np.empty(n)
    ref_out = np.empty(n)
    mean_out = np.empty(n)
    q_out = np.empty(n)
    qm_out = np.empty(n)
    eq = math.exp(-dt / tau_q)
    for i in range(n):
        y0, ref0, cmd = p_ac[i], p_ref[i], p_cmd[i]
        delta = cmd - ref0
        sgn = 1.0 if delta > 0.0 else (-1.0 if delta < 0.0 else (0.0 if delta == 0.0 else delta))
        slope = sgn * rate
        t_ramp = abs(delta) / rate if slope != 0.0 else 0.0
        t1 = t_ramp if (t_ramp < dt or math.isnan(t_ramp)) else dt  # np.minimum keeps a NaN
        e1 = math.exp(-t1 / tau)
        c1 = y0 - ref0 + slope * tau
        y1 = ref0 + slope * (t1 - tau) + c1 * e1
        int1 = ref0 * t1 + slope * (0.5 * t1 * t1 - tau * t1) + c1 * tau * (1.0 - e1)
        ref1 = ref0 + slope * t1
        h = dt - t1
        e2 = math.exp(-h / tau)
        y_out[i] = ref1 + (y1 - ref1) * e2
        int2 = ref1 * h + (y1 - ref1) * tau * (1.0 - e2)
        ref_out[i] = ref1
        mean_out[i] = (int1 + int2) / dt
        q0, qc = q_ac[i], q_cmd[i]
        q_out[i] = qc + (q0 - qc) * eq
        qm_out[i] = qc + (q0 - qc) * tau_q / dt * (1.0 - eq)
    return y_out, ref_out, mean_out, q_out, qm_out


@njit(cache=True, inline="always")
def loss_kw(p_ac: float, state: int, hot: bool, prm: FloatArray) -> float:
    """``Pcs.loss_now_kw`` of one unit: the conversion loss of a switching unit, the standby
    loss in hot standby, nothing otherwise (``prm`` as :func:`finish` takes it)."""
    if state in (_PCSSTATE_RUNNING, _PCSSTATE_THROTTLED):
        pn = prm[0]
        p = abs(p_ac) / pn
        k1 = 0.0 if p_ac >= 0 else prm[2]
        k2 = prm[3] if p_ac >= 0 else prm[4]
        return pn * (prm[1] + k1 * p + k2 * p * p)
    if hot:
        return prm[5]
    return 0.0


@njit(cache=True, error_model="numpy")
def finish(
    p_ac_mean: FloatArray,
    state: np.ndarray,
    hot: np.ndarray,
    prm: FloatArray,
    aux_base: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(loss, aux, p_dc) from the tick's mean AC power: the conversion loss of a switching
    unit, the standby loss in hot standby, nothing otherwise; the auxiliary load."""
    hvac_frac = prm[6]
    n = p_ac_mean.shape[0]
    loss = np.empty(n)
    aux = np.empty(n)
    p_dc = np.empty(n)
    for i in range(n):
        p_ac = p_ac_mean[i]
        loss[i] = loss_kw(p_ac, state[i], hot[i], prm)
        aux[i] = aux_base + hvac_frac * abs(p_ac)
        p_dc[i] = p_ac + loss[i]
    return loss, aux, p_dc


def run_follow(pcs: Pcs, p_cmd: FloatArray, q_cmd: FloatArray, dt: float) -> None:
    """:meth:`Pcs.step_following`."""
    pcs.p_ac, pcs.p_ref, pcs.p_ac_mean, pcs.q_ac, pcs.q_ac_mean = follow(
        pcs.p_ac,
        pcs.p_ref,
        np.asarray(p_cmd, dtype=float),
        pcs.q_ac,
        np.asarray(q_cmd, dtype=float),
        float(pcs.rate_kw_s),
        float(pcs.tau),
        float(pcs.tau_q),
        dt,
    )


def _finish_params(pcs: Pcs) -> FloatArray:
    pr = pcs.params
    return np.array(
        [
            pr.p_rated_kw,
            pr.eff_p0_discharge,
            pr.loss_k1_charge,
            pr.eff_k_discharge,
            pr.loss_k2_charge,
            pr.standby_loss_pu * pr.p_rated_kw,
            pr.hvac_frac,
        ]
    )


def finish_params(pcs: Pcs) -> FloatArray:
    """What :func:`finish` and :func:`end_current` take of the fleet's settings, built once."""
    prm: FloatArray = _cached(pcs, "finish", lambda: _finish_params(pcs))
    return prm


def run_finish(pcs: Pcs) -> None:
    """:meth:`Pcs.finish_tick`."""
    prm = finish_params(pcs)
    pcs.loss, pcs.aux, pcs.p_dc = finish(
        np.asarray(pcs.p_ac_mean, dtype=float), pcs.state, pcs.hot, prm, pcs.aux_base_kw()
    )


@njit(cache=True, inline="always")
def end_current(p_ac: FloatArray, state: np.ndarray, hot: np.ndarray, fin: FloatArray, closed: FloatArray,
                 pe: FloatArray, soc: FloatArray, tc: FloatArray, i_out: FloatArray) -> bool:  # fmt: skip
    """``twin.integrate.end_current`` into ``i_out``: the pack current at the end of the tick
    from the PCS's end-of-tick power and its loss, with the pack's instantaneous E and R in
    ``pe`` (``battery_kernel.pack_instant``); False if the state went non-finite (the AC power,
    or a cell's SoC or temperature), as ``twin.integrate._check_finite`` finds it."""
    finite = True
    for c in range(p_ac.shape[0]):
        pa = p_ac[c]
        p_w = (pa + loss_kw(pa, state[c], hot[c], fin)) * 1000.0 * closed[c]
        i_out[c] = _current_for_power(pe[0, c], pe[1, c], p_w)[0] * closed[c]
        finite = finite and math.isfinite(pa)
        for j in range(soc.shape[1]):
            finite = finite and math.isfinite(soc[c, j]) and math.isfinite(tc[c, j])
    return finite
