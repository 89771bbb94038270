"""Controllers that drive a site through the gateway as an EMS would (scenario runs, CI).

``CONTROLLERS`` maps a controller's name to its class; each is built as
``cls(gateway, mode=..., period_s=..., **options)`` and called with ``on_tick(t_s)`` at every
tick boundary, before the gateway applies the writes queued for it (``gateway.step()`` or
``gateway.apply_writes()``): it reads the registers a wire client reads and its writes are
applied with theirs, before the scenario's actions at the same boundary. Setting ``silenced``
emulates a loss of EMS communication.
"""

from __future__ import annotations

from typing import Protocol

from hil.ems.standin import MODES, StandIn, StandInOptions

__all__ = ["CONTROLLERS", "MODES", "Controller", "StandIn", "StandInOptions"]


class Controller(Protocol):
    """What the runner needs from a controller."""

    name: str
    silenced: bool
    writes: int
    rejected: int

    def on_tick(self, t_s: float) -> None: ...


CONTROLLERS: dict[str, type] = {StandIn.name: StandIn}
