"""Playing a scenario: the timeline applied tick by tick, faults managed, expectations evaluated.

:class:`Play` is what the :class:`~hil.run.runner.Runner` calls around each tick; it owns no clock.
Events are scheduled in integer ticks (design: time is an integer count of ticks), so a run is
the same whatever the pacing. Expectations are evaluated on every snapshot after the tick, in
simulated time; each keeps its violation count, its first violation and its worst value, which
go to ``results.json``, the events table and ``junit.xml``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hil.faults import FAULTS, FaultSpec, FaultType, resolve_targets
from hil.run.play_actions import SCHEDULES, Profile
from hil.scenario import Event, Expectation, Scenario, alarm_table, split_name, state_enum

if TYPE_CHECKING:
    from hil.faults import Bench
    from hil.trace.store import TraceWriter
    from hil.wire.gateway import Device
    from twin.site import Site, Snapshot

__all__ = ["ActiveFault", "Check", "Play"]

log = logging.getLogger(__name__)


@dataclass
class ActiveFault:
    spec: FaultSpec
    ftype: FaultType
    targets: list[Device]
    start_s: float
    end_s: float | None = None
    cleared: bool = False

    @property
    def label(self) -> str:
        return self.spec.id or f"{self.spec.type}@{self.spec.target}"


# -- expectations ---------------------------------------------------------------------------------
@dataclass
class Check:
    """The running evaluation of one :class:`Expectation`."""

    ex: Expectation
    t_end: float
    get: Callable[[Snapshot], np.ndarray]
    ok: Callable[[np.ndarray], bool]
    score: Callable[[np.ndarray], float]  # how bad a value is (larger is worse) for "worst"
    line: int | None
    violations: int = 0
    first_violation_s: float | None = None
    worst: float | None = None
    met_at_s: float | None = None
    run_s: float = 0.0
    seen: bool = False
    done: bool = False
    passed: bool | None = None
    dt: float = 0.1

    def update(self, t: float, snap: Snapshot) -> None:
        ex = self.ex
        if self.done:
            return
        v = self.get(snap)
        if ex.mean_s > 0:  # trailing mean: kept from the start so the window's first value is full
            v = self._mean(v)
        if t < ex.t0 - 1e-9:
            return
        if t > self.t_end + 1e-9:
            self.finish(complete=True)
            return
        good = self.ok(v)
        self.seen = True
        if ex.kind == "always":
            s = self.score(v)
            if self.worst is None or s > self._worst_score:
                self.worst, self._worst_score = _value_of(v, self.score), s
            if not good:
                self.violations += 1
                if self.first_violation_s is None:
                    self.first_violation_s = t
        elif ex.kind == "at":
            self.worst = _value_of(v, self.score)
            if not good:
                self.violations = 1
                self.first_violation_s = t
            self.finish(complete=True)
        else:  # eventually (with an optional hold)
            s = self.score(v)
            if self.worst is None or s < self._best_score:
                self.worst, self._best_score = _value_of(v, self.score), s  # closest approach
            self.run_s = self.run_s + self.dt if good else 0.0
            if good and self.run_s >= ex.hold - 1e-9:
                self.met_at_s = t - self.run_s + self.dt if ex.hold else t  # first tick of the run
                self.finish(complete=True)

    _worst_score: float = -math.inf
    _best_score: float = math.inf
    _buf: np.ndarray | None = None
    _k: int = 0
    _sum: np.ndarray | None = None

    def _mean(self, v: np.ndarray) -> np.ndarray:
        """Trailing mean over ``ex.mean_s`` (a ring buffer; a shorter history averages what it has)."""
        n = max(1, round(self.ex.mean_s / self.dt))
        if self._buf is None:
            self._buf = np.zeros((n, v.size))
            self._sum = np.zeros(v.size)
        i = self._k % n
        self._sum = self._sum - self._buf[i] + v
        self._buf[i] = v
        self._k += 1
        return self._sum / min(self._k, n)

    def finish(self, *, complete: bool) -> None:
        if self.done:
            return
        self.done = True
        ex = self.ex
        if ex.kind == "eventually":
            if self.met_at_s is not None:
                self.passed = True
            elif complete:
                self.passed = False
                self.violations = 1
                self.first_violation_s = self.t_end
            else:
                self.passed = None
        elif not self.seen:
            self.passed = None if not complete else False
        else:
            self.passed = self.violations == 0 if complete or self.violations else None

    def detail(self) -> str:
        ex = self.ex
        if self.passed is None:
            return "not evaluated: the run ended before its window closed"
        if ex.kind == "eventually":
            if self.met_at_s is not None:
                return f"met at {self.met_at_s:.1f} s"
            w = "" if self.worst is None else f"; closest value {self.worst:g}"
            return f"never met in [{ex.t0:g}, {self.t_end:g}] s{w}"
        if self.violations:
            return (
                f"{self.violations} violating tick(s), first at {self.first_violation_s:.1f} s; "
                f"worst value {self.worst:g}"
            )
        return f"held; extreme value {self.worst:g}" if self.worst is not None else "held"

    def result(self, duration_s: float) -> dict[str, Any]:
        ex = self.ex
        return {
            "name": ex.name,
            "kind": ex.kind,
            "signal": ex.target,
            "condition": ex.condition() + (f" (held {ex.hold:g} s)" if ex.hold else ""),
            "window": [ex.t0, self.t_end],
            "passed": self.passed,
            "violations": self.violations,
            "first_violation_s": self.first_violation_s,
            "met_at_s": self.met_at_s,
            "worst": self.worst,
            "detail": self.detail(),
            "line": self.line,
        }


def _value_of(v: Any, score: Callable[[Any], float]) -> float:
    """The unit value that scores worst (for ``[*]`` signals), as a plain float."""
    if isinstance(v, float):  # a site-wide signal read as a float (_scalar_check)
        return v
    if v.size == 1:
        return float(v.reshape(-1)[0])
    scores = np.array([score(np.asarray([x])) for x in v])
    return float(v[int(np.argmax(scores))])


def _getter(target: str, snap: Snapshot) -> Callable[[Snapshot], np.ndarray]:
    dev, idx, sig = split_name(target)
    if idx is None and target in snap.scalars:
        return lambda s: np.asarray([s.scalars[target]])
    key = f"{dev}.{sig}"
    if idx == "*":
        return lambda s: np.asarray(s.arrays[key], dtype=float)
    i = int(idx or 0)
    return lambda s: np.asarray([s.arrays[key][i]], dtype=float)


def _scalar_check(ex: Expectation, snap: Snapshot) -> tuple[Any, Any, Any] | None:
    """A bound on a site-wide signal with no trailing mean, as (get, ok, score) on a plain
    float: the same comparisons and scores as the array forms below on its one-element array
    (``np.all``/``np.max``/``np.min`` of one value are that value), without numpy per tick.
    None for anything else."""
    _dev, idx, _sig = split_name(ex.target)
    target = ex.target
    if ex.what != "signal" or ex.mean_s > 0 or idx is not None or target not in snap.scalars:
        return None
    b = ex.bounds
    get = lambda s: float(s.scalars[target])  # noqa: E731
    if ex.op == "lt":
        return get, (lambda v: v < b[0]), (lambda v: v)
    if ex.op == "le":
        return get, (lambda v: v <= b[0]), (lambda v: v)
    if ex.op == "gt":
        return get, (lambda v: v > b[0]), (lambda v: -v)
    if ex.op == "ge":
        return get, (lambda v: v >= b[0]), (lambda v: -v)
    lo, hi = b
    mid = 0.5 * (lo + hi)
    return get, (lambda v: lo <= v <= hi), (lambda v: abs(v - mid))


def compile_check(ex: Expectation, snap: Snapshot, duration_s: float, dt: float, line: int | None) -> Check:
    t_end = ex.window(duration_s)[1]
    scalar = _scalar_check(ex, snap)
    if scalar is not None:
        return Check(ex, t_end, *scalar, line, dt=dt)
    get = _getter(ex.target, snap)
    ok: Callable[[np.ndarray], bool]
    score: Callable[[np.ndarray], float]
    if ex.what == "signal":
        b = ex.bounds
        if ex.op == "lt":
            ok, score = (lambda v: bool(np.all(v < b[0]))), (lambda v: float(np.max(v)))
        elif ex.op == "le":
            ok, score = (lambda v: bool(np.all(v <= b[0]))), (lambda v: float(np.max(v)))
        elif ex.op == "gt":
            ok, score = (lambda v: bool(np.all(v > b[0]))), (lambda v: -float(np.min(v)))
        elif ex.op == "ge":
            ok, score = (lambda v: bool(np.all(v >= b[0]))), (lambda v: -float(np.min(v)))
        else:
            lo, hi = b
            mid = 0.5 * (lo + hi)
            ok = lambda v: bool(np.all((v >= lo) & (v <= hi)))  # noqa: E731
            score = lambda v: float(np.max(np.abs(v - mid)))  # noqa: E731
    elif ex.what == "alarm":
        table = alarm_table(ex.target) or {}
        bit = 1 << table[str(ex.alarm)]

        def raised(v: np.ndarray) -> bool:
            return bool(np.any((v.astype(np.int64) & bit) != 0))

        if ex.op == "raised":
            ok, score = raised, (lambda v: 0.0 if raised(v) else 1.0)
        else:
            ok, score = (lambda v: not raised(v)), (lambda v: 1.0 if raised(v) else 0.0)
    else:
        enum = state_enum(ex.target)
        codes = np.asarray([int(enum[s]) for s in ex.states])
        ok = lambda v: bool(np.all(np.isin(v.astype(np.int64), codes)))  # noqa: E731
        score = lambda v: float(np.sum(~np.isin(v.astype(np.int64), codes)))  # noqa: E731
    return Check(ex, t_end, get, ok, score, line, dt=dt)


# -- the play ------------------------------------------------------------------------------------
@dataclass
class Play:
    """A scenario bound to a bench: call :meth:`before_tick` and :meth:`after_tick` each tick."""

    scenario: Scenario
    bench: Bench
    trace: TraceWriter | None = None
    checks: list[Check] = field(default_factory=list)
    faults: list[ActiveFault] = field(default_factory=list)
    applied: int = 0
    # called with (t, kind, source, target, detail) for every event logged (the dashboard)
    listeners: list[Callable[[float, str, str, str, str], None]] = field(default_factory=list)

    @property
    def t0(self) -> float:
        """The twin's time when the scenario started: scenario time is ``site.t - t0``."""
        return self._t0

    def __post_init__(self) -> None:
        sc = self.scenario
        site = self.bench.site
        self.dt = float(site.dt)
        self._t0 = float(site.t)  # the twin's time when the scenario started (its t = 0)
        # (tick, order, callable, label)
        self._due: list[tuple[int, int, Callable[[], None], str, str]] = []
        self._profiles: list[Profile] = []
        self._profile_set: dict[int, float] = {}  # what each profile set at its last boundary
        snap = site.snapshot()
        for ex in sc.expectations:
            self.checks.append(compile_check(ex, snap, sc.duration_s, self.dt, sc.line_of(ex.where)))
        for k, ev in enumerate(sc.events):
            self._schedule(ev, k)
        self._due.sort(key=lambda x: (x[0], x[1]))
        self._i = 0

    # scheduling
    def _tick_of(self, t_s: float) -> int:
        return round(t_s / self.dt)

    def at(self, t_s: float, order: int, fn: Callable[[], None], kind: str, label: str) -> None:
        self._due.append((self._tick_of(t_s), order, fn, kind, label))

    def _schedule(self, ev: Event, order: int, label: str | None = None) -> None:
        SCHEDULES[ev.action](self, ev, order, label or ev.name or ev.describe())

    def add(self, ev: Event, label: str) -> None:
        """Schedule one more event while the run is under way (the dashboard's, at the
        boundary the clock is at or later): what is still due stays in time and file order."""
        self._schedule(ev, len(self._due), label)
        self._due[self._i :] = sorted(self._due[self._i :], key=lambda x: (x[0], x[1]))

    def add_profile(self, profile: Profile) -> None:
        """Drive an input every tick over the profile's window (an action's ramp)."""
        self._profiles.append(profile)

    @property
    def site(self) -> Site:
        return self.bench.site

    def utility(self) -> Any:
        for d in self.bench.gateway.devices:
            if d.kind == "utility":
                return d.group.behaviour
        return None

    # faults
    def inject(self, spec: FaultSpec) -> None:
        ft = FAULTS[spec.type]
        targets = resolve_targets(spec, self.bench.gateway.devices)
        t = self.bench.site.t
        ft.inject(self.bench, targets, spec.params)
        af = ActiveFault(spec, ft, targets, t)
        self.faults.append(af)
        if spec.duration is not None:
            self._due.append(
                (
                    self._tick_of(t - self._t0 + spec.duration),
                    10_000,
                    lambda: self._clear(af),
                    "fault_clear",
                    af.label,
                )
            )
            self._due.sort(key=lambda x: (x[0], x[1]))

    def _clear(self, af: ActiveFault) -> None:
        if af.cleared:
            return
        af.ftype.clear(self.bench, af.targets, af.spec.params)
        af.cleared = True
        af.end_s = self.bench.site.t

    def clear_matching(self, ref: Any) -> None:
        for af in self.faults:
            if af.cleared:
                continue
            if (ref.id is not None and af.spec.id == ref.id) or (
                ref.id is None
                and ref.type == af.spec.type
                and (ref.target is None or ref.target == af.spec.target)
            ):
                self._clear(af)
                self.log_event("fault_clear", af.spec.type, af.spec.target, af.ftype.layer)

    # per tick
    def before_tick(self) -> None:
        """The scenario's actions due at this tick boundary, in file order. The runner calls it
        after the gateway has applied the boundary's EMS writes and before the twin steps, so
        a ``set:`` here is the last write of the boundary and wins a tie."""
        site = self.bench.site
        k = self._tick_of(site.t - self._t0)
        while self._i < len(self._due) and self._due[self._i][0] <= k:
            _, _, fn, kind, label = self._due[self._i]
            self._i += 1
            fn()
            self.applied += 1
            if kind == "fault_inject" and self.faults:
                af = self.faults[-1]
                self.log_event(kind, af.spec.type, af.spec.target, af.ftype.layer)
            elif kind == "fault_clear":
                cleared = next((f for f in self.faults if f.label == label), None)
                if cleared is not None:
                    self.log_event(kind, cleared.spec.type, cleared.spec.target, cleared.ftype.layer)
            elif kind != "set":  # a set logged each input it set
                self.log_event(kind, label, "", "")
        t_rel = site.t - self._t0
        for j, p in enumerate(self._profiles):
            v = self._profile_value(p, t_rel)
            if v is not None:
                site.set(p.name, v)
                self._profile_set[j] = v
        for af in self.faults:
            if not af.cleared and af.ftype.update is not None:
                af.ftype.update(self.bench, af.targets, af.spec.params, site.t - af.start_s)

    def quiet_ticks(self, times: np.ndarray) -> int:
        """How many of the coming ticks the play sits out (``times``: their boundaries' twin
        times and the last one's end, ``Gateway.boundary_times``): no action is due at their
        boundaries, no ramp drives an input and no fault updates itself (a run advanced in
        chunks; what the expectations need is :meth:`unseen_ticks`)."""
        k = len(times) - 1
        if k <= 0 or any(not af.cleared and af.ftype.update is not None for af in self.faults):
            return 0
        t_rel = times[:-1] - self._t0  # each boundary's scenario time, as site.t - t0
        if self._i < len(self._due):  # the next action's boundary
            due = np.rint(t_rel / self.dt) >= self._due[self._i][0]
            if due.any():
                k = min(k, int(np.argmax(due)))
        for j, p in enumerate(self._profiles):  # a ramp sets its input at every boundary of [t0, t1 + dt)
            on = (t_rel >= p.t0 - 1e-9) & (t_rel < p.t1 + self.dt - 1e-9)
            if not on.any():
                continue
            prev = self._profile_set.get(j)  # a boundary that sets what is set already is quiet
            for b in np.flatnonzero(on[:k]):
                v = self._profile_value(p, float(t_rel[b]))
                if v is None or prev is None or v != prev:
                    k = int(b)
                    break
                prev = v
        return k

    def _profile_value(self, p: Profile, t_rel: float) -> float | None:
        """What ``p`` sets at the boundary at scenario time ``t_rel`` (None: nothing)."""
        if p.t0 - 1e-9 <= t_rel < p.t1 - 1e-9:
            return p.fn(t_rel - p.t0)
        if p.t1 - 1e-9 <= t_rel < p.t1 + self.dt - 1e-9:
            return p.end
        return None

    def unseen_ticks(self, times: np.ndarray) -> int:
        """How many of the coming ticks (``times`` as :meth:`quiet_ticks`) end before the first
        snapshot an expectation looks at (1: the next one; a trailing mean looks at every
        tick): a chunk that long needs only its last snapshot for :meth:`after_tick`."""
        k = len(times) - 1
        t_snap = times[1:] - self._t0  # each tick's snapshot's scenario time (ascending)
        for c in self.checks:
            if c.done:
                continue
            if c.ex.mean_s > 0:
                return 1
            first = int(np.searchsorted(t_snap, c.ex.t0 - 1e-9))  # the first snapshot seen
            if first < t_snap.size:
                k = min(k, first + 1)
                if k <= 1:
                    return k  # the next snapshot is seen: no check can make it sooner
        return k

    def after_tick(self, snap: Snapshot) -> None:
        t = snap.t - self._t0
        for c in self.checks:
            if not c.done:
                was = c.done
                c.update(t, snap)
                if c.done and not was:
                    self._record_check(c)

    def finish(self, *, complete: bool) -> None:
        """Close every check (``complete``: the run reached its duration) and clear live faults."""
        for c in self.checks:
            if not c.done:
                c.finish(complete=complete)
                self._record_check(c)
        for af in self.faults:
            if af.end_s is None:
                af.end_s = self.bench.site.t

    def _record_check(self, c: Check) -> None:
        r = c.result(self.scenario.duration_s)
        self.log_event(
            "expectation",
            c.ex.name,
            c.ex.target,
            f"{r['condition']}: {r['detail']}",
            passed=c.passed,
            value=c.worst,
        )

    def log_event(self, kind: str, source: str, target: str, detail: str, **kw: Any) -> None:
        t = self.bench.site.t - self._t0
        if self.trace is not None:
            self.trace.event(t, kind, source=source, target=target, detail=detail, **kw)
        for listener in self.listeners:
            listener(t, kind, source, target, detail)

    # results
    @property
    def passed(self) -> bool:
        return all(c.passed is True for c in self.checks)

    def results(self) -> list[dict[str, Any]]:
        return [c.result(self.scenario.duration_s) for c in self.checks]

    def fault_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "name": af.spec.type,
                "id": af.spec.id,
                "target": af.spec.target,
                "layer": af.ftype.layer,
                "start_s": af.start_s - self._t0,
                "end_s": None if af.end_s is None else af.end_s - self._t0,
            }
            for af in self.faults
        ]
