"""A point's write checks and quantisation, worked out once per point (the write fast path).

:meth:`Gateway.write_value <hil.wire.gateway.runtime.Gateway.write_value>` validates a value
(access, local control, finite, enum, the binding's range, the type's range at the point's
scale factor), quantises it as the register holds it, and holds the words. Scale factors are
static (:class:`~hil.wire.gateway.layout.KindGroup`), so everything but the value is a
property of the point: :class:`WriteSpec` holds it, built on a point's first write, and
every write path checks through it (``Gateway._check``).

For the integer types of at most 32 bits, :class:`Quantiser` gives the words and the
value read back with the arithmetic of :func:`~hil.wire.sunspec.encode_value` and
:func:`~hil.wire.sunspec.decode_words` without their dispatch; Hypothesis holds the two equal
for every such type × scale factor (``tests/unit/hil/wire/gateway/test_write_fast.py``). Other types
(``float32``, the 64-bit types, strings) return None and take the general path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hil.wire.gateway.layout import Device, PointInstance, WriteStatus
from hil.wire.sunspec import TYPES, scale_of, usable_range, usable_range_int

__all__ = ["HEARTBEATS", "Quantiser", "WriteSpec"]

#: points a device in local control still accepts from the EMS (its heartbeat)
HEARTBEATS = frozenset({"CtrlHb", "ControllerHb"})

_FAST_TYPES = frozenset(name for name, t in TYPES.items() if t.words <= 2 and name not in ("float32", "pad"))


@dataclass(frozen=True, slots=True)
class Quantiser:
    """How a value of one integer type at one scale factor is held: the words and the value read
    back, as ``encode_value`` then ``decode_words`` give them."""

    sf: int
    lo_i: int  # the usable raw range
    hi_i: int
    words: int
    mask: int
    sign_bit: int  # 0 for an unsigned type
    ni: int  # the raw not-implemented value (0: none)

    @classmethod
    def of_type(cls, type_name: str, sf: int) -> Quantiser | None:
        """None for a type this does not cover (``float32``, the 64-bit types, strings)."""
        if type_name not in _FAST_TYPES:
            return None
        t = TYPES[type_name]
        lo_i, hi_i = usable_range_int(type_name)
        return cls(
            sf=sf,
            lo_i=lo_i,
            hi_i=hi_i,
            words=t.words,
            mask=(1 << (16 * t.words)) - 1,
            sign_bit=(1 << (16 * t.words - 1)) if t.signed else 0,
            ni=t.not_implemented,
        )

    def __call__(self, v: float) -> tuple[float, list[int]] | None:
        """The value read back and the words of a finite ``v``; None if it would read as not
        implemented (the usable range excludes that value, so this is a guard)."""
        q = v / scale_of(self.sf)
        if not math.isfinite(q):
            return None
        raw = min(max(round(q), self.lo_i), self.hi_i)
        u = raw & self.mask
        if self.ni and u == self.ni:
            return None
        words = [u] if self.words == 1 else [u >> 16, u & 0xFFFF]
        if self.sign_bit and u >= self.sign_bit:
            u -= self.mask + 1
        sf = self.sf
        if sf == 0:
            return float(u), words
        if sf < 0:  # as decode_words: divide by an exact power of ten
            return u / 10 ** (-sf), words
        return u * scale_of(sf), words


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """What a write to one point checks and how it is quantised, for every unit of its kind."""

    point: PointInstance
    writable: bool
    heartbeat: bool  # accepted in local control
    enum: frozenset[int] | None  # the values an enum accepts
    lo_t: float  # the type's usable range in engineering units (as Gateway._check computes it)
    hi_t: float
    quantise: Quantiser | None  # None: the general path quantises

    @classmethod
    def of(cls, device: Device, p: PointInstance) -> WriteSpec:
        pdef = p.pdef
        sf = device.sf_of(p)
        # a text point has no numeric range: a number written to it is out of range
        tl, th = usable_range(pdef.type) if pdef.type in TYPES else (math.nan, math.nan)
        is_enum = bool(pdef.symbols) and pdef.type.startswith("enum")
        return cls(
            point=p,
            writable=p.writable,
            heartbeat=pdef.name in HEARTBEATS,
            enum=frozenset(pdef.symbols.values()) if is_enum else None,
            lo_t=tl * 10.0**sf,
            hi_t=th * 10.0**sf,
            quantise=Quantiser.of_type(pdef.type, sf),
        )

    def check(self, device: Device, value: Any) -> tuple[WriteStatus, float]:
        """Whether ``device`` accepts ``value`` at this point, and the value as a float: access,
        local control, type, finite, enum, the binding's range, the type's range at the point's
        scale factor, in that order (the first that fails answers)."""
        if not self.writable:
            return WriteStatus.NOT_WRITABLE, 0.0
        if device.local and not self.heartbeat:
            return WriteStatus.LOCAL_CONTROL, 0.0
        if value is None or not isinstance(value, int | float) or isinstance(value, bool):
            return WriteStatus.OUT_OF_RANGE if value is None else WriteStatus.TYPE_MISMATCH, 0.0
        try:
            v = float(value)
        except OverflowError:  # an int past 1e308 (an in-process controller's bug)
            return WriteStatus.OUT_OF_RANGE, 0.0
        if not math.isfinite(v):
            return WriteStatus.OUT_OF_RANGE, 0.0
        if self.enum is not None and (int(v) != v or int(v) not in self.enum):
            return WriteStatus.OUT_OF_RANGE, 0.0
        lo, hi = device.group.ranges[self.point.path]
        if not (lo[device.index] - 1e-9 <= v <= hi[device.index] + 1e-9):
            return WriteStatus.OUT_OF_RANGE, 0.0
        if not (self.lo_t <= v <= self.hi_t):
            return WriteStatus.OUT_OF_RANGE, 0.0
        return WriteStatus.OK, v
