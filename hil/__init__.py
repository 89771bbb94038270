"""The bench around the twin: configuration files, command line, (later) protocols and runs."""

from __future__ import annotations

from hil.config import ConfigError, find_profile, load_site, load_yaml

__all__ = ["ConfigError", "find_profile", "load_site", "load_yaml"]
