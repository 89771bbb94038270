"""Scenario files: parsing, every error with file, line and suggestion, and the player's semantics."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from hil.config import load_bench
from hil.faults import FAULTS, catalogue_markdown
from hil.run.play_actions import SCHEDULES
from hil.run.runner import prepare_run, run_scenario
from hil.scenario import ACTIONS, ScenarioError, load_scenario, parse_duration, parse_quantity
from hil.wire.gateway import Gateway

ROOT = Path(__file__).resolve().parents[3]
BAD = ROOT / "tests" / "data" / "bad_scenarios"
SHIPPED = sorted((ROOT / "profiles" / "scenarios").glob("*.yaml"))


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as ei:
        prepare_run(str(path))
    return [str(p) for p in ei.value.problems]


def test_unknown_signal_names_file_line_and_suggestion() -> None:
    (p,) = problems_of(BAD / "unknown_signal.yaml")
    assert p.startswith(f"{BAD / 'unknown_signal.yaml'}:6:")
    assert "unknown signal 'grid.p_imprt_kw'" in p
    assert "did you mean 'grid.p_import_kw'" in p


def test_bad_units_are_named_with_suggestion() -> None:
    ps = problems_of(BAD / "bad_unit.yaml")
    assert len(ps) == 2
    dur = next(p for p in ps if "duration unit" in p)
    assert ":3:" in dur
    assert "'mins'" in dur
    assert "did you mean 'min'" in dur
    # found by its message, not by "MJ" alone: the file's path may hold those letters
    # (a fresh clone in /tmp/tmp.IgKOMJhymh made the duration's problem match)
    lim = next(p for p in ps if "unknown unit 'MJ'" in p)
    assert ":6:" in lim


def test_overlapping_faults_are_refused() -> None:
    (p,) = problems_of(BAD / "overlapping_faults.yaml")
    assert ":8:" in p
    assert "overlaps the pcs_trip fault on PCS01 injected at 10 s (until 40 s)" in p


def test_malformed_yaml_gives_the_line() -> None:
    (p,) = problems_of(BAD / "malformed.yaml")
    assert p.startswith(str(BAD / "malformed.yaml") + ":")
    assert "malformed YAML" in p
    line = int(p.split(":")[1])
    assert 6 <= line <= 8
    assert "the inline {...} mapping opened at line 6 is not closed: add the missing '}'" in p


def test_every_problem_in_a_file_at_once() -> None:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(BAD / "many_problems.yaml")
    text = str(ei.value)
    assert "unknown key 'duraton'; did you mean 'duration'?" in text
    assert "unknown action 'grid_outge'; did you mean 'grid_outage'?" in text
    assert "a duration needs its unit: write '20 s'" in text
    assert "unknown fault type 'pcs_trp'; did you mean 'pcs_trip'?" in text
    assert "unknown unit 'parsecs'" in text
    lines = {p.line for p in ei.value.problems}
    assert {3, 6, 7, 8, 14} <= lines


def test_site_level_problems_are_reported_together() -> None:
    # a file that parses but names a device and a state the site does not have
    site, cfg = load_bench("lab_rack")
    gw = Gateway.from_config(site, cfg)
    text = (BAD / "many_problems.yaml").read_text()
    good = text.replace("duraton", "duration").replace("grid_outge", "grid_outage")
    good = good.replace("at: 20\n", "at: 20 s\n").replace("pcs_trp", "pcs_trip").replace("5 parsecs", "5 kW")
    path = BAD.parent / "tmp_site_problems.yaml"
    path.write_text(good)
    try:
        sc = load_scenario(path)
        with pytest.raises(ScenarioError) as ei:
            sc.check(site, gw.devices)
    finally:
        path.unlink()
    text = str(ei.value)
    assert "no device 'PCS09' on this site; did you mean 'PCS01'?" in text
    assert "unknown state 'RUNIN'; did you mean 'RUNNING'?" in text


def test_bad_file_starts_no_server(tmp_path: Path) -> None:
    # run_scenario checks before a Runner exists: nothing is bound, nothing is written
    with pytest.raises(ScenarioError):
        asyncio.run(run_scenario(BAD / "unknown_signal.yaml", out_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250 ms", 0.25), ("30 s", 30.0), ("5 min", 300.0), ("1.5 h", 5400.0), ("2 d", 172800.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize("bad", [30, "30", "30 sec", "5 mins", "-1 s", "soon"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_quantities_convert_to_the_signal_unit() -> None:
    assert parse_quantity("25 MW", "kW") == 25_000.0
    assert parse_quantity("500 W", "kW") == 0.5
    assert parse_quantity(7, "kW") == 7.0
    assert parse_quantity("20 mV", "mV") == 20.0
    with pytest.raises(ValueError, match="power"):
        parse_quantity("5 Hz", "kW")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_check_against_their_site(path: Path) -> None:
    sc, *_ = prepare_run(str(path))
    assert sc.expectations, f"{path.name} has no expectations"
    assert sc.description, f"{path.name} has no description"


def test_catalogue_lists_both_layers_with_what_a_device_shows() -> None:
    layers = {f.layer for f in FAULTS.values()}
    assert layers == {"physics", "sensor", "protocol"}
    md = catalogue_markdown()
    for name, ft in FAULTS.items():
        assert f"### `{name}`" in md
        assert ft.shows in md


def test_docs_are_generated_from_the_code() -> None:
    from hil.schema_doc import scenario_schema_markdown

    assert (ROOT / "docs" / "faults.md").read_text() == catalogue_markdown() + "\n"
    assert (ROOT / "docs" / "scenario-schema.md").read_text() == scenario_schema_markdown()


def test_library_page_lists_every_shipped_scenario() -> None:
    page = (ROOT / "docs" / "scenarios.md").read_text()
    for path in SHIPPED:
        sc = load_scenario(path)
        assert f"[`{sc.name}`](../profiles/scenarios/{path.name})" in page
        assert sc.title in page


def test_an_unknown_opcua_status_is_refused_at_load_with_file_line_and_did_you_mean(tmp_path: Path) -> None:
    path = tmp_path / "status.yaml"
    path.write_text(
        "scenario: status\nsite: lab_rack\nduration: 10 s\nevents:\n"
        "  - at: 1 s\n    fault: {type: opcua_bad_status, target: PCS01, status: BadDeviceFailur}\n"
        "  - at: 2 s\n    fault: {type: opcua_uncertain_status, target: PCS01, status: BadDeviceFailure}\n"
    )
    with pytest.raises(ScenarioError) as ei:
        load_scenario(path)
    text = str(ei.value)
    assert f"{path}:6" in text
    assert "unknown OPC UA Bad status code 'BadDeviceFailur'; did you mean 'BadDeviceFailure'?" in text
    assert f"{path}:8" in text  # a Bad code where an Uncertain one is due
    assert "unknown OPC UA Uncertain status code 'BadDeviceFailure'" in text


def test_every_timeline_action_has_exactly_one_scheduler() -> None:
    """An action the parser admits but the play cannot schedule would fail mid-run."""
    assert set(SCHEDULES) == set(ACTIONS)
