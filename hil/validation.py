"""pydantic's validation as the bench's problems: a model's errors reported on the key's
path (hence its line in the file) with a did-you-mean for an unknown key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Path_, Problem, did_you_mean, line_for

__all__ = ["Prob", "model_problems", "report_validation", "validate"]

#: How a parser reports one problem: the path of the key in the document and the message.
Prob = Callable[[Path_, str], None]


def validate(model: type[BaseModel], raw: Any, where: Path_, prob: Prob) -> Any:
    """``model(**raw)``, or None with every problem reported (``from`` spelt ``from_`` in the model)."""
    if not isinstance(raw, Mapping):
        fields = ", ".join(model.model_fields)
        prob(where, f"a mapping with {fields}")
        return None
    data = {("from_" if k == "from" else k): v for k, v in raw.items()}
    try:
        return model(**data)
    except ValidationError as exc:
        report_validation(exc, model, where, prob)
        return None


def report_validation(exc: ValidationError, model: type[BaseModel], where: Path_, prob: Prob) -> None:
    """pydantic's errors as our problems: the key's path (hence its line) and a did-you-mean."""
    fields = [f.rstrip("_") for f in model.model_fields if not f.startswith("_")]
    for err in exc.errors():
        loc = tuple(str(x).rstrip("_") for x in err["loc"])
        key = loc[0] if loc else ""
        if err["type"] == "extra_forbidden":
            tail = did_you_mean(key, fields)
            prob((*where, key), f"unknown key {key!r}{tail} (allowed: {', '.join(fields)})")
        elif err["type"] == "missing":
            prob(where, f"{key}: is required")
        else:
            msg = str(err.get("ctx", {}).get("error", "")) or err["msg"]
            prob((*where, *loc) if loc else where, msg.removeprefix("Value error, "))


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model a location inside ``model`` lands in (for the allowed keys of an error)."""
    cur: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(cur, type) and issubclass(cur, BaseModel)):
            continue
        f = cur.model_fields.get(str(part))
        if f is None:
            return None
        ann = f.annotation
        for arg in (ann, *getattr(ann, "__args__", ())):
            inner = getattr(arg, "__args__", None)
            cands = (arg, *(inner or ()))
            sub = next((c for c in cands if isinstance(c, type) and issubclass(c, BaseModel)), None)
            if sub is not None:
                cur = sub
                break
        else:
            return None
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def model_problems(
    exc: ValidationError, root: type[BaseModel], path: Path, lines: Mapping[Path_, int]
) -> list[Problem]:
    """pydantic's errors for a whole file validated as ``root``: each on its key's line, an
    unknown key with a did-you-mean among the keys allowed where it is."""
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = ".".join(str(x) for x in loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1])
            fields = list(parent.model_fields) if parent else []
            tail = did_you_mean(str(loc[-1]), fields)
            msg = f"unknown key {loc[-1]!r}{tail} (allowed: {', '.join(fields)})"
        elif err["type"] == "missing":
            msg = "is required"
        else:
            ctx = err.get("ctx") or {}
            msg = (str(ctx.get("error", "")) or err["msg"]).removeprefix("Value error, ")
        # a model-level check points at the mapping; a missing key at its parent
        key_loc = loc if err["type"] != "missing" else loc[:-1]
        out.append(Problem(str(path), line_for(dict(lines), key_loc) or 1, where, msg))
    return out
