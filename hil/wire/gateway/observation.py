"""Observation faults: what every protocol reads is faulted, the twin never is.

Applied at the end of each encode, after the normal encoding, so they cost nothing while
none is active: a device's registers frozen (:meth:`ObservationFaults.freeze`), one point
stuck or biased (:meth:`ObservationFaults.set_override`). Writes to a faulted device still
take the normal write path; only what is read back is faulted (:meth:`_refault`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from hil.errors import did_you_mean
from hil.wire.gateway.layout import Device, KindGroup, PointInstance
from hil.wire.sunspec import decode_words, encode_value
from twin.site import Snapshot

_log = logging.getLogger("hil.wire.gateway")  # the gateway's one logger


@dataclass
class _Override:
    """A stuck or biased point (see :meth:`Gateway.set_override`)."""

    point: PointInstance
    sf: int
    dynamic: bool  # re-encoded every tick (else its true words never change by themselves)
    true: np.ndarray  # the point's words as the twin would have them encoded
    stuck: np.ndarray | None  # the words served instead (stuck); None: biased
    gain: float = 1.0
    offset: float = 0.0


class ObservationFaults:
    """The gateway's observation faults (the base of :class:`hil.wire.gateway.Gateway`, which
    sets ``by_name``, ``groups`` and ``snapshot``)."""

    by_name: dict[str, Device]
    groups: dict[str, KindGroup]
    snapshot: Snapshot

    def __init__(self) -> None:
        self._frozen: dict[str, np.ndarray] = {}  # device name -> the row it froze with
        self._overrides: dict[str, dict[str, _Override]] = {}  # device name -> point key -> fault

    def freeze(self, device: Device | str) -> None:
        """Stop updating ``device``'s registers: every protocol reads the values of the tick it
        froze on (heartbeats included) while the twin runs on. Writes are still validated and
        applied to the twin, but their readback stays frozen too. Freezing twice keeps the
        first frozen values."""
        dev = self._device(device)
        if dev.name in self._frozen:
            return
        self._frozen[dev.name] = dev.regs.copy()
        _log.info("fault: %s registers frozen at t=%.3f s", dev.name, self.snapshot.t)

    def unfreeze(self, device: Device | str) -> None:
        """Undo :meth:`freeze`: the device serves current values again from the next encode
        (the next tick). No-op if it is not frozen."""
        dev = self._device(device)
        if self._frozen.pop(dev.name, None) is not None:
            _log.info("fault: %s registers unfrozen at t=%.3f s", dev.name, self.snapshot.t)

    def frozen(self, device: Device | str) -> bool:
        return self._device(device).name in self._frozen

    def set_override(
        self,
        device: Device | str,
        key: str,
        *,
        value: float | str | None = None,
        offset: float = 0.0,
        gain: float = 1.0,
    ) -> None:
        """A faulty sensor on one point (``"701.W"``), in engineering units before encoding:

        * ``value=v``: stuck at ``v`` (NaN: reads as SunSpec not-implemented);
        * ``value=None`` with ``offset=0, gain=1``: stuck at the value it reads now;
        * otherwise biased: reads ``true * gain + offset``, requantised with the point's scale
          factor and saturated to its type like any value; a not-implemented value stays so.

        A stuck *register* is the same fault at point granularity: override the point that owns
        the register. Only what protocols read is affected, never the twin; writes to the point
        still take the normal path. Replaces an override already on the point. ValueError for
        an unknown point (with a did-you-mean), a scale factor point, a bias on a string, or
        ``value`` together with ``offset``/``gain``."""
        dev = self._device(device)
        p = dev.group.by_key.get(key)
        if p is None:
            did = did_you_mean(key, list(dev.group.by_key))
            raise ValueError(f"{dev.name} has no point {key!r}{did}")
        t = p.pdef.type
        if t in ("sunssf", "pad"):
            raise ValueError(f"{dev.name} {key} is a {t} point; override the points it scales or pads")
        gain, offset = float(gain), float(offset)
        if not (math.isfinite(gain) and math.isfinite(offset)):
            raise ValueError(f"override of {dev.name} {key}: gain and offset must be finite")
        biased = gain != 1.0 or offset != 0.0
        if value is not None and biased:
            raise ValueError(f"override of {dev.name} {key}: give either value or offset/gain, not both")
        if biased and t == "string":
            raise ValueError(f"{dev.name} {key} is a string; it can be stuck, not biased")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and t != "string" and not number:
            raise ValueError(f"override of {dev.name} {key}: value must be a number, not {value!r}")
        sl = slice(p.offset, p.offset + p.words)
        served = dev.regs[sl].copy()  # what protocols read now (may already be faulted)
        ovs = self._overrides.setdefault(dev.name, {})
        prev = ovs.get(key)
        dynamic = p.binding is not None and p.binding.kind != "const" and t != "string"
        ov = _Override(
            point=p,
            sf=dev.sf_of(p),
            dynamic=dynamic,
            true=prev.true.copy() if prev is not None else served.copy(),
            stuck=None,
            gain=gain,
            offset=offset,
        )
        if value is not None:
            ov.stuck = np.asarray(encode_value(value, t, p.pdef.size, ov.sf), dtype=np.uint16)
        elif not biased:
            ov.stuck = served
        ovs[key] = ov
        if dev.name not in self._frozen:
            self._serve_override(dev, ov, refresh=False)
        what = (
            f"stuck at {value!r}"
            if value is not None
            else f"biased x{gain:g} {offset:+g}"
            if biased
            else f"stuck at {decode_words(tuple(served.tolist()), t, ov.sf)!r}"
        )
        _log.info("fault: %s %s %s at t=%.3f s", dev.name, key, what, self.snapshot.t)

    def clear_override(self, device: Device | str, key: str) -> None:
        """Undo :meth:`set_override`: the point reads its true value again at once (the value
        of the last encode; unless the device is frozen). No-op without an override."""
        dev = self._device(device)
        ovs = self._overrides.get(dev.name)
        ov = ovs.pop(key, None) if ovs else None
        if ov is None:
            return
        if not ovs:
            del self._overrides[dev.name]
        if dev.name not in self._frozen:
            p = ov.point
            dev.regs[p.offset : p.offset + p.words] = ov.true
        _log.info("fault: %s %s override cleared at t=%.3f s", dev.name, key, self.snapshot.t)

    def overrides(self, device: Device | str) -> list[str]:
        """The keys of the points of ``device`` that are overridden."""
        return list(self._overrides.get(self._device(device).name, ()))

    def _device(self, device: Device | str) -> Device:
        name = device if isinstance(device, str) else device.name
        dev = self.by_name.get(name)
        if dev is None or (not isinstance(device, str) and dev is not device):
            did = did_you_mean(name, list(self.by_name))
            raise ValueError(f"no device {name!r} in this gateway{did}")
        return dev

    def _serve_faults(self) -> None:
        """After an encode: overridden points, then frozen rows (only while any fault is set)."""
        for name, ovs in self._overrides.items():
            dev = self.by_name[name]
            for ov in ovs.values():
                self._serve_override(dev, ov, refresh=True)
        for name, row in self._frozen.items():
            self.by_name[name].regs[:] = row

    def _serve_override(self, dev: Device, ov: _Override, *, refresh: bool) -> None:
        p = ov.point
        sl = slice(p.offset, p.offset + p.words)
        regs = dev.regs
        if refresh and ov.dynamic:  # freshly encoded (or just written) true value
            ov.true[:] = regs[sl]
        if ov.stuck is not None:
            regs[sl] = ov.stuck
            return
        v = decode_words(tuple(ov.true.tolist()), p.pdef.type, ov.sf)
        if v is None or isinstance(v, str):  # not implemented stays not implemented
            regs[sl] = ov.true
            return
        regs[sl] = encode_value(v * ov.gain + ov.offset, p.pdef.type, p.pdef.size, ov.sf)

    def _refault(self, dev: Device, p: PointInstance) -> None:
        """After a write put a point's new value in the image: fault its readback again."""
        ovs = self._overrides.get(dev.name)
        ov = ovs.get(p.key) if ovs else None
        if ov is not None:
            ov.true[:] = dev.regs[p.offset : p.offset + p.words]
            self._serve_override(dev, ov, refresh=False)
        row = self._frozen.get(dev.name)
        if row is not None:
            dev.regs[p.offset : p.offset + p.words] = row[p.offset : p.offset + p.words]
