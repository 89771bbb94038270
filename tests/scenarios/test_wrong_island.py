"""The outage scenarios catch a wrong island: the old outage model, kept here as a fixture.

The fixture is the site as the twin modelled it before issue 9, rebuilt from parameters: no
UPS (every rack on the bus), six 2.5 MW droop-only gensets (15 MW, short of the peak facility
load), load damping D = 1 pu, no sync check at reclose and the gensets dropped at once when
the grid is back. The shipped scenarios, unchanged, must fail it on exactly what a power
engineer would point at, and pass the shipped site.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hil.cli import main
from hil.config import find_profile

WRONG_ISLAND = {
    "ups": None,
    "genset": {"n_units": 6, "p_rated_kw": 2500.0, "governor": "droop", "unload_kw_per_s": 1.0e6},
    "grid": {"damping_pu": 1.0},
    "pms": {"sync_check": False},
}

CASES = {
    "grid_outage": {
        "no GPU rack goes dark",
        "no GPU-hour is lost",
        "the UPS carries the racks at once",
        "the UPS keeps half its energy",
        "isochronous — nominal frequency after the pick-up (30 s mean within ±0.1 Hz)",
        "reclosed inside the phase window (10°)",
        "reclosed inside the slip window (0.1 Hz)",
        "the gensets unload softly (between 1 and 10 MW for 3 s running)",
    },
    "retransfer": {
        "no GPU rack goes dark",
        "reclosed inside the phase window (10°)",
        "the gensets unload softly (between 1 and 10 MW for 3 s running)",
    },
}


def junit_cases(path: Path) -> dict[str, str]:
    """testcase name -> 'passed' | 'failure' | 'error'."""
    out: dict[str, str] = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        failed, errored = tc.find("failure") is not None, tc.find("error") is not None
        out[tc.attrib["name"]] = "failure" if failed else "error" if errored else "passed"
    return out


def _wrong(scenario: str, tmp: Path) -> Path:
    data = yaml.safe_load(find_profile("scenarios", scenario).read_text(encoding="utf-8"))
    data["site_params"] = {**data.get("site_params", {}), **WRONG_ISLAND}
    path = tmp / f"{scenario}_wrong_island.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("scenario", list(CASES))
def test_a_wrong_island_fails_the_outage_scenario(tmp_path: Path, scenario: str) -> None:
    out = tmp_path / "run"
    res = CliRunner().invoke(
        main,
        ["run", str(_wrong(scenario, tmp_path)), "--fast", "--no-serve", "--no-status", "--out", str(out)],
    )
    assert res.exit_code == 1, res.output
    cases = junit_cases(out / "junit.xml")
    failed = {n for n, s in cases.items() if s == "failure"}
    assert failed == CASES[scenario], sorted(failed)
