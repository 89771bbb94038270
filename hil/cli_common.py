"""What every ``hil`` command module shares: the error console and the bad-input exit."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from hil.errors import ConfigError

__all__ = ["err", "fail"]

err = Console(stderr=True, soft_wrap=True)  # error lines stay whole, for grep and CI logs


def fail(exc: ConfigError) -> NoReturn:
    """Print every problem of a bad file (file:line, did-you-mean) and exit 2: nothing ran."""
    err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
    sys.exit(2)
