"""Pieces shared by the reports (:mod:`hil.report`, :mod:`hil.roi_report`).

Figures are drawn on their own Agg canvas (never pyplot, so no global backend or state), HTML
is assembled from escaped strings with inline PNGs as data URIs, Markdown cells are escaped
for pipes and angle brackets.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["BASE_CSS", "esc", "html_table", "img_tag", "md_cell", "new_figure", "num", "save_png"]


#: the reports' common look (the run, ROI and campaign reports add their own classes to it)
BASE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{margin:0 0 4px 0;font-size:24px} h2{margin-top:28px;font-size:18px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:14px 0 4px 0}
.lead{font-size:15px;margin:10px 0 14px 0;max-width:1000px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} table.facts th{width:200px} table.headline th{width:260px}
table.headline th.sub{font-weight:400;padding-left:24px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.yes{color:#2e7d32;font-weight:700} td.no{color:#c62828;font-weight:700}
.note{color:#8a6d00;background:#fffbe6;border:1px solid #f0e0a0;padding:6px 10px;margin:6px 0}
img{max-width:100%;border:1px solid #eee} figcaption{color:#555;font-size:13px}
"""


def num(x: Any) -> float | None:
    """``x`` as a finite float, or None (for None, booleans, text, NaN and infinities)."""
    if isinstance(x, bool) or x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def new_figure(width: float, height: float) -> Any:
    """A figure on its own Agg canvas: no pyplot, so no global backend or state changes."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: Path) -> bytes:
    """Write ``fig`` to ``path`` as PNG (creating the folder) and return the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path.read_bytes()


def esc(x: Any) -> str:
    """HTML-escaped text; None is empty."""
    return html.escape("" if x is None else str(x))


def html_table(
    head: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None
) -> str:
    """An HTML table from already escaped ``<td>`` cells; ``classes`` are per-row CSS classes."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for k, row in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes else ""
        out.append(f"<tr{cls}>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def img_tag(name: str, png: bytes) -> str:
    """An ``<img>`` holding ``png`` as a data URI, so the page stays one self-contained file."""
    b64 = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(name)}" src="data:image/png;base64,{b64}">'


def md_cell(x: Any) -> str:
    """Text safe inside a Markdown table cell (pipes, newlines, angle brackets)."""
    text = str("" if x is None else x).replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")
