"""The fixed-step path: each continuous state advanced exactly over a tick (zero-order hold),
the island sub-stepped with the swing equation in energy form, and the energy books.

``Site._step_once`` calls :func:`continuous_fixed` (or ``twin.site_ivp``) and then
:func:`bookkeeping`. See docs/models/site.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._interp import FloatArray
from twin.models.bms import Contactor
from twin.models.grid import cooling_target_kw
from twin.pms import BusMode, Transfer, pcc_v

if TYPE_CHECKING:
    from twin.site import Site

__all__ = [
    "PCS_BOOKS",
    "age",
    "book_aging",
    "book_pcs",
    "bookkeeping",
    "continuous_fixed",
    "gen_grid_target",
    "gpu_and_cooling",
    "island_fixed",
]

_CONTACTOR_CLOSED = int(Contactor.CLOSED)


def gpu_and_cooling(site: Site, t0: float, dt: float) -> None:
    """IT draw of the powered racks, what the UPS takes for it, cooling and base load."""
    site.p_it_racks = site.gpu.mean_power_kw(t0, dt, site.powered)
    site.p_it = float(site.p_it_racks.sum())
    fac = site.params.facility
    live = site.bus != BusMode.DEAD
    site.ups_short = 0.0
    if site.ups is not None:
        ok = site.ups.input_ok(live, site.v, site.f, site.f0)
        site.ups_short = site.ups.step(site.p_it, ok, dt)
        site.it_bus = site.ups.p_in
    else:
        site.it_bus = site.p_it if live else 0.0
    site.base_now = fac.base_load_kw if live else 0.0
    for d in site.extra_devices:  # loads added from outside twin/ (twin.device): base load
        p_kw = d.advance(t0, dt, live=live)
        site.base_now += p_kw if live else 0.0
    if not live:
        site.p_cool = site.p_cool_mean = 0.0
        return
    target = cooling_target_kw(fac, site.p_it, site.t_ambient) * site.chillers_on / fac.chiller_units
    tau = fac.cooling_tau_s
    e = math.exp(-dt / tau)
    c0 = site.p_cool
    site.p_cool = target + (c0 - target) * e
    site.p_cool_mean = target + (c0 - target) * tau / dt * (1.0 - e)


def continuous_fixed(site: Site, t0: float, dt: float) -> None:
    gpu_and_cooling(site, t0, dt)
    if site.pv is not None:
        site.pv.step(t0, dt)
    p_cmd, q_cmd = site._pcs_commands()
    gs = site.genset
    pcs = site.pcs
    site.rot_p = site.relief_p = 0.0
    if site.bus == BusMode.GRID:
        pcs.step_following(p_cmd, q_cmd, dt)
        if gs is not None:
            gs.step_lag(gen_grid_target(site, dt), dt)
    elif site.bus == BusMode.ISLAND:
        island_fixed(site, p_cmd, q_cmd, dt)
    else:  # a dead bus: nothing on it runs
        for name in ("p_ac", "p_ref", "q_ac", "p_ac_mean", "q_ac_mean"):
            setattr(pcs, name, np.zeros(site.n_cab))
        if gs is not None:
            gs.p = np.zeros(gs.n)
            gs.p_mean = np.zeros(gs.n)
    pcs.finish_tick()
    if site._aux_island is not None:  # the sub-steps' mean (aux is not linear in P)
        pcs.aux = site._aux_island
        site._aux_island = None
    if site.bus == BusMode.DEAD:
        pcs.aux = np.zeros(site.n_cab)  # cabinet auxiliaries are fed from the bus
    closed = (site.bms.contactor == _CONTACTOR_CLOSED).astype(float)
    site._batt_step = site.battery.step_power(site.pcs.p_dc * 1000.0, dt, closed=closed)
    if gs is not None:
        gs.finish_tick(dt)


def gen_grid_target(site: Site, dt: float) -> FloatArray:
    """Gensets paralleled with the grid: their setpoint, or the soft-unload ramp."""
    gs = site.genset
    assert gs is not None
    tgt = np.clip(gs.p_set, 0.0, gs.accept_ceiling) * gs.running
    if site.transfer == Transfer.UNLOAD:
        rate = gs.params.unload_kw_per_s * dt
        site.gen_unload_ref = np.maximum(site.gen_unload_ref - rate, 0.0)
        tgt = np.minimum(site.gen_unload_ref, gs.accept_ceiling) * gs.running
    return np.asarray(tgt)


def island_fixed(site: Site, p_cmd: FloatArray, q_cmd: FloatArray, dt: float) -> None:
    """Islanded: sub-steps with each lag advanced exactly and the rotating energy by the
    swing equation in energy form, so every kW·s of imbalance is booked."""
    g, pm = site.params.grid, site.params.pms
    pcs, gs = site.pcs, site.genset
    n_sub = max(1, math.ceil(dt / g.island_substep_s - 1e-9))
    h = dt / n_sub
    hs = g.inertia_h_s * site.s_base_kva
    syncing = site.transfer == Transfer.SYNC
    isl = _Island(
        p_cmd, q_cmd, n_sub, h, pcs.island_lags(h),
        energy=hs * (site.f / site.f0) ** 2,
        hs=hs,
        load=site.it_bus + site.p_cool_mean + site.base_now,
        pv=site.pv.p_ac if site.pv is not None else 0.0,
        target=(site.grid_f_hz + pm.sync_slip_hz - site.f0) / site.f0 if syncing else 0.0,
        syncing=syncing,
        gen_up=gs is not None and bool(np.any(gs.running > 0)),
        acc=(np.zeros(site.n_cab), np.zeros(site.n_cab), np.zeros(site.n_cab),
             np.zeros(gs.n) if gs is not None else np.zeros(0)),
    )  # fmt: skip
    if syncing:  # the sync check looks at the phase over the last tick
        site._phase_min = abs(site.phase_deg)
        site._phase_at_min = site.phase_deg
    acc_rot, acc_relief = (_island_compiled if pcs.kernel == "compiled" else _island_numpy)(site, isl)
    acc_p, acc_q, acc_aux, acc_g = isl.acc
    pcs.p_ref = pcs.p_ac.copy()
    pcs.p_ac_mean = acc_p / n_sub
    pcs.q_ac_mean = acc_q / n_sub
    site._aux_island = acc_aux / n_sub
    if gs is not None:
        gs.p_mean = acc_g / n_sub
    site.rot_p = acc_rot / n_sub
    site.relief_p = acc_relief / n_sub


@dataclass(frozen=True, slots=True)
class _Island:
    """One islanded tick's sub-step inputs, the same for both paths, and their sums (``acc``:
    the PCSs' P, Q and auxiliaries and the gensets' P, summed over the sub-steps in place)."""

    p_cmd: FloatArray
    q_cmd: FloatArray
    n_sub: int
    h: float
    lags: tuple[Any, ...]  # Pcs.island_lags
    energy: float  # the rotating energy at the tick's start
    hs: float  # its scale (inertia × base)
    load: float
    pv: float
    target: float  # the frequency deviation the island heads for (the synchroniser's slip)
    syncing: bool
    gen_up: bool
    acc: tuple[FloatArray, FloatArray, FloatArray, FloatArray]


def _island_numpy(site: Site, isl: _Island) -> tuple[float, float]:
    """The sub-steps in numpy (the reference for :mod:`twin.island_kernel`)."""
    g, pm = site.params.grid, site.params.pms
    pcs, gs = site.pcs, site.genset
    p_cmd, q_cmd, n_sub, h, lags = isl.p_cmd, isl.q_cmd, isl.n_sub, isl.h, isl.lags
    energy, hs, load, pv, target = isl.energy, isl.hs, isl.load, isl.pv, isl.target
    syncing, gen_up = isl.syncing, isl.gen_up
    acc_p, acc_q, acc_aux, acc_g = isl.acc
    acc_rot = acc_relief = 0.0
    for _ in range(n_sub):
        dev = (site.f - site.f0) / site.f0
        if syncing and not gen_up:  # storage-only island: an integrating synchroniser
            site.sync_ref += (target - dev) * h / pm.sync_t_s
        ref_p = target if gen_up else site.sync_ref
        pm_, qm = pcs.island_substep(pcs.gfm_target(dev - ref_p, p_cmd), q_cmd, h, lags)
        supply = float(pm_.sum()) + pv
        if gs is not None:
            gs.integrate(dev, target, h)
            gs.step_lag(gs.droop_target(dev, target), h)
            acc_g += gs.p_mean
            supply += float(gs.p_mean.sum())
        aux = pcs.aux_now_kw(pm_)
        relief = g.damping_pu * dev * site.s_base_kva
        imbalance = supply - load - float(aux.sum()) - relief
        energy = max(energy + imbalance * h, 1e-6 * hs)
        site.f = site.f0 * math.sqrt(energy / hs)
        acc_rot += imbalance
        acc_relief += relief
        acc_p += pm_
        acc_q += qm
        acc_aux += aux
        if syncing:
            site.phase_deg = (site.phase_deg + 360.0 * (site.f - site.grid_f_hz) * h + 180.0) % 360.0 - 180.0
            if abs(site.phase_deg) < site._phase_min:
                site._phase_min = abs(site.phase_deg)
                site._phase_at_min = site.phase_deg
    return acc_rot, acc_relief


def _island_compiled(site: Site, isl: _Island) -> tuple[float, float]:
    """The sub-steps in one compiled call (:func:`twin.island_kernel.substeps`)."""
    from twin import island_kernel as ik  # numba is optional: the numpy path stands without it

    g, pm = site.params.grid, site.params.pms
    pcs, gs = site.pcs, site.genset
    pp = pcs.params
    h = isl.h
    run, tau_p, e, e_q = isl.lags
    bus = np.array([site.f, site.f0, isl.energy, isl.hs, isl.load, isl.pv, g.damping_pu, site.s_base_kva,
                    isl.target, site.sync_ref, pm.sync_t_s, site.grid_f_hz, site.phase_deg,
                    getattr(site, "_phase_min", 0.0), getattr(site, "_phase_at_min", 0.0)])  # fmt: skip
    pcs.p_ac = np.array(pcs.p_ac, dtype=float)  # the call updates them in place: own copies
    pcs.q_ac = np.array(pcs.q_ac, dtype=float)
    n = site.n_cab
    if gs is not None:
        gp = gs.params
        gs.p = np.array(gs.p, dtype=float)
        gs.p_sec = np.array(gs.p_sec, dtype=float)
        g_arrays = (gs.p, gs.p_sec, *(_vec(x, gs.n) for x in (gs.p_set, gs.accept_ceiling, gs.running)))
        g_consts = (float(gs.tau), math.exp(-h / gs.tau), gp.droop_pct / 100.0, float(gp.p_rated_kw),
                    gp.governor == "isochronous", float(gp.iso_t_i_s))  # fmt: skip
        g_mean = np.zeros(gs.n)  # scratch: the numpy path's gs.p_mean within the tick
    else:
        g_arrays = tuple(np.zeros(0) for _ in range(5))
        g_consts = (1.0, 0.0, 1.0, 0.0, False, 1.0)
        g_mean = np.zeros(0)
    substeps: Any = ik.substeps  # a numba dispatcher: mypy cannot see its signature
    rot, relief = substeps(
        isl.n_sub, h, bus, isl.syncing, isl.gen_up, pcs.p_ac, pcs.q_ac, np.asarray(run, dtype=np.bool_),
        _vec(tau_p, n), _vec(e, n), float(e_q), float(pcs.tau_q), _vec(isl.p_cmd, n), _vec(isl.q_cmd, n),
        _vec(pcs.gfm, n, np.bool_), _vec(pcs.p_set, n),
        _vec(pcs.p_max_ch, n), _vec(pcs.p_max_dis, n), pp.gfm_droop_pct / 100.0, float(pp.p_rated_kw),
        float(pp.gfm_overload_pu), pcs.aux_base_kw(), float(pp.hvac_frac), *g_arrays, *g_consts, *isl.acc,
        g_mean,
    )  # fmt: skip
    site.f, site.sync_ref = float(bus[0]), float(bus[9])
    site.phase_deg = float(bus[12])
    if isl.syncing:
        site._phase_min, site._phase_at_min = float(bus[13]), float(bus[14])
    return float(rot), float(relief)


def _vec(x: Any, n: int, dtype: type = np.float64) -> np.ndarray:
    """``x`` as a C-contiguous array of ``n`` of ``dtype`` (a copy, broadcast if a scalar); an
    array that is one already is passed as it is (the kernel only reads it), without
    np.broadcast_to's ≈ 2 µs."""
    if type(x) is np.ndarray and x.shape == (n,) and x.dtype == dtype and x.flags.c_contiguous:
        return x
    return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()


#: The per-PCS energy books (``Site.pcs_books``, one row each, in this order) and the snapshot
#: signals they are served as (declared in :class:`twin.models.pcs.Pcs`).
PCS_BOOKS = (
    "pcs.discharge_kwh",
    "pcs.charge_kwh",
    "pcs.kvarh_inj",
    "pcs.kvarh_abs",
    "pcs.dc_discharge_kwh",
    "pcs.dc_charge_kwh",
)


def book_pcs(
    books: FloatArray, p_ac_mean: FloatArray, q_ac_mean: FloatArray, p_dc_w: FloatArray, h: float
) -> None:
    """Add one tick to the per-PCS books (``h`` = dt in hours): AC energy delivered/absorbed
    from the tick-mean AC power, reactive energy injected/absorbed from the tick-mean reactive
    power, DC energy drawn from/put into the battery from the cells' DC power (W, + discharge).
    The AC rows are booked by the caller (they also feed the site's Energy totals)."""
    books[2] += np.maximum(q_ac_mean, 0.0) * h
    books[3] += np.maximum(-q_ac_mean, 0.0) * h
    books[4] += np.maximum(p_dc_w, 0.0) / 1000.0 * h
    books[5] += np.maximum(-p_dc_w, 0.0) / 1000.0 * h


def bookkeeping(site: Site, dt: float) -> None:
    """The tick's books: the bus's load, import and PCC voltage, the energy accumulators, the
    PCS books, the demand register and the aging model. With the PCS kernels compiled, the
    arithmetic runs in ``twin.chunk_kernel.book_tick`` (the chunk's, to the bit:
    ``tests/unit/twin/test_book_tick.py``); this is the reference."""
    if site.pcs.kernel == "compiled" and "cab" in site._batt_step:
        _book_compiled(site, dt)
        return
    h = dt / 3600.0
    en = site.energy
    pcs = site.pcs
    p_bess = float(pcs.p_ac_mean.sum())
    aux = float(pcs.aux.sum())
    p_pv = site.pv.p_ac if site.pv is not None else 0.0
    p_gen = float(site.genset.p_mean.sum()) if site.genset is not None else 0.0
    load = site.it_bus + site.p_cool_mean + site.base_now + aux
    site.p_bus_load = load
    if site.bus == BusMode.GRID:
        site.p_grid = load - p_bess - p_pv - p_gen
        q_load = (load - aux) * site._load_tan_phi
        site.q_grid = q_load - float(pcs.q_ac_mean.sum())
    else:
        site.p_grid = 0.0
        site.q_grid = 0.0
    if site.bus == BusMode.GRID:
        site.v = pcc_v(site, site.p_grid, site.q_grid)
    res = site._batt_step
    chem = float(np.sum(res["p_chem_w"])) / 1000.0
    p_dc_del = float(np.sum(res["p_dc_w"])) / 1000.0
    ups = site.ups
    ups_batt = ups.p_batt if ups is not None else 0.0
    en.grid_kwh += site.p_grid * h
    en.grid_import_kwh += max(site.p_grid, 0.0) * h
    en.grid_export_kwh += max(-site.p_grid, 0.0) * h
    dis = np.maximum(pcs.p_ac_mean, 0.0) * h
    ch = np.maximum(-pcs.p_ac_mean, 0.0) * h
    books = site.pcs_books
    books[0] += dis
    books[1] += ch
    book_pcs(books, pcs.p_ac_mean, pcs.q_ac_mean, res["p_dc_w"], h)
    en.bess_discharge_kwh += float(dis.sum())
    en.bess_charge_kwh += float(ch.sum())
    site.demand.book(site.clock.local_time_s(site.t - dt), dt, site.p_grid)
    en.pv_kwh += p_pv * h
    en.genset_kwh += p_gen * h
    en.it_kwh += site.p_it * h
    en.cooling_kwh += site.p_cool_mean * h
    en.base_kwh += site.base_now * h
    en.pcs_loss_kwh += float(pcs.loss.sum()) * h
    en.aux_kwh += aux * h
    en.battery_chem_kwh += chem * h
    en.battery_loss_kwh += (chem - p_dc_del) * h
    en.ups_loss_kwh += (ups.loss if ups is not None else 0.0) * h
    en.ups_discharge_kwh += ups_batt * h
    en.rotating_kwh += site.rot_p * h
    en.damping_kwh += site.relief_p * h
    en.supplied_kwh += (
        max(site.p_grid, 0.0) + p_pv + p_gen + max(chem, 0.0) + max(ups_batt, 0.0) + max(-site.rot_p, 0.0)
    ) * h
    # mismatch between what the PCS asked of the DC side and what the cells delivered
    en.unserved_kwh += (float(pcs.p_dc.sum()) - p_dc_del) * h
    en.it_unserved_kwh += site.ups_short * h
    _age_tick(site, dt)


def _age_tick(site: Site, dt: float) -> None:
    if site.aging is not None:
        st = site.battery.state
        age(site, st.soc, st.t_cell_degc, site.battery.i_pack, dt)


def _book_compiled(site: Site, dt: float) -> None:
    """:func:`bookkeeping` through the compiled ``book_tick``: the same books, in one call."""
    from twin import chunk_kernel as ck  # numba is optional

    h = dt / 3600.0
    en, pcs, ups, gs = site.energy, site.pcs, site.ups, site.genset
    sc = np.zeros(len(ck.SCALARS))
    sc[ck._IT_BUS], sc[ck._P_COOL_MEAN], sc[ck._V] = site.it_bus, site.p_cool_mean, site.v
    acc = np.array(ck.energy_of(en))
    prm = np.array([
        site.pv.p_ac if site.pv is not None else 0.0, site.p_it, site.base_now, site._load_tan_phi,
        ups.loss if ups is not None else 0.0, ups.p_batt if ups is not None else 0.0, site.ups_short,
        h, site.rot_p,
    ])  # fmt: skip
    grid = np.array([site.grid_v_pu, site._thev_r, site._thev_x, site.s_sc_kva])
    cab = site._batt_step["cab"]
    p_gen = gs.p_mean if gs is not None else np.zeros(0)
    ck.book_tick(
        sc, acc, site.pcs_books, pcs.p_ac_mean, pcs.q_ac_mean, pcs.aux, pcs.loss, pcs.p_dc, cab[1], cab[2],
        np.asarray(p_gen, dtype=float), prm, grid, site.bus == BusMode.GRID,
    )  # fmt: skip
    for name, value in zip(ck.ENERGY_FIELDS, acc.tolist(), strict=True):
        setattr(en, name, value)
    en.rotating_kwh += site.rot_p * h
    en.damping_kwh += site.relief_p * h
    out = sc.tolist()
    site.p_bus_load, site.p_grid, site.q_grid = out[ck._P_BUS_LOAD], out[ck._P_GRID], out[ck._Q_GRID]
    site.v = out[ck._V]
    site.demand.book(site.clock.local_time_s(site.t - dt), dt, site.p_grid)
    _age_tick(site, dt)


def age(site: Site, soc: FloatArray, t_cell_degc: FloatArray, i_pack: FloatArray, dt: float) -> None:
    """Feed the aging model one tick (cell SoC and temperature at its end, the pack current);
    when a window closes, the battery takes the new SoH and resistance and the fade is booked."""
    bat, ag = site.battery, site.aging
    assert ag is not None
    i_cell = (i_pack / site.params.battery.n_parallel)[:, None] * np.ones(bat.shape)
    c_rate = np.abs(i_cell) / bat.capacity_ah
    ag.accumulate(dt, soc.ravel(), t_cell_degc.ravel() + 273.15, c_rate.ravel())
    book_aging(site)


def book_aging(site: Site) -> None:
    """When the aging model closed a window since the last call, the battery takes its new SoH
    and resistance and the capacity faded is booked."""
    bat, ag, en = site.battery, site.aging, site.energy
    assert ag is not None
    if ag.windows_applied == site.aging_seen:
        return  # SoH and resistance change only when a window closes: nothing to book
    site.aging_seen = ag.windows_applied
    e_before = float(bat.stored_energy_kwh().sum())
    bat.soh = (ag.soh_pct / 100.0).reshape(bat.shape)
    bat.r_aging = np.asarray(ag.r_factor).reshape(bat.shape)
    en.aging_kwh += e_before - float(bat.stored_energy_kwh().sum())
