"""The security keys of endpoints: (file:line, did-you-mean), password hashes, the exposure
warning of ``hil serve``, and ``hil certs`` / ``hil password-hash``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from hil import cli
from hil.certs import role_of
from hil.config import load_yaml
from hil.endpoints import EndpointConfig, parse_endpoints
from hil.errors import ConfigError
from hil.security import ModbusSecurity, OpcUaSecurity, exposure_warnings, hash_password, verify_password


def parse(tmp_path: Path, text: str) -> EndpointConfig:
    f = tmp_path / "site.yaml"
    f.write_text(text)
    data, lines = load_yaml(f)
    return parse_endpoints(data["endpoints"], path=f, lines=lines)


def test_no_security_section_is_the_open_lab_endpoint(tmp_path: Path) -> None:
    cfg = parse(tmp_path, "endpoints:\n  host: 127.0.0.1\n")
    assert cfg.opcua_security == OpcUaSecurity()
    assert cfg.opcua_security.open
    assert cfg.modbus_security == ModbusSecurity()


def test_security_sections_parse_with_paths_relative_to_the_site_file(tmp_path: Path) -> None:
    h = hash_password("pw")
    (tmp_path / "c" / "trusted").mkdir(parents=True)
    for name in ("server.pem", "server.key", "ca.pem"):
        (tmp_path / "c" / name).write_text("x")
    cfg = parse(
        tmp_path,
        f"""endpoints:
  modbus:
    security:
      read_only: true
      allow: [10.1.0.0/24, 127.0.0.1]
      tls: {{port: 8802, certificate: c/server.pem, private_key: c/server.key, trusted: c/ca.pem}}
  opcua:
    security:
      certificate: c/server.pem
      private_key: c/server.key
      trusted: c/trusted
      users:
        alice: {{password: "{h}", role: operator}}
        bob: {{password_env: HIL_BOB, role: read-only}}
""",
    )
    m, o = cfg.modbus_security, cfg.opcua_security
    assert m.read_only
    assert m.allowed("10.1.0.7")
    assert not m.allowed("10.1.1.7")
    assert m.tls is not None
    assert (m.tls.port, m.tls.trusted) == (8802, tmp_path / "c/ca.pem")
    assert o.policies == ("Basic256Sha256_SignAndEncrypt", "Basic256Sha256_Sign")
    assert not o.anonymous
    assert not o.open
    assert o.user("alice") is not None
    assert o.user("alice").check("pw")  # type: ignore[union-attr]
    assert not o.user("alice").check("PW")  # type: ignore[union-attr]


def test_bad_security_keys_name_the_line_and_suggest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(
            tmp_path,
            """endpoints:
  modbus:
    security:
      read_olny: true
      allow: [not-an-ip]
  opcua:
    security:
      policies: [Basic256Sha256_SignAndEncrpyt]
      users:
        alice: {password: hunter2, role: operater}
""",
        )
    text = str(exc.value)
    assert "site.yaml:4: endpoints.modbus.security.read_olny: unknown key; did you mean 'read_only'?" in text
    assert "site.yaml:5: endpoints.modbus.security.allow.0: 'not-an-ip' is not an IP address" in text
    assert "did you mean 'Basic256Sha256_SignAndEncrypt'?" in text
    assert "did you mean 'operator'?" in text
    assert "site.yaml:7: endpoints.opcua.security: no way to log in" in text


def test_a_password_in_clear_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a scrypt hash made by `hil password-hash`"):
        parse(
            tmp_path,
            "endpoints:\n  opcua:\n    security:\n      policies: [None]\n"
            "      users: {alice: {password: hunter2, role: operator}}\n",
        )


def test_password_hash_is_salted_and_verifies() -> None:
    a, b = hash_password("s3cret"), hash_password("s3cret")
    assert a != b
    assert "s3cret" not in a
    assert verify_password("s3cret", a)
    assert not verify_password("s3cre", a)
    assert not verify_password("s3cret", "plain-text")


def test_exposure_warnings_only_beyond_loopback_without_security() -> None:
    open_ = (ModbusSecurity(), OpcUaSecurity())
    assert exposure_warnings("127.0.0.1", *open_) == []
    assert exposure_warnings("::1", *open_) == []
    assert len(exposure_warnings("0.0.0.0", *open_)) == 2
    locked = OpcUaSecurity(policies=("Basic256Sha256_SignAndEncrypt",), anonymous=False)
    assert len(exposure_warnings("10.1.0.5", ModbusSecurity(), locked)) == 1  # plain Modbus is open


def test_warn_exposure_prints_a_panel_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from hil.cli_certs import warn_exposure

    warn_exposure(EndpointConfig(host="0.0.0.0"))
    got = capsys.readouterr()
    assert got.out == ""
    assert "WARNING: serving beyond loopback without security" in got.err
    assert "plain Modbus TCP on 0.0.0.0: no authentication" in got.err
    warn_exposure(EndpointConfig())
    assert capsys.readouterr().err == ""


def test_hil_certs_and_password_hash(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli.main, ["certs", "--out", str(tmp_path), "--client", "scada=read-only"])
    assert r.exit_code == 0, r.output
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "urn:aidc-hil:lab_rack:server" in san.get_values_for_type(x509.UniformResourceIdentifier)
    client = x509.load_pem_x509_certificate((tmp_path / "clients" / "scada.pem").read_bytes())
    assert role_of(client.public_bytes(serialization_der())) == "read-only"
    assert (tmp_path / "trusted" / "ca.pem").exists()
    r = CliRunner().invoke(cli.main, ["password-hash", "--stdin"], input="pw\n")
    assert r.exit_code == 0
    assert verify_password("pw", r.output.strip())


def serialization_der():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER
