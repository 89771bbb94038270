"""The ``ivp`` integration path: the grid-connected site's continuous states integrated by
``scipy.integrate.solve_ivp`` (LSODA), the reference the fixed path is tested against.

An island or a dead bus is stepped by the fixed path on both methods (its swing equation is
sub-stepped exactly there). Called from ``Site._step_once``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.integrate import solve_ivp

from twin._interp import FloatArray
from twin.errors import SolverError
from twin.models.bms import Contactor
from twin.models.ecm import EcmState
from twin.models.grid import cooling_target_kw
from twin.pms import BusMode
from twin.site_fixed import continuous_fixed, gen_grid_target, gpu_and_cooling

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["continuous_ivp"]

_CONTACTOR_CLOSED = int(Contactor.CLOSED)


def layout(site: Site) -> dict[str, slice]:
    n_cells = site.battery.shape[0] * site.battery.shape[1]
    n_rc = site.battery.n_rc
    sizes = [
        ("soc", n_cells),
        ("v_rc", n_rc * n_cells),
        ("t_cell", n_cells),
        ("t_jig", n_cells),
        ("p_ac", site.n_cab),
        ("q_ac", site.n_cab),
        ("gen", site.genset.n if site.genset else 0),
        ("cool", 1),
        ("f", 1),
        ("e", 8),  # pcs loss, aux, batt loss, chem, gen, island imbalance, cooling, p_ac
    ]
    out: dict[str, slice] = {}
    k = 0
    for name, size in sizes:
        out[name] = slice(k, k + size)
        k += size
    return out


def continuous_ivp(site: Site, t0: float, dt: float) -> None:
    """The reference path for the grid-connected site. An island or a dead bus is stepped
    by the fixed path on both methods (its swing equation is sub-stepped exactly there)."""
    if site.bus != BusMode.GRID:
        continuous_fixed(site, t0, dt)
        return
    bat, pcs, gs = site.battery, site.pcs, site.genset
    c0 = site.p_cool
    gpu_and_cooling(site, t0, dt)  # IT, UPS and the cooling target (integrated below)
    site.p_cool = c0
    fac = site.params.facility
    cool_target = cooling_target_kw(fac, site.p_it, site.t_ambient) * site.chillers_on / fac.chiller_units
    if site.pv is not None:
        site.pv.step(t0, dt)
    p_cmd, q_cmd = site._pcs_commands()
    lay = layout(site)
    shape = bat.shape
    x0 = np.zeros(lay["e"].stop)
    st = bat.state
    x0[lay["soc"]] = st.soc.ravel()
    x0[lay["v_rc"]] = st.v_rc.ravel()
    x0[lay["t_cell"]] = st.t_cell_degc.ravel()
    x0[lay["t_jig"]] = st.t_jig_degc.ravel()
    x0[lay["p_ac"]] = pcs.p_ac
    x0[lay["q_ac"]] = pcs.q_ac
    if gs is not None:
        x0[lay["gen"]] = gs.p
    x0[lay["cool"]] = site.p_cool
    x0[lay["f"]] = site.f
    rate = pcs.rate_kw_s
    ref0 = pcs.p_ref.copy()
    delta = p_cmd - ref0
    slope = np.sign(delta) * rate
    t_ramp = np.abs(delta) / rate
    closed = (site.bms.contactor == _CONTACTOR_CLOSED).astype(float)
    run = pcs.running > 0
    i_lookup = bat.i_pack.copy()
    gen_tgt = gen_grid_target(site, dt) if gs is not None else None
    n_rc = bat.n_rc

    def rhs(t: float, x: FloatArray) -> FloatArray:
        s = t - t0
        state = EcmState(
            x[lay["soc"]].reshape(shape),
            x[lay["v_rc"]].reshape((n_rc, *shape)),
            x[lay["t_cell"]].reshape(shape),
            x[lay["t_jig"]].reshape(shape),
        )
        p_ac = x[lay["p_ac"]]
        dx = np.zeros_like(x)
        tgt = ref0 + slope * np.minimum(s, t_ramp)
        dx[lay["p_ac"]] = np.where(run, (tgt - p_ac) / pcs.tau, 0.0)
        dx[lay["q_ac"]] = (q_cmd - x[lay["q_ac"]]) / pcs.tau_q
        loss = pcs.loss_now_kw(p_ac)
        p_dc_w = (p_ac + loss) * 1000.0 * closed
        e, r = bat.pack_instant(state, i_lookup)
        i_pack, _ = bat.current_for_power(e, r, p_dc_w)
        i_pack = i_pack * closed
        dsoc, dv, dtc, dtj = bat.rhs(state, i_pack, i_lookup)
        dx[lay["soc"]] = dsoc.ravel()
        dx[lay["v_rc"]] = dv.ravel()
        dx[lay["t_cell"]] = dtc.ravel()
        dx[lay["t_jig"]] = dtj.ravel()
        p_cool = x[lay["cool"]][0]
        dx[lay["cool"]] = (cool_target - p_cool) / fac.cooling_tau_s
        p_gen = 0.0
        if gs is not None and gen_tgt is not None:
            pg = x[lay["gen"]]
            dx[lay["gen"]] = (gen_tgt - pg) / gs.tau
            p_gen = float(pg.sum())
        aux = pcs.aux_now_kw(p_ac)
        chem = bat.chem_power_w(state, i_pack) / 1000.0
        p_del = i_pack * (e - r * i_pack) / 1000.0
        ee = dx[lay["e"]]
        ee[0] = float(loss.sum())
        ee[1] = float(aux.sum())
        ee[2] = float((chem - p_del).sum())
        ee[3] = float(chem.sum())
        ee[4] = p_gen
        ee[5] = 0.0
        ee[6] = p_cool
        ee[7] = float(p_ac.sum())
        return dx

    try:
        sol = solve_ivp(rhs, (t0, t0 + dt), x0, method="LSODA", rtol=1e-8, atol=1e-9, t_eval=[t0 + dt])
    except (ValueError, FloatingPointError, ArithmeticError) as exc:
        raise SolverError("site", t0, str(exc)) from exc
    if not sol.success:
        raise SolverError("site", t0, str(sol.message))
    x1 = sol.y[:, -1]
    if not np.all(np.isfinite(x1)):
        bad = [k for k, sl in lay.items() if not np.all(np.isfinite(x1[sl]))]
        raise SolverError(_device_of(bad[0]), t0, f"non-finite state {bad}")
    bat.state = EcmState(
        x1[lay["soc"]].reshape(shape).copy(),
        x1[lay["v_rc"]].reshape((n_rc, *shape)).copy(),
        x1[lay["t_cell"]].reshape(shape).copy(),
        x1[lay["t_jig"]].reshape(shape).copy(),
    )
    ee = (x1[lay["e"]] - x0[lay["e"]]) / dt
    pcs.p_ac = np.where(run, x1[lay["p_ac"]], 0.0)
    pcs.q_ac = x1[lay["q_ac"]].copy()
    # the ramp reference evolves in closed form
    pcs.p_ref = ref0 + slope * np.minimum(dt, t_ramp)
    p_ac_mean_total = ee[7]
    # per-unit means are not integrated one by one: spread the exact total by end values
    w = (
        pcs.p_ac / pcs.p_ac.sum()
        if abs(float(pcs.p_ac.sum())) > 1e-9
        else np.full(site.n_cab, 1.0 / site.n_cab)
    )
    pcs.p_ac_mean = p_ac_mean_total * w
    pcs.q_ac_mean = pcs.q_ac.copy()
    pcs.loss = np.full(site.n_cab, ee[0] / site.n_cab)
    pcs.aux = np.full(site.n_cab, ee[1] / site.n_cab)
    pcs.p_dc = pcs.p_ac_mean + pcs.loss
    site._batt_step = {
        "p_chem_w": np.full(site.n_cab, ee[3] * 1000.0 / site.n_cab),
        "p_dc_w": np.full(site.n_cab, (ee[3] - ee[2]) * 1000.0 / site.n_cab),
    }
    site.p_cool = float(x1[lay["cool"]][0])
    site.p_cool_mean = ee[6]
    if gs is not None:
        gs.p = x1[lay["gen"]].copy()
        gs.p_mean = np.full(gs.n, ee[4] / max(gs.n, 1))
        gs.finish_tick(dt)
    site.rot_p = site.relief_p = 0.0


def _device_of(segment: str) -> str:
    return {
        "soc": "bess",
        "v_rc": "bess",
        "t_cell": "bess",
        "t_jig": "bess",
        "p_ac": "pcs",
        "q_ac": "pcs",
        "gen": "genset",
        "cool": "facility",
        "f": "grid",
    }.get(segment, "site")
