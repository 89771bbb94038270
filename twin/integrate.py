"""One tick of the continuous states, on either path, with the state restored on failure.

``method="fixed"`` (:mod:`twin.site_fixed`) advances every lag and the cells with the exact
discretisation of a held input; ``method="ivp"`` (:mod:`twin.site_ivp`) integrates the same
equations with ``scipy.integrate.solve_ivp`` as the reference. Both end with the battery
current at the end of the tick (for outputs and the next tick's lookups). If a path fails or
leaves a non-finite state, the continuous state is put back as it was before the tick and
:class:`~twin.errors.SolverError` propagates: a failed tick changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from twin.errors import SolverError
from twin.models.bms import Contactor
from twin.site_fixed import continuous_fixed
from twin.site_ivp import continuous_ivp

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["advance", "end_current"]

_CONTACTOR_CLOSED = int(Contactor.CLOSED)


def advance(site: Site, t0: float, dt: float) -> None:
    """Advance the continuous states over ``[t0, t0 + dt)`` on the site's path."""
    saved = _save(site)
    try:
        if site.method == "ivp":
            continuous_ivp(site, t0, dt)
        else:
            continuous_fixed(site, t0, dt)
        _check_finite(site, t0, end_current(site))
    except SolverError:
        _restore(site, saved)
        raise


def end_current(site: Site) -> bool | None:
    """Battery current at the end of the tick, from the PCS's end-of-tick power: both paths
    report the same instant. With the battery and PCS kernels compiled, one compiled loop
    (``pcs_step_kernel.end_current``, the chunk's arithmetic) that also says whether the state
    is finite; None on the numpy path, which does not look."""
    bat, pcs = site.battery, site.pcs
    closed = (site.bms.contactor == _CONTACTOR_CLOSED).astype(float)
    pe = bat.pack_instant_rows(bat.i_pack) if pcs.kernel == "compiled" else None
    if pe is not None:
        from twin.models import pcs_step_kernel as psk  # numba is optional

        fin = psk.finish_params(pcs)
        i_end = np.empty(pcs.n)
        st = bat.state
        finite = psk.end_current(pcs.p_ac, pcs.state, pcs.hot, fin, closed, pe, st.soc, st.t_cell_degc, i_end)
        bat.i_pack = i_end
        return bool(finite)
    e, r = bat.pack_instant(bat.state, bat.i_pack)
    p_dc = (pcs.p_ac + pcs.loss_now_kw(pcs.p_ac)) * 1000.0 * closed
    i_end, _ = bat.current_for_power(e, r, p_dc)
    bat.i_pack = i_end * closed
    return None


def _check_finite(site: Site, t0: float, finite: bool | None = None) -> None:
    """Raise if the battery or PCS state went non-finite (``finite``: already found out)."""
    if finite is None:
        st = site.battery.state
        finite = bool(
            np.all(np.isfinite(st.soc))
            and np.all(np.isfinite(st.t_cell_degc))
            and np.all(np.isfinite(site.pcs.p_ac))
        )
    if not finite:
        raise SolverError("bess", t0, "non-finite battery or PCS state")


def _save(site: Site) -> dict[str, Any]:
    return {
        "state": site.battery.state.copy(),
        "i_pack": site.battery.i_pack.copy(),
        "p_ac": site.pcs.p_ac.copy(),
        "p_ref": site.pcs.p_ref.copy(),
        "q_ac": site.pcs.q_ac.copy(),
        "p_cool": site.p_cool,
        "f": site.f,
        "gen": site.genset.p.copy() if site.genset else None,
    }


def _restore(site: Site, s: dict[str, Any]) -> None:
    site.battery.state = s["state"]
    site.battery.i_pack = s["i_pack"]
    site.pcs.p_ac, site.pcs.p_ref, site.pcs.q_ac = s["p_ac"], s["p_ref"], s["q_ac"]
    site.p_cool, site.f = s["p_cool"], s["f"]
    if site.genset is not None:
        site.genset.p = s["gen"]
