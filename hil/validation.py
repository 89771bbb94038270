"""pydantic's validation as the bench's problems: a model's errors reported on the key's
path (hence its line in the file) with a did-you-mean for an unknown key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Path_, did_you_mean

__all__ = ["Prob", "report_validation", "validate"]

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
