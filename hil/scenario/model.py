"""A parsed scenario: its actions (one pydantic model each, with the registry
:data:`ACTIONS`), timeline events, expectations, controller and the :class:`Scenario` itself,
whose :meth:`Scenario.check` holds every name to a site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.units import (
    UnitProblem,
    parse_duration,
    parse_quantity,
    signal_unit,
)

from ..errors import Path_, Problem, ScenarioError, did_you_mean, line_for
from ..faults import FaultSpec, check_target
from ..limits import RUN_LIMITS
from .names import (
    ACTION_INPUT,
    DEFAULT_KEY_SIGNALS,
    alarm_table,
    signal_names,
    split_name,
    state_enum,
    unit_counts,
)


# -- pydantic helpers ----------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _dur(v: Any) -> float:
    return parse_duration(v)


def _dur_or_none(v: Any) -> float | None:
    return None if v is None else parse_duration(v)


def _qty(unit: str) -> Callable[[Any], float]:
    return lambda v: parse_quantity(v, unit)


def _durations(*names: str) -> Any:
    return field_validator(*names, mode="before")(lambda cls, v: _dur_or_none(v))


# -- actions -------------------------------------------------------------------------------------
class GridOutage(_Model):
    """The utility supply is lost for ``duration``; the site islands if it can."""

    duration: float
    _d = _durations("duration")


class Voltage(_Model):
    """Grid voltage moves to ``v_pu`` (a sag below 1, a swell above) for ``duration``, then back."""

    v_pu: float = Field(ge=0.0, le=1.5)
    duration: float
    ramp: float = 0.0
    _d = _durations("duration", "ramp")


class Frequency(_Model):
    """Grid frequency moves to ``f_hz`` (stepped, or ramped at ``ramp_hz_per_s``), holds for
    ``duration`` and returns the same way."""

    f_hz: float
    duration: float
    ramp_hz_per_s: float | None = None
    _d = _durations("duration")

    @field_validator("f_hz", mode="before")
    @classmethod
    def _f(cls, v: Any) -> float:
        f = parse_quantity(v, "Hz")
        if not 40.0 <= f <= 70.0:
            raise ValueError(f"f_hz must be within 40 .. 70 Hz, got {f}")
        return f


class Rocof(_Model):
    """The grid frequency ramps at ``hz_per_s`` for ``duration`` (RoCoF), then recovers as fast."""

    hz_per_s: float
    duration: float
    _d = _durations("duration")


class DemandResponse(_Model):
    """A utility demand-response event: announced now, starting after ``notice``, lasting
    ``duration``, with an import limit the site must stay under (64902 on the Utility device)."""

    limit_kw: float
    duration: float
    notice: float = 0.0
    id: int | None = None
    _d = _durations("duration", "notice")

    @field_validator("limit_kw", mode="before")
    @classmethod
    def _lim(cls, v: Any) -> float:
        return parse_quantity(v, "kW")


class Job(_Model):
    """A training job by index, or ``all``."""

    job: int | Literal["all"] = "all"


class Checkpoint(_Model):
    """Checkpoint ``job`` (``all``: a checkpoint storm) ``count`` times, ``every`` apart."""

    job: int | Literal["all"] = "all"
    count: int = 1
    every: float = 60.0
    _d = _durations("every")


class Cloud(_Model):
    """A PV cloud transient: the clear-sky index falls to ``index`` over ``ramp``, holds for
    ``duration`` and recovers over ``ramp``."""

    index: float = Field(ge=0.0, le=1.0)  # clear-sky fraction
    duration: float
    ramp: float = 5.0
    _d = _durations("duration", "ramp")


class FaultRef(_Model):
    """Clear an injected fault early: by its ``id``, or by ``type`` and ``target``."""

    id: str | None = None
    type: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class Action:
    """One kind of timeline entry: its key, its parameter model and a one-line summary."""

    key: str
    model: type[BaseModel] | None
    summary: str


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action(
            "set",
            None,
            'set twin inputs: `{input: value, ...}`, e.g. `{"pcs[2].q_set_kvar": 100 kvar}` (quote a '
            "key with `[`); each holds until the next write to it, and at one tick boundary a `set:` "
            "comes after the EMS writes, so it wins a tie",
        ),
        Action(
            "fault", None, "inject a fault from the catalogue: `{type, target, duration?, id?, params...}`"
        ),
        Action("clear_fault", FaultRef, "clear an injected fault early"),
        Action("grid_outage", GridOutage, GridOutage.__doc__ or ""),
        Action("voltage", Voltage, Voltage.__doc__ or ""),
        Action("frequency", Frequency, Frequency.__doc__ or ""),
        Action("rocof", Rocof, Rocof.__doc__ or ""),
        Action("demand_response", DemandResponse, DemandResponse.__doc__ or ""),
        Action("job_start", Job, "start a training job (or all)"),
        Action("job_stop", Job, "stop a training job (or all); no restart"),
        Action("job_fail", Job, "a job crashes (all: a cluster-wide failure dropping the whole load)"),
        Action("checkpoint", Checkpoint, Checkpoint.__doc__ or ""),
        Action("smoothing", None, "GPU power smoothing on or off: `smoothing: true`"),
        Action("cloud", Cloud, Cloud.__doc__ or ""),
    )
}


@dataclass(frozen=True)
class Event:
    """One timeline entry, in simulated seconds from the start of the run."""

    t_s: float
    action: str
    spec: Any  # a model of ACTIONS[action], a FaultSpec, a dict for `set`, a bool for `smoothing`
    where: Path_  # its place in the file (Scenario.line_of gives the line)
    name: str = ""

    @property
    def end_s(self) -> float | None:
        d = getattr(self.spec, "duration", None)
        if self.action == "demand_response":
            return self.t_s + self.spec.notice + self.spec.duration
        return None if d is None else self.t_s + d

    def describe(self) -> str:
        if self.action == "fault":
            fs: FaultSpec = self.spec
            d = "" if fs.duration is None else f" for {fs.duration:g} s"
            return f"fault {fs.type} on {fs.target}{d}"
        if isinstance(self.spec, BaseModel):
            args = ", ".join(f"{k}={v}" for k, v in self.spec.model_dump().items() if v is not None)
            return f"{self.action} {args}"
        return f"{self.action} {self.spec}"


# -- expectations --------------------------------------------------------------------------------
class Always(_Model):
    from_: float = 0.0
    to: float | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _d = _durations("from_", "to")

    def __init__(self, **data: Any) -> None:
        if "from" in data:
            data["from_"] = data.pop("from")
        super().__init__(**data)


class Eventually(_Model):
    after: float = 0.0
    within: float | None = None
    hold: float = 0.0
    _d = _durations("after", "within", "hold")


ExpKind = Literal["always", "eventually", "at"]
ExpWhat = Literal["signal", "alarm", "state"]
ExpOp = Literal["lt", "gt", "le", "ge", "between", "raised", "cleared", "is"]


@dataclass(frozen=True)
class Expectation:
    """A structured check on the run; see :mod:`hil.run.play` for how each is evaluated."""

    name: str
    kind: ExpKind
    what: ExpWhat
    target: str  # a signal (may have [*]), an alarm_bits signal, or a state signal
    op: ExpOp
    raw_bounds: tuple[Any, ...]  # as written; converted to the signal's unit by check()
    alarm: str | None
    states: tuple[str, ...]
    t0: float
    t1: float | None
    hold: float
    where: Path_
    bounds: tuple[float, ...] = ()
    mean_s: float = 0.0  # evaluate the trailing mean over this long (0: the instantaneous value)

    def condition(self) -> str:
        u = signal_unit(self.target)
        unit = f" {u}" if u else ""
        if self.what == "alarm":
            return f"{self.alarm} {'raised' if self.op == 'raised' else 'not raised'} on {self.target}"
        if self.what == "state":
            return f"{self.target} is {' or '.join(self.states)}"
        b = self.bounds or tuple(float("nan") for _ in self.raw_bounds)
        subject = f"{self.target} ({self.mean_s:g} s mean)" if self.mean_s else self.target
        if self.op == "between":
            return f"{subject} between {b[0]:g} and {b[1]:g}{unit}"
        sym = {"lt": "<", "gt": ">", "le": "≤", "ge": "≥"}[self.op]
        return f"{subject} {sym} {b[0]:g}{unit}"

    def window(self, duration_s: float) -> tuple[float, float]:
        return self.t0, duration_s if self.t1 is None else min(self.t1, duration_s)


@dataclass(frozen=True)
class ControllerSpec:
    """Who controls the site: ``external`` (an EMS on the wire) or an in-process controller."""

    name: str = "standin"
    mode: str = "good"
    period_s: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        return self.name == "external"

    def label(self) -> str:
        if self.external:
            return "external"
        return self.name if self.mode == "good" else f"{self.name}:{self.mode}"


@dataclass
class Scenario:
    path: Path
    name: str
    title: str
    description: str
    site: str | None
    duration_s: float
    tick_s: float | None
    seed: int | None
    controller: ControllerSpec
    initial: dict[str, float]
    events: list[Event]
    expectations: list[Expectation]
    site_params: dict[str, Any]
    tags: list[str]
    trace_every_s: float | None
    trace_full_every_s: float | None
    trace_signals: list[str] | None
    key_signals: list[str]
    lines: dict[Path_, int] = field(repr=False)
    start: str | None = None
    timezone: str | None = None
    tariff: str | None = None
    ui: dict[str, Any] = field(default_factory=dict)  # the dashboard: {enabled, port, read_only}

    def line_of(self, where: Path_) -> int | None:
        return line_for(self.lines, where)

    def problem(self, where: Path_, message: str) -> Problem:
        return Problem(str(self.path), line_for(self.lines, where), ".".join(str(p) for p in where), message)

    def check(self, site: Any, devices: Sequence[Any]) -> None:  # noqa: C901 - over 15 branches before the gate; to split
        """Resolve names against a built site and its gateway devices; raise every problem at once.

        Converts expectation bounds and ``set`` values to the signals' units."""

        problems: list[Problem] = []
        signals = signal_names(site)
        inputs = list(site.input_names)
        n_units = unit_counts(site)

        def check_signal(name: str, where: Path_) -> bool:
            dev, idx, sig = split_name(name)
            generic = f"{dev}.{sig}"
            if idx is None and name in signals["scalar"]:
                return True
            if generic in signals["array"]:
                if idx is None:
                    problems.append(
                        self.problem(where, f"{name!r} is per unit: write {dev}[i].{sig} or {dev}[*].{sig}")
                    )
                    return False
                if idx != "*" and not 0 <= int(idx) < n_units.get(generic, 0):
                    problems.append(
                        self.problem(where, f"{name!r}: unit index out of range 0..{n_units[generic] - 1}")
                    )
                    return False
                return True
            tail = did_you_mean(
                name, [*signals["scalar"], *(f"{k.replace('.', '[*].', 1)}" for k in signals["array"])], n=3
            )
            problems.append(self.problem(where, f"unknown signal {name!r}{tail}"))
            return False

        def check_input(key: str, where: Path_) -> bool:
            dev, idx, sig = split_name(key)
            if f"{dev}.{sig}" not in inputs:
                tail = did_you_mean(f"{dev}.{sig}", inputs)
                problems.append(self.problem(where, f"unknown input {key!r}{tail}"))
                return False
            n = site.unit_count(dev)
            if idx not in (None, "*") and not 0 <= int(idx) < n:
                problems.append(self.problem(where, f"{key!r}: unit index out of range 0..{n - 1}"))
                return False
            return True

        for i, ev in enumerate(self.events):
            where: Path_ = ("events", i, ev.action)
            if ev.action == "set":
                for key, value in ev.spec.items():
                    if not check_input(key, (*where, key)):
                        continue
                    try:
                        ev.spec[key] = parse_quantity(value, signal_unit(key))
                    except UnitProblem as exc:
                        problems.append(self.problem((*where, key), str(exc)))
            elif ev.action == "fault":
                problems += [self.problem(where, m) for m in check_target(ev.spec, site, devices)]
            elif ev.action in ACTION_INPUT and ACTION_INPUT[ev.action] not in inputs:
                dev = ACTION_INPUT[ev.action].split(".")[0]
                problems.append(self.problem(where, f"{ev.action}: this site has no {dev} device"))
        for key in self.initial:
            check_input(key, ("initial", key))
        ticks = self.duration_s / site.dt
        if ticks > RUN_LIMITS["ticks"].value:
            lim = RUN_LIMITS["ticks"]
            problems.append(
                self.problem(
                    ("duration",),
                    f"{ticks:.3g} ticks of {site.dt:g} s: the limit is {lim.value:.3g} ({lim.reason})",
                )
            )
        if self.key_signals == DEFAULT_KEY_SIGNALS:
            self.key_signals = [n for n in DEFAULT_KEY_SIGNALS if n in signals["scalar"]]
        for k, name in enumerate(self.key_signals):
            check_signal(name, ("report", "signals", k))
        for k, name in enumerate(self.trace_signals or []):
            check_signal(name, ("trace", "signals", k))
        out: list[Expectation] = []
        for i, ex in enumerate(self.expectations):
            where = ("expect", i)
            if not check_signal(ex.target, (*where, ex.what)):
                out.append(ex)
                continue
            bounds: tuple[float, ...] = ()
            if ex.what == "signal":
                try:
                    bounds = tuple(parse_quantity(b, signal_unit(ex.target)) for b in ex.raw_bounds)
                except UnitProblem as exc:
                    problems.append(self.problem((*where, ex.op), str(exc)))
                if ex.op == "between" and len(bounds) == 2 and bounds[0] > bounds[1]:
                    problems.append(self.problem((*where, "between"), "the lower bound is above the upper"))
            elif ex.what == "alarm":
                table = alarm_table(ex.target)
                if table is None:
                    problems.append(self.problem((*where, "unit"), f"{ex.target!r} carries no alarm bits"))
                elif ex.alarm not in table:
                    tail = did_you_mean(str(ex.alarm), list(table))
                    problems.append(self.problem((*where, "alarm"), f"unknown alarm {ex.alarm!r}{tail}"))
            elif ex.what == "state":
                enum = state_enum(ex.target)
                if enum is None:
                    problems.append(self.problem((*where, "state"), f"{ex.target!r} is not a state signal"))
                else:
                    names = [m.name for m in enum]
                    for s in ex.states:
                        if s not in names:
                            tail = did_you_mean(s, names)
                            problems.append(
                                self.problem(
                                    (*where, "is"), f"unknown state {s!r}{tail} ({', '.join(names)})"
                                )
                            )
            if ex.t0 > self.duration_s:
                problems.append(
                    self.problem(where, f"its window starts after the run ends ({self.duration_s:g} s)")
                )
            out.append(replace(ex, bounds=bounds))
        self.expectations = out
        if problems:
            raise ScenarioError(problems)


#: the keys of a scenario's ``trace:``
TRACE_KEYS = ("every", "signals", "full_every")
