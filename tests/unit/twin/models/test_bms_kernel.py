"""The compiled BMS tick (twin/models/bms_kernel.py) against the numpy reference, to the bit.

Every operation of the BMS tick is elementwise (no sums), so the two paths must agree
exactly, tick after tick, on every state: the SoC estimate and its drift and rest timers,
the limits, the alarm bits and their latch, the contactor and its precharge timer, ChaSt
and the recalibration count. The inputs are random walks that cross every threshold; the
test also checks that they did (each alarm bit, contactor state and ChaSt seen, both
recalibrations made), so it cannot pass by never reaching a branch.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin import load_cell
from twin.models.bms import _CONDITIONS, ALARM_BITS, Bms, BmsParams, ChaSt, Contactor
from twin.models.cell import CellModel, CellParams

LFP = load_cell("lfp_280ah")
STATES = (
    "soc_est",
    "drift_offset_a",
    "rest_s",
    "at_top",
    "recalibrations",
    "ccl",
    "dcl",
    "alarm_bits",
    "latched",
    "contactor",
    "precharge_left",
    "cha_st",
)


def _bms(kernel: str, *, ocv: bool, table: bool, cell: CellParams = LFP) -> Bms:
    params = BmsParams(rest_time_s=40.0, precharge_s=1.5, soc_sensor_drift_a_per_h=3.0)
    return Bms(
        params,
        8,
        i_max_charge_a=cell.i_max_charge_a,
        i_max_discharge_a=cell.i_max_discharge_a,
        cell_t_charge=(cell.t_charge_min_degc, cell.t_charge_max_degc),
        cell_t_discharge=(cell.t_discharge_min_degc, cell.t_discharge_max_degc),
        soc0=0.5,
        i_max_discharge_vs_t=cell.discharge_limit_table_a() if table else None,
        soc_from_ocv=CellModel(cell).soc_from_ocv if ocv else None,
        kernel=kernel,
    )


def _walk(rng: np.random.Generator, x: np.ndarray, step: float, lo: float, hi: float) -> np.ndarray:
    return np.clip(x + rng.normal(0.0, step, x.shape), lo, hi)


@pytest.mark.parametrize(("ocv", "table"), [(True, True), (False, False), (True, False)])
def test_compiled_bms_matches_numpy_to_the_bit(ocv: bool, table: bool) -> None:
    ref, fast = _bms("numpy", ocv=ocv, table=table), _bms("compiled", ocv=ocv, table=table)
    assert fast.kernel == "compiled"
    rng = np.random.default_rng(5)
    n = ref.n
    t = np.zeros(n)
    v = np.full(n, 3.3)
    i = np.zeros(n)
    seen_bits = 0
    seen_contactor: set[int] = set()
    seen_cha: set[int] = set()
    q_cells = np.full((n, 4), 20.0)  # small cells, so the estimate crosses both SoC ends often
    for tick in range(3000):
        dt = float(rng.choice([0.1, 1.0, 5.0]))
        t = _walk(rng, t, 0.3, -5.0, 5.0)  # each unit's offset from a slow swing over -25..65 °C
        v = _walk(rng, v, 0.006, 2.5, 3.75)
        spread = rng.uniform(0.0, 0.15, n)
        swing = 20.0 + 45.0 * np.sin(2.0 * np.pi * tick / 1500.0)
        # stretches of rest (for the rest recalibration), of charge and of discharge
        phase = (tick // 150) % 4
        i = _walk(rng, i, 40.0, -900.0, 900.0)
        i = (np.zeros(n), np.abs(i), -np.abs(i), i)[phase]
        out = {
            "i_dc_a": i.copy(),
            "t_cell_max_degc": swing + t + np.where(rng.random(n) < 0.01, 14.0, rng.uniform(0.0, 7.0, n)),
            "t_cell_min_degc": swing + t,
            "v_cell_max_v": v + spread,
            "v_cell_min_v": v - np.where(rng.random(n) < 0.003, 0.7, 0.0),  # a weak cell now and then
            "v_imbalance_mv": 1000.0 * spread,
            "v_dc_v": 52.0 * v,
        }
        out["v_cell_max_v"][tick % n] = np.nan if tick % 997 == 5 else out["v_cell_max_v"][tick % n]
        close = (rng.random(n) < 0.9).astype(float)
        faults = [(rng.random(n) < 0.002).astype(float) for _ in range(3)]
        reset = (rng.random(n) < 0.5).astype(float)
        for b in (ref, fast):
            b.close_cmd = close.copy()
            b.fault_contactor, b.fault_ground, b.fault_other = (f.copy() for f in faults)
            if tick % 20 == 0:
                b.reset_alarms(reset)
            b.update(dt, {k: a.copy() for k, a in out.items()}, 2, q_cells)
        for name in STATES:
            np.testing.assert_array_equal(
                getattr(fast, name), getattr(ref, name), err_msg=f"{name}, tick {tick}"
            )
            assert getattr(fast, name).dtype == getattr(ref, name).dtype, name
        seen_bits |= int(np.bitwise_or.reduce(ref.alarm_bits))
        seen_contactor |= set(ref.contactor.tolist())
        seen_cha |= set(ref.cha_st.tolist())
    want_bits = sum(1 << ALARM_BITS[a] for a in _CONDITIONS)
    assert seen_bits & want_bits == want_bits, f"alarms never raised: {want_bits & ~seen_bits:#x}"
    assert seen_contactor == {int(c) for c in Contactor}
    assert seen_cha >= {int(c) for c in ChaSt if c != ChaSt.TESTING}
    assert int(ref.recalibrations.sum()) > 0
