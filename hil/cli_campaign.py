"""``hil campaign``: many runs of a study or scenario suite on Dask, with a progress bar,
a results table, a report and (for an EMS comparison) an exit status CI can gate on.

Registered on the ``hil`` group by :mod:`hil.cli`; the work is in :mod:`hil.campaign`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hil.cli_common import err
from hil.cli_common import fail as _fail
from hil.errors import ConfigError, OutputError

__all__ = ["EXIT_REGRESSION", "campaign"]

#: the exit status of a comparison that found a regression (a failed run alone is not one)
EXIT_REGRESSION = 1


@click.command()
@click.argument("campaign_file", metavar="CAMPAIGN")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The campaign folder (default runs/campaigns/<name>); a folder holding this campaign is resumed.",
)
@click.option(
    "--scheduler", default=None, help="tcp://HOST:PORT of a running Dask scheduler (else a LocalCluster)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="LocalCluster workers (default: the file's cluster: workers, else the cores).",
)
@click.option("--fresh", is_flag=True, help="Discard the runs already in the folder and start over.")
@click.option("--retry-failed", is_flag=True, help="On resume, run the failed runs again too.")
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="Stop after this many runs (resume later)."
)
@click.option("--dry-run", is_flag=True, help="Check the file and print the plan; run nothing.")
def campaign(
    campaign_file: str,
    out_dir: Path | None,
    scheduler: str | None,
    workers: int | None,
    fresh: bool,
    retry_failed: bool,
    limit: int | None,
    dry_run: bool,
) -> None:
    """Run a campaign: a sizing sweep, an EMS comparison or a Monte Carlo fault campaign.

    Every run is a task on Dask (a LocalCluster on this machine's loopback by default; an
    existing cluster with --scheduler); results stream into OUT/results.parquet as runs finish,
    a killed campaign resumes where it stopped, a failed run is recorded and the rest go on.
    Ends with OUT/report.html. Exits 1 when an EMS comparison finds a regression, 2 on a bad
    file, 130 when interrupted (run the same command to resume).

    \b
    Example:
      hil campaign sizing_aidc_10k --out runs/sizing
      hil campaign ems_regression --workers 2
      hil campaign fault_monte_carlo --scheduler tcp://10.0.0.5:8786
    """
    # imported here, not at the top: only this command needs Dask (keeps `hil --help` quick)
    from hil.campaign import load_campaign
    from hil.campaign.compare import compare_runs
    from hil.campaign.engine import metric_names, run_campaign
    from hil.campaign.plan import checked_plan
    from hil.campaign.report import ReportFacts, build_campaign_report
    from hil.campaign.store import read_results

    try:
        camp = load_campaign(campaign_file)
        if dry_run:
            _print_plan(camp, checked_plan(camp))
            return
    except ConfigError as exc:
        _fail(exc)
    out = out_dir or Path("runs") / "campaigns" / camp.name
    show = err.is_terminal
    last_decile = [-1]
    wall0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not show,
    ) as bar:
        task = bar.add_task(camp.name, total=None)
        told = [False]

        def progress(done: int, total: int, row: dict[str, Any] | None, dashboard: str | None) -> None:
            if not told[0] and dashboard is not None:
                err.print(f"Dask dashboard: {dashboard}", highlight=False)
                told[0] = True
            bar.update(task, completed=done, total=total)
            if row is not None and row["status"] != "ok":
                first = (row["error"] or "").splitlines()[0] if row["error"] else ""
                err.print(f"[yellow]run {row['run_id']} failed:[/] {first}", markup=True, highlight=False)
            decile = int(10 * done / max(total, 1))
            if not show and decile != last_decile[0]:  # a log line every 10 % where there is no bar
                last_decile[0] = decile
                err.print(
                    f"{camp.name}: {done}/{total} runs ({time.perf_counter() - wall0:,.0f} s)",
                    highlight=False,
                )

        try:
            outcome = run_campaign(
                camp,
                out,
                scheduler=scheduler,
                workers=workers,
                fresh=fresh,
                retry_failed=retry_failed,
                progress=progress,
                limit=limit,
            )
        except ConfigError as exc:
            _fail(exc)
        except OutputError as exc:
            err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
            sys.exit(4)
    metrics = metric_names(camp)
    comparison = None
    if camp.spec.compare is not None:
        comparison = compare_runs(read_results(out), camp.spec.compare, metrics)
        (out / "comparison.json").write_text(json.dumps(comparison.as_dict(), indent=1, default=str))
    facts = ReportFacts(
        camp.name,
        camp.spec.title,
        camp.spec.base.kind,
        outcome.wall_s if outcome.ran else None,
        outcome.workers,
    )
    html, _md = build_campaign_report(out, facts, metrics, comparison)
    console = Console()
    console.print(
        f"{camp.name}: {outcome.resumed + outcome.ran} of {outcome.total} runs finished"
        f" ({outcome.resumed} found in the folder, {outcome.ran} run now, {outcome.failed} failed)"
        + (f" in {outcome.wall_s:,.1f} s on {outcome.workers} workers" if outcome.ran else ""),
        highlight=False,
    )
    if comparison is not None:
        verdict = (
            f"[red]{len(comparison.regressions)} regression(s)[/]"
            if comparison.regressions
            else "[green]no regression[/]"
        )
        console.print(
            f"{comparison.candidate} against {comparison.baseline}: {verdict} in {comparison.pairs} pairs"
        )
        for f in comparison.regressions[:20]:
            console.print(f"  - {f.what} at {f.pair}: {f.baseline} → {f.candidate}", highlight=False)
    err.print(f"results: {out / 'results.parquet'}\nreport: {html}", highlight=False)
    if outcome.interrupted:
        err.print("interrupted: run the same command to resume", highlight=False)
        sys.exit(130)
    if comparison is not None and comparison.regressions:
        sys.exit(EXIT_REGRESSION)


def _print_plan(camp: Any, runs: list[Any]) -> None:
    console = Console()
    spec = camp.spec
    head = f"{camp.name}: {len(runs)} runs ({spec.base.kind} base, {spec.sampling} sampling,"
    console.print(f"{head} {spec.n_replicates} replicate(s) per point)", highlight=False)
    for r in runs[:20]:
        faults = f", {len(r.faults)} faults" if r.faults else ""
        console.print(f"  {r.run_id}: {r.params} seed {r.seed}{faults}", highlight=False)
    if len(runs) > 20:
        console.print(f"  ... and {len(runs) - 20} more", highlight=False)
