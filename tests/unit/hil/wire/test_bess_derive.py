"""The compiled battery-cabinet derive equals, to the bit, the numpy expressions it replaced
(kept here as the reference), on random inputs that reach every branch: running, throttled
and stopped units, open and closed contactors, BMS faults and alarms, lost heartbeats, units
in local control, an island with and without grid-forming units, a dead bus, inverter states
outside the model-124 table."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np
import pytest

from hil.wire.devices.bess import _BOOKS, _CELL, _CODE_OF, _DERIVE_CODES
from hil.wire.devices.bess_derive import ROWS, derive_into
from hil.wire.devices.codes import LEGACY_OF_INV, lookup

SQRT3 = np.sqrt(3.0)


def reference(
    a: dict[str, np.ndarray],
    r: dict[str, np.ndarray],
    v_pu: float,
    islanded: bool,
    comms_lost: np.ndarray,
    local: np.ndarray,
    gfm: np.ndarray,
) -> dict[str, np.ndarray]:
    """The derive as numpy expressions (the code before the kernel)."""
    c = {k: float(v) for k, v in _CODE_OF.items()}
    w = a["pcs.p_ac_kw"] * 1000.0
    var = a["pcs.q_ac_kvar"] * 1000.0
    v_ll = r["v_nom"] * v_pu
    va = np.hypot(w, var)
    state = a["pcs.state"]
    running = (state == c["running"]) | (state == c["throttled"])
    alarm = a["bms.alarm_bits"]
    evt1 = alarm.astype(np.int64) | np.where(comms_lost, int(c["comm_bit"]), 0)
    books = [a[k] * 1000.0 for k in _BOOKS]
    return {
        "w": w, "var": var, "va": va,
        "pf": np.where(va > 1.0, np.abs(w) / np.maximum(va, 1e-9), 1.0),
        "a": va / (SQRT3 * np.maximum(v_ll, 1.0)), "v_ll": v_ll, "v_ln": v_ll / SQRT3,
        "w_ph": w / 3.0, "var_ph": var / 3.0, "va_ph": va / 3.0,
        "tot_wh_inj": books[0], "tot_wh_abs": books[1], "tot_varh_inj": books[2],
        "tot_varh_abs": books[3], "dc_wh_inj": books[4], "dc_wh_abs": books[5],
        "st": running.astype(float),
        "conn_st": np.where(running, c["connected"], c["disconnected"]),
        "der_mode": np.where(islanded & gfm, c["gfm_mode"], c["gfl_mode"]),
        "loc_rem": local.astype(float),
        "evt1": evt1.astype(float),
        "wh_avail": np.maximum(a["bess.soc_pct"] - r["soc_min_pct"], 0.0) / 100.0 * r["wh_rtg"]
        * a["bms.soh_pct"] / 100.0,
        "sta": np.where(a["bms.state"] == c["bms_fault"], c["sta_error"],
                        np.where(alarm > 0, c["sta_warning"], c["sta_ok"])),
        "n_str_con": np.where(a["bms.contactor"] == c["contactor_closed"], r["n_strings"], 0.0),
        "str_a": a["bess.i_dc_a"] / r["n_strings"],
        "wcha_max": a["bms.ccl_a"] * a["bess.v_dc_v"],
        "wdischa_max": a["bms.dcl_a"] * a["bess.v_dc_v"],
        "inv_st_legacy": lookup(LEGACY_OF_INV, state),
        "comms_lost": comms_lost.astype(float),
        "cell_v_avg": 0.5 * (a["bess.v_cell_max_v"] + a["bess.v_cell_min_v"]),
        "t_avg": 0.5 * (a["bess.t_cell_max_degc"] + a["bess.t_cell_min_degc"]),
    }  # fmt: skip


def random_inputs(rng: np.random.Generator, n: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    c = _CODE_OF
    states = np.array([c["running"], c["throttled"], 0.0, 1.0, 2.0, 7.0, 99.0, -1.0, 1e6])
    a: dict[str, Any] = {
        "pcs.p_ac_kw": rng.normal(0, 2000, n) * rng.integers(0, 2, n),  # some exactly 0
        "pcs.q_ac_kvar": rng.normal(0, 500, n) * rng.integers(0, 2, n),
        "pcs.state": rng.choice(states, n),
        "bms.contactor": rng.choice([c["contactor_closed"], 0.0, 2.0], n),
        "bess.v_dc_v": rng.uniform(0, 1500, n),
        "bms.alarm_bits": rng.choice([0.0, 1.0, 6.0, 2.0**20 + 3.0], n),
        "bms.state": rng.choice([c["bms_fault"], 0.0, 1.0, 2.0], n),
        "bess.soc_pct": rng.uniform(0, 100, n),
        "bms.soh_pct": rng.uniform(70, 100, n),
        "bess.i_dc_a": rng.normal(0, 300, n),
        "bms.ccl_a": rng.uniform(0, 500, n),
        "bms.dcl_a": rng.uniform(0, 500, n),
    }
    for k in (*_BOOKS, *_CELL):
        a[k] = rng.uniform(0, 1e6, n)
    r = {
        "v_nom": np.full(n, rng.choice([480.0, 690.0, 34_500.0])),
        "soc_min_pct": rng.uniform(0, 20, n),
        "wh_rtg": np.full(n, 5.0e6),
        "n_strings": rng.choice([1.0, 2.0, 8.0], n),
    }
    return a, r


@pytest.mark.parametrize("seed", range(12))
def test_compiled_derive_equals_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    a, r = random_inputs(rng, n)
    v_pu = float(rng.choice([0.0, 0.5, 1.0, 1.1]))  # 0: a dead bus
    islanded = bool(rng.integers(0, 2))
    comms_lost = rng.integers(0, 2, n).astype(bool)
    local = rng.integers(0, 2, n).astype(bool)
    gfm = rng.integers(0, 2, n).astype(bool)
    out = np.full((len(ROWS), n), np.nan)
    derive_into(
        out, _DERIVE_CODES, islanded, r["v_nom"], v_pu, a["pcs.p_ac_kw"], a["pcs.q_ac_kvar"],
        itemgetter(*_BOOKS)(a), a["pcs.state"], a["bms.contactor"], a["bess.v_dc_v"],
        a["bms.alarm_bits"], a["bms.state"], comms_lost, local, gfm, a["bess.soc_pct"],
        r["soc_min_pct"], r["wh_rtg"], a["bms.soh_pct"], r["n_strings"], a["bess.i_dc_a"],
        a["bms.ccl_a"], a["bms.dcl_a"], itemgetter(*_CELL)(a), LEGACY_OF_INV,
    )  # fmt: skip
    ref = reference(a, r, v_pu, islanded, comms_lost, local, gfm)
    assert set(ref) == set(ROWS)
    for k, name in enumerate(ROWS):
        np.testing.assert_array_equal(out[k], ref[name], err_msg=name, strict=True)
