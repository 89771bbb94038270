"""Campaign files (``profiles/campaigns/*.yaml``): many runs of one study or scenario suite.

A campaign names its base (a study, a scenario or a list of scenarios), the parameters it
varies by their dotted path in the base file (``storage.energy_kwh``, ``finance.discount_rate``,
``tariff``, ``controller``, ``site_params.battery.n_cabinets``, ``events.0.fault.duration``), how
the points are drawn (a grid, a Latin hypercube, seeded random samples), replicates over
seeds and random fault sequences from the catalogue, the metrics it collects and where it
runs. Every problem is reported at once with the file, the line and a did-you-mean; nothing
runs on a bad file. The schema reference (docs/campaign-schema.md) is generated from these models.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hil.config import beside, find_profile, load_yaml
from hil.errors import ConfigError, Path_, Problem, did_you_mean, line_for
from hil.faults import FAULTS
from hil.scenario import parse_duration
from hil.validation import model_problems

from .expr import check_expression, expression_names

__all__ = [
    "AGGREGATES",
    "BaseSpec",
    "Campaign",
    "CampaignFile",
    "ClusterSpec",
    "CompareSpec",
    "ExternalSpec",
    "FaultDrawSpec",
    "ParamSpec",
    "load_campaign",
]

#: what an external EMS's command may name, filled in for each run
EXTERNAL_FIELDS = (
    "python", "host", "modbus_port", "opcua_url", "speed", "duration_s", "wall_s", "run_dir", "campaign_dir",
)  # fmt: skip

#: trace aggregates a metric may name as ``<aggregate>:<signal>``
AGGREGATES = ("min", "max", "mean", "first", "last", "absmax")

_SIGNAL = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]]*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.([A-Za-z_][A-Za-z0-9_\-]*|[0-9]+))*$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseSpec(_M):
    """What every run starts from: exactly one of ``study``, ``studies``, ``scenario``, ``scenarios``."""

    study: str | None = Field(
        None, description="a study (profiles/studies/) or path: each run is a `hil roi`"
    )
    studies: list[str] | None = Field(
        None,
        description="several studies (e.g. one per tariff): every point runs on each (parameter `study`)",
    )
    scenario: str | None = Field(
        None, description="a scenario (profiles/scenarios/) or path: each run is a `hil run --fast`"
    )
    scenarios: list[str] | None = Field(
        None, description="a suite of scenarios: every point runs on each (the parameter `scenario`)"
    )
    site: str | None = Field(
        None, description="scenario bases: run on this site instead of the scenario's own"
    )

    @model_validator(mode="after")
    def _one(self) -> BaseSpec:
        given = [k for k in ("study", "studies", "scenario", "scenarios") if getattr(self, k) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(f"give exactly one of study, studies, scenario, scenarios (got {got})")
        for key in ("studies", "scenarios"):
            if getattr(self, key) is not None and not getattr(self, key):
                raise ValueError(f"{key}: name at least one")
        if self.site is not None and self.kind == "study":
            raise ValueError("site goes with a scenario base (a study names its site in load.site)")
        return self

    @property
    def kind(self) -> Literal["study", "scenario"]:
        return "study" if self.study is not None or self.studies is not None else "scenario"

    @property
    def names(self) -> list[str]:
        """The base files named (one, or the suite)."""
        one = self.study or self.scenario
        return [one] if one else list(self.studies or self.scenarios or [])

    @property
    def suite_key(self) -> str | None:
        """The implicit parameter of a suite: ``study`` or ``scenario`` (None for one base)."""
        return "study" if self.studies is not None else "scenario" if self.scenarios is not None else None


class ParamSpec(_M):
    """One parameter: a list of ``values``, a ``range`` (with ``steps`` on a grid), or ``sets``."""

    values: list[Any] | None = Field(
        None,
        description="the values the path takes (any YAML: a number, a name, a mapping that replaces "
        "the base's); null leaves the base's own",
    )
    sets: list[dict[str, Any]] | None = Field(
        None,
        description="instead of values: each entry sets several dotted paths together (the "
        "parameter's name is then a label), e.g. [{tariff: a, finance.discount_rate: 0.06}, ...]",
    )
    range: tuple[float, float] | None = Field(None, description="[low, high] (numbers)")
    steps: int | None = Field(None, ge=2, le=1000, description="grid sampling: this many points over range")
    log: bool = Field(False, description="space the points (or draw the samples) evenly in log")
    integer: bool = Field(False, description="round each value to a whole number")

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        given = [k for k in ("values", "range", "sets") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of values, range, sets (got {', '.join(given) or 'none'})")
        if self.values is not None and not self.values:
            raise ValueError("values: give at least one")
        if self.sets is not None:
            if not self.sets:
                raise ValueError("sets: give at least one")
            for entry in self.sets:
                bad = [k for k in entry if not _PATH.match(str(k))]
                if bad:
                    raise ValueError(f"sets: {bad[0]!r} is not a dotted path")
        if self.range is not None:
            lo, hi = self.range
            if not lo < hi:
                raise ValueError(f"range [{lo:g}, {hi:g}] must have low < high")
            if self.log and lo <= 0:
                raise ValueError("log: the range must be positive")
        elif self.steps is not None or self.log or self.integer:
            raise ValueError("steps, log and integer go with range")
        return self


class FaultDrawSpec(_M):
    """Random fault sequences from the catalogue (scenario bases): a Poisson process per type."""

    sequences: int = Field(
        ge=1, le=100_000, description="how many sequences (each a replicate with its own seed)"
    )
    rates_per_hour: dict[str, float] = Field(description="fault type → mean faults per simulated hour")
    targets: dict[str, list[str]] = Field(
        default_factory=dict,
        description="fault type → the targets drawn from (device names or kinds); default: the type's kinds",
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="fault type → its parameters (default: the catalogue's)"
    )
    duration: tuple[float, float] = Field(
        (10.0, 60.0), description="each fault lasts a uniform draw in [low, high], e.g. ['10 s', '1 min']"
    )
    window: tuple[float, float] | None = Field(
        None, description="faults start in [from, to] of the run (default: the first 80 %)"
    )
    max_faults: int = Field(10, ge=1, le=200, description="at most this many faults in one sequence")

    @field_validator("duration", "window", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise ValueError("a pair [low, high] of durations, e.g. ['10 s', '1 min']")
        lo, hi = (parse_duration(x) for x in v)
        if not 0 <= lo <= hi:
            raise ValueError(f"[{lo:g} s, {hi:g} s] must satisfy 0 <= low <= high")
        return (lo, hi)

    @field_validator("rates_per_hour")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for name, rate in v.items():
            if name not in FAULTS:
                raise ValueError(f"unknown fault type {name!r}{did_you_mean(name, list(FAULTS))}")
            if rate < 0:
                raise ValueError(f"{name}: a rate is >= 0")
        if not any(v.values()):
            raise ValueError("give at least one positive rate")
        return v


class ExternalSpec(_M):
    """An EMS in its own process (scenario bases): each run serves its endpoints on free
    loopback ports, paced at ``speed`` × real time, starts ``command`` once they are up and
    stops it when the run ends."""

    command: list[str] = Field(
        min_length=1,
        description="the EMS's command line; {python}, {host}, {modbus_port}, {opcua_url}, {speed}, "
        "{duration_s}, {wall_s}, {run_dir} and {campaign_dir} are filled in for each run",
    )
    speed: float = Field(1.0, gt=0, le=1000, description="simulated seconds per wall second")
    protocols: tuple[Literal["modbus", "opcua"], ...] = Field(
        ("modbus",), description="the endpoints served to it"
    )
    stop_after_s: float = Field(5.0, ge=0, description="wall seconds the EMS gets to exit after SIGTERM")

    @field_validator("command")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        for arg in v:
            try:
                names = [f for _t, f, _s, _c in string.Formatter().parse(arg) if f is not None]
            except ValueError as exc:
                raise ValueError(f"{arg!r}: {exc} (a literal brace is written {{{{ or }}}})") from None
            bad = [f for f in names if f not in EXTERNAL_FIELDS]
            if bad:
                raise ValueError(
                    f"{arg!r}: unknown field {{{bad[0]}}}{did_you_mean(bad[0], EXTERNAL_FIELDS)}"
                )
        return v


class ClusterSpec(_M):
    """Where the runs go: a local Dask cluster sized to the machine, or an existing one."""

    scheduler: str | None = Field(
        None, description="tcp://HOST:PORT of a running Dask scheduler (else a LocalCluster)"
    )
    workers: int | None = Field(None, ge=1, le=1024, description="LocalCluster workers (default: the cores)")
    threads_per_worker: int = Field(1, ge=1, le=64, description="runs at once per worker process")
    memory_limit: str = Field("auto", description="per LocalCluster worker, e.g. '4GiB' or 'auto'")


class CompareSpec(_M):
    """An EMS comparison: the same runs under two values of one parameter (e.g. ``controller``)."""

    parameter: str = Field(description="the parameter whose two values are compared, e.g. controller")
    baseline: Any = Field(description="its value for the baseline (e.g. reference)")
    candidate: Any = Field(description="its value for the candidate (e.g. standin)")
    tolerance: float = Field(
        0.005, ge=0, description="a bill or energy figure worse by more than this fraction is a regression"
    )


class CampaignFile(_M):
    campaign: str = Field(
        pattern=r"^[A-Za-z0-9_\-]+$", description="a short name: the output folder's default"
    )
    title: str = Field("", description="one line for people")
    description: str = Field("", description="what the campaign asks")
    base: BaseSpec
    parameters: dict[str, ParamSpec] = Field(
        default_factory=dict,
        description="dotted path in the base file (a label for `sets`) → its values; a path under "
        "`tariff.` reaches into the tariff the base names (e.g. tariff.demand.rate_per_kw_month)",
    )
    sampling: Literal["grid", "lhs", "random"] = Field(
        "grid", description="grid: every combination; lhs / random: `samples` points drawn with the seed"
    )
    samples: int | None = Field(None, ge=1, le=1_000_000, description="lhs / random: how many points")
    replicates: int = Field(
        1, ge=1, le=100_000, description="scenario bases: runs of each point with different seeds"
    )
    faults: FaultDrawSpec | None = None
    external: ExternalSpec | None = Field(
        None,
        description="an EMS in its own process instead of the base's controller (parameters "
        "under `external.`, e.g. external.command, compare two versions of it)",
    )
    derive: dict[str, str] = Field(
        default_factory=dict,
        description="dotted path → an arithmetic expression of the parameters' paths (+ − × / ** "
        "round min max), set after them, e.g. storage.power_kw: "
        "load.site_params.battery.n_cabinets * load.site_params.pcs.p_rated_kw",
    )
    metrics: list[str] = Field(
        default_factory=list,
        description="figures collected per run: a dotted path into roi.json (studies) or "
        "results.json (scenarios), or <aggregate>:<signal> over the trace "
        f"({', '.join(AGGREGATES)}); default: the kind's key figures",
    )
    seed: int = Field(
        0,
        ge=0,
        description="the draw of the points, each replicate's seed (replicate 0 keeps the base's) and "
        "each fault sequence derive from it: the same file gives the same runs anywhere",
    )
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)  # type: ignore[arg-type]
    compare: CompareSpec | None = None

    @field_validator("parameters")
    @classmethod
    def _paths(cls, v: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name, p in v.items():
            if p.sets is None and not _PATH.match(name):
                raise ValueError(f"{name!r} is not a dotted path (e.g. storage.energy_kwh)")
            if name in ("study", "scenario"):
                raise ValueError(f"{name!r} is the suite's own parameter (base: {name}s: [...])")
        return v

    @field_validator("derive")
    @classmethod
    def _derive(cls, v: dict[str, str]) -> dict[str, str]:
        for path, expr in v.items():
            if not _PATH.match(path):
                raise ValueError(f"{path!r} is not a dotted path")
            check_expression(str(expr))
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        for m in v:
            agg, sep, signal = m.partition(":")
            if sep and agg not in AGGREGATES:
                raise ValueError(f"{m!r}: unknown aggregate {agg!r}{did_you_mean(agg, AGGREGATES)}")
            if not (_SIGNAL.match(signal) if sep else _PATH.match(m)):
                raise ValueError(f"{m!r} is not a dotted path or <aggregate>:<signal>")
        return v

    @model_validator(mode="after")
    def _check(self) -> CampaignFile:
        if self.sampling != "grid" and self.samples is None:
            raise ValueError(f"sampling: {self.sampling} needs samples: N")
        if self.sampling == "grid":
            for name, p in self.parameters.items():
                if p.range is not None and p.steps is None:
                    raise ValueError(f"parameters.{name}: on a grid a range needs steps")
        self._check_derive()
        if self.base.kind == "study":
            if self.external is not None:
                raise ValueError("external goes with a scenario base (a study's EMS runs in process)")
            if self.faults is not None:
                raise ValueError("faults go with a scenario base (a study's year has no fault timeline)")
            if self.replicates != 1:
                raise ValueError("replicates go with a scenario base (a study's year is deterministic)")
        if self.faults is not None and self.replicates != 1:
            raise ValueError("faults: each sequence is a replicate; leave replicates at 1")
        if self.compare is not None:
            cp = self.parameters.get(self.compare.parameter)
            if cp is None:
                tail = did_you_mean(self.compare.parameter, list(self.parameters))
                raise ValueError(f"compare.parameter {self.compare.parameter!r} is not a parameter{tail}")
            for side in ("baseline", "candidate"):
                if cp.values is None or getattr(self.compare, side) not in cp.values:
                    raise ValueError(
                        f"compare.{side} must be one of parameters.{self.compare.parameter}.values"
                    )
            if self.sampling != "grid":
                raise ValueError("compare needs sampling: grid (both sides run at the same points)")
        return self

    def _check_derive(self) -> None:
        known = set(self.parameters) | {k for p in self.parameters.values() for e in p.sets or [] for k in e}
        for path, expr in self.derive.items():
            missing = [n for n in expression_names(expr) if n not in known]
            if missing:
                tail = did_you_mean(missing[0], sorted(known))
                raise ValueError(f"derive.{path}: {missing[0]!r} is not a parameter{tail}")

    @property
    def n_replicates(self) -> int:
        return self.faults.sequences if self.faults is not None else self.replicates


@dataclass(frozen=True)
class Campaign:
    path: Path
    spec: CampaignFile
    lines: Mapping[Path_, int]

    @property
    def name(self) -> str:
        return self.spec.campaign


def load_campaign(name_or_path: str | Path) -> Campaign:
    """Parse and check a campaign (shipped name or path): its schema, then the files it names."""
    path = find_profile("campaigns", str(name_or_path))
    data, lines = load_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(str(path), 1, "", "a campaign file is a mapping (campaign:, base:, ...)")])
    try:
        spec = CampaignFile(**data)
    except ValidationError as exc:
        raise ConfigError(model_problems(exc, CampaignFile, path, lines)) from None
    problems: list[Problem] = []
    base = spec.base
    kind = "studies" if base.kind == "study" else "scenarios"
    for i, name in enumerate(base.names):
        one = base.study is not None or base.scenario is not None
        where: Path_ = ("base", base.kind) if one else ("base", kind, i)
        try:
            find_profile(kind, beside(path, str(name)))
        except ConfigError as exc:
            problems += [Problem(str(path), line_for(lines, where), ".".join(map(str, where)), p.message)
                         for p in exc.problems]  # fmt: skip
    if problems:
        raise ConfigError(problems)
    return Campaign(path, spec, lines)
