"""The PCS fleet's state machine compiled: one call per tick instead of ~90 small numpy calls.

The same logic as :meth:`twin.models.pcs.Pcs.update_states` (which stays the reference,
``kernel: numpy``), written as one loop over the units and compiled with numba. It is
integer logic plus assignments of held values, so the two paths agree to the bit
(``tests/unit/test_pcs_kernel.py``). The call returns new arrays, as the numpy path does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models.pcs_params import (
    _PCSSTATE_FAULT,
    _PCSSTATE_OFF,
    _PCSSTATE_RUNNING,
    _PCSSTATE_STANDBY,
    _PCSSTATE_STARTING,
    _PCSSTATE_THROTTLED,
    PCS_ALARM_BITS,
)

__all__ = ["update_states"]

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
