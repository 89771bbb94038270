"""The BMS acts on what it measures: SoC decisions on its estimate, recalibration, cold derate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.config import load_site
from twin import load_cell
from twin.models.battery import Battery, BatteryParams
from twin.models.bms import ALARM_BITS, Bms, BmsParams, ChaSt, Contactor
from twin.models.cell import CellModel, CellParams

LFP = load_cell("lfp_280ah")


def _bms(
    cell: CellParams = LFP,
    *,
    n: int = 1,
    params: BmsParams | None = None,
    soc0: float = 0.5,
    ocv: bool = True,
) -> Bms:
    """A BMS wired to ``cell`` the way ``Site`` wires it."""
    return Bms(
        params or BmsParams(),
        n,
        i_max_charge_a=cell.i_max_charge_a,
        i_max_discharge_a=cell.i_max_discharge_a,
        cell_t_charge=(cell.t_charge_min_degc, cell.t_charge_max_degc),
        cell_t_discharge=(cell.t_discharge_min_degc, cell.t_discharge_max_degc),
        soc0=soc0,
        i_max_discharge_vs_t=cell.discharge_limit_table_a(),
        soc_from_ocv=CellModel(cell).soc_from_ocv if ocv else None,
    )


def _out(n: int = 1, *, i: float = 0.0, t_degc: float | list[float] = 25.0) -> dict[str, np.ndarray]:
    """Battery outputs with healthy mid-plateau cells (nothing here trips a voltage protection).
    ``soc_pct`` is deliberately absurd: the BMS must not read the true SoC."""
    t = np.broadcast_to(np.asarray(t_degc, dtype=float), (n,)).copy()
    return {
        "soc_pct": np.full(n, -1.0e6),
        "soc_min_pct": np.full(n, -1.0e6),
        "v_dc_v": np.full(n, 52 * 3.3),
        "i_dc_a": np.full(n, i),
        "p_dc_kw": np.full(n, 52 * 3.3 * i / 1000),
        "v_cell_min_v": np.full(n, 3.29),
        "v_cell_max_v": np.full(n, 3.30),
        "v_imbalance_mv": np.full(n, 10.0),
        "t_cell_min_degc": t,
        "t_cell_max_degc": t.copy(),
        "energy_kwh": np.zeros(n),
        "heat_kw": np.zeros(n),
    }


def _close(bms: Bms, out: dict[str, np.ndarray], n_parallel: int, cap: np.ndarray) -> None:
    bms.close_cmd = np.ones(bms.n)
    for _ in range(4):  # precharge 2 s
        bms.update(1.0, out, n_parallel, cap)
    assert np.all(bms.contactor == int(Contactor.CLOSED))


def _bit(bits: np.ndarray | float, name: str) -> bool:
    return bool(int(np.asarray(bits).flat[0]) >> ALARM_BITS[name] & 1)


# -- low-temperature discharge derate ------------------------------------------------------


def test_dcl_follows_the_cell_discharge_derate_table() -> None:
    """DCL = C-rate(T_min) × Q_nom × n_p, linear in the table, held above its last point and
    zero at or below t_discharge_min_degc (1e-12 relative)."""
    temps = [-25.0, -20.0, -15.0, -5.0, 5.0, 15.0, 20.0, 30.0]
    n, n_p = len(temps), 6
    bms = _bms(n=n, params=BmsParams(t_alarm_low_degc=-40.0))  # the default trips at −15 °C
    cap = np.full((n, 4), LFP.capacity_ah)
    out = _out(n, t_degc=temps)
    _close(bms, out, n_p, cap)
    expected = np.interp(temps, LFP.discharge_derate_t_degc, LFP.discharge_derate_c_rate)
    expected = expected * LFP.capacity_ah * n_p * (np.array(temps) > LFP.t_discharge_min_degc)
    np.testing.assert_allclose(bms.dcl, expected, rtol=1e-12, atol=1e-9)
    # the shipped table itself: 0.25C at −15 °C, 0.4C at −5 °C, 1C from 20 °C (per string, A)
    np.testing.assert_allclose(bms.dcl[[2, 3, 6, 7]] / n_p, [70.0, 112.0, 280.0, 280.0], rtol=1e-12)


def test_a_cell_without_a_table_keeps_its_flat_discharge_limit() -> None:
    """ecm_example_100ah has no table: 200 A per string down to its minimum temperature, as before."""
    demo = load_cell("ecm_example_100ah")
    assert demo.discharge_limit_table_a() is None
    bms = _bms(demo, n=3, params=BmsParams(t_alarm_low_degc=-40.0))
    cap = np.full((3, 4), demo.capacity_ah)
    out = _out(3, t_degc=[-25.0, -15.0, 25.0])
    _close(bms, out, 2, cap)
    np.testing.assert_allclose(bms.dcl, [0.0, 400.0, 400.0], rtol=1e-12)


def test_cold_site_discharges_at_the_derated_current() -> None:
    """lab_rack at −10 °C asked for 45 kW (≈ 290 A) gets 0.3C = 84 A (it used to get 280 A).
    The PCS turns the DCL into an AC power limit with a fixed 98 % efficiency, so the DC current
    lands within 2 % of the limit."""
    cold = {"battery": {"t0_degc": -10.0, "t_coolant_degc": -10.0}, "aging": {"model": "none"}}
    site = load_site("lab_rack", overrides=cold)
    site.set("pcs.enable", 1)
    site.step(100)
    site.set("bess.p_set_kw", 45.0)
    snap = site.step(50)
    i_limit = 0.3 * LFP.capacity_ah
    assert snap["bms[0].dcl_a"] == pytest.approx(i_limit, rel=1e-3)  # cells warm by < 0.01 K
    assert i_limit * 0.98 <= snap["bess[0].i_dc_a"] <= i_limit * 1.02


# -- SoC decisions read the estimate -------------------------------------------------------


def test_under_soc_alarm_and_empty_fire_at_the_estimate_not_the_truth() -> None:
    """100 A discharge measured as 95 A (bias −5 A): the estimate reaches soc_min = 3 % at
    t* = (0.20 − 0.03) × 3600 × 280 / 95 s, when the true SoC is 0.20 − 0.17 × 100/95 = 2.105 %.
    The alarm tick is the first 1 s tick at or after t*, so the true SoC there is within one
    tick of counting (100 A × 1 s = 0.0099 % of 280 A·h) below that."""
    p = BmsParams(soc_sensor_bias_a=-5.0)
    bms = _bms(params=p, soc0=0.20)
    cap = np.full((1, 4), 280.0)
    _close(bms, _out(), 1, cap)
    true_soc, t = 0.20, 0.0
    while not _bit(bms.alarm_bits, "UNDER_SOC_MIN_ALARM"):
        assert t < 3 * 3600, "the alarm never fired"
        true_soc -= 100.0 / (3600 * 280)
        t += 1.0
        bms.update(1.0, _out(i=100.0), 1, cap)
    t_star = (0.20 - 0.03) * 3600 * 280 / 95
    assert t_star <= t < t_star + 1.0
    assert true_soc == pytest.approx(0.20 - 0.17 * 100 / 95, abs=100 / (3600 * 280))
    assert true_soc < p.soc_min - 0.008  # the truth is well below the limit when it fires
    assert bms.soc_est[0] <= p.soc_min
    assert bms.cha_st[0] == ChaSt.EMPTY
    assert bms.dcl[0] == 0.0  # the SoC taper closed with the estimate


def test_full_and_charge_limit_follow_the_estimate() -> None:
    """An estimate 5 % high at a true 94 %: OVER_SOC_MAX, FULL and CCL 0 at the estimated 99 %,
    below which the true SoC never reached soc_max (98 %)."""
    bms = _bms(params=BmsParams(soc_estimate_error=0.05), soc0=0.94)
    _close(bms, _out(), 1, np.full((1, 4), 280.0))
    assert bms.soc_est[0] == pytest.approx(0.99)
    assert _bit(bms.alarm_bits, "OVER_SOC_MAX_ALARM")
    assert bms.cha_st[0] == ChaSt.FULL
    assert bms.ccl[0] == 0.0
    assert bms.dcl[0] == pytest.approx(280.0)


def _discharge_lab_rack(gain: float, ticks: int) -> tuple[dict[str, float], float, bool]:
    """lab_rack from 12 % asked for 30 kW (≈ 0.7C) in 2 s ticks until ``ticks`` or the
    UNDER_VOLT trip; returns the last snapshot, the lowest true SoC [%] and whether the
    UNDER_SOC alarm was ever raised."""
    site = load_site(
        "lab_rack",
        overrides={
            "tick_s": 2.0,
            "aging": {"model": "none"},
            "battery": {"soc0": 0.12},
            "bms": {"soc_sensor_gain": gain},
        },
    )
    site.set("pcs.enable", 1)
    site.step(10)
    site.set("bess.p_set_kw", 30.0)
    lowest, soc_alarm = 100.0, False
    for _ in range(ticks):
        snap = site.step()
        lowest = min(lowest, snap["bess.soc_pct"])
        soc_alarm |= _bit(snap["bms[0].alarm_bits"], "UNDER_SOC_MIN_ALARM")
        if _bit(snap["bms[0].alarm_bits"], "UNDER_VOLT_ALARM"):
            break
    return snap.to_dict(), lowest, soc_alarm


def test_a_low_reading_current_sensor_over_discharges_until_the_voltage_protection() -> None:
    """The point of acting on the estimate. With an exact sensor the SoC taper brings lab_rack to
    rest at soc_min = 3 % (the estimate counts the pack's own current; 0.05 % for the one-tick
    offset between the end-of-tick current it counts and the tick mean the cells see). A sensor
    reading 70 % of the current keeps the estimate above soc_min while the true SoC falls
    below it; only the cell-voltage taper and then the UNDER_VOLT alarm (2.70 V) stop it."""
    soc_min_pct = 100 * BmsParams().soc_min
    snap, lowest, _ = _discharge_lab_rack(1.0, 500)
    assert lowest >= soc_min_pct - 0.05
    assert snap["bms[0].dcl_a"] < 10.0  # tapered nearly shut by the estimate
    assert not _bit(snap["bms[0].alarm_bits"], "UNDER_VOLT_ALARM")

    snap, lowest, soc_alarm = _discharge_lab_rack(0.7, 1000)
    assert _bit(snap["bms[0].alarm_bits"], "UNDER_VOLT_ALARM")
    assert snap["bms[0].contactor"] == Contactor.FAULT
    assert not soc_alarm  # the SoC protection never saw it
    assert snap["bms[0].soc_est_pct"] > soc_min_pct
    assert lowest < soc_min_pct - 1.0  # the truth went ≥ 1 % below soc_min (0.88 % here)


# -- recalibration --------------------------------------------------------------------------


def _rack(soc0: float) -> Battery:
    return Battery(
        # no self-discharge: the true SoC would drift (2.5 %/month) under an estimate that
        # cannot see it, and these tests hold the estimate error to 1e-9
        BatteryParams(
            n_cabinets=1,
            n_series=16,
            n_parallel=1,
            cells_modelled=8,
            soc0=soc0,
            self_discharge_pct_per_month=0.0,
        ),
        LFP,
        rng=np.random.default_rng(3),
    )


def _run(bat: Battery, bms: Bms, i_a: float, seconds: float, dt: float = 1.0) -> None:
    for _ in range(round(seconds / dt)):
        bat.step_current(np.array([i_a]), dt)
        bms.update(dt, bat.outputs_now(), 1, bat.capacity_ah)


def _pack_soc(bat: Battery) -> float:
    q = bat.capacity_ah
    return float((bat.state.soc * q).sum() / q.sum())


def test_top_of_charge_snaps_the_estimate_and_clears_the_drift() -> None:
    """Charging at 0.5C with an estimate 10 % low and a drifting sensor: the first tick the
    highest cell reads 3.55 V, the estimate becomes SoC_OCV(V_max) and the drift offset 0.

    Tolerance from the inputs: a charging cell's OCV is at least V − I·(R0 + R1 + R2)·r_factor,
    so its SoC is at least SoC_OCV(V_max − ΔV); add the spread of the cells' SoCs."""
    p = BmsParams(soc_estimate_error=-0.10, soc_sensor_drift_a_per_h=36.0)
    bat, bms = _rack(0.95), _bms(params=p, soc0=0.95)
    cell = CellModel(LFP)
    i_ch, dt = -140.0, 1.0
    for _ in range(2000):
        bat.step_current(np.array([i_ch]), dt)
        out = bat.outputs_now()
        drift_before = bms.drift_offset_a[0]
        bms.update(dt, out, 1, bat.capacity_ah)
        if out["v_cell_max_v"][0] >= p.v_cell_charge_end_v:
            break
        assert bms.recalibrations[0] == 0
    else:
        pytest.fail("never reached the charge-end voltage")
    assert drift_before > 0.5  # there was an offset to clear (36 A/h for over 50 s)
    assert bms.recalibrations[0] == 1
    assert bms.drift_offset_a[0] == 0.0
    v_max = float(out["v_cell_max_v"][0])
    assert bms.soc_est[0] == pytest.approx(float(cell.soc_from_ocv(np.array(v_max))), abs=1e-12)
    st = bat.state
    r0, r, _ = cell.rc_values(st.t_cell_degc, np.array(i_ch), st.soc)
    dv = float(np.max(-i_ch * (r0 + r.sum(axis=0)) * bat.r_scale))
    tol = float(cell.soc_from_ocv(np.array(v_max)) - cell.soc_from_ocv(np.array(v_max - dv)))
    tol += float(st.soc.max() - st.soc.min())
    error = bms.soc_est[0] - _pack_soc(bat)
    assert abs(error) <= tol
    assert tol < 0.01  # the knee of the LFP curve makes the charge end a good reference
    # still at the top next tick: no second snap
    _run(bat, bms, i_ch, 5.0)
    assert bms.recalibrations[0] == 1


def _rest_after_moving_to(target: float, error: float, **bms_kw: float) -> tuple[Battery, Bms, float]:
    """Drive a rack from target ± 3 % to ``target`` (so the cells spread and the RC pairs charge),
    then rest for the rest time plus 60 s. Returns the rack, its BMS and the RC residual bound."""
    p = BmsParams(soc_estimate_error=error, **bms_kw)
    up = target > 0.9  # reach the top knee by charging at 0.2C, the rest by discharging at 0.5C
    start = target - 0.02 if up else target + 0.03
    i = -56.0 if up else 140.0
    bat, bms = _rack(start), _bms(params=p, soc0=start)
    _run(bat, bms, i, abs(target - start) * 3600 * 280 / abs(i))
    assert bms.recalibrations[0] == 0
    _run(bat, bms, 0.0, p.rest_time_s + 60.0, dt=10.0)  # exact steps: the tick does not matter
    # what is left of the RC overpotentials at the recalibration (τ2 = 400 s is the slow pair)
    residual = float(np.abs(bat.state.v_rc.sum(axis=0)).max()) * math.exp(60.0 / 400.0)
    return bat, bms, residual


@pytest.mark.parametrize("target", [0.04, 0.08, 0.995])
def test_rest_on_a_steep_part_resets_the_estimate_from_ocv(target: float) -> None:
    """After 30 min at rest, SoC 4 %, 8 % or 99.5 % (dOCV/dSoC ≥ 1 V per unit SoC): the estimate
    5 % off becomes the mean of the SoCs of the lowest and highest cell voltages. Tolerance: half
    the cell-SoC spread (mid-range vs capacity-weighted mean) plus the RC residual over the
    minimum slope. A drifting sensor's offset is cleared."""
    error = -0.05 if target > 0.9 else 0.05
    bat, bms, residual = _rest_after_moving_to(target, error, soc_sensor_drift_a_per_h=2.0)
    p = bms.params
    soc = bat.state.soc
    tol = 0.5 * float(soc.max() - soc.min()) + residual / p.ocv_recal_min_slope_v
    assert bms.recalibrations[0] == 1
    assert abs(bms.soc_est[0] - _pack_soc(bat)) <= tol
    assert tol < 0.01
    # 60 s of 2 A/h drift since the reset, not the ~40 min before it
    assert bms.drift_offset_a[0] == pytest.approx(2.0 * 60 / 3600, rel=1e-9)


@pytest.mark.parametrize("target", [0.30, 0.50, 0.70, 0.95])
def test_rest_on_the_plateau_leaves_the_estimate_alone(target: float) -> None:
    """On the 30–95 % plateau (42 mV over 30–70 %, 0.1 V per unit SoC) a 10 mV reading error
    would move the estimate ~10 %: no recalibration, the 5 % error stays exactly (1e-9)."""
    bat, bms, _ = _rest_after_moving_to(target, -0.05)
    assert bms.recalibrations[0] == 0
    assert bms.soc_est[0] - _pack_soc(bat) == pytest.approx(-0.05, abs=1e-9)


def test_rest_needs_the_measured_current_to_be_quiet() -> None:
    """A 5 A bias reads as current flowing (rest threshold C/100 = 2.8 A): no rest, no reset."""
    _, bms, _ = _rest_after_moving_to(0.05, 0.05, soc_sensor_bias_a=5.0)
    assert bms.recalibrations[0] == 0
    assert bms.rest_s[0] == 0.0


def test_without_an_ocv_inverse_there_is_no_rest_recalibration() -> None:
    """Old callers (no ``soc_from_ocv``) keep Coulomb counting through a rest on a steep part."""
    bat, bms = _rack(0.05), _bms(params=BmsParams(soc_estimate_error=0.05), soc0=0.05, ocv=False)
    _run(bat, bms, 0.0, bms.params.rest_time_s + 60.0, dt=10.0)
    assert bms.recalibrations[0] == 0
    assert bms.soc_est[0] == pytest.approx(0.10, abs=1e-12)


def test_802_state_follows_the_contactor_of_each_unit() -> None:
    from twin.models.bms import BmsState

    bms = Bms(
        BmsParams(),
        4,
        i_max_charge_a=280.0,
        i_max_discharge_a=280.0,
        cell_t_charge=(0.0, 55.0),
        cell_t_discharge=(-20.0, 60.0),
        soc0=0.5,
    )
    bms.contactor = np.array([int(c) for c in Contactor])  # OPEN, PRECHARGE, CLOSED, FAULT
    want = [BmsState.DISCONNECTED, BmsState.INITIALIZING, BmsState.CONNECTED, BmsState.FAULT]
    got = bms.state_code()
    assert got.tolist() == [float(s) for s in want]
    got[0] = -1.0  # a new array each call: the caller may keep or change it
    assert bms.state_code()[0] == float(BmsState.DISCONNECTED)
