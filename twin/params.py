"""Parameters as validated data.

Every device parameter set is a frozen dataclass whose fields are declared with
:func:`param`: a default, a unit, bounds and a ``source`` note that says where the default
comes from (``[S]`` read from a cited source, ``[C]`` computed, ``[K]`` typical value).
:func:`from_dict` builds one from a plain dict (YAML loading is ``hil``'s job), checks
every field, and reports *every* problem at once with the path of the offending key and a
did-you-mean for misspelt keys.

A parameter class may declare named presets in a ``PROFILES`` class variable (name -> dict
of values). The key ``profile`` then selects one: :func:`from_dict` starts from the preset's
values and lets every other key of the dict override them, before anything is validated.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, get_args, get_origin

from twin.errors import ParameterError, ParameterIssue

__all__ = ["PROFILE_KEY", "deep_merge", "describe", "from_dict", "param", "suggest", "to_dict"]

#: The key that selects a named preset of a class that declares ``PROFILES``.
PROFILE_KEY = "profile"

T = TypeVar("T")
_Path = tuple[str | int, ...]


def param(
    default: Any,
    *,
    unit: str = "",
    source: str,
    doc: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[str] | None = None,
    check: Callable[[Any], str | None] | None = None,
    limit: str | None = None,
) -> Any:
    """Declare a parameter field with its unit, bounds and the source of its default.

    ``check`` (text fields) returns the problem with a value, or ``None`` if it is fine.
    ``limit`` names a size limit of :data:`twin.limits.SIZE_LIMITS`: it is the field's upper
    bound, and its reason is shown with a value above it. Every number must be finite."""
    why = ""
    if limit is not None:
        from twin.limits import SIZE_LIMITS

        le, why = SIZE_LIMITS[limit].value, SIZE_LIMITS[limit].reason
    meta = {
        "unit": unit,
        "source": source,
        "doc": doc,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": tuple(choices) if choices is not None else None,
        "check": check,
        "why": why,
    }
    if dataclasses.is_dataclass(default):  # frozen: sharing one instance is safe
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: nested mappings merge, lists and scalars in ``over`` replace.
    Neither input is modified."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def suggest(name: str, candidates: Sequence[str], n: int = 3) -> list[str]:
    """Close matches of ``name`` among ``candidates`` (for did-you-mean messages)."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.6)


def did_you_mean(name: object, candidates: Iterable[str], *, n: int = 1, otherwise: str = "") -> str:
    """``"; did you mean 'x'?"`` for the closest of ``candidates`` to ``name`` (up to ``n``
    of them, joined by commas), or ``otherwise`` when none is close.

    The one spelling of the suggestion in every message of the twin and the bench
    (``hil.errors`` re-exports it); closeness is :func:`suggest`'s."""
    close = difflib.get_close_matches(str(name), list(candidates), n=n, cutoff=0.6)
    if not close:
        return otherwise
    return f"; did you mean {', '.join(repr(c) for c in close)}?"


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, path: _Path = ()) -> T:
    """Build a parameter dataclass from ``data``, raising :class:`ParameterError` listing
    every problem found."""
    issues: list[ParameterIssue] = []
    obj = _build(cls, data if data is not None else {}, path, issues)
    if issues:
        raise ParameterError(issues)
    return typing.cast(T, obj)


def _build(cls: type, data: Any, path: _Path, issues: list[ParameterIssue]) -> Any:
    if not isinstance(data, Mapping):
        issues.append(ParameterIssue(path, f"expected a mapping, got {type(data).__name__}"))
        return None
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    profiles = getattr(cls, "PROFILES", None)
    known = list(fields)
    if isinstance(profiles, Mapping):
        data = _apply_profile(profiles, data, path, issues)
        known.append(PROFILE_KEY)
    for key in data:
        if key not in fields:
            tail = did_you_mean(str(key), known)
            issues.append(ParameterIssue((*path, str(key)), f"unknown parameter{tail}"))
    kwargs: dict[str, Any] = {}
    n_before = len(issues)
    for name, field in fields.items():
        if name not in data:
            continue
        value = _coerce(hints[name], data[name], (*path, name), issues, field.metadata)
        kwargs[name] = value
    if len(issues) > n_before:
        return None
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as exc:  # cross-field checks in __post_init__
        issues.append(ParameterIssue(path, str(exc)))
        return None
    return obj


def _apply_profile(
    profiles: Mapping[str, Mapping[str, Any]],
    data: Mapping[str, Any],
    path: _Path,
    issues: list[ParameterIssue],
) -> Mapping[str, Any]:
    """``data`` on top of the preset it names under :data:`PROFILE_KEY` (without that key)."""
    if PROFILE_KEY not in data:
        return data
    name = data[PROFILE_KEY]
    rest = {k: v for k, v in data.items() if k != PROFILE_KEY}
    if isinstance(name, str) and name in profiles:
        return {**profiles[name], **rest}
    names = list(profiles)
    tail = did_you_mean(str(name), names)
    issues.append(ParameterIssue((*path, PROFILE_KEY), f"{name!r} is not one of {', '.join(names)}{tail}"))
    return rest


def _coerce(tp: Any, value: Any, path: _Path, issues: list[ParameterIssue], meta: Mapping[str, Any]) -> Any:  # noqa: C901 - over 15 branches before the gate; to split
    origin = get_origin(tp)
    args = get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path, issues, meta)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, path, issues)
    if origin is tuple:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            issues.append(ParameterIssue(path, f"expected a list, got {type(value).__name__}"))
            return None
        item_tp = args[0] if args else Any
        out = [
            _coerce(item_tp, v, (*path, i), issues, meta if item_tp in (float, int) else {})
            for i, v in enumerate(value)
        ]
        return tuple(out)
    if tp is bool:
        if not isinstance(value, bool):
            issues.append(ParameterIssue(path, f"expected true or false, got {value!r}"))
        return value
    if tp in (float, int):
        if isinstance(value, bool) or not isinstance(value, int | float):
            issues.append(ParameterIssue(path, f"expected a number, got {value!r}"))
            return value
        try:
            number = float(value)
        except OverflowError:
            issues.append(ParameterIssue(path, f"number too large ({len(str(value))} digits)"))
            return value
        if not math.isfinite(number):
            issues.append(ParameterIssue(path, f"must be a finite number, got {value!r}"))
            return value
        if tp is int and not number.is_integer():
            issues.append(ParameterIssue(path, f"expected a whole number, got {value!r}"))
            return value
        _check_bounds(float(value), path, issues, meta)
        return tp(value)
    if tp is str:
        if not isinstance(value, str):
            issues.append(ParameterIssue(path, f"expected text, got {value!r}"))
            return value
        choices = meta.get("choices")
        if choices and value not in choices:
            tail = did_you_mean(value, choices)
            issues.append(ParameterIssue(path, f"{value!r} is not one of {', '.join(choices)}{tail}"))
        check = meta.get("check")
        problem = check(value) if check is not None else None
        if problem:
            issues.append(ParameterIssue(path, problem))
        return value
    return value


def _check_bounds(value: float, path: _Path, issues: list[ParameterIssue], meta: Mapping[str, Any]) -> None:
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    checks = (
        ("ge", lambda b: value >= b, ">="),
        ("gt", lambda b: value > b, ">"),
        ("le", lambda b: value <= b, "<="),
        ("lt", lambda b: value < b, "<"),
    )
    for key, ok, sym in checks:
        bound = meta.get(key)
        if bound is not None and not ok(bound):
            why = f" (size limit: {meta['why']})" if key == "le" and meta.get("why") else ""
            issues.append(
                ParameterIssue(path, f"must be {sym} {_num(bound)}{unit}, got {_num(value)}{unit}{why}")
            )


def _num(x: float) -> str:
    """``5000`` rather than ``5000.0`` or ``5e+03``; other numbers as Python prints them."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else repr(float(x))


def to_dict(obj: Any) -> Any:
    """The plain-dict form of a parameter dataclass (round-trips through :func:`from_dict`)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    return obj


def describe(cls: type) -> list[dict[str, Any]]:
    """Rows (name, default, unit, bounds, source, doc) for generated documentation."""
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        m = f.metadata
        bounds = " ".join(
            f"{sym}{m[k]}"
            for k, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
            if m.get(k) is not None
        )
        rows.append(
            {
                "name": f.name,
                "default": to_dict(default),
                "unit": m.get("unit", ""),
                "bounds": bounds,
                "source": m.get("source", ""),
                "doc": m.get("doc", ""),
            }
        )
    return rows
