"""Hostile input on the Modbus endpoint (issue 11): pipelined requests, illegal values and
function codes, identification, connection cap, idle and slowloris clients, bad framing.

Raw sockets on loopback: every test opens a few connections and stops by itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hil.config import load_site
from hil.endpoints import ModbusLimits
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.wire.gateway import Gateway
from hil.wire.sunspec import BASE_ADDRESS

from .conftest import ServeFn

MBAP = struct.Struct(">HHHB")
WAIT_S = 3.0


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu


class Raw:
    """A raw Modbus/TCP client: send bytes, read framed answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(7), WAIT_S)
        tid, pid, length, unit = MBAP.unpack(head)
        assert pid == 0
        return tid, unit, await asyncio.wait_for(self.reader.readexactly(length - 1), WAIT_S)

    async def ask(self, unit: int, pdu: bytes, tid: int = 1) -> bytes:
        await self.send(frame(tid, unit, pdu))
        atid, aunit, apdu = await self.answer()
        assert (atid, aunit) == (tid, unit)
        return apdu

    async def closed_by_server(self, wait_s: float = WAIT_S) -> bool:
        try:
            while await asyncio.wait_for(self.reader.read(4096), wait_s):
                pass
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        return True


@pytest_asyncio.fixture
async def raw() -> AsyncIterator:
    opened: list[Raw] = []

    async def connect(port: int) -> Raw:
        r = Raw(*await asyncio.open_connection("127.0.0.1", port))
        opened.append(r)
        return r

    yield connect
    for r in opened:
        r.writer.close()
        with contextlib.suppress(Exception):
            await r.writer.wait_closed()


def lab() -> Gateway:
    return Gateway(load_site("lab_rack"))


def read_pdu(address: int, count: int, fc: int = 3) -> bytes:
    return struct.pack(">BHH", fc, address, count)


@pytest.mark.asyncio
async def test_pipelined_reads_in_one_segment_and_split(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await raw(ep.port)
    pcs = gw.by_name["PCS01"]
    reqs = [frame(100 + k, pcs.unit_id, read_pdu(BASE_ADDRESS + k, 1)) for k in range(5)]
    await c.send(b"".join(reqs))  # five requests in one segment
    answers = [await c.answer() for _ in range(5)]
    assert [a[0] for a in answers] == [100, 101, 102, 103, 104]
    assert [a[2] for a in answers] == [bytes((3, 2)) + struct.pack(">H", v) for v in pcs.regs[:5].tolist()]
    data = b"".join(frame(200 + k, pcs.unit_id, read_pdu(BASE_ADDRESS, 2)) for k in range(5))
    for k in range(0, len(data), 5):  # split across segments, mid-header and mid-PDU
        await c.send(data[k : k + 5])
        await asyncio.sleep(0.0002)
    assert [(await c.answer())[0] for _ in range(5)] == [200, 201, 202, 203, 204]
    await c.send(frame(300, pcs.unit_id, read_pdu(BASE_ADDRESS, 2)))
    assert (await c.answer())[0] == 300  # exactly one answer each: nothing left over


@pytest.mark.asyncio
async def test_pipelined_fc06_writes_each_applied(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await raw(ep.port)
    pcs = gw.by_name["PCS01"]
    p = pcs.point("704.WSetEna")
    a = BASE_ADDRESS + p.offset
    values = [1, 0, 1, 0, 1]
    await c.send(b"".join(frame(k, pcs.unit_id, struct.pack(">BHH", 6, a, v)) for k, v in enumerate(values)))
    answers = [await c.answer() for _ in values]
    assert [(t, pdu) for t, _, pdu in answers] == [
        (k, struct.pack(">BHH", 6, a, v)) for k, v in enumerate(values)
    ]
    assert gw.writes_accepted == 5
    assert [w[3] for w in gw.write_log if w[2] == "704.WSetEna"] == [float(v) for v in values]
    assert pcs.value(p) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [0x0001, 0x00FF, 0xFFFF, 0xFF01])
async def test_fc05_illegal_coil_value_is_exception_03(modbus_serve: ServeFn, raw, value: int) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await raw(ep.port)
    pcs = gw.by_name["PCS01"]
    opctl = pcs.value(pcs.point("715.OpCtl"))
    assert await c.ask(pcs.unit_id, struct.pack(">BHH", 5, 0, value)) == bytes((0x85, 3))
    assert not gw.pending
    assert gw.writes_accepted == 0
    assert pcs.value(pcs.point("715.OpCtl")) == opctl


@pytest.mark.asyncio
async def test_unimplemented_functions_are_exception_01(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    ep = await modbus_serve(gw)
    c = await raw(ep.port)
    u = gw.by_name["PCS01"].unit_id
    for fc in (0, 7, 8, 11, 12, 20, 21, 24, 40, 90, 100, 127):
        assert await c.ask(u, bytes((fc, 0, 0, 0, 0))) == bytes(((fc | 0x80) & 0xFF, 1)), fc
    assert await c.ask(u, bytes((0x80, 1))) == bytes((0x80, 1))
    assert await c.ask(u, bytes((43, 13, 0, 0))) == bytes((0xAB, 1))  # CANopen MEI
    # spec order: a bad quantity is 03 before a bad address is 02
    assert await c.ask(u, read_pdu(0, 126)) == bytes((0x83, 3))
    assert await c.ask(u, read_pdu(0, 1)) == bytes((0x83, 2))
    assert await c.ask(u, bytes((3, 0x9C, 0x40, 0))) == bytes((0x83, 3))  # short PDU
    assert await c.ask(u, struct.pack(">BHHB", 16, BASE_ADDRESS, 2, 3) + b"\0" * 3) == bytes((0x90, 3))
    assert await c.ask(u, struct.pack(">BHHB", 15, 0, 9, 1) + b"\0") == bytes((0x8F, 3))
    assert await c.ask(u, read_pdu(0, 2001, fc=1)) == bytes((0x81, 3))


def parse_ident(pdu: bytes) -> tuple[int, int, int, dict[int, str]]:
    assert pdu[:2] == bytes((43, 14))
    conformity, more, nxt, n = pdu[3], pdu[4], pdu[5], pdu[6]
    objs: dict[int, str] = {}
    k = 7
    for _ in range(n):
        oid, ln = pdu[k], pdu[k + 1]
        objs[oid] = pdu[k + 2 : k + 2 + ln].decode()
        k += 2 + ln
    assert k == len(pdu)
    return conformity, more, nxt, objs


@pytest.mark.asyncio
async def test_identity_from_the_common_model_and_from_config(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    pcs = gw.by_name["PCS01"]
    ep = await modbus_serve(gw)
    c = await raw(ep.port)
    _, more, _, objs = parse_ident(await c.ask(pcs.unit_id, bytes((43, 14, 1, 0))))
    assert more == 0
    assert objs == {0: "aidc-hil", 1: "Twin BESS PCS", 2: "0.3.0"}
    _, _, _, objs = parse_ident(await c.ask(pcs.unit_id, bytes((43, 14, 2, 0))))
    assert objs[4] == "Twin BESS PCS"
    _, _, _, objs = parse_ident(await c.ask(pcs.unit_id, bytes((43, 14, 4, 2))))
    assert objs == {2: "0.3.0"}
    assert await c.ask(pcs.unit_id, bytes((43, 14, 4, 0x80))) == bytes((0xAB, 2))
    assert await c.ask(pcs.unit_id, bytes((43, 14, 5, 0))) == bytes((0xAB, 3))
    sid = await c.ask(pcs.unit_id, bytes((17,)))
    assert sid[0] == 17
    assert sid[-1] == 0xFF
    assert b"aidc-hil" in sid
    ident = {"vendor": "ACME Power", "product_code": "PCS-2500", "revision": "4.1"}
    ep2 = await modbus_serve(gw, identity=ident)
    c2 = await raw(ep2.port)
    _, _, _, objs = parse_ident(await c2.ask(pcs.unit_id, bytes((43, 14, 1, 0))))
    assert objs == {0: "ACME Power", 1: "PCS-2500", 2: "4.1"}
    for text in (*objs.values(), sid.decode("latin-1")):
        assert "pymodbus" not in text.lower()


@pytest.mark.asyncio
async def test_connection_cap_refuses_at_once_and_serves_the_rest(
    modbus_serve: ServeFn, raw, caplog: pytest.LogCaptureFixture
) -> None:
    gw = lab()
    ep = await modbus_serve(gw, limits=ModbusLimits(max_connections=3))
    u = gw.by_name["PCS01"].unit_id
    first = [await raw(ep.port) for _ in range(3)]
    for c in first:
        assert (await c.ask(u, read_pdu(BASE_ADDRESS, 2)))[2:] == b"SunS"
    with caplog.at_level(logging.INFO, logger="hil.protocols.modbus.endpoint"):
        extra = [await raw(ep.port) for _ in range(10)]
        for c in extra:
            assert await c.closed_by_server()
    assert ep.stats.refused == 10
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1  # rate-limited
    assert refusals[0].levelno == logging.WARNING
    for c in first:
        assert (await c.ask(u, read_pdu(BASE_ADDRESS, 2)))[2:] == b"SunS"
    first[0].writer.close()
    for _ in range(100):  # the server sees it go, and a slot is free again
        if ep.connections < 3:
            break
        await asyncio.sleep(0.01)
    c = await raw(ep.port)
    assert (await c.ask(u, read_pdu(BASE_ADDRESS, 2)))[2:] == b"SunS"


@pytest.mark.asyncio
async def test_idle_and_slowloris_clients_are_closed(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    ep = await modbus_serve(gw, limits=ModbusLimits(idle_timeout_s=0.4, frame_timeout_s=0.3))
    u = gw.by_name["PCS01"].unit_id
    silent = await raw(ep.port)
    dribble = await raw(ep.port)
    await dribble.send(frame(1, u, read_pdu(BASE_ADDRESS, 2))[:4])  # part of a header, then nothing
    busy = await raw(ep.port)
    for _ in range(6):  # a client that asks keeps its connection
        assert (await busy.ask(u, read_pdu(BASE_ADDRESS, 2)))[2:] == b"SunS"
        await asyncio.sleep(0.15)
    assert await silent.closed_by_server(2.0)
    assert await dribble.closed_by_server(2.0)
    assert (await busy.ask(u, read_pdu(BASE_ADDRESS, 2)))[2:] == b"SunS"
    assert ep.stats.idle_closed == 1
    assert ep.stats.slow_closed == 1


@pytest.mark.asyncio
async def test_bad_framing_closes_quietly(
    modbus_serve: ServeFn, raw, caplog: pytest.LogCaptureFixture
) -> None:
    gw = lab()
    ref = lab()
    ep = await modbus_serve(gw)
    u = gw.by_name["PCS01"].unit_id
    bad = [
        MBAP.pack(1, 1, 6, u) + read_pdu(BASE_ADDRESS, 2),  # protocol id 1
        MBAP.pack(1, 0, 1, u),  # no function code
        MBAP.pack(1, 0, 0, u),
        MBAP.pack(1, 0, 255, u) + bytes(254),  # oversized
        MBAP.pack(1, 0, 65535, u) + bytes(100),
    ]
    with caplog.at_level(logging.DEBUG, logger="hil.protocols.modbus.endpoint"):
        for data in bad * 4:
            c = await raw(ep.port)
            await c.send(frame(7, u, read_pdu(BASE_ADDRESS, 2)) + data)
            tid, _, pdu = await c.answer()  # what came before is answered
            assert (tid, pdu[2:]) == (7, b"SunS")
            assert await c.closed_by_server()
    assert ep.stats.malformed == 20
    assert all(r.levelno <= logging.WARNING and not r.exc_info for r in caplog.records)
    assert len([r for r in caplog.records if "MBAP" in r.getMessage()]) == 1
    assert gw.snapshot.to_dict() == ref.snapshot.to_dict()
    assert not gw.pending


@pytest.mark.asyncio
async def test_request_rate_cap_slows_a_client_down(modbus_serve: ServeFn, raw) -> None:
    gw = lab()
    ep = await modbus_serve(gw, limits=ModbusLimits(max_requests_per_s=50))
    c = await raw(ep.port)
    u = gw.by_name["PCS01"].unit_id
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await c.send(b"".join(frame(k, u, read_pdu(BASE_ADDRESS, 2)) for k in range(75)))
    assert [(await c.answer())[0] for _ in range(75)] == list(range(75))
    assert loop.time() - t0 >= 0.4  # a burst of 50 (one second's worth), then 50/s
    assert ep.stats.throttled > 0


def test_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ModbusLimits(max_connections=0)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        ModbusLimits(idle_timeout_s=0)
    with pytest.raises(ValueError, match="max_requests_per_s"):
        ModbusLimits(max_requests_per_s=-1)
    with pytest.raises(ValueError, match="identity"):
        ModbusEndpoint(lab(), identity={"vendr": "x"})
