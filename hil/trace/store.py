"""The run's columnar trace and event log, written as the run goes and readable after a kill.

Files in the run folder
-----------------------
``trace.parquet``
    ``t_s`` (float64), ``tick`` (int64), then one float64 column per signal: every scalar of
    the snapshot by name, every per-unit element as ``dev[i].sig``, then the ``extra`` keys
    (``runner.lag_s`` ...). The columns are fixed by the first appended row; ``signals=``
    keeps only the names listed (``dev[*].sig`` for every unit), plus the extras. When
    ``site.local_time_s`` is recorded, a last column ``site.local_time`` (``timestamp[s]``,
    naive local wall time, floored to the second) is derived from it at write time, so the
    trace reads as calendar time. The writer's ``meta`` is stored as JSON in the schema
    metadata under ``b"hil"``.
``events.parquet``
    ``t_s``, ``kind``, ``source``, ``target``, ``detail``, ``value`` (nullable float64) and
    ``passed`` (nullable bool): one row per scenario event, fault, write, alarm, verdict.

Kill safety: why an Arrow IPC stream next to the Parquet file
-------------------------------------------------------------
A Parquet file is only readable once its footer is written, so a SIGKILLed run would lose
the whole trace. While the run goes each flush is therefore *also* appended, as one record
batch (lz4-compressed), to an Arrow IPC **stream** (``trace.arrows``, ``events.arrows``).
The stream format has no footer: every batch is self-delimiting, so a reader gets every
complete batch and stops cleanly at a batch cut short by the kill. The Parquet file is
written live to ``trace.parquet.partial`` with :class:`pyarrow.parquet.ParquetWriter`;
:meth:`TraceWriter.close` writes its footer, renames it to ``trace.parquet`` (atomic) and
only then deletes the stream. So a folder holds either a complete ``trace.parquet`` or a
stream to recover from, at every instant, and :func:`read_trace` picks whichever exists.

Why not a stream converted at close, one file per row group or a repaired footerless file:
``docs/design-decisions.md`` (writing both costs ~35 ms per 1000-row batch of the 10k-GPU
site, off the tick path).

Data written to the OS survives SIGKILL (the page cache belongs to the kernel); surviving
a power cut would need an fsync per flush, which is not done. A folder from a killed run
keeps ``trace.arrows`` (and a footerless ``trace.parquet.partial``, ignored); the report
reads it through :func:`read_trace` like any other.

Flushing: rows are buffered in a preallocated numpy array. A Parquet row group is written
every ``row_group_rows`` rows (and on an explicit :meth:`TraceWriter.flush`). Independently,
at least every ``flush_every_s`` of wall time the rows not yet on disk are appended to the
stream, so a real-time run loses at most ~10 s to a kill without the Parquet file getting
thousands of tiny row groups (each row group costs ~80 bytes of footer per column).
Before the first row group the stream is also flushed early and small: after
:data:`FIRST_FLUSH_BYTES` (64 KB) of rows, then after twice as many each time, so even a run
on a nearly full disk (or killed in its first seconds) leaves its first rows readable.

The encoding and writing run on one background thread (``background=True``), from two
row buffers in turn: the tick pays for none of it. What that thread does while holding the
GIL takes the run's time, so it is kept to a few calls per flush (one transposed copy, one
Arrow array whose slices are the columns); Arrow and Parquet release the GIL while they
compress and write. Measured on
aidc_10k interleaved with ``Site.step()``: ~8.5 µs median, ~13 µs mean per append
including flushes (synchronous writing: ~60 µs mean). At most two flushes wait for the
thread, then :meth:`TraceWriter.append` waits (bounded memory). A failed write (disk full)
is raised in the caller at the next flush, once; :attr:`TraceWriter.rows_flushed` counts
the rows a reader would get back after a kill.

Event conventions (the report relies on these): ``kind`` is one of :data:`EVENT_KINDS`;
for ``fault_inject``/``fault_clear`` ``source`` is the fault's name, ``target`` its target
and ``detail`` its layer; for ``event`` ``source`` names the scenario event (``initial`` for
the ``initial:`` inputs) and ``target`` the input it sets, one row per input, with ``detail``
``name = value`` and ``value``; for ``write_accepted``/``write_rejected`` ``source`` is
``ems``, ``target`` the device and ``detail`` ``point = value`` (and why it was refused);
for ``input`` ``source`` is the device that pushed a twin input, ``target`` the input
(``pcs[0].p_set_kw``), ``detail`` why (a register write, a reversion, the comm-loss watchdog,
the power-on state) and ``value`` the value; for ``expectation`` ``source`` is its name and
``passed`` the verdict; for ``run`` ``detail`` is ``start``/``stop``/``interrupted``; the
twin's transitions (``alarm``, ``alarm_cleared``, ``state``, ``transfer``, ``bus``,
``chillers``, ``load``: :mod:`twin.transitions`) have ``source`` ``twin``, ``target`` the
unit (``pcs[3]``, ``grid``), ``detail`` in words (the alarm names, the state's name) and
``value`` the new alarm word, state code or count, at the start of the tick that made them.

Rows are in the order things happened. At one tick boundary that is: the EMS writes applied
there and the inputs they pushed, then the scenario's events, so of two rows at one ``t_s``
that set the same input the later row is the value the twin ran with.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from hil.trace.disk import DiskBudget
from hil.trace.full import FullTrace
from hil.trace.sink import META_KEY, WRITER_KEY, fill_row, read_schema, schema_meta, snapshot_columns
from hil.trace.sink import DualSink as _DualSink
from hil.trace.sink import choose_columns as _choose_columns
from hil.trace.sink import partial_path as _partial_path
from hil.trace.sink import read_table as _read
from hil.trace.sink import stream_path as _stream_path
from twin.transitions import TRANSITION_KINDS

if TYPE_CHECKING:
    from twin.site import Snapshot

__all__ = [
    "EVENTS_FILE",
    "EVENT_KINDS",
    "LOCAL_TIME",
    "LOCAL_TIME_S",
    "TRACE_FILE",
    "TraceWriter",
    "read_events",
    "read_trace",
    "read_trace_schema",
    "trace_meta",
]

log = logging.getLogger(__name__)

TRACE_FILE = "trace.parquet"
EVENTS_FILE = "events.parquet"
#: the snapshot signal of local wall time (float s) and the timestamp column derived from it
LOCAL_TIME_S = "site.local_time_s"
LOCAL_TIME = "site.local_time"
FORMAT_VERSION = 1
_MAX_PENDING = 2  # flushes queued for the writer thread before append waits for it
#: Size of the first stream flush: a run on a nearly full disk still leaves its first rows
#: (was one whole 1000-row group, 1.6 MB on aidc_10k, so a 200 KB disk kept nothing).
FIRST_FLUSH_BYTES = 64 * 1024

#: The event kinds the runner writes (others are accepted, the report shows them as is): its
#: own, then the twin's transitions (:data:`twin.transitions.TRANSITION_KINDS`).
EVENT_KINDS = (
    "run",
    "event",
    "fault_inject",
    "fault_clear",
    "write_accepted",
    "write_rejected",
    "input",
    "expectation",
    *TRANSITION_KINDS,
)

EVENTS_SCHEMA = pa.schema(
    [
        pa.field("t_s", pa.float64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("passed", pa.bool_()),
    ]
)


class TraceWriter:
    """Writes ``trace.parquet`` and ``events.parquet`` into ``out_dir`` as the run goes.

    :meth:`append` is called every tick and only copies numbers into a preallocated buffer
    (a few µs); encoding happens once per row group, on a writer thread. Use as a context
    manager, or call :meth:`close`, so the Parquet footers get written; if the process dies
    first, :func:`read_trace` recovers every flushed row from the stream files.

    ``flush_every_s`` bounds what a kill can lose in a slow (real-time) run;
    ``background=False`` writes in the caller instead, e.g. to know exactly what is on disk
    after each call. The writer is not thread-safe: one thread appends.
    """

    def __init__(
        self,
        out_dir: Path,
        *,
        every_ticks: int = 1,
        row_group_rows: int = 1000,
        signals: Sequence[str] | None = None,
        meta: Mapping[str, Any] | None = None,
        flush_every_s: float = 10.0,
        background: bool = True,
        full_every_ticks: int | None = None,
    ) -> None:
        if every_ticks < 1:
            raise ValueError(f"every_ticks must be >= 1, got {every_ticks}")
        if row_group_rows < 1:
            raise ValueError(f"row_group_rows must be >= 1, got {row_group_rows}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / TRACE_FILE
        self.events_path = self.out_dir / EVENTS_FILE
        self.every_ticks = int(every_ticks)
        self.row_group_rows = int(row_group_rows)
        self.flush_every_s = float(flush_every_s)
        self.meta: dict[str, Any] = dict(meta or {})
        self._signals = list(dict.fromkeys(signals)) if signals is not None else None
        # with a long-run trace (hil.trace.full), this one keeps the single-valued signals
        self._scalars_only = full_every_ticks is not None and signals is None
        self._meta_json = json.dumps(self.meta, default=str).encode()
        # a previous run's files must not pass for this run's if it dies before its first row
        for stale in (self.path, _partial_path(self.path), _stream_path(self.path)):
            stale.unlink(missing_ok=True)

        self.rows = 0
        """Rows appended (written and buffered)."""
        self.rows_flushed = 0
        """Rows on disk in a form a reader gets back after a kill (updated by the writer)."""
        self.flushes = 0
        """Number of completed flushes that put new trace rows on disk."""
        self.columns: list[str] = []
        """Signal columns (after ``t_s`` and ``tick``), fixed by the first appended row."""

        # trace buffer, allocated at the first row
        self._trace: _DualSink | None = None
        self._n_scalars = 0
        self._n_arrays = 0
        self._extras: list[str] = []
        self._take: np.ndarray | None = None
        self._local_col: int | None = None  # index of site.local_time_s among the columns
        self._scratch: np.ndarray | None = None
        self._buf = np.empty((0, 0))
        self._bufs: list[np.ndarray] = []  # the two buffers, self._buf is self._bufs[self._cur]
        self._cur = 0
        self._buf_read: list[Future[None] | None] = [None, None]  # the last job reading each buffer
        self._t = np.empty(self.row_group_rows)
        self._tick = np.empty(self.row_group_rows, dtype=np.int64)
        self._n = 0  # buffered rows
        # before the first row group, the stream is flushed at FIRST_FLUSH_BYTES of rows and
        # then at twice as many each time, so the first rows reach the disk early and small
        self._early = self.row_group_rows
        self._budget = DiskBudget.from_env()  # the ENOSPC test seam (hil.trace.disk)
        self._streamed = 0  # buffered rows already in the stream

        # events: small, kept as lists
        self._events: dict[str, list[Any]] = {name: [] for name in EVENTS_SCHEMA.names}
        self._ev_streamed = 0
        self._ev_sink = _DualSink(
            self.events_path, EVENTS_SCHEMA.with_metadata(self._metadata()), ("t_s",), self._budget
        )
        self._last_flush = time.monotonic()
        self._closed = False
        self.background = background
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self.full = (
            FullTrace(self.out_dir, full_every_ticks, meta=self._meta_json, budget=self._budget)
            if full_every_ticks is not None
            else None
        )
        """The long-run trace (every signal, min/mean/max per interval), if asked for."""
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    # -- the per-tick path --------------------------------------------------------------------
    def quiet_ticks(self, tick: int, limit: int) -> int:
        """Ticks after twin tick ``tick`` to the next row (it is :meth:`append`-ed; those before
        pass unseen, in a chunk); none while the full-width trace takes every tick."""
        return 0 if self.full is not None else min(limit, -(tick + 1) % self.every_ticks + 1)

    def append(self, snap: Snapshot, extra: Mapping[str, float] | None = None) -> None:
        """Buffer one row if ``snap.tick`` is a multiple of ``every_ticks``.

        Kept to a few vectorised copies since it runs every tick: scalars are assigned from
        the dict's values, the per-unit arrays concatenated straight into the buffer row.
        The snapshot's names and shapes must not change during the run (the site's do not).
        """
        if self.full is not None and not self._closed:
            self.full.add(snap)
        if snap.tick % self.every_ticks:
            return
        if self._closed:
            raise RuntimeError("TraceWriter is closed")
        if self._trace is None:
            self._setup(snap, extra)
        n = self._n
        self._t[n] = snap.t
        self._tick[n] = snap.tick
        row = self._buf[n] if self._take is None else self._scratch
        assert row is not None
        ns, na = self._n_scalars, self._n_arrays
        fill_row(snap, row, ns, na)
        if self._extras:
            base = ns + na
            if extra:
                for k, key in enumerate(self._extras):
                    row[base + k] = extra.get(key, math.nan)
            else:
                row[base:] = math.nan
        if self._take is not None:
            np.take(row, self._take, out=self._buf[n])
        self._n = n + 1
        self.rows += 1
        if self._n >= self.row_group_rows:
            self._early = self.row_group_rows  # the ramp is over: row groups from now on
            self._flush(parquet=True)
        elif self._n >= self._early:
            self._early *= 2
            self._flush(parquet=False)
        elif self.flush_every_s >= 0 and time.monotonic() - self._last_flush >= self.flush_every_s:
            self._flush(parquet=False)
        elif self._pending and self._pending[0].done():
            self._check_worker()  # a failed write (disk full) stops the run at the next tick

    def _setup(self, snap: Snapshot, extra: Mapping[str, float] | None) -> None:
        """Fix the columns from the first row, validate ``signals=`` and allocate the buffer."""
        if self._scalars_only:
            self._signals = list(snap.scalars)
        # the wall-clock flush counts from the first row, not from construction: a slow start
        # (servers, the OPC UA address space) must not make the first flush come early, by time
        self._last_flush = time.monotonic()
        names = snapshot_columns(snap)
        self._n_scalars = len(snap.scalars)
        self._n_arrays = len(names) - self._n_scalars
        extras = list(extra or {})
        clash = sorted({"t_s", "tick", *names} & set(extras))
        if clash:
            raise ValueError(f"extra keys clash with trace columns: {clash}")
        self._extras = extras
        full = names + extras
        if self._signals is None:
            self.columns = full
        else:
            self.columns, self._take = _choose_columns(snap, self._signals, full, extras)
            self._scratch = np.empty(len(full))
        # two buffers: the writer thread reads one row group while the next fills the other
        self._bufs = [np.empty((self.row_group_rows, len(self.columns))) for _ in range(2)]
        self._buf = self._bufs[0]
        fields = [pa.field("t_s", pa.float64(), nullable=False), pa.field("tick", pa.int64(), nullable=False)]
        # each signal column carries its declared unit (field metadata ``unit``)
        col_units = [snap.unit(c) if c not in extras else None for c in self.columns]
        fields += [
            pa.field(c, pa.float64(), metadata={"unit": u} if u else None)
            for c, u in zip(self.columns, col_units, strict=True)
        ]
        if LOCAL_TIME_S in self.columns:
            self._local_col = self.columns.index(LOCAL_TIME_S)
            fields.append(pa.field(LOCAL_TIME, pa.timestamp("s")))
        schema = pa.schema(fields, metadata=self._metadata())
        self._trace = _DualSink(self.path, schema, ("t_s", "tick"), self._budget)
        self._early = max(1, min(self.row_group_rows, FIRST_FLUSH_BYTES // (8 * (len(self.columns) + 2))))
        log.debug("trace: %d columns, row groups of %d rows", len(self.columns), self.row_group_rows)

    def _metadata(self) -> dict[bytes, bytes]:
        writer = {"format": FORMAT_VERSION, "every_ticks": self.every_ticks}
        return {META_KEY: self._meta_json, WRITER_KEY: json.dumps(writer).encode()}

    # -- events ---------------------------------------------------------------------------------
    def event(
        self,
        t_s: float,
        kind: str,
        *,
        source: str = "",
        target: str = "",
        detail: str = "",
        value: float | None = None,
        passed: bool | None = None,
    ) -> None:
        """Record one event; written with the next flush of the trace."""
        if self._closed:
            raise RuntimeError("TraceWriter is closed")
        ev = self._events
        ev["t_s"].append(float(t_s))
        ev["kind"].append(str(kind))
        ev["source"].append(str(source))
        ev["target"].append(str(target))
        ev["detail"].append(str(detail))
        ev["value"].append(None if value is None else float(value))
        ev["passed"].append(None if passed is None else bool(passed))
        if self.flush_every_s >= 0 and time.monotonic() - self._last_flush >= self.flush_every_s:
            self._flush(parquet=False)

    # -- flushing -------------------------------------------------------------------------------
    def _flush(self, *, parquet: bool, wait: bool = False) -> None:
        """Hand what is not on disk yet to the writer; with ``parquet`` also the row groups.

        Timed flushes (``parquet=False``) only touch the stream, so the Parquet row groups
        keep their size in real-time runs. The writer thread transposes the rows, builds the
        Arrow arrays, compresses and writes; the buffer it reads is not written until it is
        done (rows after ``n`` until a row group, then the other buffer)."""
        self._check_worker()
        job_trace: Callable[[], None] | None = None
        sink = self._trace
        n, s = self._n, self._streamed
        if sink is not None and (n > s or (parquet and n)):
            a = 0 if parquet else s
            t, tick = self._t[a:n].copy(), self._tick[a:n].copy()
            job_trace = partial(self._write_trace, sink, t, tick, self._buf[a:n], s - a, parquet)
            self._streamed = n

        job_events: Callable[[], None] | None = None
        ne, es = len(self._events["t_s"]), self._ev_streamed
        if ne > es or (parquet and ne):
            a = 0 if parquet else es
            rows = {k: v[a:ne] for k, v in self._events.items()}
            job_events = partial(self._write_events, rows, es - a, parquet)
            self._ev_streamed = ne
        if parquet:
            for v in self._events.values():
                v.clear()
            self._ev_streamed = 0

        self._last_flush = time.monotonic()
        if job_trace is not None or job_events is not None:
            self._submit(job_trace, job_events)
            if job_trace is not None and self._pending:
                self._buf_read[self._cur] = self._pending[-1]
        if parquet:
            self._n = self._streamed = 0
            if self._bufs:  # the next row group fills the other buffer, once nothing reads it
                self._cur = k = 1 - self._cur
                busy = self._buf_read[k]
                if busy is not None:
                    busy.exception()  # waits; a failure is raised by _check_worker as any other
                self._buf = self._bufs[k]
        if wait:
            self._drain()

    def _write_trace(
        self,
        sink: _DualSink,
        t: np.ndarray,
        tick: np.ndarray,
        rows: np.ndarray,
        first_new: int,
        parquet: bool,
    ) -> None:
        """Writer thread: rows ``first_new:`` to the stream, all rows as a row group if asked."""
        cols = np.ascontiguousarray(rows.T)
        n = cols.shape[1]
        flat = pa.array(cols.ravel())  # one Arrow array, each column a slice of it: no call per column
        local = self._local_col

        def batch(a: int) -> pa.RecordBatch:
            arrays = [
                pa.array(t[a:]),
                pa.array(tick[a:]),
                *(flat.slice(i * n + a, n - a) for i in range(len(cols))),
            ]
            if local is not None:
                arrays.append(pa.array(_local_timestamps(cols[local][a:]), type=pa.timestamp("s")))
            return pa.RecordBatch.from_arrays(arrays, schema=sink.schema)

        new = t.shape[0] - first_new
        full = batch(0) if parquet else None
        if new:
            sink.to_stream(full if full is not None and first_new == 0 else batch(first_new))
        if full is not None:
            sink.to_parquet(full)
        if new:
            with self._lock:
                self.rows_flushed += new
                self.flushes += 1

    def _write_events(self, rows: dict[str, list[Any]], first_new: int, parquet: bool) -> None:
        sink = self._ev_sink
        if len(rows["t_s"]) > first_new:
            sink.to_stream(
                pa.RecordBatch.from_pydict({k: v[first_new:] for k, v in rows.items()}, schema=sink.schema)
            )
        if parquet:
            sink.to_parquet(pa.RecordBatch.from_pydict(rows, schema=sink.schema))

    # -- the writer thread -------------------------------------------------------------------
    def _submit(self, *jobs: Callable[[], None] | None) -> None:
        def run() -> None:
            for job in jobs:
                if job is not None:
                    job()

        if not self.background:
            try:
                run()
            except Exception as exc:
                self._error = self._error or exc
                raise
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hil-trace")
        self._pending.append(self._pool.submit(run))
        # back-pressure: a writer that falls behind slows the run instead of filling memory
        while len(self._pending) > _MAX_PENDING:
            self._result(self._pending.popleft())

    def _result(self, fut: Future[None]) -> None:
        """Raise a failed write in the caller once; later failures (same cause) are only logged."""
        exc = fut.exception()
        if exc is None:
            return
        if self._error is None:
            self._error = exc
            raise exc
        log.warning("trace write failed again: %s", exc)

    def _check_worker(self) -> None:
        """Re-raise, in the caller, an error of a write that has finished (disk full...)."""
        while self._pending and self._pending[0].done():
            self._result(self._pending.popleft())

    def _drain(self) -> None:
        while self._pending:
            self._result(self._pending.popleft())

    def flush(self) -> None:
        """Write every buffered row and event as a row group of both files; returns when on disk."""
        if not self._closed:
            self._flush(parquet=True, wait=True)

    def close(self) -> None:
        """Flush, write the Parquet footers and remove the recovery streams (idempotent).

        If a write failed (raised once, where it surfaced), the files are closed but left as
        they are: ``trace.parquet`` would lack rows, the stream may still hold them.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._flush(parquet=True, wait=True)
        finally:
            try:
                self._drain()
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                if self._trace is None:
                    # no row was ever appended: still leave a readable (empty) trace
                    schema = pa.schema(
                        [
                            pa.field("t_s", pa.float64(), nullable=False),
                            pa.field("tick", pa.int64(), nullable=False),
                        ],
                        metadata=self._metadata(),
                    )
                    self._trace = _DualSink(self.path, schema, ("t_s", "tick"))
                ok = self._error is None
                if not ok:
                    log.error(
                        "trace of %s left unfinished after a failed write: %s", self.out_dir, self._error
                    )
                self._trace.close(finalize=ok)
                self._ev_sink.close(finalize=ok)
                if self.full is not None:
                    self.full.close(finalize=ok)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
def _local_timestamps(local_s: np.ndarray) -> np.ndarray:
    """Seconds since 1970-01-01 local (float) to naive ``datetime64[s]`` (NaN → NaT)."""
    out = np.full(local_s.shape, np.datetime64("NaT"), dtype="datetime64[s]")
    ok = np.isfinite(local_s)
    out[ok] = np.floor(local_s[ok]).astype(np.int64).astype("datetime64[s]")
    return out


def read_trace(out_dir: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """The trace of a run folder: ``trace.parquet``, or what a killed run left in its stream.

    ``columns`` limits what is read (``t_s`` and ``tick`` are not added by themselves);
    reading a few columns of a long, wide trace is much cheaper than reading it all.
    ``site.local_time`` comes back as ``timestamp[s]`` (Parquet itself stores it in ms).
    """
    table = _read(out_dir, TRACE_FILE, columns)
    if LOCAL_TIME in table.column_names:
        i = table.column_names.index(LOCAL_TIME)
        if table.schema.field(i).type != pa.timestamp("s"):
            field = table.schema.field(i).with_type(pa.timestamp("s"))
            table = table.set_column(i, field, table.column(i).cast(pa.timestamp("s")))
    return table


def read_events(out_dir: Path) -> pa.Table:
    """The event log of a run folder (``events.parquet``, or recovered from the stream)."""
    return _read(out_dir, EVENTS_FILE, None)


def read_trace_schema(out_dir: Path) -> pa.Schema:
    """The trace's schema (column names and metadata) without reading any row."""
    return read_schema(out_dir, TRACE_FILE)


def trace_meta(source: Path | pa.Table | pa.Schema) -> dict[str, Any]:
    """The ``meta`` mapping given to :class:`TraceWriter` (``{}`` when there is none)."""
    if isinstance(source, pa.Table):
        return schema_meta(source.schema)
    return schema_meta(source if isinstance(source, pa.Schema) else read_trace_schema(source))
