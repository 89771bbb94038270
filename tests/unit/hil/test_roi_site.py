"""A site study's year comes from the twin: interval starts on the study's calendar, the load
rebuilt from the meter books (grid + battery AC + PV − storage auxiliaries), the aging noted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil.roi_site import simulate_site_year
from hil.study import load_study

STUDY = """\
study: lab_day
load: {site: lab_rack, tick: 60 s}
storage: {energy_kwh: 47, power_kw: 30}
tariff: example_cn_north_2026
calendar: {start: "2026-07-31T12:00", days: 1}
dispatch:
  schedule: {charge_hours: [[0, 7]], discharge_hours: [[18, 21]]}
finance: {storage_capex_per_kwh: 1000, discount_rate: 0.06, horizon_years: 10}
"""


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    f = tmp_path_factory.mktemp("site") / "lab_day.yaml"
    f.write_text(STUDY)
    return simulate_site_year(load_study(f))


def test_the_intervals_follow_the_study_calendar(year) -> None:  # type: ignore[no-untyped-def]
    assert year.ts.size == 96
    assert year.ts[0] == np.datetime64("2026-07-31T12:00")
    assert np.all(np.diff(year.ts) == np.timedelta64(15, "m"))
    assert year.dt_h == 0.25


def test_the_idle_storage_leaves_the_site_load_to_the_grid(year) -> None:  # type: ignore[no-untyped-def]
    # with the storage idle (no controller) the site's own consumption is what the grid and PV give
    # less the storage's standby and auxiliaries; a GPU rack draws tens of kW, never nothing
    assert np.all(year.load_kw > 0)
    assert year.load_kw.mean() == pytest.approx(np.median(year.load_kw), rel=0.5)
    assert year.extra["ems_dispatch"] is None
    assert any("storage idle" in n for n in year.extra["notes"])
    assert 0.0 <= year.extra["fade_per_year"] < 0.2


def test_a_site_study_runs_end_to_end(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hil.cli import main

    f = tmp_path / "lab_day.yaml"
    f.write_text(STUDY)
    res = CliRunner().invoke(main, ["roi", str(f), "--out", str(tmp_path / "out"), "--no-status"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "report.html").is_file()
