"""The PV plant over a chunk's ticks in one compiled call (:mod:`twin.chunk`): the sun's
position, Haurwitz's clear sky, the per-minute clouds and the inverter, each tick as
:meth:`twin.models.pv.Pv.step` computes it. The formulas are not copied: the plain functions
of :mod:`twin.clock` and :mod:`twin.models.pv` are registered with numba here and compiled
from their own source (numba's ``math`` calls the same C library as Python's, so the results
are the same to the bit; ``tests/unit/twin/test_chunk.py`` compares them). What needs the
calendar (the day of the year) and the random clouds is looked up in Python per chunk.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.extending import register_jitable

from twin._interp import FloatArray
from twin.clock import equation_of_time_min, solar_hour
from twin.models import kernel_cache
from twin.models.pv import cloud_blend, cos_zenith, haurwitz_ghi, inverter_ac

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

for _fn in (equation_of_time_min, solar_hour, cos_zenith, haurwitz_ghi, cloud_blend, inverter_ac):
    register_jitable(_fn)  # callable from compiled code, unchanged for Python callers

__all__ = ["series"]


@njit(cache=True)
def series(
    tick0: int,
    dt: float,
    utc0_s: float,
    longitude_deg: float,
    latitude_deg: float,
    day0_first: int,
    doys: np.ndarray,
    minute0: float,
    minute_first: int,
    clouds: FloatArray,
    inv: FloatArray,
    on: bool,
    p_ac: FloatArray,
    ghi_out: FloatArray,
    loss_out: FloatArray,
) -> None:
    """Each tick's mean AC power into ``p_ac``, and the irradiance and the losses
    (``Pv.ghi``, ``Pv.loss``) into the others: irradiance at the tick's midpoint (held)."""
    for i in range(p_ac.shape[0]):
        t = (tick0 + i) * dt + 0.5 * dt
        mean_s = utc0_s + t + longitude_deg * 240.0
        day0 = math.floor(mean_s / 86400.0)
        doy = doys[day0 - day0_first]
        ghi = haurwitz_ghi(cos_zenith(solar_hour(mean_s, day0, doy), latitude_deg, doy))
        m = minute0 + t / 60.0
        m0 = math.floor(m)
        g = ghi * cloud_blend(m - m0, clouds[m0 - minute_first], clouds[m0 + 1 - minute_first])
        ac, dc = inverter_ac(g, inv[0], inv[1], inv[2], inv[3], inv[4], inv[5], inv[6], inv[7], on)
        p_ac[i] = ac
        ghi_out[i] = g
        loss_out[i] = dc - ac
