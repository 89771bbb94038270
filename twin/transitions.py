"""The site's event record: alarm and state transitions, detected once per tick.

Each event is ``(t, device, kind, detail)``: BMS alarms raised (``bms[i]``, ``alarm``, the
bit names), PCS and genset state changes (``state``, the state's name, with the alarm bits of
a PCS fault), and what the bus and the PMS record themselves (transfers, bus mode, chillers,
racks without supply). ``hil`` reads :attr:`TransitionLog.events` as the twin's events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from twin.models.bms import ALARM_BITS
from twin.models.genset import GensetState
from twin.models.pcs import PCS_ALARM_BITS, PcsState

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["Event", "TransitionLog"]

Event = tuple[float, str, str, str]


class TransitionLog:
    """The events so far, and the last states the next tick is compared with."""

    def __init__(self, site: Site) -> None:
        self.events: list[Event] = []
        self._last_bms_bits = np.zeros(site.n_cab, dtype=np.int64)
        self._last_pcs_state = site.pcs.state.copy()
        self._last_genset_state = site.genset.state.copy() if site.genset else np.zeros(0)

    def add(self, t: float, device: str, kind: str, detail: str) -> None:
        self.events.append((t, device, kind, detail))

    def update(self, site: Site, t: float) -> None:
        """Record what changed since the last call."""
        bits = site.bms.alarm_bits
        new = bits & ~self._last_bms_bits
        if np.any(new):
            for i in np.nonzero(new)[0]:
                names = [k for k, b in ALARM_BITS.items() if new[i] >> b & 1]
                self.add(t, f"bms[{i}]", "alarm", ",".join(names))
        self._last_bms_bits = bits.copy()
        s = site.pcs.state
        changed = s != self._last_pcs_state
        if np.any(changed):
            for i in np.nonzero(changed)[0]:
                name = PcsState(int(s[i])).name
                if name == "FAULT":
                    al = [k for k, b in PCS_ALARM_BITS.items() if int(site.pcs.alarm_bits[i]) >> b & 1]
                    name += f" ({','.join(al)})"
                self.add(t, f"pcs[{i}]", "state", name)
        self._last_pcs_state = s.copy()
        if site.genset is not None:
            gs = site.genset.state
            for i in np.nonzero(gs != self._last_genset_state)[0]:
                self.add(t, f"genset[{i}]", "state", GensetState(int(gs[i])).name)
            self._last_genset_state = gs.copy()
