"""Typed errors of the twin. Callers match on type, never on message text."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ParameterError",
    "ParameterIssue",
    "SimulationError",
    "SolverError",
    "TwinError",
    "UnknownSignalError",
]


class TwinError(Exception):
    """Base class of every error the twin raises on purpose."""


@dataclass(frozen=True, slots=True)
class ParameterIssue:
    """One problem in a parameter dict: where (a path of keys and indices) and what."""

    path: tuple[str | int, ...]
    message: str

    def where(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "<root>"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


class ParameterError(TwinError, ValueError):
    """Setup-time error: parameters or a site description are invalid.

    Carries every problem found, not only the first, so a user fixes a file in one pass.
    ``hil`` maps each issue's path back to a file and line.
    """

    def __init__(self, issues: list[ParameterIssue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  - {issue}" for issue in self.issues)
        super().__init__(f"{len(self.issues)} problem(s) in the parameters:\n{lines}")


class UnknownSignalError(TwinError, KeyError):
    """A signal or input name that the site does not have (with a did-you-mean)."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"unknown signal {name!r}{hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class SimulationError(TwinError, RuntimeError):
    """Run-time error while stepping the site."""


class SolverError(SimulationError):
    """The integrator failed. The site keeps its last good state."""

    def __init__(self, device: str, t: float, reason: str) -> None:
        self.device = device
        self.t = t
        self.reason = reason
        super().__init__(f"solver failed in {device!r} at t={t:.3f} s: {reason}")
