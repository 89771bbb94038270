"""Load profiles to bill: a ``hil run`` folder, or a CSV / Parquet file of local interval starts.

A load file has the columns ``timestamp`` (the interval start, ISO 8601 local time, e.g.
``2026-07-01T18:00``; a UTC offset such as ``+08:00`` is accepted and converted to the
tariff's local time) and ``p_import_kw`` (the mean import over the interval, kW; negative is
export). The interval is the file's most common spacing, from 1 s to 1 h. A gap that is a whole
number of intervals is missing data (reported, billed as nothing); any other spacing, a time that
does not increase, a missing column or a value that is not a number is an error naming the file
and its line (CSV) or row (Parquet).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twin.params import suggest

from .errors import ConfigError, Problem

__all__ = ["COLUMNS", "LoadSeries", "read_load"]

COLUMNS = ("timestamp", "p_import_kw")
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class LoadSeries:
    """Interval starts (naive local ``datetime64[ms]``), import kW, the interval and the gaps."""

    ts: np.ndarray
    p_import_kw: np.ndarray
    interval_s: float
    gaps: int
    source: str


def _parse_time(text: str, tz: ZoneInfo | None) -> np.datetime64:
    dt = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    if dt.tzinfo is not None:
        if tz is None:
            raise ValueError("has a UTC offset but the tariff names no time zone")
        dt = dt.astimezone(tz).replace(tzinfo=None)
    return np.datetime64(dt, "ms")


def _column_problem(src: str, line: int | None, got: list[str], want: str) -> Problem:
    close = [g for g in got if g not in COLUMNS and suggest(g, [want])]
    if close:
        return Problem(src, line, "", f"unknown column {close[0]!r}; did you mean {want!r}?")
    return Problem(src, line, "", f"no column {want!r} (columns: {', '.join(got) or 'none'})")


def _read_csv(path: Path, tz: ZoneInfo | None) -> tuple[list[np.datetime64], list[float], list[int]]:
    src = str(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header is None:
            raise ConfigError([Problem(src, 1, "", "the file is empty")])
        names = [h.strip() for h in header]
        missing = [_column_problem(src, 1, names, c) for c in COLUMNS if c not in names]
        if missing:
            raise ConfigError(missing)
        it, ip = names.index("timestamp"), names.index("p_import_kw")
        ts: list[np.datetime64] = []
        ps: list[float] = []
        lines: list[int] = []
        problems: list[Problem] = []
        for lineno, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(it, ip):
                problems.append(Problem(src, lineno, "", f"{len(row)} field(s), expected {len(names)}"))
                continue
            try:
                t = _parse_time(row[it], tz)
            except ValueError as exc:
                problems.append(Problem(src, lineno, "timestamp", f"{row[it]!r}: {exc}"))
                continue
            try:
                p = float(row[ip])
            except ValueError:
                problems.append(Problem(src, lineno, "p_import_kw", f"{row[ip]!r} is not a number"))
                continue
            if not np.isfinite(p):
                problems.append(Problem(src, lineno, "p_import_kw", f"{row[ip]!r} is not a finite number"))
                continue
            ts.append(t)
            ps.append(p)
            lines.append(lineno)
            if len(problems) >= 20:
                break
        if problems:
            raise ConfigError(problems)
    return ts, ps, lines


def _read_parquet(path: Path, tz: ZoneInfo | None) -> tuple[list[np.datetime64], list[float], list[int]]:
    src = str(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError([Problem(src, None, "", f"not a readable Parquet file ({exc})")]) from None
    names = table.column_names
    missing = [_column_problem(src, None, names, c) for c in COLUMNS if c not in names]
    if missing:
        raise ConfigError(missing)
    col = table.column("timestamp")
    if pa.types.is_timestamp(col.type):
        unit_tz = col.type.tz
        arr = col.to_numpy().astype("datetime64[ms]")
        if unit_tz:  # stored as UTC instants: to the tariff's local clock
            if tz is None:
                raise ConfigError(
                    [Problem(src, None, "timestamp", "UTC instants but the tariff has no zone")]
                )
            ts = [_parse_time(str(a) + "+00:00", tz) for a in arr]
        else:
            ts = list(arr)
    else:
        ts = []
        for row, v in enumerate(col.to_pylist(), start=1):
            try:
                ts.append(_parse_time(str(v), tz))
            except ValueError as exc:
                raise ConfigError([Problem(src, None, f"row {row}: timestamp", f"{v!r}: {exc}")]) from None
    try:
        p = np.asarray(table.column("p_import_kw").to_numpy(zero_copy_only=False), dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError([Problem(src, None, "p_import_kw", f"not numbers ({exc})")]) from None
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        raise ConfigError([Problem(src, None, f"row {bad[0] + 1}: p_import_kw", "not a finite number")])
    return ts, [float(x) for x in p], list(range(1, len(ts) + 1))


def read_load(path: Path, *, timezone: str = "") -> LoadSeries:
    """Read and check a load file (module docstring); raises :class:`ConfigError`."""
    src = str(path)
    if not path.is_file():
        raise ConfigError([Problem(src, None, "", "file not found")])
    tz = ZoneInfo(timezone) if timezone else None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        ts_l, p_l, lines = _read_csv(path, tz)
        where = "line"
    elif suffix in (".parquet", ".pq"):
        ts_l, p_l, lines = _read_parquet(path, tz)
        where = "row"
    else:
        raise ConfigError([Problem(src, None, "", f"unknown load format {suffix!r}: use .csv or .parquet")])
    if len(ts_l) < 2:
        raise ConfigError([Problem(src, None, "", "fewer than two intervals: the interval cannot be known")])
    ts = np.asarray(ts_l, dtype="datetime64[ms]")
    p = np.asarray(p_l, dtype=float)
    step: np.ndarray = np.diff(ts.astype(np.int64)) / 1000.0
    values, counts = np.unique(step, return_counts=True)
    interval = float(values[np.argmax(counts)])

    def at(i: int) -> int | None:  # the line (CSV) or row of sample i
        return lines[i] if where == "line" else None

    def label(i: int) -> str:
        return "" if where == "line" else f"row {lines[i]}"

    back = np.flatnonzero(step <= 0)
    if back.size:
        i = int(back[0]) + 1
        return_problem = Problem(src, at(i), label(i), f"time {ts[i]} does not come after {ts[i - 1]}")
        raise ConfigError([return_problem])
    if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise ConfigError(
            [Problem(src, None, "", f"interval {interval:g} s is outside {MIN_INTERVAL_S:g} s to 1 h")]
        )
    ratio = step / interval
    odd = np.flatnonzero(np.abs(ratio - np.round(ratio)) > 1e-6)
    if odd.size:
        i = int(odd[0]) + 1
        msg = f"{step[i - 1]:g} s after the previous row is not a whole number of the file's {interval:g} s"
        raise ConfigError([Problem(src, at(i), label(i), msg)])
    gaps = int(np.count_nonzero(np.round(ratio) > 1))
    return LoadSeries(ts=ts, p_import_kw=p, interval_s=interval, gaps=gaps, source=src)
