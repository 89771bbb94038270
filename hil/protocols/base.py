"""What every served protocol offers the bench (:class:`Served`), and how it is registered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hil.wire.gateway import Device, Gateway

from ..endpoints import EndpointConfig

__all__ = ["Endpoint", "ProtocolAdapter", "Served"]


@dataclass(frozen=True)
class Endpoint:
    """One served endpoint, as ``hil serve`` prints it."""

    url: str
    name: str
    detail: str


class Served(Protocol):
    """One protocol's servers for a site, as the runner, the faults and ``hil serve`` see them."""

    protocol: str  # the registry name: "modbus", "opcua"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def listing(self) -> list[Endpoint]:
        """The served endpoints, as ``hil serve`` prints them (after :meth:`start`)."""
        ...

    async def publish(self) -> None:
        """Push what changed since the last call to the clients (a polled protocol: nothing)."""
        ...

    def device_offline(self, device: Device, offline: bool) -> None:
        """Take ``device`` off the network (no answer, a bad status), or put it back."""
        ...

    def link_lost(self, lost: bool) -> None:
        """The EMS's link to the whole site is lost (every device silent), or restored."""
        ...


@dataclass(frozen=True)
class ProtocolAdapter:
    """A protocol in the registry (:data:`hil.protocols.PROTOCOLS`)."""

    name: str  # "modbus": the registry key, and the key of its section under ``endpoints:``
    title: str  # "Modbus TCP": for people
    build: Callable[[Gateway, EndpointConfig], Served]  # its servers for a site, not started
    exposure: Callable[[EndpointConfig], list[str]]  # what it offers unauthenticated off loopback
