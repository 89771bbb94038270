"""The figures of the ROI report (:mod:`hil.roi_report`), each drawn from plain arrays and dicts.

Every function writes one PNG and returns its bytes; a figure with nothing to show says so in
the axes instead of failing, so a study without PV, without an optimum run or without a series
still gets a complete report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import FuncFormatter

from ._render import new_figure, num, save_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "COLORS",
    "pick_days",
    "plot_battery_life",
    "plot_cash_flow",
    "plot_days",
    "plot_monthly",
    "plot_vs_optimum",
]

#: One colour per case, the same in every figure.
COLORS = {
    "baseline": "#7f7f7f",
    "PV only": "#e6a700",
    "project": "#1f77b4",
    "optimum": "#2ca02c",
}
_FLOWS = {"load": "#444444", "PV": "#e6a700", "battery": "#d62728", "grid import": "#1f77b4"}


def _thousands(ax: Axes, axis: str = "y") -> None:
    fmt = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if (v := num(x)) is None else v for x in values], dtype=float)


def plot_monthly(
    cases: Mapping[str, Mapping[str, Any]], *, ylabel: str, title: str, path: Path, scale: float = 1.0
) -> bytes:
    """Grouped bars, one group per month (``YYYY-MM`` keys), one bar per case; values / ``scale``."""
    fig = new_figure(12.0, 4.2)
    fig.subplots_adjust(left=0.08, right=0.99, top=0.9, bottom=0.14)
    ax = fig.subplots()
    months = sorted({m for vals in cases.values() for m in vals})
    if not months:
        _empty(ax, "no monthly figures in roi.json")
        return save_png(fig, path)
    x = np.arange(len(months))
    width = 0.8 / max(len(cases), 1)
    for k, (label, vals) in enumerate(cases.items()):
        y = _floats([vals.get(m) for m in months]) / scale
        offset = (k - (len(cases) - 1) / 2) * width
        ax.bar(x + offset, y, width, label=label, color=COLORS.get(label))
    ax.set_xticks(x, months, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    _thousands(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(cases), loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return save_png(fig, path)


def pick_days(t: np.ndarray, grid_kw: np.ndarray, dt_h: float) -> list[tuple[str, np.datetime64]]:
    """The typical days to draw: the median day by project grid import, and the peak day.

    Only complete days count for the median; the peak day is the day of the year's highest
    15-minute project import (the one that sets that month's demand charge). One entry if both
    are the same day.
    """
    if t.size == 0:
        return []
    days = t.astype("datetime64[D]")
    uniq, start, count = np.unique(days, return_index=True, return_counts=True)
    energy = np.add.reduceat(np.nan_to_num(grid_kw), start) * dt_h
    full = count == count.max()
    cand = np.flatnonzero(full)
    order = cand[np.argsort(energy[cand], kind="stable")]
    median_day = uniq[order[order.size // 2]]
    peak_day = days[int(np.nanargmax(grid_kw))] if np.isfinite(grid_kw).any() else median_day
    out = [(f"median day by project grid import ({median_day})", median_day)]
    if peak_day != median_day:
        out.append((f"day of the year's highest project import ({peak_day})", peak_day))
    return out


def _step(ax: Axes, h: np.ndarray, y: np.ndarray, dt_h: float, **kw: Any) -> None:
    """Interval-start samples drawn as steps that hold to the end of the last interval."""
    ax.step(np.append(h, h[-1] + dt_h), np.append(y, y[-1]), where="post", **kw)


def plot_days(
    series: Mapping[str, np.ndarray], days: Sequence[tuple[str, np.datetime64]], dt_h: float, path: Path
) -> bytes:
    """Load, PV, battery, grid import (and the optimum's import) over a day, SoC beneath."""
    ncol = max(len(days), 1)
    fig = new_figure(6.5 * ncol, 6.0)
    fig.subplots_adjust(left=0.11 / ncol, right=0.99, top=0.88, bottom=0.09, hspace=0.12, wspace=0.15)
    axes = fig.subplots(2, ncol, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [2.2, 1.0]})
    if not days:
        _empty(axes[0, 0], "no series (roi_series.parquet) to draw")
        _empty(axes[1, 0], "")
        return save_png(fig, path)
    t = series["timestamp"]
    day_of = t.astype("datetime64[D]")
    for k, (label, day) in enumerate(days):
        sel = day_of == day
        h = (t[sel] - day).astype("timedelta64[s]").astype(float) / 3600.0
        ax, ax_soc = axes[0, k], axes[1, k]
        for name, col in (("load", "load_kw"), ("PV", "pv_kw"), ("battery", "battery_kw")):
            if col in series:
                _step(ax, h, series[col][sel], dt_h, color=_FLOWS[name], lw=1.2, label=f"{name} [kW]")
        if "grid_kw" in series:
            _step(
                ax, h, series["grid_kw"][sel], dt_h, color=_FLOWS["grid import"], lw=2.0, label="grid import"
            )
        if "grid_kw_optimum" in series:
            _step(
                ax,
                h,
                series["grid_kw_optimum"][sel],
                dt_h,
                color=COLORS["optimum"],
                lw=1.4,
                ls="--",
                label="grid import, optimum",
            )
        ax.axhline(0.0, color="#999999", lw=0.6)
        ax.set_title(label, fontsize=10, loc="left")
        _thousands(ax)
        ax.grid(True, alpha=0.3)
        if "soc" in series:
            _step(ax_soc, h, 100 * series["soc"][sel], dt_h, color=COLORS["project"], lw=1.4, label="SoC")
        if "soc_optimum" in series:
            soc_opt = 100 * series["soc_optimum"][sel]
            _step(ax_soc, h, soc_opt, dt_h, color=COLORS["optimum"], lw=1.2, ls="--", label="SoC, optimum")
        ax_soc.set_ylim(0, 100)
        ax_soc.set_xlim(0, 24)
        ax_soc.set_xticks(range(0, 25, 3))
        ax_soc.set_xlabel("hour of day (local)")
        ax_soc.grid(True, alpha=0.3)
        if k == 0:
            ax.set_ylabel("power [kW]  (battery + = discharge)")
            ax_soc.set_ylabel("SoC [%]")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=len(labels), loc="upper center", frameon=False)
    axes[1, 0].legend(fontsize=7, ncol=2, loc="upper left", framealpha=0.9)
    return save_png(fig, path)


def plot_battery_life(
    series: Mapping[str, np.ndarray] | None, years: Sequence[Mapping[str, Any]], path: Path
) -> bytes:
    """Year-1 daily SoC range from the series, then usable energy and SoH year by year."""
    fig = new_figure(12.0, 6.0)
    fig.subplots_adjust(left=0.08, right=0.92, top=0.94, bottom=0.09, hspace=0.35)
    ax_soc, ax_cap = fig.subplots(2, 1)
    if series is not None and "soc" in series and series["timestamp"].size:
        days = series["timestamp"].astype("datetime64[D]")
        uniq, start = np.unique(days, return_index=True)
        soc = 100 * series["soc"]
        lo, hi = np.fmin.reduceat(soc, start), np.fmax.reduceat(soc, start)
        mean = np.add.reduceat(soc, start) / np.diff(np.append(start, soc.size))
        d = np.arange(uniq.size) + 1
        ax_soc.fill_between(d, lo, hi, color=COLORS["project"], alpha=0.25, lw=0, label="daily min–max")
        ax_soc.plot(d, mean, color=COLORS["project"], lw=1.0, label="daily mean")
        ax_soc.set_xlim(1, max(int(uniq.size), 2))
        ax_soc.set_ylim(0, 100)
        ax_soc.set_xlabel(f"day of the simulated year (from {uniq[0]})")
        ax_soc.set_ylabel("SoC [%]")
        ax_soc.set_title("state of charge, year 1 (project dispatch)", fontsize=10, loc="left")
        ax_soc.legend(fontsize=8, loc="lower right")
        ax_soc.grid(True, alpha=0.3)
    else:
        _empty(ax_soc, "no SoC series (roi_series.parquet)")
    if not years:
        _empty(ax_cap, "no year-by-year figures in roi.json")
        return save_png(fig, path)
    y = np.array([int(r.get("year") or k + 1) for k, r in enumerate(years)])
    usable = _floats([r.get("usable_kwh") for r in years])
    soh = _floats([r.get("soh") for r in years])
    ax_cap.bar(y, usable, 0.6, color=COLORS["project"], alpha=0.6, label="usable energy [kWh]")
    ax_cap.set_ylabel("usable energy [kWh]")
    ax_cap.set_xlabel("project year")
    ax_cap.set_xticks(y)
    _thousands(ax_cap)
    ax_cap.grid(True, axis="y", alpha=0.3)
    ax_soh = ax_cap.twinx()
    ax_soh.plot(y, 100 * soh, color="#d62728", marker="o", lw=1.4, label="SoH [%]")
    ax_soh.set_ylabel("SoH [%]")
    lo_soh = np.nanmin(100 * soh) if np.isfinite(soh).any() else 0.0
    ax_soh.set_ylim(max(0.0, min(lo_soh - 5, 80.0)), 102)
    ax_cap.set_title("usable energy and state of health at each year's start", fontsize=10, loc="left")
    h1, l1 = ax_cap.get_legend_handles_labels()
    h2, l2 = ax_soh.get_legend_handles_labels()
    ax_cap.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    return save_png(fig, path)


def plot_cash_flow(
    years: Sequence[Mapping[str, Any]],
    *,
    capex: float | None,
    simple_pb: float | None,
    discounted_pb: float | None,
    currency: str,
    path: Path,
) -> bytes:
    """Net cash flow per year (bars) and cumulative cash flow, simple and discounted; paybacks marked."""
    fig = new_figure(12.0, 4.6)
    fig.subplots_adjust(left=0.11, right=0.99, top=0.91, bottom=0.12)
    ax = fig.subplots()
    if not years:
        _empty(ax, "no year-by-year figures in roi.json")
        return save_png(fig, path)
    c0 = -(capex or 0.0)
    y = np.array([0, *(int(r.get("year") or k + 1) for k, r in enumerate(years))])
    net = np.array([c0, *_floats([r.get("net") for r in years])])
    cum = np.array([c0, *_floats([r.get("cumulative") for r in years])])
    cum_d = np.array([c0, *_floats([r.get("cumulative_discounted") for r in years])])
    ax.bar(y, net, 0.5, color=["#ef9a9a" if v < 0 else "#90caf9" for v in np.nan_to_num(net)], label="net")
    ax.plot(y, cum, color=COLORS["project"], marker="o", lw=1.6, label="cumulative")
    ax.plot(y, cum_d, color="#6a1b9a", marker="s", lw=1.4, ls="--", label="cumulative, discounted")
    ax.axhline(0.0, color="#333333", lw=0.8)
    marks = ((simple_pb, "simple", COLORS["project"], 0.96), (discounted_pb, "discounted", "#6a1b9a", 0.88))
    for pb, name, color, y_axes in marks:
        if pb is not None:
            ax.axvline(pb, color=color, lw=1.0, ls=":")
            ax.text(
                pb,
                y_axes,
                f" {name} payback {pb:.2f} y",
                transform=ax.get_xaxis_transform(),
                fontsize=8,
                color=color,
                va="top",
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.0},
            )
    ax.set_xticks(y)
    ax.set_xlabel("project year (0 = investment)")
    ax.set_ylabel(f"cash flow [{currency}]")
    ax.set_title("cash flow: net per year and cumulative", fontsize=10, loc="left")
    _thousands(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save_png(fig, path)


def plot_vs_optimum(
    project: Mapping[str, Any] | None,
    optimum: Mapping[str, Any] | None,
    *,
    pv: Mapping[str, Any] | None,
    share: float | None,
    currency: str,
    path: Path,
) -> bytes:
    """Year-1 savings of this EMS and of the perfect-foresight optimum, stacked by charge.

    With PV (``pv`` = baseline − PV-only savings, split the same way), PV's part is drawn
    first and apart, the same in both bars, so the rest shows what the storage dispatch earns.
    """
    fig = new_figure(8.0, 4.6)
    fig.subplots_adjust(left=0.15, right=0.68, top=0.9, bottom=0.1)
    ax = fig.subplots()
    bars = [(label, s) for label, s in (("this EMS", project), ("optimum (perfect foresight)", optimum)) if s]
    if not bars:
        _empty(ax, "no savings in roi.json")
        return save_png(fig, path)

    def col(key: str, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([num(r.get(key)) or 0.0 for r in rows])

    rows = [s for _, s in bars]
    totals, energy, demand = col("total", rows), col("energy", rows), col("demand", rows)
    other = totals - energy - demand
    who = ""
    parts: list[tuple[str, np.ndarray, str]] = []
    if pv is not None:
        p_rows = [pv] * len(rows)
        p_tot, p_en, p_dem = col("total", p_rows), col("energy", p_rows), col("demand", p_rows)
        parts.append(("PV (same in both)", p_tot, COLORS["PV only"]))
        energy, demand, other = energy - p_en, demand - p_dem, other - (p_tot - p_en - p_dem)
        who = "storage: "
    parts += [
        (f"{who}energy", energy, "#1f77b4"),
        (f"{who}demand", demand, "#ff7f0e"),
        (f"{who}other (fixed, export)", other, "#9e9e9e"),
    ]
    x = np.arange(len(bars))
    bottom_pos, bottom_neg = np.zeros(len(bars)), np.zeros(len(bars))
    for name, vals, color in parts:
        base = np.where(vals >= 0, bottom_pos, bottom_neg)
        ax.bar(x, vals, 0.55, bottom=base, color=color, label=name)
        bottom_pos += np.clip(vals, 0, None)
        bottom_neg += np.clip(vals, None, 0)
    for k, tot in enumerate(totals):
        ax.annotate(
            f"{tot:,.0f}",
            (x[k], max(bottom_pos[k], tot)),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.set_xticks(x, [label for label, _ in bars], fontsize=9)
    ax.set_ylabel(f"year-1 bill savings [{currency}]")
    title = "this EMS against the optimum"
    if share is not None:
        title += f": {100 * share:.1f} % of what was possible"
    elif optimum is None:
        title += " (no optimum run)"
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylim(min(0.0, float(bottom_neg.min()) * 1.1), max(1.0, float(bottom_pos.max()) * 1.12))
    _thousands(ax)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return save_png(fig, path)
