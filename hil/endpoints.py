"""The ``endpoints:`` section of a site file: where and how the site's devices are served.

```yaml
endpoints:
  host: 127.0.0.1          # every server binds here (loopback unless you say otherwise)
  watchdog_s: 10           # controller-heartbeat timeout (802 CtrlHb / 715 ControllerHb)
  modbus:
    port: 1502             # the gateway port; 0 picks a free port
    layout: gateway        # gateway: every device behind one port by unit id
                           # per-device: device k on port + k (any unit id answers)
    unknown_unit: gateway_no_response   # or device_failure, silent
    personality: sunspec   # or legacy: battery PCS as SunSpec 1, 103, 120-124
    unit_ids: {bess: 10}   # first unit id of each device kind
    max_connections: 32    # a connection over this is closed at once
    idle_timeout_s: 60     # a client without a whole request for this long is closed
    frame_timeout_s: 5     # a request must arrive whole within this of its first byte
    max_requests_per_s: 0  # per connection (0: no cap); over it the client is read more slowly
    identity:              # FC43/14 (read device identification) and FC17; each key optional,
      vendor: ACME         # else the device's SunSpec common model (1.Mn, 1.Md, 1.Vr)
      product_code: PCS-2500
      revision: "1.2"
  opcua:
    port: 4840             # 0 picks a free port
    path: /aidc-hil        # the endpoint URL is opc.tcp://host:port/aidc-hil
    max_sessions: 16       # a CreateSession over this gets BadTooManySessions
    max_connections: 32    # TCP connections, sessions or not; one over this is closed at once
    max_nodes_per_request: 1000   # Browse/Read/Write/Call/Translate/CreateMonitoredItems...;
                                  # over it the request gets BadTooManyOperations
    max_references_per_browse: 5000  # per Browse response; the nodes past it get
                                     # BadNoContinuationPoints (the server keeps none)
    max_subscriptions: 10          # per session (BadTooManySubscriptions)
    max_monitored_items: 20000     # per session (BadTooManyMonitoredItems)
    max_message_size: 4194304      # bytes of one request, all chunks (BadTcpMessageTooLarge)
    max_chunk_size: 65535          # bytes of one chunk (the HEL/ACK buffer sizes)
    activation_timeout_s: 10       # a connection without an activated session is closed
  point_maps: {bess: bess} # point map per device kind (profiles/points/<name>.yaml)
  ui:                      # the browser dashboard (docs/howto-dashboard.md); off unless enabled
    enabled: false         # true: `hil serve` and `hil run` serve it as --ui does
    port: 8080             # 0 picks a free port; it binds `host` like the servers
    read_only: false       # true: the page shows the run; no action is accepted
```
``modbus.security`` and ``opcua.security`` (access control) are described in :mod:`hil.security`.
Every key is optional; errors name the file, the line and a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from twin.params import did_you_mean

from .errors import ConfigError, Path_, Problem, line_for
from .security import ModbusSecurity, OpcUaSecurity, parse_modbus_security, parse_opcua_security

__all__ = ["IDENTITY_KEYS", "EndpointConfig", "ModbusLimits", "OpcUaLimits", "parse_endpoints"]

KINDS = ("meter", "utility", "site", "bess", "pv", "genset")
UNKNOWN_UNIT = ("gateway_no_response", "device_failure", "silent")
IDENTITY_KEYS = ("vendor", "product_code", "revision", "vendor_url", "product_name", "model_name")


@dataclass(frozen=True)
class ModbusLimits:
    """What a Modbus endpoint allows a client (see :mod:`hil.protocols.modbus.server`)."""

    max_connections: int = 32
    idle_timeout_s: float = 60.0
    frame_timeout_s: float = 5.0
    max_requests_per_s: float = 0.0  # per connection; 0: no cap

    def __post_init__(self) -> None:
        if isinstance(self.max_connections, bool) or not 1 <= self.max_connections <= 100_000:
            raise ValueError(f"max_connections {self.max_connections!r} is not 1..100000")
        for name in ("idle_timeout_s", "frame_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0 < v < float("inf")):
                raise ValueError(f"{name} {v!r} must be a positive number")
        r = self.max_requests_per_s
        if not (isinstance(r, int | float) and 0 <= r < float("inf")):
            raise ValueError(f"max_requests_per_s {r!r} must be >= 0 (0: no cap)")


@dataclass(frozen=True)
class OpcUaLimits:
    """What the OPC UA endpoint allows its clients (see :mod:`hil.protocols.opcua.guard`)."""

    max_sessions: int = 16
    max_connections: int = 32
    max_nodes_per_request: int = 1000
    max_references_per_browse: int = 5000
    max_subscriptions: int = 10  # per session
    max_monitored_items: int = 20_000  # per session
    max_message_size: int = 4 * 1024 * 1024
    max_chunk_size: int = 65535
    activation_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in _OPCUA_COUNTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100_000:
                raise ValueError(f"{name} {v!r} is not 1..100000")
        for name, (lo, hi) in _OPCUA_SIZES.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} {v!r} is not {lo}..{hi}")
        if self.max_message_size < self.max_chunk_size:
            raise ValueError(
                f"max_message_size {self.max_message_size} < max_chunk_size {self.max_chunk_size}"
            )
        t = self.activation_timeout_s
        if not (isinstance(t, int | float) and 0 < t < float("inf")):
            raise ValueError(f"activation_timeout_s {t!r} must be a positive number")


_OPCUA_COUNTS = (
    "max_sessions",
    "max_connections",
    "max_nodes_per_request",
    "max_references_per_browse",
    "max_subscriptions",
    "max_monitored_items",
)
#: OPC UA Part 6 §7.1.2.3: a chunk is at least 8192 bytes; a message at most 256 MiB here
_OPCUA_SIZES = {"max_message_size": (8192, 1 << 28), "max_chunk_size": (8192, 1 << 24)}


@dataclass
class EndpointConfig:
    host: str = "127.0.0.1"
    watchdog_s: float = 10.0
    modbus_port: int = 1502
    modbus_layout: str = "gateway"
    unknown_unit: str = "gateway_no_response"
    personality: str = "sunspec"
    unit_ids: dict[str, int] = field(default_factory=dict)
    opcua_port: int = 4840
    opcua_path: str = "/aidc-hil"
    point_maps: dict[str, str] = field(default_factory=dict)
    modbus_limits: ModbusLimits = field(default_factory=ModbusLimits)
    modbus_identity: dict[str, str] = field(default_factory=dict)
    opcua_limits: OpcUaLimits = field(default_factory=OpcUaLimits)
    modbus_security: ModbusSecurity = field(default_factory=ModbusSecurity)
    opcua_security: OpcUaSecurity = field(default_factory=OpcUaSecurity)
    ui_enabled: bool = False
    ui_port: int = 8080
    ui_read_only: bool = False

    def with_ports(self, *, modbus: int | None = None, opcua: int | None = None) -> EndpointConfig:
        return replace(
            self,
            modbus_port=self.modbus_port if modbus is None else modbus,
            opcua_port=self.opcua_port if opcua is None else opcua,
        )


_SCHEMA: dict[str, Any] = {
    "host": str,
    "watchdog_s": float,
    "modbus": {
        "port": int,
        "layout": ("gateway", "per-device"),
        "unknown_unit": UNKNOWN_UNIT,
        "personality": ("sunspec", "legacy"),
        "unit_ids": dict,
        "max_connections": "count",
        "idle_timeout_s": float,
        "frame_timeout_s": float,
        "max_requests_per_s": "rate",
        "identity": dict.fromkeys(IDENTITY_KEYS, str),
        "security": "any",
    },
    "opcua": {
        "port": int,
        "path": str,
        **dict.fromkeys(_OPCUA_COUNTS, "count"),
        **dict.fromkeys(_OPCUA_SIZES, "bytes"),
        "activation_timeout_s": float,
        "security": "any",
    },
    "point_maps": dict,
    "ui": {"enabled": bool, "port": int, "read_only": bool},
}


def parse_endpoints(data: Any, *, path: Path, lines: Mapping[Path_, int]) -> EndpointConfig:  # noqa: C901 - over 15 branches before the gate; to split
    """Validate the ``endpoints`` mapping of a site file; every problem at once."""
    problems: list[Problem] = []

    def err(p: Path_, msg: str) -> None:
        problems.append(
            Problem(str(path), line_for(lines, ("endpoints", *p)), ".".join(("endpoints", *map(str, p))), msg)
        )

    def check(node: Any, schema: dict[str, Any], where: Path_) -> dict[str, Any]:  # noqa: C901 - over 15 branches before the gate; to split
        if node is None:
            return {}
        if not isinstance(node, dict):
            err(where, "must be a mapping")
            return {}
        out: dict[str, Any] = {}
        for key, value in node.items():
            spec = schema.get(str(key))
            if spec is None:
                err(
                    (*where, key),
                    "unknown key"
                    + did_you_mean(str(key), list(schema), otherwise=f" (known: {', '.join(schema)})"),
                )
                continue
            if isinstance(spec, dict):
                out[key] = check(value, spec, (*where, key))
            elif isinstance(spec, tuple):
                if value not in spec:
                    err(
                        (*where, key),
                        f"{value!r} is not one of {', '.join(spec)}" + did_you_mean(str(value), list(spec)),
                    )
                else:
                    out[key] = value
            elif spec == "any":  # parsed by hil.security
                out[key] = value
            elif spec == "count":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100_000:
                    err((*where, key), f"must be a whole number 1..100000, got {value!r}")
                else:
                    out[key] = value
            elif spec == "bytes":
                lo, hi = _OPCUA_SIZES[str(key)]
                if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                    err((*where, key), f"must be a whole number of bytes {lo}..{hi}, got {value!r}")
                else:
                    out[key] = value
            elif spec == "rate":
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
                    err((*where, key), f"must be a number >= 0 (0: no cap), got {value!r}")
                else:
                    out[key] = float(value)
            elif spec is bool:
                if not isinstance(value, bool):
                    err((*where, key), f"must be true or false, got {value!r}")
                else:
                    out[key] = value
            elif spec is float:
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    err((*where, key), f"must be a positive number, got {value!r}")
                else:
                    out[key] = float(value)
            elif spec is int:
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                    err((*where, key), f"must be a port number 0..65535, got {value!r}")
                else:
                    out[key] = value
            elif spec is dict:
                if not isinstance(value, dict):
                    err((*where, key), "must be a mapping of device kind to a value")
                    continue
                for kind in value:
                    if kind not in KINDS:
                        err(
                            (*where, key, kind),
                            f"unknown device kind {kind!r}" + did_you_mean(str(kind), list(KINDS)),
                        )
                out[key] = dict(value)
            else:
                if not isinstance(value, str):
                    err((*where, key), f"must be a string, got {value!r}")
                else:
                    out[key] = value
        return out

    d = check(data, _SCHEMA, ())
    for kind, uid in d.get("modbus", {}).get("unit_ids", {}).items():
        if isinstance(uid, bool) or not isinstance(uid, int) or not 1 <= uid <= 247:
            err(("modbus", "unit_ids", kind), f"a unit id is 1..247, got {uid!r}")
    for key, text in d.get("modbus", {}).get("identity", {}).items():
        if len(text.encode()) > 64:
            err(("modbus", "identity", key), f"at most 64 bytes, got {len(text.encode())}")
    o = d.get("opcua", {})
    if o.get("max_message_size", OpcUaLimits.max_message_size) < o.get(
        "max_chunk_size", OpcUaLimits.max_chunk_size
    ):
        err(("opcua", "max_message_size"), "must be at least max_chunk_size")
    base = Path(path).parent
    msec, osec = d.get("modbus", {}).get("security"), d.get("opcua", {}).get("security")
    # no section: the open lab endpoint (docs/design-decisions.md, "No security section")
    modbus_security = ModbusSecurity() if msec is None else parse_modbus_security(msec, base=base, err=err)
    opcua_security = OpcUaSecurity() if osec is None else parse_opcua_security(osec, base=base, err=err)
    if problems:
        raise ConfigError(problems)
    m = d.get("modbus", {})
    path_ = str(o.get("path", "/aidc-hil"))
    return EndpointConfig(
        host=str(d.get("host", "127.0.0.1")),
        watchdog_s=float(d.get("watchdog_s", 10.0)),
        modbus_port=int(m.get("port", 1502)),
        modbus_layout=str(m.get("layout", "gateway")),
        unknown_unit=str(m.get("unknown_unit", "gateway_no_response")),
        personality=str(m.get("personality", "sunspec")),
        unit_ids={k: int(v) for k, v in m.get("unit_ids", {}).items()},
        opcua_port=int(o.get("port", 4840)),
        opcua_path=path_ if path_.startswith("/") else "/" + path_,
        point_maps={k: str(v) for k, v in d.get("point_maps", {}).items()},
        modbus_limits=ModbusLimits(
            max_connections=int(m.get("max_connections", 32)),
            idle_timeout_s=float(m.get("idle_timeout_s", 60.0)),
            frame_timeout_s=float(m.get("frame_timeout_s", 5.0)),
            max_requests_per_s=float(m.get("max_requests_per_s", 0.0)),
        ),
        modbus_identity=dict(m.get("identity", {})),
        opcua_limits=_opcua_limits(o),
        modbus_security=modbus_security,
        opcua_security=opcua_security,
        ui_enabled=bool(d.get("ui", {}).get("enabled", False)),
        ui_port=int(d.get("ui", {}).get("port", 8080)),
        ui_read_only=bool(d.get("ui", {}).get("read_only", False)),
    )


def _opcua_limits(o: Mapping[str, Any]) -> OpcUaLimits:
    """The validated ``endpoints.opcua`` limit keys over the defaults."""
    return OpcUaLimits(**{f.name: o[f.name] for f in fields(OpcUaLimits) if f.name in o})
