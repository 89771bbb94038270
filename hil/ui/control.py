"""Actions from the dashboard, validated as a scenario file's and played by the run's timeline.

An action is one entry of a scenario's ``events:`` without its time: ``{fault: {type:
pcs_trip, target: PCS02}}``, ``{grid_outage: {duration: 30 s}}``, ``{set: {"pcs[1].q_set_kvar":
"50 kvar"}}``, and the clock's own ``{clock: pause}``, ``{clock: resume}``, ``{speed: 2}``. It
is parsed and checked against the site by the scenario's own code (the same messages and
did-you-means as a file), then scheduled at the next tick boundary on the run's
:class:`hil.run.play.Play` (``hil serve`` gets an empty one), so it is applied exactly where a
scenario's action would be: after the boundary's EMS writes, before the twin steps. A bad
action raises :class:`ActionError` and changes nothing. Every accepted action is recorded as a
``ui_action`` event (source ``ui``) in the run's events table, before what it does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hil.errors import ConfigError, Problem, did_you_mean
from hil.limits import RUN_LIMITS
from hil.run.play import Play
from hil.scenario import ACTIONS, ScenarioError
from hil.scenario.parse import parse_scenario

__all__ = ["SOURCE", "ActionError", "Console", "empty_timeline"]

#: the file name the problems of a dashboard action carry
SOURCE = "<dashboard>"
_CLOCK = {"clock", "speed"}


class ActionError(ConfigError):
    """A dashboard action is invalid; nothing was changed. Carries every problem found."""


def empty_timeline(runner: Any) -> Play:
    """The timeline of a run that has no scenario (``hil serve``): the dashboard's actions
    are scheduled on it."""
    data = {"scenario": "dashboard", "duration": f"{RUN_LIMITS['duration_s'].value!r} s"}
    return Play(parse_scenario(data, path=Path(SOURCE), lines={}), runner)


class Console:
    """Applies the dashboard's actions to one runner (see the module docstring)."""

    def __init__(self, runner: Any) -> None:
        if runner.play is None:
            raise ValueError("the runner has no timeline: give it empty_timeline(runner) first")
        self.runner = runner
        self.play: Play = runner.play
        self.accepted = 0

    def act(self, action: Any) -> str:
        """Validate ``action`` and schedule it at the next tick boundary (the clock's actions
        take effect at once); returns what was done, in words. Raises :class:`ActionError`."""
        if not isinstance(action, Mapping) or len(action) != 1:
            raise self._error(
                "", f"an action is a mapping with one key: one of {', '.join([*ACTIONS, *_CLOCK])}"
            )
        key, raw = next(iter(action.items()))
        key = str(key)
        if key in _CLOCK:
            text = self._clock(key, raw)
        elif key not in ACTIONS:
            raise self._error(key, f"unknown action {key!r}{did_you_mean(key, [*ACTIONS, *_CLOCK])}")
        else:
            text = self._schedule(key, raw)
        self.accepted += 1
        self.play.log_event("ui_action", "ui", key, text)
        return text

    def _clock(self, key: str, raw: Any) -> str:
        clock = self.runner.clock
        if key == "clock":
            if raw == "pause":
                clock.pause()
                return "clock paused"
            if raw == "resume":
                clock.resume()
                return "clock resumed"
            raise self._error(key, f"clock: pause or resume, got {raw!r}")
        try:
            speed = float(raw)
            clock.set_speed(speed)
        except (TypeError, ValueError) as exc:
            msg = (
                str(exc)
                if isinstance(exc, ValueError) and "speed" in str(exc)
                else f"speed: a number, got {raw!r}"
            )
            raise self._error(key, msg) from None
        return f"speed {speed:g}x"

    def _schedule(self, key: str, raw: Any) -> str:
        site = self.runner.site
        play = self.play
        t = max(site.t - play.t0, 0.0)  # the boundary the clock is at: applied before the next step
        duration = play.scenario.duration_s
        end = max(duration, t + site.dt) if math.isfinite(duration) else t + site.dt
        data = {"scenario": "dashboard", "duration": f"{end!r} s", "events": [{"at": f"{t!r} s", key: raw}]}
        try:
            sc = parse_scenario(data, path=Path(SOURCE), lines={})
            sc.check(site, self.runner.gateway.devices)
        except ScenarioError as exc:
            raise ActionError([self._strip(p) for p in exc.problems]) from None
        if t > duration:
            raise self._error(key, f"the scenario ended at {duration:g} s")
        ev = sc.events[0]
        label = f"{ev.describe()} (from the dashboard)"
        play.add(ev, label)
        return ev.describe()

    @staticmethod
    def _strip(p: Problem) -> Problem:
        """``events.0.fault.target`` → ``fault.target``: the page sent one action, not a file."""
        where = p.where.removeprefix("events.0").lstrip(".")
        return Problem(SOURCE, None, where, p.message)

    @staticmethod
    def _error(where: str, message: str) -> ActionError:
        return ActionError([Problem(SOURCE, None, where, message)])
