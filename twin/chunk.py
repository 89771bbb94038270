"""Chunked time advance: many quiet grid-connected ticks in one compiled call.

:func:`advance` moves the site ``n`` ticks ahead with its inputs held. Where the site is
grid-connected and nothing discrete can happen (see :func:`chunk_len`), it runs a stretch of
ticks through :func:`twin.chunk_kernel.run`, the same arithmetic as the per-tick path; the
first tick on which something discrete would change (a BMS or PCS state, an alarm, the
grid-code monitors leaving their quiet path, the UPS or rack shedding, an aging window
closing) and every tick outside such a stretch run through :meth:`Site.step`, which records
the events. Chunked and per-tick runs give the same snapshot to the bit
(``tests/unit/twin/test_chunk.py``).

What is evaluated per tick in Python around the compiled call: before it, the GPU fleet's
exact tick means, the PV plant and the cooling target (exogenous: they do not depend on the
storage's state); after it, the demand register from the recorded import. The aging model is
fed inside the call (:mod:`twin.aging_kernel`); its window is applied after it. The GPU fleet
and PV are most of what a chunked tick costs besides the call (``docs/performance.md``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin import chunk_kernel as ck
from twin.clock import day_of_year
from twin.discrete import grid_trips
from twin.models import pcs_kernel as pk
from twin.models import pv_kernel as pvk
from twin.models.battery import EcmState
from twin.models.bms import _TRIP_MASK
from twin.models.grid import cooling_target_kw
from twin.models.gridcode.monitor import _MAY_TRIP
from twin.models.pcs import _OVER_TEMP, _SELF_CLEARING
from twin.models.pcs_params import ambient_derate_pu
from twin.models.pcs_step_kernel import finish_params
from twin.pms import BusMode, Transfer
from twin.site_fixed import book_aging
from twin.site_snapshot import MOVING_SCALARS, RECORDED, make_snapshot, stretch_snapshots
from twin.snapshot import Snapshot

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["MAX_CHUNK", "advance", "chunk_len"]

MAX_CHUNK = 1024
"""Ticks per compiled call at most (the GPU fleet's per-rack draw is held for each of them)."""


def advance(site: Site, n: int, each: Callable[[Snapshot], None] | None = None) -> Snapshot:
    """Advance ``n`` ticks, quiet stretches as chunks; returns the snapshot after the last.

    ``each``, if given, is called with every tick's snapshot in order, chunked ticks included:
    a chunk then calls the compiled step one tick at a time over state it prepared once, and
    builds each tick's snapshot (a scenario run's per-tick trace and expectations)."""
    left = int(n)
    while left > 0:
        k = chunk_len(site, left)
        done = _run(site, k, each) if k > 1 else 0
        left -= done
        if left > 0 and done < max(k, 2):
            site._step_once()  # the tick that is not quiet, or one outside a stretch
            left -= 1
            if each is not None:
                each(site._snapshot)
    return site._snapshot


def chunk_len(site: Site, limit: int) -> int:
    """How many ticks (at most ``limit`` and :data:`MAX_CHUNK`) may run as one chunk from
    here: 0 unless the site is grid-connected, on the compiled fixed-step path, with nothing
    discrete pending; a chunk also ends on the tick that closes an aging window."""
    if not _eligible(site):
        return 0
    k = min(int(limit), MAX_CHUNK)
    ag = site.aging
    if ag is not None:
        w, thr = ag._w_t_s, ag.window_s * (1.0 - 1e-12)
        for i in range(1, k + 1):  # the same sums as AgingModel.accumulate
            w += site.dt
            if w >= thr:
                return i
    return k


def _eligible(site: Site) -> bool:
    pcs, bms, bat, gs, ups, pv = site.pcs, site.bms, site.battery, site.genset, site.ups, site.pv
    if (
        site.method != "fixed"
        or bat._kt is None
        or bms.kernel != "compiled"
        or pcs.kernel != "compiled"
        or site.extra_devices
        or site.bus != BusMode.GRID
        or not (site.breaker_closed and site.breaker_cmd_close and site.grid_available)
        or site.transfer != Transfer.NORMAL
        or site.grid_rocof != 0.0
        or bool(np.any(pcs.islanded))
        or site.chillers_on != site.params.facility.chiller_units
        or not site.powered.all()
        or np.any(pcs.fault_reset)
        or np.any(bat.fault_heat_w)
        or site._aux_island is not None
        or bms._kprm is None
        or bms._kprm[0] != site.params.battery.n_parallel
        or site.dt not in bat._thermal_flat
        or not site._bat_out
        or not site.transitions.in_sync(site)  # a change the next tick's discrete step records
    ):
        return False
    qs = site.pcs_monitor._quiet_status
    if qs is None:
        return False
    if pv is not None:
        assert site.pv_monitor is not None
        pq = site.pv_monitor._quiet_status
        if pq is None or pq[0] != qs[0] or site.pv_monitor._thr_py != site.pcs_monitor._thr_py:
            return False
    if gs is not None and not (
        gs._idle(gs.start_cmd > 0) and not gs.p_mean.any() and not np.any(gs.fuel_rate)
    ):
        return False
    if ups is not None and ups.allowance < ups.params.p_rated_kw * (1.0 + ups.params.recharge_frac):
        return False
    return site.aging is None or site.aging._started


def _f(x: Any, n: int, dtype: type = float) -> np.ndarray:
    return np.array(pk._vec(x, n, dtype), dtype=dtype)  # a private copy


def _run(site: Site, k: int, each: Callable[[Snapshot], None] | None = None) -> int:
    """Run up to ``k`` ticks as one chunk; returns how many were committed (``each``: see
    :func:`advance`)."""
    dt = site.dt
    tick0 = site.tick
    pcs, bms, bat, gpu, pv, ups = site.pcs, site.bms, site.battery, site.gpu, site.pv, site.ups
    n = site.n_cab
    fac, pm = site.params.facility, site.params.pms
    qs = site.pcs_monitor._quiet_status
    assert qs is not None
    status = qs[1]
    # the discrete step's inputs that hold over the chunk (twin.discrete.discrete_step)
    grid_trip, trip_bits = grid_trips(site, status, False)  # grid-connected: nothing masked
    grid_ok = np.asarray(status.may_energize, dtype=float) * 1.0
    if pv is not None:
        pq = site.pv_monitor._quiet_status if site.pv_monitor is not None else None
        assert pq is not None  # _eligible
        pv.tripped = bool(pq[1].tripped[0]) or pv.forced_trip
    if site.bess_p_set_total is not None:
        avail = np.maximum(pcs.running, 1e-12 * np.ones(n))
        pcs.p_set = site.bess_p_set_total * avail / max(float(avail.sum()), 1e-12)
    # the exogenous series: GPU fleet, cooling target, PV, tick by tick as Site.step does
    saved_gpu = gpu.checkpoint()
    racks = np.empty((k + 1, site.powered.size))
    racks[0] = site.p_it_racks
    p_it = np.empty(k)
    cool = np.empty(k)
    mon = site.pcs_monitor
    thr = np.array(mon._thr_py, dtype=float).reshape(-1, 3)
    reg = np.array(mon._reg_py, dtype=float).reshape(-1, 3)
    grid = np.array([site.grid_v_pu, site._thev_r, site._thev_x, site.s_sc_kva, site.grid_f_hz, site.f0])
    facv = np.array(
        [
            fac.base_load_kw,
            fac.cooling_tau_s,
            site._load_tan_phi,
            math.exp(-dt / pm.draw_hold_s),
            math.exp(-dt / fac.cooling_tau_s),
        ]
    )
    up = ups.params if ups is not None else None
    ups_prm = (
        np.array(
            [
                up.v_min_pu,
                up.v_max_pu,
                up.f_window_hz,
                up.p_rated_kw,
                up.efficiency,
                up.reserve_ticks,
                ups.allowance,
                up.energy_kwh,
                up.recharge_frac,
            ]
        )
        if ups is not None and up is not None
        else np.zeros(9)
    )
    u = (ups.e_kwh, ups.p_in, ups.p_out, ups.p_batt, ups.loss) if ups is not None else (0.0,) * 5
    sc = np.array(
        [
            site.p_grid,
            site.q_grid,
            site.v,
            site.p_cool,
            site.p_cool_mean,
            site.healthy_for,
            site.live_for,
            site.it_bus,
            site.ups_short,
            site.p_bus_load,
            *u,
        ]
    )
    en = site.energy
    acc = np.array([getattr(en, f) for f in ck.ENERGY_FIELDS])
    rack_est = site.rack_est.copy()
    st = bat.state
    soc, v_rc, tc, tj = st.soc.copy(), st.v_rc.copy(), st.t_cell_degc.copy(), st.t_jig_degc.copy()
    i_pack, heat = bat.i_pack.copy(), bat.last_heat_w.copy()
    b = site._bat_out
    out = np.array(
        [b[key] for key in ("soc_pct", "soc_min_pct", "v_dc_v", "p_dc_kw", "v_cell_min_v", "v_cell_max_v",
                            "t_cell_min_degc", "t_cell_max_degc", "energy_kwh", "heat_kw")],
        dtype=float,
    )  # fmt: skip
    cab = np.zeros((5, n))
    cap_ah = bat.capacity_ah
    assert bat._kt is not None  # _eligible
    bat_const = (cap_ah, bat.r_scale, bat.t_coolant, bat._thermal_flat[dt], bat._kscale, bat._ocv_k)
    bp = bms.params
    n_par = site.params.battery.n_parallel
    q_pack = cap_ah.sum(axis=1) / cap_ah.shape[1] * n_par
    assert bms._kprm is not None
    bms_const = (
        q_pack, _f(bms.sensor_drift, n), _f(bms.sensor_gain, n), _f(bms.sensor_bias_a, n),
        float(bp.rest_current_c), float(bp.rest_time_s), float(bp.v_cell_charge_end_v),
        _f(bms.fault_contactor, n), _f(bms.fault_ground, n), _f(bms.fault_other, n),
        bms._kprm[1], bms._kdis[0], bms._kdis[1], bms._kbits, int(_TRIP_MASK), _f(site.bms_disconnect, n),
    )  # fmt: skip
    bms_state = (
        _f(bms.soc_est, n), _f(bms.drift_offset_a, n), _f(bms.rest_s, n), _f(bms.at_top, n, bool),
        _f(bms.ccl, n), _f(bms.dcl, n), _f(bms.alarm_bits, n, np.int64), _f(bms.latched, n, np.int64),
        np.array(bms.contactor), _f(bms.precharge_left, n), np.array(bms.cha_st), _f(bms.close_cmd, n),
    )  # fmt: skip
    pr = pcs.params
    code = site.pcs_code
    cmd_prm, flags, alpha_fw, alpha_vw, vv_v, vv_q, _code = pk._cached(
        pcs, (id(code), site.f0, dt), lambda: (*pk._command_params(pcs, code, site.f0, dt), code)
    )
    pcs_const = (
        float(pr.anti_islanding_s), float(pr.start_s), int(_SELF_CLEARING), int(_OVER_TEMP),
        float(pcs.islanded_for), np.asarray(pcs.gfm), _f(pcs.enable, n), _f(pcs.fault_reset, n),
        _f(pcs.fault_trip, n), _f(pcs.fault_dc_ov, n), _f(pcs.overtemp, n), grid_ok, grid_trip, trip_bits,
        _f(status.cessation, n, bool), _f(status.ramp_limit_pu, n),
        pk._cached(pcs, "limits", lambda: pk._limit_params(pcs)),
        float(ambient_derate_pu(pcs.t_ambient_degc, pr)), bool(pr.volt_watt),
        cmd_prm, flags, alpha_fw, alpha_vw, vv_v, vv_q, _f(pcs.p_set, n), _f(pcs.q_set, n),
        _f(pcs.derate, n), float(pcs.rate_kw_s), float(pcs.tau), float(pcs.tau_q),
        finish_params(pcs), float(pcs.aux_base_kw()),
    )  # fmt: skip
    pcs_state = (
        np.array(pcs.state), _f(pcs.alarm_bits, n, np.int64), _f(pcs.trip_count, n), _f(pcs.start_left, n),
        _f(pcs.idle_for, n), _f(pcs.hot, n, bool), _f(pcs.p_ac, n), _f(pcs.p_ref, n), _f(pcs.q_ac, n),
        _f(pcs.cessation, n, bool), _f(pcs.es_ramp, n), _f(pcs.dp_fw, n), _f(pcs.vw_lim, n), _f(pcs.v_pu, n),
        _f(pcs.i_lim_pu, n), _f(pcs.s_cap, n), _f(pcs.p_max_dis, n), _f(pcs.p_max_ch, n),
        _f(pcs.p_ac_mean, n), _f(pcs.q_ac_mean, n), _f(pcs.loss, n), _f(pcs.aux, n), _f(pcs.p_dc, n),
        _f(pcs.throttle_pct, n),
    )  # fmt: skip
    rec_p_grid = np.empty(k)
    ag = site.aging
    ag_clock, ag_undirected, ag_state = _aging_args(site)
    books = site.pcs_books.copy()
    mid: tuple[Any, ...] = (
        grid, facv, ups_prm, ups is not None,
        thr[:, 0].astype(np.int64), thr[:, 1].copy(), thr[:, 2].copy(), reg, int(qs[0]), int(_MAY_TRIP),
        sc, acc, rack_est, books,
        bat._kt, bat_const, soc, v_rc, tc, tj, i_pack, heat, out, cab,
        bms_const, bms_state, pcs_const, pcs_state,
    )  # fmt: skip
    tail: tuple[Any, ...] = (
        ag is not None, float(site.params.battery.n_parallel), ag.doc_hysteresis if ag is not None else 0.0,
        ag_clock, ag_undirected, ag_state,
    )  # fmt: skip
    state = _Committed(
        soc, v_rc, tc, tj, i_pack, heat, cab, bms_state, pcs_state,
        sc, acc, books, rack_est, ag_clock, ag_undirected, out,
    )  # fmt: skip

    lost = np.empty((k, 2))  # the GPU fleet's lost GPU-hours books after each tick

    def exogenous(i: int) -> None:  # tick i's GPU draw and cooling target (mutates the fleet)
        racks[i + 1] = gpu.mean_power_kw((tick0 + i) * dt, dt, site.powered)
        p_it[i] = float(racks[i + 1].sum())
        cool[i] = cooling_target_kw(fac, p_it[i], site.t_ambient) * site.chillers_on / fac.chiller_units
        lost[i] = gpu.gpu_hours_lost_supply, gpu.gpu_hours_lost_failures

    for i in range(k):
        exogenous(i)
    pv_rec = np.zeros((3, k))  # each tick's PV AC power, irradiance and losses (Pv.step's)
    if pv is not None:
        _pv_series(site, tick0, pv_rec)
    p_pv = pv_rec[0]
    # each tick's end for its snapshot, when ``each`` takes them (see _replay)
    n_rec = k if each is not None else 0
    rec_units = np.empty((n_rec, out.shape[0] + 1 + books.shape[0] + len(RECORDED), n))
    rec_sc = np.empty((n_rec, sc.shape[0] + acc.shape[0]))
    done = ck.run(k, dt, p_it, racks, cool, p_pv, *mid, rec_p_grid, *tail, rec_units, rec_sc)  # type: ignore[call-arg]
    if done < k:  # the exogenous devices back to the last committed tick
        gpu.restore(saved_gpu)
        for i in range(done):
            racks[i + 1] = gpu.mean_power_kw((tick0 + i) * dt, dt, site.powered)
    if done and each is not None:
        _replay(site, state, _Records(racks, p_it, rec_p_grid, lost, pv_rec, rec_units, rec_sc), done, each)
    elif pv is not None:  # the plant's outputs as the last committed tick (or the one before) left them
        pv.step((tick0 + done - 1) * dt, dt)
    if done and each is None:
        _commit(site, state, racks, p_it, rec_p_grid, 0, done)
    return done


@dataclass(slots=True)
class _Records:
    """What a chunk left for each of its ticks: the exogenous series and the compiled call's
    records of each tick's end (``twin.chunk_kernel.run``'s ``rec_units`` and ``rec_sc``)."""

    racks: np.ndarray  # row 0: the draw before the chunk; row i + 1: tick i's
    p_it: np.ndarray
    p_grid: np.ndarray
    lost: np.ndarray  # the GPU fleet's lost GPU-hours books (supply, failures)
    pv: np.ndarray  # the PV plant's AC power, irradiance and losses (rows), as Pv.step leaves them
    units: np.ndarray
    scalars: np.ndarray


def _replay(
    site: Site, state: _Committed, rec: _Records, done: int, each: Callable[[Snapshot], None]
) -> None:
    """Hand ``each`` the snapshot of every tick a chunk committed. The ticks before the last are
    built together from what the compiled call recorded at each tick's end
    (:func:`twin.site_snapshot.stretch_snapshots`; the demand register booked tick by tick, the PV
    plant's outputs from its series); the last is committed whole (:func:`_commit`: the devices' full
    state, the aging window) and its snapshot taken from the devices."""
    pv, dt, tick0 = site.pv, site.dt, site.tick
    m = done - 1  # the ticks before the last
    _hold_still(site)
    if m:
        snaps = _recorded_snapshots(site, state, rec, m)
        for i, snap in enumerate(snaps):
            site.tick = tick0 + i + 1
            site._snapshot = snap
            each(snap)
    if pv is not None:
        pv.step((tick0 + m) * dt, dt)
    _commit(site, state, rec.racks, rec.p_it, rec.p_grid, m, done)
    each(site._snapshot)


def _recorded_snapshots(site: Site, state: _Committed, rec: _Records, m: int) -> list[Snapshot]:
    """The snapshots of a chunk's first ``m`` ticks: the demand register is booked for each of
    them, in order; the PV plant's outputs are the chunk's series (``_pv_series``)."""
    ups, dt, tick0, clock, dem = site.ups, site.dt, site.tick, site.clock, site.demand
    racks, p_it, rec_p_grid, lost = rec.racks, rec.p_it, rec.p_grid, rec.lost
    rec_units, rec_sc = rec.units[:m], rec.scalars[:m]
    n_out, n_books, n_sc = state.out.shape[0], state.books.shape[0], state.sc.shape[0]
    ticks = np.arange(tick0 + 1, tick0 + m + 1)
    col = {name: np.zeros(m) for name in ("local_time", "demand_kw", "demand_prev_kw", "demand_max_kw")}
    for i in range(m):
        t_end = int(ticks[i]) * dt  # Site.t after the tick
        dem.book(clock.local_time_s(t_end - dt), dt, float(rec_p_grid[i]))
        col["local_time"][i] = clock.local_time_s(t_end)
        col["demand_kw"][i], col["demand_prev_kw"][i], col["demand_max_kw"][i] = (
            dem.current_kw, dem.prev_kw, dem.max_kw,
        )  # fmt: skip
    col["pv_p_ac"], col["pv_ghi"], col["pv_loss"] = rec.pv[:, :m]  # Pv.step's at each tick (_pv_series)
    sc, acc = rec_sc[:, :n_sc], rec_sc[:, n_sc:]
    s = {name: sc[:, j] for j, name in enumerate(ck.SCALARS)}
    e = {name: acc[:, j] for j, name in enumerate(ck.ENERGY_FIELDS)}
    rows = rec_units[:, n_out + 1 + n_books :]
    mv: dict[str, Any] = {name: rows[:, j] for j, name in enumerate(RECORDED)}
    mv["bat"] = site.battery.outputs_of(rec_units[:, :n_out], rec_units[:, n_out])
    mv["books"] = rec_units[:, n_out + 1 : n_out + 1 + n_books]
    mv["racks"] = racks[1 : m + 1]
    mv.update(col)
    mv.update(
        {
            "t": ticks * dt,
            "p_grid": s["p_grid"],
            "q_grid": s["q_grid"],
            "v": s["v"],
            "import_kwh": e["grid_import_kwh"],
            "export_kwh": e["grid_export_kwh"],
            "p_it": p_it[:m],
            "p_cool_mean": s["p_cool_mean"],
            "gpu_lost": lost[:m, 0] + lost[:m, 1],
            "gpu_lost_supply": lost[:m, 0],
            "charge_kwh": e["bess_charge_kwh"],
            "aux_kwh": e["aux_kwh"],
            "discharge_kwh": e["bess_discharge_kwh"],
            "pv_kwh": e["pv_kwh"],
            "ups_p_in": s["ups_p_in"] if ups is not None else s["it_bus"],
            "ups_p_out": s["ups_p_out"] if ups is not None else p_it[:m],
            "ups_p_batt": s["ups_p_batt"] if ups is not None else 0.0,
            "ups_loss": s["ups_loss"] if ups is not None else 0.0,
            "ups_soc": ups.soc_of(s["ups_e_kwh"]) if ups is not None else 0.0,
        }
    )
    assert set(mv) >= set(MOVING_SCALARS)
    return stretch_snapshots(site, ticks, mv)


@dataclass(slots=True)
class _Committed:
    """The state arrays a chunk's compiled call updates in place, to put back on the devices."""

    soc: np.ndarray
    v_rc: np.ndarray
    tc: np.ndarray
    tj: np.ndarray
    i_pack: np.ndarray
    heat: np.ndarray
    cab: np.ndarray
    bms_state: tuple[Any, ...]
    pcs_state: tuple[Any, ...]
    sc: np.ndarray
    acc: np.ndarray
    books: np.ndarray
    rack_est: np.ndarray
    ag_clock: np.ndarray
    ag_undirected: np.ndarray
    out: np.ndarray  # the battery's outputs at the last tick's end (Battery.outputs_now's rows)


def _commit(
    site: Site,
    st: _Committed,
    racks: np.ndarray,
    p_it: np.ndarray,
    rec: np.ndarray,
    first: int,
    end: int,
) -> None:
    """Put the chunk's state on the devices after its tick ``end - 1`` and book ticks
    ``first`` .. ``end - 1`` (the demand register, the aging window); the site's snapshot then
    is that tick's. The arrays are the call's own, so a later call updates them in place."""
    pcs, bms, bat = site.pcs, site.bms, site.battery
    dt = site.dt
    tick0 = site.tick - first  # the chunk's first tick
    bat.state = EcmState(st.soc, st.v_rc, st.tc, st.tj)
    bat.i_pack, bat.last_heat_w = st.i_pack, st.heat
    site._batt_step = {
        key: st.cab[j].copy() for j, key in enumerate(("i_a", "p_dc_w", "p_chem_w", "p_sd_w", "limited"))
    }
    (bms.soc_est, bms.drift_offset_a, bms.rest_s, bms.at_top, bms.ccl, bms.dcl, bms.alarm_bits,
     bms.latched, bms.contactor, bms.precharge_left, bms.cha_st, bms.close_cmd) = st.bms_state  # fmt: skip
    (pcs.state, pcs.alarm_bits, _trips, pcs.start_left, pcs.idle_for, pcs.hot, pcs.p_ac, pcs.p_ref, pcs.q_ac,
     pcs.cessation, pcs.es_ramp, pcs.dp_fw, pcs.vw_lim, pcs.v_pu, pcs.i_lim_pu, pcs.s_cap, pcs.p_max_dis,
     pcs.p_max_ch, pcs.p_ac_mean, pcs.q_ac_mean, pcs.loss, pcs.aux, pcs.p_dc,
     pcs.throttle_pct) = st.pcs_state  # fmt: skip
    _put_scalars(site, st.sc, st.acc)
    site.pcs_books = st.books
    site.rack_est = st.rack_est
    site.p_it_racks = racks[end].copy()
    site.p_it = float(p_it[end - 1])
    _hold_still(site)
    t_end = (tick0 + end - 1) * dt + dt
    site.pcs_monitor._t_end = t_end
    if site.pv_monitor is not None:
        site.pv_monitor._t_end = t_end
    # ---- the books kept in Python, tick by tick from the records
    for i in range(first, end):
        site.tick = tick0 + i + 1
        site.demand.book(site.clock.local_time_s(site.t - dt), dt, float(rec[i]))
    windows = site.aging.windows_applied if site.aging is not None else 0
    if site.aging is not None:
        _aging_done(site, st.ag_clock, st.ag_undirected)
    if site.aging is None or site.aging.windows_applied == windows:  # else SoH and R changed
        bat.outputs_ready = st.out.copy()  # the call computed them last (chunk_kernel.run)
    site._snapshot = make_snapshot(site)


def _put_scalars(site: Site, sc: np.ndarray, acc: np.ndarray) -> None:
    """The site's and the UPS's scalar state (``ck.SCALARS``) and the energy books from a chunk."""
    v = sc.tolist()
    (site.p_grid, site.q_grid, site.v, site.p_cool, site.p_cool_mean, site.healthy_for, site.live_for,
     site.it_bus, site.ups_short, site.p_bus_load) = v[:10]  # fmt: skip
    ups = site.ups
    if ups is not None:
        ups.e_kwh, ups.p_in, ups.p_out, ups.p_batt, ups.loss = v[10:]
        ups.allowance_cap = ups.p_in + math.inf
    vars(site.energy).update(zip(ck.ENERGY_FIELDS, acc.tolist(), strict=True))


def _hold_still(site: Site) -> None:
    """What a grid-connected quiet tick sets and a chunk holds: the base load, no outage, the
    grid's frequency, no rotating or relief power."""
    site.base_now = site.params.facility.base_load_kw
    site.outage_for = 0.0
    site.f = site.grid_f_hz
    site.rot_p = site.relief_p = 0.0


def _aging_args(site: Site) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """The aging model's clock, direction flag and feed arrays for the compiled call."""
    ag = site.aging
    if ag is None:
        return np.zeros(2), np.array([False]), tuple(np.zeros(0) for _ in range(13))
    return np.array([ag._t_booked_s, ag._w_t_s]), np.array([ag._undirected]), ag.feed_state()


def _aging_done(site: Site, clock: np.ndarray, undirected: np.ndarray) -> None:
    """After the call: the feed's sums are in place; the window is applied if the call's
    last tick closed it (only a chunk's last tick may: :func:`chunk_len`), and the battery
    takes the new state (``book_aging``)."""
    ag = site.aging
    assert ag is not None
    ag._w_t_s, ag._undirected = float(clock[1]), bool(undirected[0])
    if ag._w_t_s >= ag.window_s * (1.0 - 1e-12):
        ag._apply_window(force=False)
    book_aging(site)


def _pv_series(site: Site, tick0: int, rec: np.ndarray) -> None:
    """The PV plant's mean AC power, irradiance and losses for each tick of the chunk (rows of
    ``rec``, as ``Pv.step`` leaves ``p_ac``, ``ghi`` and ``loss``), in one compiled call when the
    plant follows the site clock and nothing overrides its sky; else tick by tick."""
    pv, dt, k = site.pv, site.dt, rec.shape[1]
    assert pv is not None
    if pv.legacy_clock or pv.irradiance_override is not None or pv.cloud_override is not None:
        for i in range(k):
            pv.step((tick0 + i) * dt, dt)
            rec[:, i] = pv.p_ac, pv.ghi, pv.loss
        return
    clock = site.clock
    t_first, t_last = tick0 * dt + 0.5 * dt, (tick0 + k - 1) * dt + 0.5 * dt
    d_first = math.floor(clock.mean_solar_s(t_first) / 86400.0)
    d_last = math.floor(clock.mean_solar_s(t_last) / 86400.0)
    doys = np.array([day_of_year(d) for d in range(d_first, d_last + 1)], dtype=np.int64)
    m_first = math.floor(pv._minute0 + t_first / 60.0)
    m_last = math.floor(pv._minute0 + t_last / 60.0) + 1
    clouds = np.array([pv._cloud_index(m) for m in range(m_first, m_last + 1)])
    pvk.series(
        tick0, dt, clock.utc0_s, clock.longitude_deg, pv.params.latitude_deg, d_first, doys, pv._minute0,
        m_first, clouds, np.array(pv.inverter_params()), pv.enabled and not pv.tripped, *rec,
    )  # fmt: skip
