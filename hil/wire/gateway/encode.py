"""The gateway's per-tick encode, compiled once per device kind (:class:`EncodePlan`).

A kind's dynamic numeric points (every unit × every point instance bound to the twin, a
derived value or a held control) are the columns of one value matrix. Each tick the matrix is
filled in a few vectorised gathers and encoded into the kind's register image by one compiled
call (:func:`hil.wire.sunspec_fast.encode_columns`), which writes only the words that changed:

* **controls**: the held setpoints are views into one matrix (``KindGroup.control_matrix``,
  made by :func:`hil.wire.gateway.layout.compile_group`), so they are one fancy-indexed copy;
* **per-unit values** (a ``dev[i].sig`` array or a derived array, one entry per unit, shared
  by a point's repeats): fetched with one ``itemgetter`` per source, stacked with one
  ``np.array`` and scattered with one fancy-indexed copy;
* **single values** (a site-wide signal or a derived float): the same, broadcast over units;
* anything else (a point repeated per rack of a single device, a 2-D array): one by one, as
  before.

Which binding goes where is decided from the first tick's values and checked every tick by the
stacked shape: a value that changes shape (a float that becomes an array) sends that tick
through the one-by-one path and the plan is classified again. ``tools/register_images.py``
holds the encoded registers equal word for word to the one-by-one encode it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from hil.wire.devices.base import source_key
from hil.wire.gateway.layout import KindGroup
from hil.wire.sunspec_fast import ColumnCodes, encode_columns
from twin.site import Snapshot

__all__ = ["EncodePlan"]

_SCALAR, _UNIT, _OTHER = "scalar", "unit", "other"


@dataclass(frozen=True)
class _Entry:
    """One dynamic numeric binding: its columns and where its value comes from."""

    cols: np.ndarray  # (n_exp,) columns of the value matrix
    source: str  # "control", "array", "scalar", "derived"
    key: str  # the control path, the snapshot key or the derived name

    def fetch(self, snap: Snapshot, derived: dict[str, Any]) -> Any:
        if self.source == "array":
            return snap.arrays[self.key]
        if self.source == "scalar":
            return snap.scalars[self.key]
        return derived[self.key]


def _tuple_getter(keys: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter(*keys)`` that always returns a tuple (also for none or one key)."""
    if not keys:
        return lambda _d: ()
    if len(keys) == 1:
        k = keys[0]
        return lambda d: (d[k],)
    return itemgetter(*keys)


@dataclass
class _Stack:
    """Entries of one class gathered together: per source dict a getter, then where each
    stacked value goes (``cols``) and which stacked value that is (``src``)."""

    from_arrays: Callable[[Any], tuple[Any, ...]]
    from_scalars: Callable[[Any], tuple[Any, ...]]
    from_derived: Callable[[Any], tuple[Any, ...]]
    count: int
    cols: np.ndarray
    src: np.ndarray

    @classmethod
    def of(cls, entries: list[_Entry]) -> _Stack:
        ordered = (
            [e for e in entries if e.source == "array"]
            + [e for e in entries if e.source == "scalar"]
            + [e for e in entries if e.source == "derived"]
        )
        cols = [e.cols for e in ordered]
        src = [np.full(e.cols.size, k) for k, e in enumerate(ordered)]
        return cls(
            from_arrays=_tuple_getter([e.key for e in ordered if e.source == "array"]),
            from_scalars=_tuple_getter([e.key for e in ordered if e.source == "scalar"]),
            from_derived=_tuple_getter([e.key for e in ordered if e.source == "derived"]),
            count=len(ordered),
            cols=np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64),
            src=np.concatenate(src) if src else np.zeros(0, dtype=np.int64),
        )

    def values(self, snap: Snapshot, derived: dict[str, Any]) -> np.ndarray:
        got = (*self.from_arrays(snap.arrays), *self.from_scalars(snap.scalars), *self.from_derived(derived))
        return np.array(got, dtype=float)


@dataclass
class EncodePlan:
    """A kind's dynamic numeric points compiled for the per-tick encode."""

    grp: KindGroup
    values: np.ndarray  # (n, k)
    codes: ColumnCodes
    entries: list[_Entry]
    ctrl_cols: np.ndarray = field(init=False)
    ctrl_src: np.ndarray = field(init=False)
    unit: _Stack | None = field(init=False, default=None)
    scalar: _Stack | None = field(init=False, default=None)
    other: list[_Entry] = field(init=False, default_factory=list)
    reclassified: int = field(init=False, default=0)  # times a value changed shape

    def __post_init__(self) -> None:
        controls = [e for e in self.entries if e.source == "control"]
        self.ctrl_cols = (
            np.concatenate([e.cols for e in controls]) if controls else np.zeros(0, dtype=np.int64)
        )
        self.ctrl_src = (
            np.concatenate([self.grp.control_cols[e.key] for e in controls])
            if controls
            else np.zeros(0, dtype=np.int64)
        )
        self.other = [e for e in self.entries if e.source != "control"]

    @property
    def needs_derived(self) -> bool:
        """Whether a value comes from the behaviour's ``derive`` (else it may be skipped)."""
        return any(e.source == "derived" for e in self.entries)

    @classmethod
    def build(cls, grp: KindGroup, keys: frozenset[str] | None = None) -> EncodePlan:
        """The plan of ``grp``'s dynamic numeric bindings (strings are encoded apart, once);
        index bindings (1, 2, 3 ... per repeat) are filled in here, once. ``keys``: only the
        bindings of these points (``"64900.GridW"``), every repeat of each."""
        n = grp.n
        types: list[str] = []
        offsets: list[int] = []
        sfs: list[int] = []
        scales: list[float] = []
        adds: list[float] = []
        entries: list[_Entry] = []
        index_cols: list[tuple[np.ndarray, int]] = []
        for b, insts in grp.dynamic:
            if insts[0].pdef.type == "string":
                continue
            if keys is not None and not any(p.key in keys for p in insts):
                continue
            start = len(types)
            for p in insts:
                types.append(p.pdef.type)
                offsets.append(p.offset)
                sfs.append(grp.sf_values.get(p.sf_col, 0) if p.sf_col is not None else 0)
                scales.append(float(b.scale) if b.kind == "source" else 1.0)
                adds.append(float(b.offset) if b.kind == "source" else 0.0)
            cols = np.arange(start, len(types))
            if b.kind == "index":
                index_cols.append((cols, len(insts)))
            elif b.kind == "control":
                entries.append(_Entry(cols, "control", b.path))
            else:
                entries.append(_Entry(cols, *source_key(str(b.source))))
        values = np.zeros((n, len(types)))
        for cols, n_exp in index_cols:
            values[:, cols] = np.arange(1.0, n_exp + 1.0)[None, :]
        codes = ColumnCodes.build(types, offsets, sfs, scales, adds)
        return cls(grp, values, codes, entries)

    def classify(self, snap: Snapshot, derived: dict[str, Any]) -> None:
        """Sort the non-control entries by the shape of their current values."""
        n = self.grp.n
        by: dict[str, list[_Entry]] = {_SCALAR: [], _UNIT: [], _OTHER: []}
        for e in self.entries:
            if e.source == "control":
                continue
            raw = e.fetch(snap, derived)
            if isinstance(raw, float | int) or (
                isinstance(raw, np.ndarray | np.generic) and np.ndim(raw) == 0
            ):
                by[_SCALAR].append(e)
            elif isinstance(raw, np.ndarray) and raw.ndim == 1 and raw.size == n:
                by[_UNIT].append(e)
            else:
                by[_OTHER].append(e)
        self.scalar = _Stack.of(by[_SCALAR]) if by[_SCALAR] else None
        self.unit = _Stack.of(by[_UNIT]) if by[_UNIT] else None
        self.other = by[_OTHER]

    def encode(self, snap: Snapshot, derived: dict[str, Any]) -> int:
        """Fill the value matrix from this tick's snapshot, derived values and controls and
        encode it into the image; returns the number of registers that changed."""
        v = self.values
        grp = self.grp
        if self.ctrl_cols.size:
            v[:, self.ctrl_cols] = grp.control_matrix[:, self.ctrl_src]
        if not self._stacked(snap, derived):
            self.reclassified += 1
            self.classify(snap, derived)
            self._one_by_one(snap, derived, self.entries)
        else:
            self._one_by_one(snap, derived, self.other)
        return encode_columns(v, self.codes, grp.image)

    def _stacked(self, snap: Snapshot, derived: dict[str, Any]) -> bool:
        v = self.values
        n = self.grp.n
        try:
            if self.unit is not None:
                u = self.unit.values(snap, derived)
                if u.shape != (self.unit.count, n):
                    return False
                v[:, self.unit.cols] = u[self.unit.src].T
            if self.scalar is not None:
                s = self.scalar.values(snap, derived)
                if s.shape != (self.scalar.count,):
                    return False
                v[:, self.scalar.cols] = s[self.scalar.src]
        except (ValueError, TypeError):  # ragged: a value changed shape
            return False
        return True

    def _one_by_one(self, snap: Snapshot, derived: dict[str, Any], entries: list[_Entry]) -> None:
        v = self.values
        n = self.grp.n
        for e in entries:
            if e.source == "control":
                continue
            raw = e.fetch(snap, derived)
            v[:, e.cols] = _as_2d(raw, n, e.cols.size)


def _as_2d(raw: Any, n: int, n_exp: int) -> np.ndarray:
    """A binding's value as ``(n, n_exp)``: one per unit (broadcast over the repeats), one per
    repeat (broadcast over the units), or already 2-D."""
    if isinstance(raw, float | int):
        return np.full((n, n_exp), float(raw))
    a = np.asarray(raw, dtype=float)
    if a.ndim == 0:
        return np.full((n, n_exp), float(a))
    if a.ndim == 1:
        if a.size == n:
            return a[:, None]
        if a.size == n_exp:
            return a[None, :]
    return a
