"""``ui:`` in a scenario file: checked by the site file's own ``endpoints: ui:`` validator
(file, line, did-you-mean), and ``hil run`` serves the dashboard it asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
    # and without it, no dashboard
    path.write_text(SCENARIO.format(ui=""))
    proc = subprocess.run(
        [sys.executable, "-m", "hil.cli", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dashboard:" not in proc.stdout + proc.stderr
