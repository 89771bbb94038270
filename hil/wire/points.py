"""Point maps: which SunSpec models a device exposes and what each point reads or writes.

A point map (``profiles/points/<name>.yaml``) is data. It lists a device's model chain and binds
points to the twin, by path ``<model>.<point>`` or ``<model>.<group>.<point>``:

``const``    a fixed value (number, string or enum symbol);
``source``   a twin signal (``pcs[i].p_ac_kw``, ``grid.f_hz``, ``gpu[g].p_kw``) or a value the
             device's behaviour derives (``dev.a_ac``), times ``scale`` plus ``offset``;
``control``  a writable setpoint held by the gateway: ``default`` and, for numbers, ``range``;
``index``    ``g`` or ``r``: the 1-based index of the group or model repeat (string Idx);
``auto``     a scale factor chosen so that the named rating fits every point that uses it.

``[i]`` is the device instance, ``[g]`` the repeating-group instance. Ratings (``w_max``,
``va_max``, ...) and ``dev.*`` names come from the device kind's behaviour (``hil/wire/devices/``).
Points left unbound serve SunSpec's not-implemented value, never 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.config import find_profile, load_yaml
from hil.errors import ConfigError, Path_, Problem, line_for
from hil.wire.sunspec import TYPES, GroupDef, ModelDef, PointDef, model_def, shipped_models
from twin.params import did_you_mean, suggest

__all__ = ["Binding", "ModelRef", "PointMap", "load_point_map"]

_BINDING_KEYS = {"const", "source", "scale", "offset", "control", "default", "range", "index", "auto", "doc"}
_SOURCE_RE = re.compile(r"^(dev\.[a-z_0-9]+|[a-z_]+(\[[igr]\])?\.[a-z_0-9]+)$")


@dataclass(frozen=True)
class Binding:
    path: str  # "701.W", "803.string.StrSoC"
    kind: str  # const | source | control | index | auto
    const: Any = None
    source: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    default: Any = None
    range: tuple[Any, Any] | None = None
    index: str | None = None
    auto: str | int | float | None = None
    doc: str = ""
    line: int | None = None


@dataclass(frozen=True)
class ModelRef:
    id: int
    repeat: str | int = 1  # a count or the name of a rating

    @property
    def definition(self) -> ModelDef:
        return model_def(self.id)


@dataclass
class PointMap:
    name: str
    kind: str
    title: str
    file: Path
    models: list[ModelRef]
    counts: dict[str, str | int]  # "803.string" -> count or rating name
    bindings: dict[str, Binding]
    lines: dict[Path_, int] = field(default_factory=dict)

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(str(self.file), line_for(self.lines, path), ".".join(map(str, path)), message)


def resolve_point(md: ModelDef, rest: list[str]) -> tuple[GroupDef, PointDef] | str:
    """Find ``group...point`` inside a model; an error message if there is none."""
    g = md.group
    for name in rest[:-1]:
        sub = g.group(name)
        if sub is None:
            tail = did_you_mean(name, [s.name for s in g.groups])
            return f"model {md.id} has no group {name!r}{tail}"
        g = sub
    p = g.point(rest[-1])
    if p is None:
        tail = did_you_mean(rest[-1], [q.name for q in g.points])
        return f"model {md.id} ({md.name}) has no point {'.'.join(rest)!r}{tail}"
    return g, p


def load_point_map(name_or_path: str) -> PointMap:  # noqa: C901 - over 15 branches before the gate; to split
    """Load and structurally validate a point map; every problem in the file at once."""
    path = find_profile("points", name_or_path)
    data, lines = load_yaml(path)
    problems: list[Problem] = []

    def err(p: Path_, msg: str) -> None:
        problems.append(Problem(str(path), line_for(lines, p), ".".join(map(str, p)), msg))

    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), 1, "", "a point map must be a mapping")])
    allowed = {"kind", "title", "models", "counts", "points"}
    for key in data:
        if key not in allowed:
            err((key,), "unknown key" + did_you_mean(str(key), sorted(allowed)))
    kind = str(data.get("kind", ""))
    if not kind:
        err(("kind",), "missing: the device kind (bess, pv, meter, genset, site, utility)")
    models: list[ModelRef] = []
    shipped = shipped_models()
    for k, m in enumerate(data.get("models") or []):
        mid, repeat = (m.get("model"), m.get("repeat", 1)) if isinstance(m, dict) else (m, 1)
        if not isinstance(mid, int) or mid not in shipped:
            hint = suggest(str(mid), [str(s) for s in shipped])
            err(
                ("models", k),
                f"unknown SunSpec model {mid!r}{'; did you mean ' + hint[0] + '?' if hint else ''}",
            )
            continue
        models.append(ModelRef(mid, repeat))
    if not models or models[0].id != 1:
        err(("models",), "the chain must start with model 1 (common)")
    by_id = {m.id: m.definition for m in models}
    counts: dict[str, str | int] = {}
    for key, value in (data.get("counts") or {}).items():
        parts = str(key).split(".")
        md = by_id.get(int(parts[0])) if parts[0].isdigit() else None
        if md is None:
            err(("counts", key), f"{key!r}: the model is not in this map's chain")
            continue
        g = md.group
        for gname in parts[1:]:
            sub = g.group(gname)
            if sub is None or sub.count is None:
                err(("counts", key), f"{key!r}: not a repeating group of model {md.id}")
                break
            g = sub
        else:
            counts[str(key)] = value
    bindings: dict[str, Binding] = {}
    for key, spec in (data.get("points") or {}).items():
        key = str(key)
        where: Path_ = ("points", key)
        parts = key.split(".")
        if not parts[0].isdigit() or int(parts[0]) not in by_id:
            err(where, f"{key!r}: model {parts[0]} is not in this map's chain")
            continue
        found = resolve_point(by_id[int(parts[0])], parts[1:])
        if isinstance(found, str):
            err(where, found)
            continue
        _, pdef = found
        if not isinstance(spec, dict):
            spec = {"const": spec}
        unknown = [k for k in spec if k not in _BINDING_KEYS]
        for k in unknown:
            err((*where, k), "unknown key" + did_you_mean(str(k), sorted(_BINDING_KEYS)))
        kinds = [k for k in ("const", "source", "control", "index", "auto") if k in spec]
        if len(kinds) != 1:
            err(where, "give exactly one of const, source, control, index, auto")
            continue
        b_kind = kinds[0]
        line = line_for(lines, where)
        if pdef.type == "sunssf" and b_kind not in ("const", "auto"):
            err(where, "a scale factor is a const or auto")
            continue
        if b_kind == "source" and not _SOURCE_RE.match(str(spec["source"])):
            err((*where, "source"), f"{spec['source']!r} is not a signal name (device[i].signal or dev.name)")
            continue
        if b_kind == "control" and not pdef.writable:
            err(where, f"{key} is read-only in SunSpec; it cannot be a control")
            continue
        if pdef.writable and b_kind not in ("control", "const"):
            err(where, f"{key} is writable: bind it as a control")
            continue
        if b_kind == "const" and pdef.symbols and isinstance(spec["const"], str):
            if spec["const"] not in pdef.symbols:
                err(
                    (*where, "const"),
                    f"{spec['const']!r} is not a symbol of {key}"
                    + did_you_mean(spec["const"], list(pdef.symbols)),
                )
                continue
            spec = {**spec, "const": pdef.symbols[spec["const"]]}
        if b_kind == "index" and spec["index"] not in ("g", "r"):
            err((*where, "index"), "index is 'g' (group instance) or 'r' (model repeat)")
            continue
        rng = spec.get("range")
        if rng is not None and (not isinstance(rng, list) or len(rng) != 2):
            err((*where, "range"), "range is [low, high]")
            continue
        bindings[key] = Binding(
            path=key,
            kind=b_kind,
            const=spec.get("const"),
            source=spec.get("source"),
            scale=float(spec.get("scale", 1.0)),
            offset=float(spec.get("offset", 0.0)),
            default=spec.get("default", spec.get("control") if b_kind == "control" else None),
            range=tuple(rng) if rng is not None else None,
            index=spec.get("index"),
            auto=spec.get("auto"),
            doc=str(spec.get("doc", "")),
            line=line,
        )
    # mandatory points and the scale factors of bound points
    for m in models:
        md = m.definition
        for gpath, g in _walk_groups(md.group, ()):
            if gpath and counts.get(".".join((str(md.id), *gpath))) == 0:
                continue
            for p in g.points:
                key = ".".join((str(md.id), *gpath, p.name))
                if p.name in ("ID", "L") and not gpath:
                    continue
                if p.mandatory and p.type != "pad" and key not in bindings:
                    err(("points",), f"{key} is mandatory in SunSpec model {md.id} and is not bound")
                if key in bindings and isinstance(p.sf, str):
                    sf_key = _sf_key(md, gpath, p.sf)
                    if sf_key not in bindings:
                        err(("points", key), f"{key} uses scale factor {p.sf}, which is not bound")
    if problems:
        raise ConfigError(problems)
    return PointMap(
        name=path.stem,
        kind=kind,
        title=str(data.get("title", path.stem)),
        file=path,
        models=models,
        counts=counts,
        bindings=bindings,
        lines=lines,
    )


def _walk_groups(g: GroupDef, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], GroupDef]]:
    out = [(path, g)]
    for sub in g.groups:
        out += _walk_groups(sub, (*path, sub.name))
    return out


def _sf_key(md: ModelDef, gpath: tuple[str, ...], sf_name: str) -> str:
    """SunSpec scale factors are looked up in the point's own group, then outward."""
    # innermost first
    acc: list[tuple[tuple[str, ...], GroupDef]] = []
    cur: tuple[str, ...] = ()
    g = md.group
    acc.append((cur, g))
    for name in gpath:
        sub = g.group(name)
        if sub is None:
            break
        g = sub
        cur = (*cur, name)
        acc.append((cur, g))
    for p, grp in reversed(acc):
        if grp.point(sf_name) is not None:
            return ".".join((str(md.id), *p, sf_name))
    return f"{md.id}.{sf_name}"


def type_words(p: PointDef) -> int:
    return p.size if p.type in ("string", "pad") else TYPES[p.type].words


def as_mapping(x: Any) -> Mapping[str, Any]:
    return x if isinstance(x, Mapping) else {}
