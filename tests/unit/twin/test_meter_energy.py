"""The revenue meter's books: import/export and BESS charge/discharge accumulators, the
per-PCS reactive and DC energy books, and the 15-minute demand register, each checked against
a closed form of the recorded tick means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.config import load_site
from twin.bus import DemandRegister


def _run() -> dict[str, np.ndarray]:
    site = load_site("lab_rack", overrides={"tick_s": 1.0})
    site.set("pcs.enable", 1)
    # import, then export (discharge above the load), then import with charging: 40 min
    plan = {0: None, 60: 200.0, 600: -30.0, 1500: 200.0, 1900: 0.0}
    q_plan = {300: 40.0, 1200: -30.0, 2000: 0.0}  # kvar: inject, then absorb
    rec: dict[str, list[float]] = {k: [] for k in ("t0", "p", "bess_dis", "bess_ch")}
    snaps = []
    q_mean = []
    local0 = site.snapshot()["site.local_time_s"]
    for k in range(2400):
        if k in plan and plan[k] is not None:
            site.set("bess.p_set_kw", plan[k])  # type: ignore[arg-type]
        if k in q_plan:
            site.set("pcs.q_set_kvar", q_plan[k])
        sn = site.step()
        q_mean.append(site.pcs.q_ac_mean.copy())
        pac = sn.arrays["pcs.p_ac_mean_kw"]
        rec["t0"].append(local0)
        rec["p"].append(sn["grid.p_import_kw"])
        rec["bess_dis"].append(float(np.maximum(pac, 0).sum()))
        rec["bess_ch"].append(float(np.maximum(-pac, 0).sum()))
        local0 = sn["site.local_time_s"]
        snaps.append({k: float(sn[k]) for k in sn.scalars if "kwh" in k or "demand" in k})
        snaps[-1]["pcs_dis_sum"] = float(sn.arrays["pcs.discharge_kwh"].sum())
        snaps[-1]["pcs_ch_sum"] = float(sn.arrays["pcs.charge_kwh"].sum())
    out = {k: np.asarray(v) for k, v in rec.items()}
    out["dt"] = np.asarray(site.dt)
    out["q_mean"] = np.asarray(q_mean)
    for key in ("pcs.kvarh_inj", "pcs.kvarh_abs", "pcs.dc_discharge_kwh", "pcs.dc_charge_kwh"):
        out[key] = sn.arrays[key]
    out["pcs.discharge_kwh"], out["pcs.charge_kwh"] = (
        sn.arrays["pcs.discharge_kwh"],
        sn.arrays["pcs.charge_kwh"],
    )
    en = site.energy
    out["dc_delivered_kwh"] = np.asarray(en.battery_chem_kwh - en.battery_loss_kwh)
    for k in snaps[0]:
        out[k] = np.asarray([s[k] for s in snaps])
    return out


@pytest.fixture(scope="module")
def run() -> dict[str, np.ndarray]:
    return _run()


def test_accumulators_are_the_trace_integral_split_by_sign(run: dict[str, np.ndarray]) -> None:
    h = float(run["dt"]) / 3600.0
    p = run["p"]
    assert p.max() > 1.0
    assert p.min() < -1.0
    np.testing.assert_allclose(run["grid.import_kwh"], np.cumsum(np.maximum(p, 0)) * h, rtol=1e-9)
    np.testing.assert_allclose(run["grid.export_kwh"], np.cumsum(np.maximum(-p, 0)) * h, rtol=1e-9)
    assert run["bess.charge_kwh"][-1] > 0
    assert run["bess.discharge_kwh"][-1] > 0
    np.testing.assert_allclose(run["bess.discharge_kwh"], np.cumsum(run["bess_dis"]) * h, rtol=1e-9)
    np.testing.assert_allclose(run["bess.charge_kwh"], np.cumsum(run["bess_ch"]) * h, rtol=1e-9)
    # the per-PCS books (701 TotWhInj/TotWhAbs) add up to the fleet's
    np.testing.assert_allclose(run["pcs_dis_sum"], run["bess.discharge_kwh"], rtol=1e-12)
    np.testing.assert_allclose(run["pcs_ch_sum"], run["bess.charge_kwh"], rtol=1e-12)


def test_reactive_and_dc_books(run: dict[str, np.ndarray]) -> None:
    """The per-PCS books an EMS reads as 701 TotVArhInj/TotVArhAbs and 714 DCWhInj/DCWhAbs."""
    h = float(run["dt"]) / 3600.0
    q = run["q_mean"]
    assert q.max() > 10.0
    assert q.min() < -10.0
    np.testing.assert_allclose(run["pcs.kvarh_inj"], np.maximum(q, 0).sum(axis=0) * h, rtol=1e-9)
    np.testing.assert_allclose(run["pcs.kvarh_abs"], np.maximum(-q, 0).sum(axis=0) * h, rtol=1e-9)
    dis, ch = run["pcs.dc_discharge_kwh"], run["pcs.dc_charge_kwh"]
    assert dis.sum() > 0.0
    assert ch.sum() > 0.0
    # net DC energy out of the cells is the energy balance's chemical energy less the cell loss
    assert float((dis - ch).sum()) == pytest.approx(float(run["dc_delivered_kwh"]), rel=1e-9, abs=1e-9)
    # the converter's loss sits between the two sides: more DC drawn than AC delivered on
    # discharge, more AC absorbed than DC stored on charge
    assert dis.sum() > run["pcs.discharge_kwh"].sum()
    assert ch.sum() < run["pcs.charge_kwh"].sum()


def test_demand_register_is_the_window_mean(run: dict[str, np.ndarray]) -> None:
    dt = float(run["dt"])
    imp = np.maximum(run["p"], 0.0)
    key = np.floor(run["t0"] / 900.0 + 1e-9).astype(int)
    done: list[float] = []
    for i in range(imp.size):
        in_win = key[: i + 1] == key[i]
        closed = math.isclose((run["t0"][i] + dt) / 900.0, key[i] + 1, rel_tol=0.0, abs_tol=1e-9)
        if closed:
            done.append(float(imp[: i + 1][in_win].sum() * dt / 900.0))
            assert run["grid.demand_15min_kw"][i] == 0.0
        else:
            mean = float(imp[: i + 1][in_win].mean())
            assert run["grid.demand_15min_kw"][i] == pytest.approx(mean, rel=1e-9)
        assert run["grid.demand_15min_prev_kw"][i] == pytest.approx(done[-1] if done else 0.0, rel=1e-9)
        assert run["grid.demand_15min_max_kw"][i] == pytest.approx(max(done, default=0.0), rel=1e-9)
    assert len(done) == 2
    assert done[0] != done[1]


def test_demand_register_unaligned_start_and_straddling_tick() -> None:
    reg = DemandRegister()
    reg.book(850.0, 40.0, 90.0)  # a run starting 50 s before a boundary: 40 s at 90 kW
    assert reg.current_kw == pytest.approx(90.0)
    reg.book(890.0, 40.0, -5.0)  # starts in the interval, ends past the boundary: closes it
    assert reg.prev_kw == pytest.approx(90.0 * 40.0 / 900.0)  # energy over the full window
    assert reg.current_kw == 0.0
    reg.book(930.0, 60.0, 30.0)
    assert reg.current_kw == pytest.approx(30.0)
    assert reg.max_kw == pytest.approx(4.0)
