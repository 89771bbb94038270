"""Modbus TCP server adapter over the :class:`~hil.gateway.Gateway` (the only module that imports pymodbus).

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

A unit id that no served device has is answered, as configured, with exception 0x0B GATEWAY
TARGET DEVICE FAILED TO RESPOND (``"gateway_no_response"``, the default, what a real gateway
does), 0x04 DEVICE FAILURE (``"device_failure"``), or not at all (``"silent"``: the client
times out). Nothing raises into the server loop: an unexpected error is logged and answered 04.

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
    other units and connections answer meanwhile (the wait is an ``await``, the loop runs on).
    A client that times out first gets a late answer with the old transaction id;
  - ``offline=True``: no answer at all, the client times out (like ``unknown_unit="silent"``).

  A request takes the fault in force when it arrives; the other units are untouched.
* :meth:`ModbusEndpoint.drop_connections` closes every open client connection at once (the
  client sees EOF or a reset); the server keeps listening, so clients can reconnect.

pymodbus' context interface (``async_getValues``/``async_setValues``) cannot answer
"nothing" or hold an answer back for one request only, so the unit faults hook in one level
up, in each connection's request handler (``ServerRequestHandler.handle_request``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.pdu import ExceptionResponse
from pymodbus.pdu.register_message import ReadWriteMultipleRegistersRequest
from pymodbus.server import ModbusTcpServer
from pymodbus.server.base import ModbusBaseServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from .gateway import Device, Gateway, WriteStatus

__all__ = ["LAYOUTS", "UNKNOWN_UNIT", "ModbusEndpoint", "UnitFault", "write_exception"]

log = logging.getLogger(__name__)

UNKNOWN_UNIT = ("gateway_no_response", "device_failure", "silent")
LAYOUTS = ("gateway", "per-device")

_WRITE_CODES: dict[WriteStatus, ExcCodes] = {
    WriteStatus.NOT_WRITABLE: ExcCodes.ILLEGAL_ADDRESS,
    WriteStatus.NO_SUCH_POINT: ExcCodes.ILLEGAL_ADDRESS,
    WriteStatus.OUT_OF_RANGE: ExcCodes.ILLEGAL_VALUE,
    WriteStatus.TYPE_MISMATCH: ExcCodes.ILLEGAL_VALUE,
    WriteStatus.LOCAL_CONTROL: ExcCodes.ILLEGAL_FUNCTION,
}
_REG_READ = frozenset((3, 4, 6, 22, 23))  # FC06/FC22 read back for the echo / the mask
_REG_WRITE = frozenset((6, 16, 22, 23))
_RUNNING = (3, 4)  # 701.InvSt RUNNING, THROTTLED
_ALARM_POINTS = ("802.Evt1", "103.Evt1")


def write_exception(status: WriteStatus) -> int | None:
    """The Modbus exception code for a refused write (None when accepted)."""
    code = _WRITE_CODES.get(status)
    return None if code is None else int(code)


@dataclass(frozen=True)
class UnitFault:
    """How one unit misbehaves on the wire (see :meth:`ModbusEndpoint.set_unit_fault`)."""

    exception: int | None = None
    delay_s: float = 0.0
    offline: bool = False


class _Handler(ServerRequestHandler):
    """One client connection's request handler, with the endpoint's unit faults.

    pymodbus (3.16) schedules ``handle_request`` once per received request and reads the
    request from ``last_pdu``/``last_addr``, which the next request on the connection
    overwrites; so a delayed request keeps its own and puts them back before it is handled."""

    server: _Server

    async def handle_request(self) -> None:
        ep = self.server.endpoint
        pdu = self.last_pdu
        if not ep._unit_faults or pdu is None:  # the normal path: one dict check
            await super().handle_request()
            return
        fault = ep._unit_faults.get(ep._single_unit if ep._single_unit is not None else pdu.dev_id)
        if fault is None:
            await super().handle_request()
            return
        if fault.offline:
            return  # no answer: the client times out
        addr = self.last_addr
        if fault.delay_s > 0:
            task = asyncio.current_task()
            if task is not None:
                ep._delayed.add(task)
            try:
                await asyncio.sleep(fault.delay_s)
            finally:
                if task is not None:
                    ep._delayed.discard(task)
            if self.transport is None:  # the connection went away meanwhile
                return
        if fault.exception is not None:
            self.server_send(
                ExceptionResponse(
                    pdu.function_code, fault.exception, device_id=pdu.dev_id, transaction=pdu.transaction_id
                ),
                addr,
            )
            return
        # the normal handling runs to the end without suspending (our context never awaits)
        self.last_pdu, self.last_addr = pdu, addr
        await super().handle_request()


class _Server(ModbusTcpServer):
    """pymodbus' TCP server whose connections are :class:`_Handler` s."""

    def __init__(self, endpoint: ModbusEndpoint, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.endpoint = endpoint

    def callback_new_connection(self) -> _Handler:
        # as ModbusBaseServer.callback_new_connection, with our handler class
        return _Handler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _ReadWrite(ReadWriteMultipleRegistersRequest):
    """FC23 that checks its read range before writing, so a refused request changes nothing."""

    async def datastore_update(self, context: Any, device_id: int) -> Any:
        check = getattr(context, "check_read", None)
        if check is not None and 1 <= self.read_count <= 0x7D:
            rc = check(device_id, self.read_address, self.read_count)
            if rc is not None:
                return ExceptionResponse(self.function_code, rc)
        return await super().datastore_update(context, device_id)


class _Context:
    """What pymodbus' request handler calls (the SimCore interface): reads and writes by unit id."""

    def __init__(self, ep: ModbusEndpoint) -> None:
        self.ep = ep
        self.gw = ep.gateway
        self.by_unit = {d.unit_id: d for d in ep.devices}
        self.single = ep.devices[0] if ep.layout == "per-device" else None
        self._coil_echo: list[bool] = []

    def device_ids(self) -> list[int]:
        return list(self.by_unit)

    def _device(self, device_id: int) -> Device | ExcCodes:
        if self.single is not None:
            return self.single
        dev = self.by_unit.get(device_id)
        if dev is not None:
            return dev
        if self.ep.unknown_unit == "silent":
            raise NoSuchIdException(f"unit id {device_id}")  # the server drops the request
        if self.ep.unknown_unit == "device_failure":
            return ExcCodes.DEVICE_FAILURE
        return ExcCodes.GATEWAY_NO_RESPONSE

    def check_read(self, device_id: int, address: int, count: int) -> ExcCodes | None:
        dev = self._device(device_id)
        if isinstance(dev, ExcCodes):
            return dev
        return None if self.gw.read_registers(dev, address, count) is not None else ExcCodes.ILLEGAL_ADDRESS

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        dev = self._device(device_id)
        if isinstance(dev, ExcCodes):
            return dev
        try:
            if func_code in _REG_READ:
                regs = self.gw.read_registers(dev, address, count)
                return ExcCodes.ILLEGAL_ADDRESS if regs is None else regs
            if func_code == 5:  # the echo of a single-coil write
                return list(self._coil_echo) if self._coil_echo else ExcCodes.ILLEGAL_ADDRESS
            if func_code == 1:
                return self._read_coils(dev, address, count)
            if func_code == 2:
                return self._read_inputs(dev, address, count)
            return ExcCodes.ILLEGAL_FUNCTION
        except Exception:
            log.exception("modbus read fc%d unit %d @%d+%d failed", func_code, device_id, address, count)
            return ExcCodes.DEVICE_FAILURE

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Sequence[int] | Sequence[bool]
    ) -> ExcCodes | None:
        dev = self._device(device_id)
        if isinstance(dev, ExcCodes):
            return dev
        try:
            if func_code in _REG_WRITE:
                status = self.gw.write_registers(dev, address, [int(v) for v in values])
                return _WRITE_CODES.get(status)
            if func_code in (5, 15):
                rc = self._write_coils(dev, address, [bool(v) for v in values])
                self._coil_echo = [bool(v) for v in values][:1] if rc is None else []
                return rc
            return ExcCodes.ILLEGAL_FUNCTION
        except Exception:
            log.exception("modbus write fc%d unit %d @%d failed", func_code, device_id, address)
            return ExcCodes.DEVICE_FAILURE

    # -- the coil table -------------------------------------------------------------------
    def _coils(self, dev: Device) -> list[str]:
        cmds = dev.group.behaviour.commands
        coils: list[str] = []
        if "start" in cmds and "stop" in cmds:
            coils.append("run")
            if "alarm_reset" in cmds:
                coils.append("alarm_reset")
        return coils

    def _read_coils(self, dev: Device, address: int, count: int) -> list[bool] | ExcCodes:
        coils = self._coils(dev)
        if address < 0 or count < 1 or address + count > len(coils):
            return ExcCodes.ILLEGAL_ADDRESS
        out: list[bool] = []
        for name in coils[address : address + count]:
            if name == "run":
                p = dev.group.by_key.get("701.InvSt")
                v = dev.value(p) if p is not None else None
                out.append(v in _RUNNING)
            else:
                out.append(False)
        return out

    def _write_coils(self, dev: Device, address: int, bits: list[bool]) -> ExcCodes | None:
        coils = self._coils(dev)
        if address < 0 or not bits or address + len(bits) > len(coils):
            return ExcCodes.ILLEGAL_ADDRESS
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
                return _WRITE_CODES.get(status, ExcCodes.ILLEGAL_VALUE)
        return None

    def _read_inputs(self, dev: Device, address: int, count: int) -> list[bool] | ExcCodes:
        p = next((dev.group.by_key[k] for k in _ALARM_POINTS if k in dev.group.by_key), None)
        if p is None or address < 0 or count < 1 or address + count > 16 * p.words:
            return ExcCodes.ILLEGAL_ADDRESS
        v = dev.value(p)
        bits = int(v) if isinstance(v, int | float) else 0
        return [bool((bits >> k) & 1) for k in range(address, address + count)]


class ModbusEndpoint:
    """A Modbus TCP server for some of a gateway's devices, on the running event loop.

    ``async with ModbusEndpoint(gw, gw.devices, port=0) as ep:`` serves them; ``ep.port`` is the
    port actually bound (port 0 picks a free one)."""

    def __init__(
        self,
        gateway: Gateway,
        devices: Sequence[Device] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        layout: str = "gateway",
        unknown_unit: str = "gateway_no_response",
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
        self.host = host
        self.port = port
        self.layout = layout
        self.unknown_unit = unknown_unit
        self._server: _Server | None = None
        self._listener: Any = None
        self._unit_faults: dict[int, UnitFault] = {}
        self._single_unit = self.devices[0].unit_id if layout == "per-device" else None
        self._delayed: set[asyncio.Task[Any]] = set()  # requests being held back (delay_s)

    @property
    def url(self) -> str:
        return f"modbus://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Bind and start serving (returns once listening). OSError if the port is taken."""
        if self._server is not None:
            raise RuntimeError("already started")
        # pymodbus wants a datastore at construction; ours replaces it before the first request.
        dummy = SimDevice(id=0, simdata=[SimData(0, values=0, datatype=DataType.REGISTERS)])
        server = _Server(
            self,
            dummy,
            address=(self.host, self.port),
            ignore_missing_devices=self.unknown_unit == "silent",
            custom_pdu=[_ReadWrite],
        )
        server.context = _Context(self)  # type: ignore[assignment]
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus logs the OSError and reports "could not listen"
            await server.shutdown()
            _forget(server)
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc}") from None
        self._server = server
        self._listener = server.transport
        sockets = getattr(self._listener, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listener and every client connection. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        listener, self._listener = self._listener, None
        for task in list(self._delayed):
            task.cancel()
        self._delayed.clear()
        await server.shutdown()
        if listener is not None and hasattr(listener, "wait_closed"):
            await listener.wait_closed()
        _forget(server)

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
        handlers = list(server.active_connections.values())
        for h in handlers:
            abort = getattr(h.transport, "abort", None)
            if abort is not None:
                abort()  # now, without flushing what is queued
            h.close()  # pymodbus' bookkeeping: forgets the connection
        log.info("fault: modbus %s dropped %d client connection(s)", self.url, len(handlers))
        return len(handlers)

    async def __aenter__(self) -> ModbusEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _forget(server: ModbusTcpServer) -> None:
    if ModbusBaseServer.active_server is server:
        ModbusBaseServer.active_server = None
