"""Campaign files: every problem at once, with its file, line and a did-you-mean; nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.campaign import CampaignFile, load_campaign
from hil.campaign.plan import check_plan, plan_campaign
from hil.cli import main
from hil.config import profiles_dir
from hil.errors import ConfigError
from hil.schema_doc import campaign_schema_markdown
from hil.validate import validate_file


def _check(path: Path) -> None:
    camp = load_campaign(path)
    check_plan(camp, plan_campaign(camp))


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        _check(path)
    return [str(p) for p in info.value.problems]


def test_every_shipped_campaign_loads_and_its_whole_plan_checks() -> None:
    for name in ("sizing_example", "sizing_aidc_10k", "ems_regression", "fault_monte_carlo"):
        camp = load_campaign(name)
        runs = plan_campaign(camp)
        check_plan(camp, runs)  # every parameter value applied to its base and parsed
        assert runs
    sizing = plan_campaign(load_campaign("sizing_aidc_10k"))
    assert len(sizing) == 2 * 3 * 3 * 2  # two tariffs' studies × energy × PCS power × dispatch
    # the study's storage follows the simulated fleet (derive)
    r = next(r for r in sizing if r.params["load.site_params.battery.n_cabinets"] == 24)
    assert r.overrides["storage.energy_kwh"] == pytest.approx(24 * 2236.416)
    n, p = r.params["load.site_params.battery.n_cabinets"], r.params["load.site_params.pcs.p_rated_kw"]
    assert r.overrides["storage.power_kw"] == pytest.approx(n * p)
    assert len(plan_campaign(load_campaign("fault_monte_carlo"))) == 100


def test_misspelt_keys_get_their_line_and_a_suggestion(tmp_path: Path) -> None:
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {study: ref_a}\nparamters: {}\nsampling: grid\n",
    )
    assert len(probs) == 1
    assert ":3:" in probs[0]
    assert "did you mean 'parameters'" in probs[0]


def test_a_misspelt_path_in_the_base_fails_before_anything_runs(tmp_path: Path) -> None:
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {study: ref_a}\nparameters:\n  storage.energy_kw: {values: [1000, 2000]}\n",
    )
    assert all(":4:" in p for p in probs)  # the parameter's own line in the campaign file
    assert any("energy_kw" in p and "did you mean 'energy_kwh'" in p for p in probs)


def test_a_bad_value_a_bad_base_and_a_bad_signal_are_each_named(tmp_path: Path) -> None:
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {study: ref_z}\nparameters:\n  finance.discount_rate: {values: [0.05]}\n",
    )
    assert any(":2:" in p and "base.study: no study named 'ref_z'; did you mean 'ref_" in p for p in probs)
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {study: ref_a}\nparameters:\n  finance.discount_rate: {values: [0.05, 1.5]}\n",
    )
    assert any(":4:" in p and "1.5" in p for p in probs)
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {scenario: pcs_trip_recovery}\n"
        "metrics: [passed, 'max:pcs[3].p_ac_kw', 'max:grid.p_imprt_kw']\n",
    )
    assert any("1 pcs units" in p for p in probs)
    assert any("did you mean 'grid.p_import_kw'" in p for p in probs)


def test_faults_on_targets_the_site_lacks_are_refused(tmp_path: Path) -> None:
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {scenario: pcs_trip_recovery}\nfaults:\n  sequences: 3\n"
        "  rates_per_hour: {pcs_trip: 2, genset_fail_to_start: 1}\n  targets: {pcs_trip: [PCS07]}\n",
    )
    assert any("PCS07" in p for p in probs)
    assert any("genset_fail_to_start on genset: no device" in p for p in probs)
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {scenario: pcs_trip_recovery}\nfaults:\n"
        "  sequences: 3\n  rates_per_hour: {pcs_trp: 2}\n",
    )
    assert any("did you mean 'pcs_trip'" in p for p in probs)


def test_a_comparison_names_two_values_of_one_parameter(tmp_path: Path) -> None:
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {scenario: comm_loss}\nparameters:\n"
        "  controller: {values: [standin, reference]}\n"
        "compare: {parameter: controler, baseline: standin, candidate: reference}\n",
    )
    assert any("did you mean 'controller'" in p for p in probs)
    probs = _problems(
        tmp_path,
        "campaign: x\nbase: {scenario: comm_loss}\nparameters:\n"
        "  controller: {values: [standin, reference]}\n"
        "compare: {parameter: controller, baseline: standin, candidate: standin:no_revert}\n",
    )
    assert any("compare.candidate must be one of" in p for p in probs)


def test_derive_names_only_parameters_and_only_arithmetic(tmp_path: Path) -> None:
    base = "campaign: x\nbase: {study: ref_a}\nparameters:\n  storage.energy_kwh: {values: [1000]}\n"
    probs = _problems(tmp_path, base + "derive: {storage.power_kw: storage.energy_kw / 2}\n")
    assert any("did you mean 'storage.energy_kwh'" in p for p in probs)
    probs = _problems(tmp_path, base + "derive: {storage.power_kw: __import__('os').getpid()}\n")
    assert any("is not allowed" in p for p in probs)


def test_the_campaign_schema_doc_is_generated_from_the_code() -> None:
    docs = Path(__file__).resolve().parents[4] / "docs"
    text = (docs / "campaign-schema.md").read_text()
    assert text == campaign_schema_markdown()
    for key in CampaignFile.model_fields:  # every key of the file is in its reference
        assert f"| `{key}` |" in text


def test_the_command_checks_a_file_prints_its_plan_and_refuses_a_bad_one(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["campaign", "ems_regression", "--dry-run"])
    assert ok.exit_code == 0, ok.output
    assert "ems_regression: 36 runs" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("campaign: x\nbase: {study: ref_a}\nparameters:\n  storage.energy_kw: {values: [1]}\n")
    res = CliRunner().invoke(main, ["campaign", str(bad), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "did you mean 'energy_kwh'" in res.output
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was written


def test_hil_validate_tells_a_campaign_and_checks_it_whole(tmp_path: Path) -> None:
    assert validate_file(profiles_dir() / "campaigns" / "ems_regression.yaml") == ("campaign", [])
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "campaign: x\nbase: {scenario: comm_loss}\nparameters:\n  controler: {values: [standin]}\n"
    )
    kind, problems = validate_file(bad)
    assert kind == "campaign"
    assert any(p.line == 4 and "did you mean 'controller'" in p.message for p in problems), problems
