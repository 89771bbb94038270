"""The compiled battery tick (twin/models/battery_kernel.py) against the numpy reference.

The two compute the same equations; they differ only in the order of floating-point sums,
so a tick agrees to ~1e-15 relative and a run to the drift that rounding accumulates. The
tolerances below are stated per quantity, far below any physical meaning (1e-9 relative on
states and powers; an absolute floor where a quantity crosses zero).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.config import load_site
from twin.models.battery import Battery, BatteryParams
from twin.models.cell import load_cell

CELLS = ("lfp_280ah", "ecm_example_100ah", "ecm_example_100ah_2rc")  # Arrhenius+τ; tables; mixed
RTOL = 1e-9


def _pair(cell: str, n_cab: int = 6, k: int = 8) -> tuple[Battery, Battery]:
    cp = load_cell(cell)
    bp = BatteryParams(n_cabinets=n_cab, cell=cell, cells_modelled=k, soc0=0.55)
    ref = Battery(bp, cp, rng=np.random.default_rng(7), kernel="numpy")
    fast = Battery(bp, cp, rng=np.random.default_rng(7), kernel="compiled")
    assert fast.kernel == "compiled"
    assert fast._kt is not None
    return ref, fast


def _close(a: np.ndarray, b: np.ndarray, what: str, atol: float) -> None:
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=atol, err_msg=what)


@pytest.mark.parametrize("cell", CELLS)
def test_battery_kernel_matches_numpy_tick_by_tick(cell: str) -> None:
    """Held powers of up to ±1C and, briefly, beyond the pack's maximum (the limited branch),
    open contactors, ticks of 0.1-60 s, a coolant change and a hot spot: every result of every
    tick agrees."""
    ref, fast = _pair(cell)
    rng = np.random.default_rng(11)
    n = ref.shape[0]
    e0, r0 = ref.pack_instant(ref.state, ref.i_pack)
    p_beyond = 1.5 * float(np.max(e0 * e0 / (4.0 * r0)))  # past E²/4R even with R0 alone
    p_1c = float(np.mean(e0)) * ref.params.n_parallel * ref.cell.capacity_ah  # W at 1C
    limited_seen = 0.0
    for tick in range(400):
        dt = float(rng.choice([0.1, 1.0, 5.0, 60.0]))
        closed = (rng.random(n) > 0.15).astype(float)
        p = rng.uniform(-1.0, 1.0, n) * p_1c
        if tick % 50 == 7:  # far beyond E²/4R: the current of maximum power
            p[0] = p_beyond
            closed[0] = 1.0
            dt = 0.1  # briefly: the current of maximum power empties a small cell fast
        if tick == 100:
            for b in (ref, fast):
                b.t_coolant = np.full(n, 35.0)
                b.fault_heat_w = np.full(n, 50.0)
        ra = ref.step_power(p, dt, closed=closed)
        rb = fast.step_power(p, dt, closed=closed)
        for b in (ref, fast):
            b.apply_fault_heat(dt)
        limited_seen += float(ra["limited"].sum())
        np.testing.assert_array_equal(rb["limited"], ra["limited"])
        for key in ("i_a", "p_dc_w", "p_chem_w", "p_sd_w"):
            _close(ra[key], rb[key], f"{cell} tick {tick} {key}", atol=1e-6)
        _close(ref.state.soc, fast.state.soc, "soc", atol=1e-12)
        _close(ref.state.v_rc, fast.state.v_rc, "v_rc", atol=1e-12)
        _close(ref.state.t_cell_degc, fast.state.t_cell_degc, "t_cell", atol=1e-9)
        _close(ref.state.t_jig_degc, fast.state.t_jig_degc, "t_jig", atol=1e-9)
        oa, ob = ref.outputs_now(), fast.outputs_now()
        assert oa.keys() == ob.keys()
        for key in oa:
            _close(oa[key], ob[key], f"{cell} tick {tick} output {key}", atol=1e-6)
        ea, ra_ = ref.pack_instant(ref.state, ref.i_pack)
        eb, rb_ = fast.pack_instant(fast.state, fast.i_pack)
        _close(ea, eb, "pack E", atol=0.0)
        _close(ra_, rb_, "pack R", atol=0.0)
        _close(ref.stored_energy_kwh(), fast.stored_energy_kwh(), "stored energy", atol=0.0)
    assert limited_seen > 0, "the maximum-power branch was never exercised"


@pytest.mark.parametrize("site_name", ["aidc_10k", "lab_rack"])
def test_site_on_the_compiled_kernel_matches_the_numpy_site(site_name: str) -> None:
    """A whole site, setpoints changing, an outage and its return: every signal of the
    snapshot agrees between the two kernels at the end (1e-9 relative, 1e-6 absolute)."""
    sites = {}
    for kernel in ("numpy", "compiled"):
        s = load_site(site_name, overrides={"tick_s": 1.0, "kernel": kernel})
        s.set("pcs.enable", 1)
        sites[kernel] = s
    p_rated = sites["numpy"].params.pcs.p_rated_kw
    for k in range(900):
        for s in sites.values():
            s.set("bess.p_set_kw", p_rated * math.sin(k / 40.0) * 0.8 * sites["numpy"].n_cab)
            if k == 300:
                s.set("grid.available", 0)
            if k == 420:
                s.set("grid.available", 1)
            s.step()
    a, b = sites["numpy"].snapshot().to_dict(), sites["compiled"].snapshot().to_dict()
    assert a.keys() == b.keys()
    for key, va in a.items():
        if math.isnan(va):
            assert math.isnan(b[key]), key
            continue
        assert b[key] == pytest.approx(va, rel=RTOL, abs=1e-6), key
    ea = sites["numpy"].energy_balance()
    eb = sites["compiled"].energy_balance()
    for key, va in ea.items():
        assert eb[key] == pytest.approx(va, rel=RTOL, abs=1e-6), key
    assert [e[:3] for e in sites["numpy"].events] == [e[:3] for e in sites["compiled"].events]


def test_compiled_kernel_is_deterministic() -> None:
    """The same seed on the compiled path gives a bit-identical state."""
    runs = []
    for _ in range(2):
        s = load_site("lab_rack", overrides={"tick_s": 1.0, "kernel": "compiled"})
        s.set("pcs.enable", 1)
        s.set("bess.p_set_kw", 50.0)
        s.step(200)
        runs.append(s.snapshot().to_dict())
    assert runs[0] == runs[1]
