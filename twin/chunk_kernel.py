"""The compiled body of a chunk (:mod:`twin.chunk`): grid-connected ticks, one after another,
in one call, each the same arithmetic as the per-tick path, stopping before the first tick
on which anything discrete would change.

Every device's piece is the compiled kernel the per-tick path calls (battery, BMS, PCS);
what is here is the order of the tick (:func:`twin.discrete.discrete_step`, then
:func:`twin.site_fixed.continuous_fixed`, :func:`twin.integrate.end_current` and
:func:`twin.site_fixed.bookkeeping`) and its few scalar formulas (PCC voltage, cooling lag,
UPS, the energy books), written with the same operations in the same order so that a chunk
and the per-tick path agree to the bit (``tests/unit/twin/test_chunk.py`` holds them to it).

A tick is evaluated into new arrays and committed only when it is quiet: the grid-code
monitors stay on their quiet path, the BMS's alarms, latches, contactors and charge states
and the PCS's states, alarms, trip counts and standby flags do not change, the UPS keeps its
input and carries the racks without shedding, and the state stays finite. The first tick that
is not quiet is left to the per-tick path (which records its events); the call returns how
many ticks it committed.
"""

from __future__ import annotations

import math
from operator import attrgetter

import numpy as np
from numba import njit
from numba.extending import register_jitable

from twin._interp import FloatArray
from twin.aging_kernel import feed
from twin.models import kernel_cache
from twin.models.battery_kernel import outputs_now, pack_instant, step_power
from twin.models.bms import Contactor
from twin.models.bms_kernel import count, protect
from twin.models.kernel_math import np_sum
from twin.models.pcs_kernel import command, limits, update_states
from twin.models.pcs_params import _PCSSTATE_RUNNING, _PCSSTATE_THROTTLED
from twin.models.pcs_step_kernel import end_current, finish, follow
from twin.models.ups import capability_kw, carry, input_ok
from twin.pms import thevenin_v
from twin.site_fixed import book_pcs

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

for _fn in (thevenin_v, input_ok, capability_kw, carry, book_pcs):
    register_jitable(_fn)  # the PCC's, the UPS's and the PCS books' formulas compiled from their own source

__all__ = ["ENERGY_FIELDS", "SCALARS", "book_tick", "run"]

ENERGY_FIELDS = (
    "grid_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
    "bess_discharge_kwh",
    "bess_charge_kwh",
    "pv_kwh",
    "genset_kwh",
    "it_kwh",
    "cooling_kwh",
    "base_kwh",
    "pcs_loss_kwh",
    "aux_kwh",
    "battery_chem_kwh",
    "battery_loss_kwh",
    "ups_loss_kwh",
    "ups_discharge_kwh",
    "supplied_kwh",
    "unserved_kwh",
    "it_unserved_kwh",
)
"""The :class:`twin.bus.Energy` accumulators a grid-connected tick books, in ``acc``'s order."""

energy_of = attrgetter(*ENERGY_FIELDS)
"""An :class:`twin.bus.Energy`'s :data:`ENERGY_FIELDS`, as a tuple in that order."""

SCALARS = (
    "p_grid",
    "q_grid",
    "v",
    "p_cool",
    "p_cool_mean",
    "healthy_for",
    "live_for",
    "it_bus",
    "ups_short",
    "p_bus_load",
    "ups_e_kwh",
    "ups_p_in",
    "ups_p_out",
    "ups_p_batt",
    "ups_loss",
)
"""The site's scalar state the chunk carries, in ``sc``'s order."""

(_P_GRID, _Q_GRID, _V, _P_COOL, _P_COOL_MEAN, _HEALTHY, _LIVE, _IT_BUS, _UPS_SHORT, _P_BUS_LOAD,
 _UPS_E, _UPS_P_IN, _UPS_P_OUT, _UPS_P_BATT, _UPS_LOSS) = range(15)  # fmt: skip

_RUNNING = _PCSSTATE_RUNNING
_THROTTLED = _PCSSTATE_THROTTLED
_CLOSED = int(Contactor.CLOSED)
_FAULT = int(Contactor.FAULT)


@njit(cache=True, inline="always")
def _monitor_quiet(v: float, f: float, thr_c: np.ndarray, thr_g: FloatArray, thr_h: FloatArray,
                   reg: FloatArray, mode: int, may_trip: int) -> bool:  # fmt: skip
    """The grid-code monitor's quiet repeat (``GridCodeMonitor.update``): inside every
    threshold and in the same ride-through mode; rocof is 0 and the unit not islanded."""
    if not (math.isfinite(v) and math.isfinite(f)):
        return False
    for j in range(thr_c.shape[0]):
        c = thr_c[j]
        val = v if c == 0 else (f if c == 1 else 0.0)
        if val * thr_g[j] > thr_h[j]:
            return False
    m = may_trip
    for j in range(reg.shape[0]):
        if v > reg[j, 0] and v < reg[j, 1]:
            m = int(reg[j, 2])
            break
    return m == mode


@njit(cache=True, inline="always")
def _bms_changed(b_bits: np.ndarray, bits: np.ndarray, b_latched: np.ndarray, latched: np.ndarray,
                 b_cont: np.ndarray, cont: np.ndarray, b_cha: np.ndarray, cha: np.ndarray,
                 closed: FloatArray, fault: FloatArray) -> bool:  # fmt: skip
    """Whether the BMS's alarms, latches, contactors or charge states change; fills the
    contactor masks the PCS reads."""
    for c in range(bits.shape[0]):
        if b_bits[c] != bits[c] or b_latched[c] != latched[c] or b_cont[c] != cont[c] or b_cha[c] != cha[c]:
            return True
        closed[c] = 1.0 if b_cont[c] == _CLOSED else 0.0
        fault[c] = 1.0 if b_cont[c] == _FAULT else 0.0
    return False


@njit(cache=True, inline="always")
def _pcs_changed(new: tuple, old: tuple) -> bool:
    """Whether the PCS state machines change anything but their timers: state, alarms, trip
    counts, standby, cessation, or the outputs a transition resets."""
    for c in range(new[0].shape[0]):
        if (
            new[0][c] != old[0][c]
            or new[1][c] != old[1][c]
            or new[2][c] != old[2][c]
            or new[3][c] != old[3][c]
            or new[4][c] != old[4][c]
            or new[5][c] != old[5][c]
            or new[6][c] != old[6][c]
            or new[7][c] != old[7][c]
        ):
            return True
    return False


@njit(cache=True, inline="always")
def _ups_carries(
    v: float, f: float, f0: float, held: FloatArray, e_kwh: float, prm: FloatArray, dt: float
) -> bool:
    """The UPS keeps its input and carries the racks' held draw (``twin.pms.shed_load``): no
    rack is shed. ``prm``: v_min, v_max, f window, rating, efficiency, reserve ticks,
    allowance, energy, recharge fraction."""
    if not input_ok(True, v, f, f0, prm[0], prm[1], prm[2]):
        return False
    total = 0.0  # np.cumsum(rack_est)[-1]: a sequential sum
    for j in range(held.shape[0]):
        total += held[j]
    return not total > capability_kw(e_kwh, prm[6], dt, prm[5], prm[3], prm[4])


@njit(cache=True, inline="always")
def _book(sc: FloatArray, acc: FloatArray, books: FloatArray, p_ac_mean: FloatArray,
          q_ac_mean: FloatArray, aux: FloatArray, loss: FloatArray, p_dc: FloatArray, p_dc_w: FloatArray,
          p_chem_w: FloatArray, pv: float, it: float, base_now: float, tan_phi: float, u_loss: float,
          u_batt: float, short: float, grid: FloatArray, h: float, p_gen: float, rot_p: float,
          on_grid: bool) -> float:  # fmt: skip
    """``twin.site_fixed.bookkeeping``: the bus's import and voltage (on the grid; 0 and held
    off it) into ``sc``, the energy books into ``acc`` (:data:`ENERGY_FIELDS`); returns the
    import. ``p_gen``: the gensets' tick mean; ``rot_p``: the rotating masses' share of an
    island's imbalance (a chunk, on the grid with no genset running, passes 0 for both)."""
    p_bess = np_sum(p_ac_mean)
    aux_t = np_sum(aux)
    load = sc[_IT_BUS] + sc[_P_COOL_MEAN] + base_now + aux_t
    sc[_P_BUS_LOAD] = load
    if on_grid:
        p_grid = load - p_bess - pv - p_gen
        q_grid = (load - aux_t) * tan_phi - np_sum(q_ac_mean)
        sc[_P_GRID], sc[_Q_GRID] = p_grid, q_grid
        sc[_V] = thevenin_v(grid[0], grid[1], grid[2], grid[3], p_grid, q_grid)
    else:
        p_grid = 0.0
        sc[_P_GRID], sc[_Q_GRID] = 0.0, 0.0
    chem = np_sum(p_chem_w) / 1000.0
    p_dc_del = np_sum(p_dc_w) / 1000.0
    acc[0] += p_grid * h
    acc[1] += max(p_grid, 0.0) * h
    acc[2] += max(-p_grid, 0.0) * h
    dis = np.maximum(p_ac_mean, 0.0) * h
    ch = np.maximum(-p_ac_mean, 0.0) * h
    books[0] += dis
    books[1] += ch
    book_pcs(books, p_ac_mean, q_ac_mean, p_dc_w, h)
    acc[3] += np_sum(dis)
    acc[4] += np_sum(ch)
    acc[5] += pv * h
    acc[6] += p_gen * h
    acc[7] += it * h
    acc[8] += sc[_P_COOL_MEAN] * h
    acc[9] += base_now * h
    acc[10] += np_sum(loss) * h
    acc[11] += aux_t * h
    acc[12] += chem * h
    acc[13] += (chem - p_dc_del) * h
    acc[14] += u_loss * h
    acc[15] += u_batt * h
    acc[16] += (max(p_grid, 0.0) + pv + p_gen + max(chem, 0.0) + max(u_batt, 0.0) + max(-rot_p, 0.0)) * h
    acc[17] += (np_sum(p_dc) - p_dc_del) * h
    acc[18] += short * h
    return p_grid


@njit(cache=True, error_model="numpy")
def book_tick(sc: FloatArray, acc: FloatArray, books: FloatArray, p_ac_mean: FloatArray,
              q_ac_mean: FloatArray, aux: FloatArray, loss: FloatArray, p_dc: FloatArray, p_dc_w: FloatArray,
              p_chem_w: FloatArray, p_gen_mean: FloatArray, prm: FloatArray, grid: FloatArray,
              on_grid: bool) -> float:  # fmt: skip
    """:func:`_book` for one tick outside a chunk (``twin.site_fixed.bookkeeping``'s compiled
    path): ``prm`` holds pv, it, base_now, tan_phi, u_loss, u_batt, short, h and rot_p."""
    p_gen = np_sum(p_gen_mean) if p_gen_mean.shape[0] else 0.0
    return _book(sc, acc, books, p_ac_mean, q_ac_mean, aux, loss, p_dc, p_dc_w, p_chem_w, prm[0], prm[1],
                 prm[2], prm[3], prm[4], prm[5], prm[6], grid, prm[7], p_gen, prm[8], on_grid)  # fmt: skip


@njit(cache=True, inline="always")
def _feed_aging(dt: float, soc: FloatArray, tc: FloatArray, i_pack: FloatArray, cap: FloatArray, n_par: float,
                ag_soc: FloatArray, ag_tk: FloatArray, ag_c: FloatArray, hyst: float, clock: FloatArray,
                undirected: np.ndarray, state: tuple) -> None:  # fmt: skip
    """``twin.site_fixed.age`` up to the window: each cell's SoC and temperature at the tick's
    end and its C-rate, into :func:`twin.aging_kernel.feed`."""
    n, n_cell = soc.shape
    for c in range(n):
        i_cell = (i_pack[c] / n_par) * 1.0
        for j in range(n_cell):
            u = c * n_cell + j
            ag_soc[u] = soc[c, j]
            ag_tk[u] = tc[c, j] + 273.15
            ag_c[u] = abs(i_cell) / cap[c, j]
    feed(dt, ag_soc, ag_tk, ag_c, hyst, clock, undirected, *state)


@njit(cache=True, error_model="numpy")
def run(
    n_ticks: int,
    dt: float,
    # -- per-tick exogenous series (GPU, cooling target, PV), row k for tick k
    p_it: FloatArray,
    racks: FloatArray,  # row 0: the draw before the chunk; row k + 1: tick k's
    cool_target: FloatArray,
    p_pv: FloatArray,
    # -- site constants: grid, facility, UPS, monitors
    grid: FloatArray,
    fac: FloatArray,
    ups_prm: FloatArray,
    has_ups: bool,
    thr_c: np.ndarray,
    thr_g: FloatArray,
    thr_h: FloatArray,
    reg: FloatArray,
    quiet_mode: int,
    may_trip: int,
    # -- scalar state (SCALARS) and energy accumulators (ENERGY_FIELDS), updated in place
    sc: FloatArray,
    acc: FloatArray,
    rack_est: FloatArray,
    books: FloatArray,  # Site.pcs_books, updated in place
    # -- battery
    tb: tuple,
    bat_const: tuple,
    soc: FloatArray,
    v_rc: FloatArray,
    tc: FloatArray,
    tj: FloatArray,
    i_pack: FloatArray,
    heat: FloatArray,
    out: FloatArray,
    cab: FloatArray,
    # -- BMS
    bms_const: tuple,
    bms_state: tuple,
    # -- PCS
    pcs_const: tuple,
    pcs_state: tuple,
    # -- per-tick records for the books kept in Python (demand register, aging)
    rec_p_grid: FloatArray,
    # -- the aging model, fed every tick (twin.aging_kernel.feed); the window is applied in Python
    aging_on: bool,
    n_par: float,
    ag_hyst: float,
    ag_clock: FloatArray,
    ag_undirected: np.ndarray,
    ag_state: tuple,
    # -- each tick's end for its snapshot (twin.chunk), if these have rows: per unit the battery's
    # outputs, its pack current, the PCS books and twin.site_snapshot.RECORDED; SCALARS then
    # ENERGY_FIELDS
    rec_units: FloatArray,
    rec_sc: FloatArray,
) -> int:
    """Run up to ``n_ticks`` quiet grid-connected ticks; returns how many were committed."""
    vs, thev_r, thev_x, s_sc, f_grid, f0 = grid[0], grid[1], grid[2], grid[3], grid[4], grid[5]
    base_now, tau_cool, tan_phi, hold, e_cool = fac[0], fac[1], fac[2], fac[3], fac[4]
    cap_ah, r_scale, t_cool, thermal, kscale, ocv_k = bat_const
    (
        q_pack, drift_rate, gain, bias, rest_c, rest_time_s, v_end, f_cont, f_ground, f_other,
        kprm, kdis0, kdis1, kbits, trip_mask, disconnect,
    ) = bms_const  # fmt: skip
    (
        soc_est,
        drift_off,
        rest_s,
        at_top,
        ccl,
        dcl,
        bms_bits,
        latched,
        contactor,
        precharge,
        cha_st,
        close_cmd,
    ) = bms_state
    (
        anti_islanding_s, start_s, self_clearing, over_temp, islanded_for, gfm, enable, fault_reset,
        fault_trip, fault_dc_ov, overtemp, grid_ok, grid_trip, trip_bits, cess_mon, ramp_limit,
        lim_prm, d_ambient, volt_watt, cmd_prm, cmd_flags, alpha_fw, alpha_vw, vv_v, vv_q,
        p_set, q_set, derate, rate_kw_s, tau, tau_q, fin_prm, aux_base,
    ) = pcs_const  # fmt: skip
    (
        state, alarm_bits, trip_count, start_left, idle_for, hot, p_ac, p_ref, q_ac, cessation,
        es_ramp, dp_fw, vw_lim, v_pu, i_lim_pu, s_cap, p_max_dis, p_max_ch, p_ac_mean, q_ac_mean,
        loss, aux, p_dc, throttle,
    ) = pcs_state  # fmt: skip
    n = state.shape[0]
    n_cell = soc.shape[1]
    h = dt / 3600.0
    ag_soc = np.empty(n * n_cell)
    ag_tk = np.empty(n * n_cell)
    ag_c = np.empty(n * n_cell)
    new_soc = np.empty_like(soc)
    new_vrc = np.empty_like(v_rc)
    new_tc = np.empty_like(tc)
    new_tj = np.empty_like(tj)
    new_heat = np.empty_like(heat)
    new_cab = np.empty_like(cab)
    pe = np.empty((2, n))
    v_vec = np.empty(n)
    f_vec = np.empty(n)
    closed = np.empty(n)
    bms_fault = np.empty(n)
    i_now = np.empty(n)
    p_dc_w = np.empty(n)
    held = np.empty(rack_est.shape[0])
    for k in range(n_ticks):
        # ---- discrete (twin.discrete.discrete_step) on the state at the tick's start
        healthy = sc[_HEALTHY] + dt
        v = thevenin_v(vs, thev_r, thev_x, s_sc, sc[_P_GRID], sc[_Q_GRID])  # set_bus, grid mode
        f = f_grid
        if not _monitor_quiet(v, f, thr_c, thr_g, thr_h, reg, quiet_mode, may_trip):
            return k
        i_now[:] = i_pack
        b_soc, b_drift, b_rest, b_top, _snap, _due, flagged = count(
            dt, i_now, out[5], q_pack, soc_est, drift_off, drift_rate, gain, bias, rest_s, at_top,
            rest_c, rest_time_s, v_end,
        )  # fmt: skip
        if flagged:  # an OCV recalibration: Python's (Bms._recalibrate)
            return k
        v_imb = 1000.0 * (out[5] - out[4])
        b_ccl, b_dcl, b_bits, b_latched, b_cont, b_pre, b_cha = protect(
            dt, i_now, out[7], out[6], out[5], out[4], v_imb, b_soc, contactor, precharge, latched,
            close_cmd, f_cont, f_ground, f_other, kprm, kdis0, kdis1, kbits, trip_mask,
        )  # fmt: skip
        if _bms_changed(
            b_bits, bms_bits, b_latched, latched, b_cont, contactor, b_cha, cha_st, closed, bms_fault
        ):
            return k
        (
            s_state, s_bits, s_trips, s_start, s_idle, s_hot, s_pac, s_pref, s_qac, s_cess, s_ramp, s_close,
        ) = update_states(
            dt, False, islanded_for, anti_islanding_s, start_s, self_clearing, over_temp, state,
            alarm_bits, trip_count, start_left, idle_for, hot, p_ac, p_ref, q_ac, gfm, enable,
            fault_reset, fault_trip, fault_dc_ov, overtemp, closed, bms_fault, grid_ok, grid_trip,
            trip_bits, cess_mon, ramp_limit,
        )  # fmt: skip
        if _pcs_changed(
            (s_state, s_bits, s_trips, s_hot, s_cess, s_pac, s_pref, s_qac),
            (state, alarm_bits, trip_count, hot, cessation, p_ac, p_ref, q_ac),
        ):
            return k
        v_vec[:] = v
        f_vec[:] = f
        l_v, l_ilim, l_scap, l_pdis, l_pch = limits(
            lim_prm, d_ambient, volt_watt, v_vec, derate, s_cess, s_ramp, b_dcl, b_ccl, out[2],
            s_state, s_hot, vw_lim,
        )  # fmt: skip
        # pms_loads on the grid: the UPS's input and walk-in, rack shedding (twin.pms)
        for j in range(held.shape[0]):  # shed_load: the held peak of last tick's draw
            held[j] = max(racks[k, j], rack_est[j] * hold)
        it = p_it[k]
        if has_ups:
            if not _ups_carries(v, f, f0, held, sc[_UPS_E], ups_prm, dt):
                return k
            u_e, u_in, u_out, u_batt, u_loss, short = carry(
                it, True, dt, sc[_UPS_E], ups_prm[6], ups_prm[3], ups_prm[4], ups_prm[7], ups_prm[8]
            )
            it_bus = u_in
        else:
            u_e = u_in = u_out = u_batt = u_loss = short = 0.0
            it_bus = it
        # ---- continuous (twin.site_fixed.continuous_fixed)
        target = cool_target[k]
        c0 = sc[_P_COOL]
        p_cool = target + (c0 - target) * e_cool
        p_cool_mean = target + (c0 - target) * tau_cool / dt * (1.0 - e_cool)
        (
            c_dp, c_vw, c_idle, c_hot, c_pac, c_pref, c_qac, c_state, p_cmd, q_cmd, c_thr,
        ) = command(
            dt, cmd_prm, cmd_flags, alpha_fw, alpha_vw, vv_v, vv_q, False, v_vec, f_vec, dp_fw, vw_lim,
            p_set, q_set, l_pdis, l_pch, l_scap, l_ilim, s_cess, gfm, s_idle, s_hot, s_state, s_pac,
            s_pref, s_qac,
        )  # fmt: skip
        for c in range(n):
            if c_state[c] != s_state[c] or c_hot[c] != s_hot[c]:
                return k
        # step_following: ramp + lag (twin.models.pcs_step_kernel.follow)
        f_pac, f_pref, f_mean, f_qac, f_qmean = follow(
            c_pac, c_pref, p_cmd, c_qac, q_cmd, rate_kw_s, tau, tau_q, dt
        )
        n_loss, n_aux, n_pdc = finish(f_mean, c_state, c_hot, fin_prm, aux_base)
        for c in range(n):
            p_dc_w[c] = n_pdc[c] * 1000.0
        step_power(
            tb, p_dc_w, closed, dt, i_pack, soc, v_rc, tc, tj, cap_ah, r_scale, t_cool, thermal, kscale,
            (new_soc, new_vrc, new_tc, new_tj, new_heat), new_cab, ocv_k,
        )  # fmt: skip
        # end_current (twin.integrate): the current at the end of the tick
        pack_instant(tb, new_cab[0], new_soc, new_vrc, new_tc, r_scale, kscale, pe, ocv_k)
        finite = end_current(f_pac, c_state, c_hot, fin_prm, closed, pe, new_soc, new_tc, i_now)
        if not finite:  # the per-tick path raises SolverError and restores
            return k
        # ---- commit the tick
        soc[:] = new_soc
        v_rc[:] = new_vrc
        tc[:] = new_tc
        tj[:] = new_tj
        heat[:] = new_heat
        cab[:] = new_cab
        i_pack[:] = i_now
        soc_est[:], drift_off[:], rest_s[:], at_top[:] = b_soc, b_drift, b_rest, b_top
        ccl[:], dcl[:], precharge[:] = b_ccl, b_dcl, b_pre
        for c in range(n):
            close_cmd[c] = s_close[c] * (1.0 if disconnect[c] <= 0 else 0.0)
        start_left[:], es_ramp[:] = s_start, s_ramp
        v_pu[:], i_lim_pu[:], s_cap[:], p_max_dis[:], p_max_ch[:] = l_v, l_ilim, l_scap, l_pdis, l_pch
        dp_fw[:], vw_lim[:], idle_for[:], throttle[:] = c_dp, c_vw, c_idle, c_thr
        p_ac[:], p_ref[:], q_ac[:], p_ac_mean[:], q_ac_mean[:] = f_pac, f_pref, f_qac, f_mean, f_qmean
        loss[:], aux[:], p_dc[:] = n_loss, n_aux, n_pdc
        rack_est[:] = held
        sc[_HEALTHY] = healthy
        sc[_LIVE] = sc[_LIVE] + dt
        sc[_UPS_E], sc[_UPS_P_IN], sc[_UPS_P_OUT] = u_e, u_in, u_out
        sc[_UPS_P_BATT], sc[_UPS_LOSS] = u_batt, u_loss
        sc[_UPS_SHORT] = short
        sc[_IT_BUS] = it_bus
        sc[_P_COOL], sc[_P_COOL_MEAN] = p_cool, p_cool_mean
        p_grid = _book(sc, acc, books, p_ac_mean, q_ac_mean, aux, loss, p_dc, cab[1], cab[2], p_pv[k], it,
                       base_now, tan_phi, u_loss, u_batt, short, grid, h, 0.0, 0.0, True)  # fmt: skip
        rec_p_grid[k] = p_grid
        if aging_on:
            _feed_aging(dt, soc, tc, i_pack, cap_ah, n_par, ag_soc, ag_tk, ag_c, ag_hyst, ag_clock,
                        ag_undirected, ag_state)  # fmt: skip
        # the outputs the next tick's BMS reads (Battery.outputs_now)
        outputs_now(tb, i_pack, soc, v_rc, tc, r_scale, cap_ah, heat, kscale, out, ocv_k)
        _record(k, rec_units, rec_sc, out, i_pack, books, (p_ac, p_ac_mean, q_ac, q_ac_mean, p_dc, loss, aux,
                p_max_dis, p_max_ch, throttle, ccl, dcl, soc_est), sc, acc)  # fmt: skip
    return n_ticks


@njit(cache=True, inline="always")
def _record(k: int, rec_units: FloatArray, rec_sc: FloatArray, out: FloatArray, i_pack: FloatArray,
            books: FloatArray, recorded: tuple, sc: FloatArray, acc: FloatArray) -> None:  # fmt: skip
    """Tick ``k``'s row per unit of the battery's outputs, its pack current, the PCS books and
    ``recorded`` (``twin.site_snapshot.RECORDED``'s order), and of the scalars then the energy
    books, if the records have rows (a chunk with ``each``)."""
    if rec_units.shape[0] == 0:
        return
    rec, rec_s = rec_units[k], rec_sc[k]
    n_out, n_books = out.shape[0], books.shape[0]
    rec[:n_out] = out
    rec[n_out] = i_pack
    rec[n_out + 1 : n_out + 1 + n_books] = books
    j = n_out + 1 + n_books
    for a in recorded:
        rec[j] = a
        j += 1
    rec_s[: sc.shape[0]] = sc
    rec_s[sc.shape[0] :] = acc
