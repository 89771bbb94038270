"""The site-file reference (docs/site-schema.md), generated from the parameter declarations.

Every key of a site file's twin part is a field of :class:`twin.site_params.SiteParams` or of
a section's parameter class, declared with :func:`twin.params.param` (default, unit, bounds,
choices, where the default comes from). This walks that tree; the ``endpoints:`` section is
the example in :mod:`hil.endpoints`' docstring, the one place it is written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from twin.params import to_dict
from twin.site_params import SiteParams

from . import endpoints

__all__ = ["site_schema_markdown"]


def _dataclass_of(annotation: Any) -> type | None:
    """The parameter class behind a field's type (``X`` or ``X | None``), if any."""
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                return arg
    return None


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _fmt(value: Any) -> str:
    v = to_dict(value)
    if v is None:
        return "–"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return f"`{v:g}`"
    text = repr(v) if not isinstance(v, str) else v
    return f"`{text}`" if text else "`''`"


def _bounds(meta: typing.Mapping[str, Any]) -> str:
    parts = [
        f"{sym} {meta[k]:g}"
        for k, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
        if meta.get(k) is not None
    ]
    if meta.get("choices"):
        parts.append("one of " + ", ".join(f"`{c}`" for c in meta["choices"]))
    return "; ".join(parts) or "–"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _section(cls: type, key: str, out: list[str], nested: list[tuple[str, type, str]]) -> None:
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        sub = _dataclass_of(hints.get(f.name))
        meta = f.metadata
        path = f"{key}.{f.name}" if key else f.name
        if sub is not None:
            optional = _default(f) is None
            nested.append((path, sub, "optional: omit it for none" if optional else ""))
            rows.append(f"| `{f.name}` | section | – | – | see [`{path}:`](#{path.replace('.', '')}) |")
            continue
        what = meta.get("doc") or ""
        source = meta.get("source") or ""
        meaning = "; ".join(x for x in (what, f"default: {source}" if source else "") if x)
        rows.append(
            f"| `{f.name}` | {_fmt(_default(f))} | {meta.get('unit') or '–'} | {_bounds(meta)} | "
            f"{_cell(meaning)} |"
        )
    out += [
        "| key | default | unit | allowed | meaning; where the default comes from |",
        "|---|---|---|---|---|",
    ]
    out += rows
    out.append("")


def site_schema_markdown() -> str:
    """docs/site-schema.md: every key of a site file, section by section."""
    out: list[str] = [
        "# Site file reference",
        "",
        "Generated from the parameter declarations (`twin/site_params.py` and each device's",
        "parameter class) by `hil schema site`; do not edit by hand. A site file is YAML",
        "(`profiles/sites/*.yaml`); every key is optional and takes the default below. `hil",
        "validate FILE` checks one and names the file, the line and a did-you-mean for every",
        "problem. Sources: `[S]` read from a cited source, `[C]` computed, `[K]` a typical value",
        "(`docs/models/*.md` cite them).",
        "",
        "## Top level",
        "",
    ]
    nested: list[tuple[str, type, str]] = []
    _section(SiteParams, "", out, nested)
    done: set[str] = set()
    while nested:
        path, cls, note = nested.pop(0)
        if path in done:
            continue
        done.add(path)
        where = f"`{cls.__module__}.{cls.__name__}`" + (f"; {note}." if note else ".")
        out += [f"## `{path}:`", "", where, ""]
        if getattr(cls, "PROFILES", None):
            names = ", ".join(f"`{n}`" for n in cls.PROFILES)  # type: ignore[attr-defined]
            out += [f"`profile:` picks a named preset ({names}); the other keys override it.", ""]
        _section(cls, path, out, nested)
    doc = endpoints.__doc__ or ""
    start, end = doc.find("```yaml"), doc.rfind("```")
    out += [
        "## `endpoints:`",
        "",
        "Where and how the site's devices are served (`hil/endpoints.py`, not a twin parameter):",
        "",
        doc[start : end + 3] if 0 <= start < end else "",
        "",
        "`modbus.security` and `opcua.security` (access control) are in [security.md](security.md);",
        "the OPC UA limits in [integration.md](integration.md#5-opc-ua).",
        "",
    ]
    return "\n".join(out)
