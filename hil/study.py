"""Study files (``profiles/studies/*.yaml``): what ``hil roi`` simulates and how it is financed.

A study names the load (a daily profile, a load file or a simulated site), PV, storage, a
tariff, the dispatch (a fixed schedule, the perfect-foresight optimum or the reference EMS),
finance and resilience, and optionally the claims its report should check. Every problem is
reported at once with the file, the line and, for misspelt keys, a did-you-mean; nothing runs
on a bad file. The schema reference (docs/study-schema.md) is generated from these models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from twin.clock import check_start, check_timezone

from .config import beside, find_profile, load_yaml
from .ems.profile import load_profile
from .errors import ConfigError, Path_, Problem, line_for
from .scenario import parse_duration
from .tariff import find_tariff
from .validation import model_problems

__all__ = [
    "CalendarSpec",
    "ClaimSpec",
    "DispatchSpec",
    "FinanceSpec",
    "LoadSpec",
    "PvSpec",
    "ResilienceSpec",
    "StorageModelSpec",
    "Study",
    "StudyFile",
    "YearSeries",
    "load_study",
    "parse_study",
]

Hours = tuple[float, float]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _hours_ok(windows: list[Hours]) -> list[Hours]:
    for a, b in windows:
        if not (0 <= a < b <= 24):
            raise ValueError(f"hour window [{a:g}, {b:g}] must satisfy 0 <= start < end <= 24")
    return windows


class CalendarSpec(_M):
    """When the simulated year runs, on the site's local clock."""

    start: str = Field("2026-01-01T00:00", description="local date-time of the first interval start (ISO)")
    timezone: str = Field("Asia/Shanghai", description="IANA zone; Chinese sites are UTC+8 with no DST")
    days: int = Field(365, ge=1, le=3660, description="length of the first year simulated, days")
    step: float = Field(900.0, description="interval length: '15 min' (default), '1 min', '1 h'")

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> str:
        text = str(v).replace(" ", "T")
        problem = check_start(text)
        if problem:
            raise ValueError(problem)
        return text

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        problem = check_timezone(v)
        if problem:
            raise ValueError(problem)

        z = ZoneInfo(v)
        if datetime(2026, 1, 15, tzinfo=z).utcoffset() != datetime(2026, 7, 15, tzinfo=z).utcoffset():
            raise ValueError(
                f"{v} observes daylight saving: a study's year is built on a fixed-step local clock,"
                " so use the zone's standard-time offset (e.g. Etc/GMT-8) or a zone without DST"
            )
        return v

    @field_validator("step", mode="before")
    @classmethod
    def _step(cls, v: Any) -> float:
        s = parse_duration(v)
        if s <= 0 or (900.0 % s and s % 900.0):
            raise ValueError(f"step {s:g} s must divide 15 min or be a whole number of 15 min")
        return s


class LoadWindow(_M):
    hours: Hours = Field(description="[start, end) local clock hours, every day")
    kw: float = Field(ge=0, description="the load in that window, kW")


class LoadSpec(_M):
    """The site's load without storage or PV: give exactly one of ``base_kw``, ``file``, ``site``."""

    base_kw: float | None = Field(
        None, ge=0, description="a daily profile: this load, kW, outside the windows"
    )
    windows: list[LoadWindow] = Field(default_factory=list, description="daily windows overriding base_kw")
    file: str | None = Field(
        None, description="a CSV/Parquet load file: timestamp, p_import_kw (hil bill's format)"
    )
    site: str | None = Field(None, description="a shipped site (or path) simulated by the twin over the year")
    tick: float | None = Field(None, description="site only: the twin's tick for the year run (default 60 s)")
    site_params: dict[str, Any] = Field(
        default_factory=dict,
        description="site only: merged into the site file, as a scenario's site_params (e.g. "
        "{battery: {n_cabinets: 8}}: a sizing campaign varies the simulated fleet with it)",
    )

    @field_validator("tick", mode="before")
    @classmethod
    def _tick(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @model_validator(mode="after")
    def _one(self) -> LoadSpec:
        given = [k for k in ("base_kw", "file", "site") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of base_kw, file, site (got {', '.join(given) or 'none'})")
        if self.site_params and self.site is None:
            raise ValueError("site_params go with site")
        if self.windows and self.base_kw is None:
            raise ValueError("windows go with base_kw")
        return self


class PvSpec(_M):
    """PV: a mean-day half sine (REF-B), or the simulated site's own PV (``shape: site``)."""

    kwp: float = Field(gt=0, description="DC nameplate, kWp")
    shape: Literal["half_sine", "site"] = Field("half_sine", description="half_sine, or site (the twin's PV)")
    hours: Hours = Field((6.0, 18.0), description="half_sine: sunrise and sunset, local hours")
    yield_kwh_per_kwp: float = Field(1300.0, gt=0, description="half_sine: annual yield, kWh/kWp·yr")
    degradation_per_year: float = Field(
        0.0, ge=0, lt=1, description="output fade, fraction/yr (step at year start)"
    )


class ReplacementSpec(_M):
    threshold: float | None = Field(None, gt=0, lt=1, description="replace when usable/nameplate falls below")
    years: list[int] = Field(default_factory=list, description="or replace at the start of these years")
    cost_per_kwh: float = Field(0.0, ge=0, description="cost of a replacement, per nameplate kWh")


class StorageModelSpec(_M):
    """The battery as the study dispatches it (an energy bucket with efficiencies)."""

    energy_kwh: float = Field(gt=0, description="nameplate energy, kWh")
    power_kw: float = Field(gt=0, description="PCS AC limit, both directions, kW")
    soc_min: float = Field(0.10, ge=0, lt=1, description="SoC window bottom")
    soc_max: float = Field(0.95, gt=0, le=1, description="SoC window top")
    eta_charge: float = Field(0.95, gt=0, le=1, description="charge efficiency (AC to stored)")
    eta_discharge: float = Field(0.95, gt=0, le=1, description="discharge efficiency (stored to AC)")
    soc0: float | None = Field(None, ge=0, le=1, description="SoC at the start (default soc_min)")
    fade_per_year: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="usable-energy fade per year (step at year start); site studies: from the twin's aging",
    )
    replacement: ReplacementSpec | None = None


class ScheduleSpec(_M):
    charge_hours: list[Hours] = Field(default_factory=list, description="refill to soc_max at constant power")
    shave_hours: list[Hours] = Field(default_factory=list, description="discharge down to shave_target_kw")
    shave_target_kw: float | None = Field(None, ge=0, description="import target while shaving, kW")
    discharge_hours: list[Hours] = Field(
        default_factory=list, description="discharge the rest at constant power"
    )

    _c = field_validator("charge_hours", "shave_hours", "discharge_hours")(lambda cls, v: _hours_ok(v))


class EmsSpec(_M):
    profile: str = Field(description="a reference-EMS profile (profiles/ems/) or path")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="over the profile's fields, section by section, in the profile's units (e.g. "
        "{peak_shave: {target_kw: 12000}}): a campaign varies the EMS with them",
    )


class DispatchSpec(_M):
    """How the storage is dispatched: exactly one of ``schedule``, ``optimum``, ``ems``."""

    schedule: ScheduleSpec | None = None
    optimum: dict[str, Any] | None = Field(
        None, description="{}: the perfect-foresight LP (twin.econ.optimum)"
    )
    ems: EmsSpec | None = None

    @model_validator(mode="after")
    def _one(self) -> DispatchSpec:
        given = [k for k in ("schedule", "optimum", "ems") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of schedule, optimum, ems (got {', '.join(given) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        return "schedule" if self.schedule else ("optimum" if self.optimum is not None else "ems")


class FinanceSpec(_M):
    """REopt/SAM conventions: end-of-year flows, no tax, nominal discount rate."""

    storage_capex_per_kwh: float = Field(0.0, ge=0, description="storage capex per nameplate kWh")
    storage_capex: float | None = Field(None, ge=0, description="or the storage capex as one figure")
    pv_capex_per_wp: float = Field(0.0, ge=0, description="PV capex per Wp")
    storage_om_fraction: float = Field(0.0, ge=0, description="storage O&M per year, fraction of its capex")
    pv_om_per_kwp_year: float = Field(0.0, ge=0, description="PV O&M per kWp and year")
    discount_rate: float = Field(ge=0, lt=1, description="e.g. 0.06")
    horizon_years: int = Field(ge=1, le=50, description="analysis period, years")
    escalation: float = Field(0.0, ge=-0.5, lt=1, description="savings escalation per year, fraction")
    salvage: float = Field(0.0, ge=0, description="salvage value at the horizon")


class ResilienceSpec(_M):
    critical_load_kw: float = Field(gt=0, description="the load an outage must carry, kW")


class ClaimSpec(_M):
    """A claim the report checks against the simulated year (economics.md §7)."""

    claim: str = Field(description="what was claimed, in words")
    metric: Literal[
        "avg_price_per_kwh", "peak_kw", "renewable_share", "gpu_hours_lost", "simple_payback_years"
    ] = Field(description="what the simulated year is compared on")
    baseline: float | None = Field(None, description="the claimed value without the project")
    project: float | None = Field(None, description="the claimed value with the project")
    tolerance: float = Field(0.1, ge=0, description="relative tolerance for 'supported'")
    note: str = Field("", description="what the report says beside the verdict (the arithmetic)")


class StudyFile(_M):
    study: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", description="a short name: the output folder's default")
    title: str = Field("", description="one line for people")
    description: str = Field("", description="what the study asks")
    source: str = Field("", description="where the inputs come from")
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)  # type: ignore[arg-type]
    load: LoadSpec
    pv: PvSpec | None = None
    storage: StorageModelSpec
    tariff: str = Field(description="a shipped tariff name or a path (YAML or URDB JSON)")
    dispatch: DispatchSpec
    compare_optimum: bool = Field(True, description="also solve the perfect-foresight optimum (year 1)")
    finance: FinanceSpec
    resilience: ResilienceSpec | None = None
    claims: list[ClaimSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class Study:
    path: Path
    spec: StudyFile
    lines: Mapping[Path_, int]

    @property
    def name(self) -> str:
        return self.spec.study


def load_study(name_or_path: str | Path) -> Study:
    """Parse and check a study (shipped name or path): schema, then the tariff it names."""
    path = find_profile("studies", str(name_or_path))
    data, lines = load_yaml(path)
    return parse_study(data, path=path, lines=lines)


def parse_study(data: Any, *, path: Path, lines: Mapping[Path_, int]) -> Study:
    """The study in ``data`` (read from ``path``; a campaign's run passes its varied copy):
    every problem at once, with the line of the key in ``path``."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Problem(str(path), 1, "", "a study file is a mapping (study:, load:, storage:, ...)")]
        )
    problems: list[Problem] = []
    spec: StudyFile | None = None
    try:
        spec = StudyFile(**data)
    except ValidationError as exc:
        problems += model_problems(exc, StudyFile, path, lines)

    tariff = data.get("tariff")
    if isinstance(tariff, str):  # checked even when the rest is not, so every problem shows at once
        try:
            find_tariff(beside(path, tariff))
        except ConfigError as exc:
            line = line_for(dict(lines), ("tariff",))
            problems += [Problem(str(path), line, "tariff", p.message) for p in exc.problems]
    if spec is None:
        raise ConfigError(problems)
    if spec.load.file is not None and not Path(beside(path, spec.load.file)).is_file():
        problems.append(Problem(str(path), line_for(lines, ("load", "file")), "load.file", "file not found"))
    if spec.load.site is not None:
        try:
            find_profile("sites", spec.load.site)
        except ConfigError as exc:
            problems += [
                Problem(str(path), line_for(lines, ("load", "site")), "load.site", p.message)
                for p in exc.problems
            ]
    if spec.dispatch.ems is not None:
        try:
            load_profile(beside(path, spec.dispatch.ems.profile), overrides=spec.dispatch.ems.options)
        except ConfigError as exc:
            line = line_for(dict(lines), ("dispatch", "ems"))
            problems += [Problem(str(path), line, "dispatch.ems", p.message) for p in exc.problems]
    if spec.dispatch.ems is not None and spec.load.site is None:
        problems.append(
            Problem(str(path), line_for(lines, ("dispatch", "ems")), "dispatch.ems",
                    "the reference EMS needs a simulated site (load: {site: ...})")
        )  # fmt: skip
    if spec.pv is not None and spec.pv.shape == "site" and spec.load.site is None:
        problems.append(
            Problem(
                str(path),
                line_for(lines, ("pv", "shape")),
                "pv.shape",
                "shape: site needs load: {site: ...}",
            )
        )
    if spec.storage.soc_min >= spec.storage.soc_max:
        problems.append(
            Problem(
                str(path),
                line_for(lines, ("storage", "soc_min")),
                "storage.soc_min",
                "must be below soc_max",
            )
        )
    if problems:
        raise ConfigError(problems)
    return Study(path, spec, lines)


@dataclass(frozen=True)
class YearSeries:
    """Year 1 of a study at its step: interval starts (naive local), load and PV (kW)."""

    ts: np.ndarray
    load_kw: np.ndarray
    pv_kw: np.ndarray | None
    dt_h: float
    extra: dict[str, Any]  # what a simulated site adds (gpu-hours lost, the EMS's own dispatch)
