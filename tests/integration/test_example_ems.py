"""The shipped external EMS example (examples/ems_client.py) against `hil serve`, as a vendor
would run it: two processes, Modbus TCP on loopback, nothing shared but the wire.

The example must find the models, start the PCS and hold the site's import at its limit by
discharging; the test reads what it printed (import, PCS power, setpoint, InvSt per period).
The rack idles (lab_rack with ``gpu.initial_state: idle``), so the draw is steady and the
import must settle on the limit; a training rack swings faster than a 0.25 s loop can follow.
Bounded: the bench stops by itself after 90 simulated seconds (9 s of wall clock at 10x) and
the example after 4 s.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LIMIT_KW = 5.0
LINE = re.compile(r"import\s+(-?[\d.]+) kW\s+pcs\s+(-?[\d.]+) kW\s+setpoint\s+(-?[\d.]+) kW\s+InvSt (\d+)")


def test_example_ems_shaves_the_peak_over_modbus(tmp_path: Path) -> None:
    site = yaml.safe_load((ROOT / "profiles/sites/lab_rack.yaml").read_text())
    site["gpu"]["initial_state"] = "idle"
    site_file = tmp_path / "lab_rack_idle.yaml"
    site_file.write_text(yaml.safe_dump(site))
    serve = subprocess.Popen(
        [str(BIN / "hil"), "serve", str(site_file), "--modbus-port", "0", "--opcua-port", "0",
         "--speed", "10", "--duration", "90", "--no-status"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        port = None
        deadline = time.monotonic() + 120.0
        assert serve.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = serve.stdout.readline()
            if not line:
                break
            m = re.match(r"modbus://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        assert port is not None, "hil serve printed no Modbus endpoint"
        res = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "ems_client.py"), "--port", str(port),
             "--limit-kw", str(LIMIT_KW), "--seconds", "4", "--period", "0.25"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        serve.terminate()
        serve.communicate(timeout=30)  # drains and closes its pipes
    assert res.returncode == 0, res.stderr
    rows = [tuple(float(x) for x in m.groups()) for m in LINE.finditer(res.stdout)]
    assert len(rows) >= 8, res.stdout
    first_import = rows[0][0]
    assert first_import > LIMIT_KW + 3.0, f"nothing to shave: the idle rack imports {first_import} kW"
    assert all(int(r[3]) in (2, 3, 4, 7) for r in rows)  # STARTING, RUNNING, THROTTLED, STANDBY
    late = rows[len(rows) // 2 :]
    # the PCS discharges what was above the limit, and the import sits on the limit
    assert statistics.median(r[1] for r in late) > first_import - LIMIT_KW - 1.0, res.stdout
    assert all(abs(r[0] - LIMIT_KW) < 1.0 for r in late), res.stdout
