"""OPC UA as a served protocol: one asyncua server with the site's address space.

The endpoint is :mod:`.endpoint`; the address space :mod:`.space`, its node items and write
conversions :mod:`.nodes`, the per-tick batch decode :mod:`.values`, the request guard
:mod:`.guard`, the security policies and users :mod:`.security`, asyncua's wrapper types
:mod:`.ua_types`."""

from __future__ import annotations

from hil.wire.gateway import Device, Gateway

from ...endpoints import EndpointConfig
from ...security import opcua_exposure
from ..base import Endpoint, ProtocolAdapter
from .endpoint import OpcUaEndpoint

__all__ = ["OPCUA", "OpcUaServer"]


class OpcUaServer:
    """The OPC UA endpoint of a site (:class:`hil.protocols.Served`)."""

    protocol = "opcua"

    def __init__(self, gateway: Gateway, config: EndpointConfig) -> None:
        self.gw = gateway
        self.endpoint = OpcUaEndpoint(
            gateway,
            host=config.host,
            port=config.opcua_port,
            path=config.opcua_path,
            limits=config.opcua_limits,
        )

    async def start(self) -> None:
        await self.endpoint.start()

    async def stop(self) -> None:
        await self.endpoint.stop()

    def listing(self) -> list[Endpoint]:
        ep = self.endpoint
        if ep.server is None:
            return []
        return [Endpoint(ep.url, f"Objects/{ep.site_name}", f"{ep.variable_count} variables")]

    async def publish(self) -> None:
        await self.endpoint.publish()

    def device_offline(self, device: Device, offline: bool) -> None:
        if offline:
            self.endpoint.set_status(device.name, "BadCommunicationError")
        else:
            self.endpoint.clear_status(device.name)

    def link_lost(self, lost: bool) -> None:
        self.endpoint.stall(lost)


OPCUA = ProtocolAdapter(
    name="opcua",
    title="OPC UA",
    build=OpcUaServer,
    exposure=lambda cfg: opcua_exposure(cfg.host, cfg.opcua_security),
)
