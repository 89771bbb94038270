"""The entry points: :func:`build_report` writes every file of the report from a run folder,
:func:`print_summary` prints the verdict and the expectations to a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table
from rich.text import Text

from hil.trace.store import read_trace

from .._render import num as _num

if TYPE_CHECKING:
    from rich.console import Console

from .html import _write_html
from .junit import _write_junit
from .load import ReportFiles, _load, _Run, log
from .markdown import _write_md
from .plots import _panels, _plot_signals, _plot_timeline
from .text import _bill_facts, _fmt_condition, _fmt_t, _fmt_window, _result, _speedup, _verdict


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
