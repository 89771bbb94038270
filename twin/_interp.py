"""Small, fast linear interpolators with linear extrapolation.

PyBaMM's (casadi's) linear interpolants extrapolate linearly outside their grid; ``np.interp``
clamps, and ``RegularGridInterpolator`` costs tens of µs per call, which matters when a
lookup runs every tick. These evaluate rectilinear grids with a handful of numpy ops and
reproduce the table values exactly at the nodes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["Grid1D", "GridND"]


def _locate(axis: FloatArray, x: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Segment index and fractional position of ``x`` on ``axis`` (unclipped fraction,
    so points outside the grid extrapolate along the end segment)."""
    idx = np.clip(np.searchsorted(axis, x, side="right") - 1, 0, axis.size - 2)
    lo = axis[idx]
    w = (x - lo) / (axis[idx + 1] - lo)
    return idx, w


class Grid1D:
    """y(x) on a strictly increasing axis."""

    def __init__(self, x: FloatArray, y: FloatArray) -> None:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        keep = np.concatenate(([True], np.diff(x) > 0))
        self.x = np.ascontiguousarray(x[keep])
        self.y = np.ascontiguousarray(y[keep])
        if self.x.size < 2:
            raise ValueError("a 1-D table needs at least two distinct points")
        self.slope = np.diff(self.y) / np.diff(self.x)

    def __call__(self, x: FloatArray | float) -> FloatArray:
        xa = np.asarray(x, dtype=float)
        idx, w = _locate(self.x, xa)
        return np.asarray(self.y[idx] + w * (self.y[idx + 1] - self.y[idx]))

    def derivative(self, x: FloatArray | float) -> FloatArray:
        """Slope of the segment that ``x`` falls in."""
        idx, _ = _locate(self.x, np.asarray(x, dtype=float))
        return np.asarray(self.slope[idx])


class GridND:
    """Multilinear interpolation of one or more stacked tables on a rectilinear grid.

    ``values`` has shape ``(*axis_sizes, n_outputs)``; a call returns ``(*x.shape,
    n_outputs)``, so several tables sharing a grid (R0, R1, C1) cost one lookup.
    """

    def __init__(self, axes: tuple[FloatArray, ...], values: FloatArray) -> None:
        self.axes = tuple(np.ascontiguousarray(a, dtype=float) for a in axes)
        for a in self.axes:
            if a.size < 2 or np.any(np.diff(a) <= 0):
                raise ValueError("each table axis needs two or more increasing points")
        self.values = np.ascontiguousarray(values, dtype=float)
        shape = tuple(a.size for a in self.axes)
        if self.values.shape[: len(shape)] != shape:
            raise ValueError(f"table of shape {self.values.shape} does not fit axes {shape}")
        if self.values.ndim == len(shape):
            self.values = self.values[..., None]
        self.n_out = self.values.shape[-1]
        self._flat = self.values.reshape(-1, self.n_out)
        self._strides = np.array([int(np.prod(shape[i + 1 :])) for i in range(len(shape))], dtype=np.intp)
        ndim = len(shape)
        self._bits = np.array([[(c >> d) & 1 for d in range(ndim)] for c in range(1 << ndim)], dtype=np.intp)
        self._dims = np.arange(ndim)
        self._offsets = (self._bits * self._strides).sum(axis=1)

    def __call__(self, *coords: FloatArray | float) -> FloatArray:
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        shape = arrays[0].shape
        ndim = len(self.axes)
        base = np.zeros(shape, dtype=np.intp)
        pairs = np.empty((*shape, ndim, 2))
        for d, (axis, x) in enumerate(zip(self.axes, arrays, strict=True)):
            idx, w = _locate(axis, x)
            base += idx * self._strides[d]
            pairs[..., d, 0] = 1.0 - w
            pairs[..., d, 1] = w
        # weight of each of the 2**ndim corners: product over axes of (1-w) or w
        corner_w = pairs[..., self._dims, self._bits].prod(axis=-1)
        vals = self._flat[base[..., None] + self._offsets]
        return np.einsum("...c,...co->...o", corner_w, vals)


def table_from_columns(columns: FloatArray, n_axes: int) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Turn a long-format table (one row per grid point, the first ``n_axes`` columns the
    coordinates) into axes and a dense value array, checking the grid is full."""
    axes = tuple(np.unique(columns[:, i]) for i in range(n_axes))
    shape = tuple(a.size for a in axes)
    if int(np.prod(shape)) != columns.shape[0]:
        raise ValueError(f"table is not a full grid: {columns.shape[0]} rows for axes of sizes {shape}")
    index = tuple(np.searchsorted(a, columns[:, i]) for i, a in enumerate(axes))
    values = np.full((*shape, columns.shape[1] - n_axes), np.nan)
    values[index] = columns[:, n_axes:]
    if np.isnan(values).any():
        raise ValueError("table has missing grid points")
    return axes, values
