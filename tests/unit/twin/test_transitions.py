"""The twin's event record: raised and cleared alarm bits, state codes as values, known kinds."""

from __future__ import annotations

import math

import pytest

from twin import Site
from twin.models.pcs import PCS_ALARM_BITS, PcsState


def test_pcs_alarm_raised_then_cleared_with_the_word_as_value() -> None:
    site = Site({"battery": {"n_cabinets": 2}})
    site.set("pcs.enable", 1)
    site.step(100)
    n = len(site.events)
    site.set("pcs[1].fault_trip", 1)
    site.step(5)
    site.set("pcs[1].fault_trip", 0)
    site.set("pcs[1].fault_reset", 1)
    site.step(5)
    new = site.events[n:]
    raised = [e for e in new if e.kind == "alarm" and e.device == "pcs[1]"]
    cleared = [e for e in new if e.kind == "alarm_cleared" and e.device == "pcs[1]"]
    assert len(raised) == 1
    assert len(cleared) == 1
    assert cleared[0].t > raised[0].t
    bit = 1 << PCS_ALARM_BITS[raised[0].detail.split(",")[0]]
    assert int(raised[0].value) & bit
    assert not int(cleared[0].value) & bit
    assert cleared[0].detail == raised[0].detail
    faults = [e for e in new if e.kind == "state" and e.device == "pcs[1]" and e.detail.startswith("FAULT")]
    assert faults
    assert faults[0].value == float(PcsState.FAULT)
    assert not [e for e in new if e.device == "pcs[0]"]  # the other unit saw nothing


def test_events_without_a_value_carry_nan_and_unknown_kinds_are_refused() -> None:
    site = Site({"battery": {"n_cabinets": 1}})
    site.transitions.add(0.0, "grid", "bus", "GRID")
    assert math.isnan(site.events[-1].value)
    with pytest.raises(ValueError, match="unknown transition kind 'breakr'"):
        site.transitions.add(0.0, "grid", "breakr", "opened")
