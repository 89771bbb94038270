"""Access control for the bench's endpoints: the ``security:`` keys of ``endpoints:``.

```yaml
endpoints:
  opcua:
    security:
      policies: [Basic256Sha256_SignAndEncrypt, Basic256Sha256_Sign]   # and/or None
      anonymous: false           # anonymous logins (default: only with the None policy alone)
      certificate: certs/server.pem   # server certificate and key (paths relative to the site file)
      private_key: certs/server-key.pem
      trusted: certs/trusted     # folder of trusted client certificates and CA certificates
      read_only: false           # every client read-only, whatever its role
      users:
        alice: {password: "scrypt$16384$8$1$<salt>$<hash>", role: operator}   # hil password-hash
        viewer: {password_env: HIL_VIEWER_PASSWORD, role: read-only}
  modbus:
    security:
      read_only: false           # every write answered with exception 01, the twin untouched
      allow: [127.0.0.1, 10.1.0.0/24]   # others are closed at connect (counted, logged)
      tls:                       # Modbus/TCP Security (TLS 1.2+, mutual X.509), beside plain TCP
        port: 802
        certificate: certs/server.pem
        private_key: certs/server-key.pem
        trusted: certs/ca.pem    # CA file (or folder of CA/client certificates) clients must chain to
        plain: true              # keep serving plain Modbus TCP on modbus.port
        roles: {operator: read-write, monitor: read-only}   # role (OID 1.3.6.1.4.1.50316.802.1)
```

No ``security`` section means the open lab endpoint of before: OPC UA None/anonymous with full
access and plain Modbus TCP (see ``docs/security.md`` and ``docs/design-decisions.md``).
This module imports no protocol library; ``hil.protocols.opcua.security`` applies the OPC UA part to
asyncua and ``hil.protocols.modbus.tls`` the Modbus part to the asyncio server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.params import did_you_mean

__all__ = [
    "OPCUA_POLICIES",
    "ROLES",
    "ModbusSecurity",
    "ModbusTls",
    "OpcUaSecurity",
    "OpcUaUser",
    "exposure_warnings",
    "hash_password",
    "is_loopback",
    "modbus_exposure",
    "opcua_exposure",
    "parse_modbus_security",
    "parse_opcua_security",
    "verify_password",
]

OPCUA_POLICIES = ("None", "Basic256Sha256_Sign", "Basic256Sha256_SignAndEncrypt")
ROLES = ("operator", "read-only")
MODBUS_ACCESS = ("read-write", "read-only")
_SCRYPT = (2**14, 8, 1)

Err = Callable[[tuple[Any, ...], str], None]


# -- passwords ----------------------------------------------------------------------------------
def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash for a profile: ``scrypt$N$r$p$salt$hash`` (base64)."""
    n, r, p = _SCRYPT
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(text: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    if not (2 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and salt and digest):
        return None
    return n, r, p, salt, digest


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``scrypt$...`` hash (constant-time compare)."""
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=2**27)
    return hmac.compare_digest(got, digest)


# -- OPC UA ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpcUaUser:
    name: str
    role: str = "read-only"  # operator | read-only
    password_hash: str | None = None
    password_env: str | None = None  # HIL_... holding the password (never in the profile)

    def check(self, password: str | None) -> bool:
        if password is None:
            return False
        if self.password_hash is not None:
            return verify_password(password, self.password_hash)
        if self.password_env is not None:
            want = os.environ.get(self.password_env)
            return want is not None and hmac.compare_digest(want.encode(), password.encode())
        return False


@dataclass(frozen=True)
class OpcUaSecurity:
    """How the OPC UA endpoint is secured; the default is the open lab endpoint."""

    policies: tuple[str, ...] = ("None",)
    anonymous: bool = True
    certificate: Path | None = None
    private_key: Path | None = None
    trusted: Path | None = None
    read_only: bool = False
    users: tuple[OpcUaUser, ...] = ()

    @property
    def open(self) -> bool:
        """Reachable without a certificate or a password (None policy with anonymous logins)."""
        return "None" in self.policies and self.anonymous

    def user(self, name: str | None) -> OpcUaUser | None:
        return next((u for u in self.users if u.name == name), None)


def _path(value: Any, base: Path | None) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _check_keys(node: Any, known: Sequence[str], where: tuple[Any, ...], err: Err) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        err(where, "must be a mapping")
        return {}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if str(key) not in known:
            err(
                (*where, key),
                "unknown key"
                + did_you_mean(str(key), list(known), otherwise=f" (known: {', '.join(known)})"),
            )
        else:
            out[str(key)] = value
    return out


def _bool(d: Mapping[str, Any], key: str, default: bool, where: tuple[Any, ...], err: Err) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        err((*where, key), f"must be true or false, got {v!r}")
        return default
    return v


def parse_opcua_security(node: Any, *, base: Path | None, err: Err) -> OpcUaSecurity:  # noqa: C901 - over 15 branches before the gate; to split
    """``endpoints.opcua.security``; problems go to ``err(path, message)`` (path under opcua)."""
    where: tuple[Any, ...] = ("opcua", "security")
    keys = ("policies", "anonymous", "certificate", "private_key", "trusted", "read_only", "users")
    d = _check_keys(node, keys, where, err)
    pol = d.get("policies", ["Basic256Sha256_SignAndEncrypt", "Basic256Sha256_Sign"])
    if isinstance(pol, str):
        pol = [pol]
    policies: list[str] = []
    if not isinstance(pol, list) or not pol:
        err((*where, "policies"), f"must be a non-empty list of {', '.join(OPCUA_POLICIES)}")
    else:
        for k, p in enumerate(pol):
            p = "None" if p is None else str(p)
            if p not in OPCUA_POLICIES:
                err(
                    (*where, "policies", k),
                    f"{p!r} is not one of {', '.join(OPCUA_POLICIES)}"
                    + did_you_mean(p, list(OPCUA_POLICIES)),
                )
            elif p not in policies:
                policies.append(p)
    secure = any(p != "None" for p in policies)
    paths: dict[str, Path | None] = {}
    for key in ("certificate", "private_key", "trusted"):
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            err((*where, key), f"must be a path, got {v!r}")
            v = None
        paths[key] = _path(v, base) if v else None
        if v and not paths[key].exists():  # type: ignore[union-attr]
            err((*where, key), f"{str(paths[key])!r} does not exist (make one with `hil certs --out DIR`)")
        if secure and v is None:
            err((*where, key), f"is needed for the policies {', '.join(p for p in policies if p != 'None')}")
    users: list[OpcUaUser] = []
    raw_users = d.get("users", {})
    if not isinstance(raw_users, dict):
        err((*where, "users"), "must be a mapping of user name to {password|password_env, role}")
        raw_users = {}
    for name, spec in raw_users.items():
        uw = (*where, "users", name)
        u = _check_keys(spec, ("password", "password_env", "role"), uw, err)
        role = u.get("role", "read-only")
        if role not in ROLES:
            err(
                (*uw, "role"),
                f"{role!r} is not one of {', '.join(ROLES)}" + did_you_mean(str(role), list(ROLES)),
            )
            continue
        pw, env = u.get("password"), u.get("password_env")
        if (pw is None) == (env is None):
            err(uw, "needs exactly one of password (a hash from `hil password-hash`) or password_env")
            continue
        if pw is not None and (not isinstance(pw, str) or _parse_hash(pw) is None):
            err((*uw, "password"), "must be a scrypt hash made by `hil password-hash`, never the password")
            continue
        if env is not None and (not isinstance(env, str) or not env.startswith("HIL_")):
            err((*uw, "password_env"), f"must name an environment variable starting HIL_, got {env!r}")
            continue
        users.append(OpcUaUser(str(name), str(role), pw, env))
    if users and not secure:
        err((*where, "users"), "need a Basic256Sha256 policy (passwords would cross the wire in clear)")
    anonymous = _bool(d, "anonymous", policies == ["None"] and not users, where, err)
    if not anonymous and not users:
        err(where, "no way to log in: set anonymous: true or add users")
    return OpcUaSecurity(
        policies=tuple(policies) or ("None",),
        anonymous=anonymous,
        certificate=paths["certificate"],
        private_key=paths["private_key"],
        trusted=paths["trusted"],
        read_only=_bool(d, "read_only", False, where, err),
        users=tuple(users),
    )


# -- Modbus ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModbusTls:
    port: int = 802
    certificate: Path = Path("server.pem")
    private_key: Path = Path("server-key.pem")
    trusted: Path = Path("ca.pem")
    plain: bool = True
    roles: Mapping[str, str] = field(
        default_factory=lambda: {"operator": "read-write", "read-only": "read-only"}
    )


@dataclass(frozen=True)
class ModbusSecurity:
    """Per-endpoint Modbus access: read-only mode, an allow-list, Modbus/TCP Security (TLS)."""

    read_only: bool = False
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # empty: everyone
    tls: ModbusTls | None = None

    def allowed(self, ip: str) -> bool:
        if not self.allow:
            return True
        try:
            addr = ipaddress.ip_address(ip.split("%")[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr.version == net.version and addr in net for net in self.allow)

    @property
    def open(self) -> bool:
        """Plain Modbus TCP is served (no authentication at all)."""
        return self.tls is None or self.tls.plain


def parse_modbus_security(node: Any, *, base: Path | None, err: Err) -> ModbusSecurity:
    """``endpoints.modbus.security``; problems go to ``err(path, message)``."""
    where: tuple[Any, ...] = ("modbus", "security")
    d = _check_keys(node, ("read_only", "allow", "tls"), where, err)
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    allow = d.get("allow", [])
    if isinstance(allow, str):
        allow = [allow]
    if not isinstance(allow, list):
        err((*where, "allow"), "must be a list of IP addresses or networks (10.1.0.0/24)")
        allow = []
    for k, a in enumerate(allow):
        try:
            nets.append(ipaddress.ip_network(str(a), strict=False))
        except ValueError:
            err((*where, "allow", k), f"{a!r} is not an IP address or network")
    tls: ModbusTls | None = None
    if d.get("tls") is not None:
        tw = (*where, "tls")
        t = _check_keys(
            d["tls"], ("port", "certificate", "private_key", "trusted", "plain", "roles"), tw, err
        )
        port = t.get("port", 802)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            err((*tw, "port"), f"must be a port number 0..65535, got {port!r}")
            port = 802
        paths: dict[str, Path] = {}
        for key in ("certificate", "private_key", "trusted"):
            v = t.get(key)
            if not isinstance(v, str) or not v:
                err((*tw, key), "is needed (a path)")
                v = "missing"
            paths[key] = _path(v, base)
            if v != "missing" and not paths[key].exists():
                err((*tw, key), f"{str(paths[key])!r} does not exist (make one with `hil certs --out DIR`)")
        roles = t.get("roles", {"operator": "read-write", "read-only": "read-only"})
        if not isinstance(roles, dict):
            err((*tw, "roles"), "must map a role name to read-write or read-only")
            roles = {}
        for name, access in roles.items():
            if access not in MODBUS_ACCESS:
                err((*tw, "roles", name), f"{access!r} is not one of {', '.join(MODBUS_ACCESS)}")
        tls = ModbusTls(
            port=port,
            certificate=paths["certificate"],
            private_key=paths["private_key"],
            trusted=paths["trusted"],
            plain=_bool(t, "plain", True, tw, err),
            roles={str(k): str(v) for k, v in roles.items()},
        )
    return ModbusSecurity(read_only=_bool(d, "read_only", False, where, err), allow=tuple(nets), tls=tls)


# -- exposure -------------------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warnings(host: str, modbus: ModbusSecurity, opcua: OpcUaSecurity) -> list[str]:
    """What is reachable without authentication when binding ``host`` beyond loopback."""
    return modbus_exposure(host, modbus) + opcua_exposure(host, opcua)


def modbus_exposure(host: str, modbus: ModbusSecurity) -> list[str]:
    """What plain Modbus TCP offers unauthenticated on ``host`` (nothing on loopback)."""
    if is_loopback(host) or not modbus.open:
        return []
    who = "the allow-listed addresses" if modbus.allow else "anyone who can reach it"
    ro = "read" if modbus.read_only else "read and command every device"
    return [f"plain Modbus TCP on {host}: no authentication, {who} can {ro}"]


def opcua_exposure(host: str, opcua: OpcUaSecurity) -> list[str]:
    """What OPC UA offers anonymously on ``host`` (nothing on loopback)."""
    if is_loopback(host) or not opcua.open:
        return []
    ro = "read" if opcua.read_only else "read and write"
    return [f"OPC UA on {host} offers the None policy with anonymous logins: anyone can {ro}"]
