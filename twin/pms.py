"""The site's power-management system: the bus, the outage sequence and the retransfer.

A data-centre outage as it happens (physics.md §2, §5; docs/models/site.md):

1. The utility fails. The bus goes **dead** at once (v = 0, no frequency, nothing drawn from
   it); the UPS carries the racks from its battery with no interruption. The PCC breaker
   opens after ``grid.breaker_open_delay_s``. Grid-forming storage, if the site has it,
   forms an island at once and the bus stays live.
2. After ``outage_confirm_s`` of continuous outage the PMS starts the gensets. Each runs up
   to rated speed (``genset.start_delay_s``) and closes onto the dead bus at nominal
   frequency (dead-bus closing); the next ones parallel onto the live bus.
3. Loads come back in steps the gensets can accept: the UPS walks in (its input ramps over
   ``ups.walk_in_s``, held further by the PMS to the gensets' acceptance headroom), the
   chillers restart one by one every ``facility.chiller_restart_s`` when there is room, and
   isochronous load sharing brings the frequency back to nominal.
4. The grid returns. After ``grid.reclose_delay_s`` of healthy grid (the stability timer)
   the PMS retransfers: in a **closed transition** it slips the island against the grid
   (``sync_slip_hz``) and closes the PCC breaker only inside the sync-check window (Δf, Δφ,
   ΔV, IEEE 1547-2018 Table 5 class values as data), then unloads the gensets softly
   (``genset.unload_kw_per_s``) and lets them cool down; in an **open transition** (or when
   synchronising fails for ``sync_timeout_s`` and ``sync_fallback`` is ``open``) it drops
   the island sources, leaves the bus dead for ``open_transition_s`` (the UPS bridges) and
   closes onto the grid.

Load shedding works on measured draw with a margin: racks are shed (last first) when the
draw they need exceeds what the sources can carry, and come back one step at a time only
below a lower threshold and after ``min_off_s``, so the panel does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from twin.params import param

__all__ = ["BusMode", "PmsParams", "Transfer"]


class BusMode(IntEnum):
    """What feeds the site bus."""

    GRID = 0  # the utility, through the closed PCC breaker
    ISLAND = 1  # gensets and/or grid-forming storage, breaker open
    DEAD = 2  # nothing: no voltage, no frequency, nothing drawn


class Transfer(IntEnum):
    """The PMS's transfer sequence."""

    NORMAL = 0  # on the grid, nothing pending
    ISLANDED = 1  # breaker open, waiting for a healthy grid
    SYNC = 2  # closed transition: synchronising the island to the grid
    UNLOAD = 3  # closed transition done: gensets unloading onto the grid
    OPEN = 4  # open transition: island sources dropped, bus dead before reclosing


@dataclass(frozen=True)
class PmsParams:
    outage_confirm_s: float = param(
        1.0, unit="s", ge=0, source="[K] ATS outage confirmation (momentary-outage override) 0.5–3 s"
    )
    transition: str = param(
        "closed",
        choices=("closed", "open"),
        source="[K] data-centre ATS/PMS retransfer: closed (make-before-break) or open",
    )
    sync_df_hz: float = param(
        0.1, unit="Hz", gt=0, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: Δf ≤ 0.1 Hz"
    )
    sync_dv_pu: float = param(0.03, gt=0, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: ΔV ≤ 3 %")
    sync_dphi_deg: float = param(
        10.0, unit="°", gt=0, le=180, source="[K] IEEE 1547-2018 Table 5, > 1,500 kVA: Δφ ≤ 10°"
    )
    sync_check: bool = param(True, source="a closed transition checks Δf, Δφ, ΔV before closing")
    sync_slip_hz: float = param(
        0.05, unit="Hz", gt=0, source="[K] synchroniser slip: island a little fast of the grid"
    )
    sync_t_s: float = param(
        3.0, unit="s", gt=0, source="[K] synchroniser integral time on a storage-only island"
    )
    sync_timeout_s: float = param(120.0, unit="s", gt=0, source="[K] ATS fail-to-synchronise timer")
    sync_fallback: str = param(
        "open",
        choices=("open", "wait"),
        source="site choice: after a failed synchronisation, transfer open or keep trying",
    )
    open_transition_s: float = param(
        0.5, unit="s", gt=0, source="[K] open-transition dead time (break before make) 0.1–3 s"
    )
    shed_margin: float = param(
        0.05, ge=0, lt=0.5, source="[K] load-management panel: shed to 5 % below capacity"
    )
    restore_margin: float = param(
        0.15, ge=0, lt=0.5, source="[K] restore only 15 % below capacity (hysteresis)"
    )
    min_off_s: float = param(60.0, unit="s", ge=0, source="[K] minimum off-time of a shed feeder")
    draw_hold_s: float = param(
        900.0,
        unit="s",
        gt=0,
        source="[K] load-management panels budget on a peak-held demand (a 15-min interval)",
        doc="a rack's budgeted draw is its measured draw held at its peak, decaying with this "
        "time constant, so a swinging training load is budgeted at its peaks",
    )
    capacity_frac: float = param(
        0.95, gt=0, le=1, source="[K] PMS loads sources to at most 95 % of their rating"
    )

    def __post_init__(self) -> None:
        if self.sync_slip_hz >= self.sync_df_hz:
            raise ValueError(
                f"sync_slip_hz {self.sync_slip_hz} Hz must be inside the Δf window "
                f"sync_df_hz {self.sync_df_hz} Hz, or the breaker can never close"
            )
