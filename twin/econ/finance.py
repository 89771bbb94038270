"""Cash flows, NPV, IRR, paybacks, LCOS and replacements, after NREL SAM and REopt (economics.md §1–2).

Conventions: money in the tariff's currency; years count from 1 and flows are **end of year**;
a flow array has index 0 = the investment (``−capex``) and index y = year y. Per-year inputs
(savings, discharge, costs) are arrays of length ``horizon_years`` for years 1..N.

- ``Net_y = Savings_y·(1 + e)^y − O&M_y − Repl_y`` (+ salvage in year N)
- ``NPV = Σ_{y=0..N} Flow_y / (1 + d)^y``
- simple payback (SAM ``libfin::payback``): the first year i with cumulative flow > 0, minus
  ``Cum_i / Net_i``; discounted payback the same on the discounted flows; ``None`` if never
- IRR: the root of NPV (Brent's method); ``None`` without a sign change
- LCOS (SAM ``lcos_calc``): ``[C0 + Σ (O&M_y + Repl_y + Charge_y)/(1+d)^y − Salv/(1+d)^N]
  / Σ E_dis,y/(1+d)^y``
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq

from twin.errors import ParameterError, ParameterIssue

__all__ = [
    "Finance",
    "Lcos",
    "ReplacementPlan",
    "cash_flows",
    "discounted_payback",
    "irr",
    "lcos",
    "linear_fade",
    "npv",
    "replacement_plan",
    "simple_payback",
]


@dataclass(frozen=True)
class Finance:
    """Investment and its terms: ``capex`` at year 0, ``om_per_year`` (each year), discount rate
    (fraction, 0.06 = 6 %), horizon in years, savings escalation (fraction per year, savings of
    year y grow by ``(1 + e)^y``), ``salvage`` (credited in year N) and ``replacement_cost`` per
    replacement event (the years come from :func:`replacement_plan`)."""

    capex: float
    om_per_year: float
    discount_rate: float
    horizon_years: int
    escalation: float = 0.0
    salvage: float = 0.0
    replacement_cost: float = 0.0

    def __post_init__(self) -> None:
        issues: list[ParameterIssue] = []
        for key in ("capex", "om_per_year", "salvage", "replacement_cost"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                issues.append(ParameterIssue(("finance", key), f"must be a number ≥ 0, got {v!r}"))
        for key in ("discount_rate", "escalation"):
            v = getattr(self, key)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > -1):
                issues.append(ParameterIssue(("finance", key), f"must be a number > −1, got {v!r}"))
        h = self.horizon_years
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            issues.append(
                ParameterIssue(("finance", "horizon_years"), f"must be a whole number ≥ 1, got {h!r}")
            )
        if issues:
            raise ParameterError(issues)

    def replacement_by_year(self, plan: ReplacementPlan) -> np.ndarray:
        """Replacement cost per year 1..N of a plan (``replacement_cost`` per event)."""
        return plan.events_by_year[: self.horizon_years] * self.replacement_cost


def _years(name: str, v: Any, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,) or not np.all(np.isfinite(a)):
        raise ParameterError(
            [ParameterIssue((name,), f"expected {n} finite values (years 1..{n}), got {a.shape}")]
        )
    return a


def cash_flows(savings_by_year: Any, finance: Finance, replacement_by_year: Any | None = None) -> np.ndarray:
    """End-of-year flows, length N + 1: index 0 = ``−capex``; year y =
    ``Savings_y·(1 + e)^y − O&M − Repl_y`` (+ salvage in year N)."""
    n = finance.horizon_years
    sav = _years("savings_by_year", savings_by_year, n)
    repl = (
        np.zeros(n) if replacement_by_year is None else _years("replacement_by_year", replacement_by_year, n)
    )
    y = np.arange(1, n + 1)
    net = sav * (1.0 + finance.escalation) ** y - finance.om_per_year - repl
    net[-1] += finance.salvage
    return np.concatenate([[-float(finance.capex)], net])


def npv(flows: Any, rate: float) -> float:
    """``Σ_y Flow_y / (1 + rate)^y`` with index 0 undiscounted."""
    f = np.asarray(flows, dtype=float)
    return float((f / (1.0 + rate) ** np.arange(f.size)).sum())


def irr(flows: Any, *, lo: float = -0.99, hi: float = 10.0) -> float | None:
    """The rate where NPV = 0, searched in ``[lo, hi]`` by Brent's method; ``None`` if NPV does
    not change sign there. With several sign changes of the flows, the root found is one of
    several (conventional flows, one sign change, have exactly one)."""
    f = np.asarray(flows, dtype=float)
    a, b = npv(f, lo), npv(f, hi)
    if a == 0.0:
        return lo
    if a * b > 0.0:
        # scan for a bracket (non-monotone NPV)
        grid = np.linspace(lo, hi, 400)
        vals = np.array([npv(f, r) for r in grid])
        sign = np.flatnonzero(np.sign(vals[:-1]) * np.sign(vals[1:]) < 0)
        if sign.size == 0:
            return None
        lo, hi = float(grid[sign[0]]), float(grid[sign[0] + 1])
    return float(brentq(lambda r: npv(f, r), lo, hi, xtol=1e-12))


def simple_payback(flows: Any) -> float | None:
    """SAM ``libfin::payback``: the first year i ≥ 1 with cumulative flow > 0, payback =
    ``i − Cum_i / Net_i`` (years); ``None`` if the cumulative never turns positive."""
    f = np.asarray(flows, dtype=float)
    cum = np.cumsum(f)
    for i in range(1, f.size):
        if cum[i] > 0.0:
            return float(i - cum[i] / f[i])
    return None


def discounted_payback(flows: Any, rate: float) -> float | None:
    """:func:`simple_payback` on ``Flow_y / (1 + rate)^y``."""
    f = np.asarray(flows, dtype=float)
    return simple_payback(f / (1.0 + rate) ** np.arange(f.size))


@dataclass(frozen=True)
class Lcos:
    """Levelised cost of storage, per kWh discharged (AC), with and without charging cost."""

    per_kwh: float
    per_kwh_without_charging: float


def lcos(
    finance: Finance,
    discharge_kwh_by_year: Any,
    charge_cost_by_year: Any | None = None,
    om_by_year: Any | None = None,
    replacement_by_year: Any | None = None,
) -> Lcos:
    """SAM ``lcos_calc``: ``[C0 + Σ_y (O&M_y + Repl_y + Charge_y)/(1+d)^y − Salv/(1+d)^N] /
    Σ_y E_dis,y/(1+d)^y``; O&M defaults to ``finance.om_per_year`` each year, the others to 0."""
    n = finance.horizon_years
    dis = _years("discharge_kwh_by_year", discharge_kwh_by_year, n)
    charge = (
        np.zeros(n) if charge_cost_by_year is None else _years("charge_cost_by_year", charge_cost_by_year, n)
    )
    om = _years("om_by_year", finance.om_per_year if om_by_year is None else om_by_year, n)
    repl = (
        np.zeros(n) if replacement_by_year is None else _years("replacement_by_year", replacement_by_year, n)
    )
    disc = (1.0 + finance.discount_rate) ** -np.arange(1, n + 1)
    energy = float((dis * disc).sum())
    if energy <= 0:
        raise ParameterError(
            [ParameterIssue(("discharge_kwh_by_year",), "no energy discharged: LCOS undefined")]
        )
    fixed = finance.capex + float(((om + repl) * disc).sum()) - finance.salvage * disc[-1]
    return Lcos((fixed + float((charge * disc).sum())) / energy, fixed / energy)


@dataclass(frozen=True, eq=False)
class ReplacementPlan:
    """Years (1-based, at the year start) when the battery is replaced or augmented back to
    nameplate, the usable fraction (capacity factor) of each year 1..N and the replacement
    events per year (0 or 1)."""

    years: tuple[int, ...]
    capacity_factor: np.ndarray
    events_by_year: np.ndarray


def linear_fade(fade_per_year: float, years: int) -> np.ndarray:
    """Usable fraction by age: ``1 − fade·k`` for a battery in its (k + 1)-th year, floored at 0."""
    return np.clip(1.0 - fade_per_year * np.arange(years), 0.0, None)


def replacement_plan(
    fraction_by_age: Sequence[float] | np.ndarray,
    horizon_years: int,
    *,
    threshold: float | None = None,
    years: Sequence[int] = (),
) -> ReplacementPlan:
    """SAM-style replacement: the battery in its (k + 1)-th year of life has usable fraction
    ``fraction_by_age[k]``. It is replaced (age reset to 0) at the start of each year in
    ``years`` (a schedule), and, with ``threshold``, at the start of any year in which its
    fraction would fall below ``threshold`` (SAM's replacement on capacity). Year 1 is a new
    battery."""
    frac = np.asarray(fraction_by_age, dtype=float)
    issues: list[ParameterIssue] = []
    if frac.ndim != 1 or frac.size == 0 or not np.all(np.isfinite(frac)):
        issues.append(ParameterIssue(("fraction_by_age",), "expected a non-empty list of fractions"))
    if isinstance(horizon_years, bool) or not isinstance(horizon_years, int) or horizon_years < 1:
        issues.append(
            ParameterIssue(("horizon_years",), f"must be a whole number ≥ 1, got {horizon_years!r}")
        )
    if threshold is not None and not 0.0 < threshold <= 1.0:
        issues.append(ParameterIssue(("threshold",), f"must be in (0, 1], got {threshold!r}"))
    if any(not isinstance(y, int) or y < 2 for y in years):
        issues.append(ParameterIssue(("years",), f"replacement years count from 2, got {list(years)!r}"))
    if issues:
        raise ParameterError(issues)

    def at(age: int) -> float:
        return float(frac[min(age, frac.size - 1)])

    cf = np.zeros(horizon_years)
    events = np.zeros(horizon_years)
    done: list[int] = []
    age = 0
    for y in range(1, horizon_years + 1):
        if y > 1 and (y in years or (threshold is not None and at(age) < threshold)):
            age = 0
            done.append(y)
            events[y - 1] = 1.0
        cf[y - 1] = at(age)
        age += 1
    return ReplacementPlan(tuple(done), cf, events)
