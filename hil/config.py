"""YAML loading with line numbers, and site files.

Errors name the file, the line and, for misspelt keys, a did-you-mean; every problem in a
file is reported at once.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from twin import Site
from twin.errors import ParameterError

from .endpoints import EndpointConfig, parse_endpoints
from .errors import ConfigError, Path_, Problem, did_you_mean, line_for
from .limits import FILE_LIMITS

__all__ = ["ConfigError", "find_profile", "issues_to_config_error", "load_bench", "load_site", "load_yaml"]

#: The tags a file may carry: YAML's standard scalars and collections (no ``!!python/...``,
#: no ``!!binary``, no application tags).
_ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp", "merge")
)
_NUMBER_TAGS = frozenset(("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"))
_MAX_NUMBER_CHARS = 100  # float precision ends at 17 digits; Python refuses ints over 4 300
_UTF_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Refused(Exception):
    """A file beyond a limit of :data:`hil.limits.FILE_LIMITS`, at a line."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _limit(name: str) -> int:
    return int(FILE_LIMITS[name].value)


def _over(name: str, what: str) -> str:
    lim = FILE_LIMITS[name]
    return f"{what}: the limit is {int(lim.value):,} ({lim.reason})"


class _LineLoader(yaml.SafeLoader):
    """PyYAML's safe loader that composes within :data:`hil.limits.FILE_LIMITS`.

    An alias is never expanded here: its expanded size and depth are counted from the node it
    refers to (memoised), so a billion-laughs file is refused at its first alias over budget."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._aliases = 0
        self._open: set[str] = set()
        self._extent: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > _limit("aliases"):
                raise _Refused(line, _over("aliases", "too many aliases ('*name')"))
            if event.anchor in self._open:
                raise _Refused(line, f"alias *{event.anchor} refers to the node it is in (a recursive alias)")
            node: yaml.Node | None = super().compose_node(parent, index)
            assert node is not None  # an alias event always composes a node
            size, depth = self._extent_of(node)
            self._count(size, line, f"alias *{event.anchor} expands to {size:,} keys and values")
            if self._depth + depth > _limit("depth"):
                raise _Refused(line, _over("depth", f"alias *{event.anchor} nests too deep"))
            return node
        self._depth += 1
        if self._depth > _limit("depth"):
            raise _Refused(line, _over("depth", f"nested deeper than {_limit('depth')} levels"))
        self._count(1, line, "too many keys and values")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)
        assert node is not None  # composing at an event always gives a node
        self._check_node(node, line)
        return node

    def _count(self, n: int, line: int, what: str) -> None:
        self._nodes += n
        if self._nodes > _limit("nodes"):
            raise _Refused(line, _over("nodes", f"{what}, {self._nodes:,} keys and values in all"))

    def _extent_of(self, node: yaml.Node) -> tuple[int, int]:
        """(values, depth) of ``node`` with its aliases expanded; memoised, never expanded."""
        hit = self._extent.get(id(node))
        if hit is not None:
            return hit
        if isinstance(node, yaml.MappingNode):
            parts = [self._extent_of(n) for kv in node.value for n in kv]
        elif isinstance(node, yaml.SequenceNode):
            parts = [self._extent_of(n) for n in node.value]
        else:
            parts = []
        out = (1 + sum(p[0] for p in parts), 1 + max((p[1] for p in parts), default=0))
        self._extent[id(node)] = out
        return out

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. ``!!int abc``
            raise _Refused(node.start_mark.line + 1, f"cannot read this value: {exc}") from None

    @staticmethod
    def _check_node(node: yaml.Node, line: int) -> None:
        if node.tag not in _ALLOWED_TAGS:
            raise _Refused(
                line,
                f"tag {node.tag!r} not allowed: only YAML's standard types (str, int, float, bool, null, "
                "lists, mappings, dates)",
            )
        if isinstance(node, yaml.ScalarNode) and len(node.value) > _limit("string_chars"):
            raise _Refused(line, _over("string_chars", f"a value of {len(node.value):,} characters"))
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag in _NUMBER_TAGS
            and len(node.value) > _MAX_NUMBER_CHARS
        ):
            raise _Refused(line, f"a number of {len(node.value):,} characters")
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    raise _Refused(
                        key.start_mark.line + 1, "a key must be a plain name, not a list or mapping"
                    )
                if len(key.value) > _limit("key_chars"):
                    raise _Refused(
                        key.start_mark.line + 1, _over("key_chars", f"a key of {len(key.value):,} characters")
                    )


def _read_text(path: Path) -> str:
    """The file as text, refused if too large, not UTF-8 or binary."""
    cap = _limit("file_bytes")
    try:
        with path.open("rb") as fh:
            raw = fh.read(cap + 1)
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from None
    if len(raw) > cap:
        raise ConfigError([Problem(str(path), None, "", _over("file_bytes", "file too large"))])
    for bom, name in _UTF_BOMS:
        if raw.startswith(bom):
            raise ConfigError(
                [Problem(str(path), 1, "", f"the file is {name} text, not UTF-8: save it as UTF-8")]
            )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                Problem(
                    str(path),
                    line,
                    "",
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
                    "a configuration file is UTF-8 YAML or JSON",
                )
            ]
        ) from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is harmless
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise ConfigError(
            [
                Problem(
                    str(path),
                    line,
                    "",
                    f"binary data (control character 0x{ord(bad.group()):02x}): not a text file",
                )
            ]
        )
    return text


def load_yaml(path: Path) -> tuple[Any, dict[Path_, int]]:
    """Parse ``path``; returns the data and a map from key path to 1-based line.

    Refuses, with the file and line, anything beyond :data:`hil.limits.FILE_LIMITS`: a file
    too large, not UTF-8, binary, nested too deep, with too many or too large aliases, with
    tags other than YAML's standard ones, or with overlong keys or values."""
    text = _read_text(path)
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        lines: dict[Path_, int] = {}

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
        data = loader.construct_document(node)
    except _Refused as exc:
        raise ConfigError([Problem(str(path), exc.line, "", exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([Problem(str(path), line, "", _yaml_hint(exc))]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a 5 000-digit integer
        raise ConfigError([Problem(str(path), None, "", f"cannot read a value: {exc}")]) from None
    finally:
        loader.dispose()
    return data, lines


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


def beside(file_path: Path, name: str) -> str:
    """A path named in a file (a study's tariff, a campaign's base): relative to that file,
    else to the working directory; a path under ``profiles/`` also resolves in the shipped
    profiles (an installed wheel has them elsewhere); a bare name (a shipped profile) and a
    path found nowhere come back as given (the loader then says what is missing)."""
    p = Path(name)
    if not p.suffix or p.is_absolute():
        return name
    for cand in (file_path.parent / p, p):
        if cand.exists():
            return str(cand)
    if p.parts[0] == "profiles" and (profiles_dir() / Path(*p.parts[1:])).exists():
        return str(profiles_dir() / Path(*p.parts[1:]))
    return name


_SINGULAR = {"studies": "study"}


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
    tail = did_you_mean(name_or_path, names)
    raise ConfigError(
        [
            Problem(
                str(folder),
                None,
                "",
                f"no {_SINGULAR.get(kind, kind[:-1])} named {name_or_path!r}{tail}"
                f" (shipped: {', '.join(names)})",
            )
        ]
    )


def load_site(name_or_path: str, *, overrides: Mapping[str, Any] | None = None) -> Site:
    """Build a :class:`twin.Site` from a site YAML (a shipped name or a path)."""
    return load_bench(name_or_path, overrides=overrides)[0]


def load_bench(name_or_path: str, *, overrides: Mapping[str, Any] | None = None) -> tuple[Site, Any]:
    """The site and its ``endpoints:`` section (:class:`hil.endpoints.EndpointConfig`).

    Problems in the twin's part and in the endpoints are reported together."""

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
        [Problem(str(path), line_for(lines, key_path(i.path)), i.where(), i.message) for i in exc.issues]
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
