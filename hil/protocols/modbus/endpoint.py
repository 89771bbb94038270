"""Modbus TCP server over the :class:`~hil.wire.gateway.Gateway`: the function codes and the device
semantics (framing, connections and limits are in :mod:`hil.protocols.modbus.server`; no protocol library).

A :class:`ModbusEndpoint` serves devices on one ``host:port``:

* ``layout="gateway"``: several devices behind one port, each by its unit id (``Device.unit_id``);
* ``layout="per-device"``: one device on its own port, answering every unit id.

Holding and input registers (FC03, FC04; the read part of FC23) both read the device's SunSpec
image, 0-based PDU addresses from 40000 ('SunS'), exactly what :meth:`Gateway.read_registers`
returns; a range that leaves the image is exception 02. Writes (FC06, FC16, FC22, the write part
of FC23) go through :meth:`Gateway.write_registers`, which validates every point before it changes
anything:

==========================================  ==============================
``WriteStatus``                             Modbus exception
==========================================  ==============================
``NOT_WRITABLE``, ``NO_SUCH_POINT``          02 ILLEGAL DATA ADDRESS
``OUT_OF_RANGE``, ``TYPE_MISMATCH``          03 ILLEGAL DATA VALUE
``LOCAL_CONTROL`` (device in local mode)     01 ILLEGAL FUNCTION
==========================================  ==============================

FC23 checks its read range before it writes, so a refused request changes nothing.

Coils and discrete inputs (FC01, FC02, FC05, FC15) are a small convenience table next to the
SunSpec map, for EMSs and PLCs that start and stop things with coils:

=========  ==============  =====================================================================
table      address         meaning
=========  ==============  =====================================================================
coil       0  "run"        read: the device runs (701.InvSt RUNNING or THROTTLED); write 1/0:
                           ``Gateway.command(dev, "start" / "stop")`` (715.OpCtl). PCS, genset.
coil       1  "alarm rst"  write 1: ``Gateway.command(dev, "alarm_reset")``; write 0: no-op;
                           reads 0. PCS only.
discrete   0..31           bit k of the device's main alarm bitfield: 802.Evt1 for a PCS (bit 0
                           COMMUNICATION_ERROR ... see SunSpec 802), 103.Evt1 in the legacy map.
=========  ==============  =====================================================================

A device without the command (meter, PV, site, utility; coil 1 of a genset) or without an alarm
bitfield answers exception 02 for that table, as it does for any address past its end.

Identification: FC43/14 (read device identification, basic and regular, stream and single
object) and FC17 (report server id) give the device's identity: ``endpoints.modbus.identity``
(vendor, product_code, revision, vendor_url, product_name, model_name) where set, else the
device's SunSpec common model (VendorName 1.Mn, ProductCode and ModelName 1.Md,
MajorMinorRevision 1.Vr), else a neutral bench identity.

Every other function code (FC07, FC08, FC11, FC12, FC20, FC21, FC24, FC43 other than 14, ...)
is exception 01 ILLEGAL FUNCTION. A request of an implemented function is checked as the
specification orders it: a quantity, byte count or PDU length out of range is exception 03
ILLEGAL DATA VALUE (so is an FC05 value other than 0xFF00 / 0x0000), then the address range is
exception 02.

A unit id that no served device has is answered, as configured, with exception 0x0B GATEWAY
TARGET DEVICE FAILED TO RESPOND (``"gateway_no_response"``, the default, what a real gateway
does), 0x04 DEVICE FAILURE (``"device_failure"``), or not at all (``"silent"``: the client
times out). Nothing raises into the server loop: an unexpected error is logged (rate-limited) and answered 04.

The server runs on the caller's event loop, the same loop that steps the gateway, so a request
always sees one whole tick; there are no threads and no locks.

Faults (for :mod:`hil.faults`; each logged at INFO when set and cleared, free while unused):

* :meth:`ModbusEndpoint.set_unit_fault` makes one unit misbehave on the wire (in the
  per-device layout: the endpoint's device, whatever unit id is asked), for every function
  code, until :meth:`ModbusEndpoint.clear_unit_fault`. What an EMS sees:

  - ``exception=code``: every request answered with that exception (04 SERVER DEVICE FAILURE,
    06 SERVER DEVICE BUSY, 0x0B GATEWAY TARGET DEVICE FAILED TO RESPOND, ...); nothing is
    read or written;
  - ``delay_s=d``: the answer (normal, or the exception above) comes ``d`` seconds late; the
    other connections answer meanwhile (the wait is an ``await``, the loop runs on); on the
    same connection the requests behind it wait, since answers keep the order of the requests.
    A client that times out first gets a late answer with the old transaction id;
  - ``offline=True``: no answer at all, the client times out (like ``unknown_unit="silent"``).

  A request takes the fault in force when it arrives; the other units are untouched.
* :meth:`ModbusEndpoint.drop_connections` closes every open client connection at once (the
  client sees EOF or a reset); the server keeps listening, so clients can reconnect.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hil.wire.gateway import Device, Gateway, WriteStatus
from hil.wire.sunspec_codes import INV_RUNNING_CODES

from ...endpoints import IDENTITY_KEYS, ModbusLimits
from ...security import ModbusSecurity
from .server import Deferred, ModbusStats, TcpServer
from .server import exception_pdu as _exc
from .server import pack_bits as _pack_bits
from .tls import Access, server_context

__all__ = [
    "LAYOUTS",
    "UNKNOWN_UNIT",
    "ModbusEndpoint",
    "ModbusLimits",
    "ModbusStats",
    "UnitFault",
    "write_exception",
]

log = logging.getLogger(__name__)

UNKNOWN_UNIT = ("gateway_no_response", "device_failure", "silent")
LAYOUTS = ("gateway", "per-device")

# Modbus exception codes
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4
GATEWAY_NO_RESPONSE = 0x0B

_WRITE_CODES: dict[WriteStatus, int] = {
    WriteStatus.NOT_WRITABLE: ILLEGAL_ADDRESS,
    WriteStatus.NO_SUCH_POINT: ILLEGAL_ADDRESS,
    WriteStatus.OUT_OF_RANGE: ILLEGAL_VALUE,
    WriteStatus.TYPE_MISMATCH: ILLEGAL_VALUE,
    WriteStatus.LOCAL_CONTROL: ILLEGAL_FUNCTION,
}

_ALARM_POINTS = ("802.Evt1", "103.Evt1")
_COIL_ON, _COIL_OFF = 0xFF00, 0x0000
_BENCH_IDENTITY = {"vendor": "aidc-hil", "product_code": "HIL-BENCH", "revision": "0.1"}
_H2 = struct.Struct(">HH")
_H3 = struct.Struct(">HHH")


def write_exception(status: WriteStatus) -> int | None:
    """The Modbus exception code for a refused write (None when accepted)."""
    return _WRITE_CODES.get(status)


@dataclass(frozen=True)
class UnitFault:
    """How one unit misbehaves on the wire (see :meth:`ModbusEndpoint.set_unit_fault`)."""

    exception: int | None = None
    delay_s: float = 0.0
    offline: bool = False


class _Context:
    """The function codes: ``handle(unit, pdu)`` is the answer PDU, None (no answer) or a
    :class:`~hil.protocols.modbus.server.Deferred` (a unit fault's late answer)."""

    def __init__(self, ep: ModbusEndpoint) -> None:
        self.ep = ep
        self.gw = ep.gateway
        self.by_unit = {d.unit_id: d for d in ep.devices}
        self.single = ep.devices[0] if ep.layout == "per-device" else None
        self._fcs: dict[int, Callable[[Device, bytes], bytes]] = {
            1: self._fc_read_bits,
            2: self._fc_read_bits,
            3: self._fc_read_regs,
            4: self._fc_read_regs,
            5: self._fc05,
            6: self._fc06,
            15: self._fc15,
            16: self._fc16,
            17: self._fc17,
            22: self._fc22,
            23: self._fc23,
            43: self._fc43,
        }
        self._ids: dict[str, dict[int, bytes]] = {}

    def handle(self, unit: int, pdu: bytes) -> bytes | Deferred | None:
        faults = self.ep._unit_faults
        if faults:  # the normal path: one dict check
            fault = faults.get(self.ep._single_unit if self.ep._single_unit is not None else unit)
            if fault is not None:
                if fault.offline:
                    return None  # no answer: the client times out
                if fault.delay_s > 0:
                    return Deferred(fault.delay_s, lambda: self._faulted(fault, unit, pdu))
                return self._faulted(fault, unit, pdu)
        return self.serve(unit, pdu)

    def _faulted(self, fault: UnitFault, unit: int, pdu: bytes) -> bytes | None:
        if fault.exception is not None:
            return _exc(pdu[0], fault.exception)
        return self.serve(unit, pdu)

    def serve(self, unit: int, pdu: bytes) -> bytes | None:
        fc = pdu[0]
        dev = self._device(unit)
        if dev is None:
            return None
        if isinstance(dev, int):
            return _exc(fc, dev)
        fn = self._fcs.get(fc)
        if fn is None:
            return _exc(fc, ILLEGAL_FUNCTION)
        return fn(dev, pdu)

    def _device(self, unit: int) -> Device | int | None:
        if self.single is not None:
            return self.single
        dev = self.by_unit.get(unit)
        if dev is not None:
            return dev
        mode = self.ep.unknown_unit
        if mode == "silent":
            return None
        return DEVICE_FAILURE if mode == "device_failure" else GATEWAY_NO_RESPONSE

    # -- registers ------------------------------------------------------------------------
    def _fc_read_regs(self, dev: Device, pdu: bytes) -> bytes:  # FC03, FC04
        fc = pdu[0]
        if len(pdu) != 5:
            return _exc(fc, ILLEGAL_VALUE)
        address, count = _H2.unpack_from(pdu, 1)
        if not 1 <= count <= 125:
            return _exc(fc, ILLEGAL_VALUE)
        regs = self.gw.read_registers(dev, address, count)
        if regs is None:
            return _exc(fc, ILLEGAL_ADDRESS)
        return bytes((fc, 2 * count)) + struct.pack(f">{count}H", *regs)

    def _write(self, dev: Device, fc: int, address: int, values: list[int]) -> bytes | None:
        code = _WRITE_CODES.get(self.gw.write_registers(dev, address, values))
        return None if code is None else _exc(fc, code)

    def _fc06(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) != 5:
            return _exc(6, ILLEGAL_VALUE)
        address, value = _H2.unpack_from(pdu, 1)
        return self._write(dev, 6, address, [value]) or pdu

    def _fc16(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) < 6:
            return _exc(16, ILLEGAL_VALUE)
        address, count = _H2.unpack_from(pdu, 1)
        if not 1 <= count <= 123 or pdu[5] != 2 * count or len(pdu) != 6 + 2 * count:
            return _exc(16, ILLEGAL_VALUE)
        values = list(struct.unpack_from(f">{count}H", pdu, 6))
        return self._write(dev, 16, address, values) or pdu[:5]

    def _fc22(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) != 7:
            return _exc(22, ILLEGAL_VALUE)
        address, and_mask, or_mask = _H3.unpack_from(pdu, 1)
        cur = self.gw.read_registers(dev, address, 1)
        if cur is None:
            return _exc(22, ILLEGAL_ADDRESS)
        value = (cur[0] & and_mask) | (or_mask & ~and_mask & 0xFFFF)
        return self._write(dev, 22, address, [value]) or pdu

    def _fc23(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) < 10:
            return _exc(23, ILLEGAL_VALUE)
        r_addr, r_count, w_addr, w_count = struct.unpack_from(">HHHH", pdu, 1)
        if not (1 <= r_count <= 125 and 1 <= w_count <= 121) or pdu[9] != 2 * w_count:
            return _exc(23, ILLEGAL_VALUE)
        if len(pdu) != 10 + 2 * w_count:
            return _exc(23, ILLEGAL_VALUE)
        if self.gw.read_registers(dev, r_addr, r_count) is None:  # before anything is written
            return _exc(23, ILLEGAL_ADDRESS)
        refused = self._write(dev, 23, w_addr, list(struct.unpack_from(f">{w_count}H", pdu, 10)))
        if refused is not None:
            return refused
        regs = self.gw.read_registers(dev, r_addr, r_count) or []
        return bytes((23, 2 * r_count)) + struct.pack(f">{r_count}H", *regs)

    # -- coils and discrete inputs ----------------------------------------------------------
    def _fc_read_bits(self, dev: Device, pdu: bytes) -> bytes:  # FC01, FC02
        fc = pdu[0]
        if len(pdu) != 5:
            return _exc(fc, ILLEGAL_VALUE)
        address, count = _H2.unpack_from(pdu, 1)
        if not 1 <= count <= 2000:
            return _exc(fc, ILLEGAL_VALUE)
        bits = self._read_coils(dev, address, count) if fc == 1 else self._read_inputs(dev, address, count)
        if isinstance(bits, int):
            return _exc(fc, bits)
        packed = _pack_bits(bits)
        return bytes((fc, len(packed))) + packed

    def _fc05(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) != 5:
            return _exc(5, ILLEGAL_VALUE)
        address, value = _H2.unpack_from(pdu, 1)
        if value not in (_COIL_ON, _COIL_OFF):
            return _exc(5, ILLEGAL_VALUE)
        rc = self._write_coils(dev, address, [value == _COIL_ON])
        return pdu if rc is None else _exc(5, rc)

    def _fc15(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) < 6:
            return _exc(15, ILLEGAL_VALUE)
        address, count = _H2.unpack_from(pdu, 1)
        nbytes = (count + 7) // 8
        if not 1 <= count <= 0x7B0 or pdu[5] != nbytes or len(pdu) != 6 + nbytes:
            return _exc(15, ILLEGAL_VALUE)
        bits = [bool((pdu[6 + (k >> 3)] >> (k & 7)) & 1) for k in range(count)]
        rc = self._write_coils(dev, address, bits)
        return pdu[:5] if rc is None else _exc(15, rc)

    def _coils(self, dev: Device) -> list[str]:
        # A command counts only if its point is in this device's map: the legacy (1xx-model)
        # BESS keeps the behaviour's commands but has no 715 block to run them on.
        cmds = {name for name, (key, _) in dev.group.behaviour.commands.items() if key in dev.group.by_key}
        coils: list[str] = []
        if "start" in cmds and "stop" in cmds:
            coils.append("run")
            if "alarm_reset" in cmds:
                coils.append("alarm_reset")
        return coils

    def _read_coils(self, dev: Device, address: int, count: int) -> list[bool] | int:
        coils = self._coils(dev)
        if address < 0 or count < 1 or address + count > len(coils):
            return ILLEGAL_ADDRESS
        out: list[bool] = []
        for name in coils[address : address + count]:
            if name == "run":
                p = dev.group.by_key.get("701.InvSt")
                v = dev.value(p) if p is not None else None
                out.append(v in INV_RUNNING_CODES)
            else:
                out.append(False)
        return out

    def _write_coils(self, dev: Device, address: int, bits: list[bool]) -> int | None:
        coils = self._coils(dev)
        if address < 0 or not bits or address + len(bits) > len(coils):
            return ILLEGAL_ADDRESS
        # The commands fail alike (only local control refuses them), so the first refusal
        # comes before anything has changed.
        for name, bit in zip(coils[address:], bits, strict=False):
            if name == "run":
                status = self.gw.command(dev, "start" if bit else "stop")
            elif bit:
                status = self.gw.command(dev, "alarm_reset")
            else:
                continue
            if status is not WriteStatus.OK:
                return _WRITE_CODES.get(status, ILLEGAL_VALUE)
        return None

    def _read_inputs(self, dev: Device, address: int, count: int) -> list[bool] | int:
        p = next((dev.group.by_key[k] for k in _ALARM_POINTS if k in dev.group.by_key), None)
        if p is None or address < 0 or count < 1 or address + count > 16 * p.words:
            return ILLEGAL_ADDRESS
        v = dev.value(p)
        bits = int(v) if isinstance(v, int | float) else 0
        return [bool((bits >> k) & 1) for k in range(address, address + count)]

    # -- identification -------------------------------------------------------------------
    def identity(self, dev: Device) -> dict[int, bytes]:
        """FC43/14 objects 0..5 of ``dev`` (the configured identity, else its model 1)."""
        ids = self._ids.get(dev.name)
        if ids is None:

            def common(key: str) -> str | None:
                p = dev.group.by_key.get(key)
                v = dev.value(p) if p is not None else None
                return v.strip("\x00 ") or None if isinstance(v, str) else None

            conf = self.ep.identity
            model = {
                "vendor": common("1.Mn"),
                "product_code": common("1.Md"),
                "revision": common("1.Vr"),
                "product_name": common("1.Md"),
                "model_name": common("1.Md"),
            }
            ids = {}
            for k, key in enumerate(IDENTITY_KEYS):
                text = conf.get(key) or model.get(key) or _BENCH_IDENTITY.get(key)
                if text:
                    ids[k] = text.encode()[:64]
            self._ids[dev.name] = ids
        return ids

    def _fc43(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) < 2 or pdu[1] != 0x0E:  # only MEI 14: read device identification
            return _exc(43, ILLEGAL_FUNCTION)
        if len(pdu) != 4 or not 1 <= pdu[2] <= 4:
            return _exc(43, ILLEGAL_VALUE)
        code, first = pdu[2], pdu[3]
        ids = self.identity(dev)
        conformity = 0x82 if any(k >= 3 for k in ids) else 0x81
        if code == 4:
            if first not in ids:
                return _exc(43, ILLEGAL_ADDRESS)
            chosen = [first]
        else:
            wanted = [k for k in sorted(ids) if (k < 3) == (code == 1) or code >= 2]
            if code == 3:  # extended objects (0x80..): none
                wanted = []
            if first not in wanted:
                first = wanted[0] if wanted else 0
            chosen = [k for k in wanted if k >= first]
        body = bytearray()
        more, next_id, n = 0, 0, 0
        for k in chosen:
            obj = bytes((k, len(ids[k]))) + ids[k]
            if 7 + len(body) + len(obj) > 253:
                more, next_id = 0xFF, k
                break
            body += obj
            n += 1
        return bytes((43, 0x0E, code, conformity, more, next_id, n)) + bytes(body)

    def _fc17(self, dev: Device, pdu: bytes) -> bytes:
        if len(pdu) != 1:
            return _exc(17, ILLEGAL_VALUE)
        ids = self.identity(dev)
        text = b" ".join(ids[k] for k in (0, 1, 2) if k in ids)[:240]
        return bytes((17, len(text) + 1)) + text + b"\xff"  # run indicator: ON


class ModbusEndpoint:
    """A Modbus TCP server for some of a gateway's devices, on the running event loop.

    ``async with ModbusEndpoint(gw, gw.devices, port=0) as ep:`` serves them; ``ep.port`` is the
    port actually bound (port 0 picks a free one). ``limits`` and ``identity`` default to the
    gateway's ``endpoints:`` configuration (``Gateway.from_config``), else the safe defaults of
    :class:`~hil.endpoints.ModbusLimits`; ``ep.stats`` counts what the server has seen."""

    def __init__(
        self,
        gateway: Gateway,
        devices: Sequence[Device] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        layout: str = "gateway",
        unknown_unit: str = "gateway_no_response",
        limits: ModbusLimits | None = None,
        identity: Mapping[str, str] | None = None,
        security: ModbusSecurity | None = None,
        tls_port: int | None = None,
    ) -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        if unknown_unit not in UNKNOWN_UNIT:
            raise ValueError(f"unknown_unit {unknown_unit!r} is not one of {', '.join(UNKNOWN_UNIT)}")
        self.gateway = gateway
        self.devices: list[Device] = list(gateway.devices if devices is None else devices)
        if not self.devices:
            raise ValueError("a Modbus endpoint needs at least one device")
        if layout == "per-device" and len(self.devices) != 1:
            raise ValueError(f"a per-device endpoint serves one device, not {len(self.devices)}")
        conf = gateway.endpoint_config
        if limits is None:
            limits = getattr(conf, "modbus_limits", None) or ModbusLimits()
        if identity is None:
            identity = getattr(conf, "modbus_identity", None) or {}
        unknown = set(identity) - set(IDENTITY_KEYS)
        if unknown:
            raise ValueError(f"identity keys {sorted(unknown)} are not among {', '.join(IDENTITY_KEYS)}")
        self.limits = limits
        self.identity = dict(identity)
        # read-only, allow-list, Modbus/TCP Security (hil.protocols.modbus.tls); default: the gateway's
        self.security = security or getattr(conf, "modbus_security", None) or ModbusSecurity()
        tls = self.security.tls
        self.tls_port = (tls.port if tls_port is None else tls_port) if tls is not None else None
        self.tls_server: TcpServer | None = None
        self.host = host
        self.port = port
        self.layout = layout
        self.unknown_unit = unknown_unit
        self._server: TcpServer | None = None
        self._stats = ModbusStats()
        self._unit_faults: dict[int, UnitFault] = {}
        self._single_unit = self.devices[0].unit_id if layout == "per-device" else None
        self._context = _Context(self)

    @property
    def url(self) -> str:
        return f"modbus://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"modbus+tls://{self.host}:{self.tls_port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def stats(self) -> ModbusStats:
        """Connections, requests, exceptions, refusals and closes counted since start."""
        return self._server.stats if self._server is not None else self._stats

    @property
    def connections(self) -> int:
        """How many client connections are open now."""
        return len(self._server.connections) if self._server is not None else 0

    async def start(self) -> None:
        """Bind and start serving (returns once listening). OSError if the port is taken."""
        if self._server is not None:
            raise RuntimeError("already started")
        sec = self.security
        access = None
        if sec.read_only or sec.allow or sec.tls is not None:
            access = Access(sec, tls=False, log_denied=None)
        server = TcpServer(self._context.handle, self.limits, url=lambda: self.url, access=access)
        if access is not None:
            access.log_denied = server.log_refused
        if sec.open:
            try:
                self.port = await server.start(self.host, self.port)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port}: {exc}") from None
        self._server = server
        if sec.tls is not None and self.tls_port is not None:
            ctx = server_context(sec.tls)
            tls_server = TcpServer(self._context.handle, self.limits, url=lambda: self.tls_url)
            tls_server.access = Access(sec, tls=True, log_denied=tls_server.log_refused)
            try:
                self.tls_port = await tls_server.start(self.host, self.tls_port, ssl=ctx)
            except OSError as exc:
                await self.stop()
                raise OSError(exc.errno, f"cannot listen on {self.host}:{self.tls_port}: {exc}") from None
            self.tls_server = tls_server

    async def stop(self) -> None:
        """Close the listener and every client connection. Safe to call twice."""
        tls_server, self.tls_server = self.tls_server, None
        if tls_server is not None:
            await tls_server.stop()
        server, self._server = self._server, None
        if server is None:
            return
        self._stats = server.stats
        await server.stop()

    # -- faults (hil.faults) ---------------------------------------------------------------
    @property
    def unit_faults(self) -> dict[int, UnitFault]:
        """The unit faults in force, by unit id (a copy)."""
        return dict(self._unit_faults)

    def set_unit_fault(
        self, unit_id: int, *, exception: int | None = None, delay_s: float = 0.0, offline: bool = False
    ) -> None:
        """Make the device at ``unit_id`` misbehave for every request until
        :meth:`clear_unit_fault` (see the module docstring): answer with Modbus ``exception``
        (1..255), answer ``delay_s`` seconds late (without blocking anything else), or, when
        ``offline``, not at all. Replaces the unit's previous fault. In the per-device layout
        ``unit_id`` is the device's own and the fault applies whatever unit id is asked.
        ValueError for a unit this endpoint does not serve or an empty/invalid fault."""
        units = [self._single_unit] if self._single_unit is not None else [d.unit_id for d in self.devices]
        if unit_id not in units:
            raise ValueError(
                f"unit id {unit_id} is not served here ({', '.join(str(u) for u in sorted(units))})"
            )
        if exception is not None and (
            isinstance(exception, bool) or not isinstance(exception, int) or not 1 <= exception <= 255
        ):
            raise ValueError(f"exception code {exception!r} is not 1..255")
        delay_s = float(delay_s)
        if not (math.isfinite(delay_s) and delay_s >= 0.0):
            raise ValueError(f"delay_s {delay_s!r} must be finite and >= 0")
        if exception is None and delay_s == 0.0 and not offline:
            raise ValueError("set_unit_fault needs exception, delay_s or offline (clear_unit_fault clears)")
        fault = UnitFault(exception=exception, delay_s=delay_s, offline=bool(offline))
        self._unit_faults[unit_id] = fault
        log.info("fault: modbus %s unit %d %s", self.url, unit_id, fault)

    def clear_unit_fault(self, unit_id: int) -> None:
        """Undo :meth:`set_unit_fault`: the unit answers normally from the next request
        (requests already held back still get their late answer). No-op without a fault."""
        if self._unit_faults.pop(unit_id, None) is not None:
            log.info("fault: modbus %s unit %d cleared", self.url, unit_id)

    def drop_connections(self) -> int:
        """Close every open client connection now (the client sees EOF or a reset) and return
        how many there were; the server keeps listening and accepts reconnections."""
        server = self._server
        if server is None:
            return 0
        n = server.drop()
        log.info("fault: modbus %s dropped %d client connection(s)", self.url, n)
        return n

    async def __aenter__(self) -> ModbusEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
