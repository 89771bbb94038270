"""A local test PKI for the bench: a CA, a server certificate and client certificates.

For lab use (``hil certs --out DIR``); in production the CA key lives offline and certificates
come from the site's PKI. Keys are RSA 2048 (OPC UA Basic256Sha256 needs RSA). Every certificate
carries the key usages OPC UA checks (digitalSignature, nonRepudiation, keyEncipherment,
dataEncipherment) and a SAN URI: the server's is its OPC UA ApplicationUri
(``urn:aidc-hil:<site>:server``), a client's the ApplicationUri its OPC UA client must use
(``urn:aidc-hil:client:<name>``). Client certificates also carry their Modbus role in the
Modbus/TCP Security role extension, OID 1.3.6.1.4.1.50316.802.1, an ASN.1 UTF8String
(MB-TCP-Security R-21, R-22).

Layout of ``DIR``: ``ca.pem``/``ca.key``, ``server.pem``/``server.key``,
``clients/<name>.pem``/``.key``, and ``trusted/ca.pem`` (the folder to name as the trust list).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

__all__ = ["ROLE_OID", "Issued", "make_ca", "make_client", "make_server", "make_test_pki", "role_of"]

#: Modbus/TCP Security role extension (Modbus.org private enterprise number 50316).
ROLE_OID = ObjectIdentifier("1.3.6.1.4.1.50316.802.1")
DAYS = 825


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> Issued:
    path.parent.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = path.with_suffix(".pem"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return Issued(cert_path, key_path)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aidc-hil lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


_LEAF_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=True,
    data_encipherment=True,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _load(issued: Issued) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return cert, key


def make_ca(out: Path, *, name: str = "aidc-hil test CA", days: int = DAYS) -> Issued:
    """A self-signed CA (``out/ca.pem``, ``out/ca.key``) and ``out/trusted/ca.pem``."""
    key = _key()
    cert = (
        _builder(_name(name), _name(name), key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    issued = _write(out / "ca", cert, key)
    (out / "trusted").mkdir(parents=True, exist_ok=True)
    (out / "trusted" / "ca.pem").write_bytes(issued.cert.read_bytes())
    return issued


def _leaf(
    ca: Issued,
    path: Path,
    cn: str,
    san: list[x509.GeneralName],
    eku: list[ObjectIdentifier],
    extra: Sequence[x509.ExtensionType] = (),
    days: int = DAYS,
) -> Issued:
    ca_cert, ca_key = _load(ca)
    key = _key()
    b = (
        _builder(_name(cn), ca_cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_LEAF_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    for ext in extra:
        b = b.add_extension(ext, critical=False)
    return _write(path, b.sign(ca_key, hashes.SHA256()), key)


def make_server(
    out: Path, ca: Issued, *, application_uri: str, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> Issued:
    """``out/server.pem``/``.key``: SAN URI ``application_uri`` plus the hosts (IP or DNS)."""
    san: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    for h in dict.fromkeys(hosts):
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            san.append(x509.DNSName(h))
    eku = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return _leaf(ca, out / "server", "aidc-hil server", san, eku)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 127:
        raise ValueError("a role is at most 127 bytes")
    return bytes([0x0C, len(raw)]) + raw


def make_client(out: Path, ca: Issued, name: str, *, role: str = "operator") -> Issued:
    """``out/clients/<name>.pem``/``.key``: SAN URI ``urn:aidc-hil:client:<name>``, Modbus role."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"a client name is letters, digits, - _ . (got {name!r})")
    san: list[x509.GeneralName] = [x509.UniformResourceIdentifier(f"urn:aidc-hil:client:{name}")]
    ext = [x509.UnrecognizedExtension(ROLE_OID, _utf8(role))]
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH]
    return _leaf(ca, out / "clients" / name, name, san, eku, ext)


def role_of(der: bytes) -> str | None:
    """The Modbus role (OID 1.3.6.1.4.1.50316.802.1) of a DER certificate, or None."""
    try:
        ext = x509.load_der_x509_certificate(der).extensions.get_extension_for_oid(ROLE_OID)
    except (x509.ExtensionNotFound, ValueError):
        return None
    value = ext.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if len(raw) < 2 or raw[0] != 0x0C or raw[1] != len(raw) - 2:
        return None
    try:
        return raw[2:].decode()
    except UnicodeDecodeError:
        return None


def make_test_pki(
    out: Path,
    *,
    application_uri: str,
    clients: dict[str, str],
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
) -> tuple[Issued, Issued, dict[str, Issued]]:
    """CA, server and one client per ``{name: role}``."""
    ca = make_ca(out)
    server = make_server(out, ca, application_uri=application_uri, hosts=hosts)
    return ca, server, {n: make_client(out, ca, n, role=r) for n, r in clients.items()}
