"""Modbus TCP (SunSpec) as a served protocol: one endpoint for the whole gateway, or one per
device (``endpoints.modbus.layout``), each with its optional TLS listener. The endpoint is
:mod:`.endpoint`, the TCP server under it :mod:`.server`, the TLS and access roles :mod:`.tls`."""

from __future__ import annotations

from hil.wire.gateway import Device, Gateway

from ...endpoints import EndpointConfig
from ...security import modbus_exposure
from ..base import Endpoint, ProtocolAdapter
from .endpoint import ModbusEndpoint

__all__ = ["MODBUS", "ModbusServers"]


class ModbusServers:
    """The Modbus endpoints of a site (:class:`hil.protocols.Served`)."""

    protocol = "modbus"

    def __init__(self, gateway: Gateway, config: EndpointConfig) -> None:
        self.gw = gateway
        self.config = config
        self.endpoints: list[ModbusEndpoint] = []
        self._listing: list[Endpoint] = []

    async def start(self) -> None:
        cfg, gw = self.config, self.gw
        if cfg.modbus_layout == "gateway":
            groups = [(gw.devices, cfg.modbus_port)]
        else:
            groups = [([d], cfg.modbus_port + k if cfg.modbus_port else 0) for k, d in enumerate(gw.devices)]
        tls = cfg.modbus_security.tls
        for k, (devices, port) in enumerate(groups):
            ep = ModbusEndpoint(
                gw,
                devices,
                host=cfg.host,
                port=port,
                layout="gateway" if cfg.modbus_layout == "gateway" else "per-device",
                unknown_unit=cfg.unknown_unit,
                security=cfg.modbus_security,
                tls_port=None if tls is None else (tls.port + k if tls.port else 0),
            )
            await ep.start()
            self.endpoints.append(ep)
            if ep.tls_server is not None and ep.security.open:  # else the units list it
                self._listing.append(Endpoint(ep.tls_url, "Modbus/TCP Security", "TLS, mutual X.509"))
            scheme, p = ("modbus", ep.port) if ep.security.open else ("modbus+tls", ep.tls_port)
            for d in devices:
                models = " ".join(compact_models(d.models))
                self._listing.append(
                    Endpoint(f"{scheme}://{cfg.host}:{p}/{d.unit_id}", d.name, f"SunSpec {models}")
                )

    async def stop(self) -> None:
        for ep in self.endpoints:
            await ep.stop()
        self.endpoints.clear()
        self._listing.clear()

    def listing(self) -> list[Endpoint]:
        return list(self._listing)

    async def publish(self) -> None:
        return None  # polled: clients read the registers the tick encoded

    def device_offline(self, device: Device, offline: bool) -> None:
        for ep in self.endpoints:
            if device in ep.devices:
                _set_offline(ep, device, offline)

    def link_lost(self, lost: bool) -> None:
        for ep in self.endpoints:
            for d in ep.devices:
                _set_offline(ep, d, lost)
            if lost:
                ep.drop_connections()


def compact_models(models: list[int]) -> list[str]:
    """[1, 701, 804, 804, 804] -> ['1', '701', '804×3']."""
    out: list[str] = []
    for m in models:
        if out and out[-1].split("×")[0] == str(m):
            base, _, n = out[-1].partition("×")
            out[-1] = f"{base}×{int(n or 1) + 1}"
        else:
            out.append(str(m))
    return out


MODBUS = ProtocolAdapter(
    name="modbus",
    title="Modbus TCP",
    build=ModbusServers,
    exposure=lambda cfg: modbus_exposure(cfg.host, cfg.modbus_security),
)


def _set_offline(ep: ModbusEndpoint, device: Device, offline: bool) -> None:
    """The unit of ``device`` on ``ep`` answers as offline (the endpoint's unit fault) or again."""
    if offline:
        ep.set_unit_fault(device.unit_id, offline=True)
    else:
        ep.clear_unit_fault(device.unit_id)
