"""The body of ``hil roi`` (kept out of hil/cli.py): load, run with a progress bar, write, summarise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import ConfigError

__all__ = ["EXIT_BAD_INPUT", "run_roi"]

EXIT_BAD_INPUT = 2


def run_roi(study_name: str, out_dir: Path | None, *, show: bool = True) -> None:
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from .cli_common import err
    from .config import beside
    from .roi import run_study
    from .roi_io import write_roi
    from .study import load_study
    from .tariff import load_tariff

    try:
        study = load_study(study_name)
        tariff = load_tariff(beside(study.path, study.spec.tariff))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(EXIT_BAD_INPUT)
    out = out_dir or Path("runs") / "roi" / study.name
    wall0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not (show and err.is_terminal),
    ) as bar:
        task = bar.add_task(study.name, total=1.0)

        last = [-1]

        def progress(what: str, frac: float) -> None:
            bar.update(task, completed=frac, description=f"{study.name}: {what}")
            decile = int(frac * 10)
            if show and not err.is_terminal and decile != last[0]:  # a log line every 10 %
                last[0] = decile
                err.print(
                    f"{study.name}: {frac:4.0%} {what} ({time.perf_counter() - wall0:,.0f} s)",
                    highlight=False,
                )

        try:
            roi, series = run_study(study, tariff, progress=progress)
        except ConfigError as exc:
            err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
            sys.exit(EXIT_BAD_INPUT)
    roi["wall_s"] = time.perf_counter() - wall0
    files = write_roi(out, roi, series)
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from .roi_report import print_roi_summary

    print_roi_summary(out, Console())
    err.print(", ".join(f"{k}: {v}" for k, v in files.items()), highlight=False)
