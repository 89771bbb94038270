"""Transports for the reference EMS: the :class:`PointIO` interface, the in-process
:class:`GatewayIO`, the EMS clock and the async control loop :func:`run_ems`.

A transport reads one :class:`~hil.ems.readings.Readings` per period and writes one
:class:`~hil.ems.readings.Commands`; it finds the devices by kind (the battery PCSs, the
meter, the utility gateway, the site totals) and decodes points by their SunSpec keys
(``"701.W"``), so the decision core never sees an address. :class:`GatewayIO` reads what the
last tick encoded and writes through :meth:`Gateway.write_value` / :meth:`Gateway.command`,
exactly the path a wire client's writes take; :class:`hil.ems.modbus_io.ModbusIO` does the
same over Modbus TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hil.wire.gateway import Device, Gateway, WriteStatus

from ..errors import TransportError
from .batch_read import BatchReader
from .readings import PCS_POINTS, SITE_POINTS, Commands, PcsReading, Readings

__all__ = ["EmsClock", "EmsLog", "GatewayIO", "PointIO", "TransportError", "WriteTally", "run_ems"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1)


class PointIO(Protocol):
    """What the reference EMS needs from a transport."""

    async def read(self) -> Readings: ...

    async def write(self, cmds: Commands) -> None: ...

    async def close(self) -> None: ...


@dataclass
class WriteTally:
    """Writes made and refused, by point (refusals are logged once per device and point)."""

    ok: int = 0
    refused: int = 0
    by_point: dict[str, int] = field(default_factory=dict)
    _warned: set[tuple[str, str]] = field(default_factory=set)

    def count(self, device: str, what: str, accepted: bool, why: str = "") -> bool:
        if accepted:
            self.ok += 1
            self.by_point[what] = self.by_point.get(what, 0) + 1
            return True
        self.refused += 1
        if (device, what) not in self._warned:
            self._warned.add((device, what))
            log.warning("ems: write %s %s refused%s", device, what, f": {why}" if why else "")
        return False


class EmsClock:
    """The EMS's own clock: local wall time ``start`` (ISO, naive local) advanced at ``speed``
    × the wall clock from when it was made (or the host's local time now if ``start`` is None).
    Against a bench paced at N× real time, give the bench's start and ``speed=N``;
    :meth:`sync` moves it onto a device's seconds counter (715 ``DERHb``)."""

    def __init__(
        self, start: str | None = None, *, speed: float = 1.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self._now = now
        base = datetime.fromisoformat(start) if start is not None else datetime.now()
        self.start_local_s = (base - _EPOCH).total_seconds()
        self._m0 = now()
        self._offset = 0.0

    def t_s(self) -> float:
        """Seconds of EMS time since the clock started (or since :meth:`sync`'s reference)."""
        return (self._now() - self._m0) * self.speed + self._offset

    def local_s(self) -> float:
        return self.start_local_s + self.t_s()

    def sync(self, elapsed_s: float) -> None:
        """Make :meth:`t_s` read ``elapsed_s`` now (e.g. a bench's seconds since its start)."""
        self._m0 = self._now()
        self._offset = float(elapsed_s)


class GatewayIO:
    """In-process transport: decoded register values from a :class:`Gateway`, writes through
    its write path. ``t_s`` and local time come from the site's clock (``clock=None``) or an
    :class:`EmsClock`. The synchronous :meth:`read_now` / :meth:`write_now` are what the
    scenario controller calls at tick boundaries; the async ones satisfy :class:`PointIO`."""

    def __init__(self, gateway: Gateway, *, clock: EmsClock | None = None) -> None:
        self.gw = gateway
        self.clock = clock
        by_kind: dict[str, list[Device]] = {}
        for d in gateway.devices:
            by_kind.setdefault(d.kind, []).append(d)
        self.pcs = by_kind.get("bess", [])
        if self.pcs and "704.WSet" not in self.pcs[0].group.by_key:
            raise ValueError(
                "the reference EMS drives battery PCSs through SunSpec 704; the legacy personality "
                "(models 120-124) is not supported"
            )
        self.site_devs = {k: next(iter(by_kind.get(k, [])), None) for k in SITE_POINTS}
        self.tally = WriteTally()
        self._t0 = gateway.site.t
        # every period's reads, compiled once: the PCSs in one batch, each site device in one
        self._site_readers = [
            BatchReader([d], SITE_POINTS[k]) for k, d in self.site_devs.items() if d is not None
        ]
        self._pcs_reader = BatchReader(self.pcs, PCS_POINTS) if self.pcs else None

    # -- reads ----------------------------------------------------------------------------
    def read_now(self) -> Readings:
        site: dict[str, float | None] = {}
        for reader in self._site_readers:
            site.update(reader.read()[0])
        values = self._pcs_reader.read() if self._pcs_reader is not None else []
        pcs = tuple(PcsReading(d.name, v) for d, v in zip(self.pcs, values, strict=True))
        if self.clock is not None:
            t, local = self.clock.t_s(), self.clock.local_s()
        else:
            site_ = self.gw.site
            t = site_.t - self._t0
            local = site_.clock.local_time_s(site_.t)
        return Readings(t_s=t, local_s=local, site=site, pcs=pcs)

    # -- writes ---------------------------------------------------------------------------
    def _write(self, dev: Device, key: str, value: float) -> bool:
        if key not in dev.group.by_key:
            return False
        st = self.gw.write_value(dev, key, value)
        return self.tally.count(dev.name, key, st is WriteStatus.OK, st.value)

    def write_now(self, cmds: Commands) -> None:
        by_name = {d.name: d for d in self.pcs}
        for c in cmds.pcs:
            dev = by_name.get(c.name)
            if dev is None:
                continue
            for key, value in c.config.items():
                self._write(dev, key, value)
            if c.alarm_reset:
                self._write(dev, "715.AlarmReset", 1)
            if c.bms_alarm_reset:
                self._write(dev, "802.AlmRst", 1)
            if c.op is not None:
                st = self.gw.command(dev, c.op)
                self.tally.count(dev.name, c.op, st is WriteStatus.OK, st.value)
            if c.heartbeat is not None:
                key = "802.CtrlHb" if "802.CtrlHb" in dev.group.by_key else "715.ControllerHb"
                self._write(dev, key, c.heartbeat)
            if c.wset_w is not None:
                self._write(dev, "704.WSet", c.wset_w)
        util = self.site_devs["utility"]
        if cmds.dr_ack is not None and util is not None:
            self._write(util, "64902.DRAck", cmds.dr_ack)

    async def read(self) -> Readings:
        return self.read_now()

    async def write(self, cmds: Commands) -> None:
        self.write_now(cmds)

    async def close(self) -> None:
        return None


@dataclass
class EmsLog:
    """What a control loop did: one row of figures per period, and the notes."""

    rows: list[dict[str, float]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)
    periods: int = 0
    overruns: int = 0
    skipped: int = 0
    cut_short: int = 0
    """Periods whose writes stopped part way because the link went down (the next read
    reconnects); a refused write (an exception response) is counted in the tally instead."""

    def add(self, cmds: Commands, *, keep_rows: bool = True) -> None:
        self.periods += 1
        t = cmds.figures.get("t_s", math.nan)
        for n in cmds.notes:
            self.notes.append((t, n))
            log.info("ems t=%.1f s: %s", t, n)
        if keep_rows and len(self.rows) < 1_000_000:
            self.rows.append(dict(cmds.figures))


async def run_ems(
    io: PointIO,
    ems: object,
    *,
    period_s: float,
    duration_s: float | None = None,
    speed: float = 1.0,
    stop: asyncio.Event | None = None,
    on_period: Callable[[Commands], None] | None = None,
) -> EmsLog:
    """Read, decide, write every ``period_s`` of EMS time (``period_s / speed`` of wall time,
    to absolute deadlines) until ``duration_s`` of EMS time or ``stop``. ``ems`` is a
    :class:`~hil.ems.reference.ReferenceEMS` (anything with ``decide(readings)``)."""
    decide = ems.decide  # type: ignore[attr-defined]
    out = EmsLog()
    loop = asyncio.get_running_loop()
    wall_period = period_s / speed
    t0 = loop.time()
    k = 0
    stop = stop or asyncio.Event()
    while not stop.is_set():
        if duration_s is not None and k * period_s >= duration_s - 1e-9:
            break
        try:
            r = await io.read()
        except TransportError as exc:
            out.skipped += 1
            log.warning("ems: %s; period skipped", exc)
        else:
            cmds = decide(r)
            try:
                await io.write(cmds)
            except TransportError as exc:  # the rest of this period's writes are lost
                out.cut_short += 1
                log.warning("ems: %s; the period's remaining writes dropped", exc)
            out.add(cmds)
            if on_period is not None:
                on_period(cmds)
        k += 1
        deadline = t0 + k * wall_period
        now = loop.time()
        if deadline > now:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), deadline - now)
        else:
            out.overruns += 1
            if now - deadline > 10 * wall_period:  # far behind: drop the backlog
                t0 += now - deadline
    return out
