"""The stand-in EMS against the gateway, in process: each good behaviour and the failure each
misbehaving mode is there to show.

The tests drive ``StandIn.on_tick`` then ``Gateway.step`` tick by tick; ``site.set`` is used
only as the outside world (grid, utility, faults), never to control storage. Assertions are on
physical quantities from the twin's snapshots, with stated tolerances. GPU training swings the
load by ~30 kW on lab_rack (and ~10 MW on aidc_10k) every 1.5 s, which no EMS can follow, so
limits are checked on window means, as a utility meters demand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hil.config import load_bench
from hil.ems import CONTROLLERS, StandIn
from hil.ems.standin import in_hours, parse_hours
from hil.wire.gateway import Gateway
from twin import Site
from twin.site import Snapshot

PCS_RATED_KW = 50.0  # lab_rack
WATCHDOG_S = 10.0  # endpoints.watchdog_s of both shipped sites

LAB_GRID = {"f_nom_hz": 50.0, "v_nom_kv": 0.4, "grid_code": "gbt_50hz"}
LAB_PCS = {"s_rated_kva": 50.0, "p_rated_kw": 50.0, "aux_kw": 0.3, "grid_code": "gbt_50hz"}
LAB_BATTERY = {"n_cabinets": 1, "cell": "lfp_280ah", "n_series": 52, "n_parallel": 1, "cells_modelled": 8}
AIDC_GRID = {"f_nom_hz": 50.0, "v_nom_kv": 10.0, "inertia_h_s": 4.0, "grid_code": "gbt_50hz"}


class Trace:
    """Snapshots of a run, as arrays by signal name."""

    def __init__(self, snaps: list[Snapshot]) -> None:
        self.snaps = snaps
        self.t = np.array([s.t for s in snaps])

    def __getitem__(self, name: str) -> np.ndarray:
        return np.array([s[name] for s in self.snaps])

    def window(self, name: str, t0: float, t1: float) -> np.ndarray:
        m = (self.t > t0 + 1e-9) & (self.t <= t1 + 1e-9)
        return np.array([s[name] for s, k in zip(self.snaps, m, strict=True) if k])


def bench(name: str, **overrides: Any) -> tuple[Site, Gateway]:
    site, cfg = load_bench(name, overrides=overrides or None)
    return site, Gateway.from_config(site, cfg)


def run(
    site: Site,
    gw: Gateway,
    ems: StandIn,
    until_s: float,
    events: dict[float, Callable[[], None]] | None = None,
) -> Trace:
    """The runner's loop: outside-world events, then the EMS, then one gateway tick."""
    at = {round(t / site.dt): fn for t, fn in (events or {}).items()}
    snaps = []
    while site.t < until_s - 1e-9:
        fn = at.get(site.tick)
        if fn is not None:
            fn()
        ems.on_tick(site.t)
        snaps.append(gw.step())
    return Trace(snaps)


def max_window_mean(x: np.ndarray, window_s: float, dt: float = 0.1) -> float:
    n = round(window_s / dt)
    return float(np.convolve(x, np.ones(n) / n, mode="valid").max())


def writes_to(gw: Gateway, device: str, point: str) -> list[tuple[float, Any]]:
    return [(t, v) for t, d, p, v, st in gw.write_log if d == device and p == point and st == "ok"]


def read(gw: Gateway, device: str, key: str) -> Any:
    d = gw.by_name[device]
    return d.value(d.point(key))


# ------------------------------------------------------------------------------------------
def test_registry_modes_and_options() -> None:
    assert CONTROLLERS["standin"] is StandIn
    _site, gw = bench("lab_rack")
    with pytest.raises(ValueError, match="did you mean 'good'"):
        StandIn(gw, mode="goood")
    with pytest.raises(TypeError, match="did you mean 'limit_kw'"):
        StandIn(gw, limt_kw=3.0)
    ems = StandIn(gw, limit_kw=40, charge_hours="22-6", discharge_hours=[[17, 21]])
    assert ems.opt.charge_hours == ((22.0, 6.0),)
    assert in_hours(23.5, ems.opt.charge_hours)
    assert in_hours(1.0, ems.opt.charge_hours)
    assert not in_hours(12.0, ems.opt.charge_hours)
    assert in_hours(18.0, ems.opt.discharge_hours)
    with pytest.raises(ValueError, match=r"within 0\.\.24"):
        parse_hours([[0, 25]])


def test_learned_limit_peak_shaving_through_the_gateway_only() -> None:
    """Without a limit it learns 0.9 × the mean net load, then holds import there; every write
    it makes is one the gateway accepted and logged."""
    site, gw = bench("lab_rack")
    ems = StandIn(gw)
    tr = run(site, gw, ems, 110.0)
    load = tr.window("grid.p_import_kw", 7.0, 60.0).mean()  # PCS idle: import = net load
    assert ems.limit_kw is not None
    assert ems.limit_kw == pytest.approx(0.9 * load, rel=0.03)
    imp = tr.window("grid.p_import_kw", 75.0, 110.0)
    assert imp.mean() <= ems.limit_kw * 1.01  # 35 s mean: measured −2.5 % (margin 2 %)
    assert imp.mean() >= ems.limit_kw * 0.95
    assert ems.rejected == 0
    assert ems.writes == sum(1 for *_, st in gw.write_log if st == "ok")
    # the configuration a wire client reads back
    assert read(gw, "PCS01", "704.WSetEna") == 1
    assert read(gw, "PCS01", "704.WSetRvrtTms") == ems.opt.revert_s
    assert read(gw, "PCS01", "704.WSetRvrt") == 0


@pytest.mark.parametrize("mode", ["good", "ignore_dr"])
def test_demand_response(mode: str) -> None:
    """Announced at 5 s for 20..80 s with a 25 kW limit on a ~38 kW load: "good" acks and holds
    the event's mean import under the limit; "ignore_dr" does neither."""
    site, gw = bench("lab_rack")
    ems = StandIn(gw, mode=mode, limit_kw=1000.0)  # no peak shaving: DR alone
    utility = gw.by_name["Utility"].group.behaviour
    announce = {5.0: lambda: utility.set_event(7, start_s=20.0, duration_s=60.0, limit_w=25_000.0)}  # type: ignore[attr-defined]
    tr = run(site, gw, ems, 82.0, announce)
    imp = tr.window("grid.p_import_kw", 20.0, 80.0)
    acks = writes_to(gw, "Utility", "64902.DRAck")
    if mode == "good":
        assert [v for _t, v in acks] == [7]  # once
        assert acks[0][0] <= 5.0 + 2 * ems.period_s
        assert read(gw, "Utility", "64902.DRAck") == 7
        assert imp.mean() <= 25.0  # measured 24.2 kW (aim: limit − 3 %)
        assert max_window_mean(imp, 10.0) <= 25.0 * 1.04  # measured +1.5 %
    else:
        assert acks == []
        assert imp.mean() >= 25.0 * 1.3  # measured ≈ 38.8 kW: the plain load


@pytest.mark.parametrize("mode", ["good", "no_revert"])
def test_comm_loss(mode: str) -> None:
    """Silenced at 30 s while discharging ~18 kW: with "good" (heartbeat + WSet reversion) the
    PCS is back at 0 within the watchdog time + its response; with "no_revert" it keeps its
    last setpoint beyond the 60 s reversion time. "good" resumes when it speaks again."""
    site, gw = bench("lab_rack")
    ems = StandIn(gw, mode=mode, limit_kw=20.0)
    before = run(site, gw, ems, 30.0)
    p0 = before["pcs[0].p_ac_kw"][-1]
    assert p0 > 12.0
    ems.silenced = True
    writes = ems.writes
    silent_s = WATCHDOG_S + 3.0 if mode == "good" else ems.opt.revert_s + 15.0
    tr = run(site, gw, ems, 30.0 + silent_s)
    assert ems.writes == writes
    p = np.abs(tr["pcs[0].p_ac_kw"])
    if mode == "good":
        # last heartbeat at 29 s; watchdog 10 s, then ramp + lag: measured back at 0 at +10.1 s
        late = tr.t >= 30.0 + WATCHDOG_S + 1.5
        assert np.all(p[late] < 0.01 * PCS_RATED_KW)
        assert read(gw, "PCS01", "802.Evt1") & 1  # COMMUNICATION_ERROR
        ems.silenced = False
        back = run(site, gw, ems, site.t + 10.0)
        assert back.window("pcs[0].p_ac_kw", site.t - 5.0, site.t).mean() > 12.0
        assert read(gw, "PCS01", "704.WSetEna") == 1
    else:
        assert np.all(np.abs(tr["pcs[0].p_ac_kw"] - p0) < 0.05 * PCS_RATED_KW)
        assert read(gw, "PCS01", "802.Evt1") & 1 == 0


@pytest.mark.parametrize("mode", ["good", "over_discharge"])
def test_soc_reserve(mode: str) -> None:
    """From 30.5 % SoC with a 10 kW limit on a ~38 kW load: "good" discharges down to its 30 %
    reserve and stops there; "over_discharge" keeps going (measured 27.8 % after 120 s)."""
    battery = {**LAB_BATTERY, "soc0": 0.305}
    site, gw = bench("lab_rack", battery=battery)
    ems = StandIn(gw, mode=mode, limit_kw=10.0)
    tr = run(site, gw, ems, 120.0)
    soc = tr["bess.soc_pct"]
    reserve = ems.opt.soc_reserve_pct
    if mode == "good":
        assert soc.min() >= reserve - 1.0  # measured 30.02 %
        assert soc.min() < 30.3  # it did discharge to the reserve
        assert abs(tr.window("pcs[0].p_ac_kw", 110.0, 120.0).mean()) < 2.0  # and holds there
    else:
        assert soc.min() < reserve - 1.0


def test_pcs_trip_is_reset_after_holdoff_and_restarted() -> None:
    """A 1 s trip at 20 s: one alarm reset after the 10 s hold-off, running again after the
    contactor precharge (2 s) and start sequence (5 s): measured running at 38.0 s."""
    site, gw = bench("lab_rack")
    ems = StandIn(gw, limit_kw=20.0)
    tr = run(
        site,
        gw,
        ems,
        45.0,
        {20.0: lambda: site.set("pcs.fault_trip", 1), 21.0: lambda: site.set("pcs.fault_trip", 0)},
    )
    state = tr["pcs[0].state"]
    assert state[(tr.t > 20.05) & (tr.t < 25.0)].tolist() == [6.0] * 49  # FAULT
    resets = writes_to(gw, "PCS01", "715.AlarmReset")
    assert len(resets) == 1
    assert 20.0 + ems.opt.reset_holdoff_s <= resets[0][0] <= 20.0 + ems.opt.reset_holdoff_s + 2.0
    running = tr.t[(state == 3) & (tr.t > 21.0)]
    assert running.size > 0
    assert running[0] <= 20.0 + ems.opt.reset_holdoff_s + 2.0 + 2.0 + 5.0 + 1.0
    assert tr.window("pcs[0].p_ac_kw", 42.0, 45.0).mean() > 12.0


def test_gfm_island_is_left_to_the_pcs_then_shaving_resumes() -> None:
    """lab_rack with a grid-forming PCS: islanded, the PCS carries the rack by itself (no rack
    goes dark), the stand-in only trims its bias back towards 50 Hz; once the breaker recloses
    it shaves to its limit again."""
    pcs = {**LAB_PCS, "mode": "grid_forming"}
    grid = {**LAB_GRID, "reclose_delay_s": 10.0}
    site, gw = bench("lab_rack", pcs=pcs, grid=grid)
    ems = StandIn(gw, limit_kw=20.0)
    tr = run(
        site,
        gw,
        ems,
        110.0,
        {20.0: lambda: site.set("grid.available", 0), 50.0: lambda: site.set("grid.available", 1)},
    )
    island = (tr.t > 20.5) & (tr.t < 59.0)
    assert np.all(tr["grid.breaker_closed"][island] == 0)
    assert np.all(tr["site.racks_dark"] == 0)
    # below the 20 kW limit's reserve logic: the island may use the battery freely
    assert tr.window("pcs[0].p_ac_kw", 30.0, 50.0).mean() > 30.0
    # 4 % droop alone would sit near 48.4 Hz at this load; measured mean 49.9 Hz over 40–50 s
    assert abs(tr.window("grid.f_hz", 40.0, 50.0).mean() - 50.0) < 0.5
    # a closed transition: the synchroniser slips the island into the sync window first
    reclose = tr.t[(tr.t > 60.0) & (tr["grid.breaker_closed"] == 1)][0]
    assert reclose <= 60.0 + 20.0  # measured 13.2 s after the stability timer
    assert abs(tr.window("grid.reclose_dphi_deg", reclose, 110.0)[0]) <= 10.0
    assert tr.window("grid.breaker_closed", reclose, 110.0).min() == 1
    imp = tr.window("grid.p_import_kw", reclose + 15.0, 110.0)
    assert imp.mean() <= 20.0 * 1.03


def test_tou_charge_then_discharge() -> None:
    """Charge hours 0–0.01 h (0–36 s), discharge hours 0.01–0.02 h (36–72 s), limit 60 kW:
    charges under the limit, then serves the load from storage without exporting."""
    site, gw = bench("lab_rack")
    ems = StandIn(gw, limit_kw=60.0, charge_hours=[[0.0, 0.01]], discharge_hours=[[0.01, 0.02]])
    tr = run(site, gw, ems, 72.0)
    p_bess = tr.window("bess.p_ac_kw", 15.0, 35.0)
    assert p_bess.mean() < -10.0  # charging (0.5 × the charge capability, capped by headroom)
    assert tr.window("grid.p_import_kw", 15.0, 35.0).mean() <= 60.0
    imp = tr.window("grid.p_import_kw", 45.0, 72.0)
    assert abs(imp.mean()) < 3.0  # the load served from storage; measured ≈ 0.5 kW


# ------------------------------------------------------------------------------------------
# aidc_10k: 16 PCS, PV, 6 gensets
def test_aidc_shaving_spread_and_persistent_trip() -> None:
    """A 6 MW limit shared by 16 PCS; PCS03 trips for good at 20 s: two resets 5 s apart, then
    it is left alone, holds 0 and the other 15 share the command equally."""
    site, gw = bench("aidc_10k")
    ems = StandIn(gw, limit_kw=6000.0, max_resets=2, reset_holdoff_s=5.0)
    tr = run(site, gw, ems, 60.0, {20.0: lambda: site.set("pcs[2].fault_trip", 1)})
    resets = writes_to(gw, "PCS03", "715.AlarmReset")
    assert len(resets) == 2
    assert resets[1][0] - resets[0][0] >= 5.0
    assert any("left for service" in what for _, dev, what in ems.actions if dev == "PCS03")
    last = tr.snaps[-1]
    assert last["pcs[2].p_ac_kw"] == 0.0
    others = np.array([last[f"pcs[{i}].p_set_kw"] for i in range(16) if i != 2])
    assert others.min() > 50.0
    assert others.max() - others.min() < 0.01 * others.mean()
    imp = tr.window("grid.p_import_kw", 30.0, 60.0)
    assert imp.mean() <= 6000.0 * 1.02  # measured −1.7 % (aim −2 %; 10 MW swings at 0.7 Hz)


def test_aidc_outage_gensets_started_trimmed_and_stopped() -> None:
    """Grid lost 20–55 s with gensets that do not start by themselves: the stand-in starts them
    (3 s wait), trims their setpoints back to 50 Hz, leaves the PCSs' grid trips alone, and
    stops the gensets once the breaker has reclosed (a closed transition after the 10 s
    stability timer) and the PMS has unloaded them."""
    genset = {"n_units": 6, "p_rated_kw": 2500.0, "auto_start": False}
    site, gw = bench("aidc_10k", genset=genset, grid={**AIDC_GRID, "reclose_delay_s": 10.0})
    ems = StandIn(gw, limit_kw=9000.0)
    tr = run(
        site,
        gw,
        ems,
        95.0,
        {20.0: lambda: site.set("grid.available", 0), 55.0: lambda: site.set("grid.available", 1)},
    )
    starts = [t for t, _d, what in ems.actions if what.startswith("start (islanded")]
    assert len(starts) == 6
    assert max(starts) <= 20.0 + ems.opt.genset_start_wait_s + 2.0
    assert tr.window("genset.p_kw", 40.0, 55.0).min() > 1000.0
    f_island = tr.window("grid.f_hz", 45.0, 55.0)
    assert abs(f_island.mean() - 50.0) < 0.1  # measured within 0.01 Hz
    # the PCS tripped on the island (grid-following) and wait for the grid code; no resets
    assert not any(p == "715.AlarmReset" for _t, _d, p, _v, _s in gw.write_log)
    reclose = tr.t[(tr.t > 55.0) & (tr["grid.breaker_closed"] == 1)][0]
    assert reclose <= 65.0 + 12.0  # measured 5.5 s after the stability timer
    assert all(read(gw, f"Genset0{i}", "715.OpCtl") == 0 for i in range(1, 7))
    assert all(tr.snaps[-1][f"genset[{i}].state"] == 3 for i in range(6))  # COOLDOWN


def test_aidc_auto_started_gensets_are_not_commanded() -> None:
    """Shipped aidc_10k gensets start on loss of grid by themselves (8 s crank): no command."""
    site, gw = bench("aidc_10k")
    ems = StandIn(gw, limit_kw=9000.0)
    tr = run(site, gw, ems, 30.0, {20.0: lambda: site.set("grid.available", 0)})
    cranking = tr.t[tr["genset[0].state"] == 1]
    assert cranking.size > 0
    assert cranking[0] <= 20.0 + site.params.pms.outage_confirm_s + 0.2
    assert all(tr.snaps[-1][f"genset[{i}].state"] == 2 for i in range(site.genset.n))  # RUNNING
    assert not any(d.startswith("Genset") and p == "715.OpCtl" for _t, d, p, _v, _s in gw.write_log)


def test_aidc_pv_cloud_then_job_failure() -> None:
    """A cloud at 20 s takes ~2.3 MW of PV away: storage picks it up. The training job fails at
    40 s (IT 10 MW → 2.8 MW): discharge stops within ~2 s instead of exporting for the length
    of the net-load filter (the no-export guard)."""
    site, gw = bench("aidc_10k")
    ems = StandIn(gw, limit_kw=6000.0)
    tr = run(
        site,
        gw,
        ems,
        50.0,
        {20.0: lambda: site.set("pv.cloud_index", 0.1), 40.0: lambda: site.set("gpu.job_fail", -1)},
    )
    pv_drop = tr.window("pv.p_ac_kw", 10.0, 20.0).mean() - tr.window("pv.p_ac_kw", 25.0, 40.0).mean()
    assert pv_drop > 2000.0
    bess_rise = tr.window("bess.p_ac_kw", 30.0, 40.0).mean() - tr.window("bess.p_ac_kw", 10.0, 20.0).mean()
    assert bess_rise > 0.6 * pv_drop  # measured ≈ 2.4 MW (10 s means carry ±0.4 MW of GPU noise)
    assert tr.window("grid.p_import_kw", 25.0, 40.0).mean() <= 6000.0 * 1.06  # measured +3.4 %
    after = tr.t >= 42.0
    assert np.all(tr["grid.p_import_kw"][after] > 0.0)  # measured: last export at 41.5 s
    assert np.all(tr["bess.p_ac_kw"][tr.t >= 43.0] < 100.0)


def test_batch_reads_decide_exactly_as_reads_point_by_point() -> None:
    """The period's PCS points are read in one batch (``StandIn._pcs_reader``); a stand-in
    reading each point one by one (the batch switched off) makes the very same writes at the
    same instants over a run with a trip, an alarm reset, a restart, a grid outage and a PCS
    taken to local control (each write drops its point from the batch)."""
    logs = []
    for batch in (True, False):
        site, gw = bench("aidc_10k")
        ems = StandIn(gw, limit_kw=14_000.0)
        if not batch:
            ems._pcs_reader = None
        run(
            site,
            gw,
            ems,
            60.0,
            {
                5.0: lambda site=site: site.set("pcs[2].fault_trip", 1),
                6.0: lambda site=site: site.set("pcs[2].fault_trip", 0),
                30.0: lambda site=site: site.set("grid.available", 0),
                40.0: lambda site=site: site.set("grid.available", 1),
                45.0: lambda gw=gw: gw.set_local(gw.by_name["PCS05"], True),
            },
        )
        logs.append((list(gw.write_log), list(ems.actions)))
    assert logs[0] == logs[1]
    # every path that reads then writes ran: the reset and restart of PCS03, configuration
    # re-written where the device had it otherwise (_ensure), setpoints and heartbeats
    kinds = Counter(p for _, _, p, _, st in logs[0][0] if st == "ok")
    assert kinds["715.AlarmReset"] == 1
    assert kinds["715.OpCtl"] == 1
    assert kinds["704.WSetEna"] > 16
    assert kinds["704.WSetRvrtTms"] == 16
    assert kinds["802.CtrlHb"] == 16 * 60
    assert kinds["704.WSet"] > 16 * 30
    # a write within a period is read back as written, not from the period's batch
    site, gw = bench("lab_rack")
    ems = StandIn(gw, limit_kw=20.0)
    run(site, gw, ems, 2.0)
    d = ems.pcs[0].dev
    assert ems._pcs_reader is not None
    ems._cached = {d.name: ems._pcs_reader.read()[0]}
    assert ems._read(d, "704.WSetRvrtTms") == ems.opt.revert_s
    assert ems._write(d, "704.WSetRvrtTms", 7.0)
    assert ems._read(d, "704.WSetRvrtTms") == 7.0
    # only the point written left the batch: its other points are still read from it
    assert "704.WSetRvrtTms" not in ems._cached[d.name]
    assert "701.W" in ems._cached[d.name]
