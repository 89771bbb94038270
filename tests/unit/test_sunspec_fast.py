"""The compiled per-tick encode (hil/sunspec_fast.py) equals ``encode_array`` word for word."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.sunspec import encode_array, pow10
from hil.sunspec_fast import COMPILED_TYPES, encode_scaled

_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(2**33), max_value=2**33).map(float),
    st.sampled_from([0.5, 1.5, 2.5, -0.5, -2.5, 32767.5, 65535.0, 65534.5, -32767.5, 4294967294.5]),
)


@settings(max_examples=400, deadline=None)
@given(
    type_name=st.sampled_from(sorted(COMPILED_TYPES | {"float32", "int64", "uint64", "acc64"})),
    values=st.lists(_VALUES, min_size=1, max_size=40),
    sfs=st.lists(st.integers(min_value=-4, max_value=4), min_size=1, max_size=40),
)
def test_encode_scaled_equals_encode_array(type_name: str, values: list[float], sfs: list[int]) -> None:
    """Every type, values around every rounding tie and range edge, NaN and ±inf, scale
    factors -4..4: the same words (halves round to even in both)."""
    v = np.array(values)
    sf = np.resize(np.array(sfs, dtype=float), v.size)
    with np.errstate(over="ignore"):  # a float32 beyond its range becomes inf in both
        want = encode_array(v, type_name, sf)
        got = encode_scaled(v, type_name, sf, pow10(sf))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_the_compiled_types_are_the_integer_ones_of_up_to_32_bits() -> None:
    assert {"int16", "uint16", "acc32", "enum16", "bitfield32", "sunssf"} <= COMPILED_TYPES
    assert not {"float32", "int64", "uint64", "acc64", "pad", "string"} & COMPILED_TYPES
