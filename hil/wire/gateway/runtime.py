"""The gateway at run time: the tick (apply the queued writes, step the twin, encode the
registers), reads, validated writes, commands and local control."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from hil.errors import ConfigError, Problem
from hil.wire.devices import BEHAVIOURS
from hil.wire.gateway.encode import EncodePlan
from hil.wire.gateway.layout import Device, KindGroup, PointInstance, WriteStatus, compile_group
from hil.wire.gateway.observation import ObservationFaults
from hil.wire.gateway.writes import WriteSpec
from hil.wire.points import load_point_map
from hil.wire.sunspec import BASE_ADDRESS, decode_words, encode_value
from twin import Site
from twin.site import Snapshot

_log = logging.getLogger("hil.wire.gateway")  # the gateway's one logger

Pending = tuple[str, int, str, int, float]  # (kind, instance, binding path, exp, value)


class Gateway(ObservationFaults):
    """Owns the site, the devices' register images and the write queue."""

    def __init__(
        self,
        site: Site,
        *,
        point_maps: dict[str, str] | None = None,
        unit_ids: dict[str, int] | None = None,
        watchdog_s: float = 10.0,
        legacy: bool = False,
    ) -> None:
        self.site = site
        self.watchdog_s = watchdog_s
        self.endpoint_config: Any = None  # the EndpointConfig it was built from, if any
        self.snapshot: Snapshot = site.snapshot()
        self.pending: list[Pending] = []
        self.on_tick: list[Callable[[Gateway], None]] = []
        self.writes_accepted = 0
        self.writes_rejected = 0
        self.write_log: list[tuple[float, str, str, Any, str]] = []  # t, device, point, value, status
        # t, device, twin input ("pcs[0].p_set_kw"), value, why (a register write, a reversion ...)
        self.input_log: list[tuple[float, str, str, float, str]] = []
        self._boundary = -1  # the tick whose boundary writes were applied last
        self.groups: dict[str, KindGroup] = {}
        self.plans: dict[str, EncodePlan] = {}  # the per-tick encode of each kind
        self._point_plans: dict[tuple[str, frozenset[str]], EncodePlan] = {}  # encode_points
        self._write_specs: dict[tuple[str, str], WriteSpec | None] = {}  # (kind, key): write_value's checks
        self.registers_changed = 0  # registers whose words changed in the encodes so far
        self.devices: list[Device] = []
        super().__init__()  # the observation faults: none
        maps = dict(point_maps or {})
        problems: list[Problem] = []
        for kind, cls in BEHAVIOURS.items():
            behaviour = cls(site, watchdog_s=watchdog_s)
            if behaviour.n == 0:
                continue
            default = f"{kind}_legacy" if legacy and kind == "bess" else kind
            pm = load_point_map(maps.get(kind, default))
            if pm.kind != kind:
                problems.append(
                    pm.problem(("kind",), f"kind {pm.kind!r}, but it is used for {kind!r} devices")
                )
                continue
            try:
                self.groups[kind] = compile_group(pm, behaviour)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(problems)
        ids = dict(unit_ids or {})
        for kind, grp in self.groups.items():
            base = ids.get(kind, grp.behaviour.unit_base)
            for i in range(grp.n):
                self.devices.append(
                    Device(
                        name=grp.behaviour.instance_name(i),
                        area=grp.behaviour.area,
                        kind=kind,
                        index=i,
                        unit_id=base + i,
                        point_map=grp.point_map,
                        group=grp,
                    )
                )
        used: dict[int, str] = {}
        for d in self.devices:
            if d.unit_id in used:
                raise ConfigError(
                    [
                        Problem(
                            "<site>",
                            None,
                            "unit ids",
                            f"{d.name} and {used[d.unit_id]} share unit id {d.unit_id}",
                        )
                    ]
                )
            used[d.unit_id] = d.name
        self.by_unit = {d.unit_id: d for d in self.devices}
        self.by_name = {d.name: d for d in self.devices}
        for grp in self.groups.values():  # the registers' power-on state, once
            grp.behaviour.start(grp.controls)
            self._collect_pushed(grp, self.snapshot.t)
        self._encode_all(first=True)

    @classmethod
    def from_config(cls, site: Site, endpoints: Any) -> Gateway:
        """A gateway as a site file's ``endpoints:`` section describes it."""
        gw = cls(
            site,
            point_maps=endpoints.point_maps,
            unit_ids=endpoints.unit_ids,
            watchdog_s=endpoints.watchdog_s,
            legacy=endpoints.personality == "legacy",
        )
        gw.endpoint_config = endpoints  # the servers' limits and identity (hil.protocols.modbus.endpoint)
        return gw

    # -- per tick -------------------------------------------------------------------------
    def step(self, n: int = 1) -> Snapshot:
        """``n`` ticks of :meth:`apply_writes` then :meth:`advance` (no scenario in between)."""
        for _ in range(n):
            self.apply_writes()
            self.advance()
        return self.snapshot

    def apply_writes(self) -> None:
        """The tick boundary's writes: every write queued since the last boundary, in the order
        received, goes to its registers; then each device pushes the twin inputs of the units
        written (or whose reversion or watchdog fires now) and nothing else.

        The runner calls this before the scenario's actions due at the same boundary, so a
        scenario ``set:`` wins a tie with an EMS write (``docs/design-decisions.md``). Called
        again before :meth:`advance`, it applies what was queued since, without advancing the
        reversion timers a second time."""
        first = self._boundary != self.site.tick
        self._boundary = self.site.tick
        self._apply_pending(self.site.dt if first else 0.0)

    def advance(self) -> Snapshot:
        """Step the twin one tick (applying the boundary's writes first if nobody did), re-encode
        every device and run the :attr:`on_tick` callbacks."""
        if self._boundary != self.site.tick:
            self.apply_writes()
        self.snapshot = self.site.step(1)
        self._encode_all()
        for cb in self.on_tick:
            cb(self)
        return self.snapshot

    # -- a stretch with nothing written (a run advanced in chunks) --------------------------
    @property
    def boundary_done(self) -> bool:
        """This boundary's writes were applied (:meth:`apply_writes`); its tick is not stepped."""
        return self._boundary == self.site.tick

    def idle_horizon(self, times: np.ndarray, *, ahead: bool = False) -> int:
        """How many of the coming tick boundaries (at ``times``, :meth:`boundary_times`) would
        pass with nothing written and nothing pushed to the twin by any device (0 while a
        write is queued or an observation fault is on). ``ahead``: ``times`` start at the next
        boundary, this one's writes being applied."""
        limit = len(times)
        if limit <= 0 or self.pending or self._overrides or self._frozen:
            return 0
        if self.boundary_done and not ahead:
            return 0  # this boundary's writes were applied already: the next step finishes it
        k = limit
        for grp in self.groups.values():
            k = min(k, grp.behaviour.idle_horizon(grp.controls, times[:k], self.site.dt))
            if k == 0:
                break
        return k

    def advance_idle(
        self,
        k: int,
        each: Callable[[Snapshot], None] | None = None,
        fresh: frozenset[tuple[str, str]] = frozenset(),
    ) -> Snapshot:
        """``k`` ticks with nothing written (``k`` within :meth:`idle_horizon`; if this
        boundary's writes were applied, the first tick is its and the stretch is quiet after
        it): the devices' timers count down as ``k`` boundaries would, the twin advances ``k``
        ticks in one call (:meth:`twin.Site.advance`) and the registers are encoded once, from
        the last tick (every counter is a twin book, so none needs the ticks in between); then
        the :attr:`on_tick` callbacks run once.

        ``each`` is given every tick's snapshot (a per-tick trace, expectations); before it,
        the points in ``fresh`` (``(kind, key)``) are encoded from that tick (what an
        in-process controller reads at the quiet boundaries,
        :meth:`hil.ems.ScheduledController.observe`), and after it the timers of the kinds
        whose observed points come from derived values count down to the next boundary, as
        :meth:`step` orders them."""
        dt = self.site.dt
        first = int(self.boundary_done)  # this boundary's countdown done by apply_writes
        times = self.boundary_times(k)
        if each is None:
            for grp in self.groups.values():
                grp.behaviour.idle(grp.controls, times[first:], dt, k - first)
            self.snapshot = self.site.advance(k)
        else:
            kinds = {kind for kind, _ in fresh}
            plans = [(g, self._point_plan(kind, fresh)) for kind, g in self.groups.items() if kind in kinds]
            # a point encoded from the behaviour's derived values may show its timers: those
            # kinds count down boundary by boundary; the others once, nobody reading them
            stepwise = [grp for grp, plan in plans if plan.needs_derived]
            for grp in self.groups.values():
                if not any(grp is g for g in stepwise):
                    grp.behaviour.idle(grp.controls, times[first:], dt, k - first)
            done = 0

            def tick(snap: Snapshot) -> None:
                nonlocal done
                self.snapshot = snap
                for grp, plan in plans:
                    derived = grp.behaviour.derive(snap, grp.controls, dt=dt) if plan.needs_derived else {}
                    self.registers_changed += plan.encode(snap, derived)
                each(snap)
                done += 1
                if done < k:  # the next boundary's countdown
                    for grp in stepwise:
                        grp.behaviour.idle(grp.controls, times[done : done + 1], dt, 1)

            for grp in stepwise:
                if not first:
                    grp.behaviour.idle(grp.controls, times[:1], dt, 1)
            self.snapshot = self.site.advance(k, each=tick)
        self._boundary = self.site.tick - 1
        self._encode_all()
        for cb in self.on_tick:
            cb(self)
        return self.snapshot

    def boundary_times(self, k: int) -> np.ndarray:
        """The next ``k`` tick boundaries' times, each as ``Site.t`` computes it (tick × dt):
        the first is now, the one after the last is the end of a ``k - 1``-tick stretch."""
        return np.arange(self.site.tick, self.site.tick + k, dtype=np.float64) * self.site.dt

    def _collect_pushed(self, grp: KindGroup, t: float) -> None:
        """Move what a behaviour pushed to the twin into :attr:`input_log`."""
        beh = grp.behaviour
        for unit, name, value, why in beh.pushed:
            if len(self.input_log) < 100_000:
                self.input_log.append((t, beh.instance_name(unit), name, value, why))
        beh.pushed.clear()

    def _apply_pending(self, dt: float) -> None:
        written: dict[str, dict[str, np.ndarray]] = {}
        for kind, i, path, exp, value in self.pending:
            grp = self.groups[kind]
            grp.controls[path][i, exp] = value
            w = written.setdefault(kind, {})
            if path not in w:
                w[path] = np.zeros(grp.n, dtype=bool)
            w[path][i] = True
        self.pending.clear()
        t = self.snapshot.t
        for kind, grp in self.groups.items():
            grp.behaviour.apply(grp.controls, written.get(kind, {}), t=t, dt=dt)
            self._collect_pushed(grp, t)

    def _encode_all(self, *, first: bool = False) -> None:
        """Encode every device's registers from this tick's snapshot (``first``: plan the
        encode, and the strings, which do not change after)."""
        for kind, grp in self.groups.items():
            self._encode_group(kind, grp, first=first)
        if self._overrides or self._frozen:
            self._serve_faults()

    def _point_plan(self, kind: str, fresh: frozenset[tuple[str, str]]) -> EncodePlan:
        """The encode of just the points of ``kind`` in ``fresh`` (built on first use)."""
        keys = frozenset(key for k, key in fresh if k == kind)
        plan = self._point_plans.get((kind, keys))
        if plan is None:
            grp = self.groups[kind]
            plan = EncodePlan.build(grp, keys)
            derived = grp.behaviour.derive(self.snapshot, grp.controls, dt=0.0) if plan.needs_derived else {}
            plan.classify(self.snapshot, derived)
            self._point_plans[(kind, keys)] = plan
        return plan

    def _encode_group(self, kind: str, grp: KindGroup, *, first: bool = False) -> None:
        snap = self.snapshot
        beh = grp.behaviour
        derived = beh.derive(snap, grp.controls, dt=0.0 if first else self.site.dt)
        if first:
            self.plans[kind] = plan = EncodePlan.build(grp)
            plan.classify(snap, derived)
            for b, insts in grp.dynamic:
                t = insts[0].pdef.type
                if t == "string":
                    texts = beh.resolve(str(b.source), snap, derived)
                    for p in insts:
                        for i in range(grp.n):
                            grp.image[i, p.offset : p.offset + p.words] = encode_value(
                                texts[i], t, p.pdef.size
                            )
        self.registers_changed += self.plans[kind].encode(snap, derived)

    # -- reads ----------------------------------------------------------------------------
    def read_registers(self, device: Device, address: int, count: int) -> list[int] | None:
        """Registers ``address`` .. ``address+count-1`` (0-based PDU); None if any is unmapped."""
        off = address - BASE_ADDRESS
        if off < 0 or count < 1 or off + count > device.group.n_regs:
            return None
        return device.regs[off : off + count].tolist()

    # -- writes ---------------------------------------------------------------------------
    def write_registers(self, device: Device, address: int, values: list[int]) -> WriteStatus:
        """Validate a register write (FC06/FC16); if every point in it is good, hold and queue it."""
        grp = device.group
        off = address - BASE_ADDRESS
        n = len(values)
        if off < 0 or n < 1 or off + n > grp.n_regs:
            return self._log(device, f"@{address}", values, WriteStatus.NO_SUCH_POINT)
        cols = grp.owner[off : off + n]
        if (cols < 0).any():
            return self._log(device, f"@{address}", values, WriteStatus.NOT_WRITABLE)
        accepted: list[tuple[PointInstance, float]] = []
        k = 0
        while k < n:
            p = grp.points[int(cols[k])]
            if p.offset != off + k or k + p.words > n:  # partial write of a multi-register point
                return self._log(device, p.key, values, WriteStatus.NOT_WRITABLE)
            regs = values[k : k + p.words]
            status, value = self._check(device, p, decode_words(tuple(regs), p.pdef.type, device.sf_of(p)))
            if status is not WriteStatus.OK:
                return self._log(device, p.key, values, status)
            accepted.append((p, float(value)))
            k += p.words
        for p, value in accepted:
            self._hold(device, p, value)
            self._log(device, p.key, value, WriteStatus.OK)
        return WriteStatus.OK

    def write_value(self, device: Device, key: str, value: Any) -> WriteStatus:
        """Write one point by key in engineering units (OPC UA, in-process controllers)."""
        if type(value) is float or type(value) is int:  # the usual write: checks worked out once
            spec = self._write_spec(device, key)
            if spec is not None:
                status, v = spec.check(device, value)
                if status is not WriteStatus.OK:
                    return self._log(device, key, value, status)
                quantised = spec.quantise(v) if spec.quantise is not None else None
                if quantised is not None:
                    self._hold(device, spec.point, *quantised)
                    return self._log(device, key, value, WriteStatus.OK)
        p = device.group.by_key.get(key)
        if p is None:
            return self._log(device, key, value, WriteStatus.NO_SUCH_POINT)
        if (isinstance(value, bool) or not isinstance(value, (int, float))) and p.writable:
            return self._log(device, key, value, WriteStatus.TYPE_MISMATCH)
        status, v = self._check(device, p, value)
        if status is not WriteStatus.OK:
            return self._log(device, key, value, status)
        # quantise as the register would
        sf = device.sf_of(p)
        words = encode_value(v, p.pdef.type, p.pdef.size, sf)
        q = decode_words(tuple(words), p.pdef.type, sf)
        self._hold(device, p, float(q), words)  # type: ignore[arg-type]
        return self._log(device, key, value, WriteStatus.OK)

    def _write_spec(self, device: Device, key: str) -> WriteSpec | None:
        """The point's :class:`~hil.wire.gateway.writes.WriteSpec` (None: no such point)."""
        k = (device.kind, key)
        if k not in self._write_specs:
            p = device.group.by_key.get(key)
            self._write_specs[k] = WriteSpec.of(device, p) if p is not None else None
        return self._write_specs[k]

    def _check(self, device: Device, p: PointInstance, value: Any) -> tuple[WriteStatus, float]:
        """Whether ``device`` accepts ``value`` at ``p`` (:meth:`WriteSpec.check`)."""
        spec = self._write_spec(device, p.key)
        assert spec is not None  # p is one of the device's points
        return spec.check(device, value)

    def _hold(self, device: Device, p: PointInstance, value: float, words: list[int] | None = None) -> None:
        """Hold ``value`` in the point's control and its register words (``words``: already
        encoded by the caller, which quantised ``value`` through them)."""
        grp = device.group
        grp.controls[p.path][device.index, p.exp] = value
        if words is None:
            words = encode_value(value, p.pdef.type, p.pdef.size, device.sf_of(p))
        grp.image[device.index, p.offset : p.offset + p.words] = words
        if self._overrides or self._frozen:  # the readback is faulted like any other value
            self._refault(device, p)
        self.pending.append((grp.kind, device.index, p.path, p.exp, value))

    def _log(self, device: Device, point: str, value: Any, status: WriteStatus) -> WriteStatus:
        if status is WriteStatus.OK:
            self.writes_accepted += 1
        else:
            self.writes_rejected += 1
        if len(self.write_log) < 100_000:
            self.write_log.append((self.snapshot.t, device.name, point, value, status.value))
        return status

    # -- commands and local control -------------------------------------------------------
    def command(self, device: Device, name: str) -> WriteStatus:
        """Run a device command (``start``, ``stop``, ``alarm_reset``) through the write path."""
        spec = device.group.behaviour.commands.get(name)
        if spec is None:
            return WriteStatus.NO_SUCH_POINT
        key, value = spec
        return self.write_value(device, key, value)

    def set_local(self, device: Device, local: bool) -> None:
        """Switch a device between remote (EMS) and local (front-panel) control."""
        device.local = bool(local)
        device.group.behaviour.local[device.index] = bool(local)
        self._encode_all(first=True)

    def iter_points(self) -> Iterator[tuple[Device, PointInstance]]:
        for d in self.devices:
            for p in d.points:
                yield d, p
