"""What a reader looks at after a run, built only from the files in the run folder.

:func:`build_report` reads ``results.json`` (written by the runner at the end),
``trace.parquet`` and ``events.parquet`` (see :mod:`hil.trace`) and writes:

* ``junit.xml`` — one test case per expectation, for CI (pytest, Jenkins and GitLab read it);
* ``report.html`` — one self-contained page (inline CSS, PNGs as data URIs, no script), so it
  can be mailed or archived as a CI artefact and still open years later;
* ``plots/key_signals.png`` and ``plots/timeline.png`` — the same figures as files;
* ``summary.md`` — the facts and tables in Markdown, for a merge request or a wiki.

Only the folder is read, never live objects: a report can be rebuilt later, on another
machine, and a report of a killed run (no ``results.json``, a trace recovered from its
stream) is built the same way, saying "incomplete run".

Times: the trace holds site time (``t_s``), results and events scenario time; ``t0_s`` (site
time at the scenario's t = 0, in results.json or the trace's meta, default 0) aligns them.

Long traces are reduced to a min/max envelope per pixel column before plotting, so a day at
10 Hz plots in about the time of a minute, and a one-tick spike still shows.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from rich.table import Table
from rich.text import Text

from twin.signals import parse_name

from ._render import esc as _e
from ._render import html_table as _table
from ._render import img_tag
from ._render import md_cell as _md
from ._render import new_figure as _new_figure
from ._render import num as _num
from ._render import save_png as _save
from .trace import read_events, read_trace, read_trace_schema, trace_meta
from .trace_full import TRACE_FULL_FILE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from rich.console import Console

__all__ = ["ReportFiles", "build_report", "print_summary"]

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
EVENTS_SHOWN = 500
#: event kinds a run writes by the thousand (heartbeats, setpoints, the inputs they push):
#: summarised in the report, after the events that matter
ROUTINE_KINDS = ("write_accepted", "input")
MAX_PANELS = 10
MAX_EVENT_LINES = 300
ENVELOPE_BUCKETS = 1500  # ~ one per pixel column of the 12-inch, 100-dpi figure

#: Plotted when neither results.json nor the trace's meta names key signals.
DEFAULT_KEY_SIGNALS = (
    "grid.p_import_kw",
    "bess.p_ac_kw",
    "bess.soc_pct",
    "site.p_it_kw",
    "grid.f_hz",
    "grid.v_pu",
    "pv.p_ac_kw",
    "genset.p_kw",
)

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`build_report` wrote each file."""

    out_dir: Path
    junit: Path
    html: Path
    summary_md: Path
    plots: tuple[Path, ...]


# ------------------------------------------------------------------------------------------
# loading the folder
# ------------------------------------------------------------------------------------------
@dataclass
class _Run:
    out_dir: Path
    results: dict[str, Any] | None
    info: dict[str, Any]
    expectations: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    events: pa.Table | None = None
    trace_rows: int = 0
    t_first: float = 0.0
    t_end: float = 0.0

    @property
    def complete(self) -> bool:
        return self.results is not None

    @property
    def t0(self) -> float:
        """Site time at the scenario's t = 0: the trace holds site time, everything else scenario time."""
        return _num(self.info.get("t0_s")) or 0.0

    @property
    def scenario(self) -> str:
        return str(self.info.get("scenario") or self.out_dir.name)


def _read_results(out_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    path = out_dir / RESULTS_FILE
    if not path.exists():
        notes.append("incomplete run: no results.json (the run was killed or is still going)")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"incomplete run: results.json unreadable ({exc})")
        return None
    if not isinstance(data, dict):
        notes.append("incomplete run: results.json is not an object")
        return None
    return data


def _faults_from_events(events: pa.Table | None) -> list[dict[str, Any]]:
    """Pair ``fault_inject``/``fault_clear`` events by (name, target) when results.json is missing."""
    if events is None or events.num_rows == 0:
        return []
    mask = pc.is_in(events["kind"], pa.array(["fault_inject", "fault_clear"]))
    rows = events.filter(mask).select(["t_s", "kind", "source", "target", "detail"]).to_pylist()
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in rows:
        key = (r["source"], r["target"])
        if r["kind"] == "fault_inject":
            f = {"name": r["source"] or r["detail"], "target": r["target"], "layer": r["detail"]}
            f.update(start_s=r["t_s"], end_s=None)
            open_[key] = f
            out.append(f)
        elif key in open_:
            open_.pop(key)["end_s"] = r["t_s"]
    return out


def _load(out_dir: Path, *, events: bool = True) -> _Run:
    out_dir = Path(out_dir)
    notes: list[str] = []
    results = _read_results(out_dir, notes)
    meta: dict[str, Any] = {}
    columns: list[str] = []
    try:
        schema = read_trace_schema(out_dir)
        meta = trace_meta(schema)
        columns = list(schema.names)
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"no trace: {exc}")
    info = {**meta, **(results or {})}
    ev: pa.Table | None = None
    if events:
        try:
            ev = read_events(out_dir)
        except (FileNotFoundError, ValueError, pa.ArrowInvalid) as exc:
            notes.append(f"no events: {exc}")
    expectations = [e for e in (results or {}).get("expectations") or [] if isinstance(e, dict)]
    faults = [f for f in (info.get("faults") or []) if isinstance(f, dict)]
    if results is None and not faults:
        faults = _faults_from_events(ev)
    return _Run(out_dir, results, info, expectations, faults, notes, columns, ev)


# ------------------------------------------------------------------------------------------
# formatting helpers
# ------------------------------------------------------------------------------------------
def _fmt_t(x: Any) -> str:
    v = _num(x)
    if v is None:
        return "—"
    s = f"{v:,.1f} s"
    if abs(v) >= 3600:
        h, rem = divmod(abs(v), 3600)
        s += f" ({int(h)}:{int(rem // 60):02d}:{rem % 60:04.1f})"
    return s


def _fault_end(f: Mapping[str, Any]) -> str:
    return "not cleared" if f.get("end_s") is None else _fmt_t(f.get("end_s"))


def _fmt_window(e: Mapping[str, Any]) -> str:
    w = e.get("window")
    if not isinstance(w, (list, tuple)) or not w:
        return "whole run"
    a = _num(w[0])
    b = _num(w[1]) if len(w) > 1 else None
    if a is not None and b is not None and a == b:
        return f"at {a:g} s"
    if b is None:
        return f"from {a:g} s" if a is not None else "whole run"
    return f"{(a or 0.0):g}–{b:g} s"


def _fmt_condition(e: Mapping[str, Any]) -> str:
    """``kind signal condition``, without repeating a signal the condition already names."""
    kind, sig, cond = (str(e.get(k) or "") for k in ("kind", "signal", "condition"))
    if sig and sig in cond:
        sig = ""
    return " ".join(p for p in (kind, sig, cond) if p)


def _fmt_value(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _result(e: Mapping[str, Any]) -> str:
    """PASS, FAIL or ERROR (not evaluated, e.g. the run was interrupted first)."""
    p = e.get("passed")
    return "PASS" if p is True else "FAIL" if p is False else "ERROR"


def _verdict(run: _Run) -> str:
    if not run.complete:
        return "INCOMPLETE"
    results = [_result(e) for e in run.expectations]
    if "FAIL" in results:
        return "FAIL"
    if run.info.get("interrupted"):
        return "INTERRUPTED"
    if "ERROR" in results:
        return "ERROR"
    return "PASS"


def _speedup(info: Mapping[str, Any]) -> float | None:
    sim, wall = _num(info.get("simulated_s")), _num(info.get("wall_s"))
    return sim / wall if sim is not None and wall else None


def _facts(run: _Run) -> list[tuple[str, str]]:
    """The header, as (label, text) pairs, shared by the HTML, Markdown and junit outputs."""
    i = run.info
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is not None and value != "":
            out.append((label, str(value)))

    add("Scenario", i.get("scenario") or run.scenario)
    add("Title", i.get("title"))
    add("File", i.get("file"))
    add("Site", i.get("site"))
    add("Seed", i.get("seed"))
    add("Controller", i.get("controller"))
    add("Pacing", i.get("pacing"))
    if _num(i.get("tick_s")) is not None:
        add("Tick", f"{float(i['tick_s']):g} s")
    if _num(i.get("duration_s")) is not None:
        add("Duration (scenario)", _fmt_t(i["duration_s"]))
    if run.complete:
        add("Simulated", _fmt_t(i.get("simulated_s")))
        add("Wall time", _fmt_t(i.get("wall_s")))
        sp = _speedup(i)
        if sp is not None:
            add("Speed-up", f"×{sp:,.1f}")
        add("Interrupted", "yes" if i.get("interrupted") else "no")
        if i.get("error"):
            add("Error", i["error"])
        writes = i.get("writes")
        if isinstance(writes, dict) and writes:
            add("Writes", ", ".join(f"{v} {k}" for k, v in writes.items()))
        if _num(i.get("rebased_s")):
            add("Rebased (overruns)", _fmt_t(i["rebased_s"]))
    else:
        add("State", "incomplete run")
    if run.trace_rows:
        add(
            "Trace",
            f"{run.trace_rows:,} rows, {len(run.columns) - 2:,} signals, t = {run.t_first:g}…{run.t_end:g} s",
        )
    full_s = _num(i.get("trace_full_every_s"))
    if full_s:
        add("Long-run trace", f"every signal's mean, min and max per {_fmt_t(full_s)} in {TRACE_FULL_FILE}")
    if run.events is not None:
        add("Events", f"{run.events.num_rows:,}")
    out += _bill_facts(i.get("bill"))
    return out


def _bill_facts(b: Any) -> list[tuple[str, str]]:
    """The run's bill (results.json ``bill``, when the run was given a tariff)."""
    if not isinstance(b, Mapping):
        return []
    tid = b.get("tariff_id", "?")
    if b.get("error"):
        return [(f"Bill ({tid})", f"not billed: {b['error']}")]
    cur = b.get("currency", "")
    out = [
        (
            f"Bill ({tid})",
            f"{b['total']:,.2f} {cur}: energy {b['energy_cost']:,.2f}, demand {b['demand_cost']:,.2f}, "
            f"fixed {b['fixed_cost']:,.2f}, export credit {b['export_credit']:,.2f}; "
            f"{b['energy_kwh']:,.1f} kWh imported",
        ),
        ("15-min peaks", ", ".join(f"{m} {kw:,.1f} kW" for m, kw in b.get("peak_kw_by_month", {}).items())),
    ]
    base, sav = b.get("without_storage"), b.get("savings")
    if isinstance(base, Mapping) and isinstance(sav, Mapping):
        peaks = ", ".join(f"{m} {kw:,.1f} kW" for m, kw in base.get("peak_kw_by_month", {}).items())
        out.append(("Without storage", f"{base['total']:,.2f} {cur}; 15-min peaks {peaks}"))
        out.append(
            (
                "Storage saved",
                f"{sav['total']:,.2f} {cur} (energy {sav['energy']:,.2f}, demand {sav['demand']:,.2f})",
            )
        )
    opt = b.get("optimum")
    if isinstance(opt, Mapping) and "savings" in opt:
        share = b.get("optimum_share")
        text = f"the perfect-foresight dispatch of this window saves {opt['savings']:,.2f} {cur}"
        if share is not None:
            text = f"this EMS earned {share:.1%} of what was possible: " + text
        out.append(("Against the optimum", text))
    return out


def _lateness(run: _Run) -> dict[str, float] | None:
    lat = run.info.get("lateness")
    if not isinstance(lat, dict):
        return None
    pacing = str(run.info.get("pacing") or "")
    if not pacing.startswith("real") and not (_num(lat.get("n")) or 0) > 0:
        return None
    return {k: v for k in ("n", "p50_ms", "p99_ms", "max_ms") if (v := _num(lat.get(k))) is not None}


# ------------------------------------------------------------------------------------------
# signals and plots
# ------------------------------------------------------------------------------------------
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
    src, tgt = sel["source"].to_pylist(), sel["target"].to_pylist()
    names = [" ".join(p for p in pair if p) for pair in zip(src, tgt, strict=True)]
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


# ------------------------------------------------------------------------------------------
# junit
# ------------------------------------------------------------------------------------------
def _x(s: Any) -> str:
    """Text safe for XML 1.0 (ElementTree escapes markup but not control characters)."""
    return _XML_BAD.sub("?", "" if s is None else str(s))


def _failure_message(e: Mapping[str, Any]) -> str:
    msg = f"{_fmt_condition(e)} [{_fmt_window(e)}]: {e.get('violations', '?')} violation(s)"
    fv = _num(e.get("first_violation_s"))
    if fv is not None:
        msg += f", first at t={fv:g} s"
    if e.get("detail"):
        msg += f"; {e['detail']}"
    return msg


def _case_time(e: Mapping[str, Any], info: Mapping[str, Any], t_end: float) -> float:
    """Wall time spent watching the expectation: its share of the simulated time, as wall time.

    JUnit wants a duration per case and expectations have none of their own; this one makes
    the cases of a suite add up to about the run's wall time.
    """
    wall, sim = _num(info.get("wall_s")), _num(info.get("simulated_s")) or t_end
    w = _window(e, sim)
    if wall is None or not sim:
        return 0.0
    if w is None:
        return wall
    a, b = max(0.0, w[0]), min(sim, w[1])
    return max(0.0, wall * (b - a) / sim)


def _write_junit(run: _Run, path: Path) -> None:
    info = run.info
    interrupted = bool(info.get("interrupted"))
    wall = _num(info.get("wall_s")) or 0.0
    cases = run.expectations if run.complete else []
    failures = sum(_result(e) == "FAIL" for e in cases)
    errors = sum(_result(e) == "ERROR" for e in cases) + (0 if run.complete else 1)
    root = ET.Element(
        "testsuites", name="hil", tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    root.set("time", f"{wall:.3f}")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_x(run.scenario),
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{wall:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for label, value in _facts(run):
        ET.SubElement(props, "property", name=_x(label.lower()), value=_x(value))
    classname = f"hil.{run.scenario}"
    for e in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_x(classname),
            name=_x(e.get("name") or "?"),
            time=f"{_case_time(e, info, run.t_end):.3f}",
        )
        body = "\n".join(
            f"{k}: {_fmt_value(e.get(k))}"
            for k in (
                "kind",
                "signal",
                "condition",
                "window",
                "violations",
                "first_violation_s",
                "worst",
                "line",
            )
            if e.get(k) is not None
        )
        if e.get("detail"):
            body += f"\ndetail: {e['detail']}"
        res = _result(e)
        if res == "FAIL":
            fail = ET.SubElement(case, "failure", message=_x(_failure_message(e)), type="ExpectationFailed")
            fail.text = _x(body)
        elif res == "ERROR":
            why = "run interrupted before it could be evaluated" if interrupted else "not evaluated"
            err = ET.SubElement(case, "error", message=_x(f"{e.get('name')}: {why}"), type="NotEvaluated")
            err.text = _x(body)
    out = ET.SubElement(suite, "system-out")
    if not run.complete:
        out.text = _x("incomplete run: no results.json; " + "; ".join(run.notes))
        err_el = ET.SubElement(suite, "system-err")
        err_el.text = _x(
            "the run did not finish (killed?): expectations were not evaluated; "
            f"the trace holds {run.trace_rows} rows up to t={run.t_end:g} s"
        )
    elif interrupted:
        out.text = _x(
            f"run INTERRUPTED after {_fmt_t(info.get('simulated_s'))} simulated"
            f" of {_fmt_t(info.get('duration_s'))}"
        )
    else:
        sp = _speedup(info)
        out.text = _x(
            f"run completed: {_fmt_t(info.get('simulated_s'))} simulated in {_fmt_t(info.get('wall_s'))} wall"
            + (f" (×{sp:.1f})" if sp else "")
        )
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------------------
# html
# ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{margin:0 0 4px 0;font-size:24px} h2{margin-top:28px;font-size:18px;border-bottom:1px solid #ddd}
.sub{color:#555;margin-bottom:12px}
.badge{display:inline-block;padding:3px 12px;border-radius:4px;color:#fff;font-weight:700;margin-left:10px;
 font-size:16px;vertical-align:middle}
.PASS{background:#2e7d32}.FAIL{background:#c62828}.ERROR{background:#ad1457}.INTERRUPTED{background:#ef6c00}
.INCOMPLETE{background:#616161}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} table.facts th{width:170px}
td.r-PASS{color:#2e7d32;font-weight:700} td.r-FAIL{color:#c62828;font-weight:700}
td.r-ERROR{color:#ad1457;font-weight:700}
tr.k-fault_inject,tr.k-fault_clear{background:#fff3f3} tr.k-alarm{background:#fff8e1}
tr.k-write_rejected{background:#fff0e0} tr.k-event{background:#f3f8ff}
.note{color:#8a6d00;background:#fffbe6;border:1px solid #f0e0a0;padding:6px 10px;margin:6px 0}
img{max-width:100%;border:1px solid #eee}
td.num{text-align:right;font-variant-numeric:tabular-nums}
"""


def _write_html(run: _Run, images: Mapping[str, bytes], path: Path) -> None:
    verdict = _verdict(run)
    title = run.info.get("title") or ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(run.scenario)} — {verdict}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>{_e(run.scenario)}<span class="badge {verdict}">{verdict}</span></h1>',
    ]
    if title:
        parts.append(f'<div class="sub">{_e(title)}</div>')
    if not run.complete:
        parts.append(
            '<div class="note"><b>Incomplete run</b>: no results.json, so no verdict; '
            "what follows is built from the trace and the events the run left.</div>"
        )
    parts += [f'<div class="note">{_e(n)}</div>' for n in run.notes if not n.startswith("incomplete run")]
    parts.append('<table class="facts">')
    parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _facts(run)]
    parts.append("</table>")

    lat = _lateness(run)
    if lat:
        parts.append("<h2>Tick lateness (real time)</h2>")
        parts.append(
            _table(
                ["ticks", "p50", "p99", "max"],
                [
                    [
                        f'<td class="num">{int(lat.get("n", 0)):,}</td>',
                        *(
                            f'<td class="num">{lat[k]:.2f} ms</td>' if k in lat else "<td></td>"
                            for k in ("p50_ms", "p99_ms", "max_ms")
                        ),
                    ]
                ],
            )
        )

    parts.append("<h2>Expectations</h2>")
    if run.expectations:
        rows, classes = [], []
        for e in run.expectations:
            res = _result(e)
            rows.append(
                [
                    f'<td class="r-{res}">{res}</td>',
                    f"<td>{_e(e.get('name'))}</td>",
                    f"<td>{_e(_fmt_condition(e))}</td>",
                    f"<td>{_e(_fmt_window(e))}</td>",
                    f'<td class="num">{_e(e.get("violations", ""))}</td>',
                    f"<td>{_e(_fmt_t(e.get('first_violation_s')))}</td>",
                    f'<td class="num">{_e(_fmt_value(e.get("worst")))}</td>',
                    f"<td>{_e(e.get('detail', ''))}</td>",
                    f'<td class="num">{_e(e.get("line", ""))}</td>',
                ]
            )
            classes.append(f"res-{res}")
        head = [
            "Result",
            "Expectation",
            "Condition",
            "Window",
            "Violations",
            "First violation",
            "Worst",
            "Detail",
            "Line",
        ]
        parts.append(_table(head, rows, classes))
    else:
        parts.append(
            "<p>None evaluated.</p>" if not run.complete else "<p>The scenario has no expectations.</p>"
        )

    parts.append("<h2>Faults</h2>")
    if run.faults:
        rows = [
            [
                f"<td>{_e(f.get('name'))}</td>",
                f"<td>{_e(f.get('target'))}</td>",
                f"<td>{_e(f.get('layer'))}</td>",
                f"<td>{_e(_fmt_t(f.get('start_s')))}</td>",
                f"<td>{_e(_fault_end(f))}</td>",
            ]
            for f in run.faults
        ]
        parts.append(_table(["Fault", "Target", "Layer", "Start", "End"], rows))
    else:
        parts.append("<p>No faults.</p>")

    parts.append("<h2>Plots</h2>")
    for name, png in images.items():
        parts.append(f"<p>{img_tag(name, png)}</p>")

    parts.append("<h2>Events</h2>")
    ev = run.events
    if ev is None or ev.num_rows == 0:
        parts.append("<p>No events.</p>")
    else:
        routine = pc.is_in(ev["kind"], value_set=pa.array(ROUTINE_KINDS))
        notable = ev.filter(pc.invert(routine))
        shown = notable.slice(0, EVENTS_SHOWN).to_pylist()
        n_routine = ev.num_rows - notable.num_rows
        note = (
            f"{notable.num_rows:,} events that matter (grid events, faults, state changes, alarms, "
            f"expectations, refused writes) first; the {n_routine:,} routine ones (accepted writes, "
            "twin inputs) are summarised below. All are in events.parquet."
        )
        if notable.num_rows > EVENTS_SHOWN:
            note += f" Showing the first {EVENTS_SHOWN} of the {notable.num_rows:,}."
        parts.append(f'<div class="note">{_e(note)}</div>')
        rows = [
            [
                f'<td class="num">{r["t_s"]:,.3f}</td>',
                f"<td>{_e(r['kind'])}</td>",
                f"<td>{_e(r['source'])}</td>",
                f"<td>{_e(r['target'])}</td>",
                f"<td>{_e(r['detail'])}</td>",
                f'<td class="num">{_e(_fmt_value(r["value"]))}</td>',
                f"<td>{'' if r['passed'] is None else ('pass' if r['passed'] else 'FAIL')}</td>",
            ]
            for r in shown
        ]
        classes = [f"k-{re.sub(r'[^A-Za-z0-9_-]', '', str(r['kind']))}" for r in shown]
        parts.append(
            _table(["t [s]", "kind", "source", "target", "detail", "value", "passed"], rows, classes)
        )
        if n_routine:
            parts.append("<h3>Routine events, summarised</h3>")
            heads = ["kind", "target", "count", "first [s]", "last [s]"]
            parts.append(_table(heads, _routine_rows(ev, routine)))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _routine_rows(ev: pa.Table, routine: pa.ChunkedArray) -> list[list[str]]:
    """Accepted writes and twin inputs grouped by kind and target: count, first and last time."""
    grouped = (
        ev.filter(routine)
        .group_by(["kind", "target"])
        .aggregate([("t_s", "count"), ("t_s", "min"), ("t_s", "max")])
        .sort_by([("t_s_count", "descending"), ("kind", "ascending"), ("target", "ascending")])
    )
    return [
        [
            f"<td>{_e(r['kind'])}</td>",
            f"<td>{_e(r['target'])}</td>",
            f'<td class="num">{r["t_s_count"]:,}</td>',
            f'<td class="num">{r["t_s_min"]:,.3f}</td>',
            f'<td class="num">{r["t_s_max"]:,.3f}</td>',
        ]
        for r in grouped.slice(0, EVENTS_SHOWN).to_pylist()
    ]


# ------------------------------------------------------------------------------------------
# markdown
# ------------------------------------------------------------------------------------------
def _write_md(run: _Run, plots: Sequence[Path], path: Path) -> None:
    verdict = _verdict(run)
    lines = [f"# {_md(run.scenario)} — {verdict}", ""]
    if run.info.get("title"):
        lines += [_md(run.info["title"]), ""]
    lines += [f"> {_md(n)}" for n in run.notes]
    if run.notes:
        lines.append("")
    lines += ["| | |", "|---|---|", *(f"| {_md(k)} | {_md(v)} |" for k, v in _facts(run)), ""]
    lat = _lateness(run)
    if lat:
        lines += [
            "**Tick lateness:** "
            + ", ".join(f"{k.removesuffix('_ms')} {v:.2f} ms" for k, v in lat.items() if k != "n")
            + f" over {int(lat.get('n', 0)):,} ticks",
            "",
        ]
    lines += ["## Expectations", ""]
    if run.expectations:
        lines += [
            "| Result | Expectation | Condition | Window | Violations | First violation | Worst | Detail |",
            "|---|---|---|---|---:|---|---:|---|",
        ]
        for e in run.expectations:
            res = _result(e)
            lines.append(
                f"| **{res}** | {_md(e.get('name'))} | {_md(_fmt_condition(e))} | {_md(_fmt_window(e))} "
                f"| {_md(e.get('violations', ''))} | {_md(_fmt_t(e.get('first_violation_s')))} "
                f"| {_md(_fmt_value(e.get('worst')))} | {_md(e.get('detail', ''))} |"
            )
    else:
        lines.append("None evaluated." if not run.complete else "The scenario has no expectations.")
    lines += ["", "## Faults", ""]
    if run.faults:
        lines += ["| Fault | Target | Layer | Start | End |", "|---|---|---|---|---|"]
        lines += [
            f"| {_md(f.get('name'))} | {_md(f.get('target'))} | {_md(f.get('layer'))} "
            f"| {_md(_fmt_t(f.get('start_s')))} | {_md(_fault_end(f))} |"
            for f in run.faults
        ]
    else:
        lines.append("No faults.")
    lines += ["", "## Plots", ""]
    for p in plots:
        rel = p.relative_to(path.parent).as_posix()
        lines += [f"![{p.stem}]({rel})", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------
# entry points
# ------------------------------------------------------------------------------------------
def _trace_extent(run: _Run) -> None:
    """Rows and time span of the trace (only ``t_s`` is read)."""
    if not run.columns:
        return
    try:
        t = read_trace(run.out_dir, columns=["t_s"])["t_s"].to_numpy() - run.t0
    except (FileNotFoundError, ValueError, pa.ArrowInvalid) as exc:
        run.notes.append(f"trace unreadable: {exc}")
        run.columns = []
        return
    run.trace_rows = int(t.size)
    if t.size:
        run.t_first, run.t_end = float(t[0]), float(t[-1])


def build_report(out_dir: Path) -> ReportFiles:
    """Write junit.xml, report.html, summary.md and plots/*.png from the run folder's files."""
    out_dir = Path(out_dir)
    run = _load(out_dir)
    _trace_extent(run)
    candidates = [run.t_end, _num(run.info.get("simulated_s")) or 0.0]
    if run.events is not None and run.events.num_rows:
        candidates.append(float(pc.max(run.events["t_s"]).as_py()))
    if not run.trace_rows and not run.complete:
        candidates.append(run.t_first)
    run.t_end = max(candidates)

    panels = _panels(run)
    plot_dir = out_dir / "plots"
    signals_png = plot_dir / "key_signals.png"
    timeline_png = plot_dir / "timeline.png"
    images = {
        "key signals": _plot_signals(run, panels, signals_png),
        "event timeline": _plot_timeline(run, timeline_png),
    }
    files = ReportFiles(
        out_dir=out_dir,
        junit=out_dir / "junit.xml",
        html=out_dir / "report.html",
        summary_md=out_dir / "summary.md",
        plots=(signals_png, timeline_png),
    )
    _write_junit(run, files.junit)
    _write_html(run, images, files.html)
    _write_md(run, files.plots, files.summary_md)
    log.info("report of %s: %s (%s)", run.scenario, _verdict(run), files.html)
    return files


def print_summary(out_dir: Path, console: Console) -> None:
    """The terminal view: one row per expectation, then a one-line verdict."""
    out_dir = Path(out_dir)
    run = _load(out_dir, events=False)
    verdict = _verdict(run)
    style = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "INTERRUPTED": "bold yellow"}
    title = run.scenario + (f" — {run.info['title']}" if run.info.get("title") else "")
    table = Table(title=Text(title), title_justify="left")
    for col in ("Expectation", "Condition", "Window", "Result"):
        table.add_column(col)
    table.add_column("Violations", justify="right")
    table.add_column("First violation", justify="right")
    for e in run.expectations:
        res = _result(e)
        table.add_row(
            Text(str(e.get("name") or "?")),
            Text(_fmt_condition(e)),
            Text(_fmt_window(e)),
            Text(res, style=style[res]),
            Text(str(e.get("violations", ""))),
            Text(_fmt_t(e.get("first_violation_s"))),
        )
    if run.expectations:
        console.print(table)

    line = Text()
    if not run.complete:
        _trace_extent(run)
        line.append("INCOMPLETE", style="bold white on grey37")
        line.append(
            f" run: no results.json in {out_dir}; the trace holds {run.trace_rows:,} rows"
            + (f" up to t={run.t_end:g} s" if run.trace_rows else "")
        )
        console.print(line)
        return
    n = len(run.expectations)
    n_pass = sum(_result(e) == "PASS" for e in run.expectations)
    line.append(verdict, style=style.get(verdict, "bold"))
    line.append(f"  {n_pass}/{n} expectations passed")
    facts = [str(run.info[k]) for k in ("site", "controller") if run.info.get(k)]
    if facts:
        line.append(f" · {' · '.join(facts)}")
    sim = _num(run.info.get("simulated_s"))
    if sim is not None:
        line.append(f" · {_fmt_t(sim)} simulated")
        wall, sp = _num(run.info.get("wall_s")), _speedup(run.info)
        if wall is not None:
            line.append(f" in {wall:,.1f} s" + (f" (×{sp:,.1f})" if sp else ""))
    if run.info.get("interrupted"):
        line.append(" · interrupted", style="yellow")
    console.print(line)
    for label, text in _bill_facts(run.info.get("bill")):  # what the run cost, when billed
        console.print(Text(f"{label}: ", style="bold") + Text(text))
