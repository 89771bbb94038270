"""A tick's books through the compiled ``book_tick`` (twin/chunk_kernel.py, the chunk's own
arithmetic) against the numpy reference in ``twin.site_fixed.bookkeeping``, to the bit.

Two copies of a site step in lockstep, one booking each way, through a grid-connected stretch
with the storage charging and discharging, an outage (the island formed by the gensets, the
UPS carrying the racks) and the grid's return, and on lab_rack (no genset, no UPS, no PV).
After every tick every energy accumulator, the PCS books, the bus's load and import, the PCC
voltage and the demand register must be equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from hil.config import load_site
from twin import Site
from twin import site_fixed as sf
from twin.pms import BusMode


def _numpy_books(site: Site, dt: float) -> None:
    site._batt_step.pop("cab")
    sf.bookkeeping(site, dt)


def _step_numpy(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(sf, "_book_compiled", _numpy_books)
        site.step(1)


def _same(a: Site, b: Site, where: str) -> None:
    assert dataclasses.asdict(a.energy) == dataclasses.asdict(b.energy), where
    np.testing.assert_array_equal(a.pcs_books, b.pcs_books, err_msg=where)
    for name in ("p_grid", "q_grid", "v", "p_bus_load"):
        assert getattr(a, name) == getattr(b, name), f"{where}: {name}"
    assert dataclasses.asdict(a.demand) == dataclasses.asdict(b.demand), where


def _lockstep(
    a: Site, b: Site, n: int, monkeypatch: pytest.MonkeyPatch, before: Callable[[int], None] = lambda k: None
) -> set[int]:
    buses = set()
    for k in range(n):
        before(k)
        a.step(1)
        _step_numpy(b, monkeypatch)
        _same(a, b, f"tick {a.tick}")
        buses.add(int(a.bus))
    return buses


def test_compiled_books_equal_numpy_through_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    a = load_site("aidc_10k")
    assert a.pcs.kernel == "compiled"
    b = load_site("aidc_10k")

    def setpoints(k: int) -> None:
        for s in (a, b):
            s.set("bess.p_set_kw", 4000.0 if k < 40 else -3000.0)

    buses = _lockstep(a, b, 80, monkeypatch, setpoints)
    for s in (a, b):
        s.set("grid.available", 0.0)
    buses |= _lockstep(a, b, 250, monkeypatch)
    for s in (a, b):
        s.set("grid.available", 1.0)
    buses |= _lockstep(a, b, 150, monkeypatch)
    assert int(BusMode.ISLAND) in buses  # the island was booked
    assert int(BusMode.GRID) in buses
    assert a.energy.genset_kwh > 0.0  # the gensets carried it
    assert a.energy.rotating_kwh != 0.0


def test_compiled_books_equal_numpy_on_the_small_site(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = load_site("lab_rack"), load_site("lab_rack")
    assert a.genset is None
    _lockstep(a, b, 120, monkeypatch)
    assert a.energy.grid_import_kwh > 0.0
