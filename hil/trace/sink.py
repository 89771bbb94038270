"""Kill-safe table files for a run folder: Parquet row groups beside an Arrow IPC stream.

:class:`DualSink` writes one logical table as Parquet row groups (``x.parquet.partial``,
renamed to ``x.parquet`` at close) and, as rows arrive, as an LZ4-compressed IPC stream
(``x.arrows``) that a killed process leaves readable; :func:`read_table` reads the
Parquet file, or recovers every complete batch of the stream. Used by the trace, the
event log (:mod:`hil.trace.store`) and the long-run trace (:mod:`hil.trace.full`).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hil.trace.disk import DiskBudget

if TYPE_CHECKING:
    from twin.snapshot import Snapshot

__all__ = [
    "META_KEY",
    "WRITER_KEY",
    "DualSink",
    "partial_path",
    "read_schema",
    "read_table",
    "resolve",
    "schema_meta",
    "stream_path",
]

log = logging.getLogger("hil.trace.store")

_STREAM_SUFFIX = ".arrows"
_PARTIAL_SUFFIX = ".partial"
META_KEY = b"hil"
WRITER_KEY = b"hil.writer"
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def snapshot_columns(snap: Snapshot) -> list[str]:
    """A snapshot's columns as a trace stores them: the scalars, then ``dev[i].sig`` per unit."""
    names = list(snap.scalars)
    for key, arr in snap.arrays.items():
        dev, _, sig = key.partition(".")
        names.extend(f"{dev}[{i}].{sig}" for i in range(arr.shape[0]))
    return names


def fill_row(snap: Snapshot, row: np.ndarray, n_scalars: int, n_units: int) -> None:
    """Copy a snapshot into ``row[: n_scalars + n_units]`` in :func:`snapshot_columns` order, with a
    few vectorised copies (it runs every tick). ValueError if its signals are not the first row's."""
    try:
        row[:n_scalars] = list(snap.scalars.values())
        if n_units:
            np.concatenate(list(snap.arrays.values()), out=row[n_scalars : n_scalars + n_units])
    except ValueError as exc:
        raise ValueError(
            f"snapshot at tick {snap.tick} has different signals than the first row: {exc}"
        ) from None


def choose_columns(
    snap: Snapshot, signals: Sequence[str], full: list[str], extras: list[str]
) -> tuple[list[str], np.ndarray]:
    """The columns a trace keeps of ``full`` (:func:`snapshot_columns` and ``extras``) for
    ``signals`` (``dev[*].sig`` stands for every unit; the extras always stay), and where each
    is in ``full``. ValueError, with a did-you-mean, naming every unknown signal."""
    index = {name: i for i, name in enumerate(full)}
    units: dict[str, list[str]] = {}
    for key, arr in snap.arrays.items():
        dev, _, sig = key.partition(".")
        units[f"{dev}[*].{sig}"] = [f"{dev}[{i}].{sig}" for i in range(arr.shape[0])]
    bad = [s for s in signals if s not in index and s not in units]
    if bad:
        known = [*full, *units]
        hints = []
        for s in bad:
            close = difflib.get_close_matches(s, known, n=3)
            hints.append(f"{s!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ValueError(f"unknown signal(s) for the trace: {'; '.join(hints)}")
    chosen = list(dict.fromkeys([*(n for s in signals for n in (units.get(s) or [s])), *extras]))
    return chosen, np.array([index[s] for s in chosen], dtype=np.intp)


def stream_path(final: Path) -> Path:
    return final.with_suffix(_STREAM_SUFFIX)


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + _PARTIAL_SUFFIX)


class DualSink:
    """One logical table written as Parquet row groups plus a kill-safe IPC stream.

    The Parquet file is opened lazily so that a schema known only at the first row can be
    used; :meth:`close` finalises it and removes the stream (see the module docstring).
    """

    def __init__(
        self, final: Path, schema: pa.Schema, stats_columns: Sequence[str], budget: DiskBudget | None = None
    ) -> None:
        self.final = final
        self.budget = budget
        self.partial = partial_path(final)
        self.stream_path = stream_path(final)
        self.schema = schema
        for stale in (self.final, self.partial, self.stream_path):
            stale.unlink(missing_ok=True)
        self._pq = pq.ParquetWriter(
            self.partial,
            schema,
            compression="snappy",
            write_statistics=list(stats_columns),
        )
        self._file = pa.OSFile(str(self.stream_path), "wb")
        self._ipc = pa.ipc.new_stream(self._file, schema, options=_IPC_OPTIONS)
        self._file.flush()
        self.closed = False

    def to_stream(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            if self.budget is not None:
                self.budget.take(batch.nbytes, self.stream_path)
            self._ipc.write_batch(batch)
            self._file.flush()

    def to_parquet(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            if self.budget is not None:
                self.budget.take(batch.nbytes, self.partial)
            self._pq.write_batch(batch, row_group_size=batch.num_rows)

    def close(self, *, finalize: bool = True) -> None:
        """Close both writers; with ``finalize``, publish the Parquet file and drop the stream."""
        if self.closed:
            return
        self.closed = True
        try:
            self._pq.close()
        finally:
            self._ipc.close()
            self._file.close()
        if finalize:
            self.partial.replace(self.final)
            self.stream_path.unlink(missing_ok=True)


def resolve(out_dir: Path, name: str) -> Path:
    p = Path(out_dir)
    return p if p.suffix == ".parquet" and not p.is_dir() else p / name


def read_stream(path: Path, columns: Sequence[str] | None) -> pa.Table:
    """Every complete batch of an IPC stream; stops quietly at a batch cut short by a kill."""
    batches: list[pa.RecordBatch] = []
    with pa.OSFile(str(path), "rb") as f:
        try:
            reader = pa.ipc.open_stream(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{path}: no readable schema in the stream ({exc})") from None
        schema = reader.schema
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as exc:
                log.warning("%s: stopped at a truncated batch (killed run): %s", path, exc)
                break
            if columns is not None:
                batch = batch.select(list(columns))
            batches.append(batch)
    table = pa.Table.from_batches(batches, schema=schema)
    log.info("%s: recovered %d rows from the stream of an unfinished run", path, table.num_rows)
    return table


def read_table(out_dir: Path, name: str, columns: Sequence[str] | None) -> pa.Table:
    path = resolve(out_dir, name)
    cols = list(columns) if columns is not None else None
    if path.exists():
        try:
            return pq.read_table(path, columns=cols)
        except pa.ArrowInvalid as exc:
            if not stream_path(path).exists():
                raise
            log.warning("%s unreadable (%s); recovering from the stream", path, exc)
    stream = stream_path(path)
    if stream.exists():
        return read_stream(stream, cols)
    raise FileNotFoundError(f"neither {path} nor {stream} exists")


def read_schema(out_dir: Path, name: str) -> pa.Schema:
    """The schema (columns and metadata) of table ``name`` in a run folder, reading no row."""
    path = resolve(out_dir, name)
    if path.exists():
        with contextlib.suppress(pa.ArrowInvalid):
            return pq.read_schema(path)
    stream = stream_path(path)
    if not stream.exists():
        raise FileNotFoundError(f"neither {path} nor {stream} exists")
    with pa.OSFile(str(stream), "rb") as f:
        try:
            return pa.ipc.open_stream(f).schema
        except (pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{stream}: no readable schema in the stream ({exc})") from None


def schema_meta(schema: pa.Schema) -> dict[str, Any]:
    """The writer's ``meta`` mapping stored in a table's schema (``{}`` when there is none)."""
    raw = (schema.metadata or {}).get(META_KEY)
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except ValueError:
        log.warning("trace metadata is not JSON; ignored")
        return {}
    return meta if isinstance(meta, dict) else {"meta": meta}
