"""One run as a task: a tariff's own figures varied by their path, checked before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.campaign import load_campaign, plan_campaign
from hil.campaign.plan import check_plan
from hil.campaign.task import run_one
from hil.errors import ConfigError

SWEEP = """\
campaign: demand_rate
base: {study: ref_a}
parameters:
  tariff.demand.rate_per_kw_month: {values: [20.0, 50.0]}
"""


def test_a_tariff_figure_is_a_parameter_and_moves_the_bill_as_the_tariff_says(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SWEEP)
    camp = load_campaign(path)
    runs = plan_campaign(camp)
    check_plan(camp, runs)
    low, high = (run_one(r, str(tmp_path / "out")) for r in runs)
    assert low["status"] == high["status"] == "ok", (low["error"], high["error"])
    written = (tmp_path / "out" / "runs" / "00001" / "tariff.yaml").read_text()
    assert "rate_per_kw_month: 50.0" in written  # the varied copy the run billed with
    # REF-A's fixed schedule does not depend on the tariff: the demand savings are the monthly
    # peak reductions times the rate, so they scale with it exactly; the energy savings stay
    roi = [json.loads((tmp_path / "out" / "runs" / i / "roi.json").read_text()) for i in ("00000", "00001")]
    d_low, d_high = (r["savings_year1"]["demand"] for r in roi)
    assert d_low > 0
    assert d_high / d_low == pytest.approx(50.0 / 20.0, rel=1e-9)
    assert roi[0]["savings_year1"]["energy"] == pytest.approx(roi[1]["savings_year1"]["energy"], rel=1e-12)
    assert high["metrics"]["savings_year1.total"] > low["metrics"]["savings_year1.total"]


def test_a_misspelt_tariff_path_is_refused_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SWEEP.replace("rate_per_kw_month", "rate_per_kw_mnth"))
    camp = load_campaign(path)
    with pytest.raises(ConfigError) as info:
        check_plan(camp, plan_campaign(camp))
    probs = [str(p) for p in info.value.problems]
    assert any(":4:" in p and "rate_per_kw_mnth" in p for p in probs), probs
