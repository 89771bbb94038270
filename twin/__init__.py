"""The AI-site twin: a pure numpy/scipy model of a training data centre with storage.

``twin`` never imports ``hil``, protocol libraries, YAML or terminal libraries.
"""

from __future__ import annotations

from twin.errors import (
    ParameterError,
    ParameterIssue,
    SimulationError,
    SolverError,
    TwinError,
    UnknownSignalError,
)
from twin.experiment import CellStep, parse_duration, parse_step, run_cell_experiment
from twin.models.cell import CellParams, load_cell, shipped_cells
from twin.signals import Signal
from twin.site import Site, SiteParams, Snapshot

__all__ = [
    "CellParams",
    "CellStep",
    "ParameterError",
    "ParameterIssue",
    "Signal",
    "SimulationError",
    "Site",
    "SiteParams",
    "Snapshot",
    "SolverError",
    "TwinError",
    "UnknownSignalError",
    "load_cell",
    "parse_duration",
    "parse_step",
    "run_cell_experiment",
    "shipped_cells",
]
__version__ = "0.1.0.dev0"
