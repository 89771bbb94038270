"""A Modbus link that drops mid-period (a timed-out request closes it): the period is cut
short, the rest of its writes are not sent, nothing counts as refused, and the next read
reconnects."""

from __future__ import annotations

import asyncio
from typing import Any

from pymodbus.exceptions import ModbusException

from hil.ems.io import EmsClock, run_ems
from hil.ems.modbus_io import ModbusIO, UnitInfo, _layout, _Point
from hil.ems.readings import Commands, PcsCommand


class _Client:
    """Answers reads; the ``drop_at``-th write times out and closes the link."""

    def __init__(self, drop_at: int) -> None:
        self.connected = True
        self.writes = 0
        self.connects = 0
        self.drop_at = drop_at

    async def connect(self) -> bool:
        self.connects += 1
        self.connected = True
        return True

    async def write_register(self, address: int, value: int, device_id: int) -> Any:
        if not self.connected:
            raise ModbusException("not connected")
        self.writes += 1
        if self.writes == self.drop_at:
            self.connected = False
            raise ModbusException("no response received after 0 retries")
        return type("R", (), {"isError": lambda self: False})()

    write_registers = write_register


def _io(client: _Client) -> ModbusIO:
    io = ModbusIO("127.0.0.1", 1, clock=EmsClock("2026-07-01T00:00:00"))
    io.client = client  # type: ignore[assignment]
    unit = UnitInfo(10, "bess", [802, 704])
    for key in ("802.CtrlHb", "704.WSet"):
        mid, name = key.split(".")
        off, pdef = _layout(int(mid))[name]
        unit.points[key] = _Point(key, 40_000 + off, pdef, None, 0)
    io.units = [unit]
    return io


def test_a_dropped_link_cuts_the_period_short_and_is_not_a_refusal() -> None:
    client = _Client(drop_at=1)

    class _Ems:
        def decide(self, r: object) -> Commands:
            return Commands(pcs=[PcsCommand("bess@10", heartbeat=7, wset_w=1000.0)])

    async def main() -> tuple[ModbusIO, Any]:
        io = _io(client)  # the pymodbus client wants a running loop

        async def read() -> object:  # the transport's read, reconnecting as ModbusIO.read does
            if not client.connected:
                await client.connect()
            return object()

        io.read = read  # type: ignore[method-assign]
        return io, await run_ems(io, _Ems(), period_s=0.01, duration_s=0.03, speed=1.0)

    io, log = asyncio.run(main())
    assert log.periods == 3
    assert log.cut_short == 1  # the first period: its heartbeat timed out, its WSet not sent
    assert io.tally.refused == 0
    assert client.connects == 1  # the next period's read reconnected
    assert client.writes == 1 + 2 * 2  # then both writes of each later period went through
    assert io.tally.ok == 4
