"""OPC UA access control on asyncua: policies, server certificate, trust list, users and roles.

:class:`hil.security.OpcUaSecurity` says what the site asks for; :func:`apply_security` sets it on an
asyncua ``Server`` between ``init()`` and ``start()``. Roles:

* ``operator``: browse, read, subscribe, write and call methods;
* ``read-only``: browse, read and subscribe; every Write, HistoryUpdate and Call request is
  answered with the service fault BadUserAccessDenied before it reaches the twin.

Anonymous logins (only when the site allows them) are operators on the open lab endpoint (no
users configured) and read-only as soon as users exist. ``read_only: true`` makes everyone
read-only. Client certificates are checked against the trust list (``trusted``: a folder of CA
and client certificates): time range, ApplicationUri in the SAN, key usage, chain; an untrusted
certificate is refused at CreateSession with BadCertificateUntrusted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from ...security import OpcUaSecurity
from .ua_types import ua_node

__all__ = ["apply_security"]

_log = logging.getLogger(__name__)

_POLICIES = {
    "None": ua.SecurityPolicyType.NoSecurity,
    "Basic256Sha256_Sign": ua.SecurityPolicyType.Basic256Sha256_Sign,
    "Basic256Sha256_SignAndEncrypt": ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
}

#: Requests that change the twin (or the address space): operators only.
_CHANGES = frozenset(
    ua_node(i)
    for i in (
        ua.ObjectIds.WriteRequest_Encoding_DefaultBinary,
        ua.ObjectIds.CallRequest_Encoding_DefaultBinary,
        ua.ObjectIds.HistoryUpdateRequest_Encoding_DefaultBinary,
    )
)
_ALLOWED = frozenset(ua_node(i) for i in USER_TYPES)


@dataclass
class HilUser(User):
    """An asyncua user with the bench's role (``operator`` or ``read-only``)."""

    access: str = "read-only"


class _Rules(PermissionRuleset):
    """Per request type: user requests for every logged-in user, changes for operators only."""

    def check_validity(self, user: Any, action_type_id: ua.NodeId, body: Any) -> bool:
        if action_type_id not in _ALLOWED:  # AddNodes, DeleteNodes, RegisterServer...: nobody
            return False
        if action_type_id in _CHANGES:
            return getattr(user, "access", "read-only") == "operator"
        return True


class _Users:
    """asyncua's UserManager: anonymous (if allowed) and the site's users with their passwords."""

    def __init__(self, sec: OpcUaSecurity) -> None:
        self.sec = sec
        self.refused = 0

    def _access(self, role: str) -> str:
        return "read-only" if self.sec.read_only else role

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        sec = self.sec
        if username is None:
            if sec.anonymous:
                role = "read-only" if sec.users else "operator"
                return HilUser(role=UserRole.Anonymous, name="anonymous", access=self._access(role))
        else:
            u = sec.user(username)
            if u is not None and u.check(password):
                return HilUser(role=UserRole.User, name=username, access=self._access(u.role))
        self.refused += 1
        _log.warning(
            "OPC UA login refused for %s", "an anonymous client" if username is None else repr(username)
        )
        return None


def _fmt(path: Path) -> str:
    return "pem" if path.read_bytes()[:64].lstrip().startswith(b"-----BEGIN") else "der"


async def apply_security(server: Server, sec: OpcUaSecurity) -> None:
    """Policies, certificate, trust list and users of ``sec`` on ``server`` (after ``init()``)."""
    server.set_security_policy([_POLICIES[p] for p in sec.policies], permission_ruleset=_Rules())  # type: ignore[arg-type]
    tokens: list[type] = []
    if sec.anonymous:
        tokens.append(ua.AnonymousIdentityToken)
    if sec.users:
        tokens.append(ua.UserNameIdentityToken)
    server.set_identity_tokens(tokens)
    server.allow_remote_admin(False)
    server.iserver.set_user_manager(_Users(sec))  # type: ignore[arg-type]
    if sec.certificate is not None and sec.private_key is not None:
        # by content, so PEM files load whatever their name ends with (.pem, .crt, .key)
        await server.load_certificate(str(sec.certificate), format=_fmt(sec.certificate))
        await server.load_private_key(str(sec.private_key), format=_fmt(sec.private_key))
    if sec.trusted is not None:
        store = TrustStore([sec.trusted], [])
        await store.load()
        opts = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        server.set_certificate_validator(CertificateValidator(opts, store))
