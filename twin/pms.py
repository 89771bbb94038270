"""The site's power-management system: the bus, the outage sequence and the retransfer.

A data-centre outage as it happens (physics.md §2, §5; docs/models/site.md):

1. The utility fails. The bus goes **dead** at once (v = 0, no frequency, nothing drawn from
   it); the UPS carries the racks from its battery with no interruption. The PCC breaker
   opens after ``grid.breaker_open_delay_s``. Grid-forming storage, if the site has it,
   forms an island at once and the bus stays live.
2. After ``outage_confirm_s`` of continuous outage the PMS starts the gensets. Each runs up
   to rated speed (``genset.start_delay_s``) and closes onto the dead bus at nominal
   frequency (dead-bus closing); the next ones parallel onto the live bus.
3. Loads come back in steps the gensets can accept: the UPS walks in (its input ramps over
   ``ups.walk_in_s``, held further by the PMS to the gensets' acceptance headroom), the
   chillers restart one by one every ``facility.chiller_restart_s`` when there is room, and
   isochronous load sharing brings the frequency back to nominal.
4. The grid returns. After ``grid.reclose_delay_s`` of healthy grid (the stability timer)
   the PMS retransfers: in a **closed transition** it slips the island against the grid
   (``sync_slip_hz``) and closes the PCC breaker only inside the sync-check window (Δf, Δφ,
   ΔV, IEEE 1547-2018 Table 5 class values as data), then unloads the gensets softly
   (``genset.unload_kw_per_s``) and lets them cool down; in an **open transition** (or when
   synchronising fails for ``sync_timeout_s`` and ``sync_fallback`` is ``open``) it drops
   the island sources, leaves the bus dead for ``open_transition_s`` (the UPS bridges) and
   closes onto the grid.

Load shedding works on measured draw with a margin: racks are shed (last first) when the
draw they need exceeds what the sources can carry, and come back one step at a time only
below a lower threshold and after ``min_off_s``, so the panel does not flap.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np

from twin.models.grid import cooling_target_kw
from twin.params import param

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["BusMode", "PmsParams", "Transfer"]


class BusMode(IntEnum):
    """What feeds the site bus."""

    GRID = 0  # the utility, through the closed PCC breaker
    ISLAND = 1  # gensets and/or grid-forming storage, breaker open
    DEAD = 2  # nothing: no voltage, no frequency, nothing drawn


class Transfer(IntEnum):
    """The PMS's transfer sequence."""

    NORMAL = 0  # on the grid, nothing pending
    ISLANDED = 1  # breaker open, waiting for a healthy grid
    SYNC = 2  # closed transition: synchronising the island to the grid
    UNLOAD = 3  # closed transition done: gensets unloading onto the grid
    OPEN = 4  # open transition: island sources dropped, bus dead before reclosing


@dataclass(frozen=True)
class PmsParams:
    outage_confirm_s: float = param(
        1.0, unit="s", ge=0, source="[K] ATS outage confirmation (momentary-outage override) 0.5–3 s"
    )
    transition: str = param(
        "closed",
        choices=("closed", "open"),
        source="[K] data-centre ATS/PMS retransfer: closed (make-before-break) or open",
    )
    sync_df_hz: float = param(
        0.1, unit="Hz", gt=0, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: Δf ≤ 0.1 Hz"
    )
    sync_dv_pu: float = param(0.03, gt=0, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: ΔV ≤ 3 %")
    sync_dphi_deg: float = param(
        10.0, unit="°", gt=0, le=180, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: Δφ ≤ 10°"
    )
    sync_check: bool = param(True, source="a closed transition checks Δf, Δφ, ΔV before closing")
    sync_slip_hz: float = param(
        0.05, unit="Hz", gt=0, source="[K] synchroniser slip: island a little fast of the grid"
    )
    sync_t_s: float = param(
        3.0, unit="s", gt=0, source="[K] synchroniser integral time on a storage-only island"
    )
    sync_timeout_s: float = param(120.0, unit="s", gt=0, source="[K] ATS fail-to-synchronise timer")
    sync_fallback: str = param(
        "open",
        choices=("open", "wait"),
        source="site choice: after a failed synchronisation, transfer open or keep trying",
    )
    open_transition_s: float = param(
        0.5, unit="s", gt=0, source="[K] open-transition dead time (break before make) 0.1–3 s"
    )
    shed_margin: float = param(
        0.05, ge=0, lt=0.5, source="[K] load-management panel: shed to 5 % below capacity"
    )
    restore_margin: float = param(
        0.15, ge=0, lt=0.5, source="[K] restore only 15 % below capacity (hysteresis)"
    )
    min_off_s: float = param(60.0, unit="s", ge=0, source="[K] minimum off-time of a shed feeder")
    draw_hold_s: float = param(
        900.0,
        unit="s",
        gt=0,
        source="[K] load-management panels budget on a peak-held demand (a 15-min interval)",
        doc="a rack's budgeted draw is its measured draw held at its peak, decaying with this "
        "time constant, so a swinging training load is budgeted at its peaks",
    )
    capacity_frac: float = param(
        0.95, gt=0, le=1, source="[K] PMS loads sources to at most 95 % of their rating"
    )

    def __post_init__(self) -> None:
        if self.sync_slip_hz >= self.sync_df_hz:
            raise ValueError(
                f"sync_slip_hz {self.sync_slip_hz} Hz must be inside the Δf window "
                f"sync_df_hz {self.sync_df_hz} Hz, or the breaker can never close"
            )


# ------------------------------------------------------------------------------------------
# the PMS acting on the site (called from twin.discrete.discrete_step; each function reads and writes the
# site's state)
# ------------------------------------------------------------------------------------------


def breaker(site: Site, t: float, dt: float) -> None:
    """The PCC breaker and the PMS's transfer sequence (see twin.pms)."""
    g, pm = site.params.grid, site.params.pms
    if site.breaker_closed:
        if not site.breaker_cmd_close or (
            not site.grid_available and site.outage_for > g.breaker_open_delay_s - 1e-9
        ):
            site.breaker_closed = False
            set_transfer(site, t, Transfer.ISLANDED, "PCC breaker opened (island)")
        elif site.transfer == Transfer.UNLOAD:
            gs = site.genset
            if gs is None or (not np.any(site.gen_unload_ref > 0) and float(np.max(gs.p, initial=0.0)) < 1.0):
                set_transfer(site, t, Transfer.NORMAL, "gensets unloaded onto the grid")
        return
    ready = (
        site.grid_available
        and site.breaker_cmd_close
        and g.auto_reclose
        and site.healthy_for >= g.reclose_delay_s - 1e-9
    )
    if not ready:
        if site.transfer in (Transfer.SYNC, Transfer.OPEN):
            set_transfer(site, t, Transfer.ISLANDED, "retransfer held: grid not ready")
        return
    site.transfer_for += dt
    if site.transfer == Transfer.OPEN:
        if site.transfer_for >= pm.open_transition_s - 1e-9:
            close_breaker(site, t, "open transition: PCC breaker closed onto the dead bus")
    elif site.bus == BusMode.DEAD:
        close_breaker(site, t, "PCC breaker closed onto the dead bus")
    elif pm.transition == "open":
        set_transfer(site, t, Transfer.OPEN, "open transition: island sources dropped")
    else:
        if site.transfer != Transfer.SYNC:
            set_transfer(site, t, Transfer.SYNC, "synchronising the island to the grid")
            site.phase_deg = float(site._rng_phase.uniform(-180.0, 180.0))
            site._phase_min = abs(site.phase_deg)
            site._phase_at_min = site.phase_deg
            return
        df = site.f - site.grid_f_hz
        dv = site.v - site.grid_v_pu
        in_window = (
            abs(df) <= pm.sync_df_hz and abs(dv) <= pm.sync_dv_pu and site._phase_min <= pm.sync_dphi_deg
        )
        if in_window or not pm.sync_check:
            dphi = site._phase_at_min if in_window else site.phase_deg
            site.reclose_check = (df, dphi, dv)
            close_breaker(
                site, t, f"closed transition: Δf {df:+.3f} Hz, Δφ {dphi:+.1f}°, ΔV {dv:+.3f} pu at reclose"
            )
        elif site.transfer_for >= pm.sync_timeout_s and pm.sync_fallback == "open":
            set_transfer(site, t, Transfer.OPEN, "failed to synchronise: open transition")


def close_breaker(site: Site, t: float, why: str) -> None:
    site.breaker_closed = True
    gs = site.genset
    if gs is not None and site.transfer == Transfer.SYNC and np.any(gs.running > 0):
        site.gen_unload_ref = gs.p.copy()
        set_transfer(site, t, Transfer.UNLOAD, why)
    else:
        set_transfer(site, t, Transfer.NORMAL, why)
    site.sync_ref = 0.0


def set_transfer(site: Site, t: float, state: Transfer, why: str) -> None:
    site.transfer = state
    site.transfer_for = 0.0
    site._event(t, "grid", "transfer", why, float(state))


def set_bus(site: Site, t: float) -> None:
    """Bus mode, voltage and frequency for this tick."""
    prev = site.bus
    if site.breaker_closed:
        mode = BusMode.GRID if site.grid_available else BusMode.DEAD
    elif site.transfer == Transfer.OPEN:
        mode = BusMode.DEAD
    else:
        gfm_up = bool(np.any(site.pcs.gfm & (site.pcs.running > 0)))
        gen_up = site.genset is not None and bool(np.any(site.genset.running > 0))
        mode = BusMode.ISLAND if gfm_up or gen_up else BusMode.DEAD
    site.bus = mode
    if mode == BusMode.GRID:
        site.grid_f_hz += site.grid_rocof * site.dt
        site.f = site.grid_f_hz
        site.v = pcc_v(site, site.p_grid, site.q_grid)
    elif mode == BusMode.ISLAND:
        if prev == BusMode.DEAD:
            site.f = site.f0  # a genset closes onto a dead bus at rated speed
        elif prev == BusMode.GRID:
            site.f = site.grid_f_hz
        site.v = 1.0
    else:
        site.f = 0.0
        site.v = 0.0
    if mode != prev:
        site._event(t, "grid", "bus", mode.name, float(mode))


def pcc_v(site: Site, p_kw: float, q_kvar: float) -> float:
    """PCC voltage behind the Thevenin source (module docstring of twin.models.grid)."""
    return thevenin_v(site.grid_v_pu, site._thev_r, site._thev_x, site.s_sc_kva, p_kw, q_kvar)


def thevenin_v(vs: float, r: float, x: float, s_sc_kva: float, p_kw: float, q_kvar: float) -> float:
    """Voltage (pu) at the end of a Thevenin source ``vs`` with impedance (r, x) per unit of
    the short-circuit power, drawing ``p_kw`` + j``q_kvar``."""
    a = (r * p_kw + x * q_kvar) / s_sc_kva
    disc = vs * vs - 4.0 * a
    if vs <= 0.0:
        return 0.0
    if disc <= 0.0:  # beyond the nose of the P-V curve: voltage collapse
        return 0.5 * vs
    return 0.5 * (vs + math.sqrt(disc))


def sources(site: Site) -> tuple[float, float]:
    """(rated, acceptance ceiling) of what forms or feeds the island now (kW)."""
    pcs, gs = site.pcs, site.genset
    gfm = float(np.sum(pcs.p_max_dis * pcs.gfm) * site.params.pcs.gfm_overload_pu)
    pv = site.pv.p_ac if (site.pv is not None and site.bus != BusMode.DEAD) else 0.0
    rated = ceiling = gfm + pv
    if gs is not None:
        rated += float(np.sum(gs.params.p_rated_kw * gs.running))
        ceiling += float(np.sum(gs.accept_ceiling))
    return rated, ceiling


def pms_loads(site: Site, t: float, dt: float) -> None:
    """UPS walk-in allowance, chiller restarts and rack shedding for this tick."""
    pm, fac = site.params.pms, site.params.facility
    live = site.bus != BusMode.DEAD
    if site.bus == BusMode.ISLAND:
        rated, ceiling = sources(site)
        cap = pm.capacity_frac * rated
        headroom = max(pm.capacity_frac * ceiling - site.p_bus_load, 0.0)
    else:
        cap = headroom = math.inf
    if site.ups is not None:
        site.ups.allowance_cap = site.ups.p_in + headroom
        site.ups.advance_allowance(site.ups.input_ok(live, site.v, site.f, site.f0), dt)
    n_ch = fac.chiller_units
    if not live:
        site.live_for = 0.0
        if site.chillers_on:
            site.chillers_on = 0
            site._event(t, "facility", "chillers", "all stopped (dead bus)", 0.0)
    else:
        site.live_for += dt
        if site.chillers_on < n_ch and site.live_for >= (site.chillers_on + 1) * fac.chiller_restart_s - 1e-9:
            step = cooling_target_kw(site.params.facility, site.p_it, site.t_ambient) / n_ch
            if step <= headroom:
                site.chillers_on += 1
                headroom -= step
                site._event(
                    t,
                    "facility",
                    "chillers",
                    f"{site.chillers_on} of {n_ch} running",
                    float(site.chillers_on),
                )
    other = site.p_bus_load - site.it_bus  # cooling, base load and aux on the bus now
    shed_load(site, t, dt, cap - other, headroom)


def shed_load(site: Site, t: float, dt: float, cap_it: float, headroom: float) -> None:
    """Power as many racks (a prefix, in priority order) as the supply can carry.

    On measured draw: a powered rack counts at its measured draw held at its peak (decaying
    over ``draw_hold_s``), a dark one at what it was budgeted at when it was shed. Racks
    are shed when their draw exceeds what can carry them (the UPS's input allowance plus
    its battery, or, without a UPS, the island's capacity less the other loads), down to
    ``shed_margin`` below it; they come back only below
    ``restore_margin``, ``min_off_s`` after the last shed, and in steps the sources can
    accept (``headroom``), so the panel does not flap.
    """
    pm, n_racks = site.params.pms, site.powered.size
    hold = math.exp(-dt / pm.draw_hold_s)
    held = np.maximum(site.p_it_racks, site.rack_est * hold)
    site.rack_est = np.where(site.powered, held, site.rack_est)
    ups = site.ups
    if ups is not None:
        avail = ups.capability_kw(dt)
    elif site.bus == BusMode.GRID:
        avail = math.inf
    elif site.bus == BusMode.ISLAND:
        avail = cap_it
    else:
        avail = 0.0
    cum = np.cumsum(site.rack_est)
    n_now = int(site.powered.sum())  # powered racks are always a prefix
    n_on = n_now
    if n_now and cum[n_now - 1] > avail:
        n_on = int(np.searchsorted(cum, avail * (1.0 - pm.shed_margin), side="right"))
        site.rack_off_t = t
    elif n_now < n_racks:
        if site.bus == BusMode.GRID and ups is None:
            n_on = n_racks
        elif t - site.rack_off_t >= pm.min_off_s - 1e-9 or site.bus == BusMode.GRID:
            # on the grid only the UPS rating limits (no source to protect from overload)
            margin = 0.0 if site.bus == BusMode.GRID else pm.restore_margin
            n_fit = int(np.searchsorted(cum, avail * (1.0 - margin), side="right"))
            gp = site.params.gpu
            idle = gp.node_idle_kw * gp.nodes_per_rack * site.params.facility.pue
            n_add = n_racks if math.isinf(headroom) else int(headroom // idle)
            n_on = max(n_now, min(n_fit, n_now + n_add))
    if n_on != n_now:
        site.powered[:] = False
        site.powered[:n_on] = True
    dark = int(n_racks - n_on)
    if dark != site._racks_dark_prev:
        site._event(t, "gpu", "load", f"{dark} of {n_racks} racks without supply", float(dark))
        site._racks_dark_prev = dark


# ------------------------------------------------------------------------------------------
# construction: the bus's base and its initial steady state
# ------------------------------------------------------------------------------------------


def s_base_kva(site: Site) -> float:
    """The swing equation's base: every PCS's and genset's rating."""
    s = site.params.pcs.s_rated_kva * site.n_cab
    if site.genset is not None:
        s += site.genset.params.p_rated_kw * site.genset.n
    return s


def s_ref_kva(site: Site) -> float:
    """The SCR's reference: the connection rating, or the site's peak draw."""
    p = site.params
    if p.grid.connection_kva > 0:
        return p.grid.connection_kva
    peak = p.gpu.n_racks * site.gpu_rack_nominal_kw() * p.facility.pue + p.facility.base_load_kw
    return max(peak, p.pcs.s_rated_kva * site.n_cab, 1.0)


def settle_initial_state(site: Site) -> None:
    # start in steady state: cooling settled on the IT's mean over one cooling time
    # constant (not the first tick's value, which a swinging load biases), the UPS (if
    # any) carrying the first tick's draw, the racks' measured draw known
    probe = copy.deepcopy(site.gpu)
    fac = site.params.facility
    p_tau = probe.mean_power_kw(0.0, fac.cooling_tau_s, site.powered)
    site.p_cool = cooling_target_kw(fac, float(p_tau.sum()), site.t_ambient)
    site.p_cool_mean = site.p_cool
    probe = copy.deepcopy(site.gpu)
    site.rack_est = probe.mean_power_kw(0.0, site.dt, site.powered)
    it0 = float(site.rack_est.sum())
    site.it_bus = it0 / site.ups.params.efficiency if site.ups is not None else it0
    site.p_bus_load = site.it_bus + site.p_cool + fac.base_load_kw
    site.p_grid = site.p_bus_load
    site.q_grid = site.p_bus_load * site._load_tan_phi
    site.v = pcc_v(site, site.p_grid, site.q_grid)
