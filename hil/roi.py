"""``hil roi``: simulate a study's year, bill it with and without the project, and finance it.

The year is built at the study's step (15 min by default) on the site's local clock: the load
(a daily profile, a load file, or the twin's own year, :mod:`hil.roi_site`), PV, and the
storage dispatched by a fixed schedule, the perfect-foresight optimum or the reference EMS.
Four bills of the same load and calendar answer the question (docs/roi-conventions.md):

* ``baseline``: no storage, no PV; ``pv_only``: PV, no storage (PV curtailed to the load when
  export is not allowed); ``project``: PV and storage with the study's dispatch; ``optimum``:
  PV and storage with the perfect-foresight LP (year 1), the upper bound of what storage earns.

What storage earned is ``pv_only − project``; what PV earned is ``baseline − pv_only``. Later
years repeat year 1's calendar and load; the storage's usable energy follows the fade and the
replacements, PV its degradation, and each year is dispatched and billed again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from twin.econ import Bill, Tariff, compute_bill
from twin.econ.dispatch import ScheduleDispatch, schedule_dispatch
from twin.econ.finance import (
    Finance,
    cash_flows,
    discounted_payback,
    irr,
    lcos,
    npv,
    replacement_plan,
    simple_payback,
)
from twin.econ.optimum import optimal_dispatch
from twin.econ.resilience import resilience_hours
from twin.econ.storage import DispatchResult, StorageSpec

from .config import beside
from .errors import ConfigError, Problem
from .load_file import read_load
from .roi_site import simulate_site_year
from .study import Study, StudyFile, YearSeries

__all__ = ["YearSeries", "build_year", "half_sine_pv", "run_study"]

Progress = Callable[[str, float], None]


def timestamps(start: str, days: int, step_s: float) -> np.ndarray:
    n = round(days * 86400.0 / step_s)
    t0 = np.datetime64(start, "ms")
    return t0 + (np.arange(n) * round(step_s * 1000.0)).astype("timedelta64[ms]")


def _hours(ts: np.ndarray) -> np.ndarray:
    a = ts.astype("datetime64[ms]")
    return (a - a.astype("datetime64[D]")).astype(np.int64) / 3_600_000.0


def daily_profile(
    ts: np.ndarray, base_kw: float, windows: list[tuple[tuple[float, float], float]]
) -> np.ndarray:
    """A load that is ``base_kw`` except in the daily hour windows, each interval's mean
    (an interval partly in a window gets the time-weighted mean)."""
    step_h = float((ts[1] - ts[0]).astype(np.int64)) / 3_600_000.0 if ts.size > 1 else 0.25
    h0 = _hours(ts)
    out = np.full(ts.size, float(base_kw))
    for (a, b), kw in windows:
        overlap = np.clip(np.minimum(h0 + step_h, b) - np.maximum(h0, a), 0.0, None) / step_h
        out += overlap * (kw - base_kw)
    return out


def half_sine_pv(
    ts: np.ndarray, kwp: float, yield_kwh_per_kwp: float, hours: tuple[float, float]
) -> np.ndarray:
    """REF-B's mean-day PV: ``k·sin(π(h − h0)/T)`` between sunrise h0 and sunset h0 + T, with
    ``k = kWp·yield/365·π/(2T)`` so a 365-day year yields ``kWp·yield``; each interval holds
    the exact mean of the sine over it."""
    h0, h1 = hours
    span = h1 - h0
    k = kwp * yield_kwh_per_kwp / 365.0 * math.pi / (2.0 * span)
    step_h = float((ts[1] - ts[0]).astype(np.int64)) / 3_600_000.0 if ts.size > 1 else 0.25
    a = np.clip(_hours(ts), h0, h1)
    b = np.clip(_hours(ts) + step_h, h0, h1)
    energy = k * span / math.pi * (np.cos(math.pi * (a - h0) / span) - np.cos(math.pi * (b - h0) / span))
    return energy / step_h


def build_year(study: Study, progress: Progress | None = None) -> YearSeries:
    """Year 1's load and PV at the study's step."""
    spec = study.spec
    cal = spec.calendar
    step_h = cal.step / 3600.0
    if spec.load.site is not None:
        return simulate_site_year(study, progress=progress)
    ts = timestamps(cal.start, cal.days, cal.step)
    if spec.load.base_kw is not None:
        load = daily_profile(ts, spec.load.base_kw, [(w.hours, w.kw) for w in spec.load.windows])
    else:
        load = _load_file(study, ts)
    pv = None
    if spec.pv is not None:
        pv = half_sine_pv(ts, spec.pv.kwp, spec.pv.yield_kwh_per_kwp, spec.pv.hours)
    return YearSeries(ts, load, pv, step_h, {})


def _load_file(study: Study, ts: np.ndarray) -> np.ndarray:
    """A load file's import, as interval means on the study's calendar (it must cover it)."""
    assert study.spec.load.file is not None
    series = read_load(Path(beside(study.path, study.spec.load.file)), timezone=study.spec.calendar.timezone)
    step_ms = round(study.spec.calendar.step * 1000)
    src_ms = round(series.interval_s * 1000)
    t_src = series.ts.astype(np.int64)
    # energy per source interval, accumulated onto the study's grid by interval start
    if src_ms > step_ms:
        reps = src_ms // step_ms
        t_src = (t_src[:, None] + np.arange(reps)[None, :] * step_ms).ravel()
        p_src = np.repeat(series.p_import_kw, reps)
        src_ms = step_ms
    else:
        p_src = series.p_import_kw
    grid0 = int(ts[0].astype(np.int64))
    idx = (t_src - grid0) // step_ms
    ok = (idx >= 0) & (idx < ts.size)
    energy = np.bincount(idx[ok], weights=p_src[ok] * src_ms, minlength=ts.size)
    count = np.bincount(idx[ok], weights=np.full(int(ok.sum()), float(src_ms)), minlength=ts.size)
    if np.any(count < step_ms * 0.999):
        first = ts[int(np.flatnonzero(count < step_ms * 0.999)[0])]
        raise ConfigError(
            [
                Problem(
                    series.source,
                    None,
                    "",
                    f"the load does not cover the study's calendar (first gap at {first})",
                )
            ]
        )
    return energy / count


def _storage(spec: StudyFile, fade: float) -> StorageSpec:
    s = spec.storage
    return StorageSpec(
        energy_kwh=s.energy_kwh,
        power_kw=s.power_kw,
        soc_min=s.soc_min,
        soc_max=s.soc_max,
        eta_charge=s.eta_charge,
        eta_discharge=s.eta_discharge,
        soc0=s.soc0,
        fade_per_year=fade,
    )


def bill_summary(bill: Bill, load_kwh: float) -> dict[str, Any]:
    """A bill as ``roi.json`` holds it (the ``BILLSUM`` of docs/roi-conventions.md).

    ``avg_price_per_kwh`` is the bill over the site's *consumption* (``load_kwh``), the same
    denominator with and without the project (economics.md §5.2's 0.7516 → 0.7074); over the
    grid import it would credit PV and charge the battery's losses twice."""
    d = bill.to_dict()
    kwh = d["energy_kwh"]
    return {
        "bill_total": d["total"],
        "energy_cost": d["energy_cost"],
        "demand_cost": d["demand_cost"],
        "fixed_cost": d["fixed_cost"],
        "export_credit": d["export_credit"],
        "energy_kwh": kwh,
        "avg_price_per_kwh": d["total"] / load_kwh if load_kwh > 0 else None,
        "load_kwh": load_kwh,
        "peak_kw_by_month": {m["month"]: m["measured_peak_kw"] for m in d["months"]},
        "bill_by_month": {m["month"]: m["total"] for m in d["months"]},
    }


def _savings(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    return {
        "total": before["bill_total"] - after["bill_total"],
        "energy": before["energy_cost"] - after["energy_cost"],
        "demand": before["demand_cost"] - after["demand_cost"],
        "fixed": before["fixed_cost"] - after["fixed_cost"],
        "export": after["export_credit"] - before["export_credit"],
    }


def pv_only_grid(load: np.ndarray, pv: np.ndarray | None, allow_export: bool) -> np.ndarray:
    if pv is None:
        return load.copy()
    net = load - pv
    return net if allow_export else np.clip(net, 0.0, None)


def _dispatch(
    spec: StudyFile,
    tariff: Tariff,
    storage: StorageSpec,
    year: YearSeries,
    pv: np.ndarray | None,
    cf: float,
) -> DispatchResult:
    allow_export = tariff.export_allowed
    if spec.dispatch.schedule is not None:
        s = spec.dispatch.schedule
        rule = ScheduleDispatch(
            charge_hours=tuple(s.charge_hours),
            shave_hours=tuple(s.shave_hours),
            shave_target_kw=s.shave_target_kw,
            discharge_hours=tuple(s.discharge_hours),
        )
        return schedule_dispatch(
            rule, storage, year.ts, year.load_kw, pv, year.dt_h, allow_export=allow_export, capacity_factor=cf
        )
    if spec.dispatch.optimum is not None:
        return optimal_dispatch(
            tariff, year.ts, year.load_kw, pv, storage, year.dt_h, capacity_factor=cf
        ).dispatch
    ems = year.extra.get("ems_dispatch")
    if ems is None:
        raise RuntimeError("the reference EMS dispatch needs a simulated site year")
    return ems(storage, pv, cf)


def _charge_cost(tariff: Tariff, ts: np.ndarray, d: DispatchResult) -> float:
    """Cost of the grid energy that charged the battery, at the energy price of its interval."""
    return float((d.charge_from_grid_kw * d.dt_h * tariff.energy_price(ts)).sum())


def _renewable_share(load: np.ndarray, pv_used: np.ndarray, d: DispatchResult | None, dt_h: float) -> float:
    """PV energy that served the load (directly, or through the battery at its round trip)
    over the load's energy; grid-charged energy is not renewable, the grid mix counts as 0."""
    direct = pv_used - (d.charge_from_pv_kw if d is not None else 0.0)
    via = 0.0
    if d is not None and d.charge_kwh > 0:
        # discharged energy carries the PV share of what charged it
        via = d.discharge_kwh * float(d.charge_from_pv_kw.sum() * d.dt_h) / d.charge_kwh
    total = float(load.sum() * dt_h)
    return (float(np.clip(direct, 0.0, None).sum() * dt_h) + via) / total if total > 0 else 0.0


def _finance(spec: StudyFile) -> tuple[Finance, float, float, float]:
    """(project finance, storage capex, storage O&M/yr, PV O&M/yr)."""
    f = spec.finance
    st_capex = (
        f.storage_capex if f.storage_capex is not None else f.storage_capex_per_kwh * spec.storage.energy_kwh
    )
    pv_kwp = spec.pv.kwp if spec.pv is not None else 0.0
    pv_capex = f.pv_capex_per_wp * pv_kwp * 1000.0
    st_om = f.storage_om_fraction * st_capex
    pv_om = f.pv_om_per_kwp_year * pv_kwp
    fin = Finance(
        capex=st_capex + pv_capex,
        om_per_year=st_om + pv_om,
        discount_rate=f.discount_rate,
        horizon_years=f.horizon_years,
        escalation=f.escalation,
        salvage=f.salvage,
        replacement_cost=(spec.storage.replacement.cost_per_kwh * spec.storage.energy_kwh)
        if spec.storage.replacement
        else 0.0,
    )
    return fin, st_capex, st_om, pv_om


def run_study(
    study: Study, tariff: Tariff, *, progress: Progress | None = None
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Simulate, bill and finance a study; returns ``(roi, series)``: the ``roi.json`` object and
    year 1's columns for ``roi_series.parquet``."""
    spec = study.spec
    say = progress or (lambda _what, _frac: None)
    say("building the year", 0.0)
    year = build_year(study, progress=lambda what, f: say(what, 0.6 * f))
    ts, load, pv0, dt = year.ts, year.load_kw, year.pv_kw, year.dt_h
    allow_export = tariff.export_allowed
    fade = spec.storage.fade_per_year
    if fade is None:
        fade = float(year.extra.get("fade_per_year", 0.0))
    storage = _storage(spec, fade)
    fin, st_capex, st_om, _pv_om = _finance(spec)
    n_years = fin.horizon_years
    rep = spec.storage.replacement
    plan = replacement_plan(
        np.clip(1.0 - fade * np.arange(n_years + 1), 0.0, None),
        n_years,
        threshold=rep.threshold if rep else None,
        years=tuple(rep.years) if rep else (),
    )
    pv_deg = spec.pv.degradation_per_year if spec.pv is not None else 0.0

    load_kwh = float(load.sum() * dt)

    def bill(grid: np.ndarray) -> dict[str, Any]:
        return bill_summary(compute_bill(tariff, ts, grid, dt * 3600.0), load_kwh)

    baseline = bill(load)
    rows: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    savings_by_year: list[float] = []
    discharge_by_year: list[float] = []
    charge_cost_by_year: list[float] = []
    for y in range(1, n_years + 1):
        say(f"year {y} of {n_years}", 0.6 + 0.3 * (y - 1) / n_years)
        cf = float(plan.capacity_factor[y - 1])
        pv = None if pv0 is None else pv0 * max(0.0, 1.0 - pv_deg * (y - 1))
        pv_only = bill(pv_only_grid(load, pv, allow_export))
        if y == 1 or spec.dispatch.ems is None:
            d = _dispatch(spec, tariff, storage, year, pv, cf)
            project = bill(d.grid_kw)
        else:  # the EMS ran on the twin in year 1 only: later years scale (economics.md §6.6)
            d, project = _scaled_year(first, cf, pv_only, tariff, ts, dt)
        sav = _savings(baseline, project)
        savings_by_year.append(sav["total"])
        discharge_by_year.append(d.discharge_kwh)
        charge_cost_by_year.append(_charge_cost(tariff, ts, d))
        rows.append(
            {
                "year": y,
                "usable_kwh": storage.usable_kwh(capacity_factor=cf),
                "soh": cf,
                "savings": sav["total"],
                "storage_savings": pv_only["bill_total"] - project["bill_total"],
                "pv_savings": baseline["bill_total"] - pv_only["bill_total"],
                "om": fin.om_per_year,
                "replacement": float(plan.events_by_year[y - 1]) * fin.replacement_cost,
                "discharge_kwh": d.discharge_kwh,
            }
        )
        if y == 1:
            first = {"dispatch": d, "project": project, "pv_only": pv_only, "pv": pv, "cf": cf}
    flows = cash_flows(np.asarray(savings_by_year), fin, fin.replacement_by_year(plan))
    disc = (1.0 + fin.discount_rate) ** -np.arange(flows.size)
    cum, cum_d = np.cumsum(flows), np.cumsum(flows * disc)
    for r in rows:
        y = r["year"]
        r.update(net=float(flows[y]), discounted=float(flows[y] * disc[y]))
        r.update(cumulative=float(cum[y]), cumulative_discounted=float(cum_d[y]))
    d1: DispatchResult = first["dispatch"]
    project1, pv_only1 = first["project"], first["pv_only"]
    storage_fin = Finance(
        capex=st_capex,
        om_per_year=st_om,
        discount_rate=fin.discount_rate,
        horizon_years=n_years,
        replacement_cost=fin.replacement_cost,
    )
    lc = None
    if sum(discharge_by_year) > 0:
        lc = lcos(storage_fin, discharge_by_year, charge_cost_by_year, None, fin.replacement_by_year(plan))
    say("the optimum", 0.92)
    opt_sum = opt_sav = None
    opt_d: DispatchResult | None = None
    if spec.compare_optimum:
        opt_d = optimal_dispatch(
            tariff, ts, load, first["pv"], storage, dt, capacity_factor=first["cf"]
        ).dispatch
        opt_sum = bill(opt_d.grid_kw)
        opt_sav = _savings(baseline, opt_sum)
    st_sav = pv_only1["bill_total"] - project1["bill_total"]
    share = None
    if opt_sum is not None:
        best = pv_only1["bill_total"] - opt_sum["bill_total"]
        share = st_sav / best if best > 1e-9 else None
    sav1 = _savings(baseline, project1)
    sav1["storage"] = st_sav
    sav1["pv"] = baseline["bill_total"] - pv_only1["bill_total"]
    res = None
    if spec.resilience is not None:
        rh = resilience_hours(
            d1.available_kwh[:-1],
            spec.resilience.critical_load_kw,
            power_kw=storage.power_kw,
            eta_discharge=storage.eta_discharge,
            dt_h=dt,
        )
        c, w = rh.continuous, rh.whole_steps
        res = {
            "min": c.min,
            "mean": c.mean,
            "max": c.max,
            "counting": c.counting,
            "mean_whole_steps": w.mean,
            "min_whole_steps": w.min,
            "max_whole_steps": w.max,
            "storage_only": True,
        }
        res["critical_load_kw"] = spec.resilience.critical_load_kw
    pv_used = np.zeros_like(load) if first["pv"] is None else d1.pv_used_kw
    pv_only_used = np.zeros_like(load)
    if first["pv"] is not None:
        pv_only_used = first["pv"] if allow_export else np.minimum(first["pv"], load)
    roi: dict[str, Any] = {
        "study": _echo(study, tariff),
        "currency": tariff.currency,
        "baseline": baseline,
        "pv_only": pv_only1 if first["pv"] is not None else None,
        "project": project1,
        "optimum": opt_sum,
        "savings_year1": sav1,
        "optimum_savings_year1": opt_sav,
        "optimum_share": share,
        "years": rows,
        "capex": fin.capex,
        "capex_storage": st_capex,
        "npv": npv(flows, fin.discount_rate),
        "simple_payback_years": simple_payback(flows),
        "discounted_payback_years": discounted_payback(flows, fin.discount_rate),
        "irr": irr(flows),
        "lcos_per_kwh": None if lc is None else lc.per_kwh,
        "lcos_per_kwh_excl_charging": None if lc is None else lc.per_kwh_without_charging,
        "resilience_hours": res,
        "renewable_share": _renewable_share(load, pv_used, d1, dt),
        "renewable_share_pv_only": _renewable_share(load, pv_only_used, None, dt),
        "renewable_share_baseline": 0.0,
        "gpu_hours_lost": year.extra.get("gpu_hours_lost", {"project": None, "without_storage": None}),
        "storage_year1": {
            "discharge_kwh": d1.discharge_kwh,
            "charge_kwh": d1.charge_kwh,
            "charge_from_grid_kwh": d1.charge_from_grid_kwh,
            "charge_from_pv_kwh": d1.charge_from_pv_kwh,
            "curtailed_kwh": d1.curtailed_kwh,
            "export_kwh": d1.export_kwh,
        },
        "notes": list(year.extra.get("notes", [])),
    }
    roi["claims"] = _claims(spec, roi)
    series: dict[str, np.ndarray] = {
        "timestamp": ts,
        "load_kw": load,
        "pv_kw": np.zeros_like(load) if first["pv"] is None else first["pv"],
        "battery_kw": d1.battery_kw,
        "grid_kw": d1.grid_kw,
        "soc": d1.soc[:-1],
    }
    if opt_d is not None:
        series.update(
            battery_kw_optimum=opt_d.battery_kw, grid_kw_optimum=opt_d.grid_kw, soc_optimum=opt_d.soc[:-1]
        )
    say("done", 1.0)
    return roi, series


def _scaled_year(
    first: dict[str, Any], cf: float, pv_only: dict[str, Any], tariff: Tariff, ts: np.ndarray, dt: float
) -> tuple[DispatchResult, dict[str, Any]]:
    """A later year of a site study: year 1's dispatch with its battery power scaled by the
    usable-energy ratio (arbitrage and shaving both shrink with the energy behind them)."""
    d1: DispatchResult = first["dispatch"]
    ratio = cf / first["cf"] if first["cf"] > 0 else 0.0
    grid = d1.grid_kw + d1.battery_kw * (1.0 - ratio)
    d = replace(
        d1,
        battery_kw=d1.battery_kw * ratio,
        grid_kw=grid,
        charge_from_pv_kw=d1.charge_from_pv_kw * ratio,
        charge_from_grid_kw=d1.charge_from_grid_kw * ratio,
    )
    return d, bill_summary(compute_bill(tariff, ts, grid, dt * 3600.0), first["project"]["load_kwh"])


def _echo(study: Study, tariff: Tariff) -> dict[str, Any]:
    spec = study.spec
    return {
        "name": spec.study,
        "title": spec.title,
        "file": str(study.path),
        "site": spec.load.site,
        "tariff": tariff.tariff_id,
        "dispatch": spec.dispatch.kind,
        "years": spec.finance.horizon_years,
        "start": spec.calendar.start,
        "timezone": spec.calendar.timezone,
        "step_s": spec.calendar.step,
        "days": spec.calendar.days,
        "inputs": spec.model_dump(mode="json"),
    }


def _claims(spec: StudyFile, roi: dict[str, Any]) -> list[dict[str, Any]]:
    """Each claim against the simulated year: supported when within its relative tolerance."""
    out: list[dict[str, Any]] = []
    for c in spec.claims:
        base, proj = _metric(c.metric, roi)
        checks: list[bool] = []
        sim: list[str] = []
        claimed: list[str] = []
        for label, want, got in (("without", c.baseline, base), ("with", c.project, proj)):
            if want is None:
                continue
            claimed.append(f"{label}: {want:g}")
            if got is None:
                sim.append(f"{label}: not simulated")
                continue
            sim.append(f"{label}: {got:.4g}")
            scale = max(abs(want), 1e-9)
            checks.append(abs(got - want) <= c.tolerance * scale or (want == 0 and abs(got) <= c.tolerance))
        supported = None if not checks else all(checks)
        why = (
            "no simulated figure"
            if supported is None
            else (f"within ±{c.tolerance:.0%}" if supported else f"outside ±{c.tolerance:.0%} of the claim")
        )
        out.append(
            {
                "claim": c.claim,
                "metric": c.metric,
                "value_claimed": "; ".join(claimed),
                "simulated": "; ".join(sim),
                "supported": supported,
                "why": why + (f"; {' '.join(c.note.split())}" if c.note else ""),
            }
        )
    return out


def _metric(metric: str, roi: dict[str, Any]) -> tuple[float | None, float | None]:
    b, p = roi["baseline"], roi["project"]
    if metric == "avg_price_per_kwh":
        return b["avg_price_per_kwh"], p["avg_price_per_kwh"]
    if metric == "peak_kw":
        return max(b["peak_kw_by_month"].values()), max(p["peak_kw_by_month"].values())
    if metric == "renewable_share":
        return roi["renewable_share_baseline"], roi["renewable_share"]
    if metric == "gpu_hours_lost":
        g = roi["gpu_hours_lost"] or {}
        return g.get("without_storage"), g.get("project")
    if metric == "simple_payback_years":
        return None, roi["simple_payback_years"]
    raise ValueError(metric)
