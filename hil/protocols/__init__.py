"""The protocols the bench serves, behind one small endpoint interface, and their registry.

A protocol adapter (:mod:`hil.protocols.modbus`, :mod:`hil.protocols.opcua`) builds the
servers of its protocol for a site's gateway and endpoint configuration and answers the few
things the rest of the bench asks of any served protocol (:class:`Served`): start and stop,
what to print as the served endpoints, push the tick's values, take one device off the
network (fault ``device_offline``), lose the EMS's link (fault ``ems_comm_loss`` with an
external EMS), and warn about what it exposes beyond loopback. The runner and the generic
faults go through :data:`PROTOCOLS`; a third protocol is one adapter module and one entry
here. Faults about one protocol's wire (``modbus_exception``, ``opcua_bad_status``, …) use
that protocol's own servers (``Runner.modbus`` / ``Runner.opcua``).
"""

from __future__ import annotations

from collections.abc import Sequence

from hil.wire.gateway import Gateway

from ..endpoints import EndpointConfig
from ..errors import did_you_mean
from .base import Endpoint, ProtocolAdapter, Served
from .modbus import MODBUS
from .opcua import OPCUA

__all__ = ["PROTOCOLS", "Endpoint", "ProtocolAdapter", "Served", "build_servers", "check_protocols"]

#: every protocol the bench can serve, by name, in the order they are started
PROTOCOLS: dict[str, ProtocolAdapter] = {a.name: a for a in (MODBUS, OPCUA)}


def check_protocols(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` in registry order; ``ValueError`` (with a did-you-mean) for an unknown one."""
    for n in names:
        if n not in PROTOCOLS:
            raise ValueError(f"unknown protocol {n!r}{did_you_mean(n, list(PROTOCOLS))}")
    return tuple(n for n in PROTOCOLS if n in names)


def build_servers(names: Sequence[str], gateway: Gateway, config: EndpointConfig) -> list[Served]:
    """The servers of the protocols ``names`` for ``gateway``, in registry order, not started."""
    return [PROTOCOLS[n].build(gateway, config) for n in check_protocols(names)]
