"""The compiled island sub-steps (twin/island_kernel.py) against the numpy reference in
twin/site_fixed.py, to the bit.

aidc_10k is taken off the grid and through its island: the gensets start and carry the bus
(droop or isochronous governor), the grid returns and the bus synchronises back; once more
with the gensets failing to start, so the storage alone forms the island and its integrating
synchroniser runs. At every 4th islanded tick, and at every tick of the synchronisation, the
site is copied and both paths take the tick's sub-steps from the same state with the same
commands (some PCSs grid-forming, some stopped, reactive commands on): every value they leave
must be equal.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from hil.config import load_site
from twin import Site
from twin import island_kernel as ik
from twin import site_fixed as sf
from twin.pms import BusMode, Transfer

_ARRAYS = ("p_ac", "q_ac", "p_ref", "p_ac_mean", "q_ac_mean")
_SITE = ("f", "sync_ref", "phase_deg", "rot_p", "relief_p", "_phase_min", "_phase_at_min")
_GENSET = ("p", "p_sec", "p_mean")


def _substeps(site: Site, kernel: str) -> Site:
    s = copy.deepcopy(site)
    s.pcs.kernel = kernel
    p_cmd, q_cmd = s._pcs_commands()
    q_cmd = q_cmd + np.linspace(-50.0, 50.0, s.n_cab)  # reactive commands on
    sf.island_fixed(s, p_cmd, q_cmd, s.dt)
    return s


def _same(a: Site, b: Site, where: str) -> None:
    for name in _ARRAYS:
        x, y = getattr(a.pcs, name), getattr(b.pcs, name)
        np.testing.assert_array_equal(x, y, err_msg=f"{where} pcs.{name}")
    np.testing.assert_array_equal(a._aux_island, b._aux_island, err_msg=f"{where} aux")
    for name in _SITE:
        va, vb = getattr(a, name, None), getattr(b, name, None)
        assert va == vb, f"{where} {name}: {va!r} != {vb!r}"
    if a.genset is not None:
        assert b.genset is not None
        for name in _GENSET:
            np.testing.assert_array_equal(
                getattr(a.genset, name), getattr(b.genset, name), err_msg=f"{where} genset.{name}"
            )


@pytest.mark.parametrize(
    ("governor", "fail_start"),
    [("isochronous", False), ("droop", False), ("isochronous", True)],
)
def test_compiled_island_substeps_equal_numpy(
    governor: str, fail_start: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = ik.substeps

    def counted(*a: Any) -> Any:
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(ik, "substeps", counted)
    over: dict[str, Any] = {
        "genset": {"governor": governor},
        "pcs": {"grid_forming_units": 12},
        "grid": {"reclose_delay_s": 5.0},  # a short stability timer: the sync soon after the return
    }
    site = load_site("aidc_10k", overrides=over)
    site.set("pcs.enable", 1)
    site.set("pcs[3].enable", 0)  # a unit stopped on the island
    site.set("bess.p_set_kw", 2000.0)
    if fail_start:
        site.set("genset.fail_to_start", 1)
    site.step(50)
    site.set("grid.available", 0)
    seen: set[str] = set()
    for k in range(700):
        if k == 300:
            site.set("grid.available", 1)  # the grid returns: the bus synchronises back
        syncing = site.transfer == Transfer.SYNC
        if site.bus == BusMode.ISLAND and (syncing or k % 4 == 0):
            gs = site.genset
            seen.add("genset" if gs is not None and bool(np.any(gs.running > 0)) else "storage")
            if syncing:
                seen.add("sync")
            _same(_substeps(site, "numpy"), _substeps(site, "compiled"), f"tick {site.tick}")
        site.step()
    assert "sync" in seen
    assert len(calls) > 100  # the compiled path ran (once a compared tick, and in the run)
    assert ("storage" if fail_start else "genset") in seen
