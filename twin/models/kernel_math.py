"""numpy's NaN-propagating elementwise helpers as scalar functions for the compiled kernels.

``np.maximum``, ``np.minimum`` and ``np.clip`` return NaN when an operand is NaN, where
Python's ``max``/``min`` would not; the kernels (:mod:`twin.models.bms_kernel`,
:mod:`twin.models.pcs_kernel`) use these so that they agree with the numpy path to the bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

__all__ = ["clip", "nan_max", "nan_min", "np_sum", "sqrt0"]


@njit(cache=True)
def nan_max(a: float, b: float) -> float:
    """``np.maximum(a, b)``: NaN wins."""
    if a != a or b != b:
        return np.nan
    return a if a >= b else b


@njit(cache=True)
def nan_min(a: float, b: float) -> float:
    """``np.minimum(a, b)``: NaN wins."""
    if a != a or b != b:
        return np.nan
    return a if a <= b else b


@njit(cache=True)
def clip(x: float, lo: float, hi: float) -> float:
    """``np.clip(x, lo, hi)`` = ``minimum(maximum(x, lo), hi)``."""
    return nan_min(nan_max(x, lo), hi)


@njit(cache=True)
def sqrt0(x: float) -> float:
    """``np.sqrt(np.maximum(x, 0.0))``."""
    return np.sqrt(nan_max(x, 0.0))


@njit(cache=True)
def _block(a: FloatArray, lo: int, n: int) -> float:
    """numpy's pairwise sum of a block of at most 128 elements."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def np_sum(a: FloatArray) -> float:
    """``float(np.sum(a))`` of a contiguous 1-D float64 array of at most 8,192 elements (one
    buffer of numpy's reduction), to the bit: numpy's pairwise summation, eight accumulators
    per block of up to 128 and halves (rounded down to a multiple of 8) above. The halving is
    walked with an explicit stack: numba's on-disk cache mishandles recursive functions."""
    n = a.shape[0]
    if n <= 128:
        return _block(a, 0, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)
    left = np.empty(64)
    sp = 0
    los[0], ns[0] = 0, n
    r = 0.0
    have = False
    while True:
        if have:
            if sp < 0:
                return r
            if stage[sp] == 1:  # the left half is summed: now the right half
                left[sp] = r
                stage[sp] = 2
                have = False
                m = ns[sp]
                n2 = m // 2
                n2 -= n2 % 8
                sp += 1
                los[sp], ns[sp], stage[sp] = los[sp - 1] + n2, m - n2, 0
            else:  # both halves summed
                r = left[sp] + r
                sp -= 1
            continue
        m = ns[sp]
        if m <= 128:
            r = _block(a, los[sp], m)
            sp -= 1
            have = True
        else:
            stage[sp] = 1
            n2 = m // 2
            n2 -= n2 % 8
            sp += 1
            los[sp], ns[sp], stage[sp] = los[sp - 1], n2, 0
