"""What the reference EMS reads and what it writes: plain values, no transport.

:class:`Readings` is one poll of the site in engineering units after SunSpec scale factors
(W, Wh, %, s), exactly as a wire client decodes them; a point the device does not serve (or
serves as not-implemented) is ``None``. :class:`Commands` is one period's decisions. The
transports (:mod:`hil.ems.io`, :mod:`hil.ems.modbus_io`) turn one into register reads and the
other into register writes; :class:`hil.ems.reference.ReferenceEMS` maps one to the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PCS_CONFIG", "PCS_POINTS", "SITE_POINTS", "Commands", "PcsCommand", "PcsReading", "Readings"]

#: Points read from each battery PCS (SunSpec 701, 702, 704, 713, 715, 802).
PCS_POINTS = (
    "702.WMaxRtg",
    "701.InvSt",
    "701.Alrm",
    "701.W",
    "702.WMax",
    "702.WChaRteMax",
    "702.WDisChaRteMax",
    "704.WSetEna",
    "704.WSetMod",
    "704.WSet",
    "704.WSetRvrt",
    "704.WSetEnaRvrt",
    "704.WSetRvrtTms",
    "704.WSetRvrtRem",
    "713.SoC",
    "713.WHRtg",
    "715.LocRemCtl",
    "715.DERHb",
    "715.OpCtl",
    "802.WChaRteMax",
    "802.WDisChaRteMax",
    "802.SoC",
    "802.State",
    "802.Evt1",
    "802.CtrlHb",
)
#: The 704 configuration the EMS keeps in place (rewritten when the device reverted it).
PCS_CONFIG = ("704.WSetMod", "704.WSetEna", "704.WSetRvrt", "704.WSetEnaRvrt", "704.WSetRvrtTms")
#: Points read from the meter (203), the utility gateway (64902) and the site totals (64900).
SITE_POINTS = {
    "meter": ("203.W", "203.Hz", "203.TotWhImp", "203.TotWhExp"),
    "utility": (
        "64902.GridAvail",
        "64902.Hz",
        "64902.DRSt",
        "64902.DRId",
        "64902.DRStrRem",
        "64902.DRDurRem",
        "64902.DRLimW",
        "64902.DRAck",
    ),
    "site": ("64900.GridW", "64900.BessW", "64900.GridAvail", "64900.BrkSt"),
}


@dataclass(frozen=True)
class PcsReading:
    """One battery PCS (with its BMS) as read; ``None`` = not served."""

    name: str
    values: dict[str, float | None]

    def get(self, key: str) -> float | None:
        return self.values.get(key)


@dataclass(frozen=True)
class Readings:
    """One poll of the site. ``t_s``: EMS time (s since it started); ``local_s``: local wall
    time in seconds since 1970-01-01T00:00 local (naive), from the site clock if served, else
    the EMS's own clock."""

    t_s: float
    local_s: float
    site: dict[str, float | None]
    pcs: tuple[PcsReading, ...]

    def get(self, key: str) -> float | None:
        return self.site.get(key)


@dataclass
class PcsCommand:
    """What to write to one PCS this period, in the order written: configuration points that
    read back wrong, a start/stop, alarm resets, the controller heartbeat, then ``WSet`` (the
    write that rearms the 704 reversion timer)."""

    name: str
    config: dict[str, float] = field(default_factory=dict)
    op: str | None = None  # "start" or "stop"
    alarm_reset: bool = False
    bms_alarm_reset: bool = False
    heartbeat: int | None = None
    wset_w: float | None = None


@dataclass
class Commands:
    """One period's decisions: per-PCS writes, a DR acknowledgement, notes and figures."""

    pcs: list[PcsCommand] = field(default_factory=list)
    dr_ack: int | None = None
    notes: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
