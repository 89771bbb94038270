"""A bit-exact image of everything a write could change: the twin and the gateway.

:func:`state_image` walks the object graph (attributes, dicts, lists, tuples) from the roots
and records every leaf as bytes: numpy arrays by dtype, shape and ``tobytes()``, floats by their
IEEE bits (so ``NaN`` equals itself and ``-0.0`` differs from ``0.0``), random generators by
their bit-generator state. Two images compare equal only if nothing changed, bit for bit.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

import numpy as np

__all__ = ["CACHES", "diff", "state_image"]

#: what a gateway builds on first use and keeps (not state a write may change): each point's
#: write checks (hil.wire.gateway.writes)
CACHES = frozenset({"_write_specs"})

_SKIP_TYPES = (type, type(len), type(lambda: 0))


def state_image(roots: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> dict[str, bytes]:
    """``{path: bytes}`` for every leaf reachable from ``roots`` (each object once; ``skip``
    names attributes left out, such as logs that record refused writes on purpose)."""
    out: dict[str, bytes] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = list(roots.items())
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, np.ndarray):
            out[path] = f"{obj.dtype.str}{obj.shape}".encode() + np.ascontiguousarray(obj).tobytes()
            continue
        if isinstance(obj, bool | int | str | bytes | enum.Enum) or obj is None:
            out[path] = repr(obj).encode()
            continue
        if isinstance(obj, float | np.floating):
            out[path] = struct.pack("<d", float(obj))
            continue
        if isinstance(obj, np.generic):
            out[path] = obj.tobytes()
            continue
        if isinstance(obj, _SKIP_TYPES) or (callable(obj) and not hasattr(obj, "__dict__")):
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            out[path] = repr(obj.bit_generator.state).encode()
            continue
        if isinstance(obj, dict):
            out[f"{path}#len"] = str(len(obj)).encode()
            stack += [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        elif isinstance(obj, list | tuple | set | frozenset):
            items = sorted(obj, key=repr) if isinstance(obj, set | frozenset) else obj
            out[f"{path}#len"] = str(len(items)).encode()
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(items)]
        else:
            attrs = dict(getattr(obj, "__dict__", {}))
            for slot in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, slot):
                    attrs[slot] = getattr(obj, slot)
            stack += [(f"{path}.{k}", v) for k, v in attrs.items() if k not in skip]
    return out


def diff(before: dict[str, bytes], after: dict[str, bytes], *, limit: int = 8) -> list[str]:
    """The paths that differ (at most ``limit``), for an assertion message."""
    keys = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return keys[:limit]
