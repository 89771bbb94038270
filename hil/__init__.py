"""The bench around the twin: configuration files, protocols, scenarios, runs and reports.

The public surface is re-exported here and loaded on first use (PEP 562), so that
``import hil`` — and with it ``hil --help`` and every command that needs only part of the
bench — does not load the protocol servers, the report's plotting and the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.config import find_profile, load_bench, load_site, load_yaml
    from hil.errors import (
        ConfigError,
        OutputError,
        OverrunError,
        Problem,
        RunError,
        ScenarioError,
        SimTimeoutError,
        TransportError,
        UnitProblem,
    )
    from hil.run.pacing import AsFastAsPossible, Manual, RealTime
    from hil.run.runner import Runner, RunOutcome, prepare_run, run_scenario
    from hil.scenario import load_scenario

#: public name -> the module that defines it
_WHERE = {
    **dict.fromkeys(("find_profile", "load_bench", "load_site", "load_yaml"), "hil.config"),
    **dict.fromkeys(
        (
            "ConfigError",
            "OutputError",
            "OverrunError",
            "Problem",
            "RunError",
            "ScenarioError",
            "SimTimeoutError",
            "TransportError",
            "UnitProblem",
        ),
        "hil.errors",
    ),
    **dict.fromkeys(("AsFastAsPossible", "Manual", "RealTime"), "hil.run.pacing"),
    **dict.fromkeys(("Runner", "RunOutcome", "prepare_run", "run_scenario"), "hil.run.runner"),
    "load_scenario": "hil.scenario",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module 'hil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
