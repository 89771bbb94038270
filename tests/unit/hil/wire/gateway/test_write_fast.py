"""The write fast path (:mod:`hil.wire.gateway.writes`) against the general path it skips.

* :class:`Quantiser` gives the words and the read-back value of ``encode_value`` then
  ``decode_words``, for every integer type it covers × scale factor, over the whole float line
  (in range, clipped, tiny, huge).
* :meth:`Gateway.write_value` with a plain ``float`` or ``int`` (the fast path) leaves the
  gateway as the same write given as ``numpy.float64`` (the general path, which the fast path
  does not take) does: the status, the register image, the held controls, the queue and the
  write log, for every point of every kind of a site with every point map, in remote and in
  local control.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.config import load_site
from hil.wire.gateway import Device, Gateway
from hil.wire.gateway.writes import _FAST_TYPES, Quantiser
from hil.wire.sunspec import TYPES, decode_words, encode_value

PV_GENSET = {
    "pv": {"p_dc_stc_kw": 40.0, "s_inverter_kva": 36.0, "latitude_deg": 23.1, "longitude_deg": 113.3},
    "genset": {"n_units": 2, "p_rated_kw": 30.0},
}


def test_the_fast_types_are_the_integer_types_of_one_or_two_words() -> None:
    expected = {n for n, t in TYPES.items() if t.words in (1, 2)} - {"float32", "pad"}
    assert set(_FAST_TYPES) == expected
    assert Quantiser.of_type("float32", 0) is None
    assert Quantiser.of_type("int64", 0) is None


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(_FAST_TYPES)),
    st.integers(-6, 6),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.integers(-(2**33), 2**33).map(float),
        st.integers(-70000, 70000).map(lambda k: k + 0.5),  # halves: round half to even
    ),
)
def test_quantiser_equals_encode_then_decode(type_name: str, sf: int, v: float) -> None:
    q = Quantiser.of_type(type_name, sf)
    assert q is not None
    got = q(v)
    words = encode_value(v, type_name, TYPES[type_name].words, sf)
    back = decode_words(tuple(words), type_name, sf)
    if got is None:  # only where the general path would not read a number back either
        assert back is None or not math.isfinite(v / 10.0**sf)
        return
    value, got_words = got
    assert got_words == words
    assert back is not None
    assert float(back) == value


@cache
def _sites() -> tuple[Gateway, Gateway]:
    return Gateway(load_site("lab_rack", overrides=PV_GENSET)), Gateway(
        load_site("lab_rack", overrides=PV_GENSET)
    )


def _points() -> list[tuple[str, str]]:
    gw = _sites()[0]
    return [(d.name, p.key) for d in gw.devices for p in d.points if d.index == 0]


def _dev(gw: Gateway, name: str) -> Device:
    return next(d for d in gw.devices if d.name == name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_points()),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(-1e5, 1e5),
        st.integers(-(2**40), 2**40),
        st.sampled_from([0, 1, 2, 3, 4, 7, 0.5, -1, 100, 65535, 10**400]),
    ),
    st.booleans(),
)
def test_write_value_fast_path_equals_the_general_path(
    point: tuple[str, str], value: float | int, local: bool
) -> None:
    fast, general = _sites()
    name, key = point
    a, b = _dev(fast, name), _dev(general, name)
    a.local = b.local = local
    try:
        try:
            as_np: object = np.float64(value)
        except OverflowError:
            as_np = value  # an int past 1e308 has no float64: both take the same path
        sa = fast.write_value(a, key, value)
        sb = general.write_value(b, key, as_np)
    finally:
        a.local = b.local = False
    assert sa == sb
    assert np.array_equal(a.group.image, b.group.image)
    for path, arr in a.group.controls.items():
        assert np.array_equal(arr, b.group.controls[path], equal_nan=True), path
    assert fast.pending == general.pending
    assert [e[:3] + e[4:] for e in fast.write_log] == [e[:3] + e[4:] for e in general.write_log]
    fast.pending.clear()
    general.pending.clear()


def test_every_writable_point_accepts_a_value_in_range_on_both_paths_alike() -> None:
    """Every writable numeric point takes the fast path with a value inside its range, and the
    result is the general path's (the property above draws mostly refusals)."""
    fast, general = (
        Gateway(load_site("lab_rack", overrides=PV_GENSET)),
        Gateway(load_site("lab_rack", overrides=PV_GENSET)),
    )
    accepted = writable = 0
    for a in fast.devices:
        b = _dev(general, a.name)
        for p in a.points:
            spec = fast._write_spec(a, p.key)
            if not p.writable or spec is None:
                continue
            writable += 1
            lo, hi = a.group.ranges[p.path]
            mid = 0.5 * (float(lo[a.index]) + float(hi[a.index]))
            v = min(spec.enum) if spec.enum else (mid if math.isfinite(mid) else 1.0)
            sa, sb = fast.write_value(a, p.key, v), general.write_value(b, p.key, np.float64(v))
            assert sa == sb, p.key
            accepted += sa.name == "OK"
    assert accepted == writable >= 40  # lab_rack with PV and gensets: every kind's setpoints
    assert fast.pending == general.pending
    for ga, gb in zip(fast.groups.values(), general.groups.values(), strict=True):
        assert np.array_equal(ga.image, gb.image)
