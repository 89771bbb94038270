"""Energy balance of the site in every mode, with aging on.

sources (grid + PV + gensets) + stores given up (cells, UPS battery) = IT + cooling + base +
auxiliaries + PCS, cell and UPS losses + energy taken up by the island's rotating masses +
load relief. Every term is accumulated from its own device's signals; ``Site.energy_balance``
reports them with ``supplied_kwh`` and ``residual_kwh``. The flow balance must close within
1e-6 of the energy supplied in each mode: grid-connected, a grid-forming island, a genset
island, a dead bus and a ride-through. Independently, the cells' stored energy (∫ OCV dQ from
SoC and capacity, a state, not a flow) must fall by exactly what the flows say the cells gave
up plus what capacity fade took: E(t) − E(0) = −battery_chem − aging.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hil.config import load_site
from twin import Site

TOL = 1e-6  # residual / supplied, the bound


def _run(site: Site, plan: dict[float, Callable[[Site], None]], until_s: float) -> None:
    at = {round(t / site.dt): fn for t, fn in plan.items()}
    while site.t < until_s - 1e-9:
        fn = at.get(site.tick)
        if fn is not None:
            fn(site)
        site.step()


def _check(site: Site, e0: float) -> dict[str, float]:
    b = site.energy_balance()
    assert b["supplied_kwh"] > 0.0
    assert abs(b["residual_kwh"]) <= TOL * b["supplied_kwh"], (b["residual_kwh"], b["supplied_kwh"])
    e1 = float(site.snapshot()["bess.energy_kwh"])
    # state vs flow: what the cells hold now against what the flows say they gave up
    scale = max(abs(b["battery_chem_kwh"]), 1.0)
    assert e1 - e0 == pytest.approx(-b["battery_chem_kwh"] - b["aging_kwh"], abs=2e-3 * scale)
    return b


def _outage(site: Site) -> None:
    site.set("grid.available", 0)


def _enable(site: Site) -> None:
    site.set("pcs.enable", 1)


MODES: dict[str, tuple[str, dict[str, Any], dict[float, Callable[[Site], None]], float, str]] = {
    # name: site, overrides, plan, duration, the mode the site must be in at the end
    "grid": (
        "aidc_10k",
        {},
        {
            0.0: _enable,
            1.0: lambda s: s.set("bess.p_set_kw", -6000.0),
            60.0: lambda s: s.set("bess.p_set_kw", 8000.0),
            90.0: lambda s: (s.set("genset.start", 1), s.set("genset.p_set_kw", 1500.0)),
        },
        150.0,
        "GRID",
    ),
    "grid_forming_island": (
        "aidc_10k",
        {"pcs": {"mode": "grid_forming"}, "genset": {"auto_start": False}},
        {0.0: _enable, 20.0: _outage},
        140.0,
        "ISLAND",
    ),
    "genset_island": ("aidc_10k", {}, {0.0: _enable, 20.0: _outage}, 140.0, "ISLAND"),
    "dead_bus": (
        "aidc_10k",
        {"genset": {"auto_start": False}},
        {0.0: _enable, 20.0: _outage},
        60.0,
        "DEAD",
    ),
    "ride_through": (
        "aidc_10k",
        {},
        {
            0.0: _enable,
            1.0: lambda s: s.set("bess.p_set_kw", 5000.0),
            20.0: lambda s: s.set("grid.v_pu", 0.3),
            20.5: lambda s: s.set("grid.v_pu", 1.0),
        },
        40.0,
        "GRID",
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_energy_balance_closes_in_every_mode_with_aging_on(mode: str) -> None:
    name, over, plan, until, end_mode = MODES[mode]
    # a 10 s stressor window so capacity fade shows within the run
    site = load_site(name, overrides={"aging": {"model": "naumann", "window_s": 10.0}, **over})
    assert site.aging is not None
    e0 = float(site.snapshot()["bess.energy_kwh"])
    _run(site, plan, until)
    assert site.bus.name == end_mode
    b = _check(site, e0)
    assert b["aging_kwh"] > 0.0  # the cells did age, and it is booked
    if end_mode == "ISLAND":
        assert b["rotating_kwh"] != 0.0  # the island's imbalance went through the swing equation
    if mode == "dead_bus":
        assert b["ups_discharge_kwh"] > 0.0  # the UPS carried the racks
        assert site.snapshot()["site.racks_dark"] == 0


@pytest.mark.slow
def test_aidc_10k_tou_day_energy_balance_with_aging() -> None:
    """Four hours at 1 s ticks, compressing a TOU day: charge, rest, discharge with a genset
    test run, rest. The storage does real work, every source takes part, aging is on."""
    site = load_site("aidc_10k", overrides={"tick_s": 1.0, "aging": {"model": "naumann"}})
    e0 = float(site.snapshot()["bess.energy_kwh"])
    site.set("pcs.enable", 1)
    schedule = {0: -6000.0, 3600: 0.0, 7200: 8000.0, 10800: 0.0}
    for k in range(4 * 3600):
        if k in schedule:
            site.set("bess.p_set_kw", schedule[k])
        if k == 7200:
            site.set("genset.start", 1)
            site.set("genset.p_set_kw", 1500.0)
        if k == 7200 + 1800:
            site.set("genset.start", 0)
        site.step()
    b = _check(site, e0)
    assert abs(b["battery_chem_kwh"]) > 100.0 or abs(float(site.snapshot()["bess.energy_kwh"]) - e0) > 1000.0
    assert b["pv_kwh"] > 1000.0
    assert b["genset_kwh"] > 100.0
    # the per-unit books (served as the gensets' TotWhInj) add up to the balance's genset energy
    # (paralleled on the grid, no unit ever motors: every tick mean is >= 0)
    snap = site.snapshot()
    assert float(snap.arrays["genset.energy_kwh"].sum()) == pytest.approx(b["genset_kwh"], rel=1e-9)
    # and the per-PCS AC books to the fleet's
    assert float(snap.arrays["pcs.discharge_kwh"].sum()) == pytest.approx(
        snap["bess.discharge_kwh"], rel=1e-12
    )
    assert b["aging_kwh"] > 0.0
    np.testing.assert_allclose(b["sources_kwh"] + b["stores_kwh"], b["sinks_kwh"], rtol=TOL)
