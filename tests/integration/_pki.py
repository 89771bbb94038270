"""Test certificates for the security tests of both protocols (made with ``hil.certs``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hil.certs import make_test_pki

SERVER_URI = "urn:aidc-hil:lab_rack:server"


@dataclass(frozen=True)
class CertSet:
    """What :func:`hil.certs.make_test_pki` wrote, as the tests use it."""

    ca: Path
    trusted: Path
    server_cert: Path
    server_key: Path
    clients: dict[str, tuple[Path, Path]]


def make_certs(out: Path, clients: dict[str, str], *, key: Callable[[Path], Path] = lambda p: p) -> CertSet:
    """A CA, the server's certificate and one per client name (role); ``key`` maps each
    client's key file (asyncua wants a copy named *.pem)."""
    ca, server, issued = make_test_pki(out, application_uri=SERVER_URI, clients=clients)
    return CertSet(
        ca.cert,
        out / "trusted",
        server.cert,
        server.key,
        {n: (i.cert, key(i.key)) for n, i in issued.items()},
    )
