"""``summary.md``: the facts and tables in Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._render import md_cell as _md

if TYPE_CHECKING:
    pass

from .load import _Run
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
