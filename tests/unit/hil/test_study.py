"""Study files: every shipped study loads; a bad study is refused with file:line and a
did-you-mean for each problem at once, and nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.errors import ConfigError
from hil.study import load_study

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "profiles" / "studies").glob("*.yaml"))

BAD = """\
study: bad
load:
  base_kw: 5000
  windws: []
storage: {energy_kwh: 4000, power_kw: -5}
tariff: example_cn_nort_2026
dispatch: {schedule: {charge_hours: [[7, 3]]}}
finance: {discount_rate: 0.06, horizon_years: 10}
calendar: {step: 7 min, timezone: Asia/Shangai}
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_study_loads(path: Path) -> None:
    study = load_study(path)
    assert study.name == path.stem


def test_a_bad_study_names_every_problem_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    with pytest.raises(ConfigError) as ei:
        load_study(f)
    msgs = [str(p) for p in ei.value.problems]
    expected = [
        (4, "load.windws", "unknown key 'windws'; did you mean 'windows'?"),
        (5, "storage.power_kw", "greater than 0"),
        (6, "tariff", "no tariff named 'example_cn_nort_2026'; did you mean 'example_cn_north_2026'?"),
        (7, "dispatch.schedule.charge_hours", "hour window [7, 3]"),
        (9, "calendar.timezone", "did you mean 'Asia/Shanghai'?"),
        (9, "calendar.step", "step 420 s must divide 15 min"),
    ]
    for line, where, fragment in expected:
        assert any(m.startswith(f"{f}:{line}: {where}:") and fragment in m for m in msgs), (line, where, msgs)
    assert len(msgs) == len(expected)


def test_exactly_one_dispatch_and_one_load(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(
        "study: two\nload: {base_kw: 1, site: lab_rack}\nstorage: {energy_kwh: 1, power_kw: 1}\n"
        "tariff: example_cn_north_2026\ndispatch: {optimum: {}, schedule: {}}\n"
        "finance: {discount_rate: 0.06, horizon_years: 10}\n"
    )
    with pytest.raises(ConfigError) as ei:
        load_study(f)
    msgs = [str(p) for p in ei.value.problems]
    assert any(f"{f}:2: load:" in m and "exactly one of base_kw, file, site" in m for m in msgs), msgs
    assert any(f"{f}:5: dispatch:" in m and "exactly one of schedule, optimum, ems" in m for m in msgs), msgs


def test_hil_roi_refuses_a_bad_study_and_writes_nothing(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["roi", str(f), "--out", str(out), "--no-status"])
    assert res.exit_code == 2
    assert f"{f}:4: load.windws" in res.output
    assert not out.exists()


def test_hil_validate_checks_studies(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    res = CliRunner().invoke(main, ["validate", str(f), *map(str, SHIPPED)])
    assert res.exit_code == 2
    assert "(study): 6 problem(s)" in res.output
    for p in SHIPPED:
        assert f"✓ {p} (study)" in res.output


def test_a_study_refuses_a_zone_with_daylight_saving(tmp_path: Path) -> None:
    text = (ROOT / "profiles" / "studies" / "ref_a.yaml").read_text()
    f = tmp_path / "dst.yaml"
    f.write_text(text.replace("timezone: Asia/Shanghai", "timezone: Europe/Berlin"))
    with pytest.raises(ConfigError) as ei:
        load_study(f)
    (p,) = ei.value.problems
    assert "calendar.timezone" in str(p)
    assert "daylight saving" in str(p)
