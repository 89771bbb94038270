"""``hil cell``: a cell experiment, as on a cell cycler (kept out of hil/cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hil.cli_common import err
from hil.config import find_profile, issues_to_config_error, load_yaml
from hil.errors import ConfigError
from twin import CellParams, ParameterError, load_cell, run_cell_experiment, shipped_cells

__all__ = ["cell"]


@click.command()
@click.option(
    "--params",
    "params",
    default="lfp_280ah",
    show_default=True,
    help=f"Shipped cell set ({', '.join(shipped_cells())}) or a YAML path.",
)
@click.option("--soc0", type=float, default=0.5, show_default=True, help="Initial SoC (0–1).")
@click.option(
    "--temp",
    "temp",
    type=float,
    default=25.0,
    show_default=True,
    help="Initial and ambient temperature, °C.",
)
@click.option("--dt", type=float, default=1.0, show_default=True, help="Output / step interval, s.")
@click.option(
    "--step",
    "steps",
    multiple=True,
    required=True,
    help="'discharge|charge <x> A for <dur>', '... until <v> V' or 'rest <dur>'.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV file to write (default: standard output).",
)
def cell(params: str, soc0: float, temp: float, dt: float, steps: tuple[str, ...], out: Path | None) -> None:
    """Run a cell experiment, as on a cell cycler, and write a CSV.

    \b
    Example:
      hil cell --params ecm_example_100ah --soc0 0.99 --temp 25 --dt 0.1 \\
               --step "discharge 100 A until 3.2 V" --step "rest 1 h" --out cell.csv
    """
    try:
        cell_params = _cell_params(params)
        result = run_cell_experiment(cell_params, list(steps), soc0=soc0, temp_degc=temp, dt=dt)
    except (ParameterError, ConfigError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    text = result.to_csv()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        c = result.columns
        err.print(
            f"{out}: {len(c['t_s'])} rows, {c['t_s'][-1]:.1f} s, V {c['voltage_v'].min():.4f}–"
            f"{c['voltage_v'].max():.4f} V, steps ended by: {', '.join(result.end_reasons)}"
        )


def _cell_params(spec: str) -> CellParams:
    """A shipped cell set by name, a cell YAML under ``profiles/cells/`` by name, or a path."""
    if spec in shipped_cells():
        return load_cell(spec)
    try:
        path = find_profile("cells", spec)
    except ConfigError:
        if Path(spec).suffix in (".yaml", ".yml"):
            raise
        return load_cell(spec)  # not a file either: the error suggests a shipped name
    data, lines = load_yaml(path)
    try:
        return load_cell(data, base_dir=path.parent)
    except ParameterError as exc:
        raise issues_to_config_error(path, lines, exc, root=("cell",)) from None
