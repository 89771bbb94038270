"""The PCS grid-code trips of a tick (``twin.discrete.grid_trips``) and a monitor's repeated
status (``GridCodeStatus.at``): the shortcuts give the full computation's answer.

``grid_trips`` keeps its answer for a repeated status (the same arrays) and the same mask; a
new status, or a change of mask, is worked out again. ``GridCodeStatus.at`` is
``dataclasses.replace(status, t_s=...)`` with every other field shared.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from hil.config import load_site
from twin import discrete
from twin.models.gridcode.monitor import GridCodeStatus
from twin.models.pcs_params import PCS_ALARM_BITS, grid_trip_alarm_bits
from twin.pms import BusMode


def _status(tripped: list[bool], reasons: list[str]) -> GridCodeStatus:
    n = len(tripped)
    ro = []
    for a in (
        np.array(tripped),
        np.full(n, np.nan),
        np.array(reasons),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
        ~np.array(tripped),
        np.ones(n),
        np.array(["NORMAL"] * n),
    ):
        a.flags.writeable = False
        ro.append(a)
    return GridCodeStatus(1.0, *ro)


def test_at_is_replace_with_every_other_field_shared() -> None:
    st = _status([True, False], ["OF", ""])
    moved = st.at(7.5)
    want = dataclasses.replace(st, t_s=7.5)
    for f in dataclasses.fields(GridCodeStatus):  # every field, so a new one cannot be forgotten
        assert getattr(moved, f.name) is getattr(want, f.name) or getattr(moved, f.name) == getattr(
            want, f.name
        )
    assert moved.t_s == 7.5
    assert st.t_s == 1.0


def test_the_mask_and_a_new_status_are_worked_out_again() -> None:
    site: Any = SimpleNamespace(_trip_memo=None, pcs=SimpleNamespace(gfm=np.array([True, False])))
    st = _status([True, True], ["OF", "UV"])
    of, uv = 1 << PCS_ALARM_BITS["OVER_FREQUENCY"], 1 << PCS_ALARM_BITS["AC_UNDER_VOLT"]
    trip, bits = discrete.grid_trips(site, st, False)
    np.testing.assert_array_equal(trip, [1.0, 1.0])
    np.testing.assert_array_equal(bits, [of, uv])
    # the same status, masked (islanded): the grid-forming unit holds the island, not tripped
    trip, bits = discrete.grid_trips(site, st, True)
    np.testing.assert_array_equal(trip, [0.0, 1.0])
    np.testing.assert_array_equal(bits, [0, uv])
    again = discrete.grid_trips(site, st, True)
    assert again[0] is trip
    assert again[1] is bits
    # a new status with other values (fresh arrays): worked out again
    trip, bits = discrete.grid_trips(site, _status([False, True], ["", "OF"]), True)
    np.testing.assert_array_equal(trip, [0.0, 1.0])
    np.testing.assert_array_equal(bits, [0, of])


def test_kept_answers_equal_fresh_ones_through_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    site = load_site("aidc_10k")
    orig = discrete.grid_trips
    seen = {"kept": 0, "fresh": 0, "tripped": 0}

    def checked(s: Any, status: GridCodeStatus, masked: bool) -> Any:
        memo = s._trip_memo
        got = orig(s, status, masked)
        kept = memo is not None and got[0] is memo[3]
        seen["kept" if kept else "fresh"] += 1
        want_trip = np.asarray(status.tripped, dtype=float)
        if masked:
            want_trip = np.where(s.pcs.gfm, 0.0, want_trip)
        np.testing.assert_array_equal(got[0], want_trip)
        np.testing.assert_array_equal(got[1], grid_trip_alarm_bits(status.trip_reason, want_trip > 0))
        seen["tripped"] += int(np.any(want_trip > 0))
        return got

    monkeypatch.setattr(discrete, "grid_trips", checked)
    buses = set()
    site.step(20)
    site.set("grid.available", 0.0)
    for _ in range(200):
        site.step(1)
        buses.add(int(site.bus))
    site.set("grid.available", 1.0)
    for _ in range(2000):  # the stability timer, the sync check, then the grid again
        site.step(1)
        buses.add(int(site.bus))
        if site.bus == BusMode.GRID:
            break
    site.step(20)
    assert int(BusMode.ISLAND) in buses
    assert int(BusMode.GRID) in buses
    assert seen["tripped"] > 100  # the grid-following units were tripped through the island
    assert seen["kept"] > 100
    assert seen["fresh"] > 2
