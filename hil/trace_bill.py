"""The bill of a run folder: its trace's grid import under a tariff (``hil bill``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twin.econ import Bill, Tariff, compute_bill

from .trace import read_trace, read_trace_schema

__all__ = ["IMPORT_COLUMN", "LOCAL_TIME_COLUMN", "bill_trace"]

IMPORT_COLUMN = "grid.p_import_kw"
LOCAL_TIME_COLUMN = "site.local_time"


def bill_trace(out_dir: Path, tariff: Tariff, *, start: str = "2026-01-01T00:00") -> Bill:
    """Each trace row is an interval starting at ``site.local_time`` (if the trace has it) or
    ``start + t_s``, held until the next row; the interval length is the median row spacing."""
    names = set(read_trace_schema(out_dir).names)
    if IMPORT_COLUMN not in names:
        raise KeyError(f"{out_dir}: the trace has no {IMPORT_COLUMN!r} column")
    cols = ["t_s", IMPORT_COLUMN] + ([LOCAL_TIME_COLUMN] if LOCAL_TIME_COLUMN in names else [])
    table = read_trace(out_dir, cols)
    t_s = np.asarray(table.column("t_s").to_numpy(zero_copy_only=False), dtype=float)
    p = np.asarray(table.column(IMPORT_COLUMN).to_numpy(zero_copy_only=False), dtype=float)
    if t_s.size == 0:
        raise ValueError(f"{out_dir}: the trace is empty")
    if LOCAL_TIME_COLUMN in names:
        ts = np.asarray(table.column(LOCAL_TIME_COLUMN).to_numpy(zero_copy_only=False)).astype(
            "datetime64[ms]"
        )
    else:
        try:
            t0 = np.datetime64(start, "ms")
        except ValueError:
            raise ValueError(f"--start {start!r} is not a local time like 2026-07-01T00:00") from None
        ts = t0 + np.round(t_s * 1000.0).astype(np.int64).astype("timedelta64[ms]")
    interval_s = float(np.median(np.diff(t_s))) if t_s.size > 1 else 1.0
    return compute_bill(tariff, ts, p, interval_s)
