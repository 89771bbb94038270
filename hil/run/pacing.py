"""How the runner's clock advances (the pacers) and how late its ticks start (:class:`Lateness`).

- :class:`RealTime` sleeps to absolute deadlines (``t0 + k * tick / speed``), never cumulatively,
  so a late tick does not push the ones after it; the lateness of each tick is recorded.
- :class:`AsFastAsPossible` steps back to back, yielding to the servers between ticks.
- :class:`Manual` does nothing by itself: tests call :meth:`hil.run.runner.Runner.step`.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import numpy as np

from hil.errors import OverrunError, SimTimeoutError

__all__ = [
    "AsFastAsPossible",
    "ClockControl",
    "Lateness",
    "Manual",
    "OverrunError",
    "Pacer",
    "RealTime",
    "SimTimeoutError",
]


@dataclass(frozen=True)
class RealTime:
    """Simulated seconds per wall second (2.0 runs twice as fast as the wall clock).

    Overrun policy, when a tick starts more than ``max_lag_s`` late:

    * ``"catch_up"`` (default): run the late ticks back to back until the clock is caught up;
      simulated time stays locked to the wall clock on average;
    * ``"rebase"``: drop the backlog and carry on from now; simulated time falls behind the
      wall clock by the lost amount (logged);
    * ``"fail"``: stop the run with :class:`OverrunError`.
    """

    speed: float = 1.0
    overrun_warn_s: float = 0.05  # warn (rate-limited) when a tick starts this late
    max_lag_s: float = 1.0
    overrun: str = "catch_up"

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")
        if self.overrun not in ("catch_up", "rebase", "fail"):
            raise ValueError(f"overrun policy {self.overrun!r} is not catch_up, rebase or fail")


@dataclass(frozen=True)
class AsFastAsPossible:
    pass


@dataclass(frozen=True)
class Manual:
    pass


Pacer = RealTime | AsFastAsPossible | Manual


class Lateness:
    """How late each tick started against its deadline, in seconds.

    Kept as float64 in a buffer that doubles as it fills (8 bytes a tick: a real-time week at
    100 ms is 48 MB; it was ≈ 190 MB as a list of floats). Percentiles are exact over the
    first :data:`MAX_KEPT` ticks; the count and the maximum stay exact over the whole run.
    """

    MAX_KEPT = 50_000_000

    def __init__(self) -> None:
        self._buf = np.empty(4096)
        self._kept = 0
        self.n = 0
        self.max_s = 0.0

    @property
    def samples(self) -> np.ndarray:
        """The kept samples in tick order (a view: slice it, do not hold it across ticks)."""
        return self._buf[: self._kept]

    def add(self, late: float) -> None:
        self.n += 1
        if late > self.max_s:
            self.max_s = late
        if self._kept >= self.MAX_KEPT:
            return
        if self._kept == self._buf.size:
            grown = np.empty(min(2 * self._buf.size, self.MAX_KEPT))
            grown[: self._kept] = self._buf
            self._buf = grown
        self._buf[self._kept] = late
        self._kept += 1

    def summary(self) -> dict[str, float]:
        if not self.n:
            return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        a = self.samples * 1000.0
        return {
            "n": float(self.n),
            "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(max(self.max_s * 1000.0, float(a.max()))),
        }


class ClockControl:
    """Pause and speed of a running clock (the dashboard's controls; :meth:`Runner.run` reads
    them at each tick boundary). Pausing holds the clock at the next boundary while the
    servers keep answering; resuming, or a new speed, makes the deadlines count from then, so
    no backlog of ticks is run to catch up. Speed applies to real-time pacing only."""

    def __init__(self, pacer: Pacer) -> None:
        self.realtime = isinstance(pacer, RealTime)
        self.speed = float(pacer.speed) if isinstance(pacer, RealTime) else 0.0
        self.changed = False  # a new speed, not yet taken by the clock
        self._go = asyncio.Event()  # cleared while paused
        self._go.set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    async def wait(self) -> None:
        """Until resumed."""
        await self._go.wait()

    def set_speed(self, speed: float) -> None:
        """Simulated seconds per wall second from the next tick (real-time runs only)."""
        if not self.realtime:
            raise ValueError("speed applies to real-time runs only (this one is not paced)")
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed!r}")
        self.speed = float(speed)
        self.changed = True
