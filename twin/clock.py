"""The site clock: a local start date-time and an IANA time zone.

Simulated time ``t_s`` (seconds from the run start) maps to a local wall-clock date-time, so
bills, TOU periods, the PV sun position and the EMS share one clock. Wall time follows the
zone's offset (DST where the zone has it; ``Asia/Shanghai`` is UTC+8 all year). The sun
follows UTC and the longitude: local apparent solar time = UTC + longitude/15 h + equation of
time (Spencer 1971 [K]), so it does not jump at a DST change.

"Local seconds" are seconds since 1970-01-01T00:00 *of the local wall clock* (a naive
timestamp, as if the wall clock were UTC): a float that a trace can store and that numpy
reads as ``datetime64[s]`` directly.
"""

from __future__ import annotations

import difflib
import math
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from twin._interp import FloatArray

__all__ = [
    "DEFAULT_START",
    "DEFAULT_TIMEZONE",
    "Clock",
    "check_start",
    "check_timezone",
    "day_of_year",
    "equation_of_time_min",
    "solar_hour",
]

#: ≈ 10:00 apparent solar time on 21 June 2026 at 113.3° E (Guangzhou) in UTC+8: the PV
#: start that ``aidc_10k`` used before the site had a clock (``day_of_year`` 172, 10:00 solar).
DEFAULT_START = "2026-06-21T10:28"
DEFAULT_TIMEZONE = "Asia/Shanghai"
_EPOCH = datetime(1970, 1, 1)
_OFFSET_BUCKET_S = 900.0  # zone offsets change on quarter hours at the finest


def check_start(value: str) -> str | None:
    """The problem with an ISO local date-time string, or ``None`` if it parses."""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not an ISO local date-time (e.g. '2026-06-21T10:00')"
    if dt.tzinfo is not None:
        return f"{value!r} carries a UTC offset; give the local wall time and set timezone instead"
    return None


def check_timezone(value: str) -> str | None:
    """The problem with an IANA zone name (with a did-you-mean), or ``None`` if it is known."""
    try:
        zoneinfo.ZoneInfo(value)
        return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError):
        pass
    zones = sorted(zoneinfo.available_timezones())
    hint = difflib.get_close_matches(value, zones, n=1, cutoff=0.6)
    if not hint:  # case or a missing region: compare on the last component
        lower = {z.lower(): z for z in zones}
        hint = [lower[value.lower()]] if value.lower() in lower else []
    if not hint:
        tails = {z.rsplit("/", 1)[-1].lower(): z for z in zones}
        hint = [tails[k] for k in difflib.get_close_matches(value.lower(), list(tails), n=1, cutoff=0.75)]
    tail = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown time zone {value!r} (an IANA name such as 'Asia/Shanghai'){tail}"


def equation_of_time_min(day_of_year: float) -> float:
    """Apparent minus mean solar time (minutes), Spencer's Fourier fit [K]; ±16 min."""
    b = 2.0 * math.pi * (day_of_year - 1.0) / 365.0
    return 229.18 * (
        0.000075
        + 0.001868 * math.cos(b)
        - 0.032077 * math.sin(b)
        - 0.014615 * math.cos(2 * b)
        - 0.040849 * math.sin(2 * b)
    )


def day_of_year(day0: int) -> int:
    """Day of the year (1..366) of day ``day0`` counted from 1970-01-01."""
    return (_EPOCH.date() + timedelta(days=day0)).timetuple().tm_yday


def solar_hour(mean_s: float, day0: int, doy: int) -> float:
    """Apparent solar time (hours) from mean solar seconds, their day number and day of year."""
    hour_mean = (mean_s - day0 * 86400.0) / 3600.0
    return hour_mean + equation_of_time_min(doy + hour_mean / 24.0) / 60.0


@dataclass(frozen=True)
class Clock:
    """Start (local wall time), zone and longitude; maps run seconds to calendar time."""

    start: str = DEFAULT_START
    timezone: str = DEFAULT_TIMEZONE
    longitude_deg: float = 113.3
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    _start_local: datetime = field(init=False, repr=False, compare=False)
    utc0_s: float = field(init=False, repr=False, compare=False)
    _offsets: dict[int, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = check_start(self.start) or check_timezone(self.timezone)
        if problem is not None:
            raise ValueError(problem)
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = datetime.fromisoformat(self.start)
        utc = local.replace(tzinfo=zone).astimezone(UTC)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_start_local", local)
        object.__setattr__(self, "utc0_s", utc.timestamp())
        object.__setattr__(self, "_offsets", {})

    # -- wall time ---------------------------------------------------------------------------
    def offset_s(self, t_s: float) -> float:
        """The zone's UTC offset (s) at run time ``t_s`` (cached per quarter hour)."""
        key = math.floor((self.utc0_s + t_s) / _OFFSET_BUCKET_S)
        off = self._offsets.get(key)
        if off is None:
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            at = datetime.fromtimestamp(key * _OFFSET_BUCKET_S, tz=UTC).astimezone(self._zone)
            delta = at.utcoffset()
            off = delta.total_seconds() if delta is not None else 0.0
            self._offsets[key] = off
        return off

    def local_time_s(self, t_s: float) -> float:
        """Local wall time at ``t_s``, in seconds since 1970-01-01T00:00 local (naive)."""
        return self.utc0_s + t_s + self.offset_s(t_s)

    def local_datetime(self, t_s: float) -> datetime:
        """The naive local date-time of run time ``t_s`` (microseconds kept)."""
        return _EPOCH + timedelta(seconds=self.local_time_s(t_s))

    def local_datetime64(self, t_s: FloatArray | list[float] | float) -> np.ndarray:
        """Vectorised :meth:`local_datetime`: naive local ``datetime64[s]`` (floored)."""
        t = np.asarray(t_s, dtype=float)
        utc = self.utc0_s + t
        keys = np.floor(utc / _OFFSET_BUCKET_S)
        uniq, inv = np.unique(keys, return_inverse=True)
        offs = np.array([self.offset_s(k * _OFFSET_BUCKET_S - self.utc0_s) for k in uniq.tolist()])
        local = utc + offs[inv].reshape(t.shape)
        return np.floor(local).astype("int64").astype("datetime64[s]")

    # -- sun ---------------------------------------------------------------------------------
    def solar_day_and_hour(self, t_s: float) -> tuple[int, float]:
        """(day of year 1..366, apparent solar time in hours 0..24) at the site's longitude."""
        mean_s = self.mean_solar_s(t_s)
        day0 = math.floor(mean_s / 86400.0)
        doy = day_of_year(day0)
        return doy, solar_hour(mean_s, day0, doy)

    def mean_solar_s(self, t_s: float) -> float:
        """Local mean solar time at the site's longitude, seconds since 1970-01-01 (4 min a degree)."""
        return self.utc0_s + t_s + self.longitude_deg * 240.0

    def describe(self) -> dict[str, str]:
        return {"start": self.start, "timezone": self.timezone}
