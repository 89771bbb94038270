"""numpy's NaN-propagating elementwise helpers as scalar functions for the compiled kernels.

``np.maximum``, ``np.minimum`` and ``np.clip`` return NaN when an operand is NaN, where
Python's ``max``/``min`` would not; the kernels (:mod:`twin.models.bms_kernel`,
:mod:`twin.models.pcs_kernel`) use these so that they agree with the numpy path to the bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["clip", "nan_max", "nan_min", "sqrt0"]


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
