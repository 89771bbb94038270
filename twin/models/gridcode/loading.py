"""Loading grid codes (shipped JSON or a dict on a shipped base) and their cross-checks.

Part of :mod:`twin.models.gridcode`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from twin.errors import ParameterError, ParameterIssue
from twin.models.gridcode.settings import (
    TIME_TOLERANCE_S,
    FrequencyRegion,
    FrequencyTrip,
    GridCode,
    VoltageRegion,
    VoltageTrip,
)
from twin.params import deep_merge, did_you_mean, from_dict, to_dict

# --------------------------------------------------------------------------------------
# Loading and cross-checks
# --------------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


def _data_dir() -> Traversable:
    return resources.files("twin").joinpath("data").joinpath("gridcodes")


def available_grid_codes() -> tuple[str, ...]:
    """Names of the grid codes shipped in ``twin/data/gridcodes/``."""
    names = [p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json")]
    return tuple(sorted(names))


def _read_shipped(name: str, path: _Path) -> dict[str, Any]:
    names = available_grid_codes()
    if name not in names:
        tail = did_you_mean(name, names, otherwise=f"; shipped: {', '.join(names)}")
        raise ParameterError([ParameterIssue(path, f"unknown grid code {name!r}{tail}")])
    text = _data_dir().joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ParameterError([ParameterIssue(path, f"{name}.json does not hold an object")])
    return data


def load_grid_code(spec: str | Mapping[str, Any], *, path: _Path = ()) -> GridCode:
    """A :class:`GridCode` from a shipped name (``"ieee1547_2018_cat_iii"``) or a dict.

    A dict may name a shipped ``"base"``; its other keys override the base key by key
    (nested objects merge, lists replace). Without ``base`` the dict overrides the built-in
    defaults (IEEE 1547 Cat II, 60 Hz). Every problem is reported at once as a
    :class:`~twin.errors.ParameterError` whose issue paths start with ``path``.
    """
    if isinstance(spec, str):
        data = _read_shipped(spec, path)
    elif isinstance(spec, Mapping):
        over = dict(spec)
        base_name = over.pop("base", None)
        if base_name is None:
            base: dict[str, Any] = to_dict(GridCode())
        elif isinstance(base_name, str):
            base = _read_shipped(base_name, (*path, "base"))
        else:
            raise ParameterError(
                [ParameterIssue((*path, "base"), f"expected a grid-code name, got {base_name!r}")]
            )
        data = deep_merge(base, over)
    else:
        raise ParameterError(
            [ParameterIssue(path, f"expected a name or a mapping, got {type(spec).__name__}")]
        )
    code = from_dict(GridCode, data, path=path)
    issues = grid_code_issues(code, path=path)
    if issues:
        raise ParameterError(issues)
    return code


def _voltage_trips(code: GridCode) -> list[tuple[str, VoltageTrip, bool]]:
    t = code.trip
    return [
        ("ov2", t.ov2, True),
        ("ov1", t.ov1, True),
        ("uv1", t.uv1, False),
        ("uv2", t.uv2, False),
    ]


def _frequency_trips(code: GridCode) -> list[tuple[str, FrequencyTrip, bool]]:
    t = code.trip
    return [
        ("of2", t.of2, True),
        ("of1", t.of1, True),
        ("uf1", t.uf1, False),
        ("uf2", t.uf2, False),
    ]


def _required_time(
    thr: float, over: bool, lo: float, hi: float | None, t0: float | None, slope: float
) -> float | None:
    """Longest ride-through a region demands at voltages (or frequencies) where a trip
    function with threshold ``thr`` is picked up; ``None`` when they do not overlap."""
    top = math.inf if hi is None else hi
    if over:
        if thr >= top:
            return None
        a, b = max(thr, lo), top
    else:
        if thr <= lo:
            return None
        a, b = lo, min(thr, top)
    if t0 is None:
        return math.inf
    ends = [t0 + slope * (x - lo) for x in (a, b) if math.isfinite(x)]
    return max(ends)


def grid_code_issues(code: GridCode, *, path: _Path = ()) -> list[ParameterIssue]:  # noqa: C901 - over 15 branches before the gate; to split
    """Cross-field checks that a single field cannot make: thresholds on the right side of
    nominal and inside their adjustment ranges, trip settings that do not cut into a
    continuous or mandatory ride-through region, a RoCoF trip not below the RoCoF
    ride-through, and an enter-service window around nominal."""
    issues: list[ParameterIssue] = []
    f_nom = code.f_nom_hz
    rt = code.ride_through
    trips: list[tuple[str, float, float, bool, bool, tuple[float, ...], tuple[float, ...]]] = []
    trips += [
        (n, s.v_pu, s.clearing_time_s, o, s.enabled, s.v_range_pu, s.clearing_time_range_s)
        for n, s, o in _voltage_trips(code)
    ]
    trips += [
        (n, s.f_hz, s.clearing_time_s, o, s.enabled, s.f_range_hz, s.clearing_time_range_s)
        for n, s, o in _frequency_trips(code)
    ]
    for name, thr, clear, over, enabled, thr_range, t_range in trips:
        if not enabled:
            continue
        is_v = name[1] == "v"
        key, unit, nominal = ("v_pu", "pu", 1.0) if is_v else ("f_hz", "Hz", f_nom)
        where = (*path, "trip", name)
        if over and thr <= nominal:
            issues.append(ParameterIssue((*where, key), f"{thr} {unit} must be above {nominal}"))
        if not over and thr >= nominal:
            issues.append(ParameterIssue((*where, key), f"{thr} {unit} must be below {nominal}"))
        if thr_range and not thr_range[0] <= thr <= thr_range[1]:
            issues.append(
                ParameterIssue(
                    (*where, key),
                    f"{thr} {unit} is outside the allowed range {thr_range[0]}–{thr_range[1]}",
                )
            )
        if t_range and not t_range[0] <= clear <= t_range[1]:
            issues.append(
                ParameterIssue(
                    (*where, "clearing_time_s"),
                    f"{clear} s is outside the allowed range {t_range[0]}–{t_range[1]} s",
                )
            )
        regions: Sequence[VoltageRegion | FrequencyRegion] = rt.voltage if is_v else rt.frequency
        group = "voltage" if is_v else "frequency"
        for i, r in enumerate(regions):
            if r.mode not in ("continuous", "mandatory"):
                continue
            if isinstance(r, VoltageRegion):
                lo, hi, slope = r.v_min_pu, r.v_max_pu, r.slope_s_per_pu
            else:
                lo, hi, slope = r.f_min_hz, r.f_max_hz, 0.0
            need = _required_time(thr, over, lo, hi, r.min_time_s, slope)
            if need is not None and clear < need - TIME_TOLERANCE_S:
                issues.append(
                    ParameterIssue(
                        (*where, "clearing_time_s"),
                        f"{clear} s trips inside the {r.mode} ride-through region "
                        f"ride_through.{group}[{i}] (needs ≥ {need:.4g} s)",
                    )
                )
    if code.trip.rocof.enabled and code.trip.rocof.rocof_hz_per_s < rt.rocof_hz_per_s:
        issues.append(
            ParameterIssue(
                (*path, "trip", "rocof", "rocof_hz_per_s"),
                f"{code.trip.rocof.rocof_hz_per_s} Hz/s is below the RoCoF ride-through "
                f"{rt.rocof_hz_per_s} Hz/s",
            )
        )
    es = code.enter_service
    if not es.v_min_pu <= 1.0 <= es.v_max_pu:
        issues.append(ParameterIssue((*path, "enter_service"), "the voltage window must contain 1.0 pu"))
    if not es.f_min_hz <= f_nom <= es.f_max_hz:
        issues.append(
            ParameterIssue((*path, "enter_service"), f"the frequency window must contain {f_nom} Hz")
        )
    for group, nominal, spans in (
        ("voltage", 1.0, [(r.v_min_pu, r.v_max_pu, r.mode) for r in rt.voltage]),
        ("frequency", f_nom, [(r.f_min_hz, r.f_max_hz, r.mode) for r in rt.frequency]),
    ):
        if spans and not any(
            m == "continuous" and lo <= nominal <= (math.inf if hi is None else hi) for lo, hi, m in spans
        ):
            issues.append(
                ParameterIssue(
                    (*path, "ride_through", group),
                    f"no continuous region contains nominal ({nominal})",
                )
            )
    return issues
