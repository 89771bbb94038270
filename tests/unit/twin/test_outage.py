"""The outage sequence on aidc_10k, item by item, against closed forms from the parameters.

The dead bus, the UPS bridge and its energy-implied autonomy, the isochronous island, the
sync check that refuses a reclose outside its window, the soft unload, the Thevenin PCC and
ambient temperature acting on cooling. Tolerances are stated at each assertion.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.config import load_site
from twin import Site


def _outage(site: Site, seconds: float) -> None:
    site.set("grid.available", 0)
    site.step(round(seconds / site.dt))


def test_dead_bus_has_no_frequency_and_feeds_nothing_while_the_ups_carries_the_racks() -> None:
    site = load_site("aidc_10k", overrides={"genset": {"auto_start": False}})
    site.set("pcs.enable", 1)
    site.step(100)
    e_ups0 = site.ups.e_kwh if site.ups is not None else 0.0
    _outage(site, 5.0)
    s = site.snapshot()
    assert s["grid.bus_dead"] == 1
    assert s["grid.bus_mode"] == 2
    assert s["grid.f_hz"] == 0.0
    assert s["grid.v_pu"] == 0.0
    # nothing is drawn from it: no cooling, base load, cabinet aux, PCS output, grid import
    for name in ("site.p_cooling_kw", "site.p_aux_kw", "bess.p_ac_kw", "grid.p_import_kw", "ups.p_in_kw"):
        assert s[name] == 0.0, name
    assert s["site.p_facility_kw"] == s["site.p_it_kw"]  # the racks only, from the UPS
    assert s["site.racks_dark"] == 0
    assert s["ups.on_battery"] == 1
    # the UPS battery gave what the racks drew over 5 s, through its efficiency (rel 1e-9)
    b = site.energy_balance()
    assert site.ups is not None
    assert e_ups0 - site.ups.e_kwh == pytest.approx(b["ups_discharge_kwh"], rel=1e-9)


def test_ups_carries_for_the_time_its_energy_implies_then_sheds_in_order() -> None:
    """Gensets failing to start: the UPS battery lasts E·η / P̄_it (P̄ the racks' mean draw
    while carried, within the reserve of two ticks), then the racks go dark from the end of
    the priority order (powered racks stay a prefix)."""
    site = load_site("aidc_10k", overrides={"tick_s": 0.2, "genset": {"auto_start": False}})
    site.set("pcs.enable", 1)
    site.step(50)
    ups = site.ups
    assert ups is not None
    site.set("grid.available", 0)
    t0, p_it, dark_at = site.t, [], None
    prefixes = []
    while site.t < t0 + 900.0:
        site.step()
        s = site.snapshot()
        if s["site.racks_dark"] > 0 and dark_at is None:
            dark_at = site.t
        if dark_at is None:
            p_it.append(s["site.p_it_kw"])
        elif 0 < s["site.racks_dark"] < site.params.gpu.n_racks:
            n_on = int(site.powered.sum())
            prefixes.append(bool(site.powered[:n_on].all()) and not site.powered[n_on:].any())
    assert dark_at is not None
    expected = ups.params.energy_kwh * ups.params.efficiency * 3600.0 / float(np.mean(p_it))
    # the racks' draw swings within a tick, so the budget is checked to 1 %
    assert dark_at - t0 == pytest.approx(expected, rel=0.01)
    assert prefixes
    assert all(prefixes)
    assert ups.e_kwh >= -1e-9


def _steady_island(**over: object) -> Site:
    """aidc_10k with its jobs stopped (a constant idle load), islanded on its gensets."""
    site = load_site("aidc_10k", overrides={"pv": None, **over})  # type: ignore[dict-item]
    site.set("gpu.job_stop", -1)
    site.set("pcs.enable", 1)
    site.step(50)
    site.set("grid.available", 0)
    site.step(round(240.0 / site.dt))  # past the pick-up: UPS walked in, chillers running
    return site


def test_isochronous_gensets_hold_nominal_frequency_droop_alone_does_not() -> None:
    iso = _steady_island()
    f = []
    for _ in range(300):
        iso.step()
        f.append(iso.snapshot()["grid.f_hz"])
    assert iso.snapshot()["grid.bus_mode"] == 1
    assert max(abs(x - 50.0) for x in f) <= 0.1  # ±0.1 Hz after the transient
    droop = _steady_island(genset={"governor": "droop"})
    gs = droop.params.genset
    assert gs is not None
    p_gen = droop.snapshot()["genset.p_kw"]
    # droop alone settles at f0·(1 − droop·P/(n·P_rated)) (rel 1e-3)
    f_droop = 50.0 * (1.0 - gs.droop_pct / 100.0 * p_gen / (gs.n_units * gs.p_rated_kw))
    assert droop.snapshot()["grid.f_hz"] == pytest.approx(f_droop, rel=1e-3)
    assert f_droop < 49.9


def test_sync_check_refuses_a_reclose_outside_its_window_then_closes_inside_it() -> None:
    site = _steady_island(grid={"reclose_delay_s": 10.0}, pms={"sync_fallback": "wait"})
    site.set("grid.v_pu", 1.06)  # the grid returns 6 % high: outside the 3 % ΔV window
    site.set("grid.available", 1)
    site.step(round(60.0 / site.dt))
    assert site.snapshot()["grid.breaker_closed"] == 0
    assert site.snapshot()["grid.transfer"] == 2  # SYNC: trying, refusing
    site.set("grid.v_pu", 1.0)
    for _ in range(round(30.0 / site.dt)):
        site.step()
        if site.snapshot()["grid.breaker_closed"]:
            break
    s = site.snapshot()
    assert s["grid.breaker_closed"] == 1
    pm = site.params.pms
    assert abs(s["grid.reclose_dphi_deg"]) <= pm.sync_dphi_deg
    assert abs(s["grid.reclose_df_hz"]) <= pm.sync_df_hz
    assert abs(s["grid.reclose_dv_pu"]) <= pm.sync_dv_pu


def test_gensets_unload_softly_at_their_ramp_after_a_closed_transition() -> None:
    site = _steady_island(grid={"reclose_delay_s": 10.0})
    gs = site.params.genset
    assert gs is not None
    site.set("grid.available", 1)
    while not site.snapshot()["grid.breaker_closed"]:
        site.step()
    p = [site.snapshot()["genset.p_kw"]]
    t_close = site.t
    while site.snapshot()["grid.transfer"] == 3:  # UNLOAD
        site.step()
        p.append(site.snapshot()["genset.p_kw"])
    drops = -np.diff(np.array(p))
    # the fleet never falls faster than n × the unload rate (the lag only slows it; 1 %)
    assert drops.max() <= gs.n_units * gs.unload_kw_per_s * site.dt * 1.01
    # and the unload lasts at least P/(n·rate)
    assert site.t - t_close >= p[0] / (gs.n_units * gs.unload_kw_per_s) - site.dt
    assert p[-1] < 1.0 * gs.n_units
    assert all(site.snapshot()[f"genset[{i}].state"] == 3 for i in range(gs.n_units))  # COOLDOWN


def test_pcc_voltage_is_the_thevenin_solution_and_q_moves_it() -> None:
    site = load_site("aidc_10k")
    site.set("pcs.enable", 1)
    site.step(50)
    s = site.snapshot()
    g = site.params.grid
    r = 1.0 / math.sqrt(1.0 + g.x_over_r**2)
    a = (r * s["grid.p_import_kw"] + g.x_over_r * r * s["grid.q_import_kvar"]) / (g.scr * g.connection_kva)
    v = 0.5 * (1.0 + math.sqrt(1.0 - 4.0 * a))
    assert s["grid.v_pu"] == pytest.approx(v, abs=1e-12)
    assert s["grid.v_pu"] < 1.0  # importing pulls the PCC down
    v0 = s["grid.v_pu"]
    site.set("pcs.q_set_kvar", 400.0)  # 6.4 Mvar injected
    site.step(200)
    assert site.snapshot()["grid.v_pu"] > v0 + 0.01  # dV ≈ x·Q/S_sc ≈ 0.016 pu


def test_ambient_temperature_moves_cooling_power_by_the_stated_slope() -> None:
    over = {"tick_s": 1.0, "gpu": {"profile": "realistic"}}
    site = load_site("aidc_10k", overrides=over)
    fac = site.params.facility
    hot = load_site("aidc_10k", overrides=over)
    hot.set("site.t_ambient_degc", fac.pue_t_ref_degc + 10.0)
    n = round(3 * fac.cooling_tau_s / site.dt)
    ratio = []
    for _ in range(n):
        site.step()
        hot.step()
    # the same IT draw (same seed); cooling settles on target × (1 + slope × 10 °C), within
    # e^-3 of the step plus the IT swing's lag difference (2 %)
    assert hot.snapshot()["site.p_it_kw"] == site.snapshot()["site.p_it_kw"]
    ratio.append(hot.snapshot()["site.p_cooling_kw"] / site.snapshot()["site.p_cooling_kw"])
    assert ratio[0] == pytest.approx(1.0 + fac.pue_slope_per_degc * 10.0, rel=0.02)


def test_open_transition_drops_the_island_then_closes_onto_the_dead_bus() -> None:
    """``pms.transition: open``: the gensets are dropped, the bus is dead for
    ``open_transition_s`` while the UPS bridges the racks, then the breaker closes onto the
    dead bus; no rack goes dark."""
    site = _steady_island(grid={"reclose_delay_s": 10.0}, pms={"transition": "open"})
    pm = site.params.pms
    site.set("grid.available", 1)
    dead, modes = 0, []
    for _ in range(round(20.0 / site.dt)):
        site.step()
        s = site.snapshot()
        modes.append(int(s["grid.bus_mode"]))
        dead += int(s["grid.bus_dead"])
        assert s["site.racks_dark"] == 0
    # ISLAND, then DEAD for the open-transition time (to a tick), then GRID
    assert modes[0] == 1
    assert modes[-1] == 0
    assert dead * site.dt == pytest.approx(pm.open_transition_s, abs=site.dt + 1e-9)
    assert all(site.snapshot()[f"genset[{i}].state"] == 3 for i in range(site.genset.n))  # type: ignore[union-attr]
