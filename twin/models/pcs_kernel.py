"""The PCS fleet's state machine compiled: one call per tick instead of ~90 small numpy calls.

The same logic as :meth:`twin.models.pcs.Pcs.update_states` (which stays the reference,
``kernel: numpy``), written as one loop over the units and compiled with numba. It is
integer logic plus assignments of held values, so the two paths agree to the bit
(``tests/unit/twin/models/test_pcs_kernel.py``). The call returns new arrays, as the numpy path does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache
from twin.models.gridcode import GridCode, response_tau_s
from twin.models.kernel_math import clip, nan_max, nan_min, sqrt0
from twin.models.pcs_params import (
    _PCSSTATE_FAULT,
    _PCSSTATE_OFF,
    _PCSSTATE_RUNNING,
    _PCSSTATE_STANDBY,
    _PCSSTATE_STARTING,
    _PCSSTATE_THROTTLED,
    PCS_ALARM_BITS,
)

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

if TYPE_CHECKING:
    import numpy.typing as npt

    from twin.models.pcs import Pcs

__all__ = ["command", "limits", "run_command", "run_limits", "run_update_states", "update_states"]

_MANUFACTURER = 1 << PCS_ALARM_BITS["MANUFACTURER_ALRM"]
_DC_OVER_VOLT = 1 << PCS_ALARM_BITS["DC_OVER_VOLT"]
_DC_DISCONNECT = 1 << PCS_ALARM_BITS["DC_DISCONNECT"]
_GRID_DISCONNECT = 1 << PCS_ALARM_BITS["GRID_DISCONNECT"]


@njit(cache=True)
def update_states(
    dt: float,
    islanded: bool,
    islanded_for: float,
    anti_islanding_s: float,
    start_s: float,
    self_clearing: int,
    over_temp: int,
    state: np.ndarray,
    alarm_bits: np.ndarray,
    trip_count: FloatArray,
    start_left: FloatArray,
    idle_for: FloatArray,
    hot: np.ndarray,
    p_ac: FloatArray,
    p_ref: FloatArray,
    q_ac: FloatArray,
    gfm: np.ndarray,
    enable: FloatArray,
    fault_reset: FloatArray,
    fault_trip: FloatArray,
    fault_dc_ov: FloatArray,
    overtemp: FloatArray,
    contactor_closed: FloatArray,
    bms_fault: FloatArray,
    grid_ok: FloatArray,
    grid_trip: FloatArray,
    trip_bits: np.ndarray,
    cessation: np.ndarray,
    ramp_limit_pu: FloatArray,
) -> tuple[
    np.ndarray,
    np.ndarray,
    FloatArray,
    FloatArray,
    FloatArray,
    np.ndarray,
    FloatArray,
    FloatArray,
    FloatArray,
    np.ndarray,
    FloatArray,
    FloatArray,
]:
    """New (state, alarm_bits, trip_count, start_left, idle_for, hot, p_ac, p_ref, q_ac,
    cessation, es_ramp, close request) after one tick of the state machine."""
    n = state.shape[0]
    s_out = np.empty(n, dtype=state.dtype)
    ab_out = np.empty(n, dtype=np.int64)
    trips = np.empty(n)
    left = np.empty(n)
    idle = np.empty(n)
    hot_out = np.empty(n, dtype=np.bool_)
    p_out = np.empty(n)
    ref_out = np.empty(n)
    q_out = np.empty(n)
    cess_out = np.empty(n, dtype=np.bool_)
    ramp_out = np.empty(n)
    close = np.empty(n)
    for k in range(n):
        s = state[k]
        gfl_island_trip = islanded and not gfm[k] and islanded_for >= anti_islanding_s
        fault_now = (
            fault_trip[k] > 0 or fault_dc_ov[k] > 0 or bms_fault[k] > 0 or grid_trip[k] > 0 or gfl_island_trip
        )
        bits = _MANUFACTURER if fault_trip[k] > 0 else 0
        bits |= _DC_OVER_VOLT if fault_dc_ov[k] > 0 else 0
        bits |= _DC_DISCONNECT if bms_fault[k] > 0 else 0
        bits |= _GRID_DISCONNECT if gfl_island_trip else 0
        bits |= trip_bits[k]
        trips[k] = trip_count[k] + (1.0 if fault_now and s != _PCSSTATE_FAULT else 0.0)
        ab = alarm_bits[k]
        if fault_now:
            s = _PCSSTATE_FAULT
            ab = ab | bits
        # leave FAULT: hardware faults need a reset, grid trips clear themselves (twin.models.pcs)
        clear = (
            s == _PCSSTATE_FAULT
            and not fault_now
            and (fault_reset[k] > 0 or (ab & ~self_clearing) == 0)
            and grid_ok[k] > 0
        )
        if clear:
            s = _PCSSTATE_STANDBY
            ab = 0
        ab = ab | over_temp if overtemp[k] > 0 else ab & ~over_temp
        en = enable[k] > 0
        if s != _PCSSTATE_FAULT and not en:
            s = _PCSSTATE_OFF
        h = hot[k] and s == _PCSSTATE_STANDBY
        wake = h and islanded and gfm[k]
        if wake:
            s = _PCSSTATE_RUNNING
        h = h and not wake
        may_run = grid_ok[k] > 0 or (islanded and gfm[k])
        go = (s == _PCSSTATE_OFF or (s == _PCSSTATE_STANDBY and not h)) and en
        sl = start_s if go and s != _PCSSTATE_STARTING else start_left[k]
        if go:
            s = _PCSSTATE_STARTING if may_run else _PCSSTATE_STANDBY
        if s == _PCSSTATE_STARTING and contactor_closed[k] > 0:
            sl = sl - dt
            if sl <= 1e-9:
                s = _PCSSTATE_RUNNING
        stop = s in (_PCSSTATE_OFF, _PCSSTATE_FAULT)
        p_out[k] = 0.0 if stop else p_ac[k]
        ref_out[k] = 0.0 if stop or s in (_PCSSTATE_STARTING, _PCSSTATE_STANDBY) else p_ref[k]
        q_out[k] = 0.0 if stop else q_ac[k]
        on = s in (_PCSSTATE_RUNNING, _PCSSTATE_THROTTLED) or h
        idle[k] = idle_for[k] if on and not wake else 0.0
        s_out[k] = s
        ab_out[k] = ab
        left[k] = sl
        hot_out[k] = h
        holds_island = islanded and gfm[k]
        cess_out[k] = cessation[k] and not holds_island
        r = ramp_limit_pu[k]
        ramp_out[k] = 1.0 if holds_island else (0.0 if r < 0.0 else (1.0 if r > 1.0 else r))
        close[k] = 1.0 if en and s != _PCSSTATE_FAULT else 0.0
    return s_out, ab_out, trips, left, idle, hot_out, p_out, ref_out, q_out, cess_out, ramp_out, close


@njit(cache=True)
def limits(
    prm: FloatArray,
    d_ambient: float,
    volt_watt: bool,
    v_pu: FloatArray,
    derate: FloatArray,
    cessation: np.ndarray,
    es_ramp: FloatArray,
    dcl_a: FloatArray,
    ccl_a: FloatArray,
    v_dc_v: FloatArray,
    state: np.ndarray,
    hot: np.ndarray,
    vw_lim: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """New (v_pu, i_lim_pu, s_cap, p_max_dis, p_max_ch): :meth:`Pcs.limits`. ``prm`` is
    (p_rated_kw, s_rated_kva, i_max_pu, …) as :func:`twin.models.pcs.kernel_params` builds it."""
    p_rated, s_rated, i_max = prm[0], prm[1], prm[2]
    n = state.shape[0]
    v_out = np.empty(n)
    i_lim = np.empty(n)
    s_cap = np.empty(n)
    p_dis = np.empty(n)
    p_ch = np.empty(n)
    for k in range(n):
        v = nan_max(v_pu[k], 0.0)
        d = nan_min(clip(derate[k], 0.0, 1.0), d_ambient)
        il = i_max * d
        sc = s_rated * nan_min(v * il, d)
        cap = nan_min(p_rated, sc)
        cap = 0.0 if cessation[k] else nan_min(cap, es_ramp[k] * p_rated)
        dis_dc = dcl_a[k] * v_dc_v[k] / 1000.0
        ch_dc = ccl_a[k] * v_dc_v[k] / 1000.0
        s = state[k]
        run = 1.0 if s in (_PCSSTATE_RUNNING, _PCSSTATE_THROTTLED) or hot[k] else 0.0
        vw = nan_max(vw_lim[k], 0.0) * p_rated if volt_watt else cap
        v_out[k] = v
        i_lim[k] = il
        s_cap[k] = sc
        p_dis[k] = run * nan_min(nan_min(cap, vw), dis_dc * 0.98)
        p_ch[k] = run * nan_min(cap, ch_dc / 0.98)
    return v_out, i_lim, s_cap, p_dis, p_ch


@njit(cache=True)
def command(
    dt: float,
    prm: FloatArray,
    flags: np.ndarray,
    alpha_fw: float,
    alpha_vw: float,
    vv_v: FloatArray,
    vv_q: FloatArray,
    islanded: bool,
    v_pu: FloatArray,
    f_hz: FloatArray,
    dp_fw: FloatArray,
    vw_lim: FloatArray,
    p_set: FloatArray,
    q_set: FloatArray,
    p_max_dis: FloatArray,
    p_max_ch: FloatArray,
    s_cap: FloatArray,
    i_lim_pu: FloatArray,
    cessation: np.ndarray,
    gfm: np.ndarray,
    idle_for: FloatArray,
    hot: np.ndarray,
    state: np.ndarray,
    p_ac: FloatArray,
    p_ref: FloatArray,
    q_ac: FloatArray,
) -> tuple[
    FloatArray,
    FloatArray,
    FloatArray,
    np.ndarray,
    FloatArray,
    FloatArray,
    FloatArray,
    np.ndarray,
    FloatArray,
    FloatArray,
    FloatArray,
]:
    """:meth:`Pcs.command`: new (dp_fw, vw_lim, idle_for, hot, p_ac, p_ref, q_ac, state,
    p_cmd, q_cmd, throttle_pct). ``flags`` = (freq_watt, volt_watt, volt_var, reactive current
    enabled, q_priority, standby); ``alpha_*`` the lags' 1 − e^(−dt/τ) for the tick."""
    p_rated, s_rated = prm[0], prm[1]
    f_nom, db, droop = prm[3], prm[4], prm[5]
    vw_v1, vw_v2, vw_p2 = prm[6], prm[7], prm[8]
    q_abs, q_inj_max, thr, hold = prm[9], prm[10], prm[11], prm[12]
    iq_k, iq_vth = prm[13], prm[14]
    freq_watt, volt_watt, volt_var, iq_on, q_priority, standby = (
        flags[0],
        flags[1],
        flags[2],
        flags[3],
        flags[4],
        flags[5],
    )
    n = state.shape[0]
    v = np.empty(n)
    for k in range(n):
        v[k] = nan_max(v_pu[k], 0.0)
    vw_target = np.interp(v, np.array([vw_v1, vw_v2]), np.array([1.0, vw_p2])) if volt_watt else v
    vv = np.interp(v, vv_v, vv_q) if volt_var else v
    dp_out = np.empty(n)
    vw_out = np.empty(n)
    idle_out = np.empty(n)
    hot_out = np.empty(n, dtype=np.bool_)
    p_out = np.empty(n)
    ref_out = np.empty(n)
    q_out = np.empty(n)
    s_out = np.empty(n, dtype=state.dtype)
    p_cmd_out = np.empty(n)
    q_cmd_out = np.empty(n)
    throttle = np.empty(n)
    for k in range(n):
        if freq_watt:
            dev = f_hz[k] - f_nom
            sgn = np.sign(dev)
            excess = sgn * nan_max(abs(dev) - db, 0.0)
            dp_target = -excess / (f_nom * droop)
        else:
            dp_target = 0.0
        dp = dp_fw[k] + (dp_target - dp_fw[k]) * alpha_fw
        vwt = vw_target[k] if volt_watt else 1.0
        vwl = vw_lim[k] + (vwt - vw_lim[k]) * alpha_vw
        want = p_set[k] + dp * p_rated
        hi = p_max_dis[k]
        if volt_watt:
            hi = nan_min(hi, vwl * p_rated)
        lo = -p_max_ch[k]
        p_cmd = clip(want, lo, nan_max(hi, lo))
        sc = s_cap[k]
        vk = v[k]
        q_want = vv[k] * s_rated if volt_var else q_set[k]
        q_target = clip(q_want, -q_abs * s_rated, q_inj_max * s_rated)
        iq = iq_k * nan_max(iq_vth - vk, 0.0) if iq_on else 0.0
        inject = iq > 0
        q_inj = nan_min(vk * nan_min(iq, i_lim_pu[k]) * s_rated, sc)
        if inject:
            q_target = nan_max(q_target, q_inj)
        q_first = inject and q_priority
        q_first_cmd = clip(q_target, -sc, sc)
        p_room = sqrt0(sc * sc - q_first_cmd * q_first_cmd)
        p_cmd = clip(p_cmd, -p_room, p_room) if q_first else clip(p_cmd, -sc, sc)
        q_room = sqrt0(sc * sc - p_cmd * p_cmd)
        q_cmd = q_first_cmd if q_first else clip(q_target, -q_room, q_room)
        cease = cessation[k]
        if cease:
            p_cmd = 0.0
            q_cmd = 0.0
        s = state[k]
        run = s in (_PCSSTATE_RUNNING, _PCSSTATE_THROTTLED) or hot[k]
        idle = abs(p_cmd) <= thr * p_rated and abs(q_cmd) <= thr * s_rated
        may_sleep = run and idle and not (islanded and gfm[k]) and standby
        idle_s = idle_for[k] + dt if may_sleep else 0.0
        sleep = may_sleep and idle_s >= hold - 1e-9
        if sleep:
            p_cmd = 0.0
            q_cmd = 0.0
        p_hard = 0.0 if cease or sleep else (p_room if q_first else sc)
        pa = clip(p_ac[k], -p_hard, p_hard)
        pr = clip(p_ref[k], -p_hard, p_hard)
        q_hard = sqrt0(sc * sc - pa * pa)
        q_now = q_cmd if q_first else clip(q_ac[k], -q_hard, q_hard)
        throttled = run and not sleep and (abs(p_cmd - want) > 1e-6 * p_rated or cease)
        if run:
            s = _PCSSTATE_STANDBY if sleep else (_PCSSTATE_THROTTLED if throttled else _PCSSTATE_RUNNING)
        held = 100.0 if cease else nan_min(100.0 * abs(p_cmd - want) / p_rated, 100.0)
        throttle[k] = held if run and throttled else 0.0
        dp_out[k] = dp
        vw_out[k] = vwl
        idle_out[k] = idle_s
        hot_out[k] = sleep
        p_out[k] = pa
        ref_out[k] = pr
        q_out[k] = 0.0 if cease or sleep else q_now
        s_out[k] = s
        p_cmd_out[k] = p_cmd if run else 0.0
        q_cmd_out[k] = q_cmd if run else 0.0
    return dp_out, vw_out, idle_out, hot_out, p_out, ref_out, q_out, s_out, p_cmd_out, q_cmd_out, throttle


# -- the Pcs methods' compiled bodies (``Pcs(kernel="compiled")`` dispatches here) ----------


def run_update_states(
    pcs: Pcs,
    dt: float,
    contactor_closed: FloatArray,
    bms_fault: FloatArray,
    grid_ok: FloatArray,
    grid_trip: FloatArray,
    trip_bits: FloatArray,
    cessation: npt.ArrayLike | None,
    ramp_limit_pu: npt.ArrayLike | None,
) -> FloatArray:
    from twin.models import pcs as pcs_mod

    n = pcs.n
    f = np.asarray
    (
        pcs.state,
        pcs.alarm_bits,
        pcs.trip_count,
        pcs.start_left,
        pcs.idle_for,
        pcs.hot,
        pcs.p_ac,
        pcs.p_ref,
        pcs.q_ac,
        pcs.cessation,
        pcs.es_ramp,
        close,
    ) = update_states(
        dt,
        pcs.islanded,
        pcs.islanded_for,
        pcs.params.anti_islanding_s,
        pcs.params.start_s,
        pcs_mod._SELF_CLEARING,
        pcs_mod._OVER_TEMP,
        pcs.state,
        pcs.alarm_bits,
        f(pcs.trip_count, dtype=float),
        pcs.start_left,
        pcs.idle_for,
        pcs.hot,
        pcs.p_ac,
        pcs.p_ref,
        pcs.q_ac,
        pcs.gfm,
        f(pcs.enable, dtype=float),
        f(pcs.fault_reset, dtype=float),
        f(pcs.fault_trip, dtype=float),
        f(pcs.fault_dc_ov, dtype=float),
        f(pcs.overtemp, dtype=float),
        f(contactor_closed, dtype=float),
        f(bms_fault, dtype=float),
        f(grid_ok, dtype=float),
        f(grid_trip, dtype=float),
        f(trip_bits, dtype=np.int64),
        np.zeros(n, dtype=bool) if cessation is None else f(cessation, dtype=bool),
        np.ones(n) if ramp_limit_pu is None else f(ramp_limit_pu, dtype=float),
    )
    pcs.fault_reset = np.zeros(n)
    return close


def _vec(x: float | npt.ArrayLike, n: int, dtype: type = float) -> np.ndarray:
    """``x`` as a length-``n`` array (a scalar repeated), without np.broadcast_to's cost."""
    if isinstance(x, float | int | bool):
        return np.full(n, x, dtype=dtype)
    a: np.ndarray = np.asarray(x, dtype=dtype)
    return a if a.shape == (n,) else np.broadcast_to(a, (n,))


def _limit_params(pcs: Pcs) -> FloatArray:
    pr = pcs.params
    return np.array([pr.p_rated_kw, pr.s_rated_kva, pr.i_max_pu])


def run_limits(
    pcs: Pcs, dcl_a: FloatArray, ccl_a: FloatArray, v_dc_v: FloatArray, v_pu: float | FloatArray
) -> None:
    """:meth:`Pcs.limits` (after the ambient temperature is stored)."""
    from twin.models.pcs_params import ambient_derate_pu

    pr = pcs.params
    n = pcs.n
    v = _vec(v_pu, n)
    pcs.v_pu, pcs.i_lim_pu, pcs.s_cap, pcs.p_max_dis, pcs.p_max_ch = limits(
        _cached(pcs, "limits", lambda: _limit_params(pcs)),
        float(ambient_derate_pu(pcs.t_ambient_degc, pr)),
        bool(pr.volt_watt),
        v,
        _vec(pcs.derate, n),
        _vec(pcs.cessation, n, bool),
        _vec(pcs.es_ramp, n),
        _vec(dcl_a, n),
        _vec(ccl_a, n),
        _vec(v_dc_v, n),
        pcs.state,
        pcs.hot,
        pcs.vw_lim,
    )


def _alpha(dt: float, t_r_s: float) -> float:
    # the lag_step's 1 - e^(-dt/τ), computed as numpy does it (τ = 0 jumps)
    with np.errstate(divide="ignore", over="ignore"):
        return float(-np.expm1(-dt / np.asarray(response_tau_s(t_r_s), dtype=float)))


def _cached(pcs: Pcs, key: object, make: Callable[[], Any]) -> Any:
    """What the kernels take that changes only with the site's settings, built once per key."""
    cache: dict[object, Any] = pcs.__dict__.setdefault("_kernel_cache", {})
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = make()
    return hit


def _command_params(
    pcs: Pcs, code: GridCode, f_nom_hz: float, dt: float
) -> tuple[FloatArray, np.ndarray, float, float, FloatArray, FloatArray]:
    pr = pcs.params
    fw, vw, vv, rc = code.freq_watt, code.volt_watt, code.volt_var, code.reactive_current
    prm = np.array(
        [
            pr.p_rated_kw,
            pr.s_rated_kva,
            pr.i_max_pu,
            f_nom_hz,
            fw.deadband_hz,
            fw.droop,
            vw.v1_pu,
            vw.v2_pu,
            vw.p2_absorbing_pu,
            pr.q_absorb_max_pu,
            pr.q_inject_max_pu,
            pr.standby_threshold_pu,
            pr.standby_hold_s,
            rc.k_factor,
            rc.v_threshold_pu,
        ]
    )
    flags = np.array([pr.freq_watt, pr.volt_watt, pr.volt_var, rc.enabled, rc.q_priority, pr.standby])
    vv_v, vv_q = np.asarray(vv.v_pu, dtype=float), np.asarray(vv.q_pu, dtype=float)
    return prm, flags, _alpha(dt, fw.t_r_s), _alpha(dt, vw.t_r_s), vv_v, vv_q


def run_command(
    pcs: Pcs,
    *,
    dt: float,
    v_pu: float | FloatArray,
    f_hz: float | FloatArray,
    f_nom_hz: float,
    code: GridCode,
) -> tuple[FloatArray, FloatArray]:
    """:meth:`Pcs.command`."""
    n = pcs.n
    # keyed by the grid code's identity; the entry keeps the code alive, so the id stays its own
    prm, flags, alpha_fw, alpha_vw, vv_v, vv_q, _code = _cached(
        pcs, (id(code), f_nom_hz, dt), lambda: (*_command_params(pcs, code, f_nom_hz, dt), code)
    )
    (
        pcs.dp_fw,
        pcs.vw_lim,
        pcs.idle_for,
        pcs.hot,
        pcs.p_ac,
        pcs.p_ref,
        pcs.q_ac,
        pcs.state,
        p_cmd,
        q_cmd,
        pcs.throttle_pct,
    ) = command(
        dt,
        prm,
        flags,
        alpha_fw,
        alpha_vw,
        vv_v,
        vv_q,
        bool(pcs.islanded),
        _vec(v_pu, n),
        _vec(f_hz, n),
        pcs.dp_fw,
        pcs.vw_lim,
        _vec(pcs.p_set, n),
        _vec(pcs.q_set, n),
        pcs.p_max_dis,
        pcs.p_max_ch,
        pcs.s_cap,
        pcs.i_lim_pu,
        _vec(pcs.cessation, n, bool),
        pcs.gfm,
        pcs.idle_for,
        pcs.hot,
        pcs.state,
        pcs.p_ac,
        pcs.p_ref,
        pcs.q_ac,
    )
    return p_cmd, q_cmd
