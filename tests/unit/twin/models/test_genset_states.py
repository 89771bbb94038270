"""The gensets' state update: its steady shortcut (``Genset._steady``: every unit asked to run,
each running or failed to start, no rising start edge) leaves what the general update leaves.

Random fleets in every state, with random timers, powers, integrals, start commands (held and
changed) and start demand, take one update each way from the same state; every array must be
equal. The draws include steady fleets (the shortcut taken) and fleets one unit away from it.
"""

from __future__ import annotations

import copy

import numpy as np

from twin.models.genset import Genset, GensetParams, GensetState

_ARRAYS = ("state", "p", "p_sec", "crank_left", "cool_left", "accept_ceiling", "_start_prev", "start_cmd")


def test_steady_shortcut_equals_the_general_update() -> None:
    rng = np.random.default_rng(5)
    states = np.array([int(s) for s in GensetState])
    steady_states = np.array([int(GensetState.RUNNING), int(GensetState.FAIL_TO_START)])
    took = 0
    for k in range(400):
        n = int(rng.integers(1, 8))
        g = Genset(GensetParams(n_units=n, p_rated_kw=500.0), rng=np.random.default_rng(k))
        near = k % 2 == 0  # half the fleets steady or one unit away
        g.state = rng.choice(steady_states if near else states, n)
        if near and k % 4 == 0:
            g.state[int(rng.integers(n))] = int(rng.choice(states))
        g.p = rng.uniform(0.0, 500.0, n)
        g.p_sec = rng.uniform(-50.0, 50.0, n)
        g.crank_left = rng.uniform(0.0, 10.0, n)
        g.cool_left = rng.uniform(0.0, 300.0, n)
        g.accept_ceiling = rng.uniform(0.0, 500.0, n)
        g._start_prev = rng.choice([0.0, 1.0], n)
        g.start_cmd = g._start_prev.copy() if rng.random() < 0.7 else rng.choice([0.0, 1.0], n)
        demand = bool(rng.random() < 0.7)
        ref = copy.deepcopy(g)
        ref._steady = lambda want: False  # type: ignore[method-assign]
        want = (g.start_cmd > 0) | (demand & g.params.auto_start)
        took += g._steady(want)
        g.update_states(0.2, demand_start=demand)
        ref.update_states(0.2, demand_start=demand)
        for name in _ARRAYS:
            np.testing.assert_array_equal(getattr(g, name), getattr(ref, name), err_msg=f"{name}, fleet {k}")
    assert took >= 50  # the shortcut was exercised
