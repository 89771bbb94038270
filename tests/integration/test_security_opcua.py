"""OPC UA access control against asyncua's real client: Basic256Sha256 Sign and SignAndEncrypt
with a trust list, username/password users with roles, anonymous only when asked.

Certificates are made once per session (``hil.certs``, RSA 2048); servers bind 127.0.0.1:0.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from hil.config import load_site
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.security import OpcUaSecurity, OpcUaUser, hash_password
from hil.wire.gateway import Gateway

from ._pki import CertSet, make_certs

SIGN = ua.MessageSecurityMode.Sign
ENCRYPT = ua.MessageSecurityMode.SignAndEncrypt

pytestmark = pytest.mark.asyncio


def pem(key: Path) -> Path:
    """asyncua's client reads a key as PEM only from a file named *.pem."""
    out = key.with_name(key.stem + "-key.pem")
    out.write_bytes(key.read_bytes())
    return out


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_certs(
        tmp_path_factory.mktemp("certs"), {"operator": "operator", "viewer": "read-only"}, key=pem
    )


@pytest.fixture(scope="session")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    """Another CA's certificates: well formed, never trusted by the server."""
    return make_certs(tmp_path_factory.mktemp("rogue"), {"operator": "operator"}, key=pem)


def secure(certs: CertSet, **kw: object) -> OpcUaSecurity:
    args: dict[str, object] = {
        "policies": ("Basic256Sha256_SignAndEncrypt", "Basic256Sha256_Sign"),
        "anonymous": False,
        "certificate": certs.server_cert,
        "private_key": certs.server_key,
        "trusted": certs.trusted,
        "users": (
            OpcUaUser("alice", "operator", password_hash=hash_password("s3cret-alice")),
            OpcUaUser("bob", "read-only", password_hash=hash_password("s3cret-bob")),
        ),
    }
    args.update(kw)
    return OpcUaSecurity(**args)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(sec: OpcUaSecurity) -> AsyncIterator[tuple[Gateway, OpcUaEndpoint]]:
    gw = Gateway(load_site("lab_rack"))
    ep = OpcUaEndpoint(gw, port=0, security=sec)
    await ep.start()
    try:
        yield gw, ep
    finally:
        await ep.stop()


async def client_for(
    ep: OpcUaEndpoint,
    cert: tuple[Path, Path] | None,
    server_cert: Path | None,
    *,
    mode: ua.MessageSecurityMode = ENCRYPT,
    user: tuple[str, str] | None = None,
    name: str = "operator",
) -> Client:
    client = Client(ep.url, timeout=10)
    client.session_timeout = 600_000
    if cert is not None:
        client.application_uri = f"urn:aidc-hil:client:{name}"
        await client.set_security(
            SecurityPolicyBasic256Sha256,
            certificate=str(cert[0]),
            private_key=str(cert[1]),
            server_certificate=str(server_cert),
            mode=mode,
        )
    if user is not None:
        client.set_user(user[0])
        client.set_password(user[1])
    return client


def image(gw: Gateway) -> list[np.ndarray]:
    return [np.array(d.regs, copy=True) for d in gw.devices]


async def test_trusted_certificate_and_operator_password_write_in_both_modes(certs: CertSet) -> None:
    async with serving(secure(certs)) as (gw, ep):
        for mode in (SIGN, ENCRYPT):
            client = await client_for(
                ep, certs.clients["operator"], certs.server_cert, mode=mode, user=("alice", "s3cret-alice")
            )
            async with client:
                pcs = gw.by_name["PCS01"]
                node = client.get_node(ep.nodeid(pcs, pcs.point("704.WSet")))
                await node.write_value(ua.DataValue(ua.Variant(-1_500.0, ua.VariantType.Double)))
                assert gw.writes_accepted >= 1
                assert isinstance(await node.read_value(), float)
        endpoints = {
            (e.SecurityPolicyUri.rsplit("#")[-1], e.SecurityMode) for e in ep.server.iserver.endpoints
        }  # type: ignore[union-attr]
        assert endpoints == {("Basic256Sha256", SIGN), ("Basic256Sha256", ENCRYPT)}  # no None


async def test_read_only_user_reads_and_subscribes_but_cannot_write_or_call(certs: CertSet) -> None:
    async with serving(secure(certs)) as (gw, ep):
        client = await client_for(
            ep, certs.clients["viewer"], certs.server_cert, user=("bob", "s3cret-bob"), name="viewer"
        )
        async with client:
            pcs = gw.by_name["PCS01"]
            node = client.get_node(ep.nodeid(pcs, pcs.point("704.WSet")))
            await node.read_value()
            sub = await client.create_subscription(100, None)
            await sub.subscribe_data_change(node)
            before, accepted = image(gw), gw.writes_accepted
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await node.write_value(ua.DataValue(ua.Variant(-1_500.0, ua.VariantType.Double)))
            dev = client.get_node(ua.NodeId(ep.node_path(pcs), ep.namespace_index))
            start = client.get_node(ua.NodeId(f"{ep.node_path(pcs)}.Start", ep.namespace_index))
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                await dev.call_method(start)
            assert gw.writes_accepted == accepted
            for a, b in zip(before, image(gw), strict=True):
                assert a.tobytes() == b.tobytes()  # bit-identical register image
            await sub.delete()


async def test_wrong_password_unknown_user_untrusted_certificate_and_anonymous_are_refused(
    certs: CertSet, rogue: CertSet
) -> None:
    async with serving(secure(certs)) as (_, ep):
        op, srv = certs.clients["operator"], certs.server_cert
        for user in (("alice", "wrong"), ("mallory", "s3cret-alice")):
            with pytest.raises(ua.uaerrors.BadUserAccessDenied):
                async with await client_for(ep, op, srv, user=user):
                    pass
        with pytest.raises(ua.uaerrors.UaError):  # anonymous not offered
            async with await client_for(ep, op, srv):
                pass
        with pytest.raises(ua.uaerrors.BadCertificateUntrusted):  # another CA's certificate
            async with await client_for(ep, rogue.clients["operator"], srv, user=("alice", "s3cret-alice")):
                pass
        with pytest.raises(ua.uaerrors.UaError):  # no certificate: the None policy is not offered
            async with await client_for(ep, None, None, user=("alice", "s3cret-alice")):
                pass


async def test_none_policy_and_anonymous_only_when_asked_and_server_read_only(certs: CertSet) -> None:
    sec = OpcUaSecurity(policies=("None",), anonymous=True, read_only=True)
    async with serving(sec) as (gw, ep), await client_for(ep, None, None) as client:
        pcs = gw.by_name["PCS01"]
        node = client.get_node(ep.nodeid(pcs, pcs.point("704.WSet")))
        await node.read_value()
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await node.write_value(ua.DataValue(ua.Variant(-1_500.0, ua.VariantType.Double)))
        assert gw.writes_accepted == 0
