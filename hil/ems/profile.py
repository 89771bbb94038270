"""Reference-EMS profiles: which strategies run and how they are tuned, as data.

A profile is a YAML file under ``profiles/ems/`` (or any path). Every section but ``soc`` and
``alarms`` is a strategy; leave a section out (or set it to ``null``) to switch it off::

    name: aidc_peak_shave
    period_s: 1.0
    soc: {reserve_pct: 20, max_pct: 90}
    peak_shave: {target_kw: 9500, margin_kw: 250, charge_margin_kw: 500}
    tou: {tariff: example_cn_north_2026, charge_periods: [valley], discharge_periods: [peak]}
    no_export: {min_import_kw: 300}
    smoothing: {tau_s: 60, ramp_kw_per_s: 50}
    demand_response: {margin_frac: 0.03}
    outage_prep: {reserve_pct: 40}
    alarms: {derate_frac: 0.5, reset_holdoff_s: 10, max_resets: 3}

Files are validated once, every problem reported at once with its file, line and a
did-you-mean (:class:`hil.config.ConfigError`). Scenario ``controller.options`` override
fields by section (``{profile: aidc_peak_shave, peak_shave: {target_kw: 9 MW}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.econ import Tariff
from twin.errors import ParameterError, ParameterIssue
from twin.params import deep_merge, from_dict, param

from ..config import find_profile, issues_to_config_error, load_yaml
from ..errors import ConfigError, Problem, did_you_mean
from ..tariff import load_tariff
from ._common import HourRanges

__all__ = [
    "Alarms",
    "DemandResponse",
    "EmsProfile",
    "NoExport",
    "OutagePrep",
    "PeakShave",
    "Smoothing",
    "SocLimits",
    "Tou",
    "load_profile",
    "profile_from_dict",
]

_SRC = "[K] reference-EMS tuning (docs/ems.md)"


@dataclass(frozen=True)
class SocLimits:
    """The state-of-charge band the EMS keeps on the grid."""

    reserve_pct: float = param(
        20.0, unit="%", ge=0, le=100, source=_SRC, doc="never discharged below on grid"
    )
    max_pct: float = param(90.0, unit="%", ge=0, le=100, source=_SRC, doc="never charged above")
    target_pct: float = param(50.0, unit="%", ge=0, le=100, source=_SRC, doc="gentle recharge up to this")
    taper_pct: float = param(1.0, unit="%", gt=0, le=20, source=_SRC, doc="power tapers to 0 over this band")
    recharge_frac: float = param(
        0.2, ge=0, le=1, source=_SRC, doc="gentle recharge power, × the fleet's charge capability"
    )

    def __post_init__(self) -> None:
        if self.reserve_pct >= self.max_pct:
            raise ValueError(f"reserve_pct {self.reserve_pct} must be below max_pct {self.max_pct}")


@dataclass(frozen=True)
class PeakShave:
    """Hold the 15-minute mean import under ``target_kw`` (given, or learned from the load)."""

    target_kw: float | None = param(None, unit="kW", gt=0, source=_SRC, doc="monthly 15-min demand target")
    learn_frac: float = param(
        0.9, gt=0, le=2, source=_SRC, doc="no target given: target = this × the net-load percentile"
    )
    learn_percentile: float = param(
        50.0, ge=0, le=100, source=_SRC, doc="percentile of the observed net load"
    )
    learn_s: float = param(300.0, unit="s", gt=0, source=_SRC, doc="observe the net load this long first")
    window_s: float = param(900.0, unit="s", gt=0, source="[S] economics.md §2: 15-min demand", doc="")
    margin_kw: float = param(0.0, unit="kW", ge=0, source=_SRC, doc="aim this far under the target")
    margin_frac: float = param(0.02, ge=0, lt=1, source=_SRC, doc="... plus this fraction of it")
    charge_margin_kw: float = param(
        0.0, unit="kW", ge=0, source=_SRC, doc="charging keeps import this far under the target"
    )
    charge_margin_frac: float = param(0.05, ge=0, lt=1, source=_SRC, doc="... plus this fraction of it")
    min_rem_s: float = param(
        60.0, unit="s", gt=0, source=_SRC, doc="the window's energy budget is spread over at least this"
    )


@dataclass(frozen=True)
class Tou:
    """Time-of-use arbitrage: charge in cheap hours, discharge in dear ones.

    Hours come from a tariff's periods (``tariff`` + period names) or are given explicitly."""

    tariff: str | None = param(None, source=_SRC, doc="tariff name or path (hil.tariff.load_tariff)")
    charge_periods: tuple[str, ...] = param(("valley",), source=_SRC, doc="tariff periods to charge in")
    discharge_periods: tuple[str, ...] = param(("peak",), source=_SRC, doc="tariff periods to discharge in")
    charge_hours: tuple[tuple[float, float], ...] = param((), source=_SRC, doc="explicit [start, end) hours")
    discharge_hours: tuple[tuple[float, float], ...] = param((), source=_SRC, doc="explicit hours")
    soc_max_pct: float = param(90.0, unit="%", ge=0, le=100, source=_SRC, doc="charging stops here")
    charge_max_frac: float = param(0.5, ge=0, le=1, source=_SRC, doc="charge power cap, × capability")
    discharge_max_frac: float = param(1.0, ge=0, le=1, source=_SRC, doc="discharge power cap, × capability")
    plan_margin_h: float = param(
        0.25, unit="h", ge=0, source=_SRC, doc="finish charging/discharging this long before the block ends"
    )


@dataclass(frozen=True)
class NoExport:
    """Never discharge (or let PV push) the site below ``min_import_kw`` of import."""

    min_import_kw: float = param(0.0, unit="kW", ge=0, source=_SRC, doc="import floor for discharging")
    guard_drop_frac: float = param(
        0.25, ge=0, le=1, source=_SRC, doc="the load fell this far under its filter: snap the filter"
    )
    guard_confirm_n: int = param(
        3,
        ge=1,
        source=_SRC,
        doc="... in this many periods running (a training iteration's trough is shorter)",
    )


@dataclass(frozen=True)
class Smoothing:
    """Smooth the import at the PCC: it follows the net load through a first-order filter
    (``tau_s``) with a ramp-rate limit; storage supplies (or absorbs) the difference."""

    tau_s: float = param(60.0, unit="s", gt=0, source=_SRC, doc="time constant of the import reference")
    ramp_kw_per_s: float | None = param(None, unit="kW/s", gt=0, source=_SRC, doc="ramp limit (None: off)")
    max_kw: float | None = param(None, unit="kW", gt=0, source=_SRC, doc="cap on the smoothing power")


@dataclass(frozen=True)
class DemandResponse:
    """Demand-response participation (SunSpec vendor 64902): acknowledge, hold the limit."""

    margin_frac: float = param(0.03, ge=0, lt=1, source=_SRC, doc="aim this far under the event limit")
    lead_s: float = param(2.0, unit="s", ge=0, source=_SRC, doc="apply the limit this long before the start")
    soc_floor_pct: float | None = param(
        None, unit="%", ge=0, le=100, source=_SRC, doc="reserve during an event (None: soc.reserve_pct)"
    )


@dataclass(frozen=True)
class OutagePrep:
    """Raise the reserve when an outage is more likely: a DR event announced or active, a grid
    outage seen in the last ``hold_s``, or in ``hours``."""

    reserve_pct: float = param(40.0, unit="%", ge=0, le=100, source=_SRC, doc="raised reserve")
    hold_s: float = param(3600.0, unit="s", ge=0, source=_SRC, doc="keep it raised this long after an outage")
    hours: tuple[tuple[float, float], ...] = param((), source=_SRC, doc="hours of day with a raised reserve")
    on_dr: bool = param(True, source=_SRC, doc="raise it while a DR event is pending or active")
    charge_frac: float = param(0.3, ge=0, le=1, source=_SRC, doc="recharge to it at this × capability")


@dataclass(frozen=True)
class Alarms:
    """Reaction to alarms, and the watchdogs the EMS keeps alive every period."""

    derate_frac: float = param(0.5, ge=0, le=1, source=_SRC, doc="a unit with a BMS warning: × its limits")
    stop_on_bms_fault: bool = param(True, source=_SRC, doc="stop a unit whose BMS reports FAULT")
    reset_holdoff_s: float = param(10.0, unit="s", ge=0, source=_SRC, doc="wait this long before a reset")
    max_resets: int = param(3, ge=0, source=_SRC, doc="resets per unit before it is left for service")
    reset_window_s: float = param(3600.0, unit="s", gt=0, source=_SRC, doc="healthy this long: re-arm")
    revert_s: float = param(
        60.0, unit="s", gt=0, source="protocols.md §1.3", doc="704 WSetRvrtTms, rearmed every period"
    )


@dataclass(frozen=True)
class EmsProfile:
    """A reference-EMS profile (see the module docstring)."""

    name: str = param("custom", source=_SRC, doc="profile name")
    description: str = param("", source=_SRC, doc="free text")
    site: str | None = param(None, source=_SRC, doc="the site it was tuned for (informational)")
    period_s: float = param(1.0, unit="s", gt=0, source=_SRC, doc="decision period")
    filter_s: float = param(5.0, unit="s", gt=0, source=_SRC, doc="net-load estimate filter")
    soc: SocLimits = param(SocLimits(), source=_SRC, doc="state-of-charge band")
    alarms: Alarms = param(Alarms(), source=_SRC, doc="alarm reactions and watchdogs")
    peak_shave: PeakShave | None = param(None, source=_SRC, doc="strategy: 15-min demand target")
    tou: Tou | None = param(None, source=_SRC, doc="strategy: time-of-use arbitrage")
    no_export: NoExport | None = param(None, source=_SRC, doc="strategy: no export")
    smoothing: Smoothing | None = param(None, source=_SRC, doc="strategy: import smoothing")
    demand_response: DemandResponse | None = param(None, source=_SRC, doc="strategy: demand response")
    outage_prep: OutagePrep | None = param(None, source=_SRC, doc="strategy: outage preparation")

    @property
    def strategies(self) -> list[str]:
        names = ("peak_shave", "tou", "no_export", "smoothing", "demand_response", "outage_prep")
        return [n for n in names if getattr(self, n) is not None]

    def resolve_tou(self) -> tuple[HourRanges, HourRanges, Tariff | None]:
        """Charge and discharge hour ranges (explicit ones, else none) and the tariff, if any."""
        t = self.tou
        if t is None:
            return (), (), None
        tariff = None
        if t.tariff is not None:
            tariff = load_tariff(t.tariff)
        return t.charge_hours, t.discharge_hours, tariff


def _check_tariff_periods(prof: EmsProfile) -> list[ParameterIssue]:
    t = prof.tou
    if t is None:
        return []
    issues: list[ParameterIssue] = []
    if t.tariff is None:
        if not (t.charge_hours or t.discharge_hours):
            issues.append(ParameterIssue(("tou",), "give a tariff or charge_hours/discharge_hours"))
        return issues

    try:
        tariff = load_tariff(t.tariff)
    except ConfigError as exc:
        return [ParameterIssue(("tou", "tariff"), str(p)) for p in exc.problems]
    names = list(tariff.period_names)
    for key in ("charge_periods", "discharge_periods"):
        for i, n in enumerate(getattr(t, key)):
            if n not in names:
                tail = did_you_mean(n, names)
                issues.append(
                    ParameterIssue(
                        ("tou", key, i), f"{n!r} is not a period of {t.tariff} ({', '.join(names)}){tail}"
                    )
                )
    return issues


def _check_hours(prof: EmsProfile) -> list[ParameterIssue]:
    issues = []
    spots: list[tuple[tuple[str | int, ...], tuple[tuple[float, float], ...]]] = []
    if prof.tou is not None:
        spots += [
            (("tou", "charge_hours"), prof.tou.charge_hours),
            (("tou", "discharge_hours"), prof.tou.discharge_hours),
        ]
    if prof.outage_prep is not None:
        spots.append((("outage_prep", "hours"), prof.outage_prep.hours))
    for path, ranges in spots:
        for i, r in enumerate(ranges):
            if len(r) != 2 or not all(0.0 <= float(x) <= 24.0 for x in r):
                issues.append(
                    ParameterIssue((*path, i), f"an hour range is [start, end] within 0..24, got {list(r)}")
                )
    return issues


def profile_from_dict(
    data: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None
) -> EmsProfile:
    """Build and check a profile from plain data (raises :class:`twin.errors.ParameterError`)."""
    merged = deep_merge(dict(data or {}), dict(overrides or {}))
    prof = from_dict(EmsProfile, merged)
    issues = _check_hours(prof) + _check_tariff_periods(prof)
    if issues:
        raise ParameterError(issues)
    return prof


def load_profile(name_or_path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> EmsProfile:
    """A shipped profile (``profiles/ems/<name>.yaml``) or a YAML path, with ``overrides`` merged
    over it section by section. Every problem is raised at once as a :class:`ConfigError`."""
    path = find_profile("ems", str(name_or_path))
    data, lines = load_yaml(path)
    if not isinstance(data, Mapping):
        raise ConfigError([Problem(str(path), 1, "", "an EMS profile must be a mapping")])
    try:
        return profile_from_dict(data, overrides)
    except ParameterError as exc:
        raise issues_to_config_error(path, lines, exc) from None
