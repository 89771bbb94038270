"""The bench around the twin: configuration files, protocols, scenarios, runs and reports.

The public surface is re-exported here; everything else is reached through its module.
"""

from __future__ import annotations

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
from hil.pacing import AsFastAsPossible, Manual, RealTime
from hil.runner import Runner, RunOutcome, prepare_run, run_scenario
from hil.scenario import load_scenario

__all__ = [
    "AsFastAsPossible",
    "ConfigError",
    "Manual",
    "OutputError",
    "OverrunError",
    "Problem",
    "RealTime",
    "RunError",
    "RunOutcome",
    "Runner",
    "ScenarioError",
    "SimTimeoutError",
    "TransportError",
    "UnitProblem",
    "find_profile",
    "load_bench",
    "load_scenario",
    "load_site",
    "load_yaml",
    "prepare_run",
    "run_scenario",
]
