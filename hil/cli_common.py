"""What every ``hil`` command module shares: the error console and the bad-input exit."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from hil.errors import ConfigError

__all__ = ["err", "fail", "ui_options"]

F = TypeVar("F", bound=Callable[..., Any])

err = Console(stderr=True, soft_wrap=True)  # error lines stay whole, for grep and CI logs


def fail(exc: ConfigError) -> NoReturn:
    """Print every problem of a bad file (file:line, did-you-mean) and exit 2: nothing ran."""
    err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
    sys.exit(2)


def ui_options(fn: F) -> F:
    """``--ui``, ``--ui-port`` and ``--ui-read-only`` (``hil serve`` and ``hil run``)."""
    fn = click.option(
        "--ui-read-only", is_flag=True, help="The dashboard shows the run; it accepts no action."
    )(fn)
    fn = click.option(
        "--ui-port",
        type=int,
        default=None,
        help="Dashboard port (default: the site's endpoints: ui: port, else 8080; 0 = any free port).",
    )(fn)
    return click.option(
        "--ui",
        is_flag=True,
        help="Serve the browser dashboard (live diagram, plots, events, fault injection) on the "
        "site's host; its URL, with the control token, is printed. Also on with ui: {enabled: "
        "true} in the scenario file or endpoints: ui: in the site file.",
    )(fn)
