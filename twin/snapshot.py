"""The snapshot: every signal of the site at one tick, by fully qualified name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from twin._interp import FloatArray
from twin.errors import UnknownSignalError
from twin.params import suggest
from twin.signals import SignalTable, resolve_alias, split_name

__all__ = ["Snapshot"]


class Snapshot(Mapping[str, float]):
    """Every signal at one tick, by fully qualified name.

    Aggregates are ``device.signal``; per-unit values ``device[i].signal``. Built from the
    arrays the site already holds, so taking one each tick is cheap; flatten with
    :meth:`to_dict`.
    """

    def __init__(
        self,
        t: float,
        tick: int,
        scalars: dict[str, float],
        arrays: dict[str, FloatArray],
        signals: SignalTable | None = None,
    ) -> None:
        self.t = t
        self.tick = tick
        self.scalars = scalars
        self.arrays = arrays
        self.signals = signals
        """The declarations of the site that took it (units, meanings), if known."""

    def unit(self, name: str) -> str | None:
        """The declared unit of ``name`` (``dev.sig`` or ``dev[i].sig``); None if unknown."""
        return None if self.signals is None else self.signals.unit(resolve_alias(name))

    def __getitem__(self, name: str) -> float:
        name = resolve_alias(name)
        v = self.scalars.get(name)
        if v is not None:
            return v
        dev, idx, sig = split_name(name)
        if idx is not None:
            arr = self.arrays.get(f"{dev}.{sig}")
            if arr is not None and 0 <= idx < arr.shape[0]:
                return float(arr[idx])
        raise UnknownSignalError(name, suggest(name, list(self._names(limit_units=4)), n=3))

    def _names(self, limit_units: int | None = None) -> Iterator[str]:
        yield from self.scalars
        for key, arr in self.arrays.items():
            dev, sig = key.split(".", 1)
            n = arr.shape[0] if limit_units is None else min(arr.shape[0], limit_units)
            for i in range(n):
                yield f"{dev}[{i}].{sig}"

    def __iter__(self) -> Iterator[str]:
        return self._names()

    def __len__(self) -> int:
        return len(self.scalars) + sum(a.shape[0] for a in self.arrays.values())

    def to_dict(self) -> dict[str, float]:
        out = dict(self.scalars)
        for key, arr in self.arrays.items():
            dev, sig = key.split(".", 1)
            for i, v in enumerate(arr.tolist()):
                out[f"{dev}[{i}].{sig}"] = float(v)
        return out
