"""Drawing a campaign's runs: a pure function of its file (the same runs, in the same order,
anywhere), common random numbers across points, and the faults a Poisson process draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil.campaign import load_campaign, plan_campaign
from hil.campaign.expr import evaluate, expression_names
from hil.campaign.model import FaultDrawSpec
from hil.campaign.plan import draw_faults, scenario_with, set_path
from hil.campaign.task import pick_units, scenario_doc
from hil.config import profiles_dir
from hil.run.prepare import prepare_run
from hil.scenario import parse_duration, parse_scenario


def _plan(tmp_path: Path, text: str) -> list:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return plan_campaign(load_campaign(path))


def test_a_grid_is_every_combination_with_the_suite_outermost(tmp_path: Path) -> None:
    runs = _plan(
        tmp_path,
        "campaign: g\nbase: {studies: [ref_a, ref_b]}\nparameters:\n"
        "  storage.energy_kwh: {range: [1000, 4000], steps: 4}\n  tariff: {values: [a, b]}\n",
    )
    assert len(runs) == 2 * 4 * 2
    assert [r.params["study"] for r in runs[:8]] == ["ref_a"] * 8
    assert [r.params["storage.energy_kwh"] for r in runs[:8:2]] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert [r.index for r in runs] == list(range(16))
    assert all(r.seed is None for r in runs)  # a study's year is deterministic: the base's own


def test_lhs_and_random_are_seeded_stratified_and_within_range(tmp_path: Path) -> None:
    text = (
        "campaign: s\nbase: {study: ref_a}\nsampling: lhs\nsamples: 40\nseed: 5\nparameters:\n"
        "  storage.energy_kwh: {range: [1000, 5000]}\n"
        "  finance.discount_rate: {range: [0.03, 0.1], log: true}\n"
        "  storage.replacement.years: {values: [[5], [8], [10], [12]]}\n"
    )
    a, b = _plan(tmp_path, text), _plan(tmp_path, text)
    assert [r.params for r in a] == [r.params for r in b]  # the same seed, the same points
    e = np.array([r.params["storage.energy_kwh"] for r in a])
    assert e.min() >= 1000
    assert e.max() <= 5000
    # Latin hypercube: exactly one sample in each of the 40 equal strata of each range
    assert sorted(np.floor((e - 1000) / 4000 * 40).astype(int)) == list(range(40))
    d = np.log(np.array([r.params["finance.discount_rate"] for r in a]))
    strata = np.floor((d - np.log(0.03)) / (np.log(0.1) - np.log(0.03)) * 40).astype(int)
    assert sorted(strata) == list(range(40))
    # a discrete parameter takes its values in equal shares
    years = [tuple(r.params["storage.replacement.years"]) for r in a]
    assert {years.count(y) for y in set(years)} == {10}
    other = _plan(tmp_path, text.replace("seed: 5", "seed: 6"))
    assert [r.params for r in other] != [r.params for r in a]


def test_replicates_share_seeds_and_faults_across_points(tmp_path: Path) -> None:
    runs = _plan(
        tmp_path,
        "campaign: m\nbase: {scenario: pcs_trip_recovery}\nparameters:\n"
        "  controller: {values: [standin, 'standin:no_revert']}\nfaults:\n  sequences: 4\n"
        "  rates_per_hour: {pcs_trip: 60, pcs_overtemp_derate: 40}\n  duration: [5 s, 20 s]\nseed: 9\n",
    )
    assert len(runs) == 8
    first, second = runs[:4], runs[4:]
    assert [r.seed for r in first] == [r.seed for r in second]
    assert [r.faults for r in first] == [r.faults for r in second]  # common random numbers
    assert first[0].seed is None  # sequence 0 keeps the scenario's own seed
    assert len({r.seed for r in first[1:]}) == 3


def test_the_fault_draw_is_a_poisson_process_at_its_rates() -> None:
    spec = FaultDrawSpec(
        sequences=1,
        rates_per_hour={"pcs_trip": 6.0, "pv_trip": 2.0},
        duration=("5 s", "10 s"),
        max_faults=200,
    )
    counts = {"pcs_trip": [], "pv_trip": []}
    for r in range(2000):
        faults = draw_faults(spec, 1, r, 3600.0 / 0.8)  # a window of exactly 1 h (the first 80 %)
        for name in counts:
            counts[name].append(sum(f["fault"]["type"] == name for f in faults))
        starts = [parse_duration(f["at"]) for f in faults]
        assert starts == sorted(starts)
        assert all(5.0 <= parse_duration(f["fault"]["duration"]) <= 10.0 for f in faults)
    for name, rate in (("pcs_trip", 6.0), ("pv_trip", 2.0)):
        n = np.array(counts[name])
        # Poisson(rate): mean and variance both `rate`; 2000 draws hold the mean to ±4 standard errors
        # (the overlap rule drops a few of pcs_trip's: one target, 5-10 s each in an hour, < 2 %)
        assert n.mean() == pytest.approx(rate, abs=4 * np.sqrt(rate / 2000) + 0.02 * rate)
        assert n.var() == pytest.approx(rate, rel=0.15)
    assert draw_faults(spec, 1, 7, 4500.0) == draw_faults(spec, 1, 7, 4500.0)
    assert draw_faults(spec, 1, 7, 4500.0) != draw_faults(spec, 1, 8, 4500.0)


def test_dotted_paths_set_mappings_and_list_items_and_say_what_is_in_the_way() -> None:
    doc = {"events": [{"at": "1 s", "fault": {"type": "pcs_trip"}}], "controller": "standin"}
    set_path(doc, "events.0.fault.duration", "5 s")
    set_path(doc, "site_params.battery.soc0", 0.4)
    assert doc["events"][0]["fault"]["duration"] == "5 s"
    assert doc["site_params"] == {"battery": {"soc0": 0.4}}
    with pytest.raises(ValueError, match="a list of 1"):
        set_path(doc, "events.3.at", "2 s")
    with pytest.raises(ValueError, match="controller is 'standin'"):
        set_path(doc, "controller.options.limit_kw", 5)


def test_a_controller_name_keeps_the_scenarios_own_options_when_it_is_the_same_controller() -> None:
    base = {"controller": {"name": "standin", "options": {"limit_kw": "20 kW"}}, "seed": 3}
    same = scenario_with(base, {"controller": "standin:no_revert"})
    assert same["controller"] == {"name": "standin", "options": {"limit_kw": "20 kW"}, "mode": "no_revert"}
    other = scenario_with(base, {"controller": "reference"}, seed=8)
    assert other["controller"] == "reference"  # another controller: its defaults
    assert other["seed"] == 8
    assert base["controller"]["options"] == {"limit_kw": "20 kW"}  # the base is not touched


def test_derive_is_arithmetic_on_the_parameters_only() -> None:
    assert evaluate("a.b * 2 + round(c / 3)", {"a.b": 4, "c": 10}) == 11
    assert expression_names("min(x.y, 3) ** 2 - z") == ["x.y", "z"]
    for bad in ("open('f')", "a.__class__()", "[1, 2]", "a if b else c"):
        with pytest.raises(ValueError, match="is not allowed"):
            expression_names(bad)
    with pytest.raises(ValueError, match="is not an expression"):
        expression_names("1 +")


def test_a_drawn_fault_on_a_kind_strikes_one_unit_picked_by_its_draw(tmp_path: Path) -> None:
    runs = _plan(
        tmp_path,
        "campaign: m\nbase: {scenario: bases/aidc_fault_base.yaml}\nfaults:\n  sequences: 6\n"
        "  rates_per_hour: {pcs_trip: 30}\nseed: 4\n".replace(
            "bases/aidc_fault_base.yaml", str(Path(profiles_dir()) / "campaigns/bases/aidc_fault_base.yaml")
        ),
    )
    run = next(r for r in runs if len(r.faults) >= 2)
    assert all(f["fault"]["target"] == "bess" and 0 <= f["fault"]["_unit"] < 1 for f in run.faults)
    doc, lines, picks = scenario_doc(run, tmp_path / "run")
    sc = parse_scenario(doc, path=Path(run.base), lines=lines)
    prepared = prepare_run(sc)
    names = sorted(d.name for d in prepared.gateway.devices if d.kind == "bess")
    assert len(names) == 16
    struck = pick_units(prepared.scenario, prepared.gateway.devices, picks)
    assert len(struck) == len(run.faults)
    for f, hit in zip(run.faults, struck, strict=True):
        assert hit["target"] == names[int(f["fault"]["_unit"] * 16)]  # one cabinet, not the fleet
    fault_events = [e for e in prepared.scenario.events if e.action == "fault"]
    assert [e.spec.target for e in fault_events] == [h["target"] for h in struck]
