"""The money commands of ``hil``: ``hil bill`` (a load under a tariff) and ``hil roi`` (a study).

Registered on the ``hil`` group by :mod:`hil.cli`; their bodies live in :mod:`hil.trace.bill`,
:mod:`hil.load_file` and :mod:`hil.cli_roi`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from hil.cli_common import err
from hil.cli_common import fail as _fail
from hil.errors import ConfigError
from twin.econ import compute_bill

__all__ = ["bill", "roi"]


@click.command()
@click.argument(
    "trace_dir",
    metavar="[RUN_DIR]",
    required=False,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--tariff", "tariff_name", required=True, help="Shipped tariff name, or a YAML / URDB JSON path."
)
@click.option(
    "--load",
    "load",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A hil run folder, or a CSV / Parquet file with timestamp (local interval start) and p_import_kw.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where bill.json and bill.md go (default: the run folder, or the load file's folder).",
)
@click.option(
    "--start",
    default="2026-01-01T00:00",
    show_default=True,
    help="Local time of t_s = 0 (used when the trace has no site.local_time column).",
)
def bill(
    trace_dir: Path | None, tariff_name: str, load: Path | None, out_dir: Path | None, start: str
) -> None:
    """Bill a load under a tariff; prints the bill and writes bill.json and bill.md.

    The load is a run folder (its trace's grid.p_import_kw) or a CSV / Parquet file with the
    columns timestamp (ISO 8601 local interval start) and p_import_kw (negative = export), at
    any interval from 1 s to 1 h. Energy is integrated from the samples; demand is the monthly
    maximum 15-minute average import (docs/tariffs.md). A short load bills a partial month.

    \b
    Examples:
      hil bill runs/tou_day --tariff example_cn_north_2026 --start 2026-07-01T00:00
      hil bill --tariff example_cn_jibei_2026 --load site_2025.csv --out bills/
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    import json

    from hil.load_file import read_load
    from hil.tariff import load_tariff
    from hil.trace.bill import bill_markdown, bill_table, bill_trace

    if (trace_dir is None) == (load is None):
        err.print("[red]error:[/] give the load once: a run folder, or --load RUN_DIR|FILE", markup=True)
        sys.exit(2)
    src = trace_dir if trace_dir is not None else load
    assert src is not None
    try:
        tariff = load_tariff(tariff_name)
        if src.is_dir():
            result = bill_trace(src, tariff, start=start)
            gaps = 0
        else:
            series = read_load(src, timezone=tariff.timezone)
            result = compute_bill(tariff, series.ts, series.p_import_kw, series.interval_s)
            gaps = series.gaps
    except ConfigError as exc:
        _fail(exc)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(2)
    dest = out_dir if out_dir is not None else (src if src.is_dir() else src.parent)
    dest.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    data["source"] = str(src)
    (dest / "bill.json").write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    (dest / "bill.md").write_text(bill_markdown(result, str(src)), encoding="utf-8")
    Console().print(bill_table(result, tariff.tariff_id))
    if gaps:
        err.print(
            f"warning: {gaps} gap(s) in {src}: missing intervals are billed as no import", highlight=False
        )
    Console(stderr=True).print(f"bill: {dest / 'bill.json'}, {dest / 'bill.md'}", highlight=False)


@click.command()
@click.argument("study_name", metavar="STUDY")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: runs/roi/<study>).",
)
@click.option("--no-status", is_flag=True, help="No progress bar.")
def roi(study_name: str, out_dir: Path | None, no_status: bool) -> None:
    """What storage (and PV) earn on a site: simulate a study's year, bill it, finance it.

    Writes roi.json, roi_series.parquet and a report (HTML, Markdown, plots) to the output
    folder. STUDY is a shipped study (profiles/studies/) or a path (docs/study-schema.md).

    \b
    Examples:
      hil roi ref_a
      hil roi profiles/studies/aidc_10k_cn_north.yaml --out runs/roi/north
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.cli_roi import run_roi

    run_roi(study_name, out_dir, show=not no_status)
