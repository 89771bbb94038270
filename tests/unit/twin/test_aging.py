"""Aging models: physics.md §6 cases 6 and 7, and the virtual-time tracker.

The §6 numbers are quoted to 3 significant figures, so each is checked to half a unit in
its last quoted digit (e.g. 4.25 % ± 0.005 percentage points): the tightest tolerance that
the quoted value supports. A year is 365 days (see ``test_year_is_365_days``).
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.aging import (
    DAY_S,
    NAUMANN_ROWS,
    YEAR_S,
    AgingModel,
    BlastParams,
    NaumannParams,
    blast_lfp250_calendar_capacity_loss,
    blast_lfp250_cycle_capacity_loss,
    graphite_potential_v,
    naumann_calendar_capacity_loss,
    naumann_calendar_resistance_increase,
    naumann_cycle_capacity_loss,
    naumann_cycle_resistance_increase,
    naumann_row,
)
from twin.errors import ParameterError
from twin.params import from_dict

T25, T35, T40, T45 = 298.15, 308.15, 313.15, 318.15


def half_ulp(quoted: str) -> float:
    """Half a unit in the last digit of a quoted decimal number (in the same unit)."""
    decimals = len(quoted.split(".")[1]) if "." in quoted else 0
    return 0.5 * 10.0**-decimals


def assert_quoted_pct(value_fraction: object, quoted_pct: str) -> None:
    np.testing.assert_allclose(
        100.0 * np.asarray(value_fraction), float(quoted_pct), rtol=0, atol=half_ulp(quoted_pct)
    )


# ------------------------------------------------------------------ physics.md §6 case 6


@pytest.mark.parametrize(
    ("t_cell_k", "soc", "years", "quoted_pct"),
    [
        (T25, 0.5, 1, "4.25"),
        (T25, 0.5, 10, "13.4"),
        (T25, 1.0, 1, "6.77"),
        (T25, 1.0, 10, "21.4"),
        (T40, 0.5, 1, "5.92"),
        (T40, 0.5, 10, "18.7"),
    ],
)
def test_case6_naumann_calendar(t_cell_k: float, soc: float, years: int, quoted_pct: str) -> None:
    assert_quoted_pct(naumann_calendar_capacity_loss(years * YEAR_S, soc, t_cell_k), quoted_pct)


@pytest.mark.parametrize(
    ("c_rate", "doc", "fec", "quoted_pct"),
    [
        (1.0, 1.0, 1000, "6.83"),
        (1.0, 1.0, 5000, "15.3"),
        (0.5, 0.8, 1000, "4.57"),
        (0.5, 0.8, 5000, "10.2"),
    ],
)
def test_case6_naumann_cycle(c_rate: float, doc: float, fec: int, quoted_pct: str) -> None:
    assert_quoted_pct(naumann_cycle_capacity_loss(fec, doc, c_rate), quoted_pct)


def test_year_is_365_days() -> None:
    """§6 quotes 6.77 % for SoC 1.0 after one year: only a 365-day year gives that."""
    one_year = naumann_calendar_capacity_loss(365.0 * DAY_S, 1.0, T25)
    julian_year = naumann_calendar_capacity_loss(365.25 * DAY_S, 1.0, T25)
    assert f"{100 * float(one_year):.2f}" == "6.77"
    assert f"{100 * float(julian_year):.2f}" == "6.78"
    assert YEAR_S == 365.0 * DAY_S


def test_naumann_resistance_follows_simses() -> None:
    """Resistance terms: SimSES squares the calendar SoC term, so SoC 0 and 1 age alike.
    Reference values worked out by hand from the coefficients (relative tolerance 1e-4)."""
    r_cal = naumann_calendar_resistance_increase(YEAR_S, [0.5, 1.0, 0.0], T25)
    # 3.4194e-10 s^-1 × 31 536 000 s × 1.5604 ; × (1.5604 − 3.3903/4)
    np.testing.assert_allclose(r_cal, [0.0168264, 0.0076867, 0.0076867], rtol=1e-4)
    r_cyc = naumann_cycle_resistance_increase(1000, 1.0, 1.0)
    # (−0.002 + 0.0021) × (6.8477/8 + 0.9182) × 1000 / 100
    np.testing.assert_allclose(r_cyc, 0.00177416, rtol=1e-4)


# ------------------------------------------------------------------ physics.md §6 case 7


@pytest.mark.parametrize(
    ("t_cell_k", "soc", "years", "quoted_pct"),
    [
        (T25, 0.5, 1, "1.10"),
        (T25, 0.5, 10, "3.70"),
        (T25, 1.0, 1, "1.71"),
        (T25, 1.0, 10, "5.75"),
        (T35, 1.0, 1, "3.12"),
        (T35, 1.0, 10, "10.5"),
        (T45, 0.5, 1, "3.63"),
        (T45, 0.5, 10, "12.2"),
    ],
)
def test_case7_blast_calendar(t_cell_k: float, soc: float, years: int, quoted_pct: str) -> None:
    assert_quoted_pct(blast_lfp250_calendar_capacity_loss(years * YEAR_S, soc, t_cell_k), quoted_pct)


def test_case7_blast_cycle() -> None:
    assert_quoted_pct(blast_lfp250_cycle_capacity_loss(3650, 1.0, 0.5, T25), "19.8")


@pytest.mark.parametrize(("soc", "years"), [(0.5, 1), (0.5, 10), (1.0, 1), (1.0, 10)])
def test_case7_models_disagree_3_to_4_times_on_calendar_fade(soc: float, years: int) -> None:
    naumann = naumann_calendar_capacity_loss(years * YEAR_S, soc, T25)
    blast = blast_lfp250_calendar_capacity_loss(years * YEAR_S, soc, T25)
    assert 3.0 < float(naumann / blast) < 4.0


def test_graphite_potential() -> None:
    """Ua(SoC) falls monotonically from ≈0.68 V (nearly delithiated) to ≈0.09 V; pinned
    values from the Safari–Delacourt expression (1e-4 V)."""
    soc = np.linspace(0.0, 1.0, 101)
    ua = graphite_potential_v(soc)
    assert np.all(np.diff(ua) < 0)
    np.testing.assert_allclose(graphite_potential_v([0.0, 0.5, 1.0]), [0.68435, 0.12330, 0.08638], atol=1e-4)


def test_closed_forms_are_vectorised() -> None:
    t = np.array([1.0, 2.0, 5.0])[:, None] * YEAR_S
    soc = np.array([0.2, 0.5, 0.8, 1.0])
    out = naumann_calendar_capacity_loss(t, soc, T25)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[2, 1], naumann_calendar_capacity_loss(5 * YEAR_S, 0.5, T25))
    assert blast_lfp250_cycle_capacity_loss([100, 200], 1.0, 0.5, [T25, T35]).shape == (2,)


# --------------------------------------------------------------------- parameter sets


def test_from_dict_rejects_unknown_key_with_did_you_mean() -> None:
    with pytest.raises(ParameterError, match=r"did you mean 'cal_q_k_ref'\?") as info:
        from_dict(NaumannParams, {"cal_q_k_reff": 1e-5})
    assert info.value.issues[0].path == ("cal_q_k_reff",)
    with pytest.raises(ParameterError, match=r"did you mean 'pcyc'\?"):
        from_dict(BlastParams, {"pcyk": 0.8})


def test_from_dict_checks_bounds_and_builds() -> None:
    with pytest.raises(ParameterError, match="pcal"):
        from_dict(BlastParams, {"pcal": 1.5})
    p = from_dict(NaumannParams, {"cal_q_k_ref": 2e-5})
    assert p.cal_q_k_ref == 2e-5
    assert p.cal_q_d == NaumannParams().cal_q_d


def test_naumann_rows() -> None:
    assert NAUMANN_ROWS == ("Naumann", "Refit", "Bootstrap 1", "Bootstrap 2", "Bootstrap 3")
    assert naumann_row("Naumann") == NaumannParams()
    refit = naumann_row("Refit")  # spot values from the SimSES CSV
    assert refit.cal_q_k_ref == 1.07e-05
    assert refit.cal_q_ea_j_per_mol == 26700.62673
    assert refit.cyc_r_d == -0.013447187
    assert naumann_row("Bootstrap 3").cal_r_c == 5.685900964
    with pytest.raises(ParameterError, match=r"did you mean 'Refit'\?"):
        naumann_row("refit")


def test_aging_model_rejects_bad_setup() -> None:
    with pytest.raises(ParameterError, match=r"did you mean 'naumann'\?"):
        AgingModel(2, model="nauman")
    with pytest.raises(ParameterError, match="needs BlastParams"):
        AgingModel(2, model="blast_lfp250", params=NaumannParams())
    with pytest.raises(ParameterError) as info:
        AgingModel(0, window_s=0.0)
    assert {issue.path for issue in info.value.issues} == {("n",), ("window_s",)}


# ------------------------------------------------------------------- stepwise tracker

CAL_SOC = np.array([0.5, 1.0, 0.5, 0.2])
CAL_T = np.array([T25, T25, T40, T35])


def _closed_calendar(model: str, t_s: float) -> np.ndarray:
    if model == "naumann":
        return naumann_calendar_capacity_loss(t_s, CAL_SOC, CAL_T)
    return blast_lfp250_calendar_capacity_loss(t_s, CAL_SOC, CAL_T)


@pytest.mark.parametrize("model", ["naumann", "blast_lfp250"])
@pytest.mark.parametrize("window_s", [600.0, 3600.0, 86400.0])
def test_stepwise_calendar_matches_closed_form(model: str, window_s: float) -> None:
    """Virtual time is exact for a power law under constant stressors (rtol 1e-9)."""
    aging = AgingModel(CAL_SOC.size, model=model, window_s=window_s)
    dt = min(window_s, 1800.0)
    horizon = YEAR_S if window_s >= 3600.0 else 30 * DAY_S  # ≥ 4000 windows either way
    for _ in range(round(horizon / dt)):
        aging.accumulate(dt, CAL_SOC, CAL_T, 0.0)
    aging.flush()
    assert aging.elapsed_s == pytest.approx(horizon, rel=1e-12)
    np.testing.assert_allclose(aging.q_loss_cal, _closed_calendar(model, horizon), rtol=1e-9)
    np.testing.assert_array_equal(aging.q_loss_cyc, 0.0)
    np.testing.assert_allclose(aging.soh_pct, 100.0 * (1.0 - aging.q_loss_cal), rtol=1e-12)
    if model == "naumann":
        r_ref = naumann_calendar_resistance_increase(horizon, CAL_SOC, CAL_T)
        np.testing.assert_allclose(aging.r_inc_cal, r_ref, rtol=1e-9)
    else:
        np.testing.assert_array_equal(aging.r_factor, 1.0)


def _triangle(lo: float, hi: float, steps_per_half: int, halves: int) -> np.ndarray:
    """SoC samples of ``halves`` half-cycles between lo and hi, starting at lo."""
    k = np.arange(steps_per_half * halves + 1)
    phase = k % (2 * steps_per_half)
    up = np.where(phase <= steps_per_half, phase, 2 * steps_per_half - phase)
    return lo + (hi - lo) * up / steps_per_half


@pytest.mark.parametrize("model", ["naumann", "blast_lfp250"])
@pytest.mark.parametrize(("lo", "hi", "c_rate"), [(0.0, 1.0, 1.0), (0.2, 0.8, 0.5)])
def test_stepwise_cycling_matches_closed_form(model: str, lo: float, hi: float, c_rate: float) -> None:
    """100 half-cycles lo ↔ hi at a constant C-rate, with 1-h windows (shorter than the
    0.5C half-cycles). The DOC found is hi − lo, FEC is Σ C-rate·dt / 7200 (rtol 1e-12)
    and the cycle loss equals the closed form at that FEC (rtol 1e-9)."""
    steps = 100
    soc = _triangle(lo, hi, steps, 100)
    dt = 3600.0 * (hi - lo) / c_rate / steps  # |ΔSoC| per tick = C-rate·dt/3600
    doc = hi - lo
    aging = AgingModel(1, model=model, window_s=3600.0)
    aging.accumulate(dt, soc[:1], T25, 0.0)
    for s in soc[1:]:
        aging.accumulate(dt, np.array([s]), T25, c_rate)
    aging.flush()
    np.testing.assert_allclose(aging.fec, 100 * doc / 2, rtol=1e-12)
    if model == "naumann":
        q_ref = naumann_cycle_capacity_loss(aging.fec, doc, c_rate)
        r_ref = naumann_cycle_resistance_increase(aging.fec, doc, c_rate)
        np.testing.assert_allclose(aging.r_inc_cyc, r_ref, rtol=1e-9)
    else:
        q_ref = blast_lfp250_cycle_capacity_loss(aging.fec, doc, c_rate, T25)
    np.testing.assert_allclose(aging.q_loss_cyc, q_ref, rtol=1e-9)


def test_virtual_time_carries_state_across_a_temperature_step() -> None:
    """Half a year at 25 °C, then half a year at 40 °C: the second half continues from the
    equivalent time at 40 °C, t_v = (q1/k40)², so q = k40·sqrt(t_v + t/2)."""
    half = YEAR_S / 2
    aging = AgingModel(1, model="naumann")
    for t_cell in (T25, T40):
        for _ in range(int(half / 3600.0)):
            aging.accumulate(3600.0, 0.5, t_cell, 0.0)
    aging.flush()
    q1 = naumann_calendar_capacity_loss(half, 0.5, T25)
    k40 = naumann_calendar_capacity_loss(1.0, 0.5, T40)
    expected = k40 * np.sqrt((q1 / k40) ** 2 + half)
    np.testing.assert_allclose(aging.q_loss_cal, expected, rtol=1e-9)
    assert (
        naumann_calendar_capacity_loss(YEAR_S, 0.5, T25)
        < aging.q_loss_cal[0]
        < naumann_calendar_capacity_loss(YEAR_S, 0.5, T40)
    )


def test_long_discharge_is_booked_at_its_full_depth() -> None:
    """A 4-h discharge 1 → 0 at 0.25C spans four 1-h windows; at the reversal it is booked
    as one half-cycle of depth 1, not four of depth 0.25 (rtol 1e-9)."""
    aging = AgingModel(1, window_s=3600.0)
    dt = 36.0
    down = np.linspace(1.0, 0.0, 401)
    aging.accumulate(dt, down[:1], T25, 0.0)
    for s in down[1:]:
        aging.accumulate(dt, np.array([s]), T25, 0.25)
    assert aging.q_loss_cyc[0] == 0.0  # still running, not booked yet
    for s in np.linspace(0.0, 1.0, 401)[1:]:
        aging.accumulate(dt, np.array([s]), T25, 0.25)
    aging.flush()
    np.testing.assert_allclose(aging.fec, 1.0, rtol=1e-12)
    np.testing.assert_allclose(aging.q_loss_cyc, naumann_cycle_capacity_loss(1.0, 1.0, 0.25))


def test_rest_books_the_running_half_cycle() -> None:
    """Discharge 1 → 0.5 at 0.5C, then rest: the half-cycle is booked at the first window
    boundary after a window without movement, without calling flush()."""
    aging = AgingModel(1, window_s=3600.0)
    dt = 36.0
    aging.accumulate(dt, np.array([1.0]), T25, 0.0)
    for s in np.linspace(1.0, 0.5, 101)[1:]:
        aging.accumulate(dt, np.array([s]), T25, 0.5)
    for _ in range(250):  # 2.5 h of rest
        aging.accumulate(dt, np.array([0.5]), T25, 0.0)
    expected = naumann_cycle_capacity_loss(0.25, 0.5, 0.5)
    np.testing.assert_allclose(aging.q_loss_cyc, expected, rtol=1e-9)
    np.testing.assert_allclose(aging.fec, 0.25, rtol=1e-12)


def test_ripple_inside_the_hysteresis_is_booked_daily() -> None:
    """±0.1 % SoC ripple at 0.02C stays inside the 0.5 % hysteresis, so no half-cycle ever
    ends; its throughput is still booked once max_half_cycle_s has passed, at depth 0."""
    aging = AgingModel(1, window_s=3600.0, max_half_cycle_s=86400.0)
    dt = 36.0
    ripple = _triangle(0.499, 0.501, 10, 240)  # 0.0002 per tick = 0.02C; one day
    aging.accumulate(dt, ripple[:1], T25, 0.0)  # this first tick counts 36 s too
    for s in ripple[1:-2]:
        aging.accumulate(dt, np.array([s]), T25, 0.02)
    assert aging.q_loss_cyc[0] == 0.0
    aging.accumulate(dt, ripple[-2:-1], T25, 0.02)  # the tick that completes 24 h
    assert aging.elapsed_s == pytest.approx(86400.0, rel=1e-12)
    np.testing.assert_allclose(aging.fec, 2399 * 0.0002 / 2, rtol=1e-9)
    expected = naumann_cycle_capacity_loss(aging.fec, 0.0, 0.02)
    np.testing.assert_allclose(aging.q_loss_cyc, expected, rtol=1e-9)


def test_accumulate_is_vectorised_over_units_and_ignores_sign() -> None:
    n = 5
    a = AgingModel(n)
    b = AgingModel(n)
    soc = np.linspace(0.3, 0.7, n)
    for k in range(100):
        s = soc - 0.001 * k
        a.accumulate(10.0, s, np.full(n, T25), np.full(n, 0.36))
        b.accumulate(10.0, s, T25, -0.36)
    a.flush()
    b.flush()
    np.testing.assert_array_equal(a.q_loss, b.q_loss)
    np.testing.assert_allclose(a.fec, 100 * 10.0 * 0.36 / 7200.0, rtol=1e-12)


def test_zero_dt_is_a_no_op_and_negative_dt_raises() -> None:
    aging = AgingModel(2)
    aging.accumulate(0.0, 0.5, T25, 1.0)
    assert aging.elapsed_s == 0.0
    with pytest.raises(ValueError, match="dt_s"):
        aging.accumulate(-1.0, 0.5, T25, 1.0)
