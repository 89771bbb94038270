"""Economics: tariffs and bills (economics.md). Pure numpy; files are read by ``hil.tariff``."""

from __future__ import annotations

from .bill import KINDS, Bill, LineItem, MonthBill, compute_bill
from .tariff import CriticalPeak, DemandWindow, HighUtilisation, Ratchet, Tariff, parse_tariff, tier_charge
from .urdb import tariff_from_urdb

__all__ = [
    "KINDS",
    "Bill",
    "CriticalPeak",
    "DemandWindow",
    "HighUtilisation",
    "LineItem",
    "MonthBill",
    "Ratchet",
    "Tariff",
    "compute_bill",
    "parse_tariff",
    "tariff_from_urdb",
    "tier_charge",
]
