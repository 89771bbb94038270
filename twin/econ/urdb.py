"""OpenEI URDB rate objects (as the API returns them; what REopt and SAM read) → :class:`Tariff`.

Read: ``energyratestructure`` (``rate`` + ``adj`` per period; one tier, or tiers with equal
prices), ``energyweekdayschedule``/``energyweekendschedule`` (12×24, zero-based periods),
``flatdemandstructure`` + ``flatdemandmonths``, ``demandratestructure`` +
``demandweekdayschedule``/``demandweekendschedule`` (tiers with ``max`` in kW),
``fixedchargefirstmeter`` + ``fixedchargeunits`` ($/month or $/day), ``mincharge`` +
``minchargeunits``, ``lookbackpercent`` (a fraction) + ``lookbackrange`` (months),
``peakkwcapacitymin`` (minimum billed demand), ``usenetmetering`` (export credited at the energy
price), and the extensions ``currency``, ``tariff_id``. Features this model does not bill
(coincident demand, tiered energy prices) are reported, not silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from twin.errors import ParameterError, ParameterIssue

from .tariff import Ratchet, Tariff, Tiers

__all__ = ["tariff_from_urdb"]

_UNSUPPORTED = ("coincidentratestructure", "energyattrs_tiered")


def _schedule(issues: list[ParameterIssue], v: Any, key: str, n: int) -> tuple[tuple[int, ...], ...] | None:
    ok = (
        isinstance(v, list)
        and len(v) == 12
        and all(isinstance(r, list) and len(r) == 24 for r in v)
        and all(isinstance(x, int) and not isinstance(x, bool) for r in v for x in r)
    )
    if not ok:
        issues.append(ParameterIssue((key,), "expected 12 rows (months) of 24 whole numbers (hours)"))
        return None
    for m, row in enumerate(v):
        for hr, x in enumerate(row):
            if not 0 <= x < n:
                issues.append(ParameterIssue((key, m, hr), f"period {x} does not exist (0…{n - 1})"))
                return None
    return tuple(tuple(int(x) for x in r) for r in v)


def _tiers(issues: list[ParameterIssue], periods: Any, key: str) -> list[Tiers]:
    out: list[Tiers] = []
    if not isinstance(periods, list):
        issues.append(ParameterIssue((key,), "expected a list (periods) of lists (tiers)"))
        return out
    for i, tiers in enumerate(periods):
        if not isinstance(tiers, list) or not tiers:
            issues.append(ParameterIssue((key, i), "expected a non-empty list of tiers"))
            out.append(())
            continue
        row: list[tuple[float, float]] = []
        for j, t in enumerate(tiers):
            if not isinstance(t, Mapping) or not isinstance(t.get("rate", 0.0), int | float):
                issues.append(ParameterIssue((key, i, j), "expected {rate, adj, max, unit}"))
                continue
            rate = float(t.get("rate", 0.0)) + float(t.get("adj", 0.0) or 0.0)
            upper = t.get("max")
            up = float(upper) if isinstance(upper, int | float) and j < len(tiers) - 1 else math.inf
            row.append((up, rate))
        out.append(tuple(row))
    return out


def tariff_from_urdb(data: Mapping[str, Any]) -> Tariff:
    """A :class:`Tariff` from one URDB rate object, or ``{"items": [one object]}``."""
    if isinstance(data, Mapping) and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or len(items) != 1:
            raise ParameterError([ParameterIssue(("items",), "expected exactly one rate object")])
        inner = tariff_from_urdb_object(items[0], root=("items", 0))
        return inner
    return tariff_from_urdb_object(data, root=())


def tariff_from_urdb_object(d: Any, *, root: tuple[str | int, ...]) -> Tariff:  # noqa: C901 - over 15 branches before the gate; to split
    issues: list[ParameterIssue] = []
    if not isinstance(d, Mapping):
        raise ParameterError([ParameterIssue(root, "expected a URDB rate object (a mapping)")])

    def bad(path: tuple[str | int, ...], msg: str) -> None:
        issues.append(ParameterIssue(path, msg))

    for key in _UNSUPPORTED:
        if d.get(key):
            bad((key,), "not supported by this bill model")
    if "energyratestructure" not in d:
        bad(("energyratestructure",), "required: energy prices per period")
    e_tiers = _tiers(issues, d.get("energyratestructure", []), "energyratestructure")
    prices: list[float] = []
    for i, tiers in enumerate(e_tiers):
        if len({r for _, r in tiers}) > 1:
            bad(("energyratestructure", i), "tiered energy prices are not supported (tiers differ in price)")
        prices.append(tiers[0][1] if tiers else 0.0)
        for j, t in enumerate(d["energyratestructure"][i]):
            unit = t.get("unit", "kWh") if isinstance(t, Mapping) else "kWh"
            if unit not in ("kWh", None):
                bad(("energyratestructure", i, j, "unit"), f"only kWh tiers are supported, got {unit!r}")
    n = len(prices)
    wd = _schedule(issues, d.get("energyweekdayschedule"), "energyweekdayschedule", n)
    we = _schedule(
        issues, d.get("energyweekendschedule", d.get("energyweekdayschedule")), "energyweekendschedule", n
    )

    flat: list[Tiers] = [()] * 12
    if d.get("flatdemandstructure"):
        ft = _tiers(issues, d["flatdemandstructure"], "flatdemandstructure")
        fm = d.get("flatdemandmonths")
        if (
            not isinstance(fm, list)
            or len(fm) != 12
            or not all(isinstance(x, int) and 0 <= x < len(ft) for x in fm)
        ):
            bad(("flatdemandmonths",), f"expected 12 indices into flatdemandstructure (0…{len(ft) - 1})")
        else:
            flat = [ft[x] for x in fm]
    dnames: tuple[str, ...] = ()
    dtiers: list[Tiers] = []
    dwd = dwe = None
    if d.get("demandratestructure"):
        dtiers = _tiers(issues, d["demandratestructure"], "demandratestructure")
        dnames = tuple(f"demand_period_{i}" for i in range(len(dtiers)))
        dwd = _schedule(issues, d.get("demandweekdayschedule"), "demandweekdayschedule", len(dtiers))
        dwe = _schedule(
            issues,
            d.get("demandweekendschedule", d.get("demandweekdayschedule")),
            "demandweekendschedule",
            len(dtiers),
        )
    fixed_monthly = fixed_daily = 0.0
    fc = float(d.get("fixedchargefirstmeter", 0.0) or 0.0)
    fu = d.get("fixedchargeunits", "$/month")
    if fu == "$/month":
        fixed_monthly = fc
    elif fu == "$/day":
        fixed_daily = fc
    else:
        bad(("fixedchargeunits",), f"expected '$/month' or '$/day', got {fu!r}")
    mc = float(d.get("mincharge", 0.0) or 0.0)
    mu = d.get("minchargeunits", "$/month")
    minimum = {"$/month": mc, "$/day": mc * 365.0 / 12.0, "$/year": mc / 12.0}.get(str(mu))
    if minimum is None:
        bad(("minchargeunits",), f"expected '$/month', '$/day' or '$/year', got {mu!r}")
        minimum = 0.0
    ratchet = None
    pct = float(d.get("lookbackpercent", 0.0) or 0.0)
    rng = int(d.get("lookbackrange", 0) or 0)
    if not 0 <= pct <= 1:
        bad(("lookbackpercent",), f"a fraction 0–1 in URDB, got {pct:g}")
    elif pct and rng:
        ratchet = Ratchet(pct * 100.0, rng)
    if issues or wd is None or we is None:
        if not issues:
            bad(("energyweekdayschedule",), "required")
        raise ParameterError([ParameterIssue((*root, *i.path), i.message) for i in issues])
    net = bool(d.get("usenetmetering", False))
    return Tariff(
        tariff_id=str(d.get("tariff_id", d.get("label", "urdb"))),
        period_names=tuple(f"period_{i}" for i in range(n)),
        period_prices=tuple(prices),
        weekday_schedule=wd,
        weekend_schedule=we,
        label=str(d.get("name", "")),
        currency=str(d.get("currency", "USD")),
        source=str(d.get("uri", d.get("source", ""))),
        note=str(d.get("description", "")),
        flat_demand=tuple(flat),
        demand_period_names=dnames,
        demand_period_tiers=tuple(dtiers),
        demand_weekday_schedule=dwd,
        demand_weekend_schedule=dwe,
        ratchet=ratchet,
        minimum_demand_kw=float(d.get("peakkwcapacitymin", 0.0) or 0.0),
        fixed_monthly=fixed_monthly,
        fixed_daily=fixed_daily,
        minimum_monthly=minimum,
        export_allowed=net,
        export_at_energy_price=net,
    )
