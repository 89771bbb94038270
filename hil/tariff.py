"""Tariff files: a shipped name (``profiles/tariffs/``) or a path, in our YAML form
(docs/tariffs.md) or as an OpenEI URDB rate object (JSON). Errors name the file, the line and,
for misspelt keys, a did-you-mean."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twin.econ import Tariff, parse_tariff, tariff_from_urdb
from twin.errors import ParameterError

from .config import issues_to_config_error, load_yaml, profiles_dir
from .errors import ConfigError, Problem, did_you_mean

__all__ = ["find_tariff", "is_tariff", "load_tariff", "shipped_tariffs"]

_SUFFIXES = (".yaml", ".yml", ".json")


def shipped_tariffs() -> list[str]:
    folder = profiles_dir() / "tariffs"
    return sorted(f.stem for f in folder.iterdir() if f.suffix in _SUFFIXES) if folder.is_dir() else []


def find_tariff(name_or_path: str) -> Path:
    """A path as given, or a shipped tariff ``profiles/tariffs/<name>.yaml|.json``."""
    p = Path(name_or_path)
    if p.suffix in _SUFFIXES or p.exists():
        if not p.is_file():
            raise ConfigError([Problem(str(p), None, "", "file not found")])
        return p
    folder = profiles_dir() / "tariffs"
    for suffix in _SUFFIXES:
        if (folder / f"{name_or_path}{suffix}").is_file():
            return folder / f"{name_or_path}{suffix}"
    names = shipped_tariffs()
    tail = did_you_mean(name_or_path, names)
    msg = f"no tariff named {name_or_path!r}{tail} (shipped: {', '.join(names)})"
    raise ConfigError([Problem(str(folder), None, "", msg)])


def is_urdb(data: Any) -> bool:
    return isinstance(data, Mapping) and ("items" in data or "energyratestructure" in data)


def is_tariff(data: Any) -> bool:
    """Whether a parsed file looks like a tariff (ours or URDB)."""
    return isinstance(data, Mapping) and ("tariff_id" in data or is_urdb(data))


def load_tariff(name_or_path: str | Path) -> Tariff:
    """Parse a tariff file; every problem is raised at once as a :class:`ConfigError`."""
    path = find_tariff(str(name_or_path))
    data, lines = load_yaml(path)  # JSON is read by the same loader, with its lines
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(str(path), 1, "", "a tariff file must be a mapping")])
    try:
        return tariff_from_urdb(data) if is_urdb(data) else parse_tariff(data)
    except ParameterError as exc:
        raise issues_to_config_error(path, lines, exc) from None
