"""The battery current at the end of a tick (``twin.integrate.end_current``): the compiled loop
(``pcs_step_kernel.end_current``, shared with the chunk) against the numpy path, to the bit.

lab_rack's cabinets are put in every PCS state, hot standby on and off, contactors open and
closed, charging and discharging across the rating and at zero, and a state left non-finite;
both paths start from the same pack current (it is also the resistance lookup's current) and
must leave the same current, and the compiled one must say whether the state is finite as
``_check_finite`` finds it.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hil.config import load_site
from twin import Site
from twin import integrate as ig
from twin.errors import SolverError
from twin.models.bms import Contactor
from twin.models.pcs import PcsState


def _both(site: Site) -> tuple[np.ndarray, np.ndarray, bool | None]:
    i0 = site.battery.i_pack.copy()
    ref = copy.deepcopy(site)
    ref.pcs.kernel = "numpy"
    assert ig.end_current(ref) is None  # the numpy path does not look
    site.battery.i_pack = i0
    finite = ig.end_current(site)
    return ref.battery.i_pack, site.battery.i_pack, finite


def test_compiled_end_current_equals_numpy() -> None:
    site = load_site("lab_rack")
    assert site.pcs.kernel == "compiled"
    assert site.battery._kt is not None
    site.step(20)
    rng = np.random.default_rng(11)
    n = site.n_cab
    states = np.array([int(s) for s in PcsState])
    rated = site.pcs.params.p_rated_kw
    seen_open = seen_hot = seen_charge = False
    for k in range(200):
        site.pcs.state = rng.choice(states, n)
        site.pcs.hot = rng.random(n) < 0.5
        site.pcs.p_ac = rng.uniform(-1.1 * rated, 1.1 * rated, n)
        site.pcs.p_ac[rng.random(n) < 0.2] = 0.0
        site.bms.contactor = np.where(rng.random(n) < 0.7, int(Contactor.CLOSED), int(Contactor.OPEN))
        site.battery.i_pack = rng.uniform(-300.0, 300.0, n)
        ref, got, finite = _both(site)
        np.testing.assert_array_equal(got, ref, err_msg=f"case {k}")
        assert finite is True
        seen_open |= bool(np.any(site.bms.contactor != int(Contactor.CLOSED)))
        seen_hot |= bool(np.any(site.pcs.hot & (site.pcs.state == int(PcsState.STANDBY))))
        seen_charge |= bool(np.any(site.pcs.p_ac < 0))
    assert seen_open
    assert seen_hot
    assert seen_charge


@pytest.mark.parametrize("where", ["p_ac", "soc", "t_cell"])
def test_a_non_finite_state_is_found_by_both(where: str) -> None:
    site = load_site("lab_rack")
    site.step(5)
    if where == "p_ac":
        site.pcs.p_ac[0] = np.nan
    elif where == "soc":
        site.battery.state.soc[0, 0] = np.inf
    else:
        site.battery.state.t_cell_degc[0, -1] = np.nan
    _, _, finite = _both(site)
    assert finite is False
    with pytest.raises(SolverError, match="non-finite"):
        ig._check_finite(site, 0.0, finite)
    with pytest.raises(SolverError, match="non-finite"):
        ig._check_finite(site, 0.0)  # the numpy path's own look
