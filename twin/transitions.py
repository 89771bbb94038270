"""The site's event record: alarm and state transitions, detected once per tick.

Each event is an :class:`Event` ``(t, device, kind, detail, value)``: alarms raised and
cleared on a BMS or a PCS (``alarm`` with the raised bits' names, ``alarm_cleared`` with the
cleared ones; ``value`` the unit's alarm word after the change), PCS and genset state
changes (``state``, the state's name, with the alarm bits of a PCS fault; ``value`` the
state code), and what the bus and the PMS record themselves (``transfer``, ``bus``,
``chillers``, ``load``: racks without supply). ``t`` is the start of the tick whose discrete
logic made the change. This is the one place transitions are detected: ``hil`` forwards
:attr:`TransitionLog.events` into the trace's events table, and :data:`TRANSITION_KINDS`
is the list of kinds it may meet.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from twin.models.bms import ALARM_BITS
from twin.models.genset import GensetState
from twin.models.pcs import PCS_ALARM_BITS, PcsState

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["TRANSITION_KINDS", "Event", "TransitionLog"]

#: Every ``kind`` the twin records (the bus and PMS kinds are written by :mod:`twin.pms`).
TRANSITION_KINDS = ("alarm", "alarm_cleared", "state", "transfer", "bus", "chillers", "load")


class Event(NamedTuple):
    """One transition: when (s, tick start), which unit, what kind, in words, and its value."""

    t: float
    device: str
    kind: str
    detail: str
    value: float = math.nan


Words = npt.NDArray[np.int64]


def _bit_names(table: dict[str, int], word: int) -> str:
    return ",".join(k for k, b in table.items() if word >> b & 1)


class TransitionLog:
    """The events so far, and the last states the next tick is compared with."""

    def __init__(self, site: Site) -> None:
        self.events: list[Event] = []
        self._last_bms_bits = np.zeros(site.n_cab, dtype=np.int64)
        self._last_pcs_bits = site.pcs.alarm_bits.astype(np.int64)
        self._last_pcs_state = site.pcs.state.copy()
        self._last_genset_state = site.genset.state.copy() if site.genset else np.zeros(0)

    def add(self, t: float, device: str, kind: str, detail: str, value: float = math.nan) -> None:
        if kind not in TRANSITION_KINDS:  # a new kind is declared above, where hil finds it
            raise ValueError(f"unknown transition kind {kind!r}; known: {', '.join(TRANSITION_KINDS)}")
        self.events.append(Event(t, device, kind, detail, value))

    def _alarm_words(
        self,
        t: float,
        dev: str,
        table: dict[str, int],
        last: npt.NDArray[np.int64],
        now: npt.NDArray[np.int64],
    ) -> None:
        for i in np.flatnonzero(now != last):
            old, new = int(last[i]), int(now[i])
            if new & ~old:
                self.add(t, f"{dev}[{i}]", "alarm", _bit_names(table, new & ~old), float(new))
            if old & ~new:
                self.add(t, f"{dev}[{i}]", "alarm_cleared", _bit_names(table, old & ~new), float(new))

    def in_sync(self, site: Site) -> bool:
        """True when :meth:`update` would record nothing now (a chunk may start only then:
        its ticks do not call it)."""
        return bool(
            np.array_equal(site.bms.alarm_bits, self._last_bms_bits)
            and np.array_equal(site.pcs.state, self._last_pcs_state)
            and np.array_equal(site.pcs.alarm_bits, self._last_pcs_bits)
            and (site.genset is None or np.array_equal(site.genset.state, self._last_genset_state))
        )

    def update(self, site: Site, t: float) -> None:
        """Record what changed since the last call."""
        bits = site.bms.alarm_bits
        if not np.array_equal(bits, self._last_bms_bits):
            self._alarm_words(t, "bms", ALARM_BITS, self._last_bms_bits, bits)
            self._last_bms_bits = bits.copy()
        s = site.pcs.state
        changed = s != self._last_pcs_state
        if np.any(changed):
            for i in np.nonzero(changed)[0]:
                name = PcsState(int(s[i])).name
                if name == "FAULT":
                    name += f" ({_bit_names(PCS_ALARM_BITS, int(site.pcs.alarm_bits[i]))})"
                self.add(t, f"pcs[{i}]", "state", name, float(s[i]))
            self._last_pcs_state = s.copy()
        pbits = site.pcs.alarm_bits
        if not np.array_equal(pbits, self._last_pcs_bits):
            self._alarm_words(t, "pcs", PCS_ALARM_BITS, self._last_pcs_bits, pbits)
            self._last_pcs_bits = pbits.astype(np.int64)
        if site.genset is not None:
            gs = site.genset.state
            if not np.array_equal(gs, self._last_genset_state):
                for i in np.nonzero(gs != self._last_genset_state)[0]:
                    self.add(t, f"genset[{i}]", "state", GensetState(int(gs[i])).name, float(gs[i]))
                self._last_genset_state = gs.copy()
