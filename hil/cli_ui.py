"""``--ui`` of ``hil serve`` and ``hil run``: the dashboard the options and the site's
``endpoints: ui:`` ask for (imported by :mod:`hil.cli` only when it is asked for)."""

from __future__ import annotations

import sys

from hil.cli_common import err
from hil.endpoints import EndpointConfig
from hil.ui import Dashboard, UiConfig

__all__ = ["dashboard_for"]


def dashboard_for(endpoints: EndpointConfig, *, port: int | None, read_only: bool) -> Dashboard:
    """A dashboard on the site's host, on ``port`` (else the site's), read-only if either says
    so; a bad port exits 2 before anything starts."""
    try:
        cfg = UiConfig(
            host=endpoints.host,
            port=endpoints.ui_port if port is None else port,
            read_only=read_only or endpoints.ui_read_only,
        )
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    return Dashboard(cfg)
