"""The bad-write classes of ``tests/unit/hil/wire/gateway/test_bad_writes.py`` once more, over real sockets.

A real pymodbus client and a real asyncua client send one bad write of each class to every
writable point of ``lab_rack`` (and a read-only write to every read-only point of the PCS); the
answers are the protocol's own (Modbus exception codes, OPC UA ``Bad...`` status codes) and the
twin and the gateway are bit-identical afterwards (the full state image, not a few signals).
The twin is not stepped during the test, so any difference is the writes' doing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asyncua import Client, ua
from pymodbus.exceptions import ModbusIOException

from hil.config import load_site
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.wire.gateway import Gateway
from hil.wire.sunspec import BASE_ADDRESS, encode_value

from ..unit.hil.wire.gateway import _state_image as _img
from .conftest import ServeFn

_SAMPLE: dict[ua.VariantType, Any] = {
    ua.VariantType.String: "x",
    ua.VariantType.Double: 0.0,
    ua.VariantType.Float: 0.0,
    ua.VariantType.Boolean: False,
}
_LOGS = frozenset({"write_log", "writes_rejected", "_stats"}) | _img.CACHES


def image(gw: Gateway) -> dict[str, bytes]:
    return _img.state_image({"gw": gw, "site": gw.site}, skip=_LOGS)


@pytest.mark.asyncio
async def test_bad_modbus_writes_over_the_wire_change_nothing(
    modbus_serve: ServeFn, modbus_tcp_client: Callable[..., Awaitable[Any]]
) -> None:
    gw = Gateway(load_site("lab_rack"))
    gw.step(5)
    ep = await modbus_serve(gw)
    client = await modbus_tcp_client(ep.port)
    before = image(gw)
    sent = 0

    async def write(unit: int, address: int, words: list[int]) -> int | None:
        nonlocal sent
        sent += 1
        if len(words) == 1:
            r = await client.write_register(address, words[0], device_id=unit)
        else:
            r = await client.write_registers(address, words, device_id=unit)
        return int(r.exception_code) if r.isError() else None

    for dev in gw.devices:
        for p in dev.points:
            address = BASE_ADDRESS + p.offset
            if p.writable:  # the not-implemented value: out of range for every point (03)
                ni = encode_value(None, p.pdef.type, p.pdef.size)
                assert await write(dev.unit_id, address, ni) == 3, (dev.name, p.key)
                if p.words > 1:  # half of a 32-bit value (02)
                    assert await write(dev.unit_id, address + 1, ni[1:]) == 2, (dev.name, p.key)
                    assert await write(dev.unit_id, address, ni[:1]) == 2, (dev.name, p.key)
            elif dev.name == "PCS01" and p.pdef.type != "pad":  # read-only, even its own value (02)
                current = gw.read_registers(dev, address, p.words)
                assert current is not None
                assert await write(dev.unit_id, address, current) == 2, (dev.name, p.key)
    pcs = gw.by_name["PCS01"]
    wset = pcs.point("704.WSet")
    good = encode_value(0.0, wset.pdef.type, wset.pdef.size, pcs.sf_of(wset))
    ep.set_unit_fault(pcs.unit_id, exception=6)  # a busy device: 06, nothing taken
    assert await write(pcs.unit_id, BASE_ADDRESS + wset.offset, good) == 6
    ep.set_unit_fault(pcs.unit_id, offline=True)  # an offline device: no answer, nothing taken
    quick = await modbus_tcp_client(ep.port, wait_s=0.3)
    with pytest.raises(ModbusIOException):
        await quick.write_registers(BASE_ADDRESS + wset.offset, good, device_id=pcs.unit_id)
    ep.clear_unit_fault(pcs.unit_id)
    assert sent > 100
    assert gw.pending == []
    after = image(gw)
    assert after == before, _img.diff(before, after)


@pytest.mark.asyncio
async def test_bad_opcua_writes_over_the_wire_change_nothing() -> None:
    gw = Gateway(load_site("lab_rack"))
    gw.step(5)
    ep = OpcUaEndpoint(gw, port=0)
    await ep.start()
    try:
        client = Client(ep.url, timeout=30)
        client.session_timeout = 600_000
        async with client:
            await ep.publish()
            before = image(gw)
            writes: list[ua.WriteValue] = []
            expected: list[tuple[str, int]] = []

            def add(dev_name: str, key: str, variant: ua.Variant, code: int) -> None:
                dev = gw.by_name[dev_name]
                writes.append(
                    ua.WriteValue(
                        NodeId=ep.nodeid(dev, dev.point(key)),
                        AttributeId=ua.AttributeIds.Value,
                        Value=ua.DataValue(variant),
                    )
                )
                expected.append((f"{dev_name}.{key}", code))

            for dev, p in gw.iter_points():
                if not p.implemented or p.pdef.type == "sunssf":
                    continue
                vtype = ep._by_point[(dev.name, p.key)].vtype
                if not p.writable:
                    if dev.name == "PCS01":
                        add(
                            dev.name,
                            p.key,
                            ua.Variant(_SAMPLE.get(vtype, 0), vtype),
                            ua.StatusCodes.BadNotWritable,
                        )
                    continue
                wrong = ua.VariantType.String if vtype != ua.VariantType.String else ua.VariantType.Double
                add(
                    dev.name,
                    p.key,
                    ua.Variant("1" if wrong == ua.VariantType.String else 1.0, wrong),
                    ua.StatusCodes.BadTypeMismatch,
                )
                if vtype in (ua.VariantType.Double, ua.VariantType.Float):
                    add(dev.name, p.key, ua.Variant(math.nan, vtype), ua.StatusCodes.BadOutOfRange)
                    add(dev.name, p.key, ua.Variant(1e30, vtype), ua.StatusCodes.BadOutOfRange)
            params = ua.WriteParameters()
            params.NodesToWrite = writes
            results = await client.uaclient.write(params)
            got = [(name, r.value) for (name, _), r in zip(expected, results, strict=True)]
            assert got == expected
            assert len(expected) > 200
            assert gw.pending == []
            after = image(gw)
            assert after == before, _img.diff(before, after)
    finally:
        await ep.stop()
