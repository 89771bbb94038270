"""PCS at the grid terminal: current limit, sag injection, cessation, enter service,
volt-watt / freq-watt from the grid code, hot standby, ambient HVAC and derating (issue 9).

Every expectation is computed from the site's own parameters and grid code (closed forms);
the tolerances say what they absorb.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from hil.config import load_site
from twin.models.gridcode import response_tau_s
from twin.models.pcs import PcsState
from twin.site import Site

FAULT = int(PcsState.FAULT)
STANDBY = int(PcsState.STANDBY)
THROTTLED = int(PcsState.THROTTLED)


STIFF = 1.0e9  # SCR of a stiff grid: the PCS terminal sits at the source voltage the test sets


def _lab(**overrides: Any) -> Site:
    over: dict[str, Any] = {"aging": {"model": "none"}}
    over.update(overrides)
    over["grid"] = {"scr": STIFF, **over.get("grid", {})}
    return load_site("lab_rack", overrides=over)


def _ieee_lab(code: str, **pcs: Any) -> Site:
    return _lab(grid={"f_nom_hz": 60.0, "grid_code": code}, pcs={"grid_code": code, **pcs})


def _running_at(site: Site, p_kw: float, seconds: float = 20.0) -> None:
    site.set("pcs.enable", 1)
    site.set("pcs.p_set_kw", p_kw)
    site.step(round(seconds / site.dt))
    assert site.snapshot()["pcs[0].p_ac_kw"] == pytest.approx(p_kw, rel=1e-6)


# -- current limit and sag behaviour --------------------------------------------------------


@pytest.mark.parametrize("v", [0.3, 0.6, 0.0])
def test_gbt_sag_reactive_current_first_then_active_within_the_current_limit(v: float) -> None:
    """GB/T-style: I_q = K·(0.9 − V)·I_n capped at I_max, Q = V·I_q·S, and P gets what is left
    of S = V·I_max·S (one tick after the sag; the limit acts within the tick; 1e-9 kW)."""
    site = _lab()
    _running_at(site, 40.0)
    pp, rc = site.params.pcs, site.pcs_code.reactive_current
    assert rc.enabled
    assert rc.q_priority
    site.set("grid.v_pu", v)
    snap = site.step(1)
    s_cap = v * pp.i_max_pu * pp.s_rated_kva
    q = v * min(rc.k_factor * (rc.v_threshold_pu - v), pp.i_max_pu) * pp.s_rated_kva
    p = min(40.0, math.sqrt(max(s_cap**2 - q**2, 0.0)))
    assert snap["pcs[0].q_ac_kvar"] == pytest.approx(q, abs=1e-9)
    assert snap["pcs[0].p_ac_kw"] == pytest.approx(p, abs=1e-9)
    assert math.hypot(snap["pcs[0].p_ac_kw"], snap["pcs[0].q_ac_kvar"]) <= s_cap + 1e-9


@pytest.mark.parametrize("v", [0.3, 0.0])
def test_ieee_cat_ii_sag_is_current_limited_without_injection(v: float) -> None:
    """Cat II at 0.30 pu (permissive, keeps current): P = V·I_max·S, Q = 0; at 0 V nothing."""
    site = _ieee_lab("ieee1547_2018_cat_ii")
    _running_at(site, 40.0)
    assert not site.pcs_code.reactive_current.enabled
    pp = site.params.pcs
    site.set("grid.v_pu", v)
    snap = site.step(1)
    assert snap["pcs[0].p_ac_kw"] == pytest.approx(min(40.0, v * pp.i_max_pu * pp.s_rated_kva), abs=1e-9)
    assert snap["pcs[0].q_ac_kvar"] == pytest.approx(0.0, abs=1e-9)


def test_overload_factor_raises_the_sag_current_limit() -> None:
    """i_max_pu = 1.2: at 0.3 pu the unit carries 0.36 × S (Cat II, no injection; 1e-9 kW)."""
    site = _ieee_lab("ieee1547_2018_cat_ii", i_max_pu=1.2)
    _running_at(site, 40.0)
    site.set("grid.v_pu", 0.3)
    snap = site.step(1)
    assert snap["pcs[0].p_ac_kw"] == pytest.approx(0.3 * 1.2 * 50.0, abs=1e-9)


def test_cat_iii_momentary_cessation_then_return_without_trip() -> None:
    """Cat III below 0.50 pu: P = Q = 0 at once, no trip; back at the set point (0.5 %) within
    ramp time + 2·T_r after the voltage returns."""
    site = _ieee_lab("ieee1547_2018_cat_iii")
    _running_at(site, 40.0)
    pp = site.params.pcs
    site.set("grid.v_pu", 0.3)
    for _ in range(5):  # 0.5 s, inside the 1 s cessation region and before UV2 (2 s)
        snap = site.step(1)
        assert snap["pcs[0].p_ac_kw"] == 0.0
        assert snap["pcs[0].q_ac_kvar"] == 0.0
        assert snap["pcs[0].state"] == THROTTLED
    site.set("grid.v_pu", 1.0)
    t_back = 40.0 / (pp.ramp_pct_per_s / 100.0 * pp.p_rated_kw) + 2.0 * pp.t_response_s
    site.step(math.ceil(t_back / site.dt))
    snap = site.snapshot()
    assert snap["pcs[0].p_ac_kw"] == pytest.approx(40.0, rel=5e-3)
    assert site.pcs.trip_count[0] == 0


def test_enter_service_ramp_after_a_trip() -> None:
    """After an LVRT trip the unit waits the enter-service delay, then its |P| limit ramps
    0 → P_rated over the ramp time: at mid-ramp P = P_rated/2 (± 0.5 % of rating, the lag
    behind a 1/300 pu/s ramp is ~0.01 %), the set point (0.8 P_rated, under the cabinet's BMS
    limit) at 0.8 of the ramp, nothing before the delay."""
    site = _lab(tick_s=1.0)
    pp = site.params.pcs
    p_set = 0.8 * pp.p_rated_kw
    _running_at(site, p_set)
    es = site.pcs_code.enter_service
    site.set("grid.v_pu", 0.0)
    site.step(1)
    assert site.snapshot()["pcs[0].state"] == FAULT
    site.set("grid.v_pu", 1.0)
    t_clear = site.t
    site.step(round(es.delay_s - 1.0))
    assert site.snapshot()["pcs[0].p_ac_kw"] == 0.0
    site.step(round(t_clear + es.delay_s + es.ramp_s / 2 - site.t))
    assert site.snapshot()["pcs[0].p_ac_kw"] == pytest.approx(0.5 * pp.p_rated_kw, abs=5e-3 * pp.p_rated_kw)
    site.step(round(t_clear + es.delay_s + 0.8 * es.ramp_s - 10.0 - site.t))
    assert site.snapshot()["pcs[0].p_ac_kw"] < p_set - 0.5
    site.step(15)
    assert site.snapshot()["pcs[0].p_ac_kw"] == pytest.approx(p_set, rel=1e-6)


# -- freq-watt and volt-watt from the grid code --------------------------------------------------


def _freq_step(code: Any, df: float, seconds: float) -> tuple[Site, np.ndarray]:
    site = _lab(pcs={"grid_code": code})
    _running_at(site, 25.0)
    site.set("grid.f_hz", site.params.grid.f_nom_hz + df)
    trace = np.array([site.step(1)["pcs[0].p_ac_kw"] for _ in range(round(seconds / site.dt))])
    return site, trace


@pytest.mark.parametrize("deadband", [None, 0.1])
def test_freq_watt_uses_the_grid_codes_deadband_and_droop(deadband: float | None) -> None:
    """Steady state 60 s after +0.2 Hz: P = P_set − (Δf − db)/(f_nom·droop)·P_n with the
    code's own deadband (0.03 Hz for gbt_50hz, 0.1 Hz in the override; 1e-6 kW)."""
    code: Any = (
        "gbt_50hz" if deadband is None else {"base": "gbt_50hz", "freq_watt": {"deadband_hz": deadband}}
    )
    site, trace = _freq_step(code, 0.2, 60.0)
    fw = site.pcs_code.freq_watt
    assert fw.deadband_hz == (0.03 if deadband is None else deadband)
    expected = 25.0 - (0.2 - fw.deadband_hz) / (site.params.grid.f_nom_hz * fw.droop) * 50.0
    assert trace[-1] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("t_r", [2.0, 10.0])
def test_freq_watt_response_time_follows_the_grid_code(t_r: float) -> None:
    """90 % of the droop step at the code's T_r: the filter (τ = T_r/ln 10) then the PCS's own
    0.5 s response; the cascade reaches 90 % between T_r and T_r + T_r,PCS."""
    code = {"base": "gbt_50hz", "freq_watt": {"t_r_s": t_r}}
    site, trace = _freq_step(code, 0.2, 4.0 * t_r)
    final = trace[-1] + (trace[-1] - 25.0) * math.exp(-4.0 * t_r / response_tau_s(t_r)) * 1.01
    ninety = 25.0 + 0.9 * (final - 25.0)
    t90 = (np.argmax(trace <= ninety) + 1) * site.dt
    assert t_r - site.dt <= t90 <= t_r + site.params.pcs.t_response_s + site.dt


@pytest.mark.parametrize("v1", [1.06, 1.04])
def test_volt_watt_follows_the_grid_codes_curve(v1: float) -> None:
    """volt_watt on, V = 1.08 pu: P ≤ P_n·(1 − (V − V1)/(V2 − V1)) (absorbing BESS: P2 = 0),
    after 6 × T_r (1e-3 kW); the curve from the code, V1 changed by an override."""
    site = _lab(pcs={"volt_watt": True, "grid_code": {"base": "gbt_50hz", "volt_watt": {"v1_pu": v1}}})
    _running_at(site, 45.0)
    vw = site.pcs_code.volt_watt
    site.set("grid.v_pu", 1.08)
    site.step(round(6 * vw.t_r_s / site.dt))
    limit = 50.0 * (1.0 - (1.08 - vw.v1_pu) / (vw.v2_pu - vw.v1_pu) * (1.0 - vw.p2_absorbing_pu))
    assert site.snapshot()["pcs[0].p_ac_kw"] == pytest.approx(limit, abs=1e-3 * 50.0)


def test_volt_watt_off_by_default() -> None:
    site = _lab()
    _running_at(site, 45.0)
    site.set("grid.v_pu", 1.08)
    assert site.step(100)["pcs[0].p_ac_kw"] == pytest.approx(45.0, rel=1e-9)


# -- hot standby, self-discharge and standby SoC loss --------------------------------------------


def test_hot_standby_after_the_hold_and_instant_wake() -> None:
    """P = Q = 0 held for standby_hold_s → InvSt STANDBY, loss = standby loss; a non-zero set
    point wakes it in the same tick (RUNNING, output rising that tick)."""
    site = _lab(pcs={"standby": True})
    pp = site.params.pcs
    _running_at(site, 0.0, seconds=pp.start_s + site.params.bms.precharge_s + 1.0)
    snap = site.snapshot()
    assert snap["pcs[0].state"] != STANDBY
    assert snap["pcs[0].loss_kw"] == pytest.approx(pp.eff_p0_discharge * pp.p_rated_kw, rel=1e-9)
    snap = site.step(round(pp.standby_hold_s / site.dt) + 1)
    assert snap["pcs[0].state"] == STANDBY
    assert snap["pcs[0].loss_kw"] == pytest.approx(pp.standby_loss_pu * pp.p_rated_kw, rel=1e-9)
    assert snap["pcs[0].p_max_dis_kw"] > 0  # ready: the EMS may dispatch it
    site.set("pcs.p_set_kw", 20.0)
    snap = site.step(1)
    assert snap["pcs[0].state"] == int(PcsState.RUNNING)
    assert snap["pcs[0].p_ac_kw"] > 0.5  # ramp 100 %/s then the 0.5 s lag: ≈ 1 kW after 0.1 s


def test_without_standby_a_held_unit_keeps_switching() -> None:
    """``standby: false``: a unit held at P = 0 keeps switching with its no-load loss P0·P_n."""
    site = _lab(pcs={"standby": False})
    pp = site.params.pcs
    assert not pp.standby
    _running_at(site, 0.0, seconds=pp.standby_hold_s + 20.0)
    snap = site.snapshot()
    assert snap["pcs[0].state"] == int(PcsState.RUNNING)
    assert snap["pcs[0].loss_kw"] == pytest.approx(pp.eff_p0_discharge * pp.p_rated_kw, rel=1e-9)


def _soc_drop_per_day(enable: int) -> tuple[Site, float, float]:
    site = _lab(tick_s=60.0)  # standby is the default
    assert site.params.pcs.standby
    site.set("pcs.enable", enable)
    site.step(2)
    if enable:
        assert site.snapshot()["pcs[0].state"] == STANDBY
    s0 = site.snapshot()["bess[0].soc_pct"]
    site.step(1440)
    return site, s0, s0 - site.snapshot()["bess[0].soc_pct"]


@pytest.mark.parametrize("enable", [1, 0])
def test_standby_soc_loss_per_day(enable: int) -> None:
    """A cabinet held at P = 0 for a day loses self-discharge (rate × day at the 25 °C cells)
    plus, enabled, the standby loss drawn through the cells: P_sb·24 h / (n_s·n_p·Q·OCV)
    (2 % for the OCV's slope over the drop and the cells' small ohmic loss)."""
    site, s0, drop = _soc_drop_per_day(enable)
    bp, pp, bat = site.params.battery, site.params.pcs, site.battery
    sd = bp.self_discharge_pct_per_month / 30.0
    ocv = float(bat.cell.ocv(np.array(s0 / 100.0)))
    q_kwh = bp.n_series * bp.n_parallel * bat.cell.capacity_ah * ocv / 1000.0
    sb = enable * pp.standby_loss_pu * pp.p_rated_kw * 24.0 / q_kwh * 100.0
    assert drop == pytest.approx(sd + sb, rel=2e-2)


def test_self_discharge_doubles_per_ten_degrees() -> None:
    """Battery alone, no current, 30 days: ΔSoC = rate; at T_ref + 10 °C twice that (1e-9);
    the chemical power books exactly the stored-energy drop (1e-4)."""
    site = _lab()
    bat = site.battery
    drops = []
    for t in (25.0, 35.0):
        bat.state.t_cell_degc[:] = t
        bat.state.t_jig_degc[:] = t
        bat.t_coolant[:] = t
        s0 = bat.state.soc.copy()
        e0 = float(bat.stored_energy_kwh().sum())
        chem_kwh = 0.0
        for _ in range(30):
            chem_kwh += float(bat.step_current(np.zeros(1), 86400.0).sum()) * 86400.0 / 3.6e6
        drops.append(float(np.mean(s0 - bat.state.soc)))
        assert chem_kwh == pytest.approx(e0 - float(bat.stored_energy_kwh().sum()), rel=1e-4)
    rate = site.params.battery.self_discharge_pct_per_month / 100.0
    assert drops[0] == pytest.approx(rate, rel=1e-9)
    assert drops[1] == pytest.approx(2.0 * rate, rel=1e-9)


def test_ivp_and_fixed_paths_agree_in_standby() -> None:
    """The reference path books the same standby and self-discharge: SoC after 10 min at P = 0
    agrees to 1e-6 (fraction)."""
    out = []
    for method in ("fixed", "ivp"):
        site = _lab(tick_s=10.0, method=method, pcs={"standby": True})
        site.set("pcs.enable", 1)
        site.step(60)
        out.append(site.snapshot()["bess[0].soc_pct"] / 100.0)
    assert out[0] == pytest.approx(out[1], abs=1e-6)


# -- ambient ---------------------------------------------------------------------------------


def test_ambient_raises_hvac_power() -> None:
    """aux = aux_kw + S·(hvac_base + slope·max(T − T_ref, 0)) at P = 0, disabled or not
    (always energised; 1e-9 kW)."""
    site = _lab()
    pp = site.params.pcs
    for t_amb in (15.0, 25.0, 40.0):
        site.set("site.t_ambient_degc", t_amb)
        snap = site.step(1)
        warm = max(t_amb - pp.hvac_t_ref_degc, 0.0)
        expected = pp.aux_kw + pp.s_rated_kva * (pp.hvac_base_pu + pp.hvac_slope_pu_per_degc * warm)
        assert snap["pcs[0].aux_kw"] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("t_amb", "derate_in"), [(55.0, 1.0), (55.0, 0.7), (30.0, 0.9)])
def test_ambient_derating_combines_with_the_derate_input(t_amb: float, derate_in: float) -> None:
    """Available discharge power = min(ambient derate, derate_pu) × S (below the BMS limit)."""
    site = _lab()
    pp = site.params.pcs
    site.set("site.t_ambient_degc", t_amb)
    site.set("pcs.derate_pu", derate_in)
    _running_at(site, 0.0, seconds=pp.start_s + site.params.bms.precharge_s + 1.0)
    d_amb = 1.0 - pp.derate_pu_per_degc * max(t_amb - pp.derate_t_start_degc, 0.0)
    expected = min(d_amb, derate_in) * pp.s_rated_kva
    snap = site.snapshot()
    dis_dc = float(site.bms.dcl[0] * snap["bess[0].v_dc_v"] / 1000.0 * 0.98)
    assert expected < dis_dc
    assert snap["pcs[0].p_max_dis_kw"] == pytest.approx(expected, rel=1e-9)
    site.set("pcs.p_set_kw", 50.0)
    snap = site.step(50)
    assert snap["pcs[0].p_ac_kw"] == pytest.approx(expected, rel=1e-6)
