"""Piecewise-linear signals: the exact mean over an interval and an exact slew-rate limiter.

A signal is a list of breakpoints ``(t, y)`` joined by straight lines. A slew-rate limiter
maps a piecewise-linear input onto a piecewise-linear output, so both are exact (no
sampling): the GPU fleet's training waveform (:mod:`twin.models.gpu`) is built on them.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Final

import numpy as np

_EPS: Final = 1e-12  # equality tolerance of the slew limiter, in units of s (0..1)


def integrate(t: list[float], y: list[float], t0: float, t1: float) -> float:
    """Exact integral over [t0, t1] of the piecewise-linear signal (t, y); t covers it."""
    i = bisect_right(t, t0) - 1
    j = bisect_left(t, t1)
    ta, tb = t[i], t[i + 1]
    ya, yb = y[i], y[i + 1]
    y0 = ya + (yb - ya) * (t0 - ta) / (tb - ta)
    if j == i + 1:
        y1 = ya + (yb - ya) * (t1 - ta) / (tb - ta)
        return 0.5 * (y0 + y1) * (t1 - t0)
    total = 0.5 * (y0 + yb) * (tb - t0)
    if j - i > 34:
        tt = np.asarray(t[i + 1 : j])
        yy = np.asarray(y[i + 1 : j])
        total += float(np.dot(yy[1:] + yy[:-1], np.diff(tt))) * 0.5
    else:
        for k in range(i + 1, j - 1):
            total += 0.5 * (y[k] + y[k + 1]) * (t[k + 1] - t[k])
    ta, tb = t[j - 1], t[j]
    ya, yb = y[j - 1], y[j]
    y1 = ya + (yb - ya) * (t1 - ta) / (tb - ta)
    return total + 0.5 * (ya + y1) * (t1 - ta)


def slew(
    xt: list[float],
    xv: list[float],
    xf: list[bool],
    k0: int,
    yt: list[float],
    yv: list[float],
    floor: float,
    r_up: float,
    r_dn: float,
) -> None:
    """Append the output of a floor plus slew-rate limiter for input segments from ``k0``.

    The input is piecewise linear, so the output is piecewise linear too and is computed
    exactly: on each input segment the output either follows the input (slope within the
    limits) or moves at a limit until it meets the input.
    """
    y = yv[-1]
    for k in range(k0, len(xt) - 1):
        ta, tb = xt[k], xt[k + 1]
        if tb <= ta:
            continue  # a step in the input: no time passes, the output does not jump
        xa, xb = xv[k], xv[k + 1]
        if xf[k] and (xa < floor or xb < floor):
            if xa <= floor and xb <= floor:
                y = slew_segment(ta, floor, tb, floor, y, yt, yv, r_up, r_dn)
            else:
                tc = ta + (floor - xa) * (tb - ta) / (xb - xa)
                y = slew_segment(ta, max(xa, floor), tc, floor, y, yt, yv, r_up, r_dn)
                y = slew_segment(tc, floor, tb, max(xb, floor), y, yt, yv, r_up, r_dn)
        else:
            y = slew_segment(ta, xa, tb, xb, y, yt, yv, r_up, r_dn)


def slew_segment(
    ta: float,
    xa: float,
    tb: float,
    xb: float,
    y: float,
    yt: list[float],
    yv: list[float],
    r_up: float,
    r_dn: float,
) -> float:
    """Rate-limit one linear input segment starting from output ``y``; returns y(tb)."""
    if tb <= ta:
        return y
    m = (xb - xa) / (tb - ta)
    t = ta
    while True:
        x = xa + m * (t - ta)
        d = y - x
        if -_EPS <= d <= _EPS:
            if -r_dn <= m <= r_up:
                yt.append(tb)
                yv.append(xb)
                return xb
            y = x + (r_up if m > r_up else -r_dn) * (tb - t)
            yt.append(tb)
            yv.append(y)
            return y
        if d < 0.0:  # below the input: rise at r_up until it is met
            close = r_up - m
            rate = r_up
        else:  # above the input: fall at r_dn until it is met
            close = r_dn + m
            rate = -r_dn
        t_meet = t + abs(d) / close if close > 0.0 else math.inf
        if t_meet < tb:
            y = xa + m * (t_meet - ta)
            t = t_meet
            yt.append(t)
            yv.append(y)
            continue
        y = y + rate * (tb - t)
        yt.append(tb)
        yv.append(y)
        return y
