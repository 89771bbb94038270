"""Nothing lost when a run ends badly: a full disk and a failing solver.

Both go through ``hil run`` in-process (Click's runner, ``--fast``, the 3-minute lab_rack
scenario ``pcs_trip_recovery``). The disk fills through the ``HIL_TEST_DISK_BYTES`` seam
(:mod:`hil.trace.disk`); the solver fails by a NaN put into the battery state at a chosen
simulated time, which the twin's finiteness check turns into a
:class:`twin.errors.SolverError`. Signals (SIGKILL, SIGTERM, Ctrl-C) are in
``tests/scenarios/test_cli_run.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from hil import cli
from hil.cli_os import EXIT_OS
from hil.config import load_site
from hil.run.runner import Runner
from hil.trace.disk import ENV
from hil.trace.store import FIRST_FLUSH_BYTES, TraceWriter, read_events, read_trace
from twin.site import Site

SCENARIO = "pcs_trip_recovery"  # lab_rack, 3 min


def run(out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["run", SCENARIO, "--fast", "--no-status", "--out", str(out)])
    return result.exit_code, result.output


def results_rows(out: Path) -> int:
    results = json.loads((out / "results.json").read_text())
    return round(results["simulated_s"] / results["tick_s"])


def test_the_first_rows_reach_the_disk_early_and_small(tmp_path: Path) -> None:
    site = load_site("lab_rack")
    tw = TraceWriter(tmp_path, background=False, flush_every_s=-1)
    tw.append(site.step())
    first = max(1, FIRST_FLUSH_BYTES // (8 * (len(tw.columns) + 2)))
    for _ in range(first - 1):
        assert tw.rows_flushed == 0
        tw.append(site.step())
    assert tw.rows_flushed == first  # on disk after ~64 KB of rows, not after a row group
    assert read_trace(tmp_path).num_rows == first
    # 89 rows, ~25 KB with the stream's header; it was the first 1000-row group, ~175 KB
    # (aidc_10k: 6 rows, ~200 KB, was ~2.4 MB: docs/reliability.md)
    assert (tmp_path / "trace.arrows").stat().st_size < FIRST_FLUSH_BYTES
    sizes = []
    while tw.rows < tw.row_group_rows:
        before = tw.rows_flushed
        tw.append(site.step())
        if tw.rows_flushed > before:
            sizes.append(tw.rows_flushed - before)
    assert sizes[:2] == [first, 2 * first]  # then twice as many each time, up to a row group
    tw.close()
    assert read_trace(tmp_path).num_rows == tw.row_group_rows


def test_a_full_disk_at_the_start_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hil.run.runner

    def no_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run started")

    monkeypatch.setattr(hil.run.runner, "run_scenario", no_run)
    monkeypatch.setenv(ENV, "0")  # works as root, unlike a chmod-ed folder
    out = tmp_path / "run"
    code, text = run(out)
    assert code == EXIT_OS, text
    assert "disk is full" in text, text
    assert str(out) in text, text
    assert not (out / "trace.arrows").exists()


def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    # room for the first flush (89 rows, 65 KB before compression) but not the second: a disk
    # this small used to keep nothing, as the first flush was a whole 1000-row group
    monkeypatch.setenv(ENV, str(100_000))
    code, text = run(out)
    assert code == EXIT_OS, text
    assert "disk is full" in text, text
    assert str(out / "trace") in text, text  # names the file it could not write
    assert "Traceback" not in text
    trace = read_trace(out)
    assert 0 < trace.num_rows < 200  # the rows before the disk filled are kept; the run stopped
    # stopped once the failed (second) flush was known, not at the writer's next flush (the
    # early flushes double: the third would come at 4x the first's rows). How many ticks run
    # while the writer thread fails depends on the tick's speed, so that is the bound.
    assert 2 * trace.num_rows <= results_rows(out) < 4 * trace.num_rows
    t = trace.column("t_s").to_numpy()
    assert (np.diff(t) > 0).all()
    assert read_events(out).num_rows > 0
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True
    assert results["passed"] is False
    assert results["error"].startswith("OSError: [Errno 28] No space left"), results["error"]
    assert (out / "report.html").is_file()


def test_a_solver_failure_keeps_the_last_good_state_and_names_device_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import twin.integrate

    fail_at = 4.2
    check = twin.integrate._check_finite
    seen: dict[str, Any] = {}

    def poisoned(site: Site, t0: float, finite: bool | None = None) -> None:
        if t0 >= fail_at and "good" not in seen:
            seen["good"] = site.battery.state.soc.copy()  # the state before the failing step's integration
            seen["before"] = seen["good"]
            site.battery.state.soc[0] = math.nan
            finite = None  # poisoned after the end current looked: look again
        check(site, t0, finite)

    def step_once(self: Site) -> None:
        if self.t >= fail_at and "saved" not in seen:
            seen["saved"] = self.battery.state.soc.copy()
        try:
            original(self)
        finally:
            seen["after"] = self.battery.state.soc.copy()

    original = Site._step_once
    monkeypatch.setattr(twin.integrate, "_check_finite", poisoned)
    monkeypatch.setattr(Site, "_step_once", step_once)
    # every tick through Site._step_once, where the failure is injected (a chunk leaves a
    # non-finite tick to that path: tests/unit/twin/test_chunk.py)
    monkeypatch.setattr(Runner, "quiet_ticks", lambda self, limit, acted=False: (0, False))
    out = tmp_path / "run"
    code, text = run(out)
    assert code == cli.EXIT_SOLVER, text
    assert "Traceback" not in text, text
    assert "'bess'" in text, text
    assert "t = 4.200 s" in text, text
    results = json.loads((out / "results.json").read_text())
    assert results["solver_failure"]["device"] == "bess"
    assert results["solver_failure"]["t_s"] == pytest.approx(fail_at)
    assert results["simulated_s"] == pytest.approx(fail_at)
    assert results["passed"] is False
    # the last good state is kept: the state after the failed step is the state before it
    assert np.array_equal(seen["after"], seen["saved"])
    assert np.isfinite(seen["after"]).all()
    trace = read_trace(out)
    assert trace.column("t_s").to_numpy()[-1] <= fail_at
    assert (out / "report.html").is_file()
    assert "t=4.200 s: non-finite" in (out / "report.html").read_text()


def _serve_with_a_port_held(tmp_path: Path, *args: str) -> str:
    """``hil serve lab_rack ARGS`` while a loopback port is held; ``{port}`` in ARGS is that
    port. Asserts exit 3 (cannot bind) and returns what it printed."""
    import socket
    import subprocess
    import sys

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = str(held.getsockname()[1])
        argv = ["serve", "lab_rack", *(port if a == "{port}" else a for a in args)]
        proc = subprocess.run(
            [sys.executable, "-m", "hil.cli", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert "cannot bind" in out
    return out


def test_a_port_in_use_says_how_to_choose_another(tmp_path: Path) -> None:
    out = _serve_with_a_port_held(tmp_path, "--modbus-port", "{port}", "--opcua-port", "0")
    assert "--modbus-port N --opcua-port N (and --ui-port N for the dashboard; 0 = any free port)" in out


def test_a_dashboard_port_in_use_exits_3_before_the_clock_starts(tmp_path: Path) -> None:
    out = _serve_with_a_port_held(
        tmp_path, "--modbus-port", "0", "--opcua-port", "0", "--ui", "--ui-port", "{port}"
    )
    assert "--ui-port N" in out
    assert "serving lab_rack" not in out  # nothing ran
