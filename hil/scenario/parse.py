"""Reading a scenario file: every problem in it at once, each with its line and a
did-you-mean.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from twin.clock import check_start, check_timezone
from twin.units import (
    QUANTITY_UNITS,
    UnitProblem,
    number_and_unit,
    parse_duration,
    parse_quantity,
    signal_unit,
)

from ..config import find_profile, load_yaml
from ..ems import CONTROLLERS
from ..endpoints import parse_endpoints
from ..errors import ConfigError, Path_, Problem, ScenarioError, did_you_mean, line_for
from ..faults import FaultSpec, parse_fault
from ..limits import RUN_LIMITS
from ..tariff import find_tariff
from ..validation import Prob, validate
from .model import (
    ACTIONS,
    TRACE_KEYS,
    Always,
    ControllerSpec,
    Event,
    Eventually,
    Expectation,
    ExpKind,
    ExpOp,
    ExpWhat,
    Scenario,
)
from .names import DEFAULT_KEY_SIGNALS

# -- parsing -------------------------------------------------------------------------------------
TOP_KEYS = {
    "scenario": "a short name (letters, digits, _), used for the junit suite and output names",
    "title": "one line for people",
    "description": "what the scenario proves, and what a competent EMS does",
    "site": "a shipped site name or a path; --site overrides",
    "site_params": "site parameters for this run, merged into the site file (e.g. {pcs: {grid_code: ...}})",
    "duration": "how long the run lasts (simulated)",
    "tick": "the site's tick for this run (default: the site's)",
    "start": "local wall-clock date-time of t = 0, ISO, e.g. '2026-01-31T23:00' (default: the site's)",
    "timezone": "IANA time zone of the site clock, e.g. Asia/Shanghai (default: the site's)",
    "seed": "random seed of the twin (cell spread, GPU jitter); --seed overrides",
    "tariff": "a shipped tariff name or a path: the run's bill goes into results.json; --tariff overrides",
    "controller": "external, or an in-process controller: name or {name, mode, period, options}",
    "initial": "twin inputs set before the first tick: {input: value}",
    "events": "the timeline: a list of {at|after, <action>}",
    "expect": "the expectations: a list of structured checks",
    "trace": "{every: <duration>, signals: [...], full_every: <duration>}: what the trace records "
    "(default every tick, every signal); `full_every` adds `trace_full.parquet`, every signal as "
    "its mean, min and max over each interval, and the trace then keeps the single-valued "
    "signals unless `signals` says otherwise (long runs)",
    "report": "{signals: [...]}: the key signals plotted in the report",
    "tags": "free labels, e.g. [grid, islanding]",
    "ui": "{enabled, port, read_only}: the browser dashboard for this run, as the site file's "
    "`endpoints: ui:` (over it; --ui, --ui-port and --ui-read-only over both)",
}
_EVENT_KEYS = {"at", "after", "name"}
_EXPECT_KEYS = {
    "name", "signal", "alarm", "state", "unit", "mean", "lt", "gt", "le", "ge", "between", "is", "raised",
    "always", "eventually", "at",
}  # fmt: skip


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Parse and validate a scenario file (a shipped name or a path); every problem at once."""
    try:
        path = find_profile("scenarios", str(name_or_path))
    except ConfigError as exc:
        raise ScenarioError(exc.problems) from None
    try:
        data, lines = load_yaml(path)
    except ConfigError as exc:
        raise ScenarioError(exc.problems) from None
    return parse_scenario(data, path=path, lines=lines)


def parse_scenario(  # noqa: C901 - over 15 branches before the gate; to split
    data: Any, *, path: Path, lines: dict[Path_, int], partial: list[Problem] | None = None
) -> Scenario:
    """The scenario in ``data``; ScenarioError with every problem at once. With ``partial``
    (a list), the problems are appended to it instead and what did parse is returned, so that
    ``hil validate`` can also check the rest against the site (bad entries are left out)."""
    problems: list[Problem] = [] if partial is None else partial

    def prob(where: Path_, message: str) -> None:
        problems.append(Problem(str(path), line_for(lines, where), ".".join(str(p) for p in where), message))

    if not isinstance(data, Mapping):
        raise ScenarioError(
            [Problem(str(path), 1, "", "a scenario file is a mapping (scenario:, duration:, events:, ...)")]
        )
    for key in data:
        if key not in TOP_KEYS:
            tail = did_you_mean(str(key), list(TOP_KEYS))
            prob((key,), f"unknown key {key!r}{tail}")
    name = data.get("scenario")
    max_name = int(RUN_LIMITS["scenario_chars"].value)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        prob(("scenario",), "scenario: a short name of letters, digits, '_' or '-' is required")
        name = path.stem[:max_name]
    elif len(name) > max_name:
        prob(
            ("scenario",),
            f"the name has {len(name)} characters; at most {max_name} (it names the output folder)",
        )
        name = name[:max_name]
    duration = 0.0
    if "duration" not in data:
        prob((), "duration: is required (e.g. 'duration: 10 min')")
    else:
        try:
            duration = parse_duration(data["duration"])
            longest = RUN_LIMITS["duration_s"]
            if duration <= 0:
                prob(("duration",), "duration must be positive")
            elif duration > longest.value:
                prob(("duration",), f"at most {longest.value / 86_400:g} d ({longest.reason})")
                duration = longest.value
        except UnitProblem as exc:
            prob(("duration",), str(exc))
    tick = None
    if data.get("tick") is not None:
        try:
            tick = parse_duration(data["tick"])
            if tick <= 0:
                prob(("tick",), "tick must be positive")
        except UnitProblem as exc:
            prob(("tick",), str(exc))
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        prob(("seed",), f"seed must be an integer, got {seed!r}")
        seed = None
    start = _clock_key(data, "start", check_start, prob)
    timezone = _clock_key(data, "timezone", check_timezone, prob)
    site = data.get("site")
    if site is not None and not isinstance(site, str):
        prob(("site",), "site: a shipped site name or a path")
        site = None
    controller = _parse_controller(data.get("controller", "standin"), prob)
    tariff = data.get("tariff")
    if tariff is not None:
        tariff = _check_tariff(tariff, prob)
    tags = data.get("tags") or []
    if not isinstance(tags, list):
        prob(("tags",), "tags: a list of labels, e.g. [grid, islanding]")
        tags = []
    site_params = data.get("site_params") or {}
    if not isinstance(site_params, Mapping):
        prob(("site_params",), "site_params: a mapping merged into the site file")
        site_params = {}
    initial: dict[str, float] = {}
    init = data.get("initial") or {}
    if not isinstance(init, Mapping):
        prob(("initial",), "initial: a mapping {input: value}")
    else:
        for k, v in init.items():
            try:
                initial[str(k)] = parse_quantity(v, signal_unit(str(k)))
            except UnitProblem as exc:
                prob(("initial", k), str(exc))
    events = _parse_events(data.get("events") or [], duration, prob)
    expectations = _parse_expectations(data.get("expect") or [], prob)
    trace = data.get("trace") or {}
    every = full_every = None
    trace_signals = None
    if not isinstance(trace, Mapping):
        prob(("trace",), "trace: a mapping {every: <duration>, full_every: <duration>, signals: [...]}")
    else:
        for k in trace:
            if k not in TRACE_KEYS:
                tail = did_you_mean(str(k), list(TRACE_KEYS), otherwise=f" ({', '.join(TRACE_KEYS)})")
                prob(("trace", k), f"unknown key {k!r}{tail}")
        if "every" in trace:
            try:
                every = parse_duration(trace["every"])
            except UnitProblem as exc:
                prob(("trace", "every"), str(exc))
        if "full_every" in trace:
            try:
                full_every = parse_duration(trace["full_every"])
            except UnitProblem as exc:
                prob(("trace", "full_every"), str(exc))
        if "signals" in trace:
            trace_signals = _str_list(trace["signals"], ("trace", "signals"), prob)
    report = data.get("report") or {}
    key_signals = list(DEFAULT_KEY_SIGNALS)
    if not isinstance(report, Mapping):
        prob(("report",), "report: a mapping {signals: [...]}")
    else:
        for k in report:
            if k != "signals":
                prob(("report", k), f"unknown key {k!r} (signals)")
        if "signals" in report:
            key_signals = _str_list(report["signals"], ("report", "signals"), prob) or key_signals
    ui = _ui(data["ui"], path, prob) if "ui" in data else {}
    if problems and partial is None:
        raise ScenarioError(problems)
    return Scenario(
        path=path,
        name=str(name),
        title=str(data.get("title") or name),
        description=str(data.get("description") or "").strip(),
        site=site,
        duration_s=duration,
        tick_s=tick,
        seed=seed,
        controller=controller,
        initial=initial,
        events=events,
        expectations=expectations,
        site_params=dict(site_params),
        tags=[str(t) for t in tags],
        trace_every_s=every,
        trace_full_every_s=full_every,
        trace_signals=trace_signals,
        key_signals=key_signals,
        lines=lines,
        start=start,
        timezone=timezone,
        tariff=tariff,
        ui=ui,
    )


def _ui(value: Any, path: Path, prob: Prob) -> dict[str, Any]:
    """``ui:``, checked by the site file's own ``endpoints: ui:`` validator (one schema for
    both): the keys given, with their values."""
    try:
        cfg = parse_endpoints({"ui": value}, path=path, lines={})
    except ConfigError as exc:
        for p in exc.problems:
            prob(tuple(p.where.removeprefix("endpoints.").split(".")), p.message)
        return {}
    return {str(k): getattr(cfg, f"ui_{k}") for k in value} if isinstance(value, Mapping) else {}


def _check_tariff(value: Any, prob: Prob) -> str | None:
    """``tariff:`` names a tariff that exists (its own content is checked when it is loaded)."""
    if not isinstance(value, str):
        prob(("tariff",), "tariff: a shipped tariff name or a path to a YAML / URDB JSON file")
        return None
    try:
        find_tariff(value)
    except ConfigError as exc:
        for p in exc.problems:
            prob(("tariff",), p.message)
        return None
    return value


def _clock_key(
    data: Mapping[str, Any], key: str, check: Callable[[str], str | None], prob: Prob
) -> str | None:
    """``start:``/``timezone:``: text the site clock accepts (YAML may read a bare date-time)."""
    v = data.get(key)
    if v is None:
        return None
    if isinstance(v, datetime.datetime | datetime.date):
        v = v.isoformat()
    if not isinstance(v, str):
        prob((key,), f"{key}: expected text, got {v!r}")
        return None
    problem = check(v)
    if problem is not None:
        prob((key,), f"{key}: {problem}")
        return None
    return v


def _str_list(v: Any, where: Path_, prob: Prob) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        prob(where, "a list of signal names")
        return []
    return list(v)


def _parse_controller(v: Any, prob: Prob) -> ControllerSpec:
    known = ["external", *CONTROLLERS]
    if isinstance(v, str):
        v = {"name": v}
    if not isinstance(v, Mapping):
        prob(("controller",), "controller: a name (external, standin) or {name, mode, period, options}")
        return ControllerSpec()
    for k in v:
        if k not in ("name", "mode", "period", "options"):
            tail = did_you_mean(str(k), ["name", "mode", "period", "options"])
            prob(("controller", k), f"unknown key {k!r}{tail}")
    name = str(v.get("name", "standin"))
    name, _, mode_in_name = name.partition(":")
    if name not in known:
        tail = did_you_mean(name, known)
        prob(("controller", "name") if "name" in v else ("controller",), f"unknown controller {name!r}{tail}")
    mode = str(v.get("mode", mode_in_name or "good"))
    period = 1.0
    if "period" in v:
        try:
            period = parse_duration(v["period"])
        except UnitProblem as exc:
            prob(("controller", "period"), str(exc))
    options = v.get("options") or {}
    opts: dict[str, Any] = {}
    if not isinstance(options, Mapping):
        prob(("controller", "options"), "options: a mapping of option: value")
    else:
        opts = _parse_options(options, ("controller", "options"), prob)
    return ControllerSpec(name=name, mode=mode, period_s=period, options=opts)


def _parse_options(options: Mapping[Any, Any], where: tuple[Any, ...], prob: Prob) -> dict[str, Any]:
    """Controller options: quantities (``9 MW``) in the unit their name implies; lists, text
    that is not a number (a profile name) and nested sections (parsed the same way) as given."""
    out: dict[str, Any] = {}
    for k, x in options.items():
        key = str(k)
        if isinstance(x, Mapping):
            out[key] = _parse_options(x, (*where, k), prob)
        elif isinstance(x, list) or x is None or (isinstance(x, str) and number_and_unit(x) is None):
            out[key] = x
        else:
            try:
                out[key] = parse_quantity(x, _option_unit(key))
            except UnitProblem as exc:
                prob((*where, k), str(exc))
    return out


def _option_unit(key: str) -> str | None:
    if key.endswith("_s"):
        return "s"
    return signal_unit(key)


def _parse_events(items: Any, duration: float, prob: Prob) -> list[Event]:  # noqa: C901 - over 15 branches before the gate; to split

    if not isinstance(items, list):
        prob(("events",), "events: a list of {at: <time>, <action>: ...}")
        return []
    out: list[Event] = []
    prev_t = 0.0
    for i, item in enumerate(items):
        where: Path_ = ("events", i)
        if not isinstance(item, Mapping):
            prob(where, "an event is a mapping {at: <time>, <action>: ...}")
            continue
        t = prev_t
        timing = [k for k in ("at", "after") if k in item]
        if len(timing) != 1:
            prob(where, "give exactly one of 'at' (from the start) or 'after' (after the previous event)")
        else:
            try:
                d = parse_duration(item[timing[0]])
                t = d if timing[0] == "at" else prev_t + d
            except UnitProblem as exc:
                prob((*where, timing[0]), str(exc))
        if t > duration > 0:
            prob((*where, timing[0] if timing else "at"), f"at {t:g} s, after the run ends ({duration:g} s)")
        actions = [k for k in item if k not in _EVENT_KEYS]
        if len(actions) != 1:
            if not actions:
                prob(where, f"no action; one of: {', '.join(ACTIONS)}")
            else:
                prob(where, f"one action per event, found {', '.join(map(str, actions))}")
            prev_t = t
            continue
        key = str(actions[0])
        if key not in ACTIONS:
            tail = did_you_mean(key, list(ACTIONS))
            prob((*where, key), f"unknown action {key!r}{tail}")
            prev_t = t
            continue
        raw = item[key]
        spec: Any = None
        if key == "set":
            if not isinstance(raw, Mapping) or not raw:
                prob((*where, key), "set: a mapping {input: value, ...}")
            else:
                spec = dict(raw)
        elif key == "smoothing":
            if not isinstance(raw, bool):
                prob((*where, key), f"smoothing: true or false, got {raw!r}")
            else:
                spec = raw
        elif key == "fault":
            spec = parse_fault(raw, (*where, key), prob)
        else:
            model = ACTIONS[key].model
            assert model is not None
            if isinstance(raw, (str, int)) and key.startswith("job"):
                raw = {"job": raw}
            spec = validate(model, raw, (*where, key), prob)
        if spec is not None:
            out.append(Event(t, key, spec, where, str(item.get("name", ""))))
        prev_t = t
    _check_overlaps(out, prob)
    return out


def _check_overlaps(events: list[Event], prob: Prob) -> None:
    """Two faults of one type on one target may not overlap in time."""
    inf = float("inf")
    seen: dict[tuple[str, str], list[tuple[float, float, Any]]] = {}
    for ev in events:
        if ev.action != "fault":
            continue
        fs: FaultSpec = ev.spec
        end = inf if fs.duration is None else ev.t_s + fs.duration
        key = (fs.type, fs.target)
        for t0, t1, _ in seen.get(key, []):
            if ev.t_s < t1 and t0 < end:
                prob(
                    (*ev.where, "fault"),
                    f"overlaps the {fs.type} fault on {fs.target} injected at {t0:g} s "
                    f"({'until the end' if t1 == inf else f'until {t1:g} s'}); "
                    "clear it first or target another device",
                )
        seen.setdefault(key, []).append((ev.t_s, end, ev.where))


def _parse_expectations(items: Any, prob: Prob) -> list[Expectation]:  # noqa: C901 - over 15 branches before the gate; to split
    if not isinstance(items, list):
        prob(("expect",), "expect: a list of checks")
        return []
    out: list[Expectation] = []
    for i, item in enumerate(items):
        where: Path_ = ("expect", i)
        if not isinstance(item, Mapping):
            prob(where, "an expectation is a mapping {name, signal, lt|gt|between, always|eventually|at}")
            continue
        bad = False
        for k in item:
            if isinstance(k, bool):
                prob(where, f"a key reads as {k} — YAML takes on/off/yes/no as booleans; quote it")
                bad = True
            elif k not in _EXPECT_KEYS:
                tail = did_you_mean(str(k), sorted(_EXPECT_KEYS))
                prob((*where, k), f"unknown key {k!r}{tail}")
                bad = True
        whats = [k for k in ("signal", "alarm", "state") if k in item]
        if len(whats) != 1:
            prob(where, "give exactly one of signal:, alarm: or state:")
            continue
        what = whats[0]
        name = str(item.get("name") or "")
        ops = [k for k in ("lt", "gt", "le", "ge", "between", "is", "raised") if k in item]
        alarm = None
        states: tuple[str, ...] = ()
        raw: tuple[Any, ...] = ()
        op = ""
        target = str(item[what])
        if what == "signal":
            ops = [o for o in ops if o in ("lt", "gt", "le", "ge", "between")]
            if len(ops) != 1:
                prob(where, "a signal check needs exactly one of lt, gt, le, ge, between")
                continue
            op = ops[0]
            v = item[op]
            if op == "between":
                if not isinstance(v, list) or len(v) != 2:
                    prob((*where, op), "between: [low, high]")
                    continue
                raw = (v[0], v[1])
            else:
                raw = (v,)
            try:  # the unit itself is checked now; its fit to the signal once the site is known
                for b in raw:
                    m = number_and_unit(b) if isinstance(b, str) else None
                    if isinstance(b, str) and (m is None or (m[1] or "") not in ("", *QUANTITY_UNITS)):
                        parse_quantity(b, "kW")
            except UnitProblem as exc:
                prob((*where, op), str(exc))
                continue
        elif what == "alarm":
            alarm = target
            target = str(item.get("unit", "bms[*].alarm_bits"))
            if not target.endswith(".alarm_bits"):
                target = f"{target}.alarm_bits"
            rv = item.get("raised", True)
            if not isinstance(rv, bool):
                prob((*where, "raised"), "raised: true or false")
                continue
            op = "raised" if rv else "cleared"
        else:
            v = item.get("is")
            if v is None:
                prob(where, "a state check needs is: <STATE> (or a list)")
                continue
            states = tuple(str(s) for s in (v if isinstance(v, list) else [v]))
            op = "is"
        timing = [k for k in ("always", "eventually", "at") if k in item]
        if len(timing) > 1:
            prob(where, "give at most one of always, eventually, at")
            continue
        if timing:
            kind = timing[0]
        elif op in ("raised", "is"):
            kind = "eventually"
        else:
            kind = "always"
        t0, t1, hold = 0.0, None, 0.0
        spec = item.get(kind)
        try:
            if kind == "at":
                t0 = parse_duration(spec)
                t1 = t0
            elif spec is None or spec is True:
                pass
            elif kind == "always":
                a = validate(Always, spec, (*where, kind), prob)
                if a is None:
                    continue
                t0, t1 = a.from_, a.to
            else:
                e = validate(Eventually, spec, (*where, kind), prob)
                if e is None:
                    continue
                t0, hold = e.after, e.hold
                t1 = None if e.within is None else e.after + e.within
        except UnitProblem as exc:
            prob((*where, kind), str(exc))
            continue
        if t1 is not None and t1 < t0:
            prob((*where, kind), "the window ends before it starts")
            continue
        mean_s = 0.0
        if "mean" in item:
            if what != "signal":
                prob((*where, "mean"), "mean: applies to signal checks only")
                continue
            try:
                mean_s = parse_duration(item["mean"])
            except UnitProblem as exc:
                prob((*where, "mean"), str(exc))
                continue
        if bad:
            continue
        if not name:
            name = f"{target} {op} {' '.join(str(x) for x in raw) or alarm or ' '.join(states)}"
        out.append(
            Expectation(
                name=name,
                kind=cast(ExpKind, kind),  # each checked against its choices above
                what=cast(ExpWhat, what),
                target=target,
                op=cast(ExpOp, op),
                raw_bounds=raw,
                alarm=alarm,
                states=states,
                t0=t0,
                t1=t1,
                hold=hold,
                where=where,
                mean_s=mean_s,
            )
        )
    names = [e.name for e in out]
    for i, n in enumerate(names):
        if names.count(n) > 1 and names.index(n) != i:
            prob(("expect", i, "name"), f"two expectations are named {n!r}; junit needs unique names")
    return out
