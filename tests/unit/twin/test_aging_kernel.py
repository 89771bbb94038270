"""The aging model's compiled feed (twin/aging_kernel.py) against the numpy path, to the bit:
the same random stressors (SoC swinging with reversals bigger and smaller than the hysteresis,
temperatures, C-rates of either sign, units at rest), windows closing, both laws; every state
array and every output equal after every tick."""

from __future__ import annotations

import numpy as np
import pytest

from twin.aging import AgingModel

STATE = (
    "q_loss_cal", "q_loss_cyc", "r_inc_cal", "r_inc_cyc", "_w_soc", "_w_temp", "_h_q", "_h_qc", "_h_qt",
    "_h_since_s", "_anchor", "_extreme", "_dir", "_c_q", "_c_qd", "_c_qc", "_c_qt", "_fec_booked",
)  # fmt: skip


@pytest.mark.parametrize("model", ["naumann", "blast_lfp250"])
def test_compiled_feed_matches_numpy_to_the_bit(model: str) -> None:
    rng = np.random.default_rng(11)
    n = 40
    ref = AgingModel(n, model=model, window_s=200.0, kernel="numpy")
    fast = AgingModel(n, model=model, window_s=200.0, kernel="compiled")
    soc = rng.uniform(0.2, 0.8, n)
    reversals = 0
    for k in range(3000):
        dt = 1.0 if k % 7 else 2.5
        swing = np.where(np.arange(n) % 5 == 0, 0.0, rng.normal(0.0, 0.004, n))  # every fifth unit at rest
        if k % 400 == 0:
            swing += rng.choice([-0.03, 0.03], n)  # reversals deeper than the hysteresis
        soc = np.clip(soc + swing, 0.0, 1.0)
        t_k = 298.15 + rng.normal(0.0, 3.0, n)
        c_rate = rng.normal(0.0, 0.5, n)
        before = ref._c_q.copy()
        ref.accumulate(dt, soc, t_k, c_rate)
        fast.accumulate(dt, soc, t_k, c_rate)
        reversals += int(np.count_nonzero(ref._c_q != before))
        assert fast._w_t_s == ref._w_t_s
        assert fast._undirected == ref._undirected
        assert fast.windows_applied == ref.windows_applied
        for name in STATE:
            np.testing.assert_array_equal(
                getattr(fast, name), getattr(ref, name), err_msg=f"{name}, tick {k}"
            )
    assert ref.windows_applied > 10
    assert reversals > 50
    # one value for every unit (scalars broadcast) goes the same way
    ref.accumulate(1.0, 0.5, 300.0, 0.2)
    fast.accumulate(1.0, 0.5, 300.0, 0.2)
    np.testing.assert_array_equal(fast.soh_pct, ref.soh_pct)
    np.testing.assert_array_equal(fast._h_q, ref._h_q)
