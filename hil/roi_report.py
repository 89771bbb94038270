"""The ROI report: what storage (and PV) earn on a site's bill, built from the files of ``hil roi``.

:func:`build_roi_report` reads ``roi.json`` (the study's bills, savings, cash flow, resilience
and claims, written by ``hil roi``) and ``roi_series.parquet`` (one simulated year at the
study's resolution: load, PV, battery, grid import, SoC, and the optimum's when it was run)
from a folder and writes, beside them:

* ``report.html`` — one self-contained page (inline CSS, PNGs as data URIs, no script);
* ``report.md`` — the same facts and tables in Markdown, referencing the PNGs;
* ``plots/*.png`` — monthly bills, monthly peaks, typical days, battery life, cash flow and
  this EMS against the perfect-foresight optimum.

The report keeps apart what the bill engine can defend and what it cannot: bill savings are
split into energy, demand and fixed charges and into what storage earns and what PV earns;
resilience (hours the battery carries the critical load) is reported beside them, with its
counting, and never added to the savings. Any figure that is null in roi.json is shown as "—".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from rich.table import Table
from rich.text import Text

from . import _roi_plots as plots
from ._render import BASE_CSS, esc, html_table, img_tag, md_cell, num
from ._roi_content import (
    CASES,
    CLAIM_HEAD,
    Roi,
    bill_table,
    claim_rows,
    facts,
    headline,
    month_table,
    pv_part,
    sentence,
    sub_label,
    year_table,
)

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ROI_FILE", "ROI_SERIES_FILE", "RoiReportFiles", "build_roi_report", "print_roi_summary"]

log = logging.getLogger(__name__)

ROI_FILE = "roi.json"
ROI_SERIES_FILE = "roi_series.parquet"


@dataclass(frozen=True)
class RoiReportFiles:
    """Where :func:`build_roi_report` wrote each file."""

    out_dir: Path
    html: Path
    md: Path
    plots: tuple[Path, ...]


# ------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------
def _read_json(out_dir: Path) -> dict[str, Any]:
    path = out_dir / ROI_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file; `hil roi` writes it, and the ROI report is built from it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_series(out_dir: Path, notes: list[str]) -> tuple[dict[str, np.ndarray] | None, float]:
    """The series as numpy arrays (timestamps as datetime64[s]) and the step in hours."""
    path = out_dir / ROI_SERIES_FILE
    if not path.is_file():
        notes.append(f"no {ROI_SERIES_FILE}: the typical days and the SoC range are not drawn")
        return None, 0.25
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        notes.append(f"{ROI_SERIES_FILE} unreadable ({exc}): the typical days are not drawn")
        return None, 0.25
    if "timestamp" not in table.column_names:
        notes.append(f"{ROI_SERIES_FILE} has no timestamp column: the typical days are not drawn")
        return None, 0.25
    out: dict[str, np.ndarray] = {}
    ts = np.asarray(table.column("timestamp").to_numpy(zero_copy_only=False)).astype("datetime64[s]")
    out["timestamp"] = ts
    for name in table.column_names:
        if name != "timestamp":
            out[name] = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
    steps = np.diff(ts).astype(float)
    dt_h = float(np.median(steps)) / 3600.0 if steps.size else 0.25
    return out, dt_h if dt_h > 0 else 0.25


def _load(out_dir: Path, *, series: bool = True) -> Roi:
    out_dir = Path(out_dir)
    data = _read_json(out_dir)
    notes: list[str] = []
    arrays, dt_h = _read_series(out_dir, notes) if series else (None, 0.25)
    return Roi(out_dir, data, arrays, dt_h, notes)


def _plots(roi: Roi, plot_dir: Path) -> tuple[dict[str, tuple[Path, bytes, str]], str]:
    """Every figure as name → (file, PNG bytes, caption); and which typical days were drawn."""
    cur = roi.currency
    out: dict[str, tuple[Path, bytes, str]] = {}

    def add(name: str, file: str, caption: str, draw: Any) -> None:
        path = plot_dir / file
        out[name] = (path, draw(path), caption)

    bills = {name: roi.bill(c) for c, name in CASES}
    add(
        "monthly bills",
        "monthly_bills.png",
        "Monthly bills before and after, in thousands.",
        lambda p: plots.plot_monthly(
            {n: b.get("bill_by_month") or {} for n, b in bills.items() if b},
            ylabel=f"bill [k{cur}]",
            title="monthly bill",
            path=p,
            scale=1000.0,
        ),
    )
    add(
        "monthly peaks",
        "monthly_peaks.png",
        "Monthly maximum 15-minute grid import (the billed demand).",
        lambda p: plots.plot_monthly(
            {n: b.get("peak_kw_by_month") or {} for n, b in bills.items() if b and n != "PV only"},
            ylabel="peak import [kW]",
            title="monthly 15-minute peak",
            path=p,
        ),
    )
    days: list[tuple[str, np.datetime64]] = []
    s = roi.series
    if s is not None and "grid_kw" in s:
        days = plots.pick_days(s["timestamp"], s["grid_kw"], roi.dt_h)
    which = "; ".join(label for label, _ in days) or "none (no series)"
    add(
        "typical days",
        "typical_days.png",
        f"Dispatch on {which}. Battery power is positive when discharging.",
        lambda p: plots.plot_days(s or {}, days, roi.dt_h, p),
    )
    add(
        "battery life",
        "battery_life.png",
        "Year-1 state of charge (daily range), and usable energy and SoH year by year.",
        lambda p: plots.plot_battery_life(s, roi.years, p),
    )
    add(
        "cash flow",
        "cash_flow.png",
        "Net cash flow per year and cumulative cash flow, simple and discounted, paybacks marked.",
        lambda p: plots.plot_cash_flow(
            roi.years,
            capex=num(roi.data.get("capex")),
            simple_pb=num(roi.data.get("simple_payback_years")),
            discounted_pb=num(roi.data.get("discounted_payback_years")),
            currency=cur,
            path=p,
        ),
    )
    add(
        "EMS vs optimum",
        "ems_vs_optimum.png",
        "Year-1 savings of this EMS and of the perfect-foresight optimum, split energy/demand"
        + (", PV's part apart." if pv_part(roi) else "."),
        lambda p: plots.plot_vs_optimum(
            roi.section("savings_year1") or None,
            roi.section("optimum_savings_year1") or None,
            pv=pv_part(roi),
            share=num(roi.data.get("optimum_share")),
            currency=cur,
            path=p,
        ),
    )
    return out, which


# ------------------------------------------------------------------------------------------
# html and markdown
# ------------------------------------------------------------------------------------------
_CSS = BASE_CSS


def _td(text: str, *, numeric: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if numeric else "", cls) if c)
    return f'<td class="{classes}">{esc(text)}</td>' if classes else f"<td>{esc(text)}</td>"


def _html_rows(rows: Sequence[Sequence[str]], *, first_is_label: bool = True) -> list[list[str]]:
    return [[_td(c, numeric=not (first_is_label and k == 0)) for k, c in enumerate(row)] for row in rows]


def _write_html(roi: Roi, images: Mapping[str, tuple[Path, bytes, str]], path: Path) -> None:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ROI — {esc(roi.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>ROI — {esc(roi.name)}</h1>",
        f'<p class="lead">{esc(sentence(roi))}</p>',
    ]
    parts += [f'<div class="note">{esc(n)}</div>' for n in roi.notes]
    parts.append("<h2>Headline</h2>")
    for title, group in headline(roi):
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append('<table class="headline">')
        for k, v, n in group:
            th = '<th class="sub">' if k.startswith("  ") else "<th>"
            parts.append(f"<tr>{th}{esc(k.strip())}</th>{_td(v, numeric=True)}<td>{esc(n)}</td></tr>")
        parts.append("</table>")

    if roi.claims:
        parts.append("<h2>Claims</h2>")
        rows_html = [
            [
                _td(r[0]),
                _td(r[1]),
                _td(r[2]),
                _td(r[3], cls={"yes": "yes", "no": "no"}.get(r[3], "")),
                _td(r[4]),
            ]
            for r in claim_rows(roi)
        ]
        parts.append('<div id="claims">' + html_table(CLAIM_HEAD, rows_html) + "</div>")

    parts.append("<h2>Bills, year 1</h2>")
    head, rows = bill_table(roi)
    parts.append(html_table(head, _html_rows(rows)))
    head, rows = month_table(roi)
    if rows:
        parts.append("<h3>By month</h3>")
        parts.append(html_table(head, _html_rows(rows)))

    parts.append("<h2>Cash flow, year by year</h2>")
    head, rows = year_table(roi)
    parts.append(html_table(head, _html_rows(rows)))

    parts.append("<h2>Plots</h2>")
    for name, (_, png, caption) in images.items():
        parts.append(f"<figure>{img_tag(name, png)}<figcaption>{esc(caption)}</figcaption></figure>")

    notes = [str(n) for n in roi.data.get("notes") or []]
    parts.append("<h2>Notes</h2>")
    parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>")

    parts.append("<h2>Study</h2>")
    parts.append('<table class="facts">')
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts(roi)]
    parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]], *, align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column (l/r), default label then numbers."""
    rule = ["---:" if a == "r" else "---" for a in (align or "l" + "r" * (len(head) - 1))]
    out = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "|".join(rule) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out


def _write_md(roi: Roi, images: Mapping[str, tuple[Path, bytes, str]], path: Path) -> None:
    lines = [f"# ROI — {md_cell(roi.name)}", "", sentence(roi), ""]
    lines += [f"> {md_cell(n)}" for n in roi.notes]
    if roi.notes:
        lines.append("")
    lines += ["## Headline", ""]
    for title, group in headline(roi):
        lines += [f"### {title}", ""]
        lines += _md_table(["", "", ""], [[sub_label(k, "· "), v, n] for k, v, n in group], align="lrl")
        lines.append("")
    if roi.claims:
        lines += ["## Claims", "", *_md_table(CLAIM_HEAD, claim_rows(roi), align="lllll"), ""]
    lines += ["## Bills, year 1", ""]
    lines += [*_md_table(*bill_table(roi)), ""]
    head, rows = month_table(roi)
    if rows:
        lines += ["### By month", "", *_md_table(head, rows), ""]
    lines += ["## Cash flow, year by year", "", *_md_table(*year_table(roi)), ""]
    lines += ["## Plots", ""]
    for name, (file, _, caption) in images.items():
        lines += [f"![{name}]({file.relative_to(path.parent).as_posix()})", "", f"*{md_cell(caption)}*", ""]
    notes = [str(n) for n in roi.data.get("notes") or []]
    lines += ["## Notes", "", *([f"- {md_cell(n)}" for n in notes] or ["None."]), ""]
    lines += ["## Study", "", *_md_table(["", ""], facts(roi), align="ll"), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------
# entry points
# ------------------------------------------------------------------------------------------
def build_roi_report(out_dir: Path) -> RoiReportFiles:
    """Write report.html, report.md and plots/*.png from ``out_dir``'s roi.json and series.

    Raises FileNotFoundError naming ``roi.json`` when it is missing, ValueError when it is not
    a JSON object. A missing or unreadable ``roi_series.parquet`` is noted in the report and
    only the figures that need it go without.
    """
    out_dir = Path(out_dir)
    roi = _load(out_dir)
    images, _ = _plots(roi, out_dir / "plots")
    files = RoiReportFiles(
        out_dir=out_dir,
        html=out_dir / "report.html",
        md=out_dir / "report.md",
        plots=tuple(p for p, _, _ in images.values()),
    )
    _write_html(roi, images, files.html)
    _write_md(roi, images, files.md)
    log.info("ROI report of %s: %s", roi.name, files.html)
    return files


def print_roi_summary(out_dir: Path, console: Console) -> None:
    """The terminal view: the headline figures in one compact table."""
    roi = _load(out_dir, series=False)
    table = Table(title=Text(f"ROI — {roi.name} ({roi.currency})"), title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    for k, (title, rows) in enumerate(headline(roi)):
        if k:
            table.add_section()
        table.add_row(Text(title, style="bold"), "", "")
        for label, value, note in rows:
            table.add_row(Text(sub_label(label, "  · ")), Text(value), Text(note))
    console.print(table)
