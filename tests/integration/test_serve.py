"""`hil serve`: every endpoint printed with its bound URL, a clean stop, tick lateness reported."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_hil_serve_prints_every_endpoint_and_stops_by_itself() -> None:
    # 3 simulated seconds at 10x: 0.3 s of wall clock once the servers are up
    res = subprocess.run(
        [str(BIN / "hil"), "serve", "lab_rack", "--modbus-port", "0", "--opcua-port", "0",
         "--speed", "10", "--duration", "3"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    units = re.findall(r"^modbus://127\.0\.0\.1:(\d+)/(\d+)\s+(\S+)", out, flags=re.M)
    assert {(u, name) for _, u, name in units} == {
        ("1", "GridMeter"),
        ("2", "Utility"),
        ("3", "Totals"),
        ("10", "PCS01"),
    }
    assert len({port for port, _, _ in units}) == 1  # gateway layout: one port
    assert int(units[0][0]) > 0
    assert re.search(r"^opc\.tcp://127\.0\.0\.1:\d+/aidc-hil\s", out, flags=re.M)  # endpoints.opcua.path
    assert "stopped at t = 3.0 s after 30 ticks" in out
    # it says what it does while the address space is built, and how long that took
    building = out.index("building the gateway and the OPC UA address space for lab_rack")
    assert building < out.index("ready in ")
    assert "tick lateness p50" in out


def test_hil_serve_bad_site_exits_2_without_serving() -> None:
    res = subprocess.run(
        [str(BIN / "hil"), "serve", "aidc_10", "--modbus-port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert "did you mean 'aidc_10k'" in res.stderr
    assert "modbus://" not in res.stdout
