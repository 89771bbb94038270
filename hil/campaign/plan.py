"""A campaign's runs, drawn up front: each run's inputs, seed and fault sequence.

The plan is a pure function of the campaign file: the same file gives the same runs in the
same order, whatever machine or cluster plays them. Run ``i`` is point ``i // R``, replicate
``i % R`` (``R`` replicates or fault sequences). Replicate 0 plays the base's own seed (a
one-replicate campaign reproduces the shipped scenario); replicate ``r > 0`` a seed drawn from
the campaign's seed and ``r``. Replicate ``r`` has the same seed and the same fault sequence
at every point (common random numbers): two points, or an EMS and its
candidate, are compared on the same draws, so their difference is the parameters', not the
dice's.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import ValidationError
from scipy.stats import qmc

from hil.config import beside, find_profile, load_yaml
from hil.errors import ConfigError, Path_, Problem, did_you_mean, line_for
from hil.faults import FAULTS, check_target, parse_fault
from hil.run.prepare import prepare_run
from hil.scenario import parse_duration, parse_scenario
from hil.scenario.names import signal_names, split_name, unit_counts
from hil.study import parse_study
from hil.tariff import find_tariff, load_tariff

from .expr import evaluate
from .model import Campaign, ExternalSpec, FaultDrawSpec, ParamSpec

__all__ = [
    "RunSpec",
    "apply_overrides",
    "checked_plan",
    "param_columns",
    "plan_campaign",
    "plan_digest",
    "scenario_with",
    "set_path",
]


@dataclass(frozen=True)
class RunSpec:
    """One run: everything a worker needs, and nothing it must look up in the campaign."""

    index: int
    point: int
    replicate: int
    kind: str  # "study" or "scenario"
    base: str  # the study's or scenario's path
    params: dict[str, Any]  # parameter name -> value (what the results table shows)
    overrides: dict[str, Any]  # dotted path -> value (what is set in the base file)
    seed: int | None  # None: the base's own (replicate 0, and every study)
    faults: list[dict[str, Any]] = field(default_factory=list)  # scenario events appended
    site: str | None = None
    metrics: tuple[str, ...] = ()
    external: dict[str, Any] | None = None  # an EMS in its own process (ExternalSpec's fields)
    campaign_dir: str = ""

    @property
    def run_id(self) -> str:
        return f"{self.index:05d}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "point": self.point,
            "replicate": self.replicate,
            "kind": self.kind,
            "base": self.base,
            "params": self.params,
            "overrides": self.overrides,
            "seed": self.seed,
            "faults": self.faults,
            "site": self.site,
            "metrics": list(self.metrics),
            "external": self.external,
        }


# -- dotted paths ---------------------------------------------------------------------------------
def set_path(data: Any, path: str, value: Any) -> None:
    """Set ``a.b.0.c`` in a YAML document in place; a missing mapping on the way is created,
    a list index must exist. Raises ValueError saying what stood in the way."""
    parts = path.split(".")
    cur = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i]) or "(top level)"
        if isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                raise ValueError(f"{where} is a list of {len(cur)}: {part!r} is not an index in it")
            if last:
                cur[int(part)] = value
                return
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            if last:
                cur[part] = value
                return
            if cur.get(part) is None:
                cur[part] = {}
            cur = cur[part]
        else:
            raise ValueError(f"{where} is {cur!r}, not a mapping or list: {path} cannot be set in it")


def apply_overrides(data: Any, overrides: Mapping[str, Any]) -> Any:
    """A deep copy of ``data`` with every dotted path set."""
    out = copy.deepcopy(data)
    for path, value in overrides.items():
        set_path(out, path, value)
    return out


TARIFF_PREFIX = "tariff."
EXTERNAL_PREFIX = "external."


def run_document(
    kind: str, data: Any, overrides: Mapping[str, Any], base: Path, folder: Path, seed: int | None = None
) -> Any:
    """The study or scenario a run plays: ``overrides`` over ``data`` (a scenario's by
    :func:`scenario_with`, with ``seed``); those under ``tariff.`` go into a copy of the
    tariff the document names, written to ``folder/tariff.yaml`` and checked, which the
    document then names instead."""
    own = {k: v for k, v in overrides.items() if not k.startswith((TARIFF_PREFIX, EXTERNAL_PREFIX))}
    doc = apply_overrides(data, own) if kind == "study" else scenario_with(data, own, seed)
    tariff = {k[len(TARIFF_PREFIX) :]: v for k, v in overrides.items() if k.startswith(TARIFF_PREFIX)}
    if not tariff:
        return doc
    name = doc.get("tariff")
    if not isinstance(name, str):
        raise ValueError("tariff.* parameters need a base that names its tariff (tariff: ...)")
    path = find_tariff(beside(base, name))
    if path.suffix == ".json":
        raise ValueError(f"{path.name} is a URDB rate: tariff.* parameters need a YAML tariff (hil's format)")
    tdata, _ = load_yaml(path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "tariff.yaml"
    target.write_text(yaml.safe_dump(apply_overrides(tdata, tariff), sort_keys=False, allow_unicode=True))
    load_tariff(target)  # every problem of the varied tariff, now (ConfigError)
    return {**doc, "tariff": str(target)}


def _controller_name(value: Any) -> tuple[str, str | None]:
    raw = value.get("name", "standin") if isinstance(value, Mapping) else value
    name, _, mode = str(raw).partition(":")
    if isinstance(value, Mapping) and value.get("mode") is not None:
        mode = str(value["mode"])
    return name, mode or None


def scenario_with(data: Any, overrides: Mapping[str, Any], seed: int | None = None) -> Any:
    """The scenario document a run plays: ``seed`` (when given), then the overrides. A bare
    controller name (``controller: standin:ignore_dr``) keeps the scenario's own controller,
    options and all, when it names the same controller (changing its mode only), and is that
    controller with its defaults otherwise: an EMS comparison runs each side as the scenario
    configures it."""
    doc = dict(data)
    if seed is not None:
        doc["seed"] = seed
    rest = dict(overrides)
    value = rest.pop("controller", None)
    if isinstance(value, str) and isinstance(doc.get("controller"), Mapping):
        own, _ = _controller_name(doc["controller"])
        name, mode = _controller_name(value)
        if name == own:
            value = {**doc["controller"], "name": name, "mode": mode or "good"}
    if value is not None:
        rest = {"controller": value, **rest}
    return apply_overrides(doc, rest)


# -- points ---------------------------------------------------------------------------------------
def _grid_values(p: ParamSpec) -> list[Any]:
    if p.values is not None:
        return list(p.values)
    if p.sets is not None:
        return [_Set(e) for e in p.sets]
    assert p.range is not None
    assert p.steps is not None
    lo, hi = p.range
    xs = np.geomspace(lo, hi, p.steps) if p.log else np.linspace(lo, hi, p.steps)
    return [_num(float(x), p) for x in xs]


def _num(x: float, p: ParamSpec) -> Any:
    return round(x) if p.integer else x


def _from_unit(u: float, p: ParamSpec) -> Any:
    """A parameter's value at ``u`` in [0, 1): a position in its range, or one of its values."""
    choices: list[Any] | None = (
        p.values if p.values is not None else ([_Set(e) for e in p.sets] if p.sets is not None else None)
    )
    if choices is not None:
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    assert p.range is not None
    lo, hi = p.range
    x = lo * (hi / lo) ** u if p.log else lo + u * (hi - lo)
    return _num(x, p)


def _points(campaign: Campaign) -> list[dict[str, Any]]:
    spec = campaign.spec
    params = dict(spec.parameters)
    names = list(params)
    if spec.sampling == "grid":
        axes = [_grid_values(params[n]) for n in names]
        pts = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
    else:
        n = int(spec.samples or 1)
        ss = np.random.SeedSequence([spec.seed, 0x5A4D])  # the draw of the points
        if not names:
            pts = [{} for _ in range(n)]
        elif spec.sampling == "lhs":
            u = qmc.LatinHypercube(d=len(names), seed=np.random.default_rng(ss)).random(n)
            pts = [
                {nm: _from_unit(float(u[i, j]), params[nm]) for j, nm in enumerate(names)} for i in range(n)
            ]
        else:
            u = np.random.default_rng(ss).random((n, len(names)))
            pts = [
                {nm: _from_unit(float(u[i, j]), params[nm]) for j, nm in enumerate(names)} for i in range(n)
            ]
    key = spec.base.suite_key
    if key is not None:  # the suite is the outermost axis: a base's runs side by side
        pts = [{key: name, **p} for name in spec.base.names for p in pts]
    return pts


class _Set(dict[str, Any]):
    """A ``sets:`` entry as a point's value: several paths set together."""


def _overrides(point: Mapping[str, Any], derive: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The dotted paths a point sets: its values (null: the base's own), its sets, then what
    ``derive`` computes from them."""
    out: dict[str, Any] = {}
    for name, value in point.items():
        if name in ("scenario", "study") or value is None:
            continue
        if isinstance(value, _Set):
            out.update({str(k): v for k, v in value.items()})
        else:
            out[name] = value
    for path, expr in (derive or {}).items():
        try:
            out[path] = evaluate(expr, out)
        except KeyError as exc:
            raise ValueError(f"derive.{path}: {exc.args[0]} has no value at this point (null?)") from None
        except (ArithmeticError, TypeError) as exc:
            raise ValueError(f"derive.{path}: {expr} fails at this point: {exc}") from None
    return out


def replicate_seed(campaign_seed: int, replicate: int) -> int:
    """The twin's seed for replicate ``r``: the same at every point (common random numbers)."""
    return int(np.random.SeedSequence([campaign_seed, 0x5EED, replicate]).generate_state(1)[0] % (2**31 - 1))


# -- fault sequences ------------------------------------------------------------------------------
def draw_faults(
    spec: FaultDrawSpec, campaign_seed: int, replicate: int, duration_s: float
) -> list[dict[str, Any]]:
    """Replicate ``r``'s random faults: for each type a Poisson process at its rate over the
    window, a uniform duration, a target drawn from the candidates; sorted by start, at most
    ``max_faults``, and no two faults of one type on one target overlapping. A target that is
    a device kind (``bess``) carries ``_unit``, a uniform draw in [0, 1): the run picks that
    fraction of the way through the kind's devices on its own site (one cabinet, not all of
    them; the same fraction at every point, whatever the fleet's size)."""
    rng = np.random.default_rng(np.random.SeedSequence([campaign_seed, 0xFA17, replicate]))
    lo, hi = spec.window if spec.window is not None else (0.0, 0.8 * duration_s)
    hi = min(hi, duration_s)
    span_h = max(hi - lo, 0.0) / 3600.0
    drawn: list[dict[str, Any]] = []
    for name in sorted(spec.rates_per_hour):  # sorted: the draw does not depend on the file's order
        rate = spec.rates_per_hour[name]
        n = int(rng.poisson(rate * span_h))
        starts = np.sort(rng.uniform(lo, hi, n))
        durs = rng.uniform(spec.duration[0], spec.duration[1], n)
        cands = spec.targets.get(name) or list(FAULTS[name].kinds)
        picks = rng.integers(0, len(cands), n)
        units = rng.random(n)
        busy: dict[str, float] = {}
        for t, d, k, u in zip(starts, durs, picks, units, strict=True):
            target = cands[int(k)]
            if busy.get(target, -1.0) > t:
                continue  # the same fault on the same target is still active
            busy[target] = float(t + d)
            ev: dict[str, Any] = {"type": name, "target": target, "duration": f"{float(d):.3f} s"}
            ev.update(spec.params.get(name, {}))
            if target in DEVICE_KINDS:
                ev["_unit"] = round(float(u), 6)
            drawn.append({"at": f"{float(t):.3f} s", "fault": ev, "_t": float(t)})
    drawn.sort(key=lambda e: (e["_t"], e["fault"]["type"], e["fault"]["target"]))
    return [{k: v for k, v in e.items() if k != "_t"} for e in drawn[: spec.max_faults]]


#: every device kind a fault applies to (a target naming one is resolved to a unit by the run)
DEVICE_KINDS = frozenset(k for ft in FAULTS.values() for k in ft.kinds if k != "ems")


# -- the plan -------------------------------------------------------------------------------------
def _base_path(campaign: Campaign, scenario: str | None) -> Path:
    kind = "studies" if campaign.spec.base.kind == "study" else "scenarios"
    return find_profile(kind, beside(campaign.path, str(scenario))).resolve()


def _duration_s(path: Path) -> float:
    data, _ = load_yaml(path)
    return float(parse_duration(data.get("duration", "0 s")))


def plan_campaign(campaign: Campaign) -> list[RunSpec]:
    """Every run of the campaign, in index order (see the module's docstring)."""
    spec = campaign.spec
    r_count = spec.n_replicates
    metrics = tuple(spec.metrics)
    runs: list[RunSpec] = []
    durations: dict[str, float] = {}
    for p_i, point in enumerate(_points(campaign)):
        base = _base_path(campaign, point.get(spec.base.suite_key or "") or spec.base.names[0])
        try:
            overrides = _overrides(point, spec.derive)
        except ValueError as exc:
            where: Path_ = ("derive",)
            raise ConfigError(
                [Problem(str(campaign.path), line_for(campaign.lines, where), "derive", str(exc))]
            ) from None
        for r in range(r_count):
            seed = None
            faults: list[dict[str, Any]] = []
            if spec.base.kind == "scenario" and r > 0:  # replicate 0 keeps the base's own seed
                seed = replicate_seed(spec.seed, r)
                if spec.faults is not None:
                    dur = durations.setdefault(str(base), _duration_s(base))
                    faults = draw_faults(spec.faults, spec.seed, r, dur)
            runs.append(
                RunSpec(
                    external=_external(campaign, overrides),
                    campaign_dir=str(campaign.path.resolve().parent),
                    index=len(runs),
                    point=p_i,
                    replicate=r,
                    kind=spec.base.kind,
                    base=str(base),
                    params={k: dict(v) if isinstance(v, _Set) else v for k, v in point.items()},
                    overrides=overrides,
                    seed=seed,
                    faults=faults,
                    site=spec.base.site,
                    metrics=metrics,
                )
            )
    return runs


def _external(campaign: Campaign, overrides: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's external EMS: the campaign's, with the ``external.`` parameters over it."""
    if campaign.spec.external is None:
        return None
    mine = {k[len(EXTERNAL_PREFIX) :]: v for k, v in overrides.items() if k.startswith(EXTERNAL_PREFIX)}
    data = apply_overrides(campaign.spec.external.model_dump(), mine)
    try:
        return ExternalSpec(**data).model_dump()
    except ValidationError as exc:
        where: Path_ = ("external",)
        raise ConfigError(
            [Problem(str(campaign.path), line_for(campaign.lines, where), "external", str(exc))]
        ) from None


def plan_digest(runs: Sequence[RunSpec]) -> str:
    """A fingerprint of the plan: a resumed campaign must be the same campaign."""
    text = json.dumps([r.as_dict() for r in runs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def param_columns(runs: Sequence[RunSpec]) -> dict[str, str]:
    """Each parameter's column type in the results table: ``float`` when every value is a
    number, else ``string`` (mappings and lists as their JSON)."""
    names: dict[str, str] = {}
    for r in runs:
        for k, v in r.params.items():
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            names[k] = "float" if num and names.get(k, "float") == "float" else "string"
    return names


def checked_plan(campaign: Campaign) -> list[RunSpec]:
    """The campaign's runs (:func:`plan_campaign`), each checked (:func:`check_plan`): what
    ``hil campaign``, its ``--dry-run`` and ``hil validate`` all start from."""
    runs = plan_campaign(campaign)
    check_plan(campaign, runs)
    return runs


def check_plan(campaign: Campaign, runs: Sequence[RunSpec]) -> None:
    """Every parameter value applied to its base and parsed once, before anything runs: a
    misspelt path or a bad value is a problem on the parameter's line of the campaign file;
    then every distinct combination, then (scenarios) what needs the site."""
    docs: dict[str, tuple[Any, dict[Path_, int]]] = {}
    for run in runs:
        if run.base not in docs:
            docs[run.base] = load_yaml(Path(run.base))
    with tempfile.TemporaryDirectory(prefix="hil-campaign-check-") as tmp:
        scratch = Path(tmp)
        problems = _check_values(campaign, runs, docs, scratch)
        if not problems:
            problems += _check_combinations(campaign, runs, docs, scratch)
    if not problems and runs and runs[0].kind == "scenario":
        problems += _check_on_site(campaign, runs[0], docs[runs[0].base])
    if problems:
        raise ConfigError(problems)


def _parse_run(
    run: RunSpec, doc: tuple[Any, dict[Path_, int]], overrides: Mapping[str, Any], scratch: Path
) -> None:
    """Parse ``overrides`` over the run's base as the run would (ValueError or ConfigError)."""
    data, lines = doc
    text = run_document(run.kind, data, overrides, Path(run.base), scratch)
    if run.kind == "study":
        parse_study(text, path=Path(run.base), lines=lines)
    else:
        parse_scenario(text, path=Path(run.base), lines=lines)


def _messages(exc: ValueError | ConfigError) -> list[str]:
    """What a base's parser said: each problem with where it is in the base file."""
    if isinstance(exc, ConfigError):
        return [f"{q.where}: {q.message}" for q in exc.problems]
    return [str(exc)]


def _check_values(
    campaign: Campaign,
    runs: Sequence[RunSpec],
    docs: Mapping[str, tuple[Any, dict[Path_, int]]],
    scratch: Path,
) -> list[Problem]:
    problems: list[Problem] = []
    sets = {n for n, p in campaign.spec.parameters.items() if p.sets is not None}
    seen: set[tuple[str, str, str]] = set()
    for run in runs:
        for name, value in run.params.items():
            key = (run.base, name, json.dumps(value, sort_keys=True, default=str))
            if name in ("scenario", "study") or key in seen:
                continue
            seen.add(key)
            line = line_for(campaign.lines, ("parameters", name))
            try:
                _parse_run(
                    run, docs[run.base], _overrides({name: _Set(value) if name in sets else value}), scratch
                )
            except (ValueError, ConfigError) as exc:
                prefix = f"= {value!r}: " if isinstance(exc, ConfigError) else ""
                problems += [
                    Problem(str(campaign.path), line, f"parameters.{name}", prefix + m)
                    for m in _messages(exc)
                ]
    return problems


def _check_combinations(
    campaign: Campaign,
    runs: Sequence[RunSpec],
    docs: Mapping[str, tuple[Any, dict[Path_, int]]],
    scratch: Path,
) -> list[Problem]:
    """Each distinct set of overrides (the values together, with what ``derive`` computes)
    parsed on its base: the first three that fail are reported."""
    problems: list[Problem] = []
    seen: set[str] = set()
    where: Path_ = ("derive",) if campaign.spec.derive else ("parameters",)
    line = line_for(campaign.lines, where)
    for run in runs:
        key = json.dumps([run.base, run.overrides], sort_keys=True, default=str)
        if key in seen:
            continue
        seen.add(key)
        try:
            _parse_run(run, docs[run.base], run.overrides, scratch)
        except (ValueError, ConfigError) as exc:
            problems += [
                Problem(str(campaign.path), line, str(where[0]), f"run {run.run_id} ({run.params}): {m}")
                for m in _messages(exc)
            ]
            if len(problems) >= 3:
                break
    return problems


def _check_on_site(campaign: Campaign, run: RunSpec, doc: tuple[Any, dict[Path_, int]]) -> list[Problem]:
    """What needs the site to check: the trace signals the metrics name, and every fault type
    the draw may pick on every target it may pick."""
    data, lines = doc
    with tempfile.TemporaryDirectory(prefix="hil-campaign-check-") as tmp:
        text = run_document("scenario", data, run.overrides, Path(run.base), Path(tmp))
        sc = parse_scenario(text, path=Path(run.base), lines=lines)
        prepared = prepare_run(sc, site=run.site)
    problems: list[Problem] = []

    def prob(where: Path_, message: str) -> None:
        problems.append(
            Problem(str(campaign.path), line_for(campaign.lines, where), ".".join(map(str, where)), message)
        )

    names = signal_names(prepared.site)
    counts = unit_counts(prepared.site)
    known = sorted(names["scalar"] | {f"{a}[i]" for a in names["array"]})
    for i, metric in enumerate(campaign.spec.metrics):
        _agg, sep, signal = metric.partition(":")
        if not sep:
            continue
        dev, unit, sig = split_name(signal)
        name = f"{dev}.{sig}"
        if unit is None and signal in names["scalar"]:
            continue
        if isinstance(unit, int) and name in names["array"]:
            if unit >= counts[name]:
                prob(
                    ("metrics", i),
                    f"{signal}: this site has {counts[name]} {dev} units (0 to {counts[name] - 1})",
                )
            continue
        hint = " (a per-unit signal takes its unit: dev[i].signal)" if name in names["array"] else ""
        prob(("metrics", i), f"{signal!r} is not a signal of this site{hint}{did_you_mean(signal, known)}")
    draw = campaign.spec.faults
    if draw is None:
        return problems
    for name, rate in draw.rates_per_hour.items():
        if rate <= 0:
            continue
        for target in draw.targets.get(name) or list(FAULTS[name].kinds):
            where: Path_ = (
                ("faults", "targets", name) if name in draw.targets else ("faults", "rates_per_hour", name)
            )
            found: list[str] = []
            raw = {"type": name, "target": target, **draw.params.get(name, {})}

            def note(_where: Path_, message: str, found: list[str] = found) -> None:
                found.append(message)

            fs = parse_fault(raw, (), note)
            if fs is not None:
                found += check_target(fs, prepared.site, prepared.gateway.devices)
            for m in found:
                prob(where, f"{name} on {target}: {m}")
    return problems
