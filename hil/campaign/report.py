"""The campaign report: ``report.html`` (one self-contained page) and ``report.md`` with its
figures in ``plots/``, from the campaign folder alone (``campaign.json`` and ``results.parquet``).

What it shows: the campaign's facts, the EMS comparison (every regression listed), NPV and
payback heatmaps over two swept parameters, the tornado of each parameter's effect, the Pareto
front of savings against capex, pass rates per scenario and per fault type, the distributions
of GPU-hours lost and of the worst frequency excursion, the failed runs with their errors, and
the ten worst runs linked to their own reports (built here, for those ten).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hil._render import BASE_CSS, esc, html_table, img_tag, md_cell, save_png
from hil.report import build_report
from hil.roi_report import build_roi_report

from . import plots
from .compare import DIRECTION, Comparison

__all__ = ["ReportFacts", "build_campaign_report", "worst_runs"]


@dataclass
class ReportFacts:
    name: str
    title: str
    kind: str
    wall_s: float | None
    workers: int | None


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:,.4g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return str(x)


def _main_metric(kind: str, metrics: Sequence[str]) -> str | None:
    prefer = ["npv"] if kind == "study" else ["passed", "gpu_hours_lost"]
    return next((m for m in prefer if m in metrics), metrics[0] if metrics else None)


def worst_runs(
    rows: Sequence[dict[str, Any]], kind: str, metrics: Sequence[str], n: int = 10
) -> list[dict[str, Any]]:
    """The ``n`` worst runs: failed runs first, then by the main metric in its worse direction
    (studies: lowest NPV; scenarios: failed expectations, then GPU-hours lost, then the
    frequency excursion)."""
    order = [
        m
        for m in ("expectations_failed", "gpu_hours_lost_supply", "gpu_hours_lost", "f_excursion_hz")
        if m in metrics
    ]
    if kind == "study":
        main = _main_metric(kind, metrics)
        order = [main] if main else []

    def badness(r: dict[str, Any]) -> tuple[Any, ...]:
        key: list[float] = [0.0 if r["status"] == "ok" else -1.0]
        for m in order:
            v = r.get(f"m.{m}")
            sign = DIRECTION.get(m, -1)
            key.append(math.inf if v is None else float(v) * sign)  # ascending: worst first
        return tuple(key)

    return sorted(rows, key=badness)[:n]


def _figures(
    rows: list[dict[str, Any]], params: list[str], kind: str, metrics: Sequence[str]
) -> list[tuple[str, Any, str]]:
    figs: list[tuple[str, Any, str]] = []
    main = _main_metric(kind, metrics)
    for m in ["npv", "simple_payback_years"] if kind == "study" else [main]:
        if m and m in metrics:
            fig = plots.heatmaps(rows, params, m)
            if fig is not None:
                figs.append(
                    (f"heatmap_{m}", fig, f"{m} over the two first numeric parameters (mean of replicates)")
                )
    if main:
        fig = plots.tornado(rows, params, main)
        if fig is not None:
            figs.append(
                ("tornado", fig, f"sensitivity of {main}: the range of its mean over each parameter's values")
            )
    if kind == "study" and "capex" in metrics and "savings_year1.total" in metrics:
        fig = plots.pareto(rows)
        if fig is not None:
            figs.append(
                ("pareto", fig, "year-1 savings against capex; red: the runs no other run beats on both")
            )
    if kind == "scenario":
        fig = plots.pass_rates(rows)
        if fig is not None:
            figs.append(
                (
                    "pass_rates",
                    fig,
                    "runs that passed every expectation, per scenario and per fault type drawn",
                )
            )
        fig = plots.distributions(rows, ["gpu_hours_lost", "gpu_hours_lost_supply", "f_excursion_hz"])
        if fig is not None:
            figs.append(
                (
                    "distributions",
                    fig,
                    "GPU-hours lost (all causes, and the part from racks without supply) and the worst"
                    " frequency excursion |f − f_nom| per run",
                )
            )
    return figs


def _link_report(out: Path, row: dict[str, Any], kind: str) -> str | None:
    """Build the run's own report (once) and return its path relative to the campaign folder."""
    run_dir = out / str(row["dir"])
    if row["status"] != "ok" or not run_dir.is_dir():
        return None
    target = run_dir / "report.html"
    if not target.exists():
        try:
            (build_roi_report if kind == "study" else build_report)(run_dir)
        except (OSError, ValueError, KeyError) as exc:  # a report that cannot be built is noted, not fatal
            (run_dir / "report_error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
            return None
    return f"{row['dir']}/report.html"


def build_campaign_report(
    out: Path, facts: ReportFacts, metrics: Sequence[str], comparison: Comparison | None
) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` into the campaign folder; returns both paths."""
    table = pq.read_table(out / "results.parquet")
    rows = table.to_pylist()
    params = [c for c in table.column_names if c.startswith("p.")]
    plan = json.loads((out / "campaign.json").read_text())
    total = len(plan["runs"])
    ok = sum(r["status"] == "ok" for r in rows)
    failed = [r for r in rows if r["status"] != "ok"]
    passed = [r for r in rows if r.get("passed") is not None]
    facts_rows = [
        ("campaign", facts.name),
        ("base", facts.kind),
        ("runs", f"{len(rows)} of {total} finished: {ok} ok, {len(failed)} failed"),
    ]
    if passed:
        facts_rows.append(("passed", f"{sum(bool(r['passed']) for r in passed)} of {len(passed)} runs"))
    if facts.wall_s is not None:
        rate = len(rows) / facts.wall_s * 60 if facts.wall_s > 0 else math.nan
        facts_rows.append(
            ("wall time", f"{facts.wall_s:,.1f} s on {facts.workers} workers ({rate:,.1f} runs/min)")
        )
    facts_rows.append(("plan digest", plan["digest"]))

    figs = _figures(rows, params, facts.kind, metrics)
    images: dict[str, bytes] = {}
    for name, fig, _cap in figs:
        images[name] = save_png(fig, out / "plots" / f"{name}.png")
    worst = worst_runs(rows, facts.kind, metrics)
    links = {r["run_id"]: _link_report(out, r, facts.kind) for r in worst}

    content = _Content(facts, facts_rows, figs, comparison, failed, worst, links, params, list(metrics))
    html = _html(content, images)
    md = _markdown(content)
    (out / "report.html").write_text(html, encoding="utf-8")
    (out / "report.md").write_text(md, encoding="utf-8")
    return out / "report.html", out / "report.md"


@dataclass
class _Content:
    """What both pages show."""

    facts: ReportFacts
    facts_rows: list[tuple[str, str]]
    figs: list[tuple[str, Any, str]]
    comparison: Comparison | None
    failed: list[dict[str, Any]]
    worst: list[dict[str, Any]]
    links: dict[str, str | None]
    params: list[str]
    metrics: list[str]


def _run_cells(r: dict[str, Any], params: Sequence[str], metrics: Sequence[str]) -> list[str]:
    return [
        r["run_id"],
        r["status"],
        *(_fmt(r.get(p)) for p in params),
        str(r["replicate"]),
        *(_fmt(r.get(f"m.{m}")) for m in metrics),
    ]


def _comparison_rows(c: Comparison) -> list[list[str]]:
    return [
        [f.what, f.pair, _fmt(f.baseline), _fmt(f.candidate), f.baseline_run, f.candidate_run]
        for f in c.regressions
    ]


_CMP_HEAD = ["regressed", "where", "baseline", "candidate", "baseline run", "candidate run"]
_CSS = BASE_CSS + "td.bad{color:#c62828;font-weight:700} td.good{color:#2e7d32;font-weight:700}\n"


def _html(content: _Content, images: dict[str, bytes]) -> str:
    facts, facts_rows, figs, comparison = content.facts, content.facts_rows, content.figs, content.comparison
    failed, worst, links = content.failed, content.worst, content.links
    params, metrics = content.params, content.metrics
    td = lambda x: f"<td>{esc(x)}</td>"  # noqa: E731
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>campaign {esc(facts.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Campaign {esc(facts.name)}</h1><div class='lead'>{esc(facts.title)}</div>",
        "<table class='facts'>"
        + "".join(f"<tr><th>{esc(k)}</th>{td(v)}</tr>" for k, v in facts_rows)
        + "</table>",
    ]
    if comparison is not None:
        c = comparison
        verdict = (
            f"<td class='bad'>{len(c.regressions)} regression(s)</td>"
            if c.regressions
            else "<td class='good'>no regression</td>"
        )
        out += [
            f"<h2>EMS comparison: {esc(c.candidate)} against {esc(c.baseline)} ({esc(c.parameter)})</h2>",
            f"<table class='facts'><tr><th>verdict</th>{verdict}</tr><tr><th>pairs</th>{td(c.pairs)}</tr>"
            f"<tr><th>improvements</th>{td(len(c.improvements))}</tr></table>",
        ]
        if c.regressions:
            out.append(html_table(_CMP_HEAD, [[td(x) for x in row] for row in _comparison_rows(c)]))
        tot = [[td(m), td(_fmt(b)), td(_fmt(v))] for m, (b, v) in c.totals.items()]
        out += ["<h3>totals over the pairs</h3>", html_table(["metric", "baseline", "candidate"], tot)]
    for name, _fig, cap in figs:
        title = esc(name.replace("_", " "))
        img = img_tag(name, images[name])
        out.append(f"<h2>{title}</h2><figure>{img}<figcaption>{esc(cap)}</figcaption></figure>")
    head = ["run", "status", *(p[2:] for p in params), "replicate", *metrics]
    out.append("<h2>the ten worst runs</h2>")
    rows = []
    for r in worst:
        cells = [td(x) for x in _run_cells(r, params, metrics)]
        link = links.get(r["run_id"])
        if link:
            cells[0] = f"<td><a href='{esc(link)}'>{esc(r['run_id'])}</a></td>"
        rows.append(cells)
    out.append(html_table(head, rows))
    if failed:
        out.append(f"<h2>failed runs ({len(failed)})</h2>")
        out.append(
            html_table(
                ["run", "error"],
                [[td(r["run_id"]), f"<td><pre>{esc(r['error'])}</pre></td>"] for r in failed],
            )
        )
    out.append("</body></html>")
    return "\n".join(out)


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(md_cell(h) for h in head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(md_cell(x) for x in row) + " |" for row in rows),
        "",
    ]


def _markdown(content: _Content) -> str:
    facts, facts_rows, figs, comparison = content.facts, content.facts_rows, content.figs, content.comparison
    failed, worst, links = content.failed, content.worst, content.links
    params, metrics = content.params, content.metrics
    out = [f"# Campaign {facts.name}", "", facts.title, "", *_md_table(["", ""], facts_rows)]
    if comparison is not None:
        c = comparison
        out += [
            f"## EMS comparison: {c.candidate} against {c.baseline} ({c.parameter})",
            "",
            f"**{len(c.regressions)} regression(s)** in {c.pairs} pairs;"
            f" {len(c.improvements)} improvement(s).",
            "",
        ]
        if c.regressions:
            out += _md_table(_CMP_HEAD, _comparison_rows(c))
        out += _md_table(
            ["metric", "baseline", "candidate"], [[m, _fmt(b), _fmt(v)] for m, (b, v) in c.totals.items()]
        )
    for name, _fig, cap in figs:
        out += [f"## {name.replace('_', ' ')}", "", f"![{cap}](plots/{name}.png)", "", cap, ""]
    rows = []
    for r in worst:
        cells = _run_cells(r, params, metrics)
        link = links.get(r["run_id"])
        if link:
            cells[0] = f"[{r['run_id']}]({link})"
        rows.append(cells)
    out += [
        "## The ten worst runs",
        "",
        *_md_table(["run", "status", *(p[2:] for p in params), "replicate", *metrics], rows),
    ]
    if failed:
        out += [
            f"## Failed runs ({len(failed)})",
            "",
            *_md_table(["run", "error"], [[r["run_id"], (r["error"] or "").splitlines()[0]] for r in failed]),
        ]
    return "\n".join(out)
