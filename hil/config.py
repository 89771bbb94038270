"""YAML loading with line numbers, and site files.

Errors name the file, the line and, for misspelt keys, a did-you-mean; every problem in a
file is reported at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from twin import Site
from twin.errors import ParameterError
from twin.params import suggest

__all__ = ["ConfigError", "find_profile", "issues_to_config_error", "load_bench", "load_site", "load_yaml"]

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"


class ConfigError(Exception):
    """A configuration file is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s):\n{body}")


class _LineLoader(yaml.SafeLoader):
    pass


def load_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse ``path``; returns the data and a map from key path to 1-based line."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([Problem(str(path), line, "", _yaml_hint(exc))]) from None
    lines: dict[Path_, int] = {}
    if node is None:
        return {}, lines

    def walk(n: yaml.Node, p: Path_) -> None:
        lines[p] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value
                lines[(*p, key)] = k.start_mark.line + 1
                walk(v, (*p, key))
                lines[(*p, key)] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*p, i))

    walk(node, ())
    loader = _LineLoader(text)
    try:
        data = loader.construct_document(node)
    finally:
        loader.dispose()
    return data, lines


def _line_for(lines: Mapping[Path_, int], path: Path_) -> int | None:
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())


def profiles_dir() -> Path:
    """``$HIL_PROFILES``, else the checkout's ``profiles/``, else the copy installed in the wheel."""
    env = os.environ.get("HIL_PROFILES")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "profiles"
    if checkout.is_dir():
        return checkout
    return here / "_profiles"


def find_profile(kind: str, name_or_path: str) -> Path:
    """A path as given, or a shipped profile ``profiles/<kind>/<name>.yaml``."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError([Problem(str(p), None, "", "file not found")])
        return p
    folder = profiles_dir() / kind
    candidate = folder / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    names = sorted(f.stem for f in folder.glob("*.yaml"))
    hint = suggest(name_or_path, names)
    tail = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ConfigError(
        [
            Problem(
                str(folder),
                None,
                "",
                f"no {kind[:-1]} named {name_or_path!r}{tail} (shipped: {', '.join(names)})",
            )
        ]
    )


def load_site(name_or_path: str, *, overrides: Mapping[str, Any] | None = None) -> Site:
    """Build a :class:`twin.Site` from a site YAML (a shipped name or a path)."""
    return load_bench(name_or_path, overrides=overrides)[0]


def load_bench(name_or_path: str, *, overrides: Mapping[str, Any] | None = None) -> tuple[Site, Any]:
    """The site and its ``endpoints:`` section (:class:`hil.endpoints.EndpointConfig`).

    Problems in the twin's part and in the endpoints are reported together."""
    from .endpoints import EndpointConfig, parse_endpoints

    path = find_profile("sites", name_or_path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), 1, "", "a site file must be a mapping")])
    data = _merge(dict(data), overrides or {})
    problems: list[Problem] = []
    endpoints: EndpointConfig | None = None
    try:
        endpoints = parse_endpoints(data.pop("endpoints", None), path=path, lines=lines)
    except ConfigError as exc:
        problems += exc.problems
    site: Site | None = None
    try:
        site = Site(data, base_dir=path.parent)
    except ParameterError as exc:
        problems += issues_to_config_error(path, lines, exc).problems
    if problems or site is None or endpoints is None:
        raise ConfigError(problems)
    return site, endpoints


def issues_to_config_error(
    path: Path, lines: Mapping[Path_, int], exc: ParameterError, *, root: Path_ = ()
) -> ConfigError:
    """The twin's parameter issues, each placed at its file and line. ``root`` is the key
    prefix the twin puts before paths that start at the top of this file."""

    def key_path(p: Path_) -> Path_:
        return p[len(root) :] if p[: len(root)] == root else p

    return ConfigError(
        [Problem(str(path), _line_for(lines, key_path(i.path)), i.where(), i.message) for i in exc.issues]
    )


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge key by key (a scenario's site_params)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _yaml_hint(exc: yaml.YAMLError) -> str:
    """PyYAML's complaint, and what usually causes it."""
    problem = str(getattr(exc, "problem", exc))
    context = str(getattr(exc, "context", "") or "")
    cmark = getattr(exc, "context_mark", None)
    where = f" opened at line {cmark.line + 1}" if cmark is not None else ""
    if "flow mapping" in context or "expected ',' or '}'" in problem:
        hint = (
            f"the inline {{...}} mapping{where} is not closed: add the missing '}}' (or a ',' between items)"
        )
    elif "flow sequence" in context or "expected ',' or ']'" in problem:
        hint = f"the inline [...] list{where} is not closed: add the missing ']' (or a ',' between items)"
    elif "'\\t'" in problem or "\t" in problem:
        hint = "YAML does not allow tabs for indentation: indent with spaces"
    elif "<block end>" in problem or "mapping values are not allowed" in problem:
        hint = "check the indentation: this line does not line up with the keys of its block"
    else:
        hint = "check the indentation, quotes and brackets on this line and the one above"
    return f"malformed YAML: {problem}; {hint}"
