"""How a scenario run ends: the signals that stop it cleanly, the folder it writes into, and
its error as results.json and the terminal say it (:func:`hil.run.runner.run_scenario`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from twin.errors import SolverError

__all__ = ["describe_error", "fresh_out_dir", "solver_failure", "stop_on_signals"]


@contextlib.contextmanager
def stop_on_signals(runner: Any, enabled: bool) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop ``runner`` (a clean end: trace flushed, report written) while
    the block runs, when ``enabled``; the handlers are removed on the way out."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if enabled:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, runner.stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
    try:
        yield
    finally:
        for number in installed:
            loop.remove_signal_handler(number)


def solver_failure(error: BaseException | None) -> dict[str, Any] | None:
    """The device, simulated time and reason of a failed integration step, for results.json
    (the twin raised :class:`twin.errors.SolverError` and kept its last good state)."""
    if not isinstance(error, SolverError):
        return None
    return {"device": error.device, "t_s": error.t, "reason": error.reason}


def fresh_out_dir(path: Any) -> Any:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").unlink(missing_ok=True)  # a stale verdict must not outlive a new run
    return path


def describe_error(exc: BaseException) -> str:
    """An error as a person reads it: ``OSError: [Errno 28] No space left on device: 'x'``."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
