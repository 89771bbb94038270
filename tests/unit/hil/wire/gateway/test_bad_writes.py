"""Writes that change nothing when wrong: Hypothesis properties over every writable point.

Every point map is covered: ``lab_rack`` with a small PV plant and two gensets (bess, genset,
pv, meter, utility, site) and ``lab_rack`` with the legacy personality (``bess_legacy``); every
writable point of one device per kind is drawn from. Each property sends a bad write through
the Modbus PDU handler (:class:`hil.protocols.modbus.endpoint.ModbusEndpoint`'s function codes, as the server
calls them, no socket) or through :meth:`Gateway.write_value` (what OPC UA calls), checks the
protocol's answer (Modbus exception per the specification; the gateway's refusal that OPC UA
maps to a ``Bad...`` status), and that the twin and the gateway are **bit-identical** to
before: every array and scalar reachable from the gateway (the twin's states, the devices'
register images, held setpoints, the write queue, timers and random generators), compared by
bytes (``tests/unit/hil/wire/gateway/_state_image.py``). Only the write log and the refusal
counter may change; the point layout (frozen dataclasses built once) is left out of the image
to keep it cheap. The same classes go over real sockets in ``tests/integration/test_bad_writes_wire.py``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.config import load_site, profiles_dir
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.wire.gateway import Device, Gateway, PointInstance, WriteStatus
from hil.wire.sunspec import BASE_ADDRESS, TYPES, decode_words, encode_value, usable_range

from ._state_image import CACHES, diff, state_image

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
# the logs record refusals on purpose; the point layout is frozen dataclasses built once
_LOGS = frozenset({"write_log", "writes_rejected", "_stats", "by_key", "points", "point_map"}) | CACHES
# lab_rack with a small PV plant and two gensets: every point map in one small site
PV_GENSET = {
    "pv": {"p_dc_stc_kw": 40.0, "s_inverter_kva": 36.0, "latitude_deg": 23.1, "longitude_deg": 113.3},
    "genset": {"n_units": 2, "p_rated_kw": 30.0},
}
SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@cache
def gateways() -> dict[str, Gateway]:
    gws = {
        "lab_rack+": Gateway(load_site("lab_rack", overrides=PV_GENSET)),
        "legacy": Gateway(load_site("lab_rack"), legacy=True),
    }
    for gw in gws.values():
        gw.step(5)
    return gws


@cache
def endpoint(name: str) -> ModbusEndpoint:
    return ModbusEndpoint(gateways()[name])  # never started: its PDU handler is all we use


def _points(pred: Any) -> list[tuple[str, str, str]]:
    """(gateway, device, point key) of every point ``pred`` picks, one device per kind (the
    instances of a kind share one layout)."""
    out = []
    for name, gw in gateways().items():
        kinds: set[str] = set()
        for d in gw.devices:
            if d.kind in kinds:
                continue
            kinds.add(d.kind)
            out += [(name, d.name, p.key) for p in d.points if pred(p)]
    return out


WRITABLE = _points(lambda p: p.writable)
MULTI = _points(lambda p: p.writable and p.words > 1)
READ_ONLY = _points(lambda p: not p.writable and p.pdef.type != "pad")


def test_every_point_map_is_covered() -> None:
    def maps(points: list[tuple[str, str, str]]) -> set[str]:
        return {gateways()[g].by_name[d].point_map.name for g, d, _ in points}

    every = {p.stem for p in (profiles_dir() / "points").glob("*.yaml")}
    assert maps(READ_ONLY) == every
    assert maps(WRITABLE) == every - {"meter"}  # a meter takes no setpoints
    assert len(WRITABLE) > 50
    assert MULTI
    assert len(READ_ONLY) > len(WRITABLE)


def resolve(where: tuple[str, str, str]) -> tuple[Gateway, ModbusEndpoint, Device, PointInstance]:
    g, d, key = where
    gw = gateways()[g]
    dev = gw.by_name[d]
    return gw, endpoint(g), dev, dev.point(key)


def image(gw: Gateway) -> dict[str, bytes]:
    return state_image({"gw": gw, "site": gw.site}, skip=_LOGS)


@contextmanager
def unchanged(gw: Gateway) -> Iterator[None]:
    """The body must leave the twin and the gateway bit-identical."""
    before = image(gw)
    pending = len(gw.pending)
    yield
    after = image(gw)
    assert len(gw.pending) == pending
    assert after == before, f"a refused write changed: {diff(before, after)}"


def pdu(fc: int, *fields: int, words: list[int] | None = None) -> bytes:
    body = bytes([fc]) + struct.pack(f">{len(fields)}H", *fields)
    if words is not None:
        body += bytes([2 * len(words)]) + struct.pack(f">{len(words)}H", *words)
    return body


def exc(fc: int, code: int) -> bytes:
    return bytes((fc | 0x80, code))


def valid(dev: Device, p: PointInstance, words: list[int]) -> bool:
    """Would the gateway take these words for ``p``? (from the point map's range and type)"""
    v = decode_words(tuple(words), p.pdef.type, dev.sf_of(p))
    if v is None or isinstance(v, str) or not math.isfinite(v):
        return False
    if p.pdef.symbols and p.pdef.type.startswith("enum") and int(v) not in p.pdef.symbols.values():
        return False
    lo, hi = dev.group.ranges[p.path]
    tl, th = usable_range(p.pdef.type)
    sf = dev.sf_of(p)
    return bool(lo[dev.index] - 1e-9 <= v <= hi[dev.index] + 1e-9 and tl * 10.0**sf <= v <= th * 10.0**sf)


@st.composite
def bad_words(draw: st.DrawFn, where: tuple[str, str, str]) -> list[int]:
    """Register words the point must refuse: the not-implemented value, just past either end
    of its range, or any words that decode out of range."""
    _, _, dev, p = resolve(where)
    t = TYPES[p.pdef.type]
    sf = dev.sf_of(p)
    lo, hi = dev.group.ranges[p.path]
    step = 10.0**sf
    k = draw(st.integers(1, 1000))
    candidates = [
        encode_value(None, p.pdef.type, p.pdef.size, sf),
        draw(st.lists(st.integers(0, 0xFFFF), min_size=t.words, max_size=t.words)),
    ]
    # just past either end of a finite range (an open end has nothing past it)
    candidates += [
        encode_value(edge, p.pdef.type, p.pdef.size, sf)
        for edge in (float(hi[dev.index]) + k * step, float(lo[dev.index]) - k * step)
        if math.isfinite(edge)
    ]
    words = draw(st.sampled_from(candidates))
    if valid(dev, p, words):  # a point whose range fills its type: its NI value is still bad
        words = candidates[0]
    return list(words)


# -- out of range -----------------------------------------------------------------------------------
@SETTINGS
@given(where=st.sampled_from(WRITABLE), data=st.data(), fc=st.sampled_from([6, 16, 23]))
def test_out_of_range_register_write_is_refused_with_03(
    where: tuple[str, str, str], data: Any, fc: int
) -> None:
    gw, ep, dev, p = resolve(where)
    words = data.draw(bad_words(where))
    if fc == 6 and p.words > 1:
        fc = 16
    address = BASE_ADDRESS + p.offset
    req = {
        6: lambda: pdu(6, address, words[0]),
        16: lambda: pdu(16, address, len(words), words=words),
        23: lambda: pdu(23, address, 1, address, len(words), words=words),
    }[fc]()
    with unchanged(gw):
        assert ep._context.handle(dev.unit_id, req) == exc(fc, ILLEGAL_VALUE)


@SETTINGS
@given(
    where=st.sampled_from(WRITABLE),
    data=st.data(),
)
def test_out_of_range_value_is_refused(where: tuple[str, str, str], data: Any) -> None:
    gw, _, dev, p = resolve(where)
    lo, hi = (float(a[dev.index]) for a in dev.group.ranges[p.path])
    tl, th = usable_range(p.pdef.type)
    scale = 10.0 ** dev.sf_of(p)
    beyond = st.floats(1e-6, 1e12, allow_nan=False)
    value = data.draw(
        st.one_of(
            st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)]),
            beyond.map(lambda d: max(hi, th * scale) + max(d, abs(hi) * 1e-6 + 1e-6)),
            beyond.map(lambda d: min(lo, tl * scale) - max(d, abs(lo) * 1e-6 + 1e-6)),
        )
    )
    with unchanged(gw):
        assert gw.write_value(dev, p.key, value) is WriteStatus.OUT_OF_RANGE


# -- wrong type ---------------------------------------------------------------------------------------
@SETTINGS
@given(
    where=st.sampled_from(WRITABLE),
    value=st.one_of(
        st.none(),
        st.text(max_size=8),
        st.binary(max_size=8),
        st.booleans(),
        st.lists(st.floats(allow_nan=False), min_size=1, max_size=3),
        st.complex_numbers(allow_nan=False),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    ),
)
def test_wrong_type_is_refused(where: tuple[str, str, str], value: Any) -> None:
    gw, _, dev, p = resolve(where)
    with unchanged(gw):
        assert gw.write_value(dev, p.key, value) is WriteStatus.TYPE_MISMATCH


# -- read-only ----------------------------------------------------------------------------------------
@SETTINGS
@given(where=st.sampled_from(READ_ONLY), data=st.data(), fc=st.sampled_from([6, 16, 22, 23]))
def test_read_only_point_is_refused_with_02(where: tuple[str, str, str], data: Any, fc: int) -> None:
    gw, ep, dev, p = resolve(where)
    address = BASE_ADDRESS + p.offset
    current = gw.read_registers(dev, address, p.words) or []
    # what it holds now is the meanest value to write: it would change nothing if taken
    words = data.draw(
        st.one_of(st.just(current), st.lists(st.integers(0, 0xFFFF), min_size=p.words, max_size=p.words))
    )
    req = {
        6: lambda: pdu(6, address, words[0]),
        16: lambda: pdu(16, address, len(words), words=words),
        22: lambda: pdu(22, address, 0x0000, words[0]),
        23: lambda: pdu(23, address, 1, address, len(words), words=words),
    }[fc]()
    with unchanged(gw):
        assert ep._context.handle(dev.unit_id, req) == exc(fc, ILLEGAL_ADDRESS)
    with unchanged(gw):
        assert gw.write_value(dev, p.key, data.draw(st.floats(-1e6, 1e6))) is WriteStatus.NOT_WRITABLE


# -- partial writes of multi-register values ----------------------------------------------------------
@SETTINGS
@given(where=st.sampled_from(MULTI), data=st.data())
def test_partial_write_of_a_multi_register_point_is_refused_with_02(
    where: tuple[str, str, str], data: Any
) -> None:
    gw, ep, dev, p = resolve(where)
    start = BASE_ADDRESS + p.offset
    good = encode_value(float(dev.group.ranges[p.path][0][dev.index]), p.pdef.type, p.pdef.size, dev.sf_of(p))
    shape = data.draw(st.sampled_from(["head", "tail", "tail+next", "prev+head"]))
    if shape == "head":  # the first words only
        n = data.draw(st.integers(1, p.words - 1))
        address, words = start, good[:n]
    elif shape == "tail":  # from inside the point to its end
        k = data.draw(st.integers(1, p.words - 1))
        address, words = start + k, good[k:]
    elif shape == "tail+next":  # the point's second half and whatever follows
        k = data.draw(st.integers(1, p.words - 1))
        extra = data.draw(st.integers(1, 4))
        address, words = start + k, [*good[k:], *([0] * extra)]
    else:  # a whole good point before it, then half of it: the first must not be taken either
        prev = [q for q in dev.points if q.writable and q.offset + q.words == p.offset]
        head = (
            encode_value(
                float(dev.group.ranges[prev[0].path][0][dev.index]),
                prev[0].pdef.type,
                prev[0].pdef.size,
                dev.sf_of(prev[0]),
            )
            if prev
            else []
        )
        address, words = start - len(head), [*head, *good[: p.words - 1]]
    fc = 6 if len(words) == 1 and data.draw(st.booleans()) else 16
    req = pdu(6, address, words[0]) if fc == 6 else pdu(16, address, len(words), words=words)
    with unchanged(gw):
        assert ep._context.handle(dev.unit_id, req) == exc(fc, ILLEGAL_ADDRESS)


# -- faulted, offline and local devices -----------------------------------------------------------------
def good_words(dev: Device, p: PointInstance, data: Any) -> list[int]:
    lo, hi = (float(a[dev.index]) for a in dev.group.ranges[p.path])
    if p.pdef.symbols and p.pdef.type.startswith("enum"):
        value = float(data.draw(st.sampled_from(sorted(p.pdef.symbols.values()))))
    else:
        value = data.draw(st.sampled_from([v for v in (lo, hi, (lo + hi) / 2) if math.isfinite(v)]))
    words = encode_value(value, p.pdef.type, p.pdef.size, dev.sf_of(p))
    return words if valid(dev, p, words) else encode_value(lo, p.pdef.type, p.pdef.size, dev.sf_of(p))


@SETTINGS
@given(
    where=st.sampled_from(WRITABLE),
    data=st.data(),
    fault=st.one_of(st.just("offline"), st.integers(1, 11).map(str), st.just("local")),
)
def test_a_good_write_to_a_faulted_offline_or_local_device_changes_nothing(
    where: tuple[str, str, str], data: Any, fault: str
) -> None:
    gw, ep, dev, p = resolve(where)
    if fault == "local" and p.pdef.name in ("CtrlHb", "ControllerHb"):  # a heartbeat is always taken
        fault = "offline"
    words = good_words(dev, p, data)
    req = pdu(16, BASE_ADDRESS + p.offset, len(words), words=words)
    if fault == "local":
        gw.set_local(dev, True)
    else:
        ep.set_unit_fault(
            dev.unit_id, **({"offline": True} if fault == "offline" else {"exception": int(fault)})
        )
    try:
        with unchanged(gw):
            answer = ep._context.handle(dev.unit_id, req)
            if fault == "local":
                assert answer == exc(16, ILLEGAL_FUNCTION)
                assert gw.write_value(dev, p.key, decode_words(tuple(words), p.pdef.type, dev.sf_of(p))) is (
                    WriteStatus.LOCAL_CONTROL
                )
                if ep._context._coils(dev):
                    assert ep._context.handle(dev.unit_id, pdu(5, 0, 0xFF00)) == exc(5, ILLEGAL_FUNCTION)
            elif fault == "offline":
                assert answer is None  # no answer at all: the client times out
            else:
                assert answer == exc(16, int(fault))
    finally:
        if fault == "local":
            gw.set_local(dev, False)
        else:
            ep.clear_unit_fault(dev.unit_id)


# -- coils ----------------------------------------------------------------------------------------------
@SETTINGS
@given(
    g=st.sampled_from(sorted(gateways())),
    value=st.integers(0, 0xFFFF).filter(lambda v: v not in (0x0000, 0xFF00)),
    address=st.integers(0, 0xFFFF),
    data=st.data(),
)
def test_bad_coil_writes_are_refused(g: str, value: int, address: int, data: Any) -> None:
    gw, ep = gateways()[g], endpoint(g)
    dev = data.draw(st.sampled_from(gw.devices))
    n_coils = len(ep._context._coils(dev))
    with unchanged(gw):
        # FC05 with a value other than 0xFF00 / 0x0000 is exception 03 (the spec), whatever the address
        assert ep._context.handle(dev.unit_id, pdu(5, address, value)) == exc(5, ILLEGAL_VALUE)
        bad_address = data.draw(st.integers(n_coils, 0xFFFF))
        assert ep._context.handle(dev.unit_id, pdu(5, bad_address, 0xFF00)) == exc(5, ILLEGAL_ADDRESS)
        count = data.draw(st.integers(1, 16))
        req = (
            bytes([15]) + struct.pack(">HHB", bad_address, count, (count + 7) // 8) + bytes((count + 7) // 8)
        )
        assert ep._context.handle(dev.unit_id, req) == exc(15, ILLEGAL_ADDRESS)


def test_the_properties_leave_the_gateways_as_they_found_them() -> None:
    """No property left a fault or local mode behind (they share module-wide gateways)."""
    for name, gw in gateways().items():
        assert not endpoint(name).unit_faults
        assert not any(d.local for d in gw.devices)
        assert gw.pending == []


def test_legacy_bess_has_no_coils_it_cannot_run() -> None:
    """Regression (found by the local-control property): the legacy BESS kept the ``run`` and
    ``alarm_reset`` coils of the 715 block it does not have, so FC05 answered 02 in remote
    control and the coil map promised commands that did not exist."""
    gw, ep = gateways()["legacy"], endpoint("legacy")
    pcs = gw.by_name["PCS01"]
    assert ep._context._coils(pcs) == []
    with unchanged(gw):
        assert ep._context.handle(pcs.unit_id, pdu(5, 0, 0xFF00)) == exc(5, ILLEGAL_ADDRESS)


def test_an_int_too_large_for_a_float_is_out_of_range() -> None:
    """Regression (found by the out-of-range property): ``write_value(dev, key, 10**400)``
    raised OverflowError out of the gateway instead of refusing the write."""
    gw = gateways()["lab_rack+"]
    pcs = gw.by_name["PCS01"]
    with unchanged(gw):
        assert gw.write_value(pcs, "704.WSet", 10**400) is WriteStatus.OUT_OF_RANGE
        assert gw.write_value(pcs, "704.WSet", -(10**400)) is WriteStatus.OUT_OF_RANGE
