"""The run trace: exact round trip, selection, events, and what survives a SIGKILL."""

from __future__ import annotations

import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from hil.config import load_site
from hil.trace.store import TraceWriter, _DualSink, read_events, read_trace, read_trace_schema, trace_meta
from twin.site import Snapshot

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def snaps() -> list[Snapshot]:
    site = load_site("lab_rack")
    return [site.step() for _ in range(300)]


@pytest.mark.parametrize("background", [True, False])
def test_round_trip_is_exact(tmp_path: Path, snaps: list[Snapshot], background: bool) -> None:
    meta = {"scenario": "unit", "seed": 1}
    with TraceWriter(tmp_path, row_group_rows=64, meta=meta, background=background) as w:
        for k, s in enumerate(snaps):
            w.append(s, {"runner.lag_s": k * 1e-3})
    assert w.rows == len(snaps)
    assert not (tmp_path / "trace.arrows").exists(), "the recovery stream is removed at close"
    assert pq.ParquetFile(tmp_path / "trace.parquet").metadata.num_row_groups == math.ceil(300 / 64)

    table = read_trace(tmp_path)
    first = snaps[0]
    names = list(first.to_dict())
    # the local wall-clock timestamp column is derived from site.local_time_s, last
    assert table.column_names == ["t_s", "tick", *names, "runner.lag_s", "site.local_time"]
    assert table.schema.field("tick").type == "int64"
    cols = table.to_pydict()
    assert cols["t_s"] == [s.t for s in snaps]
    assert cols["tick"] == [s.tick for s in snaps]
    for name in names:
        # bit-exact, NaN included (a reclose check reads NaN until the first reclose)
        np.testing.assert_array_equal(np.array(cols[name]), np.array([s[name] for s in snaps]), name)
    assert cols["runner.lag_s"] == [k * 1e-3 for k in range(300)]
    assert trace_meta(tmp_path) == meta
    assert trace_meta(table) == meta


def test_every_ticks_and_missing_extra(tmp_path: Path, snaps: list[Snapshot]) -> None:
    with TraceWriter(tmp_path, every_ticks=10, row_group_rows=7) as w:
        for s in snaps:
            w.append(s, {"runner.lag_s": 1.0} if s.tick % 20 else None)
    table = read_trace(tmp_path, columns=["tick", "runner.lag_s"])
    ticks = table["tick"].to_pylist()
    assert ticks == [s.tick for s in snaps if s.tick % 10 == 0]
    assert len(ticks) == 30
    lag = table["runner.lag_s"].to_numpy()
    assert np.isnan(lag[1::2]).all()  # rows without the extra hold NaN, not a stale value
    assert (lag[::2] == 1.0).all()
    assert w.rows == 30


def test_signals_selection_and_error(tmp_path: Path, snaps: list[Snapshot]) -> None:
    sel = ["bess.soc_pct", "grid.p_import_kw", "pcs[0].p_ac_kw"]
    with TraceWriter(tmp_path, signals=sel) as w:
        for s in snaps[:50]:
            w.append(s, {"runner.lag_s": 0.5})
    table = read_trace(tmp_path)
    assert table.column_names == ["t_s", "tick", *sel, "runner.lag_s"]
    for name in sel:
        assert table[name].to_pylist() == [s[name] for s in snaps[:50]]

    star = TraceWriter(tmp_path / "star", signals=["bess[*].soc_pct", "grid.f_hz"], background=False)
    star.append(snaps[0])
    star.close()
    n_units = snaps[0].arrays["bess.soc_pct"].shape[0]
    assert star.columns == [*(f"bess[{i}].soc_pct" for i in range(n_units)), "grid.f_hz"]

    bad = TraceWriter(tmp_path / "bad", signals=["grid.p_imprt_kw", "pcs[0].p_ac_kw"])
    with pytest.raises(ValueError, match=r"grid\.p_imprt_kw.*did you mean grid\.p_import_kw"):
        bad.append(snaps[0])
    bad.close()


def test_events_round_trip_with_nulls(tmp_path: Path, snaps: list[Snapshot]) -> None:
    with TraceWriter(tmp_path, row_group_rows=10) as w:
        w.event(0.0, "run", detail="start")
        for s in snaps[:25]:
            w.append(s)
        w.event(1.5, "fault_inject", source="pcs_trip", target="PCS03", detail="physics")
        w.event(2.0, "write_rejected", source="modbus", target="WMaxLimPct", value=120.0, detail="range")
        w.event(3.0, "expectation", source="soc ok", value=55.2, passed=False)
    ev = read_events(tmp_path)
    assert ev.schema.field("passed").type == "bool"
    assert ev.to_pylist() == [
        {
            "t_s": 0.0,
            "kind": "run",
            "source": "",
            "target": "",
            "detail": "start",
            "value": None,
            "passed": None,
        },
        {
            "t_s": 1.5,
            "kind": "fault_inject",
            "source": "pcs_trip",
            "target": "PCS03",
            "detail": "physics",
            "value": None,
            "passed": None,
        },
        {
            "t_s": 2.0,
            "kind": "write_rejected",
            "source": "modbus",
            "target": "WMaxLimPct",
            "detail": "range",
            "value": 120.0,
            "passed": None,
        },
        {
            "t_s": 3.0,
            "kind": "expectation",
            "source": "soc ok",
            "target": "",
            "detail": "",
            "value": 55.2,
            "passed": False,
        },
    ]


def test_close_without_rows_leaves_readable_files(tmp_path: Path) -> None:
    w = TraceWriter(tmp_path)
    w.close()
    w.close()  # idempotent
    assert read_trace(tmp_path).column_names == ["t_s", "tick"]
    assert read_events(tmp_path).num_rows == 0


def test_timed_flush_streams_but_keeps_row_groups_whole(tmp_path: Path, snaps: list[Snapshot]) -> None:
    w = TraceWriter(tmp_path, row_group_rows=100, flush_every_s=0.0, background=False)
    for s in snaps[:150]:
        w.append(s)
    assert w.rows_flushed == 150  # every row is on disk at once...
    assert read_trace(tmp_path).num_rows == 150  # ...and readable from the stream while running
    w.close()
    # ...but the Parquet file still gets row groups of row_group_rows
    assert pq.ParquetFile(tmp_path / "trace.parquet").metadata.num_row_groups == 2


def test_a_slow_writer_thread_reads_rows_nobody_overwrote(
    tmp_path: Path, snaps: list[Snapshot], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer thread transposes a row group's rows from the buffer it was handed, after
    append has gone on: a thread that lags must still read the rows as appended (the next row
    group fills the other buffer, which is only reused once its last reader is done)."""
    slow = TraceWriter._write_trace

    def lagging(self: TraceWriter, *args: object) -> None:
        time.sleep(0.02)  # the rows appended meanwhile must not land in the rows read here
        slow(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(TraceWriter, "_write_trace", lagging)
    with TraceWriter(tmp_path, row_group_rows=16, flush_every_s=-1.0) as w:
        for k, s in enumerate(snaps):
            w.append(s, {"runner.lag_s": float(k)})
    cols = read_trace(tmp_path).to_pydict()
    assert cols["tick"] == [s.tick for s in snaps]
    assert cols["runner.lag_s"] == [float(k) for k in range(len(snaps))]
    for name in ("bess.soc_pct", "site.p_it_kw", "pcs[0].p_ac_kw"):
        np.testing.assert_array_equal(np.array(cols[name]), np.array([s[name] for s in snaps]), name)


def test_writer_error_surfaces(
    tmp_path: Path, snaps: list[Snapshot], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write on the writer thread is raised in the caller, not lost."""

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_DualSink, "to_parquet", fail)
    w = TraceWriter(tmp_path, row_group_rows=10)
    with pytest.raises(OSError, match="disk full"):  # noqa: PT012 (raised where it surfaces)
        for s in snaps[:100]:
            w.append(s)
        w.close()
    w.close()  # idempotent after a failure
    # the row groups that failed are not published as a complete trace.parquet
    assert not (tmp_path / "trace.parquet").exists()
    assert read_trace(tmp_path).num_rows == w.rows  # the stream still has every row


def test_truncated_stream_keeps_complete_batches(tmp_path: Path, snaps: list[Snapshot]) -> None:
    """A kill in the middle of writing a batch: the batches before it are recovered."""
    w = TraceWriter(tmp_path, row_group_rows=40, background=False)
    for s in snaps[:80]:
        w.append(s)
    stream = tmp_path / "trace.arrows"
    size = stream.stat().st_size
    with stream.open("r+b") as f:
        f.truncate(size - 100)
    table = read_trace(tmp_path)
    assert table["tick"].to_pylist() == [s.tick for s in snaps[:40]]
    assert "grid.f_hz" in read_trace_schema(tmp_path).names


KILLED_CHILD = r"""
import sys, time
from pathlib import Path
from hil.config import load_site
from hil.trace.store import TraceWriter

out = Path(sys.argv[1])
site = load_site("lab_rack")
w = TraceWriter(out, row_group_rows=20, flush_every_s=3600.0, meta={"scenario": "killed"})
w.event(0.0, "run", detail="start")
reported = 0
while w.flushes < 3:
    w.append(site.step())
    if w.rows_flushed != reported:  # a flush finished on the writer thread
        reported = w.rows_flushed
        print("flushed", reported, flush=True)
if w.rows_flushed != reported:  # the third flush finished between the check and the loop test
    print("flushed", w.rows_flushed, flush=True)
w.event(site.t, "alarm", source="child", detail="last")
w.flush()  # waits: whatever was still queued is on disk now
for _ in range(7):  # buffered, never flushed: lost by the kill
    w.append(site.step())
w.event(site.t, "alarm", source="child", detail="lost")
print("ready", w.rows_flushed, flush=True)
time.sleep(60)
"""


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("child did not report in time")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"child exited early: {proc.wait()}")
            return line.strip()


def test_sigkill_keeps_every_flushed_row(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30.0
        flushed: list[int] = []
        while not (line := _read_line(proc, deadline)).startswith("ready"):
            flushed.append(int(line.split()[1]))
        on_disk = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    assert flushed, "the child reported no flush"
    assert flushed == sorted(flushed)
    assert flushed[-1] >= 60  # three row groups of 20
    assert on_disk >= flushed[-1]
    assert not (tmp_path / "trace.parquet").exists()
    table = read_trace(tmp_path)
    assert table.num_rows == on_disk  # every flushed row, none of the 7 buffered ones
    t = table["t_s"].to_numpy()
    assert np.all(np.diff(t) > 0)
    assert trace_meta(table) == {"scenario": "killed"}
    # events flushed with the trace are back too (the last alarm was logged after the last flush)
    ev = read_events(tmp_path)
    assert ev["detail"].to_pylist() == ["start", "last"]
