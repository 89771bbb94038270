"""The protocol registry (hil.protocols): a third protocol is one adapter and one registry entry.

A toy protocol declared in this file alone is registered, served by the runner beside Modbus
and OPC UA, listed with the served endpoints, pushed to after ticks, and reached by the
generic protocol faults (a device off the network, the EMS's link lost), with nothing else in
the bench changed. Loopback only; everything stops by itself.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from hil.config import load_bench
from hil.endpoints import EndpointConfig
from hil.faults import FAULTS, FaultSpec, resolve_targets
from hil.protocols import PROTOCOLS, Endpoint, ProtocolAdapter, check_protocols
from hil.run.runner import Manual, Runner
from hil.wire.gateway import Device, Gateway

pytestmark = pytest.mark.asyncio


class ToyServer:
    """Records what the bench asks of it."""

    protocol = "toy"
    built: ClassVar[list[ToyServer]] = []

    def __init__(self, gateway: Gateway, config: EndpointConfig) -> None:
        self.gw = gateway
        self.host = config.host
        self.running = False
        self.published_at: list[float] = []
        self.offline: set[str] = set()
        self.lost = False
        ToyServer.built.append(self)

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    def listing(self) -> list[Endpoint]:
        return (
            [Endpoint(f"toy://{self.host}/{d.name}", d.name, "toy") for d in self.gw.devices]
            if self.running
            else []
        )

    async def publish(self) -> None:
        self.published_at.append(self.gw.snapshot.t)

    def device_offline(self, device: Device, offline: bool) -> None:
        (self.offline.add if offline else self.offline.discard)(device.name)

    def link_lost(self, lost: bool) -> None:
        self.lost = lost


TOY = ProtocolAdapter(name="toy", title="Toy", build=ToyServer, exposure=lambda cfg: [])


def _inject(r: Runner, ftype: str, target: str, *, clear: bool = False) -> None:
    s = FaultSpec(type=ftype, target=target, duration=None, id=None, params=FAULTS[ftype].params())
    targets = resolve_targets(s, r.gateway.devices)
    (FAULTS[ftype].clear if clear else FAULTS[ftype].inject)(r, targets, s.params)


async def test_a_third_protocol_is_one_adapter_and_one_registry_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(PROTOCOLS, "toy", TOY)
    ToyServer.built.clear()
    site, cfg = load_bench("lab_rack")
    r = Runner(site, cfg.with_ports(modbus=0, opcua=0), pacer=Manual())
    assert r.protocols == ("modbus", "opcua", "toy")  # registry order
    async with r:
        (toy,) = ToyServer.built
        assert toy.running
        names = [e.name for e in r.endpoints if e.url.startswith("toy://")]
        assert names == [d.name for d in r.gateway.devices]
        assert any(e.url.startswith("modbus://") for e in r.endpoints)  # the others still served
        assert r.opcua is not None
        await r.step(3)
        assert toy.published_at == pytest.approx([site.dt, 2 * site.dt, 3 * site.dt])  # after each tick
        _inject(r, "device_offline", "PCS01")
        assert toy.offline == {"PCS01"}
        assert r.modbus[0].unit_faults  # Modbus took it off the network too
        _inject(r, "device_offline", "PCS01", clear=True)
        assert toy.offline == set()
        _inject(r, "ems_comm_loss", "ems")  # no in-process controller: every protocol's link
        assert toy.lost
        assert r.opcua.stalled
        _inject(r, "ems_comm_loss", "ems", clear=True)
        assert not toy.lost
    assert not toy.running  # stopped with the runner
    assert r.endpoints == []


async def test_protocols_chosen_by_name() -> None:
    site, cfg = load_bench("lab_rack")
    r = Runner(site, cfg.with_ports(modbus=0, opcua=0), pacer=Manual(), protocols=["modbus"])
    async with r:
        assert r.opcua is None
        assert len(r.modbus) == 1
        assert {e.url.split(":")[0] for e in r.endpoints} == {"modbus"}
    with pytest.raises(ValueError, match="unknown protocol 'modbsu'; did you mean 'modbus'"):
        check_protocols(["modbsu"])
    with pytest.raises(ValueError, match="did you mean 'opcua'"):
        Runner(site, cfg, pacer=Manual(), protocols=("opcuaa",))
