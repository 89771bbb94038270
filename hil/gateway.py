"""The gateway between the protocol servers and the twin.

Servers read only what the last tick encoded; writes are validated (access, type, range, enum,
local/remote), held as the device's setpoint registers and queued, and the device behaviours
apply them to the twin at the next tick boundary. A rejected write changes nothing.

The write path: :meth:`Gateway.apply_writes` applies the queued writes in the order received
and each behaviour pushes the twin inputs of the units written (or reverted) — never the
unchanged registers of the others — so a scenario's ``set:`` of the same input holds until
the next write; :meth:`Gateway.advance` steps the twin. The runner puts the scenario's
actions between the two (:meth:`hil.runner.Runner.step`); :meth:`Gateway.step` does both.
The registers' power-on state is pushed once, when the gateway is built. Writes are logged in
:attr:`Gateway.write_log`, the inputs they pushed in :attr:`Gateway.input_log`.

Everything here is protocol-neutral: :mod:`hil.modbus` and :mod:`hil.opcua` are thin adapters
over :meth:`Gateway.read_registers`, :meth:`Gateway.write_registers`, :meth:`Gateway.write_value`
and the per-tick :attr:`Gateway.on_tick` callbacks.

Observation faults (what every protocol sees; the twin never does). Both are applied at the end
of each encode, after the normal encoding, so they cost nothing while none is active:

* :meth:`Gateway.freeze` / :meth:`Gateway.unfreeze`: a device's registers stop updating (stale
  values, heartbeats included) while the twin runs on; unfreezing serves current values again
  from the next encode (the next tick).
* :meth:`Gateway.set_override` / :meth:`Gateway.clear_override`: one point stuck (at a given
  value, or at what it reads now) or biased (``value * gain + offset``), in engineering units
  with the point's scale factor; a not-implemented value stays not implemented. A stuck
  register is the same fault at point granularity: override the point that owns it.

Writes to a faulted device still take the normal write path (validated, held, queued, applied
to the twin); only what is read back is faulted.
"""

from __future__ import annotations

import difflib
import enum
import itertools
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from twin import Site
from twin.params import suggest
from twin.site import Snapshot

from .devices import BEHAVIOURS, Behaviour
from .errors import ConfigError, Problem
from .points import Binding, PointMap, load_point_map
from .sunspec import (
    BASE_ADDRESS,
    END_MODEL,
    SUNS_MARKER,
    TYPES,
    GroupDef,
    PointDef,
    decode_words,
    encode_value,
    usable_range,
)
from .sunspec_fast import encode_scaled

__all__ = ["Device", "Gateway", "PointInstance", "WriteStatus"]

_log = logging.getLogger(__name__)

_UNITS = {  # SunSpec unit -> (UNECE common code, OPC UA display name)
    "W": ("WTT", "W"),
    "VA": ("D46", "VA"),
    "var": ("D44", "var"),
    "Var": ("D44", "var"),
    "VAr": ("D44", "var"),
    "Hz": ("HTZ", "Hz"),
    "V": ("VLT", "V"),
    "A": ("AMP", "A"),
    "Wh": ("WHR", "Wh"),
    "WH": ("WHR", "Wh"),  # model 713 spells it so
    "Ah": ("AMH", "Ah"),
    "Varh": ("D44", "varh"),
    "VAh": ("D46", "VAh"),
    "C": ("CEL", "°C"),
    "%": ("P1", "%"),
    "Pct": ("P1", "%"),
    "%WHRtg": ("P1", "%"),
    "%WMax": ("P1", "%"),
    "%VAMax": ("P1", "%"),
    "Secs": ("SEC", "s"),
    "h": ("HUR", "h"),
}


class WriteStatus(enum.Enum):
    """Why a write was refused; each protocol maps these onto its own codes."""

    OK = "ok"
    NOT_WRITABLE = "not writable"  # Modbus 02, OPC UA BadNotWritable
    NO_SUCH_POINT = "no such point"  # Modbus 02, OPC UA BadNodeIdUnknown
    OUT_OF_RANGE = "out of range"  # Modbus 03, OPC UA BadOutOfRange
    TYPE_MISMATCH = "type mismatch"  # Modbus 03, OPC UA BadTypeMismatch
    LOCAL_CONTROL = "device in local control"  # Modbus 01, OPC UA BadUserAccessDenied


@dataclass(frozen=True)
class PointInstance:
    """One point at one place in a device's chain (a repeated group gives several)."""

    key: str  # "701.W", "803.string[2].StrSoC", "804[1].SoC"
    path: str  # the binding path: "803.string.StrSoC"
    model_id: int
    model_name: str
    browse: tuple[str, ...]  # ("DERMeasureAC", "W") / ("lithium_ion_bank", "string_2", "StrSoC")
    pdef: PointDef
    offset: int  # from BASE_ADDRESS
    words: int
    sf_col: int | None  # column of the scale factor point, if any
    binding: Binding | None
    col: int  # column in the kind's value matrix
    exp: int  # expansion index within the binding (group/model repeat instance)

    @property
    def name(self) -> str:
        return self.pdef.name

    @property
    def writable(self) -> bool:
        return self.binding is not None and self.binding.kind == "control"

    @property
    def implemented(self) -> bool:
        return self.binding is not None

    @property
    def unit(self) -> str | None:
        return self.pdef.units

    def unit_code(self) -> tuple[str, str] | None:
        u = self.pdef.units
        return _UNITS.get(u) if u else None


@dataclass
class Device:
    """One served device: a kind instance with its register image."""

    name: str  # "PCS01"
    area: str  # "BESS"
    kind: str
    index: int  # instance within the kind
    unit_id: int
    point_map: PointMap
    group: KindGroup
    port: int = 0  # own Modbus port (0 = served behind the gateway port)
    local: bool = False

    @property
    def regs(self) -> np.ndarray:
        return self.group.image[self.index]

    @property
    def models(self) -> list[int]:
        return [m for m, _ in self.group.model_starts]

    @property
    def points(self) -> list[PointInstance]:
        return self.group.points

    def value(self, p: PointInstance) -> float | int | str | None:
        """The engineering value a client reads (after scale factors); None = not implemented."""
        regs = self.regs[p.offset : p.offset + p.words]
        sf = self._sf(p)
        return decode_words(tuple(int(r) for r in regs), p.pdef.type, sf)

    def _sf(self, p: PointInstance) -> int:
        if p.sf_col is None:
            return int(p.pdef.sf) if isinstance(p.pdef.sf, int) else 0
        return int(self.group.sf_values.get(p.sf_col, 0))

    def sf_of(self, p: PointInstance) -> int:
        return self._sf(p)

    def point(self, key: str) -> PointInstance:
        return self.group.by_key[key]


@dataclass
class KindGroup:
    """All instances of one device kind: one layout, one value matrix, one image."""

    kind: str
    point_map: PointMap
    behaviour: Behaviour
    n: int
    points: list[PointInstance]
    by_key: dict[str, PointInstance]
    model_starts: list[tuple[int, int]]  # (model id, offset of its ID register)
    n_regs: int
    image: np.ndarray  # (n, n_regs) uint16
    owner: np.ndarray  # offset -> point index or -1
    sf_values: dict[int, int]  # column -> SF value (scale factors are static)
    controls: dict[str, np.ndarray] = field(default_factory=dict)  # binding path -> (n, n_exp)
    dynamic: list[tuple[Binding, list[PointInstance]]] = field(default_factory=list)
    ranges: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    plan: list[TypePlan] = field(default_factory=list)


Getter = Callable[[Snapshot, dict[str, Any]], Any]


@dataclass
class TypePlan:
    """The dynamic numeric points of one type in a kind, compiled for the per-tick encode:
    each binding's value getter and its columns in ``values`` (``(n, k)``, reused every tick),
    the register columns and the scale factors (scale factors are static)."""

    type: str
    entries: list[tuple[Binding, int, slice, Getter | None]]
    cols: np.ndarray  # (k, words) register offsets
    sf: np.ndarray  # (n * k,) scale factor of each value, row-major
    values: np.ndarray  # (n, k) float
    p10: np.ndarray = field(init=False)  # 10.0 ** sf, once

    def __post_init__(self) -> None:
        self.p10 = np.power(10.0, self.sf)


def _getter(source: str) -> Getter:
    """What :meth:`hil.devices.Behaviour.resolve` does for ``source``, decided once."""
    if source.startswith("dev."):
        name = source[4:]
        return lambda snap, derived: derived[name]
    dev, _, sig = source.partition(".")
    if "[" in dev:
        key = f"{dev.split('[')[0]}.{sig}"
        return lambda snap, derived: snap.arrays[key]
    return lambda snap, derived: snap.scalars[source]


Pending = tuple[str, int, str, int, float]  # (kind, instance, binding path, exp, value)


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


class Gateway:
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
        self.devices: list[Device] = []
        self._frozen: dict[str, np.ndarray] = {}  # device name -> the row it froze with
        self._overrides: dict[str, dict[str, _Override]] = {}  # device name -> point key -> fault
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
                self.groups[kind] = self._compile(pm, behaviour)
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
        gw.endpoint_config = endpoints  # the servers' limits and identity (hil.modbus)
        return gw

    # -- layout --------------------------------------------------------------------------
    def _compile(self, pm: PointMap, beh: Behaviour) -> KindGroup:  # noqa: C901 - over 15 branches before the gate; to split
        ratings = beh.ratings
        problems: list[Problem] = []

        def count_of(value: str | int, where: tuple[Any, ...]) -> int:
            if isinstance(value, int):
                return value
            if value in ratings:
                return int(np.max(ratings[value]))
            problems.append(
                pm.problem(where, f"{value!r} is not a count or a rating ({', '.join(sorted(ratings))})")
            )
            return 0

        points: list[PointInstance] = []
        model_starts: list[tuple[int, int]] = []
        exp_count: dict[str, int] = {}
        offset = 2  # after 'SunS'
        scope_ids = itertools.count()
        sf_cols: dict[tuple[int, int, str], int] = {}  # (model index, group scope id, sf name) -> col
        pending_sf: list[tuple[int, int, tuple[int, ...], str]] = []  # point idx, mi, scope chain, sf name

        for mi, ref in enumerate(pm.models):
            md = ref.definition
            reps = count_of(ref.repeat, ("models",))
            for r in range(reps):
                start = offset
                model_starts.append((md.id, start))

                def walk(
                    g: GroupDef,
                    gpath: tuple[str, ...],
                    browse: tuple[str, ...],
                    scopes: tuple[int, ...],
                    key_prefix: str,
                    mi: int = mi,
                    r: int = r,
                    reps: int = reps,
                    md: Any = md,
                ) -> None:
                    nonlocal offset
                    scope = next(scope_ids)  # unique per group instance
                    scopes = (*scopes, scope)
                    for p in g.points:
                        bpath = ".".join((str(md.id), *gpath, p.name))
                        binding = pm.bindings.get(bpath)
                        words = p.size if p.type in ("string", "pad") else TYPES[p.type].words
                        exp = exp_count.get(bpath, 0)
                        exp_count[bpath] = exp + 1
                        inst = PointInstance(
                            key=f"{key_prefix}{p.name}",
                            path=bpath,
                            model_id=md.id,
                            model_name=md.name,
                            browse=(*browse, p.name),
                            pdef=p,
                            offset=offset,
                            words=words,
                            sf_col=None,
                            binding=binding,
                            col=len(points),
                            exp=exp,
                        )
                        if p.type == "sunssf":
                            sf_cols[(mi * 1000 + r, scope, p.name)] = inst.col
                        if isinstance(p.sf, str):
                            pending_sf.append((inst.col, mi * 1000 + r, scopes, p.sf))
                        points.append(inst)
                        offset += words
                    for sub in g.groups:
                        ckey = ".".join((str(md.id), *gpath, sub.name))
                        n_sub = 1 if sub.count is None else count_of(pm.counts.get(ckey, 1), ("counts", ckey))
                        for k in range(n_sub):
                            label = sub.name if sub.count is None else f"{sub.name}_{k + 1}"
                            kp = (
                                f"{key_prefix}{sub.name}."
                                if sub.count is None
                                else f"{key_prefix}{sub.name}[{k + 1}]."
                            )
                            walk(sub, (*gpath, sub.name), (*browse, label), scopes, kp)

                mlabel = md.name if reps == 1 else f"{md.name}_{r + 1}"
                mkey = f"{md.id}." if reps == 1 else f"{md.id}[{r + 1}]."
                walk(md.group, (), (mlabel,), (), mkey)
                if model_starts[-1][1] != start:
                    raise AssertionError("layout")
        n_regs = offset + 2  # end model
        # resolve each point's scale factor: own group first, then outward
        fixed = list(points)
        for col, model_rep, scopes, sf_name in pending_sf:
            sf_col = None
            for scope in reversed(scopes):
                sf_col = sf_cols.get((model_rep, scope, sf_name))
                if sf_col is not None:
                    break
            fixed[col] = _replace(fixed[col], sf_col=sf_col)
        points = fixed
        n = beh.n
        image = np.zeros((n, n_regs), dtype=np.uint16)
        owner = np.full(n_regs, -1, dtype=np.int64)
        image[:, 0], image[:, 1] = SUNS_MARKER
        image[:, n_regs - 2], image[:, n_regs - 1] = END_MODEL
        for p in points:
            owner[p.offset : p.offset + p.words] = p.col
        # model headers: ID and L
        starts = [s for _, s in model_starts] + [n_regs - 2]
        for (mid, s), nxt in zip(model_starts, starts[1:], strict=True):
            image[:, s] = mid
            image[:, s + 1] = nxt - s - 2
        by_key = {p.key: p for p in points}
        grp = KindGroup(
            kind=pm.kind,
            point_map=pm,
            behaviour=beh,
            n=n,
            points=points,
            by_key=by_key,
            model_starts=model_starts,
            n_regs=n_regs,
            image=image,
            owner=owner,
            sf_values={},
        )
        # static scale factors
        for p in points:
            b = p.binding
            if p.pdef.type != "sunssf" or b is None:
                continue
            if b.kind == "const":
                grp.sf_values[p.col] = int(b.const)
            else:
                users = [q for q in points if q.sf_col == p.col]
                top = _rating(b.auto, ratings, pm, b, problems)
                grp.sf_values[p.col] = _auto_sf(top, [q.pdef.type for q in users])
        # bindings by kind
        by_binding: dict[str, list[PointInstance]] = {}
        for p in points:
            if p.binding is not None and p.pdef.type != "sunssf":
                by_binding.setdefault(p.path, []).append(p)
        for path, insts in by_binding.items():
            b = insts[0].binding
            assert b is not None
            n_exp = len(insts)
            if b.kind == "control":
                default = _enum_or_number(b.default, insts[0].pdef, pm, b, problems, ratings)
                grp.controls[path] = np.full((n, n_exp), default, dtype=float)
                lo, hi = _write_range(insts[0].pdef, b, ratings, pm, problems, n)
                grp.ranges[path] = (lo, hi)
                grp.dynamic.append((b, insts))
            elif b.kind in ("source", "index"):
                if b.kind == "source" and not beh.knows(str(b.source)):
                    problems.append(
                        pm.problem(("points", path, "source"), beh.unknown_source_message(str(b.source)))
                    )
                    continue
                grp.dynamic.append((b, insts))
            elif b.kind == "const":
                value = _enum_or_number(b.const, insts[0].pdef, pm, b, problems, ratings)
                for p in insts:
                    sf = grp.sf_values.get(p.sf_col, 0) if p.sf_col is not None else 0
                    words = encode_value(value, p.pdef.type, p.pdef.size, sf)
                    image[:, p.offset : p.offset + p.words] = words
        # scale factor registers
        for col, sf in grp.sf_values.items():
            p = points[col]
            image[:, p.offset] = np.uint16(sf & 0xFFFF)
        # not-implemented points
        for p in points:
            # a model's own ID/L header (browse is (model label, name); repeats are labelled "_k")
            if p.binding is None and not (p.pdef.name in ("ID", "L") and len(p.browse) == 2):
                if p.pdef.type in ("string", "pad"):
                    continue
                image[:, p.offset : p.offset + p.words] = encode_value(None, p.pdef.type, p.pdef.size)
        if problems:
            raise ConfigError(problems)
        return grp

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

    def _plan(self, grp: KindGroup) -> list[TypePlan]:
        """Per point type: the dynamic bindings in order (with their value getters), their
        register columns and SFs; index bindings, constant, are filled in here once."""
        by_type: dict[str, tuple[list[tuple[Binding, int]], list[int], list[int]]] = {}
        for b, insts in grp.dynamic:
            t = insts[0].pdef.type
            if t == "string":
                continue
            entry = by_type.setdefault(t, ([], [], []))
            entry[0].append((b, len(insts)))
            for p in insts:
                entry[1].append(p.offset)
                entry[2].append(grp.sf_values.get(p.sf_col, 0) if p.sf_col is not None else 0)
        plan = []
        n = grp.n
        for t, (bindings, offsets, sfs) in by_type.items():
            w = TYPES[t].words
            cols = np.asarray(offsets)[:, None] + np.arange(w)[None, :]
            values = np.empty((n, len(offsets)))
            entries: list[tuple[Binding, int, slice, Getter | None]] = []
            start = 0
            for b, n_exp in bindings:
                sl = slice(start, start + n_exp)
                start += n_exp
                if b.kind == "index":
                    values[:, sl] = np.arange(1.0, n_exp + 1.0)[None, :]
                    continue
                entries.append((b, n_exp, sl, _getter(str(b.source)) if b.kind != "control" else None))
            sf = np.broadcast_to(np.asarray(sfs, dtype=float), (n, len(offsets))).ravel()
            plan.append(TypePlan(t, entries, cols, sf, values))
        return plan

    def _encode_all(self, *, first: bool = False) -> None:
        snap = self.snapshot
        for grp in self.groups.values():
            beh = grp.behaviour
            derived = beh.derive(snap, grp.controls, dt=0.0 if first else self.site.dt)
            if first:
                grp.plan = self._plan(grp)
                for b, insts in grp.dynamic:
                    t = insts[0].pdef.type
                    if t == "string":
                        texts = beh.resolve(str(b.source), snap, derived)
                        for p in insts:
                            for i in range(grp.n):
                                grp.image[i, p.offset : p.offset + p.words] = encode_value(
                                    texts[i], t, p.pdef.size
                                )
            n = grp.n
            for tp in grp.plan:
                values = tp.values
                for b, n_exp, sl, get in tp.entries:
                    if get is None:  # a control: the held setpoint
                        values[:, sl] = grp.controls[b.path]
                        continue
                    raw = get(snap, derived)
                    if isinstance(raw, float | int):  # a single value for every unit: no array
                        v = float(raw)
                        values[:, sl] = v * b.scale + b.offset if b.scale != 1.0 or b.offset != 0.0 else v
                        continue
                    vals = _as_2d(raw, n, n_exp)
                    if b.scale != 1.0 or b.offset != 0.0:
                        vals = vals * b.scale + b.offset
                    values[:, sl] = vals
                words = encode_scaled(values.ravel(), tp.type, tp.sf, tp.p10).reshape(n, tp.cols.shape[0], -1)
                grp.image[:, tp.cols] = words
        if self._overrides or self._frozen:
            self._serve_faults()

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
        self._hold(device, p, float(q))  # type: ignore[arg-type]
        return self._log(device, key, value, WriteStatus.OK)

    def _check(self, device: Device, p: PointInstance, value: Any) -> tuple[WriteStatus, float]:
        if not p.writable:
            return WriteStatus.NOT_WRITABLE, 0.0
        if device.local and p.pdef.name not in ("CtrlHb", "ControllerHb"):
            return WriteStatus.LOCAL_CONTROL, 0.0
        if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return WriteStatus.OUT_OF_RANGE if value is None else WriteStatus.TYPE_MISMATCH, 0.0
        try:
            v = float(value)
        except OverflowError:  # an int past 1e308 (an in-process controller's bug)
            return WriteStatus.OUT_OF_RANGE, 0.0
        if not math.isfinite(v):
            return WriteStatus.OUT_OF_RANGE, 0.0
        pdef = p.pdef
        is_enum = bool(pdef.symbols) and pdef.type.startswith("enum")
        if is_enum and (int(v) != v or int(v) not in pdef.symbols.values()):
            return WriteStatus.OUT_OF_RANGE, 0.0
        lo, hi = device.group.ranges[p.path]
        tl, th = usable_range(pdef.type)
        sf = device.sf_of(p)
        if not (lo[device.index] - 1e-9 <= v <= hi[device.index] + 1e-9):
            return WriteStatus.OUT_OF_RANGE, 0.0
        if not (tl * 10.0**sf <= v <= th * 10.0**sf):
            return WriteStatus.OUT_OF_RANGE, 0.0
        return WriteStatus.OK, v

    def _hold(self, device: Device, p: PointInstance, value: float) -> None:
        grp = device.group
        grp.controls[p.path][device.index, p.exp] = value
        grp.image[device.index, p.offset : p.offset + p.words] = encode_value(
            value, p.pdef.type, p.pdef.size, device.sf_of(p)
        )
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

    # -- observation faults (hil.faults) ---------------------------------------------------
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
            hint = difflib.get_close_matches(key, list(dev.group.by_key), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
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
            hint = difflib.get_close_matches(name, list(self.by_name), n=1)
            did = f"; did you mean {hint[0]!r}?" if hint else ""
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


def _replace(p: PointInstance, **kw: Any) -> PointInstance:
    return replace(p, **kw)


def _as_2d(raw: Any, n: int, n_exp: int) -> np.ndarray:
    if isinstance(raw, float | int):
        return np.full((n, n_exp), float(raw))
    a = np.asarray(raw, dtype=float)
    if a.ndim == 0:
        return np.full((n, n_exp), float(a))
    if a.ndim == 1:
        if a.size == n:
            return a[:, None]
        if a.size == n_exp:
            return a[None, :]
    return a


def _rating(
    name: Any, ratings: dict[str, np.ndarray], pm: PointMap, b: Binding, problems: list[Problem]
) -> float:
    if isinstance(name, (int, float)):
        return float(name)
    neg = isinstance(name, str) and name.startswith("-")
    key = name[1:] if neg else name
    if key not in ratings:
        hint = suggest(str(key), list(ratings))
        problems.append(
            pm.problem(
                ("points", b.path),
                f"unknown rating {key!r}{'; did you mean ' + repr(hint[0]) + '?' if hint else ''}",
            )
        )
        return 0.0
    v = float(np.max(np.abs(ratings[key])))
    return -v if neg else v


def _auto_sf(top: float, types: list[str]) -> int:
    """The smallest SF in -3..10 for which ``top`` fits every type that uses it."""
    limit = min((usable_range(t)[1] for t in types if t in TYPES), default=32767.0)
    for sf in range(-3, 11):
        if abs(top) / 10.0**sf <= limit:
            return sf
    return 10


def _enum_or_number(
    value: Any,
    pdef: PointDef,
    pm: PointMap,
    b: Binding,
    problems: list[Problem],
    ratings: dict[str, np.ndarray],
) -> Any:
    if isinstance(value, str) and pdef.symbols and value in pdef.symbols:
        return pdef.symbols[value]
    if isinstance(value, str) and pdef.type != "string":
        return _rating(value, ratings, pm, b, problems)
    return value


def _write_range(
    pdef: PointDef, b: Binding, ratings: dict[str, np.ndarray], pm: PointMap, problems: list[Problem], n: int
) -> tuple[np.ndarray, np.ndarray]:
    if b.range is None:
        if pdef.type in TYPES:
            lo, _hi = usable_range(pdef.type)
            return np.full(n, -np.inf if lo < 0 else 0.0), np.full(n, np.inf)
        return np.full(n, -np.inf), np.full(n, np.inf)
    out = []
    for v in b.range:
        if isinstance(v, str):
            neg = v.startswith("-")
            key = v[1:] if neg else v
            if key in ratings:
                r = np.broadcast_to(np.asarray(ratings[key], dtype=float), (n,)).copy()
                out.append(-r if neg else r)
                continue
            _rating(v, ratings, pm, b, problems)
            out.append(np.zeros(n))
        else:
            out.append(np.full(n, float(v)))
    return out[0], out[1]
