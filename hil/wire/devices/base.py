"""The base of every device behaviour: controls, derived values, reversion timers and the
heartbeat watchdog, the record of what was pushed to the twin and why."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from twin import Site
from twin.params import did_you_mean
from twin.site import Snapshot

SQRT3 = math.sqrt(3.0)
Arr = np.ndarray
Pushed = tuple[int, str, float, str]  # unit, twin input ("pcs[0].p_set_kw"), value, cause

#: Why a behaviour pushed an input (the ``detail`` of the trace's ``input`` events).
BY_WRITE = "register write"
BY_REVERSION = "reversion"
BY_WATCHDOG = "comm-loss watchdog"
AT_START = "power-on state"


def source_key(source: str) -> tuple[str, str]:
    """Where a point map's ``source:`` is read: ``("derived", name)`` for ``dev.name`` (the
    behaviour's derived values), ``("array", "pcs.p_ac_kw")`` for ``pcs[i].p_ac_kw`` (one
    per unit), ``("scalar", "grid.f_hz")`` for a site-wide signal."""
    if source.startswith("dev."):
        return "derived", source[4:]
    dev, _, sig = source.partition(".")
    if "[" in dev:
        return "array", f"{dev.split('[')[0]}.{sig}"
    return "scalar", source


class Behaviour:
    """Base: one device kind. Subclasses set ``kind``, ``area`` and the hooks."""

    kind: ClassVar[str] = ""
    area: ClassVar[str] = ""
    unit_base: ClassVar[int] = 1
    prefix: ClassVar[str] = ""
    derived_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        self.site = site
        self.watchdog_s = watchdog_s
        self.n = self.count(site)
        self.local = np.zeros(self.n, dtype=bool)
        self.ratings: dict[str, Arr] = {}
        self.commands: dict[str, tuple[str, float]] = {}
        self.pushed: list[Pushed] = []  # the twin inputs set since the gateway last collected them
        self._names = set(site.snapshot().keys()) if self.n else set()

    @staticmethod
    def count(site: Site) -> int:
        return 1

    def instance_name(self, i: int) -> str:
        return f"{self.prefix}{i + 1:02d}" if self.n > 1 or self.kind in ("bess", "genset") else self.prefix

    # -- sources -------------------------------------------------------------------------
    def knows(self, source: str) -> bool:
        where, key = source_key(source)
        if where == "derived":
            return key in self.derived_names
        snap = self.site.snapshot()
        return key in (snap.arrays if where == "array" else snap.scalars)

    def unknown_source_message(self, source: str) -> str:
        snap = self.site.snapshot()
        names = [f"dev.{d}" for d in self.derived_names]
        names += [f"{k.split('.')[0]}[i].{k.split('.', 1)[1]}" for k in snap.arrays]
        names += list(snap.scalars)
        return f"unknown source {source!r}" + did_you_mean(source, names)

    def resolve(self, source: str, snap: Snapshot, derived: dict[str, Any]) -> Any:
        where, key = source_key(source)
        if where == "derived":
            return derived[key]
        return (snap.arrays if where == "array" else snap.scalars)[key]

    # -- hooks ---------------------------------------------------------------------------
    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        return {}

    def start(self, controls: dict[str, Arr]) -> None:
        """Push the registers' power-on state to the twin, once (the gateway calls it when built)."""
        return None

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        """Turn the controls written since the last tick boundary (``written``: path -> a mask
        of the units written) into twin inputs; push nothing that was not written or reverted."""
        return None

    # -- boundaries with nothing written (a run advanced in chunks) -----------------------
    def idle_horizon(self, controls: dict[str, Arr], times: Arr, dt: float) -> int:
        """How many of the coming tick boundaries (at ``times``, ``dt`` apart) :meth:`apply`
        would pass, with nothing written, pushing nothing to the twin and changing no control.
        A device whose ``apply`` acts on writes alone passes them all; one with timers says
        when its first one fires (0: it cannot tell, every boundary is stepped)."""
        return len(times) if type(self).apply is Behaviour.apply else 0

    def idle(self, controls: dict[str, Arr], times: Arr, dt: float, k: int) -> None:
        """Pass ``k`` boundaries with nothing written, as ``k`` calls of :meth:`apply` would
        (``k`` never exceeds :meth:`idle_horizon`): the timers count down, nothing is pushed."""
        return None

    # -- pushing twin inputs ---------------------------------------------------------------
    def push(self, name: str, values: Arr, units: Arr, why: Arr | str) -> None:
        """Set the per-unit twin input ``name`` (``"pcs.p_set_kw"``) to ``values`` on the
        ``units`` (a mask) only; the other units keep whatever was last set, by anyone."""
        units = np.asarray(units, dtype=bool)
        if not units.any():
            return
        dev, _, sig = name.partition(".")
        if units.all():
            self.site.set_units(name, values)
        else:
            for i in np.flatnonzero(units):
                self.site.set(f"{dev}[{i}].{sig}", float(values[i]))
        idx = np.flatnonzero(units).tolist()
        vals = np.asarray(values, dtype=float)[idx].tolist()
        causes = [why] * len(idx) if isinstance(why, str) else np.asarray(why)[idx].tolist()
        self.pushed.extend(
            (i, f"{dev}[{i}].{sig}", v, str(cause)) for i, v, cause in zip(idx, vals, causes, strict=True)
        )

    def push_scalar(self, name: str, value: float, why: str) -> None:
        """Set a site-wide twin input (``"pv.p_limit_pct"``) from this kind's single device."""
        self.site.set(name, value)
        self.pushed.append((0, name, float(value), why))


def _units(written: dict[str, Arr], paths: Iterable[str], n: int) -> Arr:
    """The units for which any of ``paths`` is in ``written``."""
    out = np.zeros(n, dtype=bool)
    for path in paths:
        w = written.get(path)
        if w is not None:
            out |= w
    return out


def _mark(written: dict[str, Arr], paths: Iterable[str], units: Arr) -> None:
    """Record a write of ``paths`` on ``units`` (a reversion writes the values it reverts to)."""
    for path in paths:
        prev = written.get(path)
        written[path] = units.copy() if prev is None else prev | units


def _c(controls: dict[str, Arr], path: str, default: float = 0.0, n: int = 1) -> Arr:
    a = controls.get(path)
    return a[:, 0] if a is not None else np.full(n, default)


class Reversion:
    """A SunSpec reversion timer (``*RvrtTms`` / ``*RvrtRem``) for one control function.

    Writing the setpoint, its enable or its timer while enabled and ``RvrtTms > 0`` (re)arms
    the countdown; at expiry the enable becomes ``EnaRvrt`` and the setpoints their ``Rvrt``
    values. ``RvrtTms = 0`` disables reversion."""

    def __init__(self, n: int, *, ena: str, tms: str, ena_rvrt: str, pairs: list[tuple[str, str]]) -> None:
        self.rem = np.zeros(n)
        self._running = False  # any unit's countdown above zero (else a tick has nothing to count)
        self._zeros = np.zeros(n)
        self._zeros.setflags(write=False)
        self._none = np.zeros(n, dtype=bool)  # "no unit reverts", shared and read-only
        self._none.setflags(write=False)
        self.ena, self.tms, self.ena_rvrt, self.pairs = ena, tms, ena_rvrt, pairs
        self._armed_by = (ena, tms, *(sp for sp, _ in pairs))  # a write of any (re)arms it

    @property
    def paths(self) -> tuple[str, ...]:
        """The controls an expiry writes: the enable and the setpoints."""
        return (self.ena, *(sp for sp, _ in self.pairs))

    def step(self, c: dict[str, Arr], written: dict[str, Arr], dt: float, force: Arr) -> Arr:
        """Advance the countdown; revert the units whose timer expires now (or that ``force``
        names) and return them (a mask)."""
        tms = self._served_tms(c)
        if tms is None or self._quiet(written, self._armed_by, force):
            return self._none
        ena = c[self.ena][:, 0] > 0
        expired = self.countdown(written, self._armed_by, ena, tms, dt, force)
        if expired.any():
            if self.ena_rvrt in c:
                c[self.ena][expired, 0] = c[self.ena_rvrt][expired, 0]
            for sp, rv in self.pairs:
                if sp in c and rv in c:
                    c[sp][expired, 0] = c[rv][expired, 0]
            self.rem[expired] = 0.0
        return expired

    def countdown(
        self, written: dict[str, Arr], paths: tuple[str, ...], active: Arr, tms: Arr, dt: float, force: Arr
    ) -> Arr:
        """Advance the timer; returns the units whose reversion fires now (``force``: the
        controller-heartbeat watchdog fires every active one). A write to any of ``paths``
        while active and ``tms > 0`` re-arms it; ``tms <= 0`` disarms it."""
        if self._quiet(written, paths, force):
            return self._none
        touched = np.zeros(self.rem.size, dtype=bool)
        for path in paths:
            if path in written:
                touched |= written[path]
        arm = touched & active & (tms > 0)
        self.rem = np.where(arm, tms, self.rem)
        self.rem = np.where(tms <= 0, 0.0, self.rem)
        running = (self.rem > 0) & ~arm
        self.rem = np.where(running, self.rem - dt, self.rem)
        self._running = bool(np.any(self.rem > 0))
        return np.asarray((running & (self.rem <= 1e-9)) | (force & active))

    # -- boundaries with nothing written -------------------------------------------------
    def _served_tms(self, c: dict[str, Arr]) -> Arr | None:
        """The timer setting, or None where the point map serves no timer (nothing counts)."""
        if self.ena not in c or self.tms not in c:
            return None
        return c[self.tms][:, 0]

    def _idle_counts(self, tms: Arr, dt: float, k: int) -> tuple[Arr, Arr]:
        """The countdowns over ``k`` boundaries with nothing written: row j is ``rem`` after
        boundary j (``rem - dt`` subtracted j + 1 times in sequence, as :meth:`countdown`
        does, by ``np.subtract.accumulate``), and the mask of the units that count down (a
        timer running and set above 0; the others stay, or drop to 0 if set to 0)."""
        counting = (self.rem > 0) & (tms > 0)
        seq = np.empty((k + 1, self.rem.size))
        seq[0] = self.rem
        seq[1:] = dt
        return np.subtract.accumulate(seq, axis=0)[1:], counting

    def idle_horizon(self, c: dict[str, Arr], dt: float, limit: int) -> int:
        """How many boundaries with nothing written pass before a unit reverts (``limit`` at
        most): all of them while no countdown runs."""
        tms = self._served_tms(c)
        if tms is None or not self._running or limit <= 0:
            return limit
        counting = (self.rem > 0) & (tms > 0)
        if not counting.any() or float(self.rem[counting].min()) > (limit + 1) * dt:
            return limit  # no countdown can reach 0 within the limit (a tick's margin for rounding)
        seq, counting = self._idle_counts(tms, dt, limit)
        fires = (seq <= 1e-9) & counting  # countdown fires where a running timer reaches 0
        hit = fires.any(axis=1)
        return int(np.argmax(hit)) if hit.any() else limit

    def idle(self, c: dict[str, Arr], dt: float, k: int) -> None:
        """Count down ``k`` boundaries with nothing written, as :meth:`step` would (none fires:
        ``k`` is within :meth:`idle_horizon`)."""
        tms = self._served_tms(c)
        if tms is None or not self._running or k <= 0:
            return
        seq, counting = self._idle_counts(tms, dt, k)
        self.rem = np.where(counting, seq[-1], np.where(tms <= 0, 0.0, self.rem))
        self._running = bool(np.any(self.rem > 0))

    def _quiet(self, written: dict[str, Arr], paths: tuple[str, ...], force: Arr) -> bool:
        """The usual tick: no countdown runs, none of ``paths`` was written and the watchdog
        fires nowhere, so no unit reverts and nothing changes (no array work at all)."""
        return not self._running and not any(p in written for p in paths) and not force.any()

    @property
    def remaining(self) -> Arr:
        """``RvrtRem``: whole seconds left (0 while no reversion runs, the usual case: then
        one shared read-only array of zeros, not three operations)."""
        if not self._running or not self.rem.any():
            return self._zeros
        return np.ceil(np.maximum(self.rem, 0.0) - 1e-9)


#: The battery controls each twin input depends on (SunSpec 702/704, legacy 123/124). A write of
#: any of them, or a reversion of it, pushes that input for the unit; nothing else does.
