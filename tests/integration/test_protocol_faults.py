"""Protocol faults on the wire, seen by real clients: pymodbus' client against the Modbus unit
faults and dropped connections, asyncua's client against OPC UA status faults and a stalled
subscription; gateway faults (frozen device, biased point) seen through both protocols.

Servers bind 127.0.0.1 port 0; time is stepped in process. Every wait has a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from asyncua import Client, Node, ua
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from hil.config import load_bench
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.wire.gateway import Device, Gateway
from hil.wire.sunspec import BASE_ADDRESS, decode_words

from .conftest import ServeFn

Connect = Callable[..., Awaitable[Any]]
WAIT_S = 5.0  # bound on waiting for anything that should happen


def lab() -> Gateway:
    site, _endpoints = load_bench("lab_rack")
    return Gateway(site)


def addr(dev: Device, key: str) -> int:
    return BASE_ADDRESS + dev.point(key).offset


async def read_point(c: AsyncModbusTcpClient, dev: Device, key: str, unit: int | None = None) -> Any:
    p = dev.point(key)
    r = await c.read_holding_registers(
        addr(dev, key), count=p.words, device_id=dev.unit_id if unit is None else unit
    )
    assert not r.isError(), r
    return decode_words(tuple(r.registers), p.pdef.type, dev.sf_of(p))


async def exception_of(c: AsyncModbusTcpClient, dev: Device, unit: int | None = None) -> int | None:
    r = await c.read_holding_registers(BASE_ADDRESS, count=2, device_id=dev.unit_id if unit is None else unit)
    return int(r.exception_code) if r.isError() else None


# -- gateway faults through Modbus --------------------------------------------------------------


@pytest.mark.asyncio
async def test_frozen_and_biased_devices_on_the_wire(
    modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    gw, ref = lab(), lab()
    ep = await modbus_serve(gw)
    c = await modbus_tcp_client(ep.port)
    meter, pcs = gw.by_name["GridMeter"], gw.by_name["PCS01"]
    gw.freeze(pcs)
    gw.set_override(meter, "203.W", offset=1000.0)
    r0 = await c.read_holding_registers(BASE_ADDRESS, count=100, device_id=pcs.unit_id)
    seen = set()
    for _ in range(12):
        gw.step()
        ref.step()
        r = await c.read_holding_registers(BASE_ADDRESS, count=100, device_id=pcs.unit_id)
        assert r.registers == r0.registers  # frozen, heartbeat included
        w = await read_point(c, meter, "203.W")
        ref_meter = ref.by_name["GridMeter"]
        assert w == float(ref_meter.value(ref_meter.point("203.W")) or 0) + 1000.0
        seen.add(w)
    assert len(seen) > 1
    assert gw.snapshot.to_dict() == ref.snapshot.to_dict()
    gw.unfreeze(pcs)
    gw.clear_override(meter, "203.W")
    gw.step()
    ref.step()
    for d in (meter, pcs):
        r = await c.read_holding_registers(BASE_ADDRESS, count=100, device_id=d.unit_id)
        assert r.registers == ref.by_name[d.name].regs[:100].tolist()


# -- Modbus unit faults -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_unit_exception_only_for_the_faulted_unit(
    modbus_serve: ServeFn, modbus_tcp_client: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await modbus_tcp_client(ep.port)
    meter, pcs = gw.by_name["GridMeter"], gw.by_name["PCS01"]
    for code in (4, 6, 0x0B):
        with caplog.at_level("INFO", logger="hil.protocols.modbus.endpoint"):
            ep.set_unit_fault(meter.unit_id, exception=code)
        assert ep.unit_faults[meter.unit_id].exception == code
        assert await exception_of(c, meter) == code
        assert await exception_of(c, pcs) is None
        assert await read_point(c, pcs, "713.SoC") == 50.0
        # every function code: coils, writes (which change nothing)
        r = await c.read_coils(0, count=1, device_id=meter.unit_id)
        assert r.isError()
        assert r.exception_code == code
        n = gw.writes_accepted + gw.writes_rejected
        r = await c.write_register(addr(meter, "203.W"), 1, device_id=meter.unit_id)
        assert r.isError()
        assert r.exception_code == code
        assert gw.writes_accepted + gw.writes_rejected == n
        assert not gw.pending
    with caplog.at_level("INFO", logger="hil.protocols.modbus.endpoint"):
        ep.clear_unit_fault(meter.unit_id)
    assert await exception_of(c, meter) is None
    assert [r.getMessage() for r in caplog.records if "unit 1" in r.getMessage()][-1].endswith("cleared")
    with pytest.raises(ValueError, match="not served"):
        ep.set_unit_fault(99, exception=4)
    with pytest.raises(ValueError, match=r"1\.\.255"):
        ep.set_unit_fault(meter.unit_id, exception=0)
    with pytest.raises(ValueError, match="needs"):
        ep.set_unit_fault(meter.unit_id)


@pytest.mark.asyncio
async def test_slow_unit_does_not_hold_up_the_others(
    modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    slow_c = await modbus_tcp_client(ep.port, wait_s=3.0)
    fast_c = await modbus_tcp_client(ep.port)
    meter, pcs = gw.by_name["GridMeter"], gw.by_name["PCS01"]
    delay = 0.6
    ep.set_unit_fault(meter.unit_id, delay_s=delay)

    async def timed_read() -> tuple[float, Any]:
        t0 = time.perf_counter()
        v = await read_point(slow_c, meter, "203.Hz")
        return time.perf_counter() - t0, v

    slow = asyncio.create_task(timed_read())
    await asyncio.sleep(0.05)  # the slow request is in the server now
    for _ in range(5):  # another unit answers fast meanwhile, and the loop keeps stepping
        t0 = time.perf_counter()
        assert await read_point(fast_c, pcs, "713.SoC") == 50.0
        assert time.perf_counter() - t0 < delay / 3
        gw.step()
    assert not slow.done()
    elapsed, value = await asyncio.wait_for(slow, WAIT_S)
    assert elapsed >= delay
    assert value == 50.0
    # delay and exception together: a slow "busy"
    ep.set_unit_fault(meter.unit_id, delay_s=0.2, exception=6)
    t0 = time.perf_counter()
    assert await exception_of(slow_c, meter) == 6
    assert time.perf_counter() - t0 >= 0.2
    ep.clear_unit_fault(meter.unit_id)
    t0 = time.perf_counter()
    assert await read_point(slow_c, meter, "203.Hz") == 50.0
    assert time.perf_counter() - t0 < delay / 3


@pytest.mark.asyncio
async def test_offline_unit_times_out(modbus_serve: ServeFn, modbus_tcp_client: Connect) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await modbus_tcp_client(ep.port, wait_s=0.3)
    meter, pcs = gw.by_name["GridMeter"], gw.by_name["PCS01"]
    ep.set_unit_fault(meter.unit_id, offline=True)
    with pytest.raises(ModbusIOException):
        await c.read_holding_registers(BASE_ADDRESS, count=2, device_id=meter.unit_id)
    assert await exception_of(c, pcs) is None
    ep.clear_unit_fault(meter.unit_id)
    assert await exception_of(c, meter) is None


@pytest.mark.asyncio
async def test_per_device_layout_faults_every_unit_id(
    modbus_serve: ServeFn, modbus_tcp_client: Connect
) -> None:
    gw = lab()
    meter = gw.by_name["GridMeter"]
    ep = await modbus_serve(gw, [meter], layout="per-device")
    c = await modbus_tcp_client(ep.port)
    ep.set_unit_fault(meter.unit_id, exception=4)
    for unit in (meter.unit_id, 7, 247):
        assert await exception_of(c, meter, unit) == 4
    with pytest.raises(ValueError, match="not served"):
        ep.set_unit_fault(7, exception=4)
    ep.clear_unit_fault(meter.unit_id)
    assert await exception_of(c, meter, 7) is None


@pytest.mark.asyncio
async def test_drop_connections_and_reconnect(modbus_serve: ServeFn) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    pcs = gw.by_name["PCS01"]
    events: list[bool] = []
    lost = asyncio.Event()

    def on_connect(up: bool) -> None:
        events.append(up)
        if not up:
            lost.set()

    clients = [
        AsyncModbusTcpClient(
            "127.0.0.1", port=ep.port, timeout=2.0, retries=0, reconnect_delay=0, trace_connect=on_connect
        ),
        AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2.0, retries=0, reconnect_delay=0),
    ]
    try:
        for c in clients:
            assert await c.connect()
        c = clients[0]
        assert await read_point(c, pcs, "713.SoC") == 50.0
        assert ep.drop_connections() == 2
        await asyncio.wait_for(lost.wait(), WAIT_S)  # the client sees the connection go
        assert not c.connected
        assert events == [True, False]
        assert await c.connect()  # the server still listens
        assert await read_point(c, pcs, "713.SoC") == 50.0
        assert ep.drop_connections() == 1  # only the reconnected one was still open
    finally:
        for c in clients:
            c.close()
    assert ep.running


# -- OPC UA -------------------------------------------------------------------------------------


@dataclass
class Served:
    gw: Gateway
    ep: OpcUaEndpoint
    client: Client

    def node(self, device: str, key: str) -> Node:
        d = self.gw.by_name[device]
        return self.client.get_node(self.ep.nodeid(d, d.point(key)))


@pytest_asyncio.fixture
async def ua_lab() -> AsyncIterator[Served]:
    gw = lab()
    ep = OpcUaEndpoint(gw, port=0)
    await ep.start()
    try:
        client = Client(ep.url, timeout=30)
        client.session_timeout = 600_000
        async with client:
            yield Served(gw, ep, client)
    finally:
        await ep.stop()


class Collector:
    def __init__(self) -> None:
        self.changes: asyncio.Queue[ua.DataValue] = asyncio.Queue()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.changes.put_nowait(data.monitored_item.Value)


async def read_dv(node: Node) -> ua.DataValue:
    return await node.read_data_value(raise_on_bad_status=False)


@pytest.mark.asyncio
async def test_opcua_device_status(ua_lab: Served, caplog: pytest.LogCaptureFixture) -> None:
    gw, ep = ua_lab.gw, ua_lab.ep
    soc, wset = ua_lab.node("PCS01", "713.SoC"), ua_lab.node("PCS01", "704.WSet")
    meter_w = ua_lab.node("GridMeter", "203.W")
    handler = Collector()
    sub = await ua_lab.client.create_subscription(50, handler)
    try:
        await sub.subscribe_data_change(soc)
        first = await asyncio.wait_for(handler.changes.get(), WAIT_S)
        assert first.StatusCode.is_good()
        for status, check in (
            ("BadCommunicationError", ua.StatusCode.is_bad),
            ("BadDeviceFailure", ua.StatusCode.is_bad),
            ("UncertainLastUsableValue", ua.StatusCode.is_uncertain),
        ):
            with caplog.at_level("INFO", logger="hil.protocols.opcua.endpoint"):
                ep.set_status("PCS01", status)
            gw.step()
            assert await ep.publish() >= len([v for v in ep.variables() if v[0].name == "PCS01"])
            code = getattr(ua.StatusCodes, status)
            for node in (soc, wset):
                dv = await read_dv(node)
                assert dv.StatusCode.value == code
                assert check(dv.StatusCode)
                assert dv.Value.Value is not None  # the value is kept
            assert (await read_dv(soc)).Value.Value == 50.0
            assert (await read_dv(meter_w)).StatusCode.is_good()  # another device: Good
            note = await asyncio.wait_for(handler.changes.get(), WAIT_S)  # subscribers are told
            assert note.StatusCode.value == code
            assert note.Value.Value == 50.0
        assert ep.statuses() == {"PCS01": "UncertainLastUsableValue"}
        with caplog.at_level("INFO", logger="hil.protocols.opcua.endpoint"):
            ep.clear_status("PCS01")
        gw.step()
        await ep.publish()
        for node in (soc, wset, meter_w):
            assert (await read_dv(node)).StatusCode.is_good()
        note = await asyncio.wait_for(handler.changes.get(), WAIT_S)
        assert note.StatusCode.is_good()
        assert note.Value.Value == 50.0
        assert any("PCS01 status cleared" in r.getMessage() for r in caplog.records)
    finally:
        await sub.delete()
    with pytest.raises(ValueError, match="did you mean 'BadCommunicationError'"):
        ep.set_status("PCS01", "BadComunicationError")
    with pytest.raises(ValueError, match="did you mean 'PCS01'"):
        ep.set_status("PCS1", "BadDeviceFailure")


@pytest.mark.asyncio
async def test_opcua_stalled_subscription_catches_up(ua_lab: Served) -> None:
    gw, ep = ua_lab.gw, ua_lab.ep
    meter = gw.by_name["GridMeter"]
    p = meter.point("203.W")
    node = ua_lab.node("GridMeter", "203.W")
    handler = Collector()
    sub = await ua_lab.client.create_subscription(50, handler)
    try:
        await sub.subscribe_data_change(node)
        first = await asyncio.wait_for(handler.changes.get(), WAIT_S)
        published = first.Value.Value
        ep.stall(True)
        assert ep.stalled
        values = set()
        for _ in range(8):  # the meter's load steps: the value changes meanwhile
            gw.step()
            assert await ep.publish() == 0
            values.add(meter.value(p))
        assert len(values) > 1
        assert meter.value(p) != published
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(handler.changes.get(), 0.4)  # 8 publishing intervals
            pytest.fail(f"notification while stalled: {extra}")
        assert (await read_dv(node)).Value.Value == published  # reads: the last published value
        ep.stall(False)
        assert await ep.publish() > 0
        dv = await asyncio.wait_for(handler.changes.get(), WAIT_S)
        assert dv.Value.Value == meter.value(p)
        assert (await read_dv(node)).Value.Value == meter.value(p)
    finally:
        await sub.delete()


@pytest.mark.asyncio
async def test_opcua_sees_a_frozen_device(ua_lab: Served) -> None:
    gw, ep = ua_lab.gw, ua_lab.ep
    node = ua_lab.node("GridMeter", "203.W")
    gw.freeze("GridMeter")
    before = (await read_dv(node)).Value.Value
    for _ in range(8):
        gw.step()
        await ep.publish()
    assert (await read_dv(node)).Value.Value == before
    assert (await read_dv(ua_lab.node("Totals", "64900.GridW"))).Value.Value != before  # the site moved
    gw.unfreeze("GridMeter")
    gw.step()
    await ep.publish()
    meter = gw.by_name["GridMeter"]
    assert (await read_dv(node)).Value.Value == meter.value(meter.point("203.W"))
    assert np.isfinite(meter.value(meter.point("203.W")))  # type: ignore[arg-type]
