"""Modbus fixtures for the integration tests (every server binds 127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest
import pytest_asyncio

from hil.config import load_site
from hil.protocols.modbus.endpoint import ModbusEndpoint, write_exception
from hil.wire.gateway import Device, Gateway
from hil.wire.sunspec import models_dir

ServeFn = Callable[..., Awaitable[ModbusEndpoint]]


@pytest.fixture(scope="session")
def modbus_sunspec_models() -> Iterator[None]:
    """pysunspec2 with this project's vendor models (649xx) on its model path."""
    import sunspec2.device as ssd

    old = list(ssd.get_model_defs_path())
    ssd.set_model_defs_path([str(models_dir()), *old])
    yield
    ssd.set_model_defs_path(old)


@pytest.fixture(scope="session")
def modbus_aidc() -> Gateway:
    """The 10k-GPU site a few seconds in. Shared: tests must only read it."""
    gw = Gateway(load_site("aidc_10k"))
    gw.step(30)
    return gw


@pytest.fixture
def modbus_lab() -> Gateway:
    """A fresh lab-rack gateway (tests may write and step it)."""
    return Gateway(load_site("lab_rack"))


@pytest_asyncio.fixture
async def modbus_serve() -> AsyncIterator[ServeFn]:
    """``await serve(gw, devices=None, **kw)`` starts a :class:`ModbusEndpoint` on a free port;
    every endpoint is stopped at teardown."""
    started: list[ModbusEndpoint] = []

    async def serve(gw: Gateway, devices: Sequence[Device] | None = None, **kw: Any) -> ModbusEndpoint:
        ep = ModbusEndpoint(gw, devices, host="127.0.0.1", port=0, **kw)
        await ep.start()
        started.append(ep)
        return ep

    yield serve
    for ep in reversed(started):
        await ep.stop()


@pytest_asyncio.fixture
async def modbus_tcp_client() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """``await connect(port, wait_s=2.0)``: a connected pymodbus client (its request timeout is
    ``wait_s``), closed at teardown."""
    from pymodbus.client import AsyncModbusTcpClient

    clients: list[AsyncModbusTcpClient] = []

    async def connect(port: int, *, wait_s: float = 2.0) -> AsyncModbusTcpClient:
        c = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=wait_s, retries=0)
        clients.append(c)
        assert await c.connect(), f"cannot connect to 127.0.0.1:{port}"
        return c

    yield connect
    for c in clients:
        c.close()


class RegisterClient:
    """Reads and writes a device's registers; the same tests run through each implementation.

    ``read`` returns the registers or the Modbus exception code; ``write`` returns None when
    accepted, else the exception code."""

    kind = ""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def read(self, dev: Device, address: int, count: int) -> list[int] | int:
        raise NotImplementedError

    async def write(self, dev: Device, address: int, values: list[int]) -> int | None:
        raise NotImplementedError


class GatewayClient(RegisterClient):
    """Straight through :meth:`Gateway.read_registers` / :meth:`Gateway.write_registers`."""

    kind = "gateway"

    async def read(self, dev: Device, address: int, count: int) -> list[int] | int:
        regs = self.gw.read_registers(dev, address, count)
        return 2 if regs is None else regs

    async def write(self, dev: Device, address: int, values: list[int]) -> int | None:
        return write_exception(self.gw.write_registers(dev, address, list(values)))


class WireClient(RegisterClient):
    """Over Modbus TCP with pymodbus' client: FC03 reads, FC06 (one register) / FC16 writes."""

    kind = "wire"

    def __init__(self, gw: Gateway, client: Any) -> None:
        super().__init__(gw)
        self.client = client

    async def read(self, dev: Device, address: int, count: int) -> list[int] | int:
        r = await self.client.read_holding_registers(address, count=count, device_id=dev.unit_id)
        return int(r.exception_code) if r.isError() else list(r.registers)

    async def write(self, dev: Device, address: int, values: list[int]) -> int | None:
        if len(values) == 1:
            r = await self.client.write_register(address, values[0], device_id=dev.unit_id)
        else:
            r = await self.client.write_registers(address, list(values), device_id=dev.unit_id)
        return int(r.exception_code) if r.isError() else None


@pytest_asyncio.fixture(params=["gateway", "wire"])
async def modbus_client(
    request: pytest.FixtureRequest,
    modbus_lab: Gateway,
    modbus_serve: ServeFn,
    modbus_tcp_client: Callable[..., Awaitable[Any]],
) -> RegisterClient:
    """A :class:`RegisterClient` on ``modbus_lab``: in process, or over the wire."""
    if request.param == "gateway":
        return GatewayClient(modbus_lab)
    ep = await modbus_serve(modbus_lab)
    return WireClient(modbus_lab, await modbus_tcp_client(ep.port))
