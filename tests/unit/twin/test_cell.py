"""Cell model against closed forms and the reference OCV table (physics.md §6 case 5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.config import load_yaml
from twin import ParameterError, load_cell
from twin.models.cell import CellModel
from twin.models.ecm import EcmState, ecm_step, terminal_voltage

# physics.md §1.2: SimSES Sony US26650 OCV interpolated at these SoC points [S]
OCV_REF = {
    0.0: 2.00,
    0.02: 2.873,
    0.05: 3.050,
    0.10: 3.189,
    0.20: 3.231,
    0.30: 3.267,
    0.40: 3.290,
    0.50: 3.299,
    0.60: 3.303,
    0.70: 3.309,
    0.80: 3.325,
    0.90: 3.342,
    0.95: 3.344,
    0.98: 3.348,
    1.0: 3.60,
}


def test_lfp_ocv_reproduces_reference_table_within_2mv() -> None:
    m = CellModel(load_cell("lfp_280ah"))
    soc = np.array(list(OCV_REF))
    np.testing.assert_allclose(m.ocv(soc), list(OCV_REF.values()), atol=0.002)
    # plateau slope check: OCV(0.7) − OCV(0.3) ≈ 42 mV (table values give 42 mV; ±2 mV)
    plateau = float(m.ocv(np.array(0.7)) - m.ocv(np.array(0.3)))
    assert plateau == pytest.approx(0.042, abs=0.002)


def test_demo_cell_tables_are_reproduced_at_nodes() -> None:
    m = CellModel(load_cell("ecm_example_100ah"))
    # physics.md §1.1: OCV 3.200 V at 0, 3.697 V at 0.5, 4.187 V at 1.0 (±1 mV)
    np.testing.assert_allclose(m.ocv(np.array([0.0, 0.5, 1.0])), [3.200, 3.697, 4.187], atol=1e-3)
    # DCIR = R0 + R1 = 1 mΩ + 0.01 mΩ per 100 A at 25 °C, SoC 0.5, 100 A; R0 = 40 %
    # (the tables are on a 10 °C grid, so 25 °C interpolates Arrhenius: ±1 %)
    r0, r, c = m.rc_values(np.array(25.0), np.array(100.0), np.array(0.5))
    dcir = float(r0 + r[0])
    assert dcir == pytest.approx(1.01e-3, rel=0.01)
    assert float(r0) / dcir == pytest.approx(0.4, rel=1e-6)
    # τ = R1 C1 = 30 s holds at the table nodes (between them R1 and C1 interpolate apart)
    _, r, c = m.rc_values(np.array(20.0), np.array(100.0), np.array(0.5))
    assert float(r[0] * c[0]) == pytest.approx(30.0, rel=1e-9)


def test_coulomb_counting_is_exact() -> None:
    """ΔSoC = −I t / (3600 Q) for any step length (closed form, rtol 1e-12)."""
    m = CellModel(load_cell("lfp_280ah"))
    st = EcmState(np.array([0.8]), np.zeros((2, 1)), np.array([25.0]), np.array([25.0]))
    i = np.array([140.0])
    for _ in range(3600):
        st = ecm_step(m, st, i, 1.0, 25.0).state
    assert float(st.soc[0]) == pytest.approx(0.8 - 140.0 * 3600 / (3600 * 280.0), rel=1e-12)


def test_rc_step_response_matches_closed_form() -> None:
    """With constant R, C (LFP set at constant T): V_1(t) = −I R1 (1 − e^{−t/τ1}) within 1 µV."""
    cell = load_cell("lfp_280ah")
    m = CellModel(cell)
    t_amb = 25.0
    st = EcmState(np.array([0.5]), np.zeros((2, 1)), np.array([t_amb]), np.array([t_amb]))
    i = np.array([100.0])
    # freeze temperature effects: use a huge thermal mass copy
    times = []
    v1 = []
    t = 0.0
    for _ in range(60):
        st.t_cell_degc[:] = t_amb
        st.t_jig_degc[:] = t_amb
        st = ecm_step(m, st, i, 0.5, t_amb).state
        t += 0.5
        times.append(t)
        v1.append(float(st.v_rc[0, 0]))
    r1 = 0.0003
    tau = 15.0
    expect = -100.0 * r1 * (1 - np.exp(-np.array(times) / tau))
    np.testing.assert_allclose(v1, expect, atol=1e-6)


def test_terminal_voltage_definition() -> None:
    m = CellModel(load_cell("ecm_example_100ah"))
    st = EcmState(np.array([0.5]), np.array([[-0.01]]), np.array([25.0]), np.array([25.0]))
    i = np.array([100.0])
    r0, _, _ = m.rc_values(st.t_cell_degc, i, st.soc)
    v = terminal_voltage(m, st, i)
    assert float(v[0]) == pytest.approx(float(m.ocv(st.soc)[0] - 100.0 * r0[0] - 0.01), abs=1e-12)


def test_thermal_steady_state_closed_form() -> None:
    """Held heat Q: T_cell → T_amb + Q (1/k_cj + 1/k_ja), T_jig → T_amb + Q/k_ja (1e-6 K)."""
    m = CellModel(load_cell("ecm_example_100ah"))
    phi, gam = m.thermal_step_matrices(1e5)
    q, t_amb = 5.0, 25.0
    tc = phi[0, 0] * 25 + phi[0, 1] * 25 + gam[0, 0] * q + gam[0, 1] * t_amb
    tj = phi[1, 0] * 25 + phi[1, 1] * 25 + gam[1, 0] * q + gam[1, 1] * t_amb
    assert tc == pytest.approx(t_amb + q * (1 / 10 + 1 / 10), abs=1e-6)
    assert tj == pytest.approx(t_amb + q / 10, abs=1e-6)


def test_unknown_cell_has_did_you_mean() -> None:
    with pytest.raises(ParameterError, match="did you mean 'lfp_280ah'"):
        load_cell("lfp_280")


def test_cell_dict_reports_every_problem() -> None:
    with pytest.raises(ParameterError) as info:
        load_cell({"base": "lfp_280ah", "capacity_a": 100, "v_min_v": -1})
    text = str(info.value)
    assert "capacity_a" in text
    assert "did you mean 'capacity_ah'" in text
    assert "v_min_v" in text
    assert "must be > 0" in text
    assert len(info.value.issues) == 2


def test_two_rc_variant_has_second_pair() -> None:
    m = CellModel(load_cell("ecm_example_100ah_2rc"))
    assert m.n_rc == 2
    _, r, c = m.rc_values(np.array(25.0), np.array(0.0), np.array(0.5))
    assert float(r[1]) == pytest.approx(3e-4)
    assert float(r[1] * c[1]) == pytest.approx(1000.0)
    assert not math.isnan(float(c[0]))


def test_soc_from_ocv_inverts_the_ocv_table() -> None:
    """Exact (1e-12) where the measured table rises (the steep ends); monotone everywhere."""
    m = CellModel(load_cell("lfp_280ah"))
    soc = np.array([0.0, 0.02, 0.05, 0.08, 0.99, 0.995, 1.0])
    np.testing.assert_allclose(m.soc_from_ocv(m.ocv(soc)), soc, atol=1e-12)
    v = np.linspace(2.0, 3.6, 5001)
    assert np.all(np.diff(m.soc_from_ocv(v)) >= 0)
    assert m.soc_from_ocv(np.array([1.0, 4.0])).tolist() == [0.0, 1.0]  # clamped to the table


def test_cell_yaml_takes_the_derate_table_and_rejects_typos(tmp_path) -> None:
    path = tmp_path / "cold.yaml"
    path.write_text(
        "base: lfp_280ah\nname: cold\n"
        "discharge_derate_t_degc: [-20, 0, 15]\ndischarge_derate_c_rate: [0.1, 0.4, 1.0]\n"
    )
    data, _ = load_yaml(path)
    cell = load_cell(data, base_dir=tmp_path)
    assert cell.discharge_limit_table_a() == ((-20.0, 0.0, 15.0), (28.0, 112.0, 280.0))
    with pytest.raises(ParameterError, match="did you mean 'discharge_derate_c_rate'"):
        load_cell({"base": "lfp_280ah", "discharge_derate_c_rates": [1.0]})
    with pytest.raises(ParameterError, match="has 2 values but discharge_derate_c_rate has 5"):
        load_cell({"base": "lfp_280ah", "discharge_derate_t_degc": [0.0, 10.0]})
    with pytest.raises(ParameterError, match="strictly increasing"):
        load_cell({"base": "lfp_280ah", "discharge_derate_t_degc": [0, 0], "discharge_derate_c_rate": [1, 1]})
    with pytest.raises(ParameterError, match="must be >= 0"):
        load_cell(
            {"base": "lfp_280ah", "discharge_derate_t_degc": [0, 5], "discharge_derate_c_rate": [-1, 1]}
        )
