"""The utility's demand-response signal, as a device."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hil.wire.devices.base import Arr, Behaviour
from twin import Site
from twin.site import Snapshot


class UtilityBehaviour(Behaviour):
    """The utility-signal device: grid status and demand-response events (vendor model 64902).

    The DR event is set through :meth:`set_event` (scenarios drive it); the EMS reads it and
    acknowledges by writing the event id to ``DRAck``."""

    kind = "utility"
    area = "Site"
    unit_base = 2
    prefix = "Utility"
    derived_names = ("dr_state", "dr_id", "dr_start_rem", "dr_dur_rem", "dr_limit_w", "v_pct")

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        self.ratings = {
            "w_total": np.array([max(site.s_base_kva * 1000.0, 1e3) * 2.0]),
            "hz_max": np.array([70.0]),
            "pct": np.array([200.0]),
            "id_max": np.array([65534.0]),
        }
        self.event: tuple[int, float, float, float] | None = None  # id, start t, end t, limit W

    def set_event(self, event_id: int, *, start_s: float, duration_s: float, limit_w: float) -> None:
        """Announce a demand-response event (simulated times in seconds)."""
        self.event = (int(event_id), float(start_s), float(start_s + duration_s), float(limit_w))

    def clear_event(self) -> None:
        self.event = None

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        t = snap.t
        # with no event the import limit is the PCC's rating (no limit), served Good: a generic
        # SCADA client takes "no data" for a fault, and 0 would read as "import nothing"
        no_limit = float(self.ratings["w_total"][0])
        state, eid, start_rem, dur_rem, lim = 0.0, 0.0, 0.0, 0.0, no_limit
        if self.event is not None:
            eid_i, t0, t1, lim_w = self.event
            if t < t1:
                eid = float(eid_i)
                lim = lim_w
                if t < t0:
                    state, start_rem, dur_rem = 1.0, math.ceil(t0 - t), math.ceil(t1 - t0)
                else:
                    state, dur_rem = 2.0, math.ceil(t1 - t)
        return {
            "dr_state": state,
            "dr_id": eid,
            "dr_start_rem": start_rem,
            "dr_dur_rem": dur_rem,
            "dr_limit_w": lim,
            "v_pct": 100.0 * snap.scalars["grid.v_pu"],
        }
