"""The bill of a run folder (its trace's grid import under a tariff) and how bills are shown:
a terminal table (``hil bill``, ``hil demo``) and a short Markdown summary (``bill.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from hil.trace.store import read_trace, read_trace_schema
from twin.econ import Bill, Tariff, compute_bill
from twin.econ.optimum import optimal_dispatch
from twin.econ.storage import StorageSpec

__all__ = [
    "IMPORT_COLUMN",
    "LOCAL_TIME_COLUMN",
    "bill_markdown",
    "bill_table",
    "bill_trace",
    "run_bill",
    "site_storage",
    "trace_import",
]

IMPORT_COLUMN = "grid.p_import_kw"
LOCAL_TIME_COLUMN = "site.local_time"
LOCAL_TIME_S = "site.local_time_s"  # the same clock in float seconds (1970-01-01 local)
#: the meter's exact accumulators (Σ max(p, 0)·dt every tick), used when the trace has them
COUNTERS = ("grid.import_kwh", "grid.export_kwh")
#: the battery's AC energy books, for the bill the same run would have had without storage
BESS_COUNTERS = ("bess.discharge_kwh", "bess.charge_kwh")


def _col(table: Any, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)


def trace_import(out_dir: Path, *, start: str = "2026-01-01T00:00", without_storage: bool = False) -> Any:
    """The trace's grid import as billable intervals: ``(ts, p_import_kw, interval_s)``.

    With the meter's accumulators in the trace (every run since 0.1: ``grid.import_kwh`` and
    ``grid.export_kwh``), each interval's power is the exact energy between two rows over their
    spacing, so a trace kept every minute bills the same as one kept every tick; a row's
    interval ends at its own time. Without them each row's instantaneous ``grid.p_import_kw``
    is held until the next row. ``without_storage`` adds the battery's net AC output back
    (from ``bess.discharge_kwh``/``bess.charge_kwh``): the import of the same run with no storage
    (its auxiliaries included, since the site would not have them either).
    """
    names = set(read_trace_schema(out_dir).names)
    exact = all(c in names for c in COUNTERS)
    if not exact and IMPORT_COLUMN not in names:
        raise KeyError(f"{out_dir}: the trace has neither {IMPORT_COLUMN!r} nor the meter accumulators")
    if without_storage and not all(c in names for c in BESS_COUNTERS):
        raise KeyError(f"{out_dir}: the trace has no battery energy books {BESS_COUNTERS}")
    cols = ["t_s"] + (list(COUNTERS) if exact else [IMPORT_COLUMN])
    cols += list(BESS_COUNTERS) if without_storage else []
    cols += [c for c in (LOCAL_TIME_S, LOCAL_TIME_COLUMN) if c in names]
    table = read_trace(out_dir, cols)
    t_s = _col(table, "t_s")
    if t_s.size == 0:
        raise ValueError(f"{out_dir}: the trace is empty")
    if LOCAL_TIME_S in names:  # float seconds: sub-second traces keep distinct stamps
        ms = np.round(_col(table, LOCAL_TIME_S) * 1000.0).astype(np.int64)
        local = ms.astype("datetime64[ms]")
    elif LOCAL_TIME_COLUMN in names:  # whole seconds
        local = np.asarray(table.column(LOCAL_TIME_COLUMN).to_numpy(zero_copy_only=False)).astype(
            "datetime64[ms]"
        )
    else:
        try:
            t0 = np.datetime64(start, "ms")
        except ValueError:
            raise ValueError(f"--start {start!r} is not a local time like 2026-07-01T00:00") from None
        local = t0 + np.round(t_s * 1000.0).astype(np.int64).astype("timedelta64[ms]")
    interval_s = float(np.median(np.diff(t_s))) if t_s.size > 1 else 1.0
    if exact:
        net = _col(table, COUNTERS[0]) - _col(table, COUNTERS[1])
        if without_storage:
            net = net + _col(table, BESS_COUNTERS[0]) - _col(table, BESS_COUNTERS[1])
        # the first row's interval starts one spacing earlier, where the books were zero if the
        # run started there (a fresh site); otherwise the first row only opens the books
        if abs(t_s[0] - interval_s) < 1e-6 * max(1.0, interval_s) or t_s.size == 1:
            e = np.concatenate([[0.0], net])
            starts = local - np.int64(round(interval_s * 1000.0)).astype("timedelta64[ms]")
        else:
            e, starts = net, local[:-1]
        p = np.diff(e) / (interval_s / 3600.0)
        return starts.astype("datetime64[ms]")[: p.size], p, interval_s
    p = _col(table, IMPORT_COLUMN)
    if without_storage:
        raise KeyError(f"{out_dir}: a bill without storage needs the meter accumulators in the trace")
    return local, p, interval_s


def bill_trace(
    out_dir: Path, tariff: Tariff, *, start: str = "2026-01-01T00:00", without_storage: bool = False
) -> Bill:
    """The bill of a run folder's grid import (see :func:`trace_import`)."""
    ts, p, interval_s = trace_import(out_dir, start=start, without_storage=without_storage)
    return compute_bill(tariff, ts, p, interval_s)


def site_storage(site: Any) -> Any:
    """The site's storage as the optimum sees it: nameplate energy, the PCSs' rated power, the
    BMS's SoC window; one-way efficiencies of 0.95 stand for the PCS and cells (the twin's own
    round trip at moderate power is close to 0.9)."""
    p = site.params
    return StorageSpec(
        energy_kwh=float(site.battery.capacity_kwh_nominal()) * p.battery.n_cabinets,  # per cabinet
        power_kw=float(p.pcs.p_rated_kw * p.battery.n_cabinets),
        soc_min=float(p.bms.soc_min),
        soc_max=float(p.bms.soc_max),
        eta_charge=0.95,
        eta_discharge=0.95,
    )


OPTIMUM_COLUMNS = ("bess.aux_kwh", "pv.energy_kwh", "bess.energy_kwh")
#: the step the optimum of a run is solved at (a trace finer than this is averaged to it)
OPTIMUM_STEP_S = 60.0


def bucket_means(
    ts: np.ndarray, series: tuple[np.ndarray, ...], interval_s: float, step_s: float = OPTIMUM_STEP_S
) -> tuple[np.ndarray, tuple[np.ndarray, ...], float]:
    """Average intervals of ``interval_s`` into buckets of ``k = round(step_s / interval_s)``
    consecutive intervals (from the first), never across a calendar month; returns the bucket
    starts, the bucket-mean series and the bucket length. A month's last bucket may hold fewer
    than ``k`` intervals: its mean is its energy over a whole bucket, so energy is kept exactly
    (that bucket's power is understated). Intervals already ``step_s`` or longer are returned
    as they are."""
    k = round(step_s / interval_s)
    if k <= 1:
        return ts, series, interval_s
    months = ts.astype("datetime64[M]")
    first = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    # bucket index of every interval: counted from each month's first interval
    pos = np.arange(ts.size) - np.repeat(first, np.diff(np.r_[first, ts.size]))
    new_bucket = (pos % k) == 0
    bucket = np.cumsum(new_bucket) - 1
    starts = ts[new_bucket]
    out = tuple(np.bincount(bucket, weights=x, minlength=starts.size) / k for x in series)
    return starts, out, k * interval_s


def _optimum(out_dir: Path, tariff: Tariff, start: str, storage: Any, base_total: float) -> dict[str, Any]:
    """The perfect-foresight dispatch of the run's window: the same load (grid + battery AC −
    storage auxiliaries) and PV, the site's storage starting from the run's first stored energy
    and ending each month with at least what the run had stored then (so neither is credited
    for emptying the battery)."""
    ts, p_grid_noess, interval_s = trace_import(out_dir, start=start, without_storage=True)
    table = read_trace(out_dir, ["t_s", *OPTIMUM_COLUMNS])
    h = interval_s / 3600.0

    def rate(name: str) -> np.ndarray:
        e = _col(table, name)
        return np.diff(np.concatenate([[0.0], e]))[-ts.size :] / h

    aux, pv = rate("bess.aux_kwh"), rate("pv.energy_kwh")
    load = p_grid_noess - aux + pv
    stored = _col(table, "bess.energy_kwh")[-ts.size :]  # at each interval's end
    e0 = float(stored[0])  # the first recorded row stands for the start (one interval in)
    months = ts.astype("datetime64[M]")
    last = np.flatnonzero(np.r_[months[1:] != months[:-1], True])
    end = {str(months[i]): float(stored[i]) for i in last}  # the run's stored energy at month ends
    # the LP at the trace's step would be millions of variables for a day at 100 ms; the
    # optimum is solved on OPTIMUM_STEP_S means (energy kept exactly, month by month)
    ts_b, (load_b, pv_b), step_s = bucket_means(ts, (load, pv), interval_s)
    res = optimal_dispatch(
        tariff,
        ts_b,
        load_b,
        pv_b if pv_b.any() else None,
        storage,
        step_s / 3600.0,
        e0_kwh=e0,
        end_energy_kwh=end,
    )
    opt = compute_bill(tariff, ts_b, res.dispatch.grid_kw, step_s).to_dict()
    return {
        "total": opt["total"],
        "savings": base_total - opt["total"],
        "peak_kw_by_month": {m["month"]: m["measured_peak_kw"] for m in opt["months"]},
        "storage": {
            "energy_kwh": storage.energy_kwh,
            "power_kw": storage.power_kw,
            "soc_min": storage.soc_min,
            "soc_max": storage.soc_max,
            "eta_charge": storage.eta_charge,
            "eta_discharge": storage.eta_discharge,
        },
    }


def run_bill(
    out_dir: Path, tariff: Tariff, *, start: str = "2026-01-01T00:00", storage: Any = None
) -> dict[str, Any]:
    """What a run's ``results.json`` says of its bill: the run billed as recorded, the same
    run without its storage (when the trace has the battery's books), and the savings.

    Given the site's ``storage`` (:func:`site_storage`), it also solves the perfect-foresight
    optimum of the same window (``optimum``) and scores the run: ``optimum_share`` is the
    run's storage savings over the optimum's.

    A run shorter than a month bills a partial month: energy and the 15-minute peak are the
    run's; monthly fixed charges are prorated; the demand charge is the full month's rate on the
    run's peak (a peak is a peak), so it weighs more in a short run than in a month's bill."""
    try:
        billed = bill_trace(out_dir, tariff, start=start)
    except (KeyError, ValueError) as exc:
        return {"tariff_id": tariff.tariff_id, "error": str(exc)}
    d = billed.to_dict()
    out: dict[str, Any] = {
        k: d[k]
        for k in (
            "tariff_id",
            "currency",
            "total",
            "energy_cost",
            "demand_cost",
            "fixed_cost",
            "export_credit",
        )
    }
    out["export_credit"] = d["export_credit"]
    out["energy_kwh"] = d["energy_kwh"]
    out["export_kwh"] = d["export_kwh"]
    out["peak_kw_by_month"] = {m["month"]: m["measured_peak_kw"] for m in d["months"]}
    out["months"] = d["months"]
    try:
        base = bill_trace(out_dir, tariff, start=start, without_storage=True).to_dict()
    except (KeyError, ValueError):
        return out
    keys = ("total", "energy_cost", "demand_cost", "fixed_cost", "export_credit", "energy_kwh")
    out["without_storage"] = {k: base[k] for k in keys}
    out["without_storage"]["peak_kw_by_month"] = {m["month"]: m["measured_peak_kw"] for m in base["months"]}
    out["savings"] = {
        "total": base["total"] - d["total"],
        "energy": base["energy_cost"] - d["energy_cost"],
        "demand": base["demand_cost"] - d["demand_cost"],
        "fixed": base["fixed_cost"] - d["fixed_cost"],
        "export": d["export_credit"] - base["export_credit"],
    }
    names = set(read_trace_schema(out_dir).names)
    if storage is not None and all(c in names for c in OPTIMUM_COLUMNS):
        try:
            opt = _optimum(out_dir, tariff, start, storage, base["total"])
        except (ArithmeticError, ValueError, RuntimeError) as exc:  # a failed LP must not lose the bill
            out["optimum"] = {"error": str(exc)}
        else:
            out["optimum"] = opt
            best = opt["savings"]
            out["optimum_share"] = out["savings"]["total"] / best if best > 1e-9 else None
    return out


def bill_table(result: Bill, tariff_id: str) -> Table:
    """A bill's line items by month, as ``hil bill`` and ``hil demo`` print them."""
    cur = result.currency
    t = Table(title=f"bill under {tariff_id} ({cur})")
    for col, justify in (("month", "left"), ("item", "left"), ("quantity", "right"), ("rate", "right")):
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    t.add_column(f"amount {cur}", justify="right")
    for m in result.months:
        tag = f"{m.month}" + (f" ({m.coverage:.1%} of the month)" if m.partial else "")
        for it in m.items:
            rate = "" if it.rate is None else f"{it.rate:,.4g}"
            t.add_row(
                tag, f"{it.kind}: {it.name}", f"{it.quantity:,.1f} {it.unit}", rate, f"{it.amount:,.2f}"
            )
            tag = ""
        if not m.export_credited and m.export_kwh >= 0.05:
            t.add_row("", "export (not credited)", f"{m.export_kwh:,.1f} kWh", "", "0.00")
        t.add_row("", "[b]month total[/]", f"peak {m.peak_kw:,.1f} kW", "", f"[b]{m.total:,.2f}[/]")
    t.add_row("[b]total[/]", "", f"{result.import_kwh:,.1f} kWh", "", f"[b]{result.total:,.2f}[/]")
    return t


def bill_markdown(result: Bill, source: str) -> str:
    """A short Markdown summary: totals, then one row a month."""
    d = result.to_dict()
    cur = result.currency
    avg = d["average_price_per_kwh"]
    lines = [
        f"# Bill under {result.tariff_id}",
        "",
        f"Load: `{source}`",
        "",
        f"- **Total {d['total']:,.2f} {cur}** for {d['energy_kwh']:,.1f} kWh"
        + (f" ({avg:.4f} {cur}/kWh)" if avg is not None else ""),
        f"- energy {d['energy_cost']:,.2f}, demand {d['demand_cost']:,.2f}, fixed {d['fixed_cost']:,.2f},"
        f" export credit {d['export_credit']:,.2f} {cur}",
        "",
        f"| month | kWh | energy {cur} | billed peak kW | demand {cur} | fixed {cur} | export {cur}"
        f" | total {cur} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in d["months"]:
        tag = m["month"] + (f" ({m['coverage']:.1%})" if m["partial"] else "")
        lines.append(
            f"| {tag} | {m['energy_kwh']:,.1f} | {m['energy_cost']:,.2f} | {m['peak_kw']:,.1f} |"
            f" {m['demand_cost']:,.2f} | {m['fixed_cost']:,.2f} | {m['export_credit']:,.2f}"
            f" | {m['total']:,.2f} |"
        )
    return "\n".join(lines) + "\n"
