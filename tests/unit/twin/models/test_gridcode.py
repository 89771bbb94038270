"""Grid-code trip tables, ride-through state machine and control curves.

Validation cases 8 (IEEE 1547 trip and ride-through, Cat II defaults) and 9 (volt-var and
droop arithmetic) of physics.md §6, plus Cat III, the 50 Hz profile, vector behaviour and
parameter errors. Times are exact: inputs are held over a tick, so a trip is reported at
the instant its clearing time expires, to 1e-9 s whatever the tick length.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from twin.errors import ParameterError, SimulationError
from twin.models.gridcode import (
    VOLT_VAR_CAT_A,
    VOLT_VAR_CAT_B,
    VOLT_WATT_CAT_B,
    GridCode,
    GridCodeMonitor,
    GridCodeStatus,
    available_grid_codes,
    fault_reactive_current_pu,
    freq_watt_dp_pu,
    lag_step,
    load_grid_code,
    response_tau_s,
    volt_var_q_pu,
    volt_watt_p_pu,
)
from twin.params import to_dict

CAT_I = "ieee1547_2018_cat_i"
CAT_II = "ieee1547_2018_cat_ii"
CAT_III = "ieee1547_2018_cat_iii"
GBT = "gbt_50hz"
T_TOL = 1e-9  # s: exact trip instant within a tick, up to float rounding of summed ticks


def _monitor(name: str = CAT_II, n: int = 1, in_service: bool | list[bool] = True) -> GridCodeMonitor:
    return GridCodeMonitor(n, load_grid_code(name), in_service=in_service)


def _run_until_trip(
    mon: GridCodeMonitor,
    *,
    dt: float,
    t_end: float,
    v: float = 1.0,
    f: float = 60.0,
    rocof: float = 0.0,
    islanded: bool = False,
    t0: float = 0.0,
    unit: int = 0,
) -> tuple[GridCodeStatus, float]:
    """Step with held inputs until ``unit`` trips or ``t_end``; return the last status and
    the start of its tick."""
    k = 0
    while True:
        t = t0 + k * dt
        status = mon.update(t, dt, v, f, rocof, islanded=islanded)
        if status.new_trip[unit] or t + dt >= t_end - 1e-12:
            return status, t
        k += 1


def _strip(d: object) -> object:
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in ("source", "name", "title")}
    if isinstance(d, list):
        return [_strip(x) for x in d]
    return d


# ---- data ----------------------------------------------------------------------------


def test_shipped_codes_load_and_carry_sources() -> None:
    names = available_grid_codes()
    assert set(names) >= {CAT_I, CAT_II, CAT_III, GBT}
    for name in names:
        code = load_grid_code(name)
        assert code.name == name
        assert "[" in code.source or "IEEE" in code.source
        assert code.trip.ov2.source  # every entry says where it comes from


def test_cat_ii_file_equals_builtin_defaults() -> None:
    # GridCode() defaults are Cat II; the JSON and the Python defaults must not drift
    # (compared without the free-text source/name/title fields).
    assert _strip(to_dict(load_grid_code(CAT_II))) == _strip(to_dict(GridCode()))


def test_ieee_trip_tables_per_category() -> None:
    # IEEE 1547-2018 Tables 11-13 and 18 defaults: exact values.
    expected = {
        CAT_I: ((1.20, 0.16), (1.10, 2.0), (0.70, 2.0), (0.45, 0.16)),
        CAT_II: ((1.20, 0.16), (1.10, 2.0), (0.70, 10.0), (0.45, 0.16)),
        CAT_III: ((1.20, 0.16), (1.10, 13.0), (0.88, 21.0), (0.50, 2.0)),
    }
    for name, rows in expected.items():
        t = load_grid_code(name).trip
        got = tuple((s.v_pu, s.clearing_time_s) for s in (t.ov2, t.ov1, t.uv1, t.uv2))
        assert got == rows, name
        freq = tuple((s.f_hz, s.clearing_time_s) for s in (t.of2, t.of1, t.uf1, t.uf2))
        assert freq == ((62.0, 0.16), (61.2, 300.0), (58.5, 300.0), (56.5, 0.16)), name
    es = load_grid_code(CAT_II).enter_service
    assert (es.v_min_pu, es.v_max_pu, es.f_min_hz, es.f_max_hz) == (0.917, 1.05, 59.5, 60.1)
    assert (es.delay_s, es.ramp_s) == (300.0, 300.0)


# ---- case 8: trip times (Cat II) ----------------------------------------------------

CASE8 = [
    pytest.param(1.21, 60.0, 0.16, "OV2", id="V1.21-OV2"),
    pytest.param(0.69, 60.0, 10.0, "UV1", id="V0.69-UV1"),
    pytest.param(0.44, 60.0, 0.16, "UV2", id="V0.44-UV2"),
    pytest.param(1.0, 62.1, 0.16, "OF2", id="f62.1-OF2"),
    pytest.param(1.0, 61.3, 300.0, "OF1", id="f61.3-OF1"),
]


@pytest.mark.parametrize("dt", [0.02, 0.1, 1.0])
@pytest.mark.parametrize(("v", "f", "t_expected", "reason"), CASE8)
def test_case8_cat_ii_trip_time(v: float, f: float, t_expected: float, reason: str, dt: float) -> None:
    mon = _monitor(CAT_II)
    status, t_tick = _run_until_trip(mon, dt=dt, t_end=t_expected + 5.0, v=v, f=f)
    assert status.new_trip[0]
    assert status.tripped[0]
    # exact instant (±1e-9 s) even when dt does not divide it (0.16/0.1, 0.16/1.0)
    assert status.trip_time_s[0] == pytest.approx(t_expected, abs=T_TOL)
    assert t_tick <= status.trip_time_s[0] <= t_tick + dt
    assert status.trip_reason[0] == reason
    assert not status.may_energize[0]
    assert status.ramp_limit_pu[0] == 0.0


def test_case8_v069_rides_through_mandatory_region_until_uv1() -> None:
    mon = _monitor(CAT_II)
    for k in range(99):  # up to 9.9 s: still in service, mandatory operation, full output
        s = mon.update(k * 0.1, 0.1, 0.69, 60.0)
        assert not s.tripped[0]
        assert s.ride_through_mode[0] == "mandatory"
        assert not s.cessation[0]
        assert s.output_limit_pu[0] == 1.0
    s = mon.update(9.9, 0.1, 0.69, 60.0)
    assert s.trip_time_s[0] == pytest.approx(10.0, abs=T_TOL)
    assert s.trip_reason[0] == "UV1"


@pytest.mark.parametrize("dt", [0.1, 1.0])
def test_case8_58hz_rides_through_299s_then_uf1_trips_at_300s(dt: float) -> None:
    # Mandatory operation for 299 s in 57.0–58.8 Hz; the UF1 row (58.5 Hz, 300 s) then
    # trips the unit at exactly 300 s.
    mon = _monitor(CAT_II)
    status, _ = _run_until_trip(mon, dt=dt, t_end=299.0, f=58.0)
    assert status.t_s == pytest.approx(299.0, abs=1e-9)
    assert not status.tripped[0]
    assert status.may_energize[0]
    status, _ = _run_until_trip(mon, dt=dt, t_end=310.0, f=58.0, t0=299.0)
    assert status.trip_time_s[0] == pytest.approx(300.0, abs=T_TOL)
    assert status.trip_reason[0] == "UF1"


@settings(max_examples=40, deadline=None)
@given(dt=st.floats(0.003, 2.0), k_step=st.integers(0, 20))
def test_trip_instant_does_not_depend_on_tick_length(dt: float, k_step: int) -> None:
    mon = _monitor(CAT_II)
    for k in range(k_step):
        mon.update(k * dt, dt, 1.0, 60.0)
    t_step = k_step * dt
    status, _ = _run_until_trip(mon, dt=dt, t_end=t_step + 3.0, v=1.21, t0=t_step)
    assert status.trip_time_s[0] == pytest.approx(t_step + 0.16, abs=T_TOL)


def test_timer_resets_when_condition_clears() -> None:
    dt = 0.02
    mon = _monitor(CAT_II)
    t = 0.0
    for v, n_ticks in ((1.21, 5), (1.0, 5)):  # 0.10 s over 1.20 pu, then 0.10 s nominal
        for _ in range(n_ticks):
            assert not mon.update(t, dt, v, 60.0).tripped[0]
            t = round(t + dt, 12)
    status, _ = _run_until_trip(mon, dt=dt, t_end=2.0, v=1.21, t0=t)
    # OV2 starts again from zero at 0.20 s: trip at 0.36 s, not 0.26 s
    assert status.trip_time_s[0] == pytest.approx(0.36, abs=T_TOL)


# ---- case 8: enter service after a trip --------------------------------------------


def _trip_ov2_then_nominal_from(t_nominal: float, dt: float = 1.0) -> GridCodeMonitor:
    mon = _monitor(CAT_II)
    status, _ = _run_until_trip(mon, dt=dt, t_end=t_nominal, v=1.21)
    assert status.trip_reason[0] == "OV2"
    _run_until_trip(mon, dt=dt, t_end=t_nominal, v=1.21, t0=status.t_s)
    return mon


def test_case8_reentry_after_300s_in_window_then_300s_ramp() -> None:
    mon = _trip_ov2_then_nominal_from(10.0)  # OV2 at 0.16 s, V back to 1.0 pu at 10 s
    statuses = {}
    for k in range(10, 700):
        s = mon.update(float(k), 1.0, 1.0, 60.0)
        statuses[round(s.t_s)] = s
    before = statuses[309]
    assert before.tripped[0]
    assert not before.may_energize[0]
    assert before.trip_reason[0] == "OV2"
    assert before.trip_time_s[0] == pytest.approx(0.16, abs=T_TOL)
    entered = statuses[310]  # window held 10 s → 310 s: may energize, ramp starts at 0
    assert entered.may_energize[0]
    assert not entered.tripped[0]
    assert entered.trip_reason[0] == ""
    assert math.isnan(entered.trip_time_s[0])
    assert entered.ramp_limit_pu[0] == pytest.approx(0.0, abs=1e-12)
    assert statuses[460].ramp_limit_pu[0] == pytest.approx(0.5, abs=1e-12)  # half of 300 s
    assert statuses[609].ramp_limit_pu[0] == pytest.approx(299 / 300, abs=1e-12)
    assert statuses[610].ramp_limit_pu[0] == pytest.approx(1.0, abs=1e-12)


def test_reentry_instant_is_exact_with_unaligned_ticks() -> None:
    # dt = 0.7 s does not divide 300 s: re-entry still at 10.5 + 300 s, ramp measured from it
    dt = 0.7
    mon = _trip_ov2_then_nominal_from(10.5, dt=dt)
    k0 = round(10.5 / dt)
    for k in range(k0, k0 + 700):
        s = mon.update(k * dt, dt, 1.0, 60.0)
        if s.may_energize[0]:
            break
    assert s.t_s - dt < 310.5 <= s.t_s
    assert s.ramp_limit_pu[0] == pytest.approx((s.t_s - 310.5) / 300.0, abs=1e-9)


def test_enter_service_delay_restarts_after_window_excursion() -> None:
    mon = _trip_ov2_then_nominal_from(10.0)
    for k in range(10, 100):
        mon.update(float(k), 1.0, 1.0, 60.0)
    mon.update(100.0, 1.0, 1.0, 60.2)  # f above 60.1 Hz for one tick: delay restarts at 101 s
    for k in range(101, 400):
        assert not mon.update(float(k), 1.0, 1.0, 60.0).may_energize[0]
    assert mon.update(400.0, 1.0, 1.0, 60.0).may_energize[0]  # 101 + 300 = 401 s


def test_no_reentry_outside_the_window() -> None:
    mon = _trip_ov2_then_nominal_from(10.0)
    for k in range(10, 1000):  # 0.91 pu < 0.917 pu: inside ride-through, outside enter service
        assert not mon.update(float(k), 1.0, 0.91, 60.0).may_energize[0]


def test_cold_start_waits_for_enter_service() -> None:
    mon = _monitor(CAT_II, n=2, in_service=[False, True])
    s = mon.update(0.0, 1.0, 1.0, 60.0)
    assert_array_equal(s.may_energize, [False, True])
    assert_array_equal(s.tripped, [False, False])
    assert_array_equal(s.ramp_limit_pu, [0.0, 1.0])
    for k in range(1, 300):
        s = mon.update(float(k), 1.0, 1.0, 60.0)
    assert_array_equal(s.may_energize, [True, True])  # 300 s in the window


# ---- vector behaviour ---------------------------------------------------------------


def test_units_trip_independently() -> None:
    mon = _monitor(CAT_II, n=5)
    v = np.array([1.0, 1.21, 0.69, 0.44, 1.0])
    f = np.array([60.0, 60.0, 60.0, 60.0, 62.1])
    trips = np.full(5, np.nan)
    for k in range(120):
        s = mon.update(k * 0.1, 0.1, v, f)
        trips = np.where(s.new_trip, s.trip_time_s, trips)
    assert_allclose(trips, [np.nan, 0.16, 10.0, 0.16, 0.16], atol=T_TOL)
    assert_array_equal(s.trip_reason, ["", "OV2", "UV1", "UV2", "OF2"])
    assert_array_equal(s.may_energize, [True, False, False, False, False])


def test_ride_through_mode_boundaries_follow_1547_wording() -> None:
    # closed away from nominal, open toward it: "1.10 < V ≤ 1.15", "0.65 ≤ V < 0.88";
    # the region holding 1.0 pu is closed on both sides; uncovered voltages are may_trip
    mon = _monitor(CAT_II, n=8)
    v = np.array([1.21, 1.20, 1.10, 1.0, 0.88, 0.65, 0.30, 0.29])
    s = mon.update(0.0, 0.01, v, 60.0)
    expected = ["may_trip", "permissive", "continuous", "continuous", "continuous"]
    expected += ["mandatory", "permissive", "may_trip"]
    assert_array_equal(s.ride_through_mode, expected)
    assert not s.cessation.any()  # Cat II keeps current in permissive zones by default
    ceasing = load_grid_code({"ride_through": {"permissive_ceases": True}})
    s = GridCodeMonitor(8, ceasing).update(0.0, 0.01, v, 60.0)
    assert_array_equal(s.cessation, [True, True, False, False, False, False, True, True])


# ---- Cat I, Cat III and the other trip functions ------------------------------------


def test_cat_i_uv1_trips_at_2s() -> None:
    status, _ = _run_until_trip(_monitor(CAT_I), dt=0.1, t_end=20.0, v=0.69)
    assert status.trip_time_s[0] == pytest.approx(2.0, abs=T_TOL)
    assert status.trip_reason[0] == "UV1"


def test_cat_iii_uv1_rides_through_20s_mandatory_then_trips_at_21s() -> None:
    mon = _monitor(CAT_III)
    status, _ = _run_until_trip(mon, dt=0.1, t_end=20.0, v=0.80)
    assert not status.tripped[0]
    assert status.ride_through_mode[0] == "mandatory"
    assert not status.cessation[0]
    status, _ = _run_until_trip(mon, dt=0.1, t_end=30.0, v=0.80, t0=20.0)
    assert status.trip_time_s[0] == pytest.approx(21.0, abs=T_TOL)
    assert status.trip_reason[0] == "UV1"


@pytest.mark.parametrize(
    ("v", "t_expected", "reason"),
    [(0.30, 2.0, "UV2"), (1.15, 13.0, "OV1")],
    ids=["below-0.5pu", "1.1-1.2pu"],
)
def test_cat_iii_momentary_cessation_then_trip(v: float, t_expected: float, reason: str) -> None:
    mon = _monitor(CAT_III)
    s = mon.update(0.0, 0.1, v, 60.0)
    assert s.cessation[0]
    assert s.may_energize[0]
    assert s.output_limit_pu[0] == 0.0
    assert s.ride_through_mode[0] == "cessation"
    status, _ = _run_until_trip(mon, dt=0.1, t_end=30.0, v=v, t0=0.1)
    assert status.trip_time_s[0] == pytest.approx(t_expected, abs=T_TOL)
    assert status.trip_reason[0] == reason
    assert not status.cessation[0]  # tripped, not ceased
    s = mon.update(status.t_s, 0.1, 1.0, 60.0)
    assert not s.cessation[0]


def test_cat_iii_cessation_ends_when_voltage_returns() -> None:
    mon = _monitor(CAT_III)
    assert mon.update(0.0, 0.1, 0.3, 60.0).cessation[0]
    s = mon.update(0.1, 0.1, 1.0, 60.0)
    assert not s.cessation[0]
    assert s.output_limit_pu[0] == 1.0


def test_rocof_and_islanding_trips() -> None:
    status, _ = _run_until_trip(_monitor(CAT_II), dt=0.1, t_end=5.0, rocof=-2.5)
    assert status.trip_reason[0] == "ROCOF"
    assert status.trip_time_s[0] == pytest.approx(0.5, abs=T_TOL)
    status, _ = _run_until_trip(_monitor(CAT_II), dt=0.1, t_end=5.0, rocof=1.9)
    assert not status.tripped[0]  # inside the 2 Hz/s Cat II ride-through
    status, _ = _run_until_trip(_monitor(CAT_II), dt=0.3, t_end=5.0, islanded=True)
    assert status.trip_reason[0] == "ISLAND"
    assert status.trip_time_s[0] == pytest.approx(2.0, abs=T_TOL)


def test_manual_trip_reset_and_permit_service() -> None:
    mon = _monitor(CAT_II, n=3)
    mon.update(0.0, 1.0, 1.0, 60.0)
    mon.trip(0.5, [1])
    s = mon.status
    assert_array_equal(s.tripped, [False, True, False])
    assert s.trip_reason[1] == "MANUAL"
    assert s.trip_time_s[1] == 0.5
    mon.set_permit_service(False, 1.0, units=[2])
    s = mon.update(1.0, 1.0, 1.0, 60.0)
    assert s.trip_reason[2] == "PERMIT"
    for k in range(2, 400):
        s = mon.update(float(k), 1.0, 1.0, 60.0)
    assert_array_equal(s.may_energize, [True, True, False])  # 2 stays out while not permitted
    mon.set_permit_service(True, 400.0, units=[2])
    for k in range(400, 700):
        s = mon.update(float(k), 1.0, 1.0, 60.0)
    assert s.may_energize[2]
    mon.trip(700.0)
    assert not mon.status.may_energize.any()
    mon.reset()
    assert mon.status.may_energize.all()
    assert not mon.status.tripped.any()


def test_bad_inputs() -> None:
    mon = _monitor(CAT_II, n=2)
    with pytest.raises(SimulationError):
        mon.update(0.0, 0.1, [1.0, np.nan], 60.0)
    with pytest.raises(SimulationError):
        mon.update(0.0, 0.0, 1.0, 60.0)
    with pytest.raises(ValueError, match="shape"):
        mon.update(0.0, 0.1, [1.0, 1.0, 1.0], 60.0)
    with pytest.raises(ValueError, match="trip reason"):
        mon.trip(0.0, reason="OOPS")
    s = mon.update(0.0, 0.1, 1.0, 60.0)
    with pytest.raises(ValueError, match="read-only"):
        s.tripped[0] = True


# ---- 50 Hz profile ------------------------------------------------------------------


def test_50hz_profile_scales_frequency_thresholds() -> None:
    code = load_grid_code(GBT)
    k = 50.0 / 60.0
    assert code.f_nom_hz == 50.0
    t = code.trip
    got = [t.of2.f_hz, t.of1.f_hz, t.uf1.f_hz, t.uf2.f_hz]
    # same per-unit deviation as the 60 Hz values, stored to 1 mHz
    assert_allclose(got, np.array([62.0, 61.2, 58.5, 56.5]) * k, atol=1e-3)
    es = code.enter_service
    assert_allclose([es.f_min_hz, es.f_max_hz], np.array([59.5, 60.1]) * k, atol=1e-3)
    assert code.freq_watt.deadband_hz == pytest.approx(0.036 * k, abs=1e-6)
    assert code.lvrt.enabled
    assert not t.uv1.enabled
    assert not t.uv2.enabled


@pytest.mark.parametrize(
    ("f", "t_expected", "reason"),
    [(51.8, 0.16, "OF2"), (51.2, 300.0, "OF1"), (48.0, 300.0, "UF1"), (47.0, 0.16, "UF2")],
)
def test_50hz_frequency_trips(f: float, t_expected: float, reason: str) -> None:
    status, _ = _run_until_trip(_monitor(GBT), dt=1.0, t_end=t_expected + 5, f=f)
    assert status.trip_time_s[0] == pytest.approx(t_expected, abs=T_TOL)
    assert status.trip_reason[0] == reason


def test_50hz_nominal_is_not_an_underfrequency() -> None:
    status, _ = _run_until_trip(_monitor(GBT), dt=1.0, t_end=600.0, f=50.0)
    assert not status.tripped[0]


def test_50hz_lvrt_curve() -> None:
    # [K — verify] curve: 0 pu for 0.15 s, 0.2 pu until 0.625 s, 0.9 pu by 2 s
    lvrt = load_grid_code(GBT).lvrt
    v = np.array([0.0, 0.1, 0.2, 0.55, 0.9, 1.0])
    expected = [0.15, 0.15, 0.625, 0.625 + 0.35 / 0.7 * 1.375, np.inf, np.inf]
    assert_allclose(lvrt.time_to_trip_s(v), expected, atol=1e-12)
    for v_dip, t_expected in ((0.0, 0.15), (0.55, 1.3125)):
        status, _ = _run_until_trip(_monitor(GBT), dt=0.1, t_end=5.0, v=v_dip, f=50.0)
        assert status.trip_time_s[0] == pytest.approx(t_expected, abs=T_TOL)
        assert status.trip_reason[0] == "LVRT"
    status, _ = _run_until_trip(_monitor(GBT), dt=0.1, t_end=60.0, v=0.95, f=50.0)
    assert not status.tripped[0]


def test_50hz_lvrt_deeper_second_dip_trips_at_once() -> None:
    mon = _monitor(GBT)
    for k in range(10):  # 1.0 s at 0.5 pu (curve allows 1.21 s)
        assert not mon.update(k * 0.1, 0.1, 0.5, 50.0).tripped[0]
    s = mon.update(1.0, 0.1, 0.1, 50.0)  # curve is at 0.33 pu by now: below it → trip
    assert s.trip_time_s[0] == pytest.approx(1.0, abs=T_TOL)
    assert s.trip_reason[0] == "LVRT"


# ---- case 9: control curves ---------------------------------------------------------


def test_case9_volt_var() -> None:
    # Cat B: (0.92, +0.44), (0.98, 0), (1.02, 0), (1.08, −0.44); 0.95 pu → +0.22 pu
    assert float(volt_var_q_pu(0.95)) == pytest.approx(0.22, abs=1e-12)
    v = np.array([0.80, 0.92, 0.98, 1.0, 1.02, 1.05, 1.08, 1.20])
    q = [0.44, 0.44, 0.0, 0.0, 0.0, -0.22, -0.44, -0.44]
    assert_allclose(volt_var_q_pu(v, VOLT_VAR_CAT_B), q, atol=1e-12)
    # Cat A: (0.90, +0.25), (1.00, 0), (1.10, −0.25)
    assert_allclose(volt_var_q_pu([0.90, 0.95, 1.10], VOLT_VAR_CAT_A), [0.25, 0.125, -0.25], atol=1e-12)


def test_case9_freq_watt() -> None:
    # ΔP = −(f − f_nom − db)/(f_nom·droop) = −(60.5 − 60 − 0.036)/(60·0.05) = −0.1547 pu
    dp = float(freq_watt_dp_pu(60.5, 60.0, deadband_hz=0.036, droop=0.05))
    assert dp == pytest.approx(-0.464 / 3.0, rel=1e-12)
    assert dp == pytest.approx(-0.155, abs=5e-4)  # physics.md rounds to 3 decimals
    f = np.array([59.5, 59.964, 60.0, 60.036, 60.5])
    assert_allclose(freq_watt_dp_pu(f, 60.0), [0.464 / 3, 0.0, 0.0, 0.0, -0.464 / 3], atol=1e-12)
    # 50 Hz profile deadband 0.030 Hz: ΔP(50.5) = −0.47/(50·0.05)
    assert float(freq_watt_dp_pu(50.5, 50.0, 0.03)) == pytest.approx(-0.188, abs=1e-12)


def test_volt_watt() -> None:
    v = [1.0, 1.06, 1.08, 1.10, 1.20]
    assert_allclose(volt_watt_p_pu(v, VOLT_WATT_CAT_B), [1.0, 1.0, 0.6, 0.2, 0.2], atol=1e-12)
    assert_allclose(volt_watt_p_pu(v, absorbing=True), [1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-12)


def test_case9_response_time_to_first_order_lag() -> None:
    tau = response_tau_s(5.0)
    assert tau == pytest.approx(5.0 / math.log(10.0), rel=1e-12)
    assert tau == pytest.approx(2.17, abs=5e-3)  # physics.md: 2.17 s
    assert_allclose(response_tau_s(np.array([1.0, 10.0])), [0.4343, 4.3429], atol=1e-4)
    # step response 1 − e^(−t/τ): 63 % at 2.17 s, exactly 90 % at T_r
    assert 1.0 - math.exp(-2.17 / tau) == pytest.approx(0.632, abs=1e-3)
    assert 1.0 - math.exp(-5.0 / tau) == pytest.approx(0.9, abs=1e-12)
    # the exact discrete step reaches ≥ 90 % at T_r (the 1547.1 criterion), any dt
    for dt, n in ((0.1, 50), (1.0, 5), (0.05, 100)):
        y = np.zeros(1)
        for _ in range(n):
            y = lag_step(y, 1.0, dt, tau)
        assert y[0] >= 0.9 - 1e-12
    assert float(lag_step(0.0, 1.0, 0.1, 0.0)) == 1.0  # τ = 0: no lag


# ---- dict overrides and errors ------------------------------------------------------


def test_dict_override_on_a_shipped_base() -> None:
    code = load_grid_code({"base": CAT_II, "trip": {"uv1": {"clearing_time_s": 5.0}}})
    assert code.trip.uv1.clearing_time_s == 5.0
    assert code.trip.uv1.v_pu == 0.70  # the rest of the entry comes from the base
    status, _ = _run_until_trip(GridCodeMonitor(1, code), dt=0.1, t_end=20.0, v=0.69)
    assert status.trip_time_s[0] == pytest.approx(5.0, abs=T_TOL)
    # the example in docs/models/gridcode.md
    doc = {"base": CAT_III, "trip": {"uv1": {"clearing_time_s": 30.0}, "rocof": {"enabled": False}}}
    code = load_grid_code(doc)
    assert code.trip.uv1.clearing_time_s == 30.0
    assert not code.trip.rocof.enabled
    assert code.trip.uv1.v_pu == 0.88
    # without a base the dict overrides the built-in (Cat II) defaults
    assert load_grid_code({"enter_service": {"delay_s": 60.0}}).enter_service.delay_s == 60.0


def test_unknown_key_gives_path_and_did_you_mean() -> None:
    spec = {"base": CAT_III, "trip": {"uv1": {"clearing_tme_s": 30.0}}}
    with pytest.raises(ParameterError) as info:
        load_grid_code(spec, path=("site", "grid_code"))
    (issue,) = info.value.issues
    assert issue.path == ("site", "grid_code", "trip", "uv1", "clearing_tme_s")
    assert "did you mean 'clearing_time_s'" in issue.message


def test_unknown_base_name_did_you_mean() -> None:
    with pytest.raises(ParameterError, match="did you mean 'ieee1547_2018_cat_ii'"):
        load_grid_code({"base": "ieee_1547_2018_cat_ii"})
    with pytest.raises(ParameterError, match="unknown grid code"):
        load_grid_code("ieee2030")


def test_every_problem_reported_at_once() -> None:
    spec = {
        "trip": {
            "uv1": {"v_pu": 0.80, "clearing_time_s": 2.0},  # inside Cat II mandatory 0.65–0.88
            "of1": {"f_hz": 60.5},  # below the 61.0–66.0 Hz range and in the continuous band
        },
        "enter_service": {"delay_s": -1.0},
    }
    with pytest.raises(ParameterError) as info:
        load_grid_code(spec)
    paths = {i.path for i in info.value.issues}
    assert paths == {("enter_service", "delay_s")}  # field errors stop before cross-checks
    del spec["enter_service"]
    with pytest.raises(ParameterError) as info:
        load_grid_code(spec)
    msgs = {(i.path, i.message) for i in info.value.issues}
    paths = {p for p, _ in msgs}
    assert ("trip", "uv1", "clearing_time_s") in paths
    assert ("trip", "of1", "f_hz") in paths
    assert ("trip", "of1", "clearing_time_s") in paths
    assert any("mandatory ride-through region" in m and "4.305" in m for _, m in msgs)


def test_sag_reactive_current_is_data_per_code() -> None:
    """GB/T-style injection is on for gbt_50hz (K = 1.5, below 0.9 pu, Q first) and off for
    every IEEE 1547 category; ΔI_q = K·(V_th − V) below V_th, 0 above (exact)."""
    gbt = load_grid_code(GBT).reactive_current
    assert (gbt.enabled, gbt.k_factor, gbt.v_threshold_pu, gbt.q_priority) == (True, 1.5, 0.9, True)
    assert gbt.source.startswith("[K")
    for name in (CAT_I, CAT_II, CAT_III):
        assert not load_grid_code(name).reactive_current.enabled
    v = np.array([0.0, 0.3, 0.9, 1.0])
    assert_allclose(fault_reactive_current_pu(v, gbt), [1.35, 0.9, 0.0, 0.0], rtol=0, atol=1e-12)
    assert_array_equal(fault_reactive_current_pu(v, load_grid_code(CAT_II).reactive_current), 0.0)
    over = load_grid_code({"base": GBT, "reactive_current": {"k_factor": 2.0}}).reactive_current
    assert_allclose(fault_reactive_current_pu(np.array([0.5]), over), [0.8], rtol=0, atol=1e-12)


_STEP = st.tuples(
    st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.7, 0.88, 1.08, 1.12, 1.25]),  # V pu: mostly normal
    st.sampled_from([0.0, 0.0, 0.0, -1.5, -0.8, 0.8, 1.3, 2.5]),  # f deviation, Hz
    st.sampled_from([0.0, 0.0, 0.5, 3.5]),  # RoCoF
    st.sampled_from([False, False, False, True]),  # islanded
    st.sampled_from([0.1, 1.0, 5.0]),  # dt
    st.sampled_from([-1, -1, -1, -1, 0, 2, -2]),  # a manual trip of that unit, of all (-2), or none
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from([CAT_I, CAT_II, CAT_III, GBT]), steps=st.lists(_STEP, min_size=5, max_size=120))
def test_quiet_path_gives_the_general_paths_state(name: str, steps: list[tuple[float, ...]]) -> None:
    """The quiet paths (nothing can pick up: one row instead of units × thresholds; every unit
    out of service and outside the enter-service window: only the time moves) leave the same
    state and return the same status as the general path, tick by tick, through excursions,
    trips, manual trips and re-entry."""
    code = load_grid_code(name)
    quiet = GridCodeMonitor(3, code)
    general = GridCodeMonitor(3, code)
    general.quiet_path = False
    t = 0.0
    for v, df, rocof, isl, dt, trip in steps:
        if trip != -1:
            for m in (quiet, general):
                m.trip(t, None if trip == -2 else [int(trip)])
        f = code.f_nom_hz + df
        a = quiet.update(t, dt, v, f, rocof, islanded=bool(isl))
        b = general.update(t, dt, v, f, rocof, islanded=bool(isl))
        for field in GridCodeStatus.__dataclass_fields__:
            assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)
        for attr in ("_timers", "_in_service", "_es_timer", "_entered", "_last_mode", "_reason"):
            assert_array_equal(getattr(quiet, attr), getattr(general, attr), err_msg=attr)
        t += dt


def test_a_monitor_waiting_outside_the_window_takes_the_waiting_path_alike() -> None:
    """Every unit tripped, then an island's frequency held outside the enter-service window
    for many ticks, then back inside while the enter-service delay counts, until the units
    re-enter (the waiting repeat serves both): the same statuses and state as the general path
    at every tick, the enter-service timers included."""
    code = load_grid_code(CAT_II)
    fast, general = GridCodeMonitor(4, code), GridCodeMonitor(4, code)
    general.quiet_path = False
    f_out = code.f_nom_hz + 0.5  # over the window's 60.1 Hz, under every trip threshold
    t, dt, waited, counted = 0.0, 0.5, 0, 0
    for m in (fast, general):
        m.trip(t)
    for k in range(1200):  # 250 s outside, then 350 s inside (the enter-service delay: 300 s)
        f = f_out if k < 500 else code.f_nom_hz
        waited += fast._waiting_status is not None
        counted += fast._waiting_status is not None and f == code.f_nom_hz
        a = fast.update(t, dt, 1.0, f)
        b = general.update(t, dt, 1.0, f)
        for field in GridCodeStatus.__dataclass_fields__:
            assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)
        for attr in ("_timers", "_in_service", "_es_timer", "_entered", "_last_mode", "_reason", "_tripped"):
            assert_array_equal(getattr(fast, attr), getattr(general, attr), err_msg=attr)
        t += dt
    assert waited > 400  # the waiting repeat served the held excursion
    assert counted > 500  # and the enter-service delay counted inside the window
    assert fast._in_service.all()  # and the units came back in when the window held
