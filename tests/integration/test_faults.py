"""Every fault in the catalogue does what its entry says, and clearing undoes it (or latches, as declared).

Physics faults are checked on the twin's signals after a few ticks; sensor and protocol faults on
what the gateway and the endpoints then serve. Each test builds a lab_rack (or aidc_10k for the
genset and PV faults) runner and steps it by hand; the tests of faults that act on the endpoints
serve them on free loopback ports (``served_lab``), the others serve nothing (``lab``: an OPC UA
server costs ≈ 2 s to start, and those faults act on the twin and the register images).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from hil.config import load_bench
from hil.faults import FAULTS, FaultSpec, resolve_targets
from hil.run.runner import Manual, Runner
from twin.models.bms import ALARM_BITS
from twin.models.pcs import PCS_ALARM_BITS, PcsState

pytestmark = pytest.mark.asyncio


async def _lab(*, serve: bool) -> AsyncIterator[Runner]:
    site, cfg = load_bench("lab_rack")
    r = Runner(site, cfg.with_ports(modbus=0, opcua=0), pacer=Manual(), serve=serve)
    async with r:
        site.set("pcs.enable", 1)
        await r.step(150)  # contactor closed, PCS running
        yield r


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[Runner]:
    """lab_rack running, nothing served."""
    async for r in _lab(serve=False):
        yield r


@pytest_asyncio.fixture
async def served_lab() -> AsyncIterator[Runner]:
    """lab_rack running, its Modbus and OPC UA endpoints on free loopback ports."""
    async for r in _lab(serve=True):
        yield r


def spec(ftype: str, target: str, **params: Any) -> FaultSpec:
    return FaultSpec(type=ftype, target=target, duration=None, id=None, params=FAULTS[ftype].params(**params))


def inject(r: Runner, s: FaultSpec) -> tuple[Any, list[Any]]:
    ft = FAULTS[s.type]
    targets = resolve_targets(s, r.gateway.devices)
    ft.inject(r, targets, s.params)
    return ft, targets


def bit(arr_value: float, name: str, table: dict[str, int]) -> bool:
    return bool(int(arr_value) & (1 << table[name]))


async def test_catalogue_is_complete_and_documented() -> None:
    assert {f.layer for f in FAULTS.values()} == {"physics", "sensor", "protocol"}
    for ft in FAULTS.values():
        assert ft.summary.strip()
        assert ft.shows.strip()
        assert ft.kinds


async def test_pcs_trip_latches_until_alarm_reset(lab: Runner) -> None:
    s = spec("pcs_trip", "PCS01")
    ft, t = inject(lab, s)
    await lab.step(3)
    snap = lab.gateway.snapshot
    assert snap["pcs[0].state"] == PcsState.FAULT
    assert bit(snap["pcs[0].alarm_bits"], "MANUFACTURER_ALRM", PCS_ALARM_BITS)
    ft.clear(lab, t, s.params)
    await lab.step(20)
    assert lab.gateway.snapshot["pcs[0].state"] == PcsState.FAULT  # latched, as declared
    assert ft.clears_itself is False
    lab.gateway.command(t[0], "alarm_reset")
    await lab.step(100)
    assert lab.gateway.snapshot["pcs[0].state"] in (PcsState.RUNNING, PcsState.STARTING)


async def test_dc_overvoltage_trips_with_its_own_alarm_bit(lab: Runner) -> None:
    inject(lab, spec("dc_overvoltage", "PCS01"))
    await lab.step(3)
    snap = lab.gateway.snapshot
    assert snap["pcs[0].state"] == PcsState.FAULT
    assert bit(snap["pcs[0].alarm_bits"], "DC_OVER_VOLT", PCS_ALARM_BITS)


async def test_overtemp_derate_caps_power_and_raises_the_warning(lab: Runner) -> None:
    site = lab.site
    gw, dev = lab.gateway, lab.gateway.by_name["PCS01"]
    for key, value in (("704.WSetMod", 1), ("704.WSetEna", 1), ("704.WSet", 50_000)):
        assert gw.write_value(dev, key, value).value == "ok", key
    await lab.step(50)
    assert lab.gateway.snapshot["pcs[0].p_ac_kw"] > 45.0
    s = spec("pcs_overtemp_derate", "PCS01", derate_pu=0.4)
    ft, t = inject(lab, s)
    await lab.step(50)
    snap = lab.gateway.snapshot
    s_rated = site.params.pcs.s_rated_kva
    assert snap["pcs[0].p_ac_kw"] <= 0.4 * s_rated + 0.5  # ±0.5 kW: the tick-mean of the ramp
    assert bit(snap["pcs[0].alarm_bits"], "OVER_TEMP", PCS_ALARM_BITS)
    assert snap["pcs[0].state"] != PcsState.FAULT  # a derate, not a trip
    ft.clear(lab, t, s.params)
    await lab.step(50)
    assert lab.gateway.snapshot["pcs[0].p_ac_kw"] > 45.0
    assert not bit(lab.gateway.snapshot["pcs[0].alarm_bits"], "OVER_TEMP", PCS_ALARM_BITS)


async def test_cell_overtemp_heats_one_cell_at_the_closed_form_rate(lab: Runner) -> None:
    th = lab.site.battery.cell.thermal
    t0 = lab.gateway.snapshot["bess.t_cell_max_degc"]
    inject(lab, spec("cell_overtemp", "PCS01", heat_w=2000.0))
    await lab.step(50)  # 5 s: short against the cell-to-jig time constant
    rise = lab.gateway.snapshot["bess.t_cell_max_degc"] - t0
    expected = 2000.0 * 5.0 / th.c_cell_j_per_k  # adiabatic Q·t/C over a short time
    assert rise == pytest.approx(expected, rel=0.15)  # 15 %: the cell's own heat and jig loss


async def test_cell_imbalance_offsets_one_cell(lab: Runner) -> None:
    before = lab.gateway.snapshot["bess[0].v_imbalance_mv"]
    inject(lab, spec("cell_imbalance", "PCS01", soc_offset_pct=-30.0))
    await lab.step(2)
    assert lab.gateway.snapshot["bess[0].v_imbalance_mv"] > before + 20.0
    assert lab.site.battery.state.soc[0, 0] < lab.site.battery.state.soc[0, 1] - 0.25


@pytest.mark.parametrize(
    ("ftype", "alarm"), [("contactor_failure", "CONTACTOR_ERROR"), ("insulation_fault", "GROUND_FAULT")]
)
async def test_bms_faults_open_the_rack(lab: Runner, ftype: str, alarm: str) -> None:
    inject(lab, spec(ftype, "PCS01"))
    await lab.step(10)
    snap = lab.gateway.snapshot
    assert bit(snap["bms[0].alarm_bits"], alarm, ALARM_BITS)
    assert snap["pcs[0].state"] == PcsState.FAULT


async def test_soc_sensor_faults_move_the_estimate_not_the_truth(lab: Runner) -> None:
    snap0 = lab.gateway.snapshot
    est0, true0 = snap0["bms[0].soc_est_pct"], snap0["bess.soc_pct"]
    inject(lab, spec("current_sensor_bias", "PCS01", a=50.0))
    await lab.step(600)  # 60 s
    snap = lab.gateway.snapshot
    assert abs(snap["bess.soc_pct"] - true0) < 0.05
    assert abs((snap["bms[0].soc_est_pct"] - est0) - (snap["bess.soc_pct"] - true0)) > 0.05


async def test_sensor_faults_change_what_is_served_not_the_twin(lab: Runner) -> None:
    gw = lab.gateway
    dev = gw.by_name["PCS01"]
    s = spec("biased_sensor", "PCS01", point="802.SoC", offset=10.0)
    ft, t = inject(lab, s)
    await lab.step(2)
    served = dev.value(dev.point("802.SoC"))
    assert served == pytest.approx(gw.snapshot["bms[0].soc_est_pct"] + 10.0, abs=0.2)
    ft.clear(lab, t, s.params)
    await lab.step(1)
    assert dev.value(dev.point("802.SoC")) == pytest.approx(gw.snapshot["bms[0].soc_est_pct"], abs=0.2)


async def test_protocol_faults_reach_the_endpoints(served_lab: Runner) -> None:
    gw, ep, opc = served_lab.gateway, served_lab.modbus[0], served_lab.opcua
    dev = gw.by_name["PCS01"]
    cases = [
        ("modbus_exception", {"code": 6}, lambda: ep.unit_faults[dev.unit_id].exception == 6),
        ("modbus_slow", {"delay": "2 s"}, lambda: ep.unit_faults[dev.unit_id].delay_s == 2.0),
        ("device_offline", {}, lambda: ep.unit_faults[dev.unit_id].offline and "PCS01" in opc.statuses()),
        ("stale_values", {}, lambda: gw.frozen(dev)),
        ("stuck_register", {"point": "701.W"}, lambda: "701.W" in gw.overrides(dev)),
        ("opcua_bad_status", {}, lambda: opc.statuses().get("PCS01") == "BadDeviceFailure"),
        ("opcua_uncertain_status", {}, lambda: opc.statuses().get("PCS01") == "UncertainLastUsableValue"),
        ("opcua_stalled_subscription", {}, lambda: opc.stalled),
    ]
    for ftype, params, active in cases:
        s = spec(ftype, "PCS01", **params)
        ft, t = inject(served_lab, s)
        await served_lab.step(1)
        assert active(), ftype
        ft.clear(served_lab, t, s.params)
        await served_lab.step(1)
        assert not ep.unit_faults, ftype
        assert not opc.statuses(), ftype
        assert not gw.frozen(dev), ftype
        assert not gw.overrides(dev), ftype
        assert not opc.stalled, ftype


async def test_comm_loss_silences_the_in_process_controller(lab: Runner) -> None:
    class Ctl:
        silenced = False
        calls = 0

        def on_tick(self, t: float) -> None:
            self.calls += 1

    ctl = Ctl()
    lab.controller = ctl
    s = spec("ems_comm_loss", "ems")
    ft, t = inject(lab, s)
    await lab.step(5)
    assert ctl.calls == 0
    ft.clear(lab, t, s.params)
    await lab.step(5)
    assert ctl.calls == 5


async def test_genset_and_pv_faults_on_aidc() -> None:
    site, cfg = load_bench("aidc_10k")
    r = Runner(site, cfg, pacer=Manual(), serve=False)
    async with r:
        await r.step(20)
        pv0 = r.gateway.snapshot["pv.p_ac_kw"]
        assert pv0 > 100.0  # 10:00 at midsummer
        inject(r, spec("pv_trip", "PV01"))
        inject(r, spec("genset_fail_to_start", "Genset02"))
        site.set("genset[1].start", 1)
        await r.step(300)
        snap = r.gateway.snapshot
        assert snap["pv.p_ac_kw"] == 0.0
        assert snap["genset[1].state"] == 4  # FAIL_TO_START
        assert snap["genset[0].state"] == 0  # the other genset was not touched


async def test_thermal_runaway_precursor_heat_accelerates(lab: Runner) -> None:
    s = spec("thermal_runaway_precursor", "PCS01", heat_w_per_s=100.0, max_heat_w=20_000.0)
    ft, t = inject(lab, s)
    assert ft.update is not None
    temps = [lab.gateway.snapshot["bess.t_cell_max_degc"]]
    for k in range(1, 301):  # 30 s, the heat ramping at 100 W/s as the player would drive it
        ft.update(lab, t, s.params, k * lab.site.dt)
        await lab.step(1)
        if k % 100 == 0:
            temps.append(lab.gateway.snapshot["bess.t_cell_max_degc"])
    rises = [b - a for a, b in itertools.pairwise(temps)]
    assert rises[0] > 0.0
    assert rises[2] > 2.0 * rises[0]  # accelerating: each 10 s heats more than the one before
    ft.clear(lab, t, s.params)
    assert lab.site.battery.fault_heat_w[0] == 0.0


async def test_modbus_drop_disconnects_clients_who_can_reconnect(served_lab: Runner) -> None:
    import asyncio

    from pymodbus.client import AsyncModbusTcpClient

    ep = served_lab.modbus[0]
    client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2, retries=0, reconnect_delay=0)
    assert await client.connect()
    try:
        inject(served_lab, spec("modbus_drop", "PCS01"))
        for _ in range(50):  # ≤ 1 s for the reset to reach the client
            if not client.connected:
                break
            await asyncio.sleep(0.02)
        assert not client.connected
        assert await client.connect()
        rr = await client.read_holding_registers(40000, count=2, device_id=1)
        assert rr.registers == [0x5375, 0x6E53]
    finally:
        client.close()


async def test_soc_sensor_drift_grows_the_estimate_error(lab: Runner) -> None:
    def error() -> float:
        snap = lab.gateway.snapshot
        return float(snap["bms[0].soc_est_pct"] - snap["bess.soc_pct"])

    e0 = error()
    s = spec("soc_sensor_drift", "PCS01", a_per_h=3600.0)  # the offset grows 1 A per second
    ft, t = inject(lab, s)
    await lab.step(300)
    e1 = error() - e0
    await lab.step(300)
    e2 = error() - e0
    # the offset starts at zero when injected and grows linearly, so the SoC error grows as t²:
    # e(2T) = 4 e(T) (±5 %: the PCS's own current moves the estimate too)
    assert e1 != 0.0
    assert e2 / e1 == pytest.approx(4.0, rel=0.05)
    ft.clear(lab, t, s.params)
    e_clear = error()
    await lab.step(300)
    assert error() == pytest.approx(e_clear, abs=0.01)  # cleared: the estimate stops drifting


async def test_stuck_sensor_holds_the_value_it_had(lab: Runner) -> None:
    gw, dev = lab.gateway, lab.gateway.by_name["PCS01"]
    for key, value in (("704.WSetMod", 1), ("704.WSetEna", 1), ("704.WSet", 30_000)):
        assert gw.write_value(dev, key, value).value == "ok", key
    await lab.step(5)
    s = spec("stuck_sensor", "PCS01", point="701.W")
    ft, t = inject(lab, s)
    await lab.step(1)
    held = dev.value(dev.point("701.W"))
    await lab.step(50)
    assert dev.value(dev.point("701.W")) == held
    assert abs(gw.snapshot["pcs[0].p_ac_kw"] * 1000.0 - held) > 1000.0  # the PCS moved on
    ft.clear(lab, t, s.params)
    await lab.step(1)
    assert dev.value(dev.point("701.W")) == pytest.approx(gw.snapshot["pcs[0].p_ac_kw"] * 1000.0, abs=100.0)
