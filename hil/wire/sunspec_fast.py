"""The per-tick encode of the gateway compiled (numba).

:func:`encode_columns` encodes a device kind's whole value matrix, every numeric SunSpec type
at once, straight into the kind's register image, and counts the registers whose words
changed. Per value it does what :func:`hil.wire.sunspec.encode_array` does (apply the binding's
scale and offset, divide by the power of ten, round half to even, clip to the usable range,
wrap to the word width, the not-implemented value for NaN and ±inf; float32 as its IEEE bits;
the 64-bit types clipped in integers) with every per-column constant computed once by
:class:`ColumnCodes`. :func:`encode_scaled` is the one-type form. Hypothesis properties
hold both equal to ``encode_array`` word for word (``tests/unit/hil/test_sunspec_fast.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hil.wire.sunspec import TYPES, encode_array, pow10, usable_range, usable_range_int

__all__ = ["COMPILED_TYPES", "ColumnCodes", "encode_columns", "encode_scaled"]

#: every numeric type (``string`` is text, ``pad`` holds nothing)
COMPILED_TYPES = frozenset(name for name in TYPES if name != "pad")

# how a column is encoded
_INT, _INT64, _UINT64, _FLOAT32 = 0, 1, 2, 3
_TWO63 = 9.223372036854775808e18  # 2**63, exact as a double
_TWO64 = 1.8446744073709551616e19  # 2**64


@dataclass(frozen=True)
class ColumnCodes:
    """The per-column constants of :func:`encode_columns` for ``k`` columns."""

    how: np.ndarray  # (k,) int8: _INT, _INT64, _UINT64, _FLOAT32
    words: np.ndarray  # (k,) int64
    offset: np.ndarray  # (k,) int64: the first register of the column's point
    p10: np.ndarray  # (k,) float64: 10 ** SF (the nearest double)
    scale: np.ndarray  # (k,) float64: the binding's scale ...
    add: np.ndarray  # (k,) float64: ... and offset
    affine: np.ndarray  # (k,) bool: scale != 1 or offset != 0
    lo: np.ndarray  # (k,) float64: the usable range (integer types up to 32 bits)
    hi: np.ndarray
    lo64: np.ndarray  # (k,) int64: the usable range of the 64-bit types, as integers
    hi64: np.ndarray  # (k,) uint64
    ni: np.ndarray  # (k,) uint64: the not-implemented raw value

    @classmethod
    def build(
        cls,
        types: list[str],
        offsets: list[int],
        sfs: list[int],
        scales: list[float] | None = None,
        adds: list[float] | None = None,
    ) -> ColumnCodes:
        k = len(types)
        scale = np.asarray(scales if scales is not None else [1.0] * k, dtype=np.float64)
        add = np.asarray(adds if adds is not None else [0.0] * k, dtype=np.float64)
        how, lo, hi, lo64, hi64, ni, words = [], [], [], [], [], [], []
        for t in types:
            info = TYPES[t]
            if t not in COMPILED_TYPES:
                raise ValueError(f"type {t!r} has no numeric encoding")
            u_lo, u_hi = usable_range(t)
            if t == "float32":
                how.append(_FLOAT32)
            elif info.words == 4:
                how.append(_INT64 if info.signed else _UINT64)
            else:
                how.append(_INT)
            lo.append(u_lo)
            hi.append(u_hi)
            wide = info.words == 4
            lo64.append(usable_range_int(t)[0] if wide else 0)
            hi64.append(usable_range_int(t)[1] if wide else 0)
            ni.append(info.not_implemented)
            words.append(info.words)
        return cls(
            how=np.asarray(how, dtype=np.int8),
            words=np.asarray(words, dtype=np.int64),
            offset=np.asarray(offsets, dtype=np.int64),
            p10=pow10(np.asarray(sfs, dtype=np.int64)).astype(np.float64),
            scale=scale,
            add=add,
            affine=(scale != 1.0) | (add != 0.0),
            lo=np.asarray(lo, dtype=np.float64),
            hi=np.asarray(hi, dtype=np.float64),
            lo64=np.asarray(lo64, dtype=np.int64),
            hi64=np.asarray(hi64, dtype=np.uint64),
            ni=np.asarray(ni, dtype=np.uint64),
        )


@njit(cache=True)
def _encode(
    vals: np.ndarray,
    how: np.ndarray,
    words: np.ndarray,
    offset: np.ndarray,
    p10: np.ndarray,
    scale: np.ndarray,
    add: np.ndarray,
    affine: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    lo64: np.ndarray,
    hi64: np.ndarray,
    ni: np.ndarray,
    image: np.ndarray,
    f32: np.ndarray,
    f32_bits: np.ndarray,
) -> int:
    changed = 0
    n, k = vals.shape
    for i in range(n):
        for j in range(k):
            x = vals[i, j]
            if affine[j]:
                x = x * scale[j] + add[j]
            w = words[j]
            h = how[j]
            raw = np.uint64(0)
            if not np.isfinite(x):
                raw = ni[j]
            elif h == _FLOAT32:
                f32[0] = x
                raw = np.uint64(f32_bits[0])
            elif h == _INT:
                s = np.rint(x / p10[j])
                s = min(max(s, lo[j]), hi[j])
                raw = np.uint64(int(s) % (1 << (16 * w)))
            else:
                s = np.rint(x / p10[j])
                if h == _INT64:
                    if s >= _TWO63:
                        r = np.int64(9223372036854775807)
                    elif s <= -_TWO63:
                        r = lo64[j]
                    else:
                        r = max(np.int64(s), lo64[j])
                    raw = np.uint64(r)  # its two's complement bits
                elif s <= 0.0:  # unsigned: 0 is the bottom of the usable range
                    raw = np.uint64(0)
                elif s >= _TWO64:
                    raw = hi64[j]
                else:
                    raw = min(np.uint64(s), hi64[j])
            base = offset[j]
            for q in range(w):
                word = np.uint16((raw >> np.uint64(16 * (w - 1 - q))) & np.uint64(0xFFFF))
                if image[i, base + q] != word:
                    image[i, base + q] = word
                    changed += 1
    return changed


def encode_columns(values: np.ndarray, codes: ColumnCodes, image: np.ndarray) -> int:
    """Encode ``values`` (``(n, k)`` float64, one column per point instance) into ``image``
    (``(n, registers)`` uint16) at each column's registers; returns the number of registers
    that changed."""
    f32 = np.zeros(1, dtype=np.float32)
    return int(
        _encode(
            values,
            codes.how,
            codes.words,
            codes.offset,
            codes.p10,
            codes.scale,
            codes.add,
            codes.affine,
            codes.lo,
            codes.hi,
            codes.lo64,
            codes.hi64,
            codes.ni,
            image,
            f32,
            f32.view(np.uint32),
        )
    )


def encode_scaled(values: np.ndarray, type_name: str, sf: np.ndarray) -> np.ndarray:
    """``encode_array(values, type_name, sf)`` through the compiled kernel: ``(n, words)``
    uint16."""
    if type_name not in COMPILED_TYPES:
        return encode_array(values, type_name, sf)
    v = np.ascontiguousarray(values, dtype=np.float64).ravel()
    words = TYPES[type_name].words
    sfs = np.broadcast_to(np.asarray(sf, dtype=np.int64), v.shape)
    codes = ColumnCodes.build([type_name] * v.size, [q * words for q in range(v.size)], sfs.tolist())
    image = np.zeros((1, v.size * words), dtype=np.uint16)
    encode_columns(v[None, :], codes, image)
    return image.reshape(v.size, words)
