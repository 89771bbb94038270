"""The reference EMS over Modbus TCP: :class:`ModbusIO` (the only module of :mod:`hil.ems`
that imports pymodbus; its client API is that of the pinned 3.16: ``device_id=``).

What it does, as a vendor EMS does against any SunSpec device:

* **discovery**: for each unit id (the ``unit_map`` given, else a scan of ``scan_units``) it
  reads the ``SunS`` marker at 40000 (then 0, 50000: pysunspec2's probe order), walks the model
  chain by each model's ID and length up to ``0xFFFF``, and classifies the unit by its models:
  802 + 704 = battery PCS, 203/213 = meter, 64902 = utility gateway, 64900 = site totals;
* **decoding**: point offsets, types and scale factors come from the same SunSpec model JSON
  the server is generated from (:func:`hil.wire.sunspec.model_def`, :func:`hil.wire.sunspec.decode_words`),
  never typed by hand; only top-level points of the models are read (repeating groups are not
  needed). The points of one poll are read in as few requests as the gaps allow (≤ 125
  registers each); scale factors are read at discovery and every ``sf_refresh`` polls;
* **writes**: one request per point (FC06 for one register, FC16 for more), encoded with the
  point's scale factor; start/stop is 715 ``OpCtl``; alarm reset 715 ``AlarmReset`` and 802
  ``AlmRst``; the heartbeat 802 ``CtrlHb`` (715 ``ControllerHb`` without 802).

With ``follow_clock`` the EMS clock follows the first PCS's 715 ``DERHb`` (on the bench:
simulated seconds since the run started), so a bench that cannot keep its pacing does not
put the EMS's 15-minute windows out of step with the meter's.

A unit that answers with an exception or times out reads as not served for that poll;
:meth:`ModbusIO.read` raises :class:`TransportError` when the connection is down or the meter
(or site totals) cannot be read, and the control loop skips that period. A write whose
request fails with the link down (a timeout closes it) raises :class:`TransportError` too:
the period is cut short and counted as such, not as refused writes, and the next read
reconnects, as a field EMS does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from hil.wire.sunspec import SUNS_MARKER, PointDef, decode_words, encode_value, model_def

from .io import EmsClock, TransportError, WriteTally
from .readings import PCS_POINTS, SITE_POINTS, Commands, PcsReading, Readings

__all__ = ["ModbusIO", "TransportError", "UnitInfo", "parse_unit_map"]

log = logging.getLogger(__name__)

_BASES = (40000, 0, 50000)
_MAX_REGS = 125
_GAP = 48  # read across gaps up to this many registers rather than send another request
_COMMANDS = {"start": ("715.OpCtl", 1.0), "stop": ("715.OpCtl", 0.0)}


@dataclass(frozen=True)
class _Point:
    key: str
    address: int
    pdef: PointDef
    sf_key: str | None
    sf_const: int


@dataclass
class UnitInfo:
    """One discovered unit: its id, kind, model chain and the points it serves by key."""

    unit_id: int
    kind: str
    models: list[int]
    points: dict[str, _Point] = field(default_factory=dict)
    spans: list[tuple[int, int, list[_Point]]] = field(default_factory=list)
    sf: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}@{self.unit_id}"


@cache
def _layout(model_id: int) -> dict[str, tuple[int, PointDef]]:
    """Top-level points of a model: name -> (offset from the model's ID register, definition)."""
    out: dict[str, tuple[int, PointDef]] = {}
    off = 0
    for p in model_def(model_id).group.points:
        out[p.name] = (off, p)
        off += p.size
    return out


def _classify(models: Sequence[int]) -> str:
    m = set(models)
    if 802 in m and 704 in m:
        return "bess"
    if m & {201, 202, 203, 204, 211, 212, 213, 214}:
        return "meter"
    if 64902 in m:
        return "utility"
    if 64900 in m:
        return "site"
    return "other"


def parse_unit_map(text: str | None) -> dict[str, list[int]] | None:
    """``"meter=1,utility=2,site=3,bess=10-25"`` -> ``{"meter": [1], ..., "bess": [10..25]}``."""
    if not text:
        return None
    out: dict[str, list[int]] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        kind, sep, ids = part.partition("=")
        if not sep or kind not in ("meter", "utility", "site", "bess"):
            raise ValueError(f"unit map entry {part!r}: expected meter|utility|site|bess=<ids>")
        for rng in ids.split("+"):
            a, _, b = rng.partition("-")
            lo, hi = int(a), int(b or a)
            if not (0 <= lo <= hi <= 247):
                raise ValueError(f"unit map entry {part!r}: unit ids are 0..247")
            out.setdefault(kind, []).extend(range(lo, hi + 1))
    return out


class ModbusIO:
    """Modbus TCP transport for the reference EMS (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: EmsClock,
        unit_map: dict[str, list[int]] | None = None,
        scan_units: Iterable[int] = range(1, 248),
        timeout_s: float = 2.0,
        sf_refresh: int = 60,
        follow_clock: bool = False,
    ) -> None:
        self.host, self.port = host, int(port)
        self.clock = clock
        self.unit_map = unit_map
        self.scan_units = list(scan_units)
        self.timeout_s = float(timeout_s)
        self.sf_refresh = int(sf_refresh)
        self.follow_clock = follow_clock
        self.clock_resyncs = 0
        self.client = AsyncModbusTcpClient(host, port=self.port, timeout=self.timeout_s, retries=0)
        self.units: list[UnitInfo] = []
        self.tally = WriteTally()
        self.requests = 0
        self._polls = 0
        self._errors: set[tuple[int, int]] = set()
        self._scanning = False

    # -- connection and discovery ----------------------------------------------------------
    async def connect(self, *, attempts: int = 5) -> None:
        """Connect (retrying ``attempts`` times, a second apart) and discover the units."""
        for k in range(attempts):
            if await self.client.connect():
                break
            log.warning("ems: cannot connect to %s:%d (attempt %d/%d)", self.host, self.port, k + 1, attempts)
            if k + 1 < attempts:
                await asyncio.sleep(1.0)
        else:
            raise TransportError(f"cannot connect to {self.host}:{self.port}")
        await self.discover()

    async def close(self) -> None:
        self.client.close()

    async def _read(self, unit: int, address: int, count: int) -> list[int] | None:
        self.requests += 1
        try:
            r = await self.client.read_holding_registers(address, count=count, device_id=unit)
        except ModbusException as exc:
            if not self.client.connected:
                raise TransportError(f"{self.host}:{self.port}: {exc}") from None
            self._note_error(unit, address, str(exc))
            return None
        if r.isError():
            self._note_error(unit, address, f"exception {getattr(r, 'exception_code', '?')}")
            return None
        return list(r.registers)

    def _note_error(self, unit: int, address: int, what: str) -> None:
        if self._scanning:
            return  # probing unit ids: most of them are not there
        if (unit, address) not in self._errors and len(self._errors) < 10_000:
            self._errors.add((unit, address))
            log.warning("ems: unit %d read at %d failed: %s", unit, address, what)

    async def _walk(self, unit: int) -> UnitInfo | None:
        """The unit's SunSpec chain, or None if it has none."""
        for base in _BASES:
            regs = await self._read(unit, base, 2)
            if regs is None or tuple(regs) != SUNS_MARKER:
                continue
            addr = base + 2
            models: list[int] = []
            info = UnitInfo(unit, "other", models)
            for _ in range(64):
                hdr = await self._read(unit, addr, 2)
                if hdr is None or hdr[0] == 0xFFFF:
                    break
                mid, length = hdr
                models.append(mid)
                try:
                    layout = _layout(mid)
                except KeyError:
                    layout = {}  # a model we have no definition of: skipped by its length
                for name, (off, pdef) in layout.items():
                    key = f"{mid}.{name}"
                    if key in info.points or pdef.type == "pad":
                        continue  # a repeated model (804 × n): the first instance only
                    sf = pdef.sf
                    info.points[key] = _Point(
                        key,
                        addr + off,
                        pdef,
                        f"{mid}.{sf}" if isinstance(sf, str) else None,
                        int(sf) if isinstance(sf, int) else 0,
                    )
                addr += 2 + length
            info.kind = _classify(models)
            return info
        return None

    async def discover(self) -> list[UnitInfo]:
        """Find the units (unit map or scan), walk their chains, plan the reads."""
        if self.unit_map is not None:
            wanted = [(k, u) for k, ids in self.unit_map.items() for u in ids]
        else:
            wanted = [("", u) for u in self.scan_units]
        found: list[UnitInfo] = []
        self._scanning = self.unit_map is None
        for kind, unit in wanted:
            info = await self._walk(unit)
            if info is None:
                if kind:
                    log.warning("ems: unit %d (%s) has no SunSpec map", unit, kind)
                continue
            if kind and info.kind != kind:
                log.warning("ems: unit %d is a %s by its models, mapped as %s", unit, info.kind, kind)
                info.kind = kind
            if info.kind == "other":
                continue
            keys = PCS_POINTS if info.kind == "bess" else SITE_POINTS.get(info.kind, ())
            self._plan(info, keys)
            found.append(info)
        self._scanning = False
        self.units = found
        await self._read_sfs()
        kinds: dict[str, int] = {}
        for u in found:
            kinds[u.kind] = kinds.get(u.kind, 0) + 1
        log.info("ems: discovered %s on %s:%d", kinds, self.host, self.port)
        return found

    @staticmethod
    def _plan(info: UnitInfo, keys: Sequence[str]) -> None:
        pts = sorted((info.points[k] for k in keys if k in info.points), key=lambda p: p.address)
        spans: list[tuple[int, int, list[_Point]]] = []
        for p in pts:
            end = p.address + p.pdef.size
            if spans:
                a, b, members = spans[-1]
                if p.address - b <= _GAP and end - a <= _MAX_REGS:
                    spans[-1] = (a, max(b, end), [*members, p])
                    continue
            spans.append((p.address, end, [p]))
        info.spans = spans

    async def _read_sfs(self) -> None:
        for u in self.units:
            keys = {p.sf_key for _, _, ms in u.spans for p in ms if p.sf_key is not None}
            for key in keys:
                p = u.points.get(key)
                if p is None:
                    continue
                regs = await self._read(u.unit_id, p.address, 1)
                v = None if regs is None else decode_words(regs, "sunssf")
                if isinstance(v, int):
                    u.sf[key] = v

    # -- reads ----------------------------------------------------------------------------
    def _decode(self, u: UnitInfo, p: _Point, regs: list[int]) -> float | None:
        sf = u.sf.get(p.sf_key, 0) if p.sf_key is not None else p.sf_const
        if p.sf_key is not None and p.sf_key not in u.sf:
            return None  # scale factor not implemented: the value cannot be read
        v = decode_words(regs, p.pdef.type, sf)
        if v is None and p.pdef.type.startswith("acc"):
            v = 0.0  # an accumulator's 0 is its not-implemented value, and a true reading
        return float(v) if isinstance(v, int | float) else None

    async def _read_unit(self, u: UnitInfo) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for a, b, members in u.spans:
            regs = await self._read(u.unit_id, a, b - a)
            for p in members:
                if regs is None:
                    out[p.key] = None
                    continue
                k = p.address - a
                out[p.key] = self._decode(u, p, regs[k : k + p.pdef.size])
        return out

    async def read(self) -> Readings:
        if not self.client.connected and not await self.client.connect():
            raise TransportError(f"{self.host}:{self.port}: not connected")
        self._polls += 1
        if self.sf_refresh and self._polls % self.sf_refresh == 0:
            await self._read_sfs()
        site: dict[str, float | None] = {}
        pcs: list[PcsReading] = []
        for u in self.units:
            vals = await self._read_unit(u)
            if u.kind == "bess":
                pcs.append(PcsReading(u.name, vals))
            else:
                for k, v in vals.items():
                    if v is not None or k not in site:
                        site[k] = v
        if self.follow_clock and pcs:
            self._follow(pcs[0].get("715.DERHb"))
        if site.get("203.W") is None and site.get("64900.GridW") is None:
            raise TransportError("neither the meter (203.W) nor the site totals (64900.GridW) could be read")
        return Readings(t_s=self.clock.t_s(), local_s=self.clock.local_s(), site=site, pcs=tuple(pcs))

    def _follow(self, elapsed: float | None) -> None:
        """Keep the EMS clock on the device's seconds counter (whole seconds): a bench that
        falls behind its pacing drags the EMS clock with it."""
        if elapsed is None:
            return
        drift = self.clock.t_s() - elapsed
        if drift > 1.5 or drift < -0.5:
            self.clock.sync(elapsed + 0.5)
            self.clock_resyncs += 1

    async def elapsed_s(self) -> float | None:
        """A served seconds counter (715 ``DERHb`` of the first PCS): on the bench, simulated
        seconds since the run started. None if not served."""
        for u in self.units:
            p = u.points.get("715.DERHb")
            if u.kind == "bess" and p is not None:
                regs = await self._read(u.unit_id, p.address, p.pdef.size)
                v = None if regs is None else decode_words(regs, p.pdef.type)
                return float(v) if isinstance(v, int | float) else None
        return None

    # -- writes ---------------------------------------------------------------------------
    async def _write(self, u: UnitInfo, key: str, value: float) -> bool:
        p = u.points.get(key)
        if p is None:
            return False
        sf = u.sf.get(p.sf_key, 0) if p.sf_key is not None else p.sf_const
        words = encode_value(value, p.pdef.type, p.pdef.size, sf)
        self.requests += 1
        try:
            if len(words) == 1:
                r = await self.client.write_register(p.address, words[0], device_id=u.unit_id)
            else:
                r = await self.client.write_registers(p.address, words, device_id=u.unit_id)
        except ModbusException as exc:
            if not self.client.connected:  # the link is down (a timeout closes it): not a refusal
                raise TransportError(f"{self.host}:{self.port}: {exc}") from None
            return self.tally.count(u.name, key, False, str(exc))
        ok = not r.isError()
        return self.tally.count(
            u.name, key, ok, "" if ok else f"exception {getattr(r, 'exception_code', '?')}"
        )

    async def write(self, cmds: Commands) -> None:
        by_name = {u.name: u for u in self.units}
        for c in cmds.pcs:
            u = by_name.get(c.name)
            if u is None:
                continue
            for key, value in c.config.items():
                await self._write(u, key, value)
            if c.alarm_reset:
                await self._write(u, "715.AlarmReset", 1)
            if c.bms_alarm_reset:
                await self._write(u, "802.AlmRst", 1)
            if c.op is not None:
                key, value = _COMMANDS[c.op]
                await self._write(u, key, value)
            if c.heartbeat is not None:
                await self._write(
                    u, "802.CtrlHb" if "802.CtrlHb" in u.points else "715.ControllerHb", c.heartbeat
                )
            if c.wset_w is not None:
                await self._write(u, "704.WSet", c.wset_w)
        if cmds.dr_ack is not None:
            for u in self.units:
                if u.kind == "utility":
                    await self._write(u, "64902.DRAck", cmds.dr_ack)
