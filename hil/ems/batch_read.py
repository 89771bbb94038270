"""Decoded point values of many devices of one kind at once: what a client would read.

:meth:`hil.wire.gateway.Device.value` decodes one point from its registers (≈ 6 µs); the
in-process EMS read ≈ 400 of them every period, ≈ 3 ms of a 5-s tick on aidc_10k, more than
the twin's step. :class:`BatchReader` is compiled once per device kind and key list: it
gathers the registers of every unit and key from the kind's image in one indexing operation
and decodes each point type with :func:`hil.wire.sunspec.decode_array`, then applies each point's
scale factor as :func:`hil.wire.sunspec.decode_words` does (the same float operations, so the
values are equal to the one-by-one decode; ``tests/unit/hil/ems/test_batch_read.py`` holds them so).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hil.wire.gateway import Device
from hil.wire.sunspec import TYPES, decode_array

__all__ = ["BatchReader"]


class BatchReader:
    """The numeric points ``keys`` of ``devices`` (all of one kind), decoded in one go."""

    def __init__(self, devices: Sequence[Device], keys: Sequence[str]) -> None:
        if not devices:
            raise ValueError("no devices to read")
        self.group = devices[0].group
        if any(d.group is not self.group for d in devices):
            raise ValueError("a BatchReader reads devices of one kind")
        self.rows = np.array([d.index for d in devices], dtype=np.intp)
        self.names = [d.name for d in devices]
        pts = [(k, self.group.by_key[k]) for k in keys if k in self.group.by_key]
        self.keys = [k for k, _ in pts]
        self.points = [p for _, p in pts]
        self._acc = np.array([p.pdef.type.startswith("acc") for p in self.points], dtype=bool)
        by_type: dict[str, list[int]] = {}
        for j, p in enumerate(self.points):
            if p.pdef.type == "string":
                raise ValueError(f"{self.keys[j]}: a string point is not read in batch")
            by_type.setdefault(p.pdef.type, []).append(j)
        # the points of up to two words (every type but the 64-bit ones and float32) are
        # gathered and decoded together: word 0 shifted by 16 for a two-word point, word 1 or
        # a zero register for a one-word point; the others keep a plan each, by type
        wide = {t for t in by_type if TYPES[t].words > 2 or t == "float32"}
        self._narrow = np.array([j for t, js in by_type.items() if t not in wide for j in js], dtype=np.intp)
        narrow = [self.points[j] for j in self._narrow.tolist()]
        two = np.array([TYPES[p.pdef.type].words == 2 for p in narrow], dtype=bool)
        off = np.array([p.offset for p in narrow], dtype=np.intp)
        self._hi_col = off  # the first word
        self._lo_col = np.where(two, off + 1, off)  # the second word (a one-word point: itself)
        self._two = two
        types = [TYPES[p.pdef.type] for p in narrow]
        self._signed = np.array([t.signed for t in types], dtype=bool)
        self._half = np.array([1 << (16 * t.words - 1) for t in types], dtype=np.int64)
        self._full = np.array([1 << (16 * t.words) for t in types], dtype=np.int64)
        self._ni_val = np.array([t.not_implemented for t in types], dtype=np.int64)
        self._has_ni = np.array([bool(t.not_implemented) for t in types], dtype=bool)
        self._plan = [
            (
                t,
                np.array(js, dtype=np.intp),
                np.array([self.points[j].offset for j in js])[:, None] + np.arange(TYPES[t].words)[None, :],
            )
            for t, js in by_type.items()
            if t in wide
        ]
        sf = self._scale_factors()  # static (KindGroup.sf_values)
        self._neg, self._pos = sf < 0, sf > 0
        self._div = np.power(10.0, -sf[self._neg])
        self._mul = np.power(10.0, sf[self._pos])

    def _scale_factors(self) -> np.ndarray:
        sfv = self.group.sf_values
        out = np.empty(len(self.points))
        for j, p in enumerate(self.points):
            if p.pdef.type == "float32":
                out[j] = 0  # a float32 is its value: no scale factor applies
            elif p.sf_col is None:
                out[j] = int(p.pdef.sf) if isinstance(p.pdef.sf, int) else 0
            else:
                out[j] = int(sfv.get(p.sf_col, 0))
        return out

    def read(self) -> list[dict[str, float | None]]:
        """One ``{key: value}`` per device, in the order given; None for not implemented (an
        accumulator reads 0 then, as the in-process EMS has always taken it)."""
        img = self.group.image[self.rows]
        n, m = len(self.rows), len(self.points)
        raw = np.empty((n, m))
        ni = np.zeros((n, m), dtype=bool)
        if self._narrow.size:  # decode_array's arithmetic, for every narrow point at once
            hi = img[:, self._hi_col].astype(np.int64)
            lo = img[:, self._lo_col].astype(np.int64)
            u = np.where(self._two, (hi << 16) | lo, hi)
            ni[:, self._narrow] = self._has_ni & (u == self._ni_val)
            raw[:, self._narrow] = np.where(self._signed & (u >= self._half), u - self._full, u)
        for t, js, cols in self._plan:
            raw[:, js], ni[:, js] = decode_array(img[:, cols], t)
        vals = raw.copy()
        if self._div.size:
            vals[:, self._neg] = raw[:, self._neg] / self._div
        if self._mul.size:
            vals[:, self._pos] = raw[:, self._pos] * self._mul
        none = ni & ~self._acc
        vals[ni & self._acc] = 0.0
        keys = self.keys
        if not none.any():
            return [dict(zip(keys, row, strict=True)) for row in vals.tolist()]
        out: list[dict[str, float | None]] = []
        for row, miss in zip(vals.tolist(), none.tolist(), strict=True):
            out.append({k: (None if miss[j] else row[j]) for j, k in enumerate(keys)})
        return out

    def read_named(self) -> dict[str, dict[str, float | None]]:
        """:meth:`read` keyed by device name."""
        return dict(zip(self.names, self.read(), strict=True))
