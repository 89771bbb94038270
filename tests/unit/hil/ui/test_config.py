"""``ui:`` in a scenario file: checked by the site file's own ``endpoints: ui:`` validator
(file, line, did-you-mean), and ``hil run`` serves the dashboard it asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.cli import _dashboard
from hil.config import load_bench
from hil.scenario import ScenarioError, load_scenario

SCENARIO = """\
scenario: ui_from_the_file
site: lab_rack
duration: 3 s
controller: standin
{ui}
"""


def _file(tmp_path: Path, ui: str) -> Path:
    path = tmp_path / "ui_from_the_file.yaml"
    path.write_text(SCENARIO.format(ui=ui))
    return path


def test_the_ui_keys_given_are_kept(tmp_path: Path) -> None:
    sc = load_scenario(_file(tmp_path, "ui:\n  enabled: true\n  port: 0\n"))
    assert sc.ui == {"enabled": True, "port": 0}
    assert load_scenario(_file(tmp_path, "")).ui == {}


def test_a_bad_ui_block_names_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    path = _file(tmp_path, "ui:\n  enabled: 'yes'\n  prot: 8081\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path)
    got = {p.where: p for p in ei.value.problems}
    assert set(got) == {"ui.enabled", "ui.prot"}
    assert got["ui.enabled"].line == 6
    assert "true or false" in got["ui.enabled"].message
    assert got["ui.prot"].line == 7
    assert "did you mean 'port'" in got["ui.prot"].message
    assert str(got["ui.prot"]).startswith(f"{path}:7:")


def test_hil_run_serves_the_dashboard_the_scenario_asks_for(tmp_path: Path) -> None:
    path = _file(tmp_path, "ui: {enabled: true, port: 0}\n")
    args = ["run", str(path), "--fast", "--no-serve", "--no-status", "--out", str(tmp_path / "out")]
    proc = subprocess.run(
        [sys.executable, "-m", "hil.cli", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "dashboard: http://127.0.0.1:" in out
    assert "?token=" in out


def test_no_dashboard_unless_something_asks_for_one() -> None:
    _, endpoints = load_bench("lab_rack")
    assert _dashboard(endpoints, False, None, False, {}) is None
    assert _dashboard(endpoints, False, None, False, {"enabled": False, "port": 0}) is None
    assert _dashboard(endpoints, True, 0, False, {}) is not None  # --ui
    from_file = _dashboard(endpoints, False, None, False, {"enabled": True, "port": 0, "read_only": True})
    assert from_file is not None
    assert from_file.config.read_only
    assert from_file.config.port == 0
    # the options over the scenario's
    assert _dashboard(endpoints, False, 9999, False, {"enabled": True, "port": 0}).config.port == 9999
