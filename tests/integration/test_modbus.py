"""The Modbus TCP server with real third-party clients: pysunspec2 (SunSpec's own), pymodbus'
client and modbus-serial (Node.js).

pysunspec2 is blocking: it runs in a worker thread (``asyncio.to_thread``) while the server runs
on the test's event loop, and the test steps the twin in process (``gw.step()``) between reads,
never on the wall clock.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymodbus.exceptions import ModbusIOException
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP
from sunspec2.modbus.modbus import ModbusClientException

from hil.config import load_site
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.wire.gateway import Device, Gateway
from hil.wire.sunspec import encode_value

from .conftest import RegisterClient, ServeFn

HOST = "127.0.0.1"
BASE = 40000
JS_DIR = Path(__file__).resolve().parent / "js"
pytestmark = pytest.mark.usefixtures("modbus_sunspec_models")


# -- helpers ------------------------------------------------------------------------------------


def ss_scan(port: int, unit: int, trace: list[str] | None = None) -> SunSpecModbusClientDeviceTCP:
    """pysunspec2's scan of one unit (blocking; run it in a thread)."""
    c = SunSpecModbusClientDeviceTCP(
        slave_id=unit, ipaddr=HOST, ipport=port, timeout=5, trace_func=None if trace is None else trace.append
    )
    c.scan()
    return c


def ss_points(c: SunSpecModbusClientDeviceTCP) -> dict[str, Any]:
    """Every decoded point by this project's key ("701.W", "804[2].SoC", "714.Prt[1].DCV")."""
    out: dict[str, Any] = {}

    def walk(group: Any, prefix: str) -> None:
        for name, p in group.points.items():
            out[prefix + name] = p
        for name, g in group.groups.items():
            if isinstance(g, list):
                for k, gg in enumerate(g):
                    walk(gg, f"{prefix}{name}[{k + 1}].")
            else:
                walk(g, f"{prefix}{name}.")

    for mid, models in c.models.items():
        if isinstance(mid, int):
            for r, m in enumerate(models):
                walk(m, f"{mid}." if len(models) == 1 else f"{mid}[{r + 1}].")
    return out


def site_gateway(name: str, modbus_aidc: Gateway, modbus_lab: Gateway) -> Gateway:
    if name == "aidc_10k":
        return modbus_aidc
    modbus_lab.step(30)
    return modbus_lab


def pcs(gw: Gateway) -> Device:
    return next(d for d in gw.devices if d.kind == "bess")


def addr(dev: Device, key: str) -> int:
    return BASE + dev.point(key).offset


def words(dev: Device, key: str, value: float) -> list[int]:
    p = dev.point(key)
    return encode_value(value, p.pdef.type, p.pdef.size, dev.sf_of(p))


def val(dev: Device, key: str) -> Any:
    return dev.value(dev.point(key))


def start_pcs(gw: Gateway) -> Device:
    dev = pcs(gw)
    for _ in range(300):
        if val(dev, "701.InvSt") == 3:
            return dev
        gw.step()
    raise AssertionError("the PCS did not start within 30 s")


# -- pysunspec2: scan, decode, compare -----------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("site", ["lab_rack", "aidc_10k"])
async def test_pysunspec2_scans_every_device(
    site: str, modbus_aidc: Gateway, modbus_lab: Gateway, modbus_serve: ServeFn
) -> None:
    gw = site_gateway(site, modbus_aidc, modbus_lab)
    ep = await modbus_serve(gw)
    for dev in gw.devices:
        c = await asyncio.to_thread(ss_scan, ep.port, dev.unit_id)
        assert c.base_addr == BASE, dev.name
        assert [m.model_id for m in c.model_list] == dev.models, dev.name  # vendor models decode too
        for m in c.model_list:
            assert m.error_info == "", f"{dev.name} model {m.model_id}: {m.error_info}"
        for key, p in ss_points(c).items():
            where = f"{dev.name} {key}"
            pdef = p.pdef
            # an accumulator reads None while it is 0 (SunSpec's acc NI value), e.g. a meter that
            # has never exported; the gateway implements it all the same
            if pdef.get("mandatory") == "M" and pdef["type"] != "pad" and not pdef["type"].startswith("acc"):
                assert p.value is not None, f"{where} is mandatory and not implemented"
            if pdef["type"] == "sunssf" and p.value is not None:
                assert -10 <= p.value <= 10, where
            if pdef.get("symbols") and pdef["type"].startswith("enum") and p.value is not None:
                assert p.value in {s["value"] for s in pdef["symbols"]}, f"{where} = {p.value}"


@pytest.mark.asyncio
@pytest.mark.parametrize("site", ["lab_rack", "aidc_10k"])
async def test_every_point_reads_as_the_gateway_encodes_it(
    site: str, modbus_aidc: Gateway, modbus_lab: Gateway, modbus_serve: ServeFn
) -> None:
    """pysunspec2's decoded value (after scale factors) equals Device.value() exactly."""
    gw = site_gateway(site, modbus_aidc, modbus_lab)
    ep = await modbus_serve(gw)
    n = 0
    for dev in gw.devices:
        theirs = ss_points(await asyncio.to_thread(ss_scan, ep.port, dev.unit_id))
        assert set(theirs) == {p.key for p in dev.points}, dev.name
        for p in dev.points:
            ours = dev.value(p)
            if ours == "" or (ours == 0 and p.pdef.type.startswith("acc")):
                ours = None  # empty strings and zero accumulators are SunSpec's not-implemented
            assert theirs[p.key].cvalue == ours, f"{dev.name} {p.key} ({p.pdef.type})"
            n += 1
    assert n == sum(len(d.points) for d in gw.devices)


@pytest.mark.asyncio
async def test_meter_energy_accumulators_read_the_twins_books(modbus_serve: ServeFn) -> None:
    """203 TotWhImp/TotWhExp read with pysunspec2 equal the twin's grid.import_kwh/export_kwh
    within one LSB of TotWh_SF (an accumulator at 0 reads None, SunSpec's not-implemented)."""
    gw = Gateway(load_site("aidc_10k"))
    gw.step(30)
    meter = next(d for d in gw.devices if d.kind == "meter")
    ep = await modbus_serve(gw, [meter])
    pts = ss_points(await asyncio.to_thread(ss_scan, ep.port, meter.unit_id))
    lsb = 10.0 ** pts["203.TotWh_SF"].value
    snap = gw.site.snapshot()
    assert snap["grid.import_kwh"] * 1000.0 > lsb  # the run has imported more than one LSB
    for key, sig in (("203.TotWhImp", "grid.import_kwh"), ("203.TotWhExp", "grid.export_kwh")):
        got = pts[key].cvalue or 0.0
        assert abs(got - snap[sig] * 1000.0) <= lsb, (key, got, snap[sig])


@pytest.mark.asyncio
async def test_pysunspec2_writes_fc06_fc16_and_refusals(modbus_lab: Gateway, modbus_serve: ServeFn) -> None:
    gw = modbus_lab
    dev = pcs(gw)
    ep = await modbus_serve(gw)
    trace: list[str] = []
    c = await asyncio.to_thread(ss_scan, ep.port, dev.unit_id, trace)
    ctl = c.DERCtlAC[0]

    def fcs() -> list[int]:
        """Function codes of the requests sent since the last call ('> ' + MBAP + PDU, hex)."""
        out = [int(t[2 + 14 : 2 + 16], 16) for t in trace if t.startswith("> ")]
        trace.clear()
        return out

    fcs()
    ctl.WSetEna.value = 1
    await asyncio.to_thread(ctl.WSetEna.write)
    ctl.WSet.value = -12_345
    await asyncio.to_thread(ctl.WSet.write)
    assert fcs() == [6, 16]
    await asyncio.to_thread(ctl.read)
    assert (ctl.WSetEna.value, ctl.WSet.value) == (1, -12_345)
    assert (val(dev, "704.WSetEna"), val(dev, "704.WSet")) == (1, -12_345)

    image = dev.regs.copy()
    w = c.DERMeasureAC[0].W
    w.value = 100
    with pytest.raises(ModbusClientException, match=r"exception: 2$"):  # read-only
        await asyncio.to_thread(w.write)
    ctl.WSet.value = 60_000  # above the lab rack's 50 kW
    with pytest.raises(ModbusClientException, match=r"exception: 3$"):
        await asyncio.to_thread(ctl.WSet.write)
    ctl.WSetEna.value = 7  # not an enum value
    with pytest.raises(ModbusClientException, match=r"exception: 3$"):
        await asyncio.to_thread(ctl.WSetEna.write)
    assert np.array_equal(dev.regs, image)
    gw.step()
    assert (val(dev, "704.WSetEna"), val(dev, "704.WSet")) == (1, -12_345)


# -- conformance: the same tests in process and over the wire ----------------------------------


@pytest.mark.asyncio
async def test_read_marker_and_end(modbus_client: RegisterClient) -> None:
    gw = modbus_client.gw
    for dev in gw.devices:
        assert await modbus_client.read(dev, BASE, 4) == [0x5375, 0x6E53, 1, 66]
        n = dev.group.n_regs
        assert await modbus_client.read(dev, BASE + n - 2, 2) == [0xFFFF, 0]
        assert await modbus_client.read(dev, BASE + n - 2, 3) == 2  # one past the end
        assert await modbus_client.read(dev, BASE - 1, 1) == 2
        assert await modbus_client.read(dev, 0, 1) == 2


@pytest.mark.asyncio
async def test_single_register_write_reads_back(modbus_client: RegisterClient) -> None:
    dev = pcs(modbus_client.gw)
    assert await modbus_client.write(dev, addr(dev, "704.WSetEna"), [1]) is None
    assert await modbus_client.read(dev, addr(dev, "704.WSetEna"), 1) == [1]
    assert val(dev, "704.WSetEna") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [-12_345, -1, 0, 49_999, -50_000])
async def test_int32_write_reads_back_high_word_first(modbus_client: RegisterClient, value: int) -> None:
    gw = modbus_client.gw
    dev = pcs(gw)
    regs = [(value >> 16) & 0xFFFF, value & 0xFFFF]
    assert await modbus_client.write(dev, addr(dev, "704.WSet"), regs) is None
    assert await modbus_client.read(dev, addr(dev, "704.WSet"), 2) == regs
    assert val(dev, "704.WSet") == value
    gw.step()
    assert await modbus_client.read(dev, addr(dev, "704.WSet"), 2) == regs


@pytest.mark.asyncio
async def test_multi_point_write(modbus_client: RegisterClient) -> None:
    """One FC16 over WSetEna, WSetMod and WSet (1 + 1 + 2 registers)."""
    dev = pcs(modbus_client.gw)
    a = addr(dev, "704.WSetEna")
    assert addr(dev, "704.WSetMod") == a + 1
    assert addr(dev, "704.WSet") == a + 2
    regs = [1, 1, *words(dev, "704.WSet", -20_000)]
    assert await modbus_client.write(dev, a, regs) is None
    assert await modbus_client.read(dev, a, 4) == regs
    assert (val(dev, "704.WSetEna"), val(dev, "704.WSetMod"), val(dev, "704.WSet")) == (1, 1, -20_000)


REFUSED: dict[str, tuple[Callable[[Device], tuple[int, list[int]]], int]] = {
    "read-only point": (lambda d: (addr(d, "701.W"), [100]), 2),
    "model header": (lambda d: (addr(d, "704.ID"), [704]), 2),
    "SunS marker": (lambda d: (BASE, [0x5375]), 2),
    "below the map": (lambda d: (BASE - 1, [0]), 2),
    "past the end": (lambda d: (BASE + d.group.n_regs, [0]), 2),
    "WSet high word only": (lambda d: (addr(d, "704.WSet"), [0]), 2),
    "WSet low word only": (lambda d: (addr(d, "704.WSet") + 1, [0]), 2),
    "WSet out of range": (lambda d: (addr(d, "704.WSet"), words(d, "704.WSet", 60_000)), 3),
    "WSet out of range, negative": (lambda d: (addr(d, "704.WSet"), words(d, "704.WSet", -60_000)), 3),
    "bad enum": (lambda d: (addr(d, "704.WSetEna"), [5]), 3),
    "good then bad point": (lambda d: (addr(d, "704.WSetEna"), [1, 9]), 3),
    "WMaxLimPct above 100 %": (lambda d: (addr(d, "704.WMaxLimPct"), words(d, "704.WMaxLimPct", 100.1)), 3),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_write(modbus_client: RegisterClient, case: str) -> None:
    gw = modbus_client.gw
    dev = pcs(gw)
    make, code = REFUSED[case]
    address, regs = make(dev)
    image = dev.regs.copy()
    snap = gw.site.snapshot().to_dict()
    assert await modbus_client.write(dev, address, regs) == code
    assert np.array_equal(dev.regs, image)
    assert gw.site.snapshot().to_dict() == snap
    assert gw.pending == []


@pytest.mark.asyncio
async def test_local_control_refuses_setpoints(modbus_client: RegisterClient) -> None:
    gw = modbus_client.gw
    dev = pcs(gw)
    gw.set_local(dev, True)
    image = dev.regs.copy()
    assert await modbus_client.write(dev, addr(dev, "704.WSet"), words(dev, "704.WSet", 10_000)) == 1
    assert np.array_equal(dev.regs, image)
    assert await modbus_client.write(dev, addr(dev, "802.CtrlHb"), [3]) is None  # heartbeats still count
    gw.set_local(dev, False)
    assert await modbus_client.write(dev, addr(dev, "704.WSet"), words(dev, "704.WSet", 10_000)) is None


@pytest.mark.asyncio
async def test_pcs_follows_wset_then_reverts(modbus_client: RegisterClient) -> None:
    """An EMS enables WSet = +20 kW with a 5 s reversion timer; the twin is stepped in process."""
    gw = modbus_client.gw
    dev = start_pcs(gw)
    p = gw.site.params.pcs
    target, tol = 20_000, 200.0  # 1 % of the step
    ramp_s = target / (p.ramp_pct_per_s / 100.0 * p.p_rated_kw * 1000.0)

    async def read(key: str) -> Any:
        pt = dev.point(key)
        regs = await modbus_client.read(dev, addr(dev, key), pt.words)
        assert isinstance(regs, list), key
        sf = await modbus_client.read(dev, BASE + dev.group.points[pt.sf_col].offset, 1) if pt.sf_col else [0]
        assert isinstance(sf, list)
        raw = int.from_bytes(
            b"".join(r.to_bytes(2, "big") for r in regs), "big", signed=pt.pdef.type == "int16"
        )
        if pt.pdef.type == "int16" and raw == -0x8000:
            return None
        s = sf[0] - 0x10000 if sf[0] >= 0x8000 else sf[0]
        return raw / 10 ** (-s) if s < 0 else raw * 10**s

    for key, v in (("704.WSetRvrtTms", 5), ("704.WSetEnaRvrt", 0), ("704.WSet", target), ("704.WSetEna", 1)):
        assert await modbus_client.write(dev, addr(dev, key), words(dev, key, v)) is None, key
    t0 = gw.snapshot.t

    async def at(t: float) -> None:
        while gw.snapshot.t < t0 + t - 1e-9:
            gw.step()

    await at(ramp_s + p.t_response_s)
    assert await read("701.W") >= 0.9 * target
    await at(ramp_s + 3 * p.t_response_s)
    assert abs(await read("701.W") - target) <= tol
    rem = []
    for k in range(2, 5):
        await at(k + 0.5)
        rem.append(await read("704.WSetRvrtRem"))
    assert rem == [3, 2, 1]
    assert await read("704.WSetEna") == 1
    await at(5.2)
    assert (await read("704.WSetEna"), await read("704.WSet"), await read("704.WSetRvrtRem")) == (0, 0, 0)
    await at(5 + ramp_s + 3 * p.t_response_s + 0.2)
    assert abs(await read("701.W")) <= tol


# -- wire-only behaviour: function codes, coils, unit ids, lifecycle ----------------------------

Connect = Callable[..., Awaitable[Any]]


@pytest.mark.asyncio
async def test_fc04_reads_the_same_image(
    modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    ep = await modbus_serve(modbus_lab)
    c = await modbus_tcp_client(ep.port)
    dev = pcs(modbus_lab)
    for a in range(BASE, BASE + dev.group.n_regs, 125):
        n = min(125, BASE + dev.group.n_regs - a)
        h = await c.read_holding_registers(a, count=n, device_id=dev.unit_id)
        i = await c.read_input_registers(a, count=n, device_id=dev.unit_id)
        assert h.registers == i.registers == dev.regs[a - BASE : a - BASE + n].tolist()


@pytest.mark.asyncio
async def test_fc23_and_fc22(modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect) -> None:
    gw = modbus_lab
    ep = await modbus_serve(gw)
    c = await modbus_tcp_client(ep.port)
    dev = pcs(gw)
    a = addr(dev, "704.WSet")
    r = await c.readwrite_registers(
        read_address=a, read_count=2, write_address=a, values=[0xFFFF, 0xFC18], device_id=dev.unit_id
    )
    assert r.registers == [0xFFFF, 0xFC18]
    assert val(dev, "704.WSet") == -1000
    image = dev.regs.copy()
    r = await c.readwrite_registers(  # the read range is bad: nothing is written
        read_address=BASE - 10, read_count=2, write_address=a, values=[0, 5000], device_id=dev.unit_id
    )
    assert r.isError()
    assert r.exception_code == 2
    assert np.array_equal(dev.regs, image)
    assert val(dev, "704.WSet") == -1000
    r = await c.mask_write_register(
        address=addr(dev, "704.WSetEna"), and_mask=0, or_mask=1, device_id=dev.unit_id
    )
    assert not r.isError()
    assert val(dev, "704.WSetEna") == 1


@pytest.mark.asyncio
async def test_coils_and_discrete_inputs(
    modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    gw = modbus_lab
    ep = await modbus_serve(gw)
    c = await modbus_tcp_client(ep.port)
    dev = pcs(gw)
    meter = next(d for d in gw.devices if d.kind == "meter")
    u = dev.unit_id
    r = await c.read_coils(0, count=2, device_id=u)
    assert r.bits[:2] == [False, False]  # starting up
    start_pcs(gw)
    assert (await c.read_coils(0, count=1, device_id=u)).bits[0] is True
    # the coil table has two coils; the meter has none
    assert (await c.read_coils(0, count=3, device_id=u)).exception_code == 2
    assert (await c.read_coils(0, count=1, device_id=meter.unit_id)).exception_code == 2
    assert (await c.write_coil(0, True, device_id=meter.unit_id)).exception_code == 2
    assert (await c.read_discrete_inputs(0, count=1, device_id=meter.unit_id)).exception_code == 2
    # alarm reset: accepted, reads 0
    r = await c.write_coil(1, True, device_id=u)
    assert not r.isError()
    assert r.bits[0] is True  # the echo
    assert (await c.read_coils(1, count=1, device_id=u)).bits[0] is False
    # stop through coil 0
    r = await c.write_coil(0, False, device_id=u)
    assert not r.isError()
    assert val(dev, "715.OpCtl") == 0
    gw.step(50)
    assert (await c.read_coils(0, count=1, device_id=u)).bits[0] is False
    assert (await c.write_coils(0, [True, False], device_id=u)).isError() is False
    assert val(dev, "715.OpCtl") == 1
    # discrete inputs: 802.Evt1; bit 0 COMMUNICATION_ERROR after the controller heartbeat stops
    r = await c.read_discrete_inputs(0, count=32, device_id=u)
    assert r.bits[:32] == [False] * 32
    assert (await c.read_discrete_inputs(0, count=33, device_id=u)).exception_code == 2
    assert (await c.write_register(addr(dev, "802.CtrlHb"), 1, device_id=u)).isError() is False
    gw.step(round((gw.watchdog_s + 0.5) / gw.site.dt))
    assert (await c.read_discrete_inputs(0, count=1, device_id=u)).bits[0] is True
    # local control: the coil commands are refused with 01
    gw.set_local(dev, True)
    assert (await c.write_coil(0, False, device_id=u)).exception_code == 1
    assert val(dev, "715.OpCtl") == 1


@pytest.mark.asyncio
async def test_genset_has_only_the_run_coil(modbus_aidc: Gateway) -> None:
    """The coil table follows the device's commands (in process: no server needed for this)."""
    from hil.protocols.modbus.endpoint import _Context

    gen = next(d for d in modbus_aidc.devices if d.kind == "genset")
    ctx = _Context(ModbusEndpoint(modbus_aidc, [gen]))
    assert ctx._coils(gen) == ["run"]
    assert ctx.serve(gen.unit_id, bytes((1, 0, 1, 0, 1))) == bytes((0x81, 2))


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "code"), [("gateway_no_response", 0x0B), ("device_failure", 0x04)])
async def test_unknown_unit_answer(
    modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect, mode: str, code: int
) -> None:
    ep = await modbus_serve(modbus_lab, unknown_unit=mode)
    c = await modbus_tcp_client(ep.port)
    assert (await c.read_holding_registers(BASE, count=2, device_id=99)).exception_code == code
    assert (await c.write_register(BASE + 100, 1, device_id=99)).exception_code == code
    assert (await c.read_coils(0, count=1, device_id=99)).exception_code == code
    assert (await c.read_holding_registers(BASE, count=2, device_id=10)).registers == [0x5375, 0x6E53]


@pytest.mark.asyncio
async def test_unknown_unit_silent(
    modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    ep = await modbus_serve(modbus_lab, unknown_unit="silent")
    c = await modbus_tcp_client(ep.port, wait_s=0.3)
    with pytest.raises(ModbusIOException):
        await c.read_holding_registers(BASE, count=2, device_id=99)
    c2 = await modbus_tcp_client(ep.port)
    assert (await c2.read_holding_registers(BASE, count=2, device_id=10)).registers == [0x5375, 0x6E53]


@pytest.mark.asyncio
async def test_per_device_layout_answers_every_unit(
    modbus_lab: Gateway, modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    dev = pcs(modbus_lab)
    meter = next(d for d in modbus_lab.devices if d.kind == "meter")
    ep_pcs = await modbus_serve(modbus_lab, [dev], layout="per-device")
    ep_meter = await modbus_serve(modbus_lab, [meter], layout="per-device")
    assert ep_pcs.port != ep_meter.port
    c = await modbus_tcp_client(ep_pcs.port)
    m = await modbus_tcp_client(ep_meter.port)
    for unit in (1, dev.unit_id, 77, 247):
        r = await c.read_holding_registers(BASE + 2, count=1, device_id=unit)
        assert r.registers == [1]
        r = await c.read_holding_registers(addr(dev, "701.ID"), count=1, device_id=unit)
        assert r.registers == [701]
        r = await m.read_holding_registers(addr(meter, "203.ID"), count=1, device_id=unit)
        assert r.registers == [203]
    with pytest.raises(ValueError, match="one device"):
        ModbusEndpoint(modbus_lab, modbus_lab.devices, layout="per-device")


@pytest.mark.asyncio
async def test_start_stop_releases_the_port(modbus_lab: Gateway, modbus_tcp_client: Connect) -> None:
    ep = ModbusEndpoint(modbus_lab, port=0)
    await ep.start()
    assert ep.port > 0
    assert ep.url == f"modbus://{HOST}:{ep.port}"
    c = await modbus_tcp_client(ep.port)
    assert (await c.read_holding_registers(BASE, count=2, device_id=10)).registers == [0x5375, 0x6E53]
    c.close()
    port = ep.port
    await ep.stop()
    await ep.stop()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(HOST, port)
    # the same port can be bound again at once
    ep2 = ModbusEndpoint(modbus_lab, port=port)
    await ep2.start()
    try:
        assert ep2.port == port
        with pytest.raises(OSError, match="cannot listen"):  # and a second server on it is refused
            await ModbusEndpoint(modbus_lab, port=port).start()
    finally:
        await ep2.stop()


# -- modbus-serial (Node.js): an independent client checks byte and word order -------------------


async def js_read(
    port: int, unit: int, address: int, count: int, write: list[int] | None = None
) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "modbus-serial").is_dir():
        pytest.fail(
            "Node.js or tests/integration/js/node_modules is missing: run `make test`, which installs "
            "them (npm install --no-audit --no-fund in tests/integration/js)"
        )
    args = [str(port), str(unit), str(address), str(count)]
    if write:
        args.append(",".join(str(v) for v in write))
    proc = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "modbus_read.js"),
        *args,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    lines = out.decode().strip().splitlines()
    assert lines, f"modbus_read.js printed nothing (exit {proc.returncode}): {err.decode()}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


@pytest.mark.asyncio
async def test_modbus_serial_word_order(modbus_lab: Gateway, modbus_serve: ServeFn) -> None:
    gw = modbus_lab
    gw.step(20)
    dev = pcs(gw)
    ep = await modbus_serve(gw)
    u = dev.unit_id
    r = await js_read(ep.port, u, BASE, 4)
    assert r["ascii"].startswith("SunS")
    assert r["data"] == [21365, 28243, 1, 66]
    # 701.Hz: uint32 with Hz_SF = -3
    hz = await js_read(ep.port, u, addr(dev, "701.Hz"), 2)
    sf = val(dev, "701.Hz_SF")
    assert hz["u32"][0] / 10 ** (-sf) == val(dev, "701.Hz")
    assert 49.0 < val(dev, "701.Hz") < 51.0
    # 704.WSet: int32, written negative by modbus-serial (FC16), decoded by it and by us
    w = await js_read(ep.port, u, addr(dev, "704.WSet"), 2, write=[0xFFFF, 0x3CB0])
    assert w["i32"] == [-50_000]
    assert w["u32"] == [0xFFFF3CB0]
    assert val(dev, "704.WSet") == -50_000
    # a refused write is seen as Modbus exception 2
    bad = await js_read(ep.port, u, addr(dev, "701.W"), 1, write=[1])
    assert bad["code"] == 2, bad
