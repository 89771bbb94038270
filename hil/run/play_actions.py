"""How each timeline action of a scenario is played: one scheduler per action, registered
under the action's name in :data:`SCHEDULES` (``tests/unit/hil/test_scenario.py`` holds its keys
equal to :data:`hil.scenario.ACTIONS`).

A scheduler receives the :class:`Timeline` (the running :class:`hil.run.play.Play`), the parsed
event, its order in the file and its label, and schedules what the action does: callables at
ticks (:meth:`Timeline.at`), inputs driven over a window (:meth:`Timeline.add_profile`),
faults injected and cleared. Adding an action is its model in :mod:`hil.scenario.model`
(with its entry in ``ACTIONS``) and one function here; see docs/howto-add-an-action.md.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hil.faults import FaultSpec
    from hil.scenario import Event
    from twin.site import Site

__all__ = ["SCHEDULES", "Profile", "Scheduler", "Timeline", "plays"]

log = logging.getLogger("hil.run.play")  # the play's logger: its messages read as the play's


@dataclass
class Profile:
    """An input driven every tick over [t0, t1) by ``fn(t - t0)``, then set to ``end``."""

    t0: float
    t1: float
    name: str
    fn: Callable[[float], float]
    end: float


def _trapezoid(v0: float, v1: float, ramp: float, hold: float) -> Callable[[float], float]:
    """v0 → v1 over ``ramp``, hold ``hold``, back to v0 over ``ramp`` (a step when ramp is 0)."""

    def f(x: float) -> float:
        if ramp > 0 and x < ramp:
            return v0 + (v1 - v0) * x / ramp
        if x < ramp + hold:
            return v1
        if ramp > 0:
            return v1 + (v0 - v1) * min(1.0, (x - ramp - hold) / ramp)
        return v0

    return f


class Timeline(Protocol):
    """What a scheduler may do to a running scenario (:class:`hil.run.play.Play` provides it)."""

    @property
    def site(self) -> Site: ...

    def at(self, t_s: float, order: int, fn: Callable[[], None], kind: str, label: str) -> None: ...

    def add_profile(self, profile: Profile) -> None: ...

    def log_event(self, kind: str, source: str, target: str, detail: str, **kw: Any) -> None: ...

    def inject(self, spec: FaultSpec) -> None: ...

    def clear_matching(self, ref: Any) -> None: ...

    def utility(self) -> Any: ...


Scheduler = Callable[["Timeline", "Event", int, str], None]

#: action name -> its scheduler
SCHEDULES: dict[str, Scheduler] = {}


def plays(*names: str) -> Callable[[Scheduler], Scheduler]:
    """Register a scheduler for the timeline actions ``names``."""

    def deco(fn: Scheduler) -> Scheduler:
        for n in names:
            if n in SCHEDULES:
                raise ValueError(f"action {n!r} already has a scheduler")
            SCHEDULES[n] = fn
        return fn

    return deco


@plays("set")
def _set(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec

    def do_set() -> None:  # one event per input, naming it and its value
        for k, v in spec.items():
            site.set(k, v)
            tl.log_event("event", label, k, f"{k} = {float(v):g}", value=float(v))

    tl.at(t, order, do_set, "set", label)


@plays("fault")
def _fault(tl: Timeline, ev: Event, order: int, label: str) -> None:
    t, spec = ev.t_s, ev.spec
    tl.at(t, order, lambda: tl.inject(spec), "fault_inject", label)


@plays("clear_fault")
def _clear_fault(tl: Timeline, ev: Event, order: int, label: str) -> None:
    t, spec = ev.t_s, ev.spec
    tl.at(t, order, lambda: tl.clear_matching(spec), "event", label)


@plays("grid_outage")
def _grid_outage(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    tl.at(t, order, lambda: site.set("grid.available", 0), "event", label)
    tl.at(t + spec.duration, order, lambda: site.set("grid.available", 1), "event", "grid restored")


@plays("voltage")
def _voltage(tl: Timeline, ev: Event, order: int, label: str) -> None:
    t, spec = ev.t_s, ev.spec
    v1, r, d = spec.v_pu, spec.ramp, spec.duration
    tl.add_profile(Profile(t, t + 2 * r + d, "grid.v_pu", _trapezoid(1.0, v1, r, d), 1.0))
    tl.at(t, order, lambda: None, "event", label)


@plays("frequency")
def _frequency(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    f0 = float(site.params.grid.f_nom_hz)
    f1 = spec.f_hz
    r = abs(f1 - f0) / spec.ramp_hz_per_s if spec.ramp_hz_per_s else 0.0
    tl.add_profile(
        Profile(t, t + 2 * r + spec.duration, "grid.f_hz", _trapezoid(f0, f1, r, spec.duration), f0)
    )
    if spec.ramp_hz_per_s:
        rate = math.copysign(spec.ramp_hz_per_s, f1 - f0)
        tl.add_profile(Profile(t, t + r, "grid.rocof_hz_per_s", lambda _x: rate, 0.0))
        tl.add_profile(
            Profile(
                t + r + spec.duration,
                t + 2 * r + spec.duration,
                "grid.rocof_hz_per_s",
                lambda _x: -rate,
                0.0,
            )
        )
    tl.at(t, order, lambda: None, "event", label)


@plays("rocof")
def _rocof(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    f0 = float(site.params.grid.f_nom_hz)
    r, d = spec.hz_per_s, spec.duration
    tl.add_profile(Profile(t, t + 2 * d, "grid.f_hz", lambda x: f0 + r * (x if x < d else 2 * d - x), f0))
    tl.add_profile(Profile(t, t + d, "grid.rocof_hz_per_s", lambda _x: r, 0.0))
    tl.add_profile(Profile(t + d, t + 2 * d, "grid.rocof_hz_per_s", lambda _x: -r, 0.0))
    tl.at(t, order, lambda: None, "event", label)


@plays("demand_response")
def _demand_response(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    util = tl.utility()
    eid = spec.id if spec.id is not None else order + 1

    def announce() -> None:
        if util is None:
            log.warning("demand response: this site has no Utility device; event not exposed")
            return
        util.set_event(
            eid,
            start_s=site.t + spec.notice,
            duration_s=spec.duration,
            limit_w=spec.limit_kw * 1000.0,
        )

    tl.at(t, order, announce, "event", label)
    if util is not None:
        tl.at(
            t + spec.notice + spec.duration,
            order,
            util.clear_event,
            "event",
            f"demand response {eid} ends",
        )


@plays("job_start", "job_stop", "job_fail")
def _job(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec, a = tl.site, ev.t_s, ev.spec, ev.action
    j = -1 if spec.job == "all" else int(spec.job)
    tl.at(t, order, lambda: site.set(f"gpu.{a}", j), "event", label)


@plays("checkpoint")
def _checkpoint(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    j = -1 if spec.job == "all" else int(spec.job)
    for n in range(spec.count):
        tl.at(t + n * spec.every, order, lambda: site.set("gpu.checkpoint", j), "event", label)


@plays("smoothing")
def _smoothing(tl: Timeline, ev: Event, order: int, label: str) -> None:
    site, t, spec = tl.site, ev.t_s, ev.spec
    on = 1.0 if spec else 0.0

    def do_smoothing() -> None:
        site.set("gpu.smoothing", on)
        tl.log_event("event", label, "gpu.smoothing", f"gpu.smoothing = {on:g}", value=on)

    tl.at(t, order, do_smoothing, "set", label)


@plays("cloud")
def _cloud(tl: Timeline, ev: Event, order: int, label: str) -> None:
    t, spec = ev.t_s, ev.spec
    tl.add_profile(
        Profile(
            t,
            t + 2 * spec.ramp + spec.duration,
            "pv.cloud_index",
            _trapezoid(1.0, spec.index, spec.ramp, spec.duration),
            math.nan,
        )
    )
    tl.at(t, order, lambda: None, "event", label)
