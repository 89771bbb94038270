"""The compiled per-tick encode (hil/wire/sunspec_fast.py) equals ``encode_array`` word for word:
one type at a time (:func:`encode_scaled`) and a kind's mixed columns with their scales and
offsets, written into a register image whose changed registers are counted
(:func:`encode_columns`)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.wire.sunspec import TYPES, encode_array
from hil.wire.sunspec_fast import COMPILED_TYPES, ColumnCodes, encode_columns, encode_scaled

_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(2**33), max_value=2**33).map(float),
    st.sampled_from([0.5, 1.5, 2.5, -0.5, -2.5, 32767.5, 65535.0, 65534.5, -32767.5, 4294967294.5, -0.0]),
    st.sampled_from([2.0**63, -(2.0**63), 2.0**64, 2.0**63 - 1024.0, 3.4e38, 3.5e38, 1e300, -1e300]),
)


@settings(max_examples=400, deadline=None)
@given(
    type_name=st.sampled_from(sorted(COMPILED_TYPES)),
    values=st.lists(_VALUES, min_size=1, max_size=40),
    sfs=st.lists(st.integers(min_value=-10, max_value=10), min_size=1, max_size=40),
)
def test_encode_scaled_equals_encode_array(type_name: str, values: list[float], sfs: list[int]) -> None:
    """Every type, values around every rounding tie and range edge (the 64-bit types' at
    2**63 and 2**64, float32's at 3.4e38), NaN and ±inf, scale factors -10..10: the same
    words (halves round to even in both)."""
    v = np.array(values)
    sf = np.resize(np.array(sfs, dtype=float), v.size)
    with np.errstate(over="ignore"):  # a float32 beyond its range becomes inf in both
        want = encode_array(v, type_name, sf)
        got = encode_scaled(v, type_name, sf)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=4),
    columns=st.lists(
        st.tuples(
            st.sampled_from(sorted(COMPILED_TYPES)),
            st.integers(min_value=-6, max_value=6),
            st.sampled_from([1.0, 1000.0, 0.001, -1.0, 100.0, 3.0]),
            st.sampled_from([0.0, 0.0, 273.15, -40.0]),
        ),
        min_size=1,
        max_size=12,
    ),
    data=st.data(),
)
def test_encode_columns_equals_encode_array_per_column(
    n: int, columns: list[tuple[str, int, float, float]], data: st.DataObject
) -> None:
    """A kind's columns of mixed types, each with its SF, scale and offset, packed one after
    another in a register image: each column's words are ``encode_array`` of
    ``value * scale + offset`` (numpy's arithmetic), and the count is the words changed."""
    k = len(columns)
    raw = np.array(data.draw(st.lists(_VALUES, min_size=n * k, max_size=n * k))).reshape(n, k)
    offsets, at = [], 2
    for t, *_ in columns:
        offsets.append(at)
        at += TYPES[t].words
    codes = ColumnCodes.build(
        [c[0] for c in columns],
        offsets,
        [c[1] for c in columns],
        [c[2] for c in columns],
        [c[3] for c in columns],
    )
    before = np.asarray(
        data.draw(st.lists(st.integers(0, 0xFFFF), min_size=n * (at + 2), max_size=n * (at + 2)))
    )
    image = before.astype(np.uint16).reshape(n, at + 2)
    start = image.copy()
    changed = encode_columns(raw, codes, image)
    for j, (t, sf, scale, add) in enumerate(columns):
        with np.errstate(over="ignore", invalid="ignore"):  # past the double range: inf in both
            v = raw[:, j] * scale + add if (scale != 1.0 or add != 0.0) else raw[:, j]
            want = encode_array(v, t, np.full(n, float(sf)))
        np.testing.assert_array_equal(image[:, offsets[j] : offsets[j] + TYPES[t].words], want, err_msg=t)
    untouched = np.ones(at + 2, dtype=bool)
    for j, (t, *_) in enumerate(columns):
        untouched[offsets[j] : offsets[j] + TYPES[t].words] = False
    np.testing.assert_array_equal(image[:, untouched], start[:, untouched])
    assert changed == int((image != start).sum())


def test_the_compiled_types_are_every_numeric_type() -> None:
    assert set(TYPES) - COMPILED_TYPES == {"pad"}
