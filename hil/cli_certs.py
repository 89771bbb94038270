"""``hil certs`` (a local test PKI) and ``hil password-hash`` (a user's hash for a profile), and
the loud warning ``hil serve`` prints when it binds beyond loopback without security.

Registered on the ``hil`` group by :mod:`hil.cli`; see ``docs/security.md``.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import click
from rich.panel import Panel

from hil.cli_common import err
from hil.endpoints import EndpointConfig
from hil.security import exposure_warnings, hash_password

__all__ = ["certs", "password_hash", "warn_exposure"]


@click.command()
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Folder to write into.")
@click.option("--site", default="lab_rack", show_default=True, help="Site name: the server's ApplicationUri.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="HOST",
    help="Another address or DNS name the server is reached at (repeatable; "
    "127.0.0.1, localhost and this machine's name always).",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="NAME[=ROLE]",
    help="A client certificate (repeatable; role for Modbus/TCP Security, default operator). "
    "Default: operator=operator and viewer=read-only.",
)
def certs(out: Path, site: str, hosts: tuple[str, ...], clients: tuple[str, ...]) -> None:
    """Create a local test CA, a server certificate and client certificates in OUT.

    \b
    For a lab or CI: the CA key is written unencrypted beside the certificates.
    The server certificate carries urn:aidc-hil:<site>:server (the OPC UA ApplicationUri);
    a client's carries urn:aidc-hil:client:<name> and its Modbus role (OID 1.3.6.1.4.1.50316.802.1).
    Example:
      hil certs --out certs --host 10.1.0.5 --client ems=operator --client scada=read-only
    Exit status: 0 written, 2 bad input.
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.certs import make_test_pki

    wanted: dict[str, str] = {}
    for spec in clients or ("operator=operator", "viewer=read-only"):
        name, _, role = spec.partition("=")
        wanted[name.strip()] = role.strip() or "operator"
    try:
        ca, server, issued = make_test_pki(
            out,
            application_uri=f"urn:aidc-hil:{site}:server",
            clients=wanted,
            hosts=("127.0.0.1", "localhost", socket.gethostname(), *hosts),
        )
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(2)
    click.echo(f"CA            {ca.cert}  (trust list: {out / 'trusted'})")
    click.echo(f"server        {server.cert}  {server.key}")
    for name, i in issued.items():
        click.echo(f"client {name:<7}{i.cert}  {i.key}  (role {wanted[name]!r})")


@click.command("password-hash")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the password from standard input.")
def password_hash(from_stdin: bool) -> None:
    """Print a salted scrypt hash of a password, for endpoints.opcua.security.users.<name>.password.

    \b
    The password itself never goes into a profile.
    Example:
      hil password-hash            # prompts twice, hidden
      printf %s "$PW" | hil password-hash --stdin
    """
    if from_stdin:
        pw = sys.stdin.read().rstrip("\n")
    else:
        pw = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if not pw:
        err.print("[red]error:[/] an empty password", markup=True, highlight=False)
        sys.exit(2)
    click.echo(hash_password(pw))


def warn_exposure(endpoints: EndpointConfig) -> None:
    """A bold panel on stderr when the endpoints bind beyond loopback without security."""
    lines = exposure_warnings(endpoints.host, endpoints.modbus_security, endpoints.opcua_security)
    if lines:
        body = (
            "\n".join(f"• {x}" for x in lines) + "\nSee docs/security.md: use TLS, users, read_only, allow."
        )
        err.print(
            Panel(
                body, title="[bold red]WARNING: serving beyond loopback without security", border_style="red"
            )
        )
