"""``report.html``: one self-contained page (inline CSS, PNGs as data URIs, no script)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .._render import esc as _e
from .._render import html_table as _table
from .._render import img_tag

if TYPE_CHECKING:
    pass

from .load import EVENTS_SHOWN, ROUTINE_KINDS, _Run
from .text import (
    _facts,
    _fault_end,
    _fmt_condition,
    _fmt_t,
    _fmt_value,
    _fmt_window,
    _lateness,
    _result,
    _verdict,
)

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
