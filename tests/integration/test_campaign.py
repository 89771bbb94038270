"""``hil campaign`` on a Dask LocalCluster of two workers (loopback, bounded, stops by itself).

Each campaign runs in a subprocess, as a user runs it: the Dask client, scheduler and worker
processes are that process's, and end with it. The runs made one by one, to compare with, are
made here with the same task (:func:`hil.campaign.task.run_one`), outside Dask.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hil.campaign import load_campaign, plan_campaign
from hil.campaign.compare import compare_runs
from hil.campaign.engine import metric_names
from hil.campaign.model import CompareSpec
from hil.campaign.task import run_one
from twin.models.pcs import PcsState

HIL = [sys.executable, "-m", "hil.cli"]
TIMEOUT_S = 240

#: 40 s of lab_rack: the PCS trips at 10 s for a drawn time; the stand-in resets and restarts it
SCENARIO = """\
scenario: short_trip
site: lab_rack
duration: 40 s
controller: standin
events:
  - at: 10 s
    fault: {type: pcs_trip, target: PCS01, duration: 2 s}
expect:
  - name: the trip is seen
    state: pcs[0].state
    is: FAULT
    eventually: {after: 10 s, within: 1 s}
  - name: running again by the end
    state: pcs[0].state
    is: [RUNNING, THROTTLED]
    eventually: {after: 12 s, within: 26 s, hold: 2 s}
"""


def _write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    (tmp_path / "short_trip.yaml").write_text(SCENARIO)
    path = tmp_path / name
    path.write_text(text)
    return path


def _campaign(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*HIL, "campaign", *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"hil campaign exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _rows(out: Path) -> list[dict[str, object]]:
    return pq.read_table(out / "results.parquet").to_pylist()


def _metrics(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        {k: v for k, v in r.items() if k.startswith(("m.", "p.")) or k in ("index", "seed", "status")}
        for r in rows
    ]


SWEEP = """\
campaign: sweep
base: {scenario: short_trip.yaml}
parameters:
  events.0.fault.duration: {values: [1 s, 4 s]}
replicates: 2
seed: 11
metrics: [passed, expectations_failed, "max:grid.p_import_kw", "min:bess.soc_pct", "last:pcs[0].state"]
cluster: {workers: 2}
"""


@pytest.mark.slow
def test_a_campaign_on_two_workers_is_the_runs_made_one_by_one_and_repeats_with_its_seed(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, SWEEP)
    first, again = tmp_path / "first", tmp_path / "again"
    proc = _campaign(path, "--out", first)
    assert proc.returncode == 0, proc.stderr
    assert "4 of 4 runs finished" in proc.stdout
    _campaign(path, "--out", again)

    rows = _rows(first)
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert "on 2 workers" in proc.stdout  # the LocalCluster had its two worker processes
    assert all(str(r["worker"]).partition(":")[2].isdigit() for r in rows)  # each row says where it ran
    # replicate 0 keeps the scenario's own seed, replicate 1 has a drawn one, the same at both points
    assert [r["seed"] for r in rows][0::2] == [None, None]
    assert rows[1]["seed"] == rows[3]["seed"] is not None
    # the same campaign, the same results: to the bit
    assert _metrics(_rows(again)) == _metrics(rows)

    # and the same as each run made one by one, here, outside Dask
    runs = plan_campaign(load_campaign(path))
    alone = [run_one(spec, str(tmp_path / "alone")) for spec in runs]
    for row, one in zip(rows, alone, strict=True):
        assert one["status"] == "ok", one["error"]
        assert {f"m.{k}": v for k, v in one["metrics"].items()} == {
            k: v for k, v in row.items() if k.startswith("m.")
        }
    # the metrics are real: the trace's own figures, not defaults
    assert all(r["m.passed"] == 1.0 for r in rows)
    running = {float(PcsState.RUNNING), float(PcsState.THROTTLED)}
    assert {r["m.last:pcs[0].state"] for r in rows} <= running
    # the report with its worst runs linked to their own reports
    html = (first / "report.html").read_text()
    assert "the ten worst runs" in html
    assert (first / "runs" / "00000" / "report.html").exists()


def test_a_killed_campaign_resumes_without_redoing_finished_runs_and_a_failing_run_is_a_row(
    tmp_path: Path,
) -> None:
    # six runs; the state of charge 1.7 is refused when its run builds the site (not before:
    # only the run can tell), so runs 2 and 3 fail and the rest must complete
    path = _write(
        tmp_path,
        SWEEP.replace(
            "events.0.fault.duration: {values: [1 s, 4 s]}",
            "site_params.battery.soc0: {values: [0.5, 1.7, 0.8]}",
        ),
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*HIL, "campaign", str(path), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the Dask workers too
    )
    parts = out / "parts"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while len(list(parts.glob("*.parquet"))) < 2:
            assert proc.poll() is None, "the campaign ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    before = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    assert 2 <= len(before) < 6
    failing_left = len({"00002.parquet", "00003.parquet"} - set(before))

    resumed = _campaign(path, "--out", out)
    assert resumed.returncode == 0, resumed.stderr  # failed runs are rows, not a failed campaign
    done_now = f"({len(before)} found in the folder, {6 - len(before)} run now, {failing_left} failed)"
    assert done_now in resumed.stdout
    for run_id in ("00002", "00003"):  # a failure is said as it happens, by the run that had it
        assert (f"run {run_id} failed" in resumed.stderr) == (f"{run_id}.parquet" not in before)
    after = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    assert len(after) == 6
    assert all(after[name] == t for name, t in before.items())  # not one finished run redone
    rows = _rows(out)
    assert [r["index"] for r in rows] == list(range(6))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed", "ok", "ok"]
    assert all("soc0" in str(r["error"]) for r in rows[2:4])
    assert rows[2]["m.passed"] is None
    assert all(r["m.passed"] == 1.0 for r in rows if r["status"] == "ok")
    assert "failed runs (2)" in (out / "report.html").read_text()

    # a folder of this campaign with another plan is refused, not mixed in
    other = path.with_name("other.yaml")
    other.write_text(path.read_text().replace("seed: 11", "seed: 12"))
    refused = _campaign(other, "--out", out, check=False)
    assert refused.returncode == 2
    assert "another plan" in refused.stderr


REGRESSION = """\
campaign: regression
base: {scenarios: [comm_loss]}
parameters:
  controller: {values: [standin, "standin:good", "standin:no_revert"]}
compare: {parameter: controller, baseline: standin, candidate: "standin:no_revert"}
cluster: {workers: 2}
"""


@pytest.mark.slow
def test_the_regression_report_flags_a_deliberately_worse_ems(tmp_path: Path) -> None:
    path = _write(tmp_path, REGRESSION)
    out = tmp_path / "out"
    proc = _campaign(path, "--out", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # a regression fails the command (CI)
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["pairs"] == 1
    regressed = {f["what"] for f in cmp["regressions"]}
    assert "expectation: the PCS reverts to 0 kW within 75 s" in regressed
    assert "regression(s)" in proc.stdout
    assert "the PCS reverts to 0 kW within 75 s" in (out / "report.html").read_text()

    # the same EMS on both sides (standin and standin:good, run apart): nothing to flag
    spec = CompareSpec(parameter="controller", baseline="standin", candidate="standin:good")
    same = compare_runs(pq.read_table(out / "results.parquet"), spec, metric_names(load_campaign(path)))
    assert same.pairs == 1
    assert same.regressions == []
    assert same.improvements == []


EXTERNAL = """\
campaign: two_versions
base: {scenario: import_limit.yaml}
parameters:
  external.command: {values: [V1, V2]}
external: {command: ["{python}"], speed: 6}
compare: {parameter: external.command, baseline: V1, candidate: V2}
cluster: {workers: 2}
"""
LIMIT = """\
scenario: import_limit
site: lab_rack
duration: 60 s
controller: standin   # replaced by the external EMS
expect:
  - name: import under 30 kW (10 s mean)
    signal: grid.p_import_kw
    mean: 10 s
    lt: 30 kW
    always: {from: 30 s}
"""


@pytest.mark.slow
def test_two_versions_of_an_external_ems_are_compared_over_modbus(tmp_path: Path) -> None:
    """The shipped example EMS (examples/ems_client.py) in its own process per run, on the run's
    own loopback port at 6x real time: configured to hold the import under 20 kW (v1) it
    passes; under 80 kW (v2, a wrong setting) it does not, and the comparison says so."""
    (tmp_path / "import_limit.yaml").write_text(LIMIT)

    def version(limit_kw: int) -> str:
        ems = str(Path(__file__).resolve().parents[2] / "examples" / "ems_client.py")
        argv = ["{python}", ems, "--port", "{modbus_port}", "--limit-kw", str(limit_kw)]
        return json.dumps([*argv, "--seconds", "{wall_s}", "--period", "0.2"])

    path = tmp_path / "c.yaml"
    path.write_text(EXTERNAL.replace("V1", version(20)).replace("V2", version(80)))
    out = tmp_path / "out"
    proc = _campaign(path, "--out", out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _rows(out)
    assert [r["m.passed"] for r in rows] == [1.0, 0.0]
    for r in rows:  # each EMS ran against its own run's port and was stopped with it
        detail = json.loads(str(r["detail"]))
        assert detail["external"]["exit"] is not None
        assert "--port" in detail["external"]["command"]
        port = detail["external"]["command"][detail["external"]["command"].index("--port") + 1]
        assert port.isdigit()
        assert port != "0"
        log = (out / str(r["dir"]) / "ems.log").read_text()
        assert "setpoint" in log  # it read the meter and wrote setpoints over Modbus
    cmp = json.loads((out / "comparison.json").read_text())
    assert {f["what"] for f in cmp["regressions"]} >= {"expectation: import under 30 kW (10 s mean)"}
