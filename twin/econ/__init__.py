"""Economics: tariffs, bills, storage dispatch and ROI (economics.md). Pure numpy/scipy; files
are read by ``hil.tariff``."""

from __future__ import annotations

from .bill import KINDS, Bill, LineItem, MonthBill, compute_bill
from .dispatch import ScheduleDispatch, clock_hours, schedule_dispatch
from .finance import (
    Finance,
    Lcos,
    ReplacementPlan,
    cash_flows,
    discounted_payback,
    irr,
    lcos,
    linear_fade,
    npv,
    replacement_plan,
    simple_payback,
)
from .optimum import MonthSolution, OptimumResult, optimal_dispatch
from .resilience import OutageHours, ResilienceResult, resilience_hours
from .storage import DispatchResult, StorageSpec, simulate
from .tariff import CriticalPeak, DemandWindow, HighUtilisation, Ratchet, Tariff, parse_tariff, tier_charge
from .urdb import tariff_from_urdb

__all__ = [
    "KINDS",
    "Bill",
    "CriticalPeak",
    "DemandWindow",
    "DispatchResult",
    "Finance",
    "HighUtilisation",
    "Lcos",
    "LineItem",
    "MonthBill",
    "MonthSolution",
    "OptimumResult",
    "OutageHours",
    "Ratchet",
    "ReplacementPlan",
    "ResilienceResult",
    "ScheduleDispatch",
    "StorageSpec",
    "Tariff",
    "cash_flows",
    "clock_hours",
    "compute_bill",
    "discounted_payback",
    "irr",
    "lcos",
    "linear_fade",
    "npv",
    "optimal_dispatch",
    "parse_tariff",
    "replacement_plan",
    "resilience_hours",
    "schedule_dispatch",
    "simple_payback",
    "simulate",
    "tariff_from_urdb",
    "tier_charge",
]
