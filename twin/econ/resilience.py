"""Outage survival hours from a state-of-charge trajectory (REopt outage simulator style).

For an outage starting at each interval start ``t0``, the battery alone (nothing recharges it
from the grid) carries the net critical load ``max(0, critical_t − pv_t)`` step by step until
its energy runs out or the net critical load exceeds the PCS limit (then the outage is lost at
that step: a start where it does carries 0 h). Energy is battery-side above ``soc_min``; each
step draws ``net·dt/η_d``. Results are reported over all starts as min / mean / max and never
folded into bill savings.

Two countings, each stated in its result:

- ``continuous``: the exact time, ``τ(t0) = max τ: ∫_{t0}^{t0+τ} net/η_d ≤ E(t0)``, including the
  fraction of the step in which the energy runs out (with a constant load, ``E·η_d/critical``);
- ``whole_steps``: only whole steps carried count (τ floored to the step: ``k·dt``).

The outage walks past the end of the data by wrapping to its start (as REopt's simulator wraps
the year) and is capped at the data length ``n·dt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import ParameterError, ParameterIssue

__all__ = ["OutageHours", "ResilienceResult", "resilience_hours"]


@dataclass(frozen=True, eq=False)
class OutageHours:
    """Hours carried for an outage starting at each interval start, under one ``counting``
    (``"continuous"`` or ``"whole_steps"``)."""

    counting: str
    hours: np.ndarray

    @property
    def min(self) -> float:
        return float(self.hours.min()) if self.hours.size else 0.0

    @property
    def mean(self) -> float:
        return float(self.hours.mean()) if self.hours.size else 0.0

    @property
    def max(self) -> float:
        return float(self.hours.max()) if self.hours.size else 0.0


@dataclass(frozen=True, eq=False)
class ResilienceResult:
    """Both countings of the same outages."""

    continuous: OutageHours
    whole_steps: OutageHours
    dt_h: float


def resilience_hours(
    energy_kwh: Any,
    critical_kw: Any,
    *,
    power_kw: float,
    eta_discharge: float,
    dt_h: float,
    pv_kw: Any | None = None,
) -> ResilienceResult:
    """Survival hours of the critical load ``critical_kw`` (kW, scalar or per step) for outages
    starting at each step, from ``energy_kwh`` = battery-side energy above ``soc_min`` at each
    step start (length n: from a :class:`DispatchResult`, pass ``available_kwh[:-1]``).
    ``pv_kw`` (per step) lowers the critical load the battery must carry."""
    e = np.asarray(energy_kwh, dtype=float).ravel()
    crit = np.asarray(critical_kw, dtype=float)
    n = e.size
    issues: list[ParameterIssue] = []
    if crit.ndim == 0:
        crit = np.full(n, float(crit))
    if crit.shape != (n,):
        issues.append(ParameterIssue(("critical_kw",), f"expected {n} values, got {crit.shape}"))
    pv = np.zeros(n) if pv_kw is None else np.asarray(pv_kw, dtype=float)
    if pv.shape != (n,):
        issues.append(ParameterIssue(("pv_kw",), f"expected {n} values, got {pv.shape}"))
    if not dt_h > 0:
        issues.append(ParameterIssue(("dt_h",), f"must be > 0, got {dt_h!r}"))
    if not 0 < eta_discharge <= 1:
        issues.append(ParameterIssue(("eta_discharge",), f"must be in (0, 1], got {eta_discharge!r}"))
    if not power_kw >= 0:
        issues.append(ParameterIssue(("power_kw",), f"must be ≥ 0, got {power_kw!r}"))
    if issues:
        raise ParameterError(issues)
    if n == 0:
        empty = np.zeros(0)
        return ResilienceResult(
            OutageHours("continuous", empty), OutageHours("whole_steps", empty), float(dt_h)
        )

    net = np.clip(crit - pv, 0.0, None)
    need = np.tile(net * dt_h / eta_discharge, 2)  # battery-side kWh per step, wrapped once
    cum = np.concatenate([[0.0], np.cumsum(need)])
    bad = np.tile(net > power_kw + 1e-9, 2)
    # first step ≥ i (in the wrapped series) where the PCS cannot carry the load; 2n if none
    idx = np.where(bad, np.arange(2 * n), 2 * n)
    first_bad = np.minimum.accumulate(idx[::-1])[::-1]

    start = np.arange(n)
    avail = np.clip(e, 0.0, None)
    target = cum[start] + avail * (1.0 + 1e-12) + 1e-9
    j = np.searchsorted(cum, target, side="right") - 1  # last boundary reachable with the energy
    j = np.minimum(j, start + n)
    stop = np.minimum(j, first_bad[start])
    whole = (stop - start).astype(float)
    frac = np.zeros(n)
    running_out = (stop == j) & (j < start + n) & (j < first_bad[start])
    k = j[running_out]
    left = avail[running_out] - (cum[k] - cum[start[running_out]])
    with np.errstate(divide="ignore", invalid="ignore"):
        frac[running_out] = np.clip(np.where(need[k] > 0, left / need[k], 0.0), 0.0, 1.0)
    return ResilienceResult(
        OutageHours("continuous", (whole + frac) * dt_h),
        OutageHours("whole_steps", whole * dt_h),
        float(dt_h),
    )
