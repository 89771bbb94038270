"""A monthly bill from an import power series under a :class:`~twin.econ.tariff.Tariff`.

Energy is integrated from the samples as given (each sample holds for ``interval_s`` from its
start); demand is the monthly maximum of the ``interval_min`` (15-min) average import, each
15-min window being the import energy that starts in it divided by 15 min. Negative import is
export: it never lowers the import energy or the demand, and is credited only where the
tariff allows export (otherwise it is reported, uncredited). An interval belongs to the month
of its start. Monthly fixed, capacity and minimum charges of a month the data covers only in
part are prorated by the share of the month covered; demand charges are not (a peak is a
peak). Line-item kinds: ``energy``, ``critical_peak``, ``demand``, ``capacity``, ``fixed``,
``minimum``, ``export``.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import ParameterError, ParameterIssue

from .tariff import Tariff, tier_charge

__all__ = ["GROUPS", "KINDS", "Bill", "LineItem", "MonthBill", "compute_bill"]

KINDS = ("energy", "critical_peak", "demand", "capacity", "fixed", "minimum", "export")

#: How line-item kinds roll up into the summary figures of ``bill.json`` (REopt's split):
#: ``export_credit`` is positive (a credit), the others are charges.
GROUPS: dict[str, tuple[str, ...]] = {
    "energy_cost": ("energy", "critical_peak"),
    "demand_cost": ("demand", "capacity"),
    "fixed_cost": ("fixed", "minimum"),
}


def _grouped(by_kind: Mapping[str, float]) -> dict[str, float]:
    out = {g: float(sum(by_kind[k] for k in kinds)) for g, kinds in GROUPS.items()}
    out["export_credit"] = 0.0 - float(by_kind["export"]) + 0.0
    return out


@dataclass(frozen=True)
class LineItem:
    """One charge (or, for ``export``, a negative credit)."""

    month: str
    kind: str
    name: str
    quantity: float
    unit: str
    rate: float | None
    amount: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "quantity": self.quantity,
            "unit": self.unit,
            "rate": self.rate,
            "amount": self.amount,
        }


@dataclass(frozen=True)
class MonthBill:
    month: str
    coverage: float
    import_kwh: float
    export_kwh: float
    export_credited: bool
    peak_kw: float
    billing_demand_kw: float
    kwh_by_period: Mapping[str, float]
    items: tuple[LineItem, ...]

    @property
    def partial(self) -> bool:
        return self.coverage < 1.0 - 1e-9

    def by_kind(self) -> dict[str, float]:
        out = dict.fromkeys(KINDS, 0.0)
        for it in self.items:
            out[it.kind] += it.amount
        return out

    @property
    def total(self) -> float:
        return float(sum(it.amount for it in self.items))

    def to_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "energy_kwh": self.import_kwh,
            **_grouped(self.by_kind()),
            "peak_kw": self.billing_demand_kw,
            "measured_peak_kw": self.peak_kw,
            "partial": self.partial,
            "coverage": self.coverage,
            "import_kwh": self.import_kwh,
            "export_kwh": self.export_kwh,
            "export_credited": self.export_credited,
            "billing_demand_kw": self.billing_demand_kw,
            "kwh_by_period": dict(self.kwh_by_period),
            "energy_cost_by_period": {it.name: it.amount for it in self.items if it.kind == "energy"},
            "items": [it.to_dict() for it in self.items],
            "totals": self.by_kind(),
            "total": self.total,
        }


@dataclass(frozen=True)
class Bill:
    tariff_id: str
    currency: str
    months: tuple[MonthBill, ...]

    @property
    def items(self) -> tuple[LineItem, ...]:
        return tuple(it for m in self.months for it in m.items)

    def by_kind(self) -> dict[str, float]:
        out = dict.fromkeys(KINDS, 0.0)
        for m in self.months:
            for k, v in m.by_kind().items():
                out[k] += v
        return out

    @property
    def total(self) -> float:
        return float(sum(m.total for m in self.months))

    @property
    def import_kwh(self) -> float:
        return float(sum(m.import_kwh for m in self.months))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (``json.dumps`` works on it as is)."""
        return {
            "tariff_id": self.tariff_id,
            "currency": self.currency,
            "total": self.total,
            **_grouped(self.by_kind()),
            "energy_kwh": self.import_kwh,
            "export_kwh": float(sum(m.export_kwh for m in self.months)),
            "months": [m.to_dict() for m in self.months],
            "totals": self.by_kind(),
            "import_kwh": self.import_kwh,
            "average_price_per_kwh": self.total / self.import_kwh if self.import_kwh > 0 else None,
        }


def _check(ts: np.ndarray, p: np.ndarray, interval_s: float) -> None:
    issues: list[ParameterIssue] = []
    if ts.ndim != 1 or p.shape != ts.shape:
        issues.append(ParameterIssue(("p_import_kw",), f"shape {p.shape} does not match ts {ts.shape}"))
    elif ts.size and not np.all(np.isfinite(p)):
        bad = int(np.flatnonzero(~np.isfinite(p))[0])
        issues.append(ParameterIssue(("p_import_kw", bad), f"not a number at {ts[bad]}"))
    if not interval_s > 0:
        issues.append(ParameterIssue(("interval_s",), f"must be > 0, got {interval_s!r}"))
    if ts.ndim == 1 and ts.size > 1 and not np.all(np.diff(ts.astype(np.int64)) > 0):
        issues.append(ParameterIssue(("ts",), "timestamps must be strictly increasing interval starts"))
    if issues:
        raise ParameterError(issues)


def compute_bill(  # noqa: C901 - over 15 branches before the gate; to split
    tariff: Tariff,
    ts: Any,
    p_import_kw: Any,
    interval_s: float,
    *,
    prior_peaks_kw: Mapping[str, float] | None = None,
) -> Bill:
    """The bill of ``p_import_kw`` (kW, + import, − export) sampled at interval starts ``ts``
    (naive local ``datetime64``), each held for ``interval_s`` seconds.

    ``prior_peaks_kw`` (``{"2026-05": kW}``) feeds a demand ratchet with months before the data.
    """
    t = np.asarray(ts).astype("datetime64[ms]")
    p = np.asarray(p_import_kw, dtype=float)
    _check(t, p, float(interval_s))
    dsec = tariff.demand_interval_min * 60
    if interval_s > dsec:  # split long samples into demand intervals
        if interval_s % dsec:
            raise ParameterError(
                [
                    ParameterIssue(
                        ("interval_s",), f"{interval_s:g} s is longer than and not a multiple of {dsec} s"
                    )
                ]
            )
        n = int(interval_s // dsec)
        t = (t[:, None] + np.arange(n, dtype=np.int64)[None, :] * np.timedelta64(dsec * 1000, "ms")).ravel()
        p = np.repeat(p, n)
        interval_s = float(dsec)
    h = float(interval_s) / 3600.0
    imp_kwh = np.clip(p, 0.0, None) * h
    exp_kwh = np.clip(-p, 0.0, None) * h

    pidx = tariff.period_index(t)
    base = tariff.base_energy_price(t)
    cpp_extra = tariff.energy_price(t) - base
    crit = tariff.critical_mask(t)
    xprice = tariff.export_price(t)

    # 15-min demand: import energy starting in each window / window length
    ms = t.astype(np.int64)
    bucket, inv = np.unique(ms - ms % (dsec * 1000), return_inverse=True)
    demand_kw = np.bincount(inv, weights=imp_kwh, minlength=bucket.size) / (dsec / 3600.0)
    bucket_ts = bucket.astype("datetime64[ms]")
    windows = tariff.demand_windows(bucket_ts)

    months = t.astype("datetime64[M]")
    peaks: dict[int, float] = {}
    for mkey, v in (prior_peaks_kw or {}).items():
        peaks[int(np.datetime64(mkey, "M").astype(np.int64))] = float(v)
    out: list[MonthBill] = []
    for mo in np.unique(months):
        key = str(mo)
        mi = int(mo.astype(np.int64))
        year, month = 1970 + mi // 12, mi % 12 + 1
        ndays = calendar.monthrange(year, month)[1]
        sel = months == mo
        coverage = min(1.0, float(sel.sum()) * interval_s / (ndays * 86400.0))
        items: list[LineItem] = []
        kwh_by_period: dict[str, float] = {}
        for k, name in enumerate(tariff.period_names):
            m = sel & (pidx == k)
            kwh = float(imp_kwh[m].sum())
            kwh_by_period[name] = kwh
            if m.any():
                rate = tariff.period_prices[k]
                items.append(
                    LineItem(key, "energy", name, kwh, "kWh", rate, float((imp_kwh[m] * base[m]).sum()))
                )
        if crit[sel].any():
            m = sel & crit
            items.append(
                LineItem(
                    key,
                    "critical_peak",
                    "critical peak",
                    float(imp_kwh[m].sum()),
                    "kWh",
                    None,
                    float((imp_kwh[m] * cpp_extra[m]).sum()),
                )
            )
        month_kwh = float(imp_kwh[sel].sum())
        in_month = bucket_ts.astype("datetime64[M]") == mo
        peak = float(demand_kw[in_month].max()) if in_month.any() else 0.0
        peaks[mi] = peak
        billing = peak
        for w in windows:
            if w.month != key:
                continue
            wpeak = float(demand_kw[w.mask].max()) if w.mask.any() else 0.0
            if w.name == "flat":
                tiers = tariff.flat_demand[mi % 12]
                floor = tariff.minimum_demand_kw
                r = tariff.ratchet
                if r is not None:
                    back = [peaks[mi - j] for j in range(1, r.lookback_months + 1) if (mi - j) in peaks]
                    floor = max(floor, r.percent / 100.0 * max(back, default=0.0))
                billing = max(wpeak, floor)
                amount = tier_charge(billing, tiers)
                hu = tariff.high_utilisation
                if (
                    hu is not None
                    and tariff.contract_kva
                    and month_kwh / tariff.contract_kva >= hu.threshold_kwh_per_kva_month
                ):
                    amount *= hu.factor
                items.append(
                    LineItem(
                        key,
                        "demand",
                        "flat",
                        billing,
                        "kW",
                        amount / billing if billing else w.rate_per_kw,
                        amount,
                    )
                )
            else:
                k = tariff.demand_period_names.index(w.name)
                amount = tier_charge(wpeak, tariff.demand_period_tiers[k])
                items.append(LineItem(key, "demand", w.name, wpeak, "kW", w.rate_per_kw, amount))
        if tariff.demand_basis == "capacity_kva" and tariff.contract_kva:
            kva = tariff.contract_kva
            rate = tariff.capacity_rate_per_kva_month
            items.append(
                LineItem(key, "capacity", "contract capacity", kva, "kVA", rate, kva * rate * coverage)
            )
        if tariff.fixed_monthly or tariff.fixed_daily:
            amount = tariff.fixed_monthly * coverage + tariff.fixed_daily * coverage * ndays
            items.append(LineItem(key, "fixed", "fixed charge", coverage, "month", None, amount))
        xkwh = float(exp_kwh[sel].sum())
        if xprice is not None and xkwh > 0:
            credit = float((exp_kwh[sel] * xprice[sel]).sum())
            items.append(LineItem(key, "export", "export credit", xkwh, "kWh", credit / xkwh, -credit))
        minimum = tariff.minimum_monthly * coverage
        subtotal = sum(it.amount for it in items)
        if minimum > subtotal:
            items.append(
                LineItem(key, "minimum", "minimum charge top-up", coverage, "month", None, minimum - subtotal)
            )
        out.append(
            MonthBill(
                key, coverage, month_kwh, xkwh, xprice is not None, peak, billing, kwh_by_period, tuple(items)
            )
        )
    return Bill(tariff.tariff_id, tariff.currency, tuple(out))
