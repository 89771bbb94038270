"""The site's parameters (:class:`SiteParams`): what a site file holds, validated by ``from_dict``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twin.clock import DEFAULT_START, DEFAULT_TIMEZONE, check_start, check_timezone
from twin.errors import ParameterError, ParameterIssue
from twin.models.battery import BatteryParams
from twin.models.bms import BmsParams
from twin.models.genset import GensetParams
from twin.models.gpu import GpuFleetParams
from twin.models.grid import FacilityParams, GridParams
from twin.models.gridcode import GridCode, load_grid_code
from twin.models.pcs import PcsParams
from twin.models.pv import PvParams
from twin.models.ups import UpsParams
from twin.params import param
from twin.pms import PmsParams

__all__ = ["AgingParams", "SiteParams", "site_grid_code"]


@dataclass(frozen=True)
class AgingParams:
    model: str = param("naumann", choices=("naumann", "blast_lfp250", "none"), source="physics.md §1.3")
    window_s: float = param(3600.0, unit="s", gt=0, source="stressor averaging window")


@dataclass(frozen=True)
class SiteParams:
    name: str = param("site", source="site file")
    source: str = param("", source="site file", doc="where the site's figures come from")
    tick_s: float = param(0.1, unit="s", ge=0.001, le=60, source="design.md: default tick 100 ms")
    seed: int = param(0, ge=0, source="run choice: the same seed gives a bit-identical trace")
    method: str = param("fixed", choices=("fixed", "ivp"), source="integration path")
    kernel: str = param(
        "compiled",
        choices=("compiled", "numpy"),
        source="run choice (docs/design-decisions.md)",
        doc="the battery's, BMS's and PCS's tick and the island's sub-steps: compiled (numba, the "
        "default) or numpy (the reference they are tested against)",
    )
    start: str = param(
        DEFAULT_START,
        check=check_start,
        source="≈ 10:00 solar time at 113.3° E on 21 June (aidc_10k's PV start before the clock)",
        doc="local wall-clock date-time of t = 0, ISO (e.g. 2026-06-21T10:00)",
    )
    timezone: str = param(
        DEFAULT_TIMEZONE,
        check=check_timezone,
        source="Chinese sites: UTC+8, no DST",
        doc="IANA zone name of the site's wall clock",
    )
    grid: GridParams = param(GridParams(), source="see GridParams")
    facility: FacilityParams = param(FacilityParams(), source="see FacilityParams")
    battery: BatteryParams = param(BatteryParams(), source="see BatteryParams")
    bms: BmsParams = param(BmsParams(), source="see BmsParams")
    pcs: PcsParams = param(PcsParams(), source="see PcsParams")
    pv: PvParams | None = param(None, source="see PvParams; omit for no PV")
    genset: GensetParams | None = param(None, source="see GensetParams; omit for no genset")
    ups: UpsParams | None = param(None, source="see UpsParams; omit for racks with no UPS")
    pms: PmsParams = param(PmsParams(), source="see PmsParams (twin.pms)")
    gpu: GpuFleetParams = param(GpuFleetParams(), source="see GpuFleetParams")
    aging: AgingParams = param(AgingParams(), source="see AgingParams")
    cell: dict[str, Any] | None = field(default=None, metadata={"source": "inline cell set"})


def site_grid_code(params: SiteParams) -> GridCode:
    """The PCS terminals' grid code, checked against the site: a ParameterError naming every
    problem (more grid-forming units than PCS, a bad grid-code table, a code for another
    nominal frequency than the grid's: every PCS would trip on frequency at the first tick)."""
    issues: list[ParameterIssue] = []
    n = params.battery.n_cabinets
    if params.pcs.grid_forming_units > n:
        issues.append(
            ParameterIssue(
                ("pcs", "grid_forming_units"),
                f"{params.pcs.grid_forming_units} grid-forming units, but the site has {n} PCS",
            )
        )
    try:
        code = load_grid_code(params.pcs.grid_code)
    except ParameterError as exc:
        issues += [ParameterIssue(("pcs", "grid_code", *i.path), i.message) for i in exc.issues]
    else:
        if abs(code.f_nom_hz - params.grid.f_nom_hz) > 1e-9:
            issues.append(
                ParameterIssue(
                    ("pcs", "grid_code"),
                    f"{code.name} is for a {code.f_nom_hz:g} Hz grid, but grid.f_nom_hz is "
                    f"{params.grid.f_nom_hz:g} Hz",
                )
            )
    if issues:
        raise ParameterError(issues)
    return code
