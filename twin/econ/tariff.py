"""Electricity tariffs: TOU energy prices, critical peak, demand and capacity charges.

Conventions (docs/tariffs.md, economics.md): timestamps are interval *starts* in naive local
time (numpy ``datetime64``); period tables are month-indexed 12×24 hour tables for weekday and
weekend (Saturday, Sunday) day types; money is per kWh, per kW·month or per kVA·month in the
tariff's currency. A :class:`Tariff` is built from a dict by :func:`parse_tariff`, which
reports every problem with its key path (:class:`twin.errors.ParameterError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from twin.errors import ParameterError, ParameterIssue
from twin.params import did_you_mean

from .tariff_model import (
    BASES,
    CriticalPeak,
    DemandWindow,
    HighUtilisation,
    Ratchet,
    Tariff,
    Tiers,
    _Path,
    _Schedule,
    tier_charge,
)

__all__ = [
    "CriticalPeak",
    "DemandWindow",
    "HighUtilisation",
    "Ratchet",
    "Tariff",
    "Tiers",
    "parse_tariff",
    "tier_charge",
]


# -- parsing ----------------------------------------------------------------------------

#: Every key of a tariff file by section: ``{key: (unit, meaning)}``. The parser accepts exactly
#: these keys and docs/tariff-schema.md is generated from them (``hil schema tariff``).
TARIFF_KEYS: dict[str, dict[str, tuple[str, str]]] = {
    "": {
        "tariff_id": ("–", "required; the name `hil bill --tariff` shows"),
        "label": ("text", "one line for people; say ILLUSTRATIVE where it is"),
        "currency": ("text", "ISO code, e.g. CNY (default)"),
        "timezone": (
            "text",
            "IANA zone of the tariff's clock (load files with UTC offsets are converted to it)",
        ),
        "interval_min": ("min", "demand averaging interval (default 15; divides 60)"),
        "source": ("text", "provenance"),
        "sources": ("mapping", "provenance, per item"),
        "note": ("text", "free text"),
        "energy": ("section", "TOU energy prices"),
        "demand": ("section", "demand (basic) charges"),
        "capacity": ("section", "the capacity (kVA) basis"),
        "fixed_monthly": ("/month", "fixed charge"),
        "fixed_daily": ("/day", "fixed charge"),
        "minimum_monthly": ("/month", "the month's bill is topped up to this"),
        "export": ("section", "export credit (default: not allowed)"),
        "demand_response": ("mapping", "documentation only: DR revenue is reported apart from the bill"),
        "variants": ("mapping", "documentation only: related tariffs"),
    },
    "energy": {
        "prices": ("/kWh", "`{period: price}`"),
        "flat_price": ("/kWh", "with `ratios`: each period's price is `flat_price × ratio`"),
        "ratios": ("ratio", "`{period: ratio}`; `critical` is the critical-peak price as a ratio"),
        "periods": ("h", "`{period: [[start_hour, end_hour], ...]}`, whole hours, every hour once"),
        "weekend_periods": ("h", "the same for Saturday and Sunday (default: `periods`)"),
        "seasons": (
            "list",
            "`[{months: [1..12], periods:, weekend_periods:}]`; months not listed use `periods`",
        ),
        "critical_peak": ("section", "critical-peak days and windows"),
    },
    "energy.seasons[]": {
        "months": ("1–12", "the months this period table applies to"),
        "periods": ("h", "weekday periods in those months"),
        "weekend_periods": ("h", "weekend periods in those months (default: its `periods`)"),
    },
    "energy.critical_peak": {
        "enabled": ("true/false", "off by default"),
        "months": ("1–12", "months with critical peak"),
        "days": ("ISO dates", "or these days only"),
        "windows": ("h", "`[[start_hour, end_hour], ...]`"),
        "adder": ("/kWh", "on top of the period price"),
        "price": ("/kWh", "or the critical-peak price itself"),
    },
    "demand": {
        "basis": ("–", "`max_demand` (default) or `capacity_kva`"),
        "rate_per_kw_month": ("/kW·month", "on the monthly maximum 15-min import"),
        "tiers": ("list", "`[{max_kw, rate}, ..., {rate}]` instead of one rate"),
        "months": ("1–12", "the months the flat demand charge applies (default all)"),
        "tou_rates": ("/kW·month", "`{period: rate}` on the monthly peak inside that energy period"),
        "measure": ("text", "documentation only"),
        "minimum_kw": ("kW", "billing demand floor"),
        "high_utilisation_factor": ("section", "NDRC 2023: the 90 % factor at ≥ 260 kWh/kVA·month"),
        "ratchet": ("section", "SAM/REopt lookback ratchet"),
    },
    "demand.high_utilisation_factor": {
        "threshold_kwh_per_kva_month": ("kWh/kVA·month", "260 in NDRC 2023; needs `capacity.contract_kva`"),
        "factor": ("ratio", "0.9"),
        "enabled": ("true/false", "off by default"),
    },
    "demand.ratchet": {
        "enabled": ("true/false", "off by default"),
        "percent": ("%", "0–100 of the lookback months' highest peak"),
        "lookback_months": ("months", "how many months back"),
    },
    "capacity": {
        "rate_per_kva_month": ("/kVA·month", "the capacity basis: independent of dispatch"),
        "contract_kva": ("kVA", "contracted transformer capacity"),
    },
    "export": {
        "allowed": ("true/false", "default false (user-side PV/BESS usually zero-export)"),
        "price": ("/kWh", "credit per exported kWh"),
        "at_energy_price": ("true/false", "credit at the period's energy price (net metering)"),
    },
}
_TOP = set(TARIFF_KEYS[""])
_ENERGY = set(TARIFF_KEYS["energy"])
_SEASON = set(TARIFF_KEYS["energy.seasons[]"])
_CRIT = set(TARIFF_KEYS["energy.critical_peak"])
_DEMAND = set(TARIFF_KEYS["demand"])
_HUF = set(TARIFF_KEYS["demand.high_utilisation_factor"])
_RATCHET = set(TARIFF_KEYS["demand.ratchet"])
_CAPACITY = set(TARIFF_KEYS["capacity"])
_EXPORT = set(TARIFF_KEYS["export"])


class _P:
    """Collects issues while reading a dict."""

    def __init__(self) -> None:
        self.issues: list[ParameterIssue] = []

    def bad(self, path: _Path, msg: str) -> None:
        self.issues.append(ParameterIssue(path, msg))

    def mapping(self, data: Any, path: _Path, allowed: set[str]) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            self.bad(path, f"expected a mapping, got {type(data).__name__}")
            return {}
        for k in data:
            if str(k) not in allowed:
                tail = did_you_mean(
                    str(k), sorted(allowed), otherwise=f" (known: {', '.join(sorted(allowed))})"
                )
                self.bad((*path, str(k)), f"unknown key {str(k)!r}{tail}")
        return {str(k): v for k, v in data.items()}

    def num(
        self, d: Mapping[str, Any], key: str, path: _Path, default: float | None, *, lo: float = 0.0
    ) -> Any:
        v = d.get(key, default)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.bad((*path, key), f"expected a number, got {v!r}")
            return default
        if v < lo:
            self.bad((*path, key), f"must be ≥ {lo:g}, got {v:g}")
        return float(v)

    def flag(self, d: Mapping[str, Any], key: str, path: _Path, default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            self.bad((*path, key), f"expected true or false, got {v!r}")
            return default
        return v

    def months(self, v: Any, path: _Path) -> tuple[int, ...]:
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(m, int) and 1 <= m <= 12 for m in v):
            self.bad(path, f"expected a list of months 1–12, got {v!r}")
            return ()
        return tuple(sorted(set(v)))

    def windows(self, v: Any, path: _Path) -> list[tuple[float, float]]:
        """``[[start, end], ...]`` local hours, 0 ≤ start < end ≤ 24."""
        out: list[tuple[float, float]] = []
        if not isinstance(v, list):
            self.bad(path, f"expected a list of [start_hour, end_hour] pairs, got {v!r}")
            return out
        for i, w in enumerate(v):
            ok = (
                isinstance(w, list)
                and len(w) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in w)
            )
            if not ok or not 0 <= w[0] < w[1] <= 24:
                self.bad((*path, i), f"expected [start_hour, end_hour] with 0 ≤ start < end ≤ 24, got {w!r}")
                continue
            out.append((float(w[0]), float(w[1])))
        return out


def _hour_table(p: _P, periods: Any, path: _Path, names: list[str]) -> tuple[int, ...] | None:
    """24 period indices from ``{name: [[h0, h1], ...]}`` (whole hours, each hour exactly once)."""
    if not isinstance(periods, Mapping) or not periods:
        p.bad(path, "expected a mapping of period name to [[start_hour, end_hour], ...]")
        return None
    hours: list[int | None] = [None] * 24
    ok = True
    for name, wins in periods.items():
        name = str(name)
        if name not in names:
            tail = did_you_mean(name, names, otherwise=f" (priced: {', '.join(names)})")
            p.bad((*path, name), f"period {name!r} has no price{tail}")
            ok = False
            continue
        for lo, hi in p.windows(wins, (*path, name)):
            if lo != int(lo) or hi != int(hi):
                p.bad((*path, name), f"period tables are hourly: [{lo:g}, {hi:g}] is not whole hours")
                ok = False
                continue
            for h in range(int(lo), int(hi)):
                if hours[h] is not None:
                    p.bad((*path, name), f"hour {h}:00 is already in period {names[hours[h]]!r}")  # type: ignore[index]
                    ok = False
                hours[h] = names.index(name)
    missing = [h for h in range(24) if hours[h] is None]
    if missing and ok:
        p.bad(path, f"hours {', '.join(f'{h}:00' for h in missing)} are in no period")
    if missing or not ok:
        return None
    return tuple(int(h) for h in hours)  # type: ignore[arg-type]


def parse_tariff(data: Mapping[str, Any] | None) -> Tariff:  # noqa: C901 - over 15 branches before the gate; to split
    """A :class:`Tariff` from its dict form (docs/tariffs.md); every problem is reported at
    once as a :class:`ParameterError` with key paths."""
    p = _P()
    d = p.mapping(data, (), _TOP)
    tid = d.get("tariff_id")
    if not isinstance(tid, str) or not tid:
        p.bad(("tariff_id",), "required: a name for this tariff")
        tid = "?"
    for key in ("label", "currency", "timezone", "source", "note"):
        if key in d and not isinstance(d[key], str):
            p.bad((key,), f"expected text, got {d[key]!r}")
    interval = d.get("interval_min", 15)
    if not isinstance(interval, int) or isinstance(interval, bool) or interval <= 0 or 60 % interval:
        p.bad(("interval_min",), f"the demand interval in minutes must divide 60, got {interval!r}")
        interval = 15

    # energy
    e = p.mapping(d.get("energy"), ("energy",), _ENERGY)
    if "energy" not in d:
        p.bad(("energy",), "required: prices and periods")
    names: list[str] = []
    prices: list[float] = []
    crit_ratio: float | None = None
    if "prices" in e:
        pr = e["prices"]
        if "flat_price" in e or "ratios" in e:
            p.bad(("energy", "prices"), "give either prices: or flat_price: with ratios:, not both")
        if not isinstance(pr, Mapping) or not pr:
            p.bad(("energy", "prices"), "expected a mapping of period name to price per kWh")
        else:
            for name in pr:
                v = p.num(pr, str(name), ("energy", "prices"), None)
                if v is not None:
                    names.append(str(name))
                    prices.append(v)
    elif "flat_price" in e or "ratios" in e:
        base = p.num(e, "flat_price", ("energy",), None)
        if base is None:
            p.bad(("energy", "flat_price"), "required with ratios: (the price of ratio 1.0)")
        ratios = e.get("ratios")
        if not isinstance(ratios, Mapping) or not ratios:
            p.bad(("energy", "ratios"), "expected a mapping of period name to ratio to flat_price")
        else:
            for name in ratios:
                v = p.num(ratios, str(name), ("energy", "ratios"), None)
                if v is None or base is None:
                    continue
                if str(name) == "critical":
                    crit_ratio = v * base
                    continue
                names.append(str(name))
                prices.append(v * base)
    elif "energy" in d:
        p.bad(("energy",), "missing prices: (or flat_price: with ratios:)")

    weekday: list[tuple[int, ...] | None] = [None] * 12
    weekend: list[tuple[int, ...] | None] = [None] * 12
    if names:
        default_wd = _hour_table(p, e["periods"], ("energy", "periods"), names) if "periods" in e else None
        default_we = (
            _hour_table(p, e["weekend_periods"], ("energy", "weekend_periods"), names)
            if "weekend_periods" in e
            else default_wd
        )
        seasons = e.get("seasons", [])
        if not isinstance(seasons, list):
            p.bad(("energy", "seasons"), "expected a list of {months, periods, weekend_periods}")
            seasons = []
        for i, s in enumerate(seasons):
            sp = ("energy", "seasons", i)
            sd = p.mapping(s, sp, _SEASON)
            months = p.months(sd.get("months"), (*sp, "months"))
            if not months:
                p.bad((*sp, "months"), "required: the months (1–12) this season covers")
            if "periods" not in sd:
                p.bad(sp, "missing periods:")
                continue
            wd = _hour_table(p, sd["periods"], (*sp, "periods"), names)
            we = (
                _hour_table(p, sd["weekend_periods"], (*sp, "weekend_periods"), names)
                if "weekend_periods" in sd
                else wd
            )
            for m in months:
                if weekday[m - 1] is not None:
                    p.bad((*sp, "months"), f"month {m} is already in an earlier season")
                weekday[m - 1], weekend[m - 1] = wd, we
        uncovered = [m + 1 for m in range(12) if weekday[m] is None]
        if uncovered and "periods" not in e and all(isinstance(s, Mapping) for s in seasons):
            p.bad(("energy", "periods"), f"required: months {uncovered} are in no season")
        for m in uncovered:
            weekday[m - 1], weekend[m - 1] = default_wd, default_we

    cp: CriticalPeak | None = None
    if "critical_peak" in e:
        cpath = ("energy", "critical_peak")
        c = p.mapping(e["critical_peak"], cpath, _CRIT)
        wins = p.windows(c.get("windows", []), (*cpath, "windows"))
        months = p.months(c.get("months"), (*cpath, "months"))
        days = c.get("days", [])
        if not isinstance(days, list):
            p.bad((*cpath, "days"), "expected a list of ISO dates")
            days = []
        good_days: list[str] = []
        for i, day in enumerate(days):
            try:
                good_days.append(str(np.datetime64(str(day), "D")))
            except ValueError:
                p.bad((*cpath, "days", i), f"expected an ISO date like 2026-07-15, got {day!r}")
        adder = p.num(c, "adder", cpath, None, lo=-math.inf)
        price = p.num(c, "price", cpath, None)
        if adder is not None and price is not None:
            p.bad(cpath, "give either adder: or price:, not both")
        if adder is None and price is None:
            price = crit_ratio
        if p.flag(c, "enabled", cpath, True):
            if adder is None and price is None:
                p.bad(cpath, "needs adder: (per kWh on top of the TOU price), price:, or ratios.critical")
            if not wins:
                p.bad((*cpath, "windows"), "required: [[start_hour, end_hour], ...]")
            if not months and not good_days:
                p.bad(cpath, "needs months: or days: (when critical peak applies)")
            cp = CriticalPeak(months, tuple(good_days), tuple(wins), adder, price)

    # demand
    dm = p.mapping(d.get("demand"), ("demand",), _DEMAND)
    basis = dm.get("basis", "max_demand")
    if basis not in BASES:
        p.bad(
            ("demand", "basis"),
            f"unknown basis {basis!r}"
            + did_you_mean(str(basis), list(BASES), otherwise=f" (one of {', '.join(BASES)})"),
        )
        basis = "max_demand"
    flat = _tiers(p, dm, ("demand",))
    flat_months = p.months(dm.get("months", list(range(1, 13))), ("demand", "months"))
    flat_demand = tuple(flat if (m + 1) in flat_months else () for m in range(12))
    tou_names: list[str] = []
    tou_tiers: list[Tiers] = []
    dwd: _Schedule | None = None
    dwe: _Schedule | None = None
    if "tou_rates" in dm:
        tr = dm["tou_rates"]
        if not isinstance(tr, Mapping):
            p.bad(("demand", "tou_rates"), "expected a mapping of energy period name to rate per kW·month")
        else:
            for name in tr:
                path = ("demand", "tou_rates", str(name))
                if str(name) not in names:
                    tail = did_you_mean(str(name), names)
                    p.bad(path, f"no energy period named {name!r}{tail}")
                    continue
                v = p.num(tr, str(name), ("demand", "tou_rates"), None)
                if v is not None:
                    tou_names.append(str(name))
                    tou_tiers.append(((math.inf, v),))
        if tou_names and all(w is not None for w in weekday):
            remap = {names.index(n): k for k, n in enumerate(tou_names)}
            dwd = tuple(tuple(remap.get(x, -1) for x in row) for row in weekday if row is not None)
            dwe = tuple(tuple(remap.get(x, -1) for x in row) for row in weekend if row is not None)
    ratchet: Ratchet | None = None
    if "ratchet" in dm:
        rp = ("demand", "ratchet")
        r = p.mapping(dm["ratchet"], rp, _RATCHET)
        pct = p.num(r, "percent", rp, 0.0)
        if pct is not None and pct > 100:
            p.bad((*rp, "percent"), f"a percentage 0–100, got {pct:g}")
        lb = r.get("lookback_months", 0)
        if not isinstance(lb, int) or isinstance(lb, bool) or lb < 0:
            p.bad((*rp, "lookback_months"), f"expected a whole number of months ≥ 0, got {lb!r}")
            lb = 0
        if p.flag(r, "enabled", rp, True) and pct and lb:
            ratchet = Ratchet(float(pct), int(lb))
    huf: HighUtilisation | None = None
    if "high_utilisation_factor" in dm:
        hp = ("demand", "high_utilisation_factor")
        h = p.mapping(dm["high_utilisation_factor"], hp, _HUF)
        thr = p.num(h, "threshold_kwh_per_kva_month", hp, 260.0)
        fac = p.num(h, "factor", hp, 0.9)
        if p.flag(h, "enabled", hp, True):
            huf = HighUtilisation(thr or 0.0, fac if fac is not None else 0.9)
    cap = p.mapping(d.get("capacity"), ("capacity",), _CAPACITY)
    cap_rate = p.num(cap, "rate_per_kva_month", ("capacity",), 0.0) or 0.0
    kva = p.num(cap, "contract_kva", ("capacity",), None)
    if basis == "capacity_kva" and not kva:
        p.bad(("capacity", "contract_kva"), "required when demand.basis is capacity_kva")
    if huf is not None and not kva:
        p.bad(("capacity", "contract_kva"), "required by demand.high_utilisation_factor (kWh per kVA)")
    ex = p.mapping(d.get("export"), ("export",), _EXPORT)
    t_kwargs: dict[str, Any] = dict(  # noqa: C408
        tariff_id=tid,
        period_names=tuple(names),
        period_prices=tuple(prices),
        label=str(d.get("label", "")),
        currency=str(d.get("currency", "CNY")),
        timezone=str(d.get("timezone", "")),
        source=str(d.get("source", "")),
        note=str(d.get("note", "")),
        demand_interval_min=int(interval),
        critical_peak=cp,
        demand_basis=str(basis),
        flat_demand=flat_demand,
        demand_period_names=tuple(tou_names),
        demand_period_tiers=tuple(tou_tiers),
        demand_weekday_schedule=dwd,
        demand_weekend_schedule=dwe,
        ratchet=ratchet,
        minimum_demand_kw=p.num(dm, "minimum_kw", ("demand",), 0.0) or 0.0,
        high_utilisation=huf,
        capacity_rate_per_kva_month=cap_rate,
        contract_kva=kva,
        fixed_monthly=p.num(d, "fixed_monthly", (), 0.0) or 0.0,
        fixed_daily=p.num(d, "fixed_daily", (), 0.0) or 0.0,
        minimum_monthly=p.num(d, "minimum_monthly", (), 0.0) or 0.0,
        export_allowed=p.flag(ex, "allowed", ("export",), False),
        export_price_per_kwh=p.num(ex, "price", ("export",), 0.0) or 0.0,
        export_at_energy_price=p.flag(ex, "at_energy_price", ("export",), False),
        extra={k: d[k] for k in ("sources", "demand_response", "variants") if k in d},
    )
    if p.issues or any(w is None for w in weekday) or any(w is None for w in weekend):
        if not p.issues:
            p.bad(("energy",), "incomplete period tables")
        raise ParameterError(p.issues)
    return Tariff(weekday_schedule=tuple(weekday), weekend_schedule=tuple(weekend), **t_kwargs)  # type: ignore[arg-type]


def _tiers(p: _P, dm: Mapping[str, Any], path: _Path) -> Tiers:
    """``rate_per_kw_month: x`` or ``tiers: [{max_kw, rate}, ...]`` (last without max_kw)."""
    if "tiers" in dm and "rate_per_kw_month" in dm:
        p.bad((*path, "tiers"), "give either rate_per_kw_month: or tiers:, not both")
    if "tiers" not in dm:
        rate = p.num(dm, "rate_per_kw_month", path, None)
        return ((math.inf, rate),) if rate else ()
    raw = dm["tiers"]
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        p.bad((*path, "tiers"), "expected a list of {max_kw, rate}")
        return ()
    out: list[tuple[float, float]] = []
    lower = 0.0
    for i, t in enumerate(raw):
        tp = (*path, "tiers", i)
        td = p.mapping(t, tp, {"max_kw", "rate"})
        rate = p.num(td, "rate", tp, None)
        if rate is None:
            p.bad(tp, "missing rate: (per kW·month)")
            rate = 0.0
        upper = p.num(td, "max_kw", tp, None)
        last = i == len(raw) - 1
        if upper is None and not last:
            p.bad((*tp, "max_kw"), "required on every tier but the last")
        if upper is not None and upper <= lower:
            p.bad((*tp, "max_kw"), f"tiers must rise: {upper:g} ≤ the tier below ({lower:g})")
        upper_v = math.inf if (upper is None or last) else upper
        out.append((upper_v, rate))
        lower = upper_v if upper_v != math.inf else lower
    return tuple(out)
