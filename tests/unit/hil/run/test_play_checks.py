"""An expectation on a site-wide signal is checked on a plain float (``_scalar_check``), and
gives every tick the verdict and the score its one-element-array form gives, at and around
the bounds, for NaN and the infinities; over a run, the check's result (violations, first
violation, worst value, met at) is the array form's."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.run import play
from hil.scenario import Expectation
from twin.site import Snapshot

_SIGNAL = "grid.f_hz"


def _snap(v: float) -> Snapshot:
    return Snapshot(0.0, 0, {_SIGNAL: v}, {}, ())  # type: ignore[arg-type]


def _ex(op: str, bounds: tuple[float, ...], kind: str = "always") -> Expectation:
    return Expectation(
        name="x", kind=kind, what="signal", target=_SIGNAL, op=op, raw_bounds=bounds,  # type: ignore[arg-type]
        alarm=None, states=(), t0=0.0, t1=None, hold=0.0, where=("expect", 0), bounds=bounds,
    )  # fmt: skip


def _array_form(ex: Expectation, snap: Snapshot) -> play.Check:
    """The check as compile_check built it before the scalar form (the array getter)."""
    orig = play._scalar_check
    try:
        play._scalar_check = lambda ex, snap: None
        return play.compile_check(ex, snap, 100.0, 0.1, None)
    finally:
        play._scalar_check = orig


_OPS = [("lt", (50.0,)), ("le", (50.0,)), ("gt", (49.5,)), ("ge", (49.5,)), ("between", (49.8, 50.2))]
_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([49.5, 49.8, 50.0, 50.2, math.nextafter(50.0, 0.0), math.nextafter(49.8, 0.0)]),
    st.floats(49.0, 51.0),
)


@pytest.mark.parametrize(("op", "bounds"), _OPS)
@settings(max_examples=150, deadline=None)
@given(v=_VALUES)
def test_scalar_form_gives_the_array_forms_verdict_and_score(
    op: str, bounds: tuple[float, ...], v: float
) -> None:
    ex = _ex(op, bounds)
    snap = _snap(v)
    fast = play.compile_check(ex, snap, 100.0, 0.1, None)
    ref = _array_form(ex, snap)
    assert play._scalar_check(ex, snap) is not None  # the scalar form is the one taken
    a, b = fast.get(snap), ref.get(snap)
    assert isinstance(a, float)
    assert fast.ok(a) == ref.ok(b)
    sa, sb = fast.score(a), ref.score(b)
    assert (math.isnan(sa) and math.isnan(sb)) or sa == sb
    wa, wb = play._value_of(a, fast.score), play._value_of(b, ref.score)
    assert (math.isnan(wa) and math.isnan(wb)) or wa == wb


@pytest.mark.parametrize("kind", ["always", "eventually", "at"])
@pytest.mark.parametrize(("op", "bounds"), _OPS)
def test_a_run_of_values_gives_the_same_result(kind: str, op: str, bounds: tuple[float, ...]) -> None:
    rng = np.random.default_rng(3)
    values = [*rng.uniform(49.0, 51.0, 300).tolist(), math.nan, 50.0, 49.8, 50.2]
    ex = _ex(op, bounds, kind)
    fast = play.compile_check(ex, _snap(values[0]), 100.0, 0.1, None)
    ref = _array_form(ex, _snap(values[0]))
    for k, v in enumerate(values):
        t = 0.1 * k
        fast.update(t, _snap(float(v)))
        ref.update(t, _snap(float(v)))
    fast.finish(complete=True)
    ref.finish(complete=True)
    ra: dict[str, Any] = fast.result(100.0)
    rb: dict[str, Any] = ref.result(100.0)
    assert ra == rb


def test_the_scalar_form_is_not_taken_for_a_mean_a_unit_or_a_state() -> None:
    snap = _snap(50.0)
    ex = _ex("lt", (1.0,))
    assert play._scalar_check(ex, snap) is not None
    assert play._scalar_check(dataclasses.replace(ex, mean_s=30.0), snap) is None
    assert play._scalar_check(dataclasses.replace(ex, target="pcs[0].p_ac_kw"), snap) is None
    assert play._scalar_check(dataclasses.replace(ex, what="state"), snap) is None
