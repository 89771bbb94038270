"""Helpers shared by the EMS controllers: SunSpec state codes, hour ranges, option checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hil.wire.sunspec_codes import (
    BMS_CONNECTED,
    BMS_FAULT,
    BMS_WARNING_BITS,
    DR_ACTIVE,
    DR_PENDING,
    GRID_ALARM_BITS,
    INV_FAULT,
    INV_OFF,
    INV_RUNNING,
    INV_STANDBY,
    INV_STARTING,
    INV_THROTTLED,
)

__all__ = [
    "BMS_CONNECTED",
    "BMS_FAULT",
    "BMS_WARNING_BITS",
    "DR_ACTIVE",
    "DR_PENDING",
    "GRID_ALARM_BITS",
    "INV_FAULT",
    "INV_OFF",
    "INV_RUNNING",
    "INV_STANDBY",
    "INV_STARTING",
    "INV_THROTTLED",
    "HourRanges",
    "in_hours",
    "parse_hours",
]

HourRanges = tuple[tuple[float, float], ...]


def parse_hours(value: Any, *, who: str = "StandIn") -> HourRanges:
    """Hour-of-day ranges from ``[[0, 6], [22, 24]]`` or ``"0-6,22-24"``; a range may wrap
    midnight (``[22, 6]``)."""
    if value is None:
        return ()
    items: Iterable[Any]
    if isinstance(value, str):
        items = [part.split("-") for part in value.replace(" ", "").split(",") if part]
    else:
        items = value
    out: list[tuple[float, float]] = []
    for item in items:
        if not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError(f"{who}: an hour range is [start, end], got {item!r}")
        a, b = float(item[0]), float(item[1])
        if not (0.0 <= a <= 24.0 and 0.0 <= b <= 24.0):
            raise ValueError(f"{who}: hours must be within 0..24, got {item!r}")
        out.append((a, b))
    return tuple(out)


def in_hours(hour: float, ranges: HourRanges) -> bool:
    """Whether ``hour`` (0–24) falls in one of ``ranges`` (``[start, end)``, may wrap midnight)."""
    return any((a <= hour < b) if a <= b else (hour >= a or hour < b) for a, b in ranges)
