"""The soak and out-of-process fuzz tools, for a few seconds each (the long runs and their
figures are in docs/reliability.md): every client process is served without an error, the
server's samples and plot are written, the attackers in their own process change nothing."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.mark.timeout(120)
def test_soak_serves_every_client_process_and_records_the_server(tmp_path: Path) -> None:
    out = tmp_path / "soak"
    cmd = [
        sys.executable,
        str(TOOLS / "soak.py"),
        "--realtime",
        "--wall-hours",
        "0.003",
        "--site",
        "lab_rack",
    ]
    cmd += ["--modbus-clients", "2", "--opcua-vars", "20", "--sample-s", "1", "--warmup-s", "0"]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["clients_finished"] == 3  # two Modbus clients and the OPC UA subscriber
    assert s["modbus_requests"] > 10
    assert s["modbus_errors"] == s["modbus_exceptions"] == s["opcua_errors"] == 0
    assert s["opcua_subscribed"] == 20
    assert s["opcua_notifications"] > 0
    assert s["writes_accepted"] > 0  # the writing client's heartbeats reached the gateway
    assert s["writes_rejected"] == 0
    assert s["ticks"] == round(0.003 * 3600 / 0.1)
    assert s["after_warmup"]["late_max_ms"] >= s["after_warmup"]["late_p99_ms"] >= 0
    with (out / "series.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 5
    assert all(float(r["rss_mb"]) > 0 and int(r["fds"]) > 0 for r in rows)
    assert (out / "soak.png").stat().st_size > 10_000


@pytest.mark.timeout(120)
def test_fuzz_with_the_attackers_in_another_process(tmp_path: Path) -> None:
    report = tmp_path / "fuzz.json"
    cmd = [sys.executable, str(TOOLS / "fuzz_modbus_oop.py"), "--frames", "2000", "--rounds", "1"]
    cmd += ["--seed", "3", "--json", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rep = json.loads(report.read_text())
    assert rep["problems"] == []
    assert rep["frames_sent"] == 2000
    assert rep["writes_accepted"] == 0
    assert rep["twin_identical"] is True
    assert rep["ticks"] > 10  # the server's clock ran in its own process
    assert rep["fds_after"] <= rep["fds_before"]
    assert rep["server"]["requests"] > 1000
