"""What a person watching a run sees: a progress bar (faster than real time) or a live status
panel (real time: key signals, active faults, EMS writes per second, lag).

Only the CLI builds these (libraries log; they never draw). Both read the runner's state from
an asyncio task a few times a second, so they cost the clock nothing between refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hil.scenario.names import KEY_SIGNAL_LABELS
from twin.units import signal_unit

__all__ = ["RunDisplay", "live_panel", "status_panel"]

_SIGNALS = (
    *((label, name, signal_unit(name) or "") for name, label in KEY_SIGNAL_LABELS.items()),
    ("PCS running", "pcs.running_count", ""),
)


class _Rate:
    """Writes per second over the last refresh interval."""

    def __init__(self) -> None:
        self.last = (time.monotonic(), 0)
        self.value = 0.0

    def update(self, count: int) -> float:
        now = time.monotonic()
        t0, n0 = self.last
        if now - t0 >= 0.5:
            self.value = (count - n0) / (now - t0)
            self.last = (now, count)
        return self.value


def status_panel(runner: Any, *, title: str, rate: _Rate) -> Panel:
    """One frame of the live panel."""
    snap = runner.gateway.snapshot
    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="left")
    grid.add_column(justify="right")
    grid.add_column(justify="left")
    grid.add_column(justify="right")
    cells: list[tuple[str, str]] = []
    for label, name, unit in _SIGNALS:
        v = snap.scalars.get(name) if snap is not None else None
        if v is None:
            continue
        txt = f"{v:,.3f} {unit}" if unit in ("Hz", "pu") else f"{v:,.1f} {unit}".rstrip()
        cells.append((label, txt))
    gw = runner.gateway
    lag_ms = runner.lag_s * 1000.0
    lat = runner.lateness.summary()
    cells += [
        ("EMS writes/s", f"{rate.update(gw.writes_accepted + gw.writes_rejected):.1f}"),
        ("writes ok / refused", f"{gw.writes_accepted} / {gw.writes_rejected}"),
        ("lag", f"{lag_ms:.1f} ms"),
        ("lateness p99", f"{lat['p99_ms']:.1f} ms"),
    ]
    for k in range(0, len(cells), 2):
        a = cells[k]
        b = cells[k + 1] if k + 1 < len(cells) else ("", "")
        grid.add_row(a[0], a[1], b[0], b[1])
    parts: list[Any] = [grid]
    play = runner.play
    if play is not None:
        active = [f for f in play.faults if not f.cleared]
        faults = ", ".join(f"{f.spec.type}@{f.spec.target}" for f in active) or "none"
        failed = sum(1 for c in play.checks if c.passed is False)
        passed = sum(1 for c in play.checks if c.passed is True)
        parts.append(
            f"active faults: {faults}\nexpectations: {passed} passed, {failed} failed, "
            f"{len(play.checks) - passed - failed} open"
        )
    t = runner.site.t
    return Panel(Group(*parts), title=f"{title}  t = {t:,.1f} s", border_style="cyan")


class RunDisplay:
    """Progress bar for fast runs, live panel for real-time runs; ``live=False`` draws nothing."""

    def __init__(self, console: Console, scenario: Any, *, fast: bool, live: bool) -> None:
        self.console = console
        self.scenario = scenario
        self.fast = fast
        self.enabled = live
        self._task: asyncio.Task[None] | None = None
        self._progress: Progress | None = None

    def start(self, runner: Any) -> None:
        for ep in runner.endpoints:
            self.console.print(f"{ep.url:<36} {ep.name:<14} {ep.detail}", highlight=False, markup=False)
        if not runner.serve:
            self.console.print(
                "no endpoint served (--no-serve): the controller runs in process", highlight=False
            )
        if not self.enabled:
            return
        self._task = asyncio.get_running_loop().create_task(self._refresh(runner))

    async def _refresh(self, runner: Any) -> None:
        total = self.scenario.duration_s
        title = f"{self.scenario.name} on {runner.site.params.name}"
        if self.fast:
            self._progress = Progress(
                TextColumn(f"[bold]{self.scenario.name}[/]"),
                BarColumn(),
                TextColumn("{task.completed:,.0f} / {task.total:,.0f} s simulated"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            task = self._progress.add_task("run", total=total)
            with self._progress:
                while True:
                    self._progress.update(task, completed=min(total, runner.ticks * runner.site.dt))
                    await asyncio.sleep(0.25)
        else:
            await live_panel(runner, self.console, title=title)

    async def aclose(self) -> None:
        """Stop refreshing (call on the run's loop, before it closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def live_panel(runner: Any, console: Console, *, title: str, every_s: float = 0.5) -> None:
    """Redraw the status panel until cancelled (``hil serve``)."""
    rate = _Rate()
    with Live(status_panel(runner, title=title, rate=rate), console=console, transient=True) as live:
        while True:
            await asyncio.sleep(every_s)
            live.update(status_panel(runner, title=title, rate=rate))
