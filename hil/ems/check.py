"""Figures of a run folder that say how an EMS did: 15-minute mean import per clock-aligned
window (the billed demand), export, and the energy cost under a tariff."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hil.trace.bill import IMPORT_COLUMN, LOCAL_TIME_COLUMN, bill_trace
from hil.trace.store import read_trace, read_trace_schema
from twin.econ import Bill, Tariff, compute_bill

__all__ = ["DemandWindows", "demand_windows", "energy_cost", "trace_bill"]

LOCAL_SECONDS = "site.local_time_s"


@dataclass(frozen=True)
class DemandWindows:
    """Mean import (kW) of each clock-aligned window a trace touches; ``complete`` marks the
    windows the trace covers from start to end."""

    starts: np.ndarray  # naive local datetime64[s]
    mean_kw: np.ndarray
    complete: np.ndarray
    min_import_kw: float  # the lowest import sample (export if negative)

    def complete_means(self) -> np.ndarray:
        return self.mean_kw[self.complete]


def demand_windows(
    out_dir: Path, *, window_s: float = 900.0, start: str = "2026-01-01T00:00"
) -> DemandWindows:
    """Each trace row is the import of the interval from its time to the next row's."""
    names = set(read_trace_schema(out_dir).names)
    cols = ["t_s", IMPORT_COLUMN] + [c for c in (LOCAL_SECONDS, LOCAL_TIME_COLUMN) if c in names]
    tb = read_trace(out_dir, cols)
    t = np.asarray(tb.column("t_s").to_numpy(zero_copy_only=False), dtype=float)
    p = np.asarray(tb.column(IMPORT_COLUMN).to_numpy(zero_copy_only=False), dtype=float)
    if LOCAL_SECONDS in names:
        local = np.asarray(tb.column(LOCAL_SECONDS).to_numpy(zero_copy_only=False), dtype=float)
    elif LOCAL_TIME_COLUMN in names:
        ts = np.asarray(tb.column(LOCAL_TIME_COLUMN).to_numpy(zero_copy_only=False)).astype("datetime64[ms]")
        local = ts.astype(np.int64) / 1000.0
    else:
        local = np.datetime64(start, "s").astype(np.int64) + t
    step = float(np.median(np.diff(local))) if local.size > 1 else 1.0
    w = np.floor((local + 1e-6) / window_s).astype(np.int64)
    uniq, inv = np.unique(w, return_inverse=True)
    e = np.bincount(inv, weights=np.clip(p, 0.0, None) * step, minlength=uniq.size)
    n = np.bincount(inv, minlength=uniq.size)
    mean = e / window_s
    complete = n * step >= window_s - 1.5 * step
    complete &= (uniq * window_s >= local[0] - 1e-6) & ((uniq + 1) * window_s <= local[-1] + step + 1e-6)
    starts = (uniq * int(window_s)).astype("datetime64[s]")
    return DemandWindows(starts, mean, complete, float(p.min()) if p.size else 0.0)


def trace_bill(out_dir: Path, tariff: Tariff, *, start: str = "2026-01-01T00:00") -> Bill:
    """The bill of a run's import; each trace row is an interval from its local time
    (``site.local_time_s``, milliseconds kept, so sub-second traces bill too) to the next."""
    names = set(read_trace_schema(out_dir).names)
    if LOCAL_SECONDS not in names:
        return bill_trace(out_dir, tariff, start=start)
    tb = read_trace(out_dir, [IMPORT_COLUMN, LOCAL_SECONDS])
    p = np.asarray(tb.column(IMPORT_COLUMN).to_numpy(zero_copy_only=False), dtype=float)
    local = np.asarray(tb.column(LOCAL_SECONDS).to_numpy(zero_copy_only=False), dtype=float)
    ts = np.round(local * 1000.0).astype(np.int64).astype("datetime64[ms]")
    step = float(np.median(np.diff(local))) if local.size > 1 else 1.0
    return compute_bill(tariff, ts, p, step)


def energy_cost(out_dir: Path, tariff: Tariff, *, start: str = "2026-01-01T00:00") -> float:
    """The energy part of a run's bill (import energy × TOU price), in the tariff's currency."""
    return float(trace_bill(out_dir, tariff, start=start).by_kind().get("energy", 0.0))
