"""The stand-in EMS's side of the wire (:class:`PointClient`): find a point by its SunSpec key,
read its decoded value, write it, run a command, write a setting only when its read-back
differs, and count the writes accepted and refused.

It reads only what a wire client could read (the registers the last tick encoded, or a
period's batch read of them, :attr:`PointClient._cached`) and writes only through
:meth:`Gateway.write_value` and :meth:`Gateway.command`, so everything the stand-in does is in
the gateway's write log and would work unchanged over Modbus or OPC UA.
"""

from __future__ import annotations

import logging

from hil.wire.gateway import Device, Gateway, PointInstance, WriteStatus

__all__ = ["PointClient"]

log = logging.getLogger("hil.ems.standin")


class PointClient:
    """Reads and writes of the devices' points by SunSpec key, with the write tally."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.writes = 0
        self.rejected = 0
        self._pts: dict[tuple[str, str], PointInstance | None] = {}
        # a period's batch read, {device: {key: value}} (StandIn._act); None between periods
        self._cached: dict[str, dict[str, float | None]] | None = None
        self._warned: set[tuple[str, str, str]] = set()

    def _pt(self, dev: Device, key: str) -> PointInstance | None:
        k = (dev.group.kind, key)
        if k not in self._pts:
            self._pts[k] = dev.group.by_key.get(key)
        return self._pts[k]

    def _read(self, dev: Device, key: str) -> float | None:
        """The engineering value a client reads; None if absent or not implemented."""
        if self._cached is not None:
            vals = self._cached.get(dev.name)
            if vals is not None and key in vals:
                return vals[key]
        p = self._pt(dev, key)
        if p is None:
            return None
        v = dev.value(p)
        return float(v) if isinstance(v, int | float) else None

    def _write(self, dev: Device, key: str, value: float) -> bool:
        if self._pt(dev, key) is None:
            return False
        self._forget(dev, key)
        return self._count(dev, key, self.gw.write_value(dev, key, value))

    def _command(self, dev: Device, name: str) -> bool:
        spec = dev.group.behaviour.commands.get(name)
        if spec is not None:
            self._forget(dev, spec[0])
        return self._count(dev, name, self.gw.command(dev, name))

    def _forget(self, dev: Device, key: str) -> None:
        """A write changes what its point reads back (its own registers only: the others
        change at the next encode): that point's batch-read value is stale."""
        if self._cached is not None:
            vals = self._cached.get(dev.name)
            if vals is not None:
                vals.pop(key, None)

    def _count(self, dev: Device, what: str, status: WriteStatus) -> bool:
        if status is WriteStatus.OK:
            self.writes += 1
            return True
        self.rejected += 1
        key = (dev.name, what, status.value)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("standin: write %s %s refused: %s", dev.name, what, status.value)
        return False

    def _ensure(self, dev: Device, key: str, value: float) -> None:
        """Write a configuration point only when its read-back differs (the device may have
        reverted it, or someone else changed it)."""
        cur = self._read(dev, key)
        if cur is None and self._pt(dev, key) is None:
            return
        if cur is None or abs(cur - value) > 1e-6:
            self._write(dev, key, value)
