"""The figures: key-signal panels (a min/max envelope per pixel column) and the timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hil.trace.store import read_trace
from twin.signals import parse_name

from .._render import new_figure as _new_figure
from .._render import num as _num
from .._render import save_png as _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from ..scenario.names import DEFAULT_KEY_SIGNALS  # plotted when the run names none
from .load import ENVELOPE_BUCKETS, MAX_EVENT_LINES, MAX_PANELS, _Run


@dataclass
class _Panel:
    name: str
    label: str
    columns: list[str]
    expectations: list[dict[str, Any]] = field(default_factory=list)


def _columns_for(name: str, columns: Sequence[str], groups: Mapping[str, list[str]]) -> list[str]:
    """``name`` itself, or every ``dev[i].sig`` column for ``dev.sig`` or ``dev[*].sig``."""
    if name in columns:
        return [name]
    return groups.get(name.replace("[*].", ".", 1), [])


def _panels(run: _Run) -> list[_Panel]:
    groups: dict[str, list[str]] = {}
    for c in run.columns:
        parsed = parse_name(c)
        if parsed is not None and isinstance(parsed[1], int):
            groups.setdefault(f"{parsed[0]}.{parsed[2]}", []).append(c)
    wanted = [str(s) for s in run.info.get("key_signals") or []]
    if not wanted:
        wanted = [s for s in DEFAULT_KEY_SIGNALS if s in run.columns]
    by_signal: dict[str, list[dict[str, Any]]] = {}
    for e in run.expectations:
        sig = e.get("signal")
        if sig:
            by_signal.setdefault(str(sig), []).append(e)
            if sig not in wanted:
                wanted.append(str(sig))
    pacing = str(run.info.get("pacing") or "")
    if pacing.startswith("real") and "runner.lag_s" in run.columns:
        wanted.append("runner.lag_s")
    panels: list[_Panel] = []
    missing: list[str] = []
    for name in dict.fromkeys(wanted):
        cols = _columns_for(name, run.columns, groups)
        if not cols:
            missing.append(name)
            continue
        label = name if len(cols) == 1 else f"{name} (min–max of {len(cols)} units)"
        panels.append(_Panel(name, label, cols, by_signal.get(name, [])))
    if missing and run.columns:
        run.notes.append(f"not in the trace, not plotted: {', '.join(missing)}")
    if len(panels) > MAX_PANELS:
        run.notes.append(f"only the first {MAX_PANELS} of {len(panels)} signals are plotted")
        panels = panels[:MAX_PANELS]
    return panels


def _envelope(
    t: np.ndarray, lo: np.ndarray, hi: np.ndarray, buckets: int = ENVELOPE_BUCKETS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max per bucket of consecutive samples, so a long trace draws fast and keeps spikes.

    NaNs are ignored (``fmin``/``fmax``); a bucket of only NaNs stays NaN, without warnings.
    """
    n = t.shape[0]
    if n <= 2 * buckets:
        return t, lo, hi
    idx = np.unique(np.linspace(0, n, buckets, endpoint=False).astype(np.intp))
    return t[idx], np.fmin.reduceat(lo, idx), np.fmax.reduceat(hi, idx)


def _time_unit(span_s: float) -> tuple[str, float]:
    if span_s <= 120:
        return "s", 1.0
    if span_s <= 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def _window(e: Mapping[str, Any], t_end: float) -> tuple[float, float] | None:
    w = e.get("window")
    if not isinstance(w, (list, tuple)) or not w:
        return None
    a = _num(w[0])
    b = _num(w[1]) if len(w) > 1 else None
    a = 0.0 if a is None else a
    return a, t_end if b is None else b


def _fault_span(f: Mapping[str, Any], t_end: float) -> tuple[float, float] | None:
    a = _num(f.get("start_s"))
    if a is None:
        return None
    b = _num(f.get("end_s"))
    return a, max(a, t_end if b is None else b)


def _event_times(events: pa.Table | None, kind: str) -> tuple[np.ndarray, list[str]]:
    if events is None or events.num_rows == 0:
        return np.empty(0), []
    sel = events.filter(pc.equal(events["kind"], kind))
    t = sel["t_s"].to_numpy(zero_copy_only=False)
    src, tgt, det = sel["source"].to_pylist(), sel["target"].to_pylist(), sel["detail"].to_pylist()
    # the twin's transitions read best as unit and what happened ("grid DEAD", "pcs[0] FAULT")
    names = [
        f"{g} {d}" if s == "twin" else " ".join(p for p in (s, g) if p)
        for s, g, d in zip(src, tgt, det, strict=True)
    ]
    return t, names


def _plot_signals(run: _Run, panels: list[_Panel], path: Path) -> bytes:
    t_end = run.t_end
    unit, scale = _time_unit(t_end - run.t_first)
    n = max(len(panels), 1)
    fig = _new_figure(12.0, 1.0 + 1.7 * n)
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.55 / (1.0 + 1.7 * n), bottom=0.6 / (1.0 + 1.7 * n))
    axes: list[Axes] = list(np.atleast_1d(fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]))
    if not panels:
        axes[0].text(0.5, 0.5, "no trace to plot", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_yticks([])
        return _save(fig, path)

    table = read_trace(run.out_dir, columns=["t_s", *dict.fromkeys(c for p in panels for c in p.columns)])
    t = table["t_s"].to_numpy() - run.t0
    ev_t, _ = _event_times(run.events, "event")
    draw_events = ev_t.size <= MAX_EVENT_LINES
    if not draw_events:
        run.notes.append(f"{ev_t.size} scenario events: too many to draw as lines")
    spans = [s for f in run.faults if (s := _fault_span(f, t_end)) is not None]
    colors = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2"]
    for k, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        color = colors[k % len(colors)]
        if len(panel.columns) == 1:
            y = table[panel.columns[0]].to_numpy()
            lo = hi = y
        else:
            stack = np.vstack([table[c].to_numpy() for c in panel.columns])
            lo, hi = np.fmin.reduce(stack, axis=0), np.fmax.reduce(stack, axis=0)
        tb, lo_b, hi_b = _envelope(t, lo, hi)
        x = tb / scale
        if lo_b is hi_b:
            ax.plot(x, lo_b, color=color, lw=1.0)
        else:
            ax.fill_between(x, lo_b, hi_b, color=color, alpha=0.35, lw=0)
            ax.plot(x, lo_b, color=color, lw=0.6)
            ax.plot(x, hi_b, color=color, lw=0.6)
        for a, b in spans:
            ax.axvspan(a / scale, b / scale, color="#d62728", alpha=0.12, lw=0)
        for e in panel.expectations:
            w = _window(e, t_end)
            ok = e.get("passed")
            c = "#2ca02c" if ok is True else "#d62728" if ok is False else "#7f7f7f"
            if w is not None and w[1] > w[0]:
                # a strip along the bottom, so it stays readable where a fault window overlaps
                ax.axvspan(w[0] / scale, w[1] / scale, ymin=0.0, ymax=0.06, color=c, alpha=0.7, lw=0)
            elif w is not None:
                ax.axvline(w[0] / scale, color=c, lw=1.2)
            fv = _num(e.get("first_violation_s"))
            if fv is not None:
                ax.axvline(fv / scale, color="#d62728", lw=1.0, ls=":")
        if draw_events:
            for te in ev_t:
                ax.axvline(te / scale, color="#555555", lw=0.6, ls="--", alpha=0.6)
        ax.text(
            0.005,
            0.95,
            panel.label,
            transform=ax.transAxes,
            va="top",
            ha="left",
            fontsize=9,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5},
        )
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
    lo_x, hi_x = run.t_first / scale, t_end / scale
    axes[-1].set_xlim(lo_x, hi_x if hi_x > lo_x else lo_x + 1.0)
    axes[-1].set_xlabel(f"time [{unit}]")
    handles = [
        Patch(color="#d62728", alpha=0.25, label="fault window"),
        Patch(color="#2ca02c", alpha=0.7, label="expectation window, passed (bottom strip)"),
        Patch(color="#d62728", alpha=0.7, label="expectation window, failed"),
        Line2D([], [], color="#d62728", ls=":", label="first violation"),
        Line2D([], [], color="#555555", ls="--", label="scenario event"),
    ]
    fig.legend(handles=handles, loc="upper center", ncol=5, fontsize=8, frameon=False)
    return _save(fig, path)


def _label_clusters(ax: Axes, x: np.ndarray, names: Sequence[str], y: float, gap: float) -> None:
    """One label per cluster of markers closer than ``gap``: "first name (+k)", not a pile-up."""
    order = np.argsort(x, kind="stable")
    start = 0
    while start < order.size:
        end = start + 1
        while end < order.size and x[order[end]] - x[order[end - 1]] < gap:
            end += 1
        first = names[int(order[start])]
        text = first + (f" (+{end - start - 1})" if end - start > 1 else "")
        ax.annotate(
            text, (x[order[start]], y), xytext=(0, 6), textcoords="offset points", fontsize=7, rotation=15
        )
        start = end


def _plot_timeline(run: _Run, path: Path) -> bytes:
    t_end = run.t_end
    unit, scale = _time_unit(t_end - run.t_first)
    rows: list[str] = []
    targets = list(dict.fromkeys(str(f.get("target") or f.get("name") or "?") for f in run.faults))
    rows += targets
    markers: list[tuple[str, np.ndarray, list[str], str, str]] = []
    for kind, label, marker, color in (
        ("event", "scenario events", "v", "#1f77b4"),
        ("alarm", "alarms", "x", "#d62728"),
        ("state", "state changes", ".", "#9467bd"),
        ("bus", "bus mode", "s", "#2ca02c"),
        ("write_rejected", "writes rejected", "|", "#ff7f0e"),
    ):
        te, names = _event_times(run.events, kind)
        if te.size:
            markers.append((label, te, names, marker, color))
            rows.append(label)
    viol = [
        (float(v), str(e.get("name")))
        for e in run.expectations
        if (v := _num(e.get("first_violation_s"))) is not None
    ]
    if viol:
        rows.append("first violations")
    n = max(len(rows), 1)
    height = 1.3 + 0.45 * n
    fig = _new_figure(12.0, height)
    fig.subplots_adjust(left=0.16, right=0.98, top=1 - 0.35 / height, bottom=0.75 / height)
    ax = fig.subplots()
    if not rows:
        ax.text(0.5, 0.5, "no faults or events", ha="center", va="center", transform=ax.transAxes)
    ypos = {r: n - 1 - k for k, r in enumerate(rows)}
    lo_x, hi_x = run.t_first / scale, t_end / scale
    hi_x = hi_x if hi_x > lo_x else lo_x + 1.0
    for f in run.faults:
        span = _fault_span(f, t_end)
        if span is None:
            continue
        y = ypos[str(f.get("target") or f.get("name") or "?")]
        a, b = span[0] / scale, span[1] / scale
        ax.broken_barh([(a, max(b - a, 1e-9))], (y - 0.3, 0.6), facecolors="#d62728", alpha=0.6)
        ax.text(a, y, f" {f.get('name', '')}", va="center", ha="left", fontsize=8)
    for label, te, names, marker, color in markers:
        y = ypos[label]
        ax.plot(te / scale, np.full(te.shape, y), ls="none", marker=marker, color=color, ms=7)
        if te.size <= 40:
            _label_clusters(ax, te / scale, names, y, (hi_x - lo_x) * 0.04)
    if viol:
        v_t = np.array([v for v, _ in viol])
        y = ypos["first violations"]
        ax.plot(v_t / scale, np.full(v_t.shape, y), ls="none", marker="X", color="#d62728", ms=8)
        _label_clusters(ax, v_t / scale, [name for _, name in viol], y, (hi_x - lo_x) * 0.04)
    ax.set_yticks(list(ypos.values()), list(ypos.keys()), fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(lo_x, hi_x)
    ax.set_xlabel(f"time [{unit}]")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)
