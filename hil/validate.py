"""``hil validate``: tell a file's kind from its keys and check it without running anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.run.runner import prepare_run
from hil.wire.points import load_point_map

from .campaign import load_campaign
from .campaign.plan import checked_plan
from .config import load_bench, load_yaml
from .ems.profile import load_profile
from .errors import ConfigError, Problem
from .scenario import ScenarioError, parse_scenario
from .study import load_study
from .tariff import is_tariff, load_tariff

__all__ = ["validate_file"]

_SITE_KEYS = {"tick_s", "battery", "pcs", "gpu", "grid", "facility"}
_EMS_KEYS = {"peak_shave", "tou", "soc", "no_export", "smoothing", "alarms", "demand_response"}


def _check_campaign(path: Path) -> None:
    checked_plan(load_campaign(path))  # every value applied to its base and checked


#: the kinds told by a key of their own, in order: (test on the data, kind, the check)
_BY_KEYS: list[tuple[Callable[[dict[str, Any]], bool], str, Callable[[Path], Any]]] = [
    (is_tariff, "tariff", load_tariff),
    (lambda d: bool(set(d) & _EMS_KEYS), "EMS profile", load_profile),
    (lambda d: "campaign" in d, "campaign", _check_campaign),
    (lambda d: "study" in d, "study", load_study),
]


def validate_file(path: Path) -> tuple[str, list[Problem]]:
    """``(kind, problems)`` for one file; an empty list means it is valid."""
    if not path.is_file():
        return "?", [Problem(str(path), None, "", "file not found")]
    try:
        data, _ = load_yaml(path)
    except ConfigError as exc:
        return "yaml", exc.problems
    if not isinstance(data, dict):
        return "?", [Problem(str(path), 1, "", "expected a mapping at the top of the file")]
    keys = set(data)

    for test, kind, check in _BY_KEYS:
        if test(data):
            try:
                check(path)
            except ConfigError as exc:
                return kind, exc.problems
            return kind, []
    try:
        if "scenario" in keys or "expect" in keys or "events" in keys:
            _check_scenario(path)
            return "scenario", []
        if "models" in keys or "kind" in keys:
            load_point_map(str(path))
            return "point map", []
        if keys & _SITE_KEYS:
            load_bench(str(path))
            return "site", []
    except ConfigError as exc:
        kind = "scenario" if "scenario" in keys else ("point map" if "models" in keys else "site")
        return kind, exc.problems
    return "?", [
        Problem(
            str(path),
            1,
            "",
            "cannot tell what this file is: a scenario has 'scenario:', a point map 'kind:' and "
            "'models:', a site 'tick_s:' / 'battery:' / 'pcs:', a tariff 'tariff_id:' (or a URDB "
            "rate object with 'energyratestructure'), a study 'study:', a campaign 'campaign:',"
            " an EMS profile "
            "'peak_shave:' / 'tou:' / 'soc:'",
        )
    ]


def _check_scenario(path: Path) -> None:
    """Every problem at once: the file's own, and those against its site (signals, inputs,
    devices, fault targets) of every entry that did parse, even when others did not."""
    data, lines = load_yaml(path)
    problems: list[Problem] = []
    sc = parse_scenario(data, path=path, lines=lines, partial=problems)
    if sc.site is not None:
        try:
            prepare_run(sc)
        except (ScenarioError, ConfigError) as exc:
            problems += [p for p in exc.problems if p not in problems]
        except Exception:  # a half-parsed entry the site check cannot read: its file problem stands
            if not problems:
                raise
    if problems:
        raise ScenarioError(sorted(problems, key=lambda p: (p.line or 0, p.where)))
