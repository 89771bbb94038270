"""The shipped scenarios catch a bad EMS: a misbehaving stand-in fails exactly the right expectations.

The good stand-in passing every shipped scenario is the scenario suite itself
(``pytest profiles/scenarios/``, collected by the plugin); here the same scenarios run through
``hil run`` with a stand-in that ignores demand response, never arms its reversion, or
over-discharges, and junit.xml must name exactly the expectations a reviewer would expect.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli import main

CASES = [
    (
        "dr_critical_peak",
        "ignore_dr",
        {
            "import stays under the 5 MW limit during the event (1 min mean)",
            "the batteries discharge for the event (30 s mean)",
        },
    ),
    ("comm_loss", "no_revert", {"the PCS reverts to 0 kW within 75 s"}),
    ("reserve_hold", "over_discharge", {"never below the 30 % reserve (1 % tolerance)"}),
]


def junit_cases(path: Path) -> dict[str, str]:
    """testcase name -> 'passed' | 'failure' | 'error'."""
    root = ET.parse(path).getroot()
    out: dict[str, str] = {}
    for tc in root.iter("testcase"):
        status = "passed"
        if tc.find("failure") is not None:
            status = "failure"
        elif tc.find("error") is not None:
            status = "error"
        out[tc.attrib["name"]] = status
    return out


@pytest.mark.parametrize(("scenario", "mode", "failing"), CASES, ids=[f"{s}-{m}" for s, m, _ in CASES])
def test_misbehaving_standin_fails_the_right_expectations(
    tmp_path: Path, scenario: str, mode: str, failing: set[str]
) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        [
            "run",
            scenario,
            "--fast",
            "--no-serve",
            "--no-status",
            "--controller",
            f"standin:{mode}",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 1, res.output
    cases = junit_cases(out / "junit.xml")
    assert {n for n, s in cases.items() if s == "failure"} == failing
    assert {n for n, s in cases.items() if s == "error"} == set()
    assert all(s == "passed" for n, s in cases.items() if n not in failing)
