"""Finance functions vs hand cases (SAM/REopt conventions, economics.md §2), replacement plans,
and parameter validation of the ROI layer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.econ import (
    Finance,
    ScheduleDispatch,
    StorageSpec,
    cash_flows,
    discounted_payback,
    irr,
    lcos,
    linear_fade,
    npv,
    replacement_plan,
    simple_payback,
    simulate,
)
from twin.errors import ParameterError


def test_npv_and_irr_of_a_one_year_flow() -> None:
    assert npv([-100.0, 110.0], 0.10) == pytest.approx(0.0, abs=1e-12)
    assert irr([-100.0, 110.0]) == pytest.approx(0.10, abs=1e-10)


def test_irr_of_two_equal_flows_from_the_quadratic() -> None:
    # 60 v + 60 v² = 100 with v = 1/(1 + r)
    v = (-60.0 + math.sqrt(60.0**2 + 4 * 60.0 * 100.0)) / (2 * 60.0)
    assert irr([-100.0, 60.0, 60.0]) == pytest.approx(1 / v - 1, abs=1e-10)


def test_irr_none_without_sign_change() -> None:
    assert irr([-100.0, 10.0, 10.0]) is not None  # negative IRR exists (−≈ 70 %)
    assert irr([100.0, 10.0]) is None
    assert irr([-100.0, -10.0]) is None


def test_paybacks_mid_year() -> None:
    f = [-100.0, 60.0, 60.0]
    assert simple_payback(f) == pytest.approx(2 - 20.0 / 60.0)
    d1, d2 = 60.0 / 1.1, 60.0 / 1.1**2
    assert discounted_payback(f, 0.10) == pytest.approx(2 - (-100 + d1 + d2) / d2)
    assert simple_payback([-100.0, 10.0, 10.0]) is None
    assert discounted_payback([-100.0, 60.0, 60.0], 0.5) is None


def test_cash_flows_escalation_om_replacement_salvage() -> None:
    fin = Finance(
        capex=1000.0,
        om_per_year=10.0,
        discount_rate=0.05,
        horizon_years=3,
        escalation=0.02,
        salvage=50.0,
        replacement_cost=200.0,
    )
    f = cash_flows([100.0, 100.0, 100.0], fin, replacement_by_year=[0.0, 200.0, 0.0])
    want = [-1000.0, 100 * 1.02 - 10, 100 * 1.02**2 - 10 - 200, 100 * 1.02**3 - 10 + 50]
    assert f == pytest.approx(want)
    assert npv(f, 0.05) == pytest.approx(sum(w / 1.05**y for y, w in enumerate(want)))
    with pytest.raises(ParameterError):
        cash_flows([1.0, 2.0], fin)


def test_lcos_hand_case() -> None:
    fin = Finance(capex=1000.0, om_per_year=10.0, discount_rate=0.0, horizon_years=2, salvage=30.0)
    out = lcos(fin, [100.0, 100.0], charge_cost_by_year=[5.0, 5.0], replacement_by_year=[0.0, 40.0])
    assert out.per_kwh == pytest.approx((1000 + 20 + 40 + 10 - 30) / 200)
    assert out.per_kwh_without_charging == pytest.approx((1000 + 20 + 40 - 30) / 200)
    fin = Finance(capex=1000.0, om_per_year=0.0, discount_rate=0.1, horizon_years=2)
    assert lcos(fin, [100.0, 100.0]).per_kwh == pytest.approx(1000 / (100 / 1.1 + 100 / 1.21))


def test_replacement_on_threshold_and_schedule() -> None:
    frac = linear_fade(0.05, 30)
    plan = replacement_plan(frac, 12, threshold=0.8)
    # fractions by age 1, .95, .9, .85, .8, .75 → the 6th year would be below 0.8: replace
    assert plan.years == (6, 11)
    assert plan.capacity_factor == pytest.approx([1, 0.95, 0.9, 0.85, 0.8] * 2 + [1, 0.95])
    assert plan.events_by_year.sum() == 2
    fin = Finance(capex=1.0, om_per_year=0.0, discount_rate=0.0, horizon_years=12, replacement_cost=500.0)
    assert fin.replacement_by_year(plan)[5] == 500.0
    sched = replacement_plan(frac, 6, years=(4,))
    assert sched.years == (4,)
    assert sched.capacity_factor == pytest.approx([1, 0.95, 0.9, 1, 0.95, 0.9])


def test_capacity_factor_feeds_the_bucket() -> None:
    st = StorageSpec(
        1000.0, 1000.0, soc_min=0.0, soc_max=1.0, eta_charge=1.0, eta_discharge=1.0, fade_per_year=0.1
    )
    assert st.usable_kwh(3) == pytest.approx(800.0)
    assert st.usable_kwh(3, capacity_factor=1.0) == pytest.approx(1000.0)
    r = simulate(st, np.zeros(4), None, np.full(4, -1000.0), 1.0, capacity_factor=0.5)
    assert r.charge_kwh == pytest.approx(500.0)


def test_pcs_limit_binds_before_energy() -> None:
    st = StorageSpec(1000.0, 500.0, soc0=0.5)
    r = simulate(st, np.full(2, 2000.0), None, np.full(2, 900.0), 0.25)
    assert r.battery_kw == pytest.approx([500.0, 500.0])
    assert r.energy_kwh[-1] == pytest.approx(500.0 - 2 * 500.0 * 0.25 / 0.95)


def test_validation_reports_every_problem() -> None:
    with pytest.raises(ParameterError) as err:
        StorageSpec(-1.0, -5.0, soc_min=0.9, soc_max=0.5, eta_charge=1.5)
    assert len(err.value.issues) == 4
    with pytest.raises(ParameterError):
        Finance(capex=-1.0, om_per_year=0.0, discount_rate=-2.0, horizon_years=0)
    with pytest.raises(ParameterError):
        ScheduleDispatch(shave_hours=((18, 19),))
    with pytest.raises(ParameterError):
        ScheduleDispatch(charge_hours=((5, 30),))
    with pytest.raises(ParameterError):
        simulate(StorageSpec(10.0, 1.0), [1.0, 2.0], None, [0.0], 0.25)
