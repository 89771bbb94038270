"""The tariff's data model: :class:`Tariff` and its parts, and the demand-tier charge.

Part of :mod:`twin.econ.tariff` (conventions in its docstring); :func:`~twin.econ.tariff.parse_tariff`
builds one from a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BASES",
    "CriticalPeak",
    "DemandWindow",
    "HighUtilisation",
    "Ratchet",
    "Tariff",
    "Tiers",
    "tier_charge",
]

Tiers = tuple[tuple[float, float], ...]
"""Demand tiers: ``((upper_kw, rate_per_kw), ...)``; the last upper bound is ``inf``."""

_Path = tuple[str | int, ...]
_Schedule = tuple[tuple[int, ...], ...]
BASES = ("max_demand", "capacity_kva")


@dataclass(frozen=True)
class CriticalPeak:
    """Critical-peak pricing: in ``windows`` (local hours ``[start, end)``) on the ``days``
    (ISO dates) and in the ``months`` (1–12), the price is ``price`` or base + ``adder``."""

    months: tuple[int, ...] = ()
    days: tuple[str, ...] = ()
    windows: tuple[tuple[float, float], ...] = ()
    adder: float | None = None
    price: float | None = None


@dataclass(frozen=True)
class Ratchet:
    """SAM/REopt lookback: billing demand ≥ ``percent`` % of the peak of the last
    ``lookback_months`` months."""

    percent: float
    lookback_months: int


@dataclass(frozen=True)
class HighUtilisation:
    """NDRC 2023: demand-basis users with ≥ threshold kWh per contracted kVA in a month pay
    ``factor`` × the demand rate."""

    threshold_kwh_per_kva_month: float = 260.0
    factor: float = 0.9


@dataclass(frozen=True, eq=False)
class DemandWindow:
    """One demand charge of one month: the intervals it looks at and its (first-tier) rate."""

    month: str
    name: str
    mask: np.ndarray
    rate_per_kw: float


def tier_charge(kw: float, tiers: Tiers) -> float:
    """Charge of a demand of ``kw`` under cumulative ``tiers``."""
    total, lower = 0.0, 0.0
    for upper, rate in tiers:
        if kw <= lower:
            break
        total += (min(kw, upper) - lower) * rate
        lower = upper
    return total


@dataclass(frozen=True)
class Tariff:
    """A two-part (energy + demand/capacity) tariff. Build it with :func:`parse_tariff` or
    :func:`twin.econ.urdb.tariff_from_urdb`."""

    tariff_id: str
    period_names: tuple[str, ...]
    period_prices: tuple[float, ...]
    weekday_schedule: _Schedule
    weekend_schedule: _Schedule
    label: str = ""
    currency: str = "CNY"
    timezone: str = ""
    source: str = ""
    note: str = ""
    demand_interval_min: int = 15
    critical_peak: CriticalPeak | None = None
    demand_basis: str = "max_demand"
    flat_demand: tuple[Tiers, ...] = ((),) * 12
    demand_period_names: tuple[str, ...] = ()
    demand_period_tiers: tuple[Tiers, ...] = ()
    demand_weekday_schedule: _Schedule | None = None
    demand_weekend_schedule: _Schedule | None = None
    ratchet: Ratchet | None = None
    minimum_demand_kw: float = 0.0
    high_utilisation: HighUtilisation | None = None
    capacity_rate_per_kva_month: float = 0.0
    contract_kva: float | None = None
    fixed_monthly: float = 0.0
    fixed_daily: float = 0.0
    minimum_monthly: float = 0.0
    export_allowed: bool = False
    export_price_per_kwh: float = 0.0
    export_at_energy_price: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # -- time helpers ---------------------------------------------------------------
    @staticmethod
    def _parts(ts: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(month 0–11, hour 0–23, fractional hour, weekend) of each interval start."""
        a = np.asarray(ts).astype("datetime64[s]")
        month = a.astype("datetime64[M]").astype(np.int64) % 12
        day = a.astype("datetime64[D]")
        secs = (a - day).astype(np.int64)
        hour_f = secs / 3600.0
        weekend = (day.astype(np.int64) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        return month, (secs // 3600).astype(np.int64), hour_f, weekend

    def period_index(self, ts: Any) -> np.ndarray:
        """Index into :attr:`period_names` of each interval start."""
        m, h, _, we = self._parts(ts)
        wd, wk = np.asarray(self.weekday_schedule), np.asarray(self.weekend_schedule)
        return np.where(we, wk[m, h], wd[m, h]).astype(np.int64)

    def critical_mask(self, ts: Any) -> np.ndarray:
        """True where critical-peak pricing applies."""
        a = np.asarray(ts).astype("datetime64[s]")
        cp = self.critical_peak
        if cp is None or not cp.windows:
            return np.zeros(a.shape, dtype=bool)
        m, _, hf, _ = self._parts(a)
        on_day = np.isin(m + 1, np.asarray(cp.months, dtype=np.int64))
        if cp.days:
            on_day |= np.isin(a.astype("datetime64[D]"), np.asarray(cp.days, dtype="datetime64[D]"))
        in_win = np.zeros(a.shape, dtype=bool)
        for lo, hi in cp.windows:
            in_win |= (hf >= lo) & (hf < hi)
        return on_day & in_win

    def base_energy_price(self, ts: Any) -> np.ndarray:
        """The TOU price of each interval start, without critical peak."""
        return np.asarray(self.period_prices, dtype=float)[self.period_index(ts)]

    def energy_price(self, ts: Any) -> np.ndarray:
        """Price per kWh of each interval start (TOU, with critical peak where it applies)."""
        base = self.base_energy_price(ts)
        cp = self.critical_peak
        if cp is None:
            return base
        crit = self.critical_mask(ts)
        value = np.full_like(base, cp.price) if cp.price is not None else base + (cp.adder or 0.0)
        return np.where(crit, value, base)

    def export_price(self, ts: Any) -> np.ndarray | None:
        """Credit per exported kWh of each interval start; ``None`` if export is not allowed."""
        if not self.export_allowed:
            return None
        if self.export_at_energy_price:
            return self.energy_price(ts)
        return np.full(np.asarray(ts).shape, self.export_price_per_kwh, dtype=float)

    def demand_period_index(self, ts: Any) -> np.ndarray:
        """Index into :attr:`demand_period_names` (−1: no TOU demand charge)."""
        m, h, _, we = self._parts(ts)
        if self.demand_weekday_schedule is None or self.demand_weekend_schedule is None:
            return np.full(m.shape, -1, dtype=np.int64)
        wd, wk = np.asarray(self.demand_weekday_schedule), np.asarray(self.demand_weekend_schedule)
        return np.where(we, wk[m, h], wd[m, h]).astype(np.int64)

    def demand_windows(self, ts: Any) -> list[DemandWindow]:
        """Every demand charge of every month the timestamps touch (flat first, then TOU)."""
        a = np.asarray(ts).astype("datetime64[s]")
        if self.demand_basis != "max_demand" or a.size == 0:
            return []
        months = a.astype("datetime64[M]")
        dpi = self.demand_period_index(a)
        out: list[DemandWindow] = []
        for mo in np.unique(months):
            in_month = months == mo
            key, mi = str(mo), int(mo.astype(np.int64) % 12)
            tiers = self.flat_demand[mi]
            if tiers:
                out.append(DemandWindow(key, "flat", in_month, tiers[0][1]))
            for k, name in enumerate(self.demand_period_names):
                mask = in_month & (dpi == k)
                if mask.any() and self.demand_period_tiers[k]:
                    out.append(DemandWindow(key, name, mask, self.demand_period_tiers[k][0][1]))
        return out
