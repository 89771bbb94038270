"""The stand-in EMS's modes and tuning (:class:`StandInOptions`), checked by name."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import did_you_mean
from ._common import HourRanges, parse_hours

__all__ = ["MODES", "StandInOptions"]

MODES = ("good", "ignore_dr", "no_revert", "over_discharge")


@dataclass(frozen=True)
class StandInOptions:
    """Tuning of the stand-in; every field can be passed to :class:`StandIn` by keyword."""

    limit_kw: float | None = None  # grid-import limit for peak shaving; None = learn it
    learn_s: float = 60.0  # learn the limit over this long (grid-connected time)
    learn_frac: float = 0.9  # learned limit = this × mean net load
    margin_frac: float = 0.02  # aim this far below the limit
    filter_s: float = 5.0  # net-load filter: shave the envelope, not the 0.2–3 Hz GPU swings
    soc_reserve_pct: float = 30.0  # kept for outage ride-through; not discharged below on grid
    soc_target_pct: float = 50.0  # recharge up to this when import is under the limit
    soc_max_pct: float = 90.0  # never charged above this
    soc_taper_pct: float = 1.0  # power tapers to 0 over this band at the SoC bounds
    recharge_frac: float = 0.2  # gentle recharge: this × the fleet's charge capability
    dr_margin_frac: float = 0.03  # aim this far below the DR limit
    dr_lead_s: float = 2.0  # apply the DR limit this long before the event starts
    dr_soc_floor_pct: float | None = None  # floor during DR; None = soc_reserve_pct
    revert_s: float = 60.0  # 704 WSetRvrtTms
    charge_hours: HourRanges = ()  # TOU: hour-of-day ranges [start, end) to charge in
    discharge_hours: HourRanges = ()  # TOU: hour-of-day ranges to discharge in
    clock_start_h: float = 0.0  # hour of day at t = 0
    tou_soc_max_pct: float = 90.0  # TOU charging stops here
    tou_charge_frac: float = 0.5  # TOU charge power: this × the fleet's charge capability
    min_import_kw: float = 0.0  # no export: below this the net-load filter snaps to the load...
    guard_drop_frac: float = 0.25  # ...if the load fell this much below it (not iteration noise)
    reset_holdoff_s: float = 10.0  # wait this long in FAULT before an alarm reset
    max_resets: int = 3  # alarm resets per unit, re-armed after reset_window_s of healthy running
    reset_window_s: float = 3600.0
    genset_start_wait_s: float = 3.0  # islanded this long with a genset still OFF: start it
    island_ki: float = 0.05  # island frequency trim: rated power per Hz per second (0 = off)
    f_nom_hz: float | None = None  # None: 50 or 60 from the first grid-connected reading

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> StandInOptions:
        """Validate keyword options (unknown names get a did-you-mean)."""
        names = {f.name for f in fields(cls)}
        out = cls()
        for key, value in options.items():
            if key not in names:
                tail = did_you_mean(key, sorted(names))
                raise TypeError(f"StandIn: unknown option {key!r}{tail}")
            if key in ("charge_hours", "discharge_hours"):
                value = parse_hours(value)
            elif key == "max_resets":
                value = int(value)
            elif value is not None:
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError(f"StandIn: option {key} must be finite, got {value!r}")
            out = replace(out, **{key: value})
        return out
