"""Every error the bench raises, and the one way it suggests a name.

Two roots, so a caller can tell a bad input from a run that went wrong:

- :class:`ConfigError` — **setup**: a site, scenario, tariff, study, point map or load file
  (or an option given on the command line) is invalid. Raised before anything starts; carries
  every :class:`Problem` found at once (file, line, where, message with a did-you-mean), and
  changes nothing. :class:`ScenarioError` is the scenario file's kind of it.
- :class:`RunError` — **run**: something went wrong while a run was under way (a real-time
  clock fell behind its policy, a simulated-time budget ran out, an EMS could not reach the
  site). A subclass of :class:`RuntimeError`, as these were before they had a root.

Beside them: :class:`UnitProblem` (a value with a missing, unknown or incompatible unit;
the parsers turn it into a :class:`Problem` with its line) and :class:`OutputError` (the
output folder cannot be written: an :class:`OSError`, so the command line's exit status for
operating-system errors covers it). The twin's own errors are in :mod:`twin.errors`.

This module imports nothing from the bench, so every module may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from twin.params import did_you_mean
from twin.units import UnitProblem

__all__ = [
    "ConfigError",
    "OutputError",
    "OverrunError",
    "Path_",
    "Problem",
    "RunError",
    "ScenarioError",
    "SimTimeoutError",
    "TransportError",
    "UnitProblem",
    "did_you_mean",
    "line_for",
]

#: Where in a YAML document: the keys and list indices from the root.
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file: where it is and what to do about it."""

    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        loc = f"{self.file}:{self.line}" if self.line else self.file
        return f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"


class ConfigError(Exception):
    """An input is invalid (the root of the setup errors); carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        body = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s):\n{body}")


class ScenarioError(ConfigError):
    """A scenario file is invalid; carries every problem found (file, line, did-you-mean)."""


class RunError(RuntimeError):
    """A run went wrong while under way (the root of the run errors)."""


class OverrunError(RunError):
    """A real-time run fell further behind than its policy allows."""


class SimTimeoutError(RunError):
    """A runner was stepped past its simulated-time budget (``sim_timeout_s``, pytest ``hil_timeout``)."""


class TransportError(RunError):
    """The site could not be read this period (connection down, meter silent); the control
    loop skips the period (the 704 reversion timers cover a long gap)."""


class OutputError(OSError):
    """The output folder cannot be written; carries the path and the OS error."""


def line_for(lines: Mapping[Path_, int], path: Path_) -> int | None:
    """The line of ``path`` in a document, or of its nearest ancestor that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())
