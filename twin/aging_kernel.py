"""The aging model's per-tick feed compiled (:meth:`twin.aging.AgingModel.accumulate` with
``kernel="compiled"``, and every tick of a chunk, :mod:`twin.chunk_kernel`): the window sums,
the running half-cycle's sums and the SoC-reversal tracking of every unit, in one loop, with
the same operations in the same order as the numpy path (``tests/unit/twin/test_aging.py``
holds them equal to the bit). The window itself is applied in Python when it closes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

__all__ = ["feed"]


@njit(cache=True)
def feed(
    dt: float,
    soc: FloatArray,
    t_k: FloatArray,
    c_rate: FloatArray,
    hysteresis: float,
    clock: FloatArray,
    undirected: np.ndarray,
    w_soc: FloatArray,
    w_temp: FloatArray,
    h_q: FloatArray,
    h_qc: FloatArray,
    h_qt: FloatArray,
    h_since: FloatArray,
    anchor: FloatArray,
    extreme: FloatArray,
    direction: FloatArray,
    c_q: FloatArray,
    c_qd: FloatArray,
    c_qc: FloatArray,
    c_qt: FloatArray,
) -> None:
    """One tick into the sums (``clock`` = [time booked, window time]; ``undirected[0]``: some
    unit's direction is not known yet). As ``AgingModel.accumulate`` up to the window check."""
    n = soc.shape[0]
    clock[1] += dt
    elapsed = clock[0] + clock[1]
    any_reversed = False
    moves = np.empty(n)
    for i in range(n):
        c = abs(c_rate[i])
        cdt = c * dt
        w_soc[i] += soc[i] * dt
        w_temp[i] += t_k[i] * dt
        h_q[i] += cdt
        h_qc[i] += cdt * c
        h_qt[i] += cdt * t_k[i]
    for i in range(n):  # the reversal test reads the extreme before this tick moved it
        move = (soc[i] - extreme[i]) * direction[i]
        if move > 0.0:
            extreme[i] = soc[i]
        moves[i] = move
    if undirected[0]:
        still = False
        for i in range(n):
            if direction[i] == 0.0:
                delta = soc[i] - anchor[i]
                if abs(delta) > hysteresis:
                    direction[i] = 1.0 if delta > 0 else -1.0
                    extreme[i] = soc[i]
                else:
                    still = True
        undirected[0] = still
    for i in range(n):
        any_reversed = any_reversed or moves[i] < -hysteresis
    if not any_reversed:
        return
    for i in range(n):
        if moves[i] < -hysteresis:  # a half-cycle ends: book it, start the next from the extreme
            depth = abs(extreme[i] - anchor[i])
            c_q[i] += h_q[i]
            c_qd[i] += h_q[i] * depth
            c_qc[i] += h_qc[i]
            c_qt[i] += h_qt[i]
            h_q[i] = 0.0
            h_qc[i] = 0.0
            h_qt[i] = 0.0
            anchor[i] = extreme[i]
            direction[i] = -direction[i]
            extreme[i] = soc[i]
            h_since[i] = elapsed
