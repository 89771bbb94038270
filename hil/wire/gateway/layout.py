"""The gateway's layout: point maps compiled once, per device kind, into register images,
point instances and held controls (:func:`compile_group`; the per-tick encode is planned in
:mod:`hil.wire.gateway.encode`), and
the types the rest of the gateway and the protocol adapters share (:class:`Device`,
:class:`PointInstance`, :class:`KindGroup`, :class:`WriteStatus`)."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hil.errors import ConfigError, Problem
from hil.wire.devices import Behaviour
from hil.wire.points import Binding, PointMap
from hil.wire.sunspec import (
    END_MODEL,
    SUNS_MARKER,
    TYPES,
    GroupDef,
    PointDef,
    decode_words,
    encode_value,
    usable_range,
)
from twin.params import did_you_mean

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
    # the held controls are views into one matrix (the encode copies them in one operation)
    control_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    control_cols: dict[str, np.ndarray] = field(default_factory=dict)  # path -> its columns


def compile_group(pm: PointMap, beh: Behaviour) -> KindGroup:  # noqa: C901 - over 15 branches before the gate; to split
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
    _share_controls(grp)
    return grp


def _share_controls(grp: KindGroup) -> None:
    """Make the held controls views into one ``(n, k)`` matrix: writes into a control's array
    (the write path, the reversions) write the matrix, which the encode copies at once."""
    widths = {path: a.shape[1] for path, a in grp.controls.items()}
    matrix = np.zeros((grp.n, sum(widths.values())))
    at = 0
    for path, w in widths.items():
        matrix[:, at : at + w] = grp.controls[path]
        grp.controls[path] = matrix[:, at : at + w]
        grp.control_cols[path] = np.arange(at, at + w)
        at += w
    grp.control_matrix = matrix


def _replace(p: PointInstance, **kw: Any) -> PointInstance:
    return replace(p, **kw)


def _rating(
    name: Any, ratings: dict[str, np.ndarray], pm: PointMap, b: Binding, problems: list[Problem]
) -> float:
    if isinstance(name, (int, float)):
        return float(name)
    neg = isinstance(name, str) and name.startswith("-")
    key = name[1:] if neg else name
    if key not in ratings:
        tail = did_you_mean(str(key), list(ratings))
        problems.append(
            pm.problem(
                ("points", b.path),
                f"unknown rating {key!r}{tail}",
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
