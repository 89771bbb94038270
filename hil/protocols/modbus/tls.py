"""Modbus access control for :mod:`hil.protocols.modbus.server`: the allow-list, read-only mode and
Modbus/TCP Security (TLS 1.2+ with mutual X.509 authentication and roles).

* **allow-list** (``security.allow``): a connection from an address outside every listed
  network is closed at connect, counted in ``ModbusStats.denied`` and logged (rate-limited).
* **read-only** (``security.read_only``, or a TLS client whose role maps to ``read-only``): every
  write function code (05, 06, 15, 16, 22, 23) is answered with exception 01 ILLEGAL FUNCTION,
  the code the Modbus/TCP Security specification gives for a request the role may not make;
  the request never reaches the gateway, so the twin is untouched.
* **TLS** (``security.tls``): the listener requires a client certificate that chains to the
  ``trusted`` CA file (or to a certificate in the ``trusted`` folder); without one the handshake
  fails and no Modbus byte is read. The role is the client certificate's extension
  1.3.6.1.4.1.50316.802.1 (a UTF8String), mapped through ``tls.roles`` to read-write or
  read-only; a certificate without a role, or with a role not in the map, is read-only.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

from ...certs import role_of
from ...security import ModbusSecurity, ModbusTls

__all__ = ["WRITE_FCS", "Access", "server_context"]

#: Function codes refused on a read-only connection (exception 01).
WRITE_FCS = frozenset((5, 6, 15, 16, 22, 23))

log = logging.getLogger("hil.protocols.modbus.endpoint")


def server_context(tls: ModbusTls) -> ssl.SSLContext:
    """A TLS 1.2+ server context that requires a client certificate from the trusted CA(s)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(tls.certificate), str(tls.private_key))
    trusted = Path(tls.trusted)
    files = (
        sorted(p for p in trusted.iterdir() if p.suffix in (".pem", ".crt"))
        if trusted.is_dir()
        else [trusted]
    )
    if not files:
        raise FileNotFoundError(f"no trusted certificate (.pem, .crt) in {trusted}")
    for f in files:
        ctx.load_verify_locations(cafile=str(f))
    return ctx


class Access:
    """Decides at connect time whether a connection is served, and whether read-only."""

    def __init__(self, security: ModbusSecurity, *, tls: bool, log_denied: Any) -> None:
        self.security = security
        self.tls = tls
        self.log_denied = log_denied

    def admit(self, transport: asyncio.BaseTransport, url: str) -> tuple[bool, bool]:
        """``(admitted, read_only)`` for a new connection."""
        sec = self.security
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not sec.allowed(ip):
            self.log_denied("modbus %s: connection from %s refused: not in the allow-list", url, ip)
            return False, False
        read_only = sec.read_only
        if self.tls and sec.tls is not None:
            ssl_obj = transport.get_extra_info("ssl_object")
            der = ssl_obj.getpeercert(binary_form=True) if ssl_obj is not None else None
            if not der:  # cannot happen with CERT_REQUIRED; refuse rather than trust
                self.log_denied("modbus %s: TLS connection from %s without a certificate", url, ip)
                return False, False
            role = role_of(der)
            access = sec.tls.roles.get(role or "", "read-only")
            read_only = read_only or access != "read-write"
            log.debug("modbus %s: TLS client %s, role %r: %s", url, ip, role, access)
        return True, read_only
