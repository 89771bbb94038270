"""The BMS's tick compiled: two calls per tick instead of ~120 small numpy calls.

The same equations as :meth:`twin.models.bms.Bms.update` (which stays the reference,
``kernel: numpy``), written as loops over cabinets and compiled with numba:

* :func:`count` — the SoC estimate's Coulomb counting, the drift, the rest timer and the
  top-of-charge and rest flags. The recalibration itself (reading the OCV curve, once in
  hours) stays in Python and is shared by both paths.
* :func:`protect` — the current limits derated by temperature, estimated SoC and cell
  voltage; the SunSpec 802 alarm bits and their latch; the contactor state machine; ``ChaSt``.

Every operation is elementwise and in the numpy path's order, so the two paths agree to the
bit (``tests/unit/twin/models/test_bms_kernel.py``). Each call returns new arrays, as the numpy path
does: the transition record compares a tick's arrays with the previous tick's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache
from twin.models.bms import ChaSt, Contactor
from twin.models.kernel_math import clip, nan_min

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

__all__ = ["PARAM_NAMES", "count", "protect"]

#: The order of :func:`protect`'s ``prm`` (built by ``Bms``, read here by position).
PARAM_NAMES = (
    "t_ch_hi",
    "t_ch_lo",
    "t_dis_hi",
    "t_dis_lo",
    "den_hot",
    "den_hot_d",
    "den_cold",
    "den_soc_hi",
    "den_soc_lo",
    "ch_max",
    "dis_max",
    "i_max_dis",
    "soc_max",
    "soc_min",
    "v_alarm_hi",
    "v_alarm_lo",
    "t_alarm_hi",
    "t_warn_hi",
    "t_alarm_lo",
    "t_warn_lo",
    "v_warn_hi",
    "v_warn_lo",
    "soc_warn_lo",
    "soc_warn_hi",
    "v_imb_warn",
    "t_imb_alarm",
    "t_imb_warn",
    "margin",
    "precharge_s",
)

# the state codes as compile-time constants
_OPEN = int(Contactor.OPEN)
_PRECHARGE = int(Contactor.PRECHARGE)
_CLOSED = int(Contactor.CLOSED)
_FAULT = int(Contactor.FAULT)
_OFF = int(ChaSt.OFF)
_EMPTY = int(ChaSt.EMPTY)
_DISCHARGING = int(ChaSt.DISCHARGING)
_CHARGING = int(ChaSt.CHARGING)
_FULL = int(ChaSt.FULL)
_HOLDING = int(ChaSt.HOLDING)


@njit(cache=True)
def count(
    dt: float,
    i: FloatArray,
    v_max: FloatArray,
    q_pack: FloatArray,
    soc_est: FloatArray,
    drift_offset: FloatArray,
    drift_rate: FloatArray,
    gain: FloatArray,
    bias: FloatArray,
    rest_s: FloatArray,
    at_top: np.ndarray,
    rest_c: float,
    rest_time_s: float,
    v_end: float,
) -> tuple[FloatArray, FloatArray, FloatArray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Coulomb counting and the recalibration flags: new (soc_est, drift_offset, rest_s,
    at_top, snap_top, due, any flag set)."""
    n = i.shape[0]
    soc = np.empty(n)
    drift = np.empty(n)
    rest = np.empty(n)
    top_now = np.empty(n, dtype=np.bool_)
    snap_top = np.empty(n, dtype=np.bool_)
    due = np.empty(n, dtype=np.bool_)
    h = dt / 3600.0
    anything = False
    for k in range(n):
        d = drift_offset[k] + drift_rate[k] * h
        im = i[k] * gain[k] + bias[k] + d
        soc[k] = clip(soc_est[k] - im * dt / (3600.0 * q_pack[k]), 0.0, 1.0)
        drift[k] = d
        i_rest = rest_c * q_pack[k]
        top = (im < -i_rest) and (v_max[k] >= v_end)
        snap_top[k] = top and not at_top[k]
        top_now[k] = top
        before = rest_s[k] >= rest_time_s
        r = rest_s[k] + dt if abs(im) <= i_rest else 0.0
        rest[k] = r
        due[k] = (r >= rest_time_s) and not before
        anything = anything or snap_top[k] or due[k]
    return soc, drift, rest, top_now, snap_top, due, anything


@njit(cache=True)
def protect(
    dt: float,
    i: FloatArray,
    t_max: FloatArray,
    t_min: FloatArray,
    v_cell_max: FloatArray,
    v_cell_min: FloatArray,
    v_imb: FloatArray,
    soc: FloatArray,
    contactor: np.ndarray,
    precharge_left: FloatArray,
    latched: np.ndarray,
    close_cmd: FloatArray,
    fault_contactor: FloatArray,
    fault_ground: FloatArray,
    fault_other: FloatArray,
    prm: FloatArray,
    dis_t: FloatArray,
    dis_i: FloatArray,
    bit: np.ndarray,
    trip_mask: int,
) -> tuple[FloatArray, FloatArray, np.ndarray, np.ndarray, np.ndarray, FloatArray, np.ndarray]:
    """Limits, alarms, contactor and ``ChaSt``: new (ccl, dcl, alarm_bits, latched, contactor,
    precharge_left, cha_st). ``prm`` is :func:`twin.models.bms.kernel_params`; ``bit`` the
    SunSpec 802 bit of each condition in the order below; ``dis_t`` empty for no cold table."""
    t_ch_hi = prm[0]
    t_ch_lo = prm[1]
    t_dis_hi = prm[2]
    t_dis_lo = prm[3]
    den_hot = prm[4]
    den_hot_d = prm[5]
    den_cold = prm[6]
    den_soc_hi = prm[7]
    den_soc_lo = prm[8]
    ch_max = prm[9]
    dis_max = prm[10]
    i_max_dis = prm[11]
    soc_max = prm[12]
    soc_min = prm[13]
    v_alarm_hi = prm[14]
    v_alarm_lo = prm[15]
    t_alarm_hi = prm[16]
    t_warn_hi = prm[17]
    t_alarm_lo = prm[18]
    t_warn_lo = prm[19]
    v_warn_hi = prm[20]
    v_warn_lo = prm[21]
    soc_warn_lo = prm[22]
    soc_warn_hi = prm[23]
    v_imb_warn = prm[24]
    t_imb_alarm = prm[25]
    t_imb_warn = prm[26]
    margin = prm[27]
    precharge_s = prm[28]
    n = i.shape[0]
    ccl = np.empty(n)
    dcl = np.empty(n)
    alarm = np.empty(n, dtype=np.int64)
    latch = np.empty(n, dtype=np.int64)
    cont = np.empty(n, dtype=np.int64)
    pre_left = np.empty(n)
    cha = np.empty(n, dtype=np.int64)
    i_cold = np.interp(t_min, dis_t, dis_i) if dis_t.shape[0] > 0 else t_min
    for k in range(n):
        tx = t_max[k]
        tn = t_min[k]
        s = soc[k]
        hot = clip((t_ch_hi - tx) / den_hot, 0.0, 1.0)
        hot_d = clip((t_dis_hi - tx) / den_hot_d, 0.0, 1.0)
        cold = clip((tn - t_ch_lo) / den_cold, 0.0, 1.0)
        cold_d = 1.0 if tn > t_dis_lo else 0.0
        if dis_t.shape[0] > 0:
            cold_d = cold_d * nan_min(i_cold[k] / i_max_dis, 1.0)
        soc_hi = clip((soc_max - s) / den_soc_hi, 0.0, 1.0)
        soc_lo = clip((s - soc_min) / den_soc_lo, 0.0, 1.0)
        v_hi = clip((v_alarm_hi - v_cell_max[k]) / 0.07, 0.0, 1.0)
        v_lo = clip((v_cell_min[k] - v_alarm_lo) / 0.2, 0.0, 1.0)
        closed = contactor[k] == _CLOSED
        c_lim = ch_max * nan_min(nan_min(nan_min(hot, cold), soc_hi), v_hi) if closed else 0.0
        d_lim = dis_max * nan_min(nan_min(nan_min(hot_d, cold_d), soc_lo), v_lo) if closed else 0.0
        ccl[k] = c_lim
        dcl[k] = d_lim
        vx = v_cell_max[k]
        vn = v_cell_min[k]
        ik = i[k]
        conds = (
            tx >= t_alarm_hi,
            tx >= t_warn_hi,
            tn <= t_alarm_lo,
            tn <= t_warn_lo,
            vx >= v_alarm_hi,
            vx >= v_warn_hi,
            vn <= v_alarm_lo,
            vn <= v_warn_lo,
            s <= soc_min,
            s <= soc_warn_lo,
            s >= soc_max,
            s >= soc_warn_hi,
            v_imb[k] >= v_imb_warn,
            tx - tn >= t_imb_alarm,
            tx - tn >= t_imb_warn,
            -ik > c_lim * margin + 1.0,
            ik > d_lim * margin + 1.0,
            fault_contactor[k] > 0,
            fault_ground[k] > 0,
            fault_other[k] > 0,
        )
        bits = 0
        for j in range(len(conds)):
            if conds[j]:
                bits |= 1 << bit[j]
        lat = latched[k] | (bits & trip_mask)
        latch[k] = lat
        alarm[k] = bits | lat
        # contactor state machine
        c = contactor[k]
        want = close_cmd[k] > 0
        if (lat & trip_mask) != 0:
            c = _FAULT
        pl = precharge_left[k]
        if c == _OPEN and want:
            pl = precharge_s
            c = _PRECHARGE
        if c == _PRECHARGE:
            pl = pl - dt
            if pl <= 1e-9:
                c = _CLOSED
        if c in (_CLOSED, _PRECHARGE) and not want:
            c = _OPEN
        cont[k] = c
        pre_left[k] = pl
        # charge state, on the estimate
        cs = _HOLDING
        if ik > 1.0:
            cs = _DISCHARGING
        if ik < -1.0:
            cs = _CHARGING
        if s >= soc_max:
            cs = _FULL
        if s <= soc_min:
            cs = _EMPTY
        cha[k] = cs if c == _CLOSED else _OFF
    return ccl, dcl, alarm, latch, cont, pre_left, cha
