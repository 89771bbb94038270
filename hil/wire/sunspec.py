"""SunSpec model definitions and register layouts, generated from the model JSON files.

The JSON files in ``hil/wire/sunspec_models/`` are copied unchanged from pysunspec2 1.3.7
(Apache-2.0, ``LICENSES/Apache-2.0-pysunspec2.txt``); the ``model_649xx.json`` files are this
project's vendor models in the same schema. Lengths and offsets are computed from them, never
typed by hand, so a map cannot drift from the standard.

This module knows nothing about any protocol library: it lays out registers and converts
between engineering values and 16-bit words.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BASE_ADDRESS",
    "NOT_IMPLEMENTED",
    "TYPES",
    "GroupDef",
    "ModelDef",
    "PointDef",
    "decode_array",
    "decode_words",
    "encode_value",
    "model_def",
    "models_dir",
    "symbol_bits",
    "symbols",
]

#: 0-based PDU address of the 'SunS' marker (Modicon "40001").
BASE_ADDRESS = 40000
SUNS_MARKER = (0x5375, 0x6E53)
END_MODEL = (0xFFFF, 0x0000)


@dataclass(frozen=True)
class TypeInfo:
    name: str
    words: int
    signed: bool
    lo: float
    hi: float
    not_implemented: int  # the raw (unsigned) not-implemented value


def _t(name: str, words: int, signed: bool, ni: int) -> TypeInfo:
    bits = 16 * words
    if signed:
        lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1  # the minimum is the NI value
    else:
        lo, hi = 0, 2**bits - 1
    return TypeInfo(name, words, signed, lo, hi, ni)


#: Point types and their not-implemented values (pysunspec2 ``mb.py``). For unsigned types
#: the all-ones value is "not implemented", so the largest usable value is one less; the
#: accumulators use 0. ``string`` and ``float32`` are handled apart.
TYPES: dict[str, TypeInfo] = {
    "int16": _t("int16", 1, True, 0x8000),
    "uint16": _t("uint16", 1, False, 0xFFFF),
    "count": _t("count", 1, False, 0xFFFF),
    "acc16": _t("acc16", 1, False, 0),
    "enum16": _t("enum16", 1, False, 0xFFFF),
    "bitfield16": _t("bitfield16", 1, False, 0xFFFF),
    "sunssf": _t("sunssf", 1, True, 0x8000),
    "int32": _t("int32", 2, True, 0x80000000),
    "uint32": _t("uint32", 2, False, 0xFFFFFFFF),
    "acc32": _t("acc32", 2, False, 0),
    "enum32": _t("enum32", 2, False, 0xFFFFFFFF),
    "bitfield32": _t("bitfield32", 2, False, 0xFFFFFFFF),
    "int64": _t("int64", 4, True, 0x8000000000000000),
    "uint64": _t("uint64", 4, False, 0xFFFFFFFFFFFFFFFF),
    "acc64": _t("acc64", 4, False, 0),
    "float32": TypeInfo("float32", 2, True, -3.4e38, 3.4e38, 0x7FC00000),
    "pad": TypeInfo("pad", 1, False, 0, 0, 0),
}
NOT_IMPLEMENTED = {k: v.not_implemented for k, v in TYPES.items()}
# The largest usable unsigned value is one below the NI value, except for accumulators.
_USABLE_HI = {k: (v.hi - 1 if (not v.signed and v.not_implemented) else v.hi) for k, v in TYPES.items()}


@dataclass(frozen=True)
class PointDef:
    name: str
    type: str
    size: int
    access: str = "R"
    mandatory: bool = False
    static: bool = False
    sf: str | int | None = None
    units: str | None = None
    label: str = ""
    desc: str = ""
    value: Any = None
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def writable(self) -> bool:
        return self.access == "RW"


@dataclass(frozen=True)
class GroupDef:
    name: str
    points: tuple[PointDef, ...]
    groups: tuple[GroupDef, ...] = ()
    count: str | int | None = None
    label: str = ""

    def point(self, name: str) -> PointDef | None:
        return next((p for p in self.points if p.name == name), None)

    def group(self, name: str) -> GroupDef | None:
        return next((g for g in self.groups if g.name == name), None)


@dataclass(frozen=True)
class ModelDef:
    id: int
    name: str
    label: str
    desc: str
    group: GroupDef


def models_dir() -> Path:
    return Path(__file__).resolve().parent / "sunspec_models"


def _point(d: dict[str, Any]) -> PointDef:
    return PointDef(
        name=d["name"],
        type=d["type"],
        size=int(d["size"]),
        access=d.get("access", "R"),
        mandatory=d.get("mandatory") == "M",
        static=d.get("static") == "S",
        sf=d.get("sf"),
        units=d.get("units"),
        label=d.get("label", ""),
        desc=d.get("desc", ""),
        value=d.get("value"),
        symbols={s["name"]: int(s["value"]) for s in d.get("symbols", [])},
    )


def _group(d: dict[str, Any]) -> GroupDef:
    return GroupDef(
        name=d["name"],
        points=tuple(_point(p) for p in d.get("points", [])),
        groups=tuple(_group(g) for g in d.get("groups", [])),
        count=d.get("count"),
        label=d.get("label", ""),
    )


@cache
def model_def(model_id: int) -> ModelDef:
    """The definition of SunSpec model ``model_id`` (KeyError if not shipped)."""
    path = models_dir() / f"model_{int(model_id)}.json"
    if not path.is_file():
        shipped = sorted(int(p.stem.split("_")[1]) for p in models_dir().glob("model_*.json"))
        raise KeyError(f"SunSpec model {model_id} is not shipped (shipped: {shipped})")
    data = json.loads(path.read_text(encoding="utf-8"))
    g = data["group"]
    return ModelDef(int(data["id"]), g["name"], g.get("label", ""), g.get("desc", ""), _group(g))


def symbols(model_id: int, point: str) -> dict[str, int]:
    """The symbols of one point of a shipped model, by name: ``symbols(701, "InvSt")``.
    ``point`` may name a point inside groups (``"lithium_ion_string.ConSt"``). KeyError if
    the model, a group or the point is missing or the point has no symbols."""
    g = model_def(model_id).group
    *groups, name = point.split(".")
    for gname in groups:
        sub = g.group(gname)
        if sub is None:
            raise KeyError(f"SunSpec model {model_id} has no group {gname!r}")
        g = sub
    pdef = g.point(name)
    if pdef is None or not pdef.symbols:
        raise KeyError(f"SunSpec model {model_id} has no enumerated point {point!r}")
    return dict(pdef.symbols)


def symbol_bits(model_id: int, point: str, names: Iterable[str]) -> int:
    """The mask of a bitfield point's ``names`` (each symbol's value is its bit number)."""
    table = symbols(model_id, point)
    mask = 0
    for name in names:
        mask |= 1 << table[name]
    return mask


def shipped_models() -> list[int]:
    return sorted(int(p.stem.split("_")[1]) for p in models_dir().glob("model_*.json"))


# --- values <-> words -----------------------------------------------------------------------


#: 10**k for k = -30..30, each the double nearest the exact power (parsed from its decimal
#: text; numpy's ``power(10.0, -5)`` is 9.999999999999999e-06, one unit in the last place off).
_P10 = np.array([float(f"1e{k}") for k in range(-30, 31)])


def scale_of(sf: int) -> float:
    return float(_P10[int(sf) + 30])


def pow10(sf: np.ndarray | int) -> np.ndarray:
    """``10.0 ** sf`` elementwise for integer scale factors, each the nearest double to the
    exact power (as :func:`scale_of`), so the vectorised encode equals :func:`encode_value`."""
    return _P10[np.asarray(sf, dtype=np.int64) + 30]


def usable_range(type_name: str) -> tuple[float, float]:
    t = TYPES[type_name]
    return float(t.lo), float(_USABLE_HI[type_name])


def usable_range_int(type_name: str) -> tuple[int, int]:
    """:func:`usable_range` in exact integers (a 64-bit type's top is not a double)."""
    return int(TYPES[type_name].lo), int(_USABLE_HI[type_name])


def to_words(raw: int, words: int) -> list[int]:
    """Big-endian, high word first."""
    raw &= (1 << (16 * words)) - 1
    return [(raw >> (16 * (words - 1 - k))) & 0xFFFF for k in range(words)]


def from_words(regs: list[int] | tuple[int, ...]) -> int:
    v = 0
    for r in regs:
        v = (v << 16) | (int(r) & 0xFFFF)
    return v


def encode_string(text: str, size: int) -> list[int]:
    b = text.encode("utf-8")[: 2 * size].ljust(2 * size, b"\0")
    return [(b[2 * k] << 8) | b[2 * k + 1] for k in range(size)]


def decode_string(regs: list[int] | tuple[int, ...]) -> str:
    b = b"".join(int(r).to_bytes(2, "big") for r in regs)
    return b.rstrip(b"\0").decode("utf-8", errors="replace")


def encode_value(value: float | int | str | None, type_name: str, size: int, sf: int = 0) -> list[int]:
    """One engineering value to its words; ``None`` or NaN gives the not-implemented value.
    Values outside the type's range are clipped (a real device saturates its registers)."""
    if type_name == "string":
        return encode_string("" if value is None else str(value), size)
    t = TYPES[type_name]
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return to_words(t.not_implemented, t.words)  # NaN and ±inf, as encode_array
    if type_name == "float32":
        return to_words(int(np.array([value], dtype=">f4").view(">u4")[0]), 2)
    q = float(value) / scale_of(sf)
    lo, hi = usable_range_int(type_name)
    # clip in integers: as floats, the 64-bit types' top (2**64 - 2) is 2**64, which wraps to 0
    raw = min(max(round(q), lo), hi) if math.isfinite(q) else (hi if q > 0 else lo)
    return to_words(raw, t.words)


def decode_words(regs: list[int] | tuple[int, ...], type_name: str, sf: int = 0) -> float | int | str | None:
    """Words to an engineering value; ``None`` for the not-implemented value."""
    if type_name == "string":
        return decode_string(regs)
    t = TYPES[type_name]
    raw = from_words(regs)
    if type_name == "float32":
        return float(np.array([raw], dtype=">u4").view(">f4")[0])
    if t.not_implemented and raw == t.not_implemented:
        return None
    if t.signed and raw >= 1 << (16 * t.words - 1):
        raw -= 1 << (16 * t.words)
    if sf == 0:
        return raw
    if sf < 0:  # divide by an exact power of ten: 6864 with SF -1 is 686.4, not 686.4000000000001
        return raw / 10 ** (-int(sf))
    return raw * scale_of(sf)


def decode_array(words: np.ndarray, type_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`decode_words` before scaling, for numeric types: ``words`` of shape
    ``(..., n_words)`` to ``(raw, not_implemented)``: the raw values as float64 (signed types
    sign-extended, float32 as its value) and a mask of the not-implemented values (never set
    for accumulators, whose 0 is a reading). Exact for raw values below 2**53."""
    t = TYPES[type_name]
    w = np.asarray(words, dtype=np.uint64)
    raw = np.zeros(w.shape[:-1], dtype=np.uint64)
    for k in range(t.words):
        raw = (raw << np.uint64(16)) | w[..., k]
    if type_name == "float32":
        return raw.astype(np.uint32).view(np.float32).astype(np.float64), np.zeros(raw.shape, dtype=bool)
    ni = raw == np.uint64(t.not_implemented) if t.not_implemented else np.zeros(raw.shape, dtype=bool)
    if t.signed:
        if t.words == 4:
            vals = raw.view(np.int64).astype(np.float64)
        else:
            ri = raw.astype(np.int64)
            vals = np.where(ri >= 1 << (16 * t.words - 1), ri - (1 << (16 * t.words)), ri).astype(np.float64)
    else:
        vals = raw.astype(np.float64)
    return vals, ni


def encode_array(values: np.ndarray, type_name: str, sf: np.ndarray | int) -> np.ndarray:
    """Vectorised :func:`encode_value` for numeric types: returns an (n, words) uint16 array."""
    t = TYPES[type_name]
    v = np.asarray(values, dtype=float)
    nan = ~np.isfinite(v)
    if type_name == "float32":
        raw = np.where(nan, np.nan, v).astype(">f4").view(">u4").astype(np.uint64)
    else:
        lo, hi = usable_range(type_name)
        with np.errstate(over="ignore"):  # past the double range: inf, clipped below
            scaled = np.rint(np.where(nan, 0.0, v) / pow10(sf))
        if t.words == 4:  # clipped in Python integers (as floats the top 2**64 - 2 is 2**64)
            (lo_i, hi_i), mod = usable_range_int(type_name), 1 << 64
            big = np.clip(scaled, -(2.0**64), 2.0**64)  # no inf left for int()
            raw = np.array([min(max(int(x), lo_i), hi_i) % mod for x in big], dtype=np.uint64)
            raw[nan] = np.uint64(t.not_implemented)
        else:
            raw_i = np.clip(scaled, lo, hi).astype(np.int64)
            raw = (raw_i % (1 << (16 * t.words))).astype(np.uint64)
            raw[nan] = np.uint64(t.not_implemented)
    out = np.empty((v.size, t.words), dtype=np.uint16)
    for k in range(t.words):
        shift = np.uint64(16 * (t.words - 1 - k))
        out[:, k] = ((raw >> shift) & np.uint64(0xFFFF)).astype(np.uint16)
    return out
