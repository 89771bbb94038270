"""Modbus access control with real clients: Modbus/TCP Security (TLS 1.2+, mutual X.509, roles)
through Python's ssl with the MBAP framing, read-only mode and the allow-list through plain
sockets. Everything on loopback, free ports; certificates once per session."""

from __future__ import annotations

import asyncio
import ssl
import struct
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from hil.config import load_site
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.security import ModbusSecurity, ModbusTls, parse_modbus_security
from hil.wire.gateway import Gateway
from hil.wire.sunspec import BASE_ADDRESS

from ._pki import CertSet, make_certs

pytestmark = pytest.mark.asyncio
WAIT_S = 5.0


@pytest.fixture(scope="session")
def mb_certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertSet, CertSet]:
    ours = make_certs(
        tmp_path_factory.mktemp("mbcerts"),
        {"operator": "operator", "viewer": "read-only", "norole": ""},
    )
    rogue = make_certs(tmp_path_factory.mktemp("mbrogue"), {"operator": "operator"})
    return ours, rogue


@pytest_asyncio.fixture
async def gw() -> Gateway:
    return Gateway(load_site("lab_rack"))


def tls_security(c: CertSet, **kw: object) -> ModbusSecurity:
    tls = ModbusTls(port=0, certificate=c.server_cert, private_key=c.server_key, trusted=c.ca, plain=False)
    return ModbusSecurity(tls=tls, **kw)  # type: ignore[arg-type]


def client_ctx(c: CertSet, name: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(c.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if name is not None:
        ctx.load_cert_chain(str(c.clients[name][0]), str(c.clients[name][1]))
    return ctx


class Wire:
    """MBAP over a stream: ``await w.request(unit, pdu)`` is the answer PDU."""

    def __init__(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.r, self.w, self.tid = r, w, 0

    async def request(self, unit: int, pdu: bytes) -> bytes:
        self.tid += 1
        self.w.write(struct.pack(">HHHB", self.tid, 0, len(pdu) + 1, unit) + pdu)
        head = await asyncio.wait_for(self.r.readexactly(7), WAIT_S)
        tid, _, length, _ = struct.unpack(">HHHB", head)
        assert tid == self.tid
        return await asyncio.wait_for(self.r.readexactly(length - 1), WAIT_S)

    def close(self) -> None:
        self.w.close()


async def connect(port: int, *, ctx: ssl.SSLContext | None = None, source: str = "127.0.0.1") -> Wire:
    r, w = await asyncio.wait_for(
        asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="localhost" if ctx else None, local_addr=(source, 0)
        ),
        WAIT_S,
    )
    return Wire(r, w)


async def attempt(port: int, ctx: ssl.SSLContext, unit: int, addr: int) -> None:
    w = await connect(port, ctx=ctx)  # TLS 1.3: the refusal comes with the first read
    await w.request(unit, struct.pack(">BHH", 6, addr, 1))


def wset(gw: Gateway) -> tuple[int, int]:
    pcs = gw.by_name["PCS01"]
    return pcs.unit_id, BASE_ADDRESS + pcs.point("704.WSetEna").offset


def image(gw: Gateway) -> list[bytes]:
    return [np.array(d.regs).tobytes() for d in gw.devices]


async def test_tls_operator_writes_read_only_role_and_no_role_cannot(
    gw: Gateway, mb_certs: tuple[CertSet, CertSet]
) -> None:
    certs, _ = mb_certs
    async with ModbusEndpoint(gw, port=0, security=tls_security(certs)) as ep:
        assert ep.tls_port
        assert ep.tls_server is not None
        assert ep.port == 0  # plain: false: the plain listener is never bound
        unit, addr = wset(gw)
        op = await connect(ep.tls_port, ctx=client_ctx(certs, "operator"))
        assert (await op.request(unit, struct.pack(">BHH", 3, addr, 1)))[0] == 3
        assert await op.request(unit, struct.pack(">BHH", 6, addr, 1)) == struct.pack(">BHH", 6, addr, 1)
        assert gw.writes_accepted == 1
        op.close()
        for name in ("viewer", "norole"):
            ro = await connect(ep.tls_port, ctx=client_ctx(certs, name))
            before = image(gw)
            assert (await ro.request(unit, struct.pack(">BHH", 3, addr, 1)))[0] == 3
            assert await ro.request(unit, struct.pack(">BHH", 6, addr, 0)) == bytes((0x86, 0x01))
            regs = struct.pack(">BHHB", 16, addr, 1, 2) + b"\x00\x00"
            assert await ro.request(unit, regs) == bytes((0x90, 0x01))
            assert image(gw) == before
            assert gw.writes_accepted == 1
            ro.close()
        assert ep.tls_server.stats.read_only_refused == 4


async def test_tls_without_a_trusted_client_certificate_is_refused(
    gw: Gateway, mb_certs: tuple[CertSet, CertSet]
) -> None:
    certs, rogue = mb_certs
    async with ModbusEndpoint(gw, port=0, security=tls_security(certs)) as ep:
        assert ep.tls_port
        unit, addr = wset(gw)
        rogue_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(certs.ca))
        rogue_ctx.load_cert_chain(str(rogue.clients["operator"][0]), str(rogue.clients["operator"][1]))
        for ctx in (client_ctx(certs, None), rogue_ctx):
            with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                await attempt(ep.tls_port, ctx, unit, addr)
        assert gw.writes_accepted == 0
        assert ep.tls_server is not None
        assert ep.tls_server.stats.requests == 0


async def test_read_only_endpoint_refuses_every_write_with_exception_01(gw: Gateway) -> None:
    async with ModbusEndpoint(gw, port=0, security=ModbusSecurity(read_only=True)) as ep:
        unit, addr = wset(gw)
        w = await connect(ep.port)
        before = image(gw)
        assert (await w.request(unit, struct.pack(">BHH", 3, addr, 1)))[0] == 3
        for fc, body in (
            (6, struct.pack(">HH", addr, 1)),
            (16, struct.pack(">HHB", addr, 1, 2) + b"\x00\x01"),
            (22, struct.pack(">HHH", addr, 0, 1)),
            (23, struct.pack(">HHHHB", addr, 1, addr, 1, 2) + b"\x00\x01"),
            (5, struct.pack(">HH", 0, 0xFF00)),
            (15, struct.pack(">HHB", 0, 1, 1) + b"\x01"),
        ):
            assert await w.request(unit, bytes((fc,)) + body) == bytes((fc | 0x80, 0x01))
        assert image(gw) == before
        assert gw.writes_accepted == 0
        assert ep.stats.read_only_refused == 6
        w.close()


async def test_allow_list_closes_others_at_connect_and_counts_them(gw: Gateway) -> None:
    sec = parse_modbus_security({"allow": ["127.0.0.1"]}, base=Path(), err=lambda p, m: pytest.fail(m))
    async with ModbusEndpoint(gw, port=0, security=sec) as ep:
        unit, addr = wset(gw)
        ok = await connect(ep.port)
        assert (await ok.request(unit, struct.pack(">BHH", 3, addr, 1)))[0] == 3
        for _ in range(3):
            other = await connect(ep.port, source="127.0.0.2")
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await other.request(unit, struct.pack(">BHH", 6, addr, 1))
            other.close()
        assert ep.stats.denied == 3
        assert gw.writes_accepted == 0
        ok.close()


async def test_pymodbus_tls_client_reads_and_writes_as_operator(
    gw: Gateway, mb_certs: tuple[CertSet, CertSet]
) -> None:
    from pymodbus.client import AsyncModbusTlsClient

    certs, _ = mb_certs
    async with ModbusEndpoint(gw, port=0, security=tls_security(certs)) as ep:
        assert ep.tls_port
        unit, addr = wset(gw)
        client = AsyncModbusTlsClient(
            "127.0.0.1", port=ep.tls_port, sslctx=client_ctx(certs, "operator"), timeout=WAIT_S, retries=0
        )
        try:
            assert await client.connect()
            r = await client.read_holding_registers(BASE_ADDRESS, count=2, device_id=unit)
            assert r.registers == [0x5375, 0x6E53]  # "SunS"
            w = await client.write_register(addr, 1, device_id=unit)
            assert not w.isError()
            assert gw.writes_accepted == 1
        finally:
            client.close()
