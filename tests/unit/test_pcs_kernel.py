"""The compiled PCS state machine (twin/models/pcs_kernel.py) against the numpy reference,
to the bit.

The state machine is integer logic and assignments of held values, so the two paths must
agree exactly on every state after every tick. Two fleets, one per path, get the same random
inputs (enable, faults and resets, BMS faults, grid trips with their alarm bits, islanding,
cessation and the enter-service ramp, contactor feedback) and between state-machine ticks
the same commands (the numpy `command`, which moves units into hot standby and THROTTLED).
The test checks that every state, an island trip and a hot-standby wake were reached.
"""

from __future__ import annotations

import numpy as np
import pytest

from twin.models.gridcode import load_grid_code
from twin.models.pcs import PCS_ALARM_BITS, Pcs, PcsParams, PcsState

STATES = (
    "state",
    "alarm_bits",
    "trip_count",
    "start_left",
    "idle_for",
    "hot",
    "p_ac",
    "p_ref",
    "q_ac",
    "cessation",
    "es_ramp",
    "islanded_for",
)


@pytest.mark.parametrize("gfm_units", [0, 3])
def test_compiled_pcs_states_match_numpy_to_the_bit(gfm_units: int) -> None:
    params = PcsParams(grid_forming_units=gfm_units, standby_hold_s=3.0, start_s=2.0, anti_islanding_s=1.5)
    n = 8
    ref, fast = Pcs(params, n, kernel="numpy"), Pcs(params, n, kernel="compiled")
    code = load_grid_code(params.grid_code)
    rng = np.random.default_rng(3)
    seen_states: set[int] = set()
    woke = island_trips = 0
    islanded = False
    for tick in range(4000):
        dt = float(rng.choice([0.1, 0.5, 1.0]))
        if tick % 200 == 0:
            islanded = bool(rng.random() < 0.3)
        enable = (rng.random(n) < 0.95).astype(float)
        reset = (rng.random(n) < 0.05).astype(float)
        trip = (rng.random(n) < 0.003).astype(float)
        dc_ov = (rng.random(n) < 0.003).astype(float)
        overtemp = (rng.random(n) < 0.1).astype(float)
        grid_trip = (rng.random(n) < 0.005).astype(float)
        kw = {
            "contactor_closed": (rng.random(n) < 0.9).astype(float),
            "bms_fault": (rng.random(n) < 0.003).astype(float),
            "grid_ok": (rng.random(n) < 0.95).astype(float),
            "grid_trip": grid_trip,
            "islanded": islanded,
            "trip_bits": np.where(grid_trip > 0, 1 << int(rng.integers(0, 12)), 0).astype(float),
            "cessation": rng.random(n) < 0.02 if tick % 3 else None,
            "ramp_limit_pu": rng.uniform(-0.2, 1.2, n) if tick % 2 else None,
        }
        # idle commands for stretches (hot standby), then a command (the wake)
        p_set = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(-1.0, 1.0, n) * params.p_rated_kw)
        if (tick // 100) % 2 == 0:
            p_set[:] = 0.0
        hot_before = ref.hot.copy()
        closes = []
        for pcs in (ref, fast):
            pcs.enable, pcs.fault_reset, pcs.fault_trip = enable.copy(), reset.copy(), trip.copy()
            pcs.fault_dc_ov, pcs.overtemp, pcs.p_set = dc_ov.copy(), overtemp.copy(), p_set.copy()
            closes.append(pcs.update_states(dt, **kw))  # type: ignore[arg-type]
            pcs.limits(np.full(n, 500.0), np.full(n, 500.0), np.full(n, 800.0), v_pu=1.0)
            pcs.command(dt=dt, v_pu=1.0, f_hz=60.0, f_nom_hz=60.0, code=code)
            pcs.step_following(*pcs.command(dt=dt, v_pu=1.0, f_hz=60.0, f_nom_hz=60.0, code=code), dt)
        np.testing.assert_array_equal(closes[1], closes[0], err_msg=f"close request, tick {tick}")
        for name in STATES:
            a, b = getattr(ref, name), getattr(fast, name)
            np.testing.assert_array_equal(b, a, err_msg=f"{name}, tick {tick}")
            assert np.asarray(b).dtype == np.asarray(a).dtype, name
        seen_states |= set(ref.state.tolist())
        woke += int(np.sum(hot_before & ~ref.hot & (ref.state == int(PcsState.RUNNING))))
        island_trips += (
            int(np.sum(ref.alarm_bits & (1 << PCS_ALARM_BITS["GRID_DISCONNECT"]) > 0)) if islanded else 0
        )
    assert seen_states == {int(s) for s in PcsState}
    assert woke > 0
    assert island_trips > 0
    assert int(ref.trip_count.sum()) > 0
