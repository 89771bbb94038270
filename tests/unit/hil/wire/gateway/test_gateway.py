"""The gateway in process (no network): register maps, write validation, reversion, heartbeats.

Lengths are checked against the SunSpec model JSON read here independently of ``hil.wire.sunspec``
(pysunspec2's own copies for the standard models, ``hil/wire/sunspec_models`` for the vendor ones).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil.config import load_site
from hil.wire.gateway import Device, Gateway, WriteStatus
from hil.wire.sunspec import encode_value, models_dir

SITES = ["lab_rack", "aidc_10k"]
BASE = 40000
WARM_TICKS = 30

# SunSpec not-implemented raw values (pysunspec2 mb.py), by type: (words, raw)
NI: dict[str, tuple[int, int]] = {
    "int16": (1, 0x8000),
    "uint16": (1, 0xFFFF),
    "count": (1, 0xFFFF),
    "acc16": (1, 0),
    "enum16": (1, 0xFFFF),
    "bitfield16": (1, 0xFFFF),
    "sunssf": (1, 0x8000),
    "int32": (2, 0x80000000),
    "uint32": (2, 0xFFFFFFFF),
    "acc32": (2, 0),
    "enum32": (2, 0xFFFFFFFF),
    "bitfield32": (2, 0xFFFFFFFF),
    "int64": (4, 0x8000000000000000),
    "uint64": (4, 0xFFFFFFFFFFFFFFFF),
    "acc64": (4, 0),
    "float32": (2, 0x7FC00000),
}


@cache
def model_json(model_id: int) -> dict[str, Any]:
    """The model definition: pysunspec2's shipped file if it has one, else ours (vendor models)."""
    import sunspec2

    for folder in (Path(sunspec2.__file__).parent / "models" / "json", models_dir()):
        f = folder / f"model_{model_id}.json"
        if f.is_file():
            return json.loads(f.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    raise AssertionError(f"no JSON definition for model {model_id}")


def json_length(group: dict[str, Any], regs: list[int], off: int, scope: dict[str, int]) -> int:
    """Registers of one instance of ``group`` at ``off``; repeat counts are read from ``regs``."""
    n = 0
    local = dict(scope)
    for p in group.get("points", []):
        size = int(p["size"])
        if size == 1 and p["type"] in ("uint16", "count"):
            local[p["name"]] = regs[off + n]
        n += size
    for g in group.get("groups", []):
        count = g.get("count", 1)
        reps = local[count] if isinstance(count, str) else int(count)
        for _ in range(reps):
            n += json_length(g, regs, off + n, local)
    return n


@pytest.fixture(scope="module", params=SITES)
def warm(request: pytest.FixtureRequest) -> Gateway:
    """A gateway of each shipped site, a few seconds in (read-only users)."""
    gw = Gateway(load_site(request.param))
    gw.step(WARM_TICKS)
    return gw


def all_regs(gw: Gateway, dev: Device) -> list[int]:
    regs = gw.read_registers(dev, BASE, dev.group.n_regs)
    assert regs is not None
    return regs


def addr(dev: Device, key: str) -> int:
    return BASE + dev.point(key).offset


def words(dev: Device, key: str, value: float) -> list[int]:
    p = dev.point(key)
    return encode_value(value, p.pdef.type, p.pdef.size, dev.sf_of(p))


def write(gw: Gateway, dev: Device, key: str, value: float) -> WriteStatus:
    """Write one point as an EMS would: its registers, at its address."""
    return gw.write_registers(dev, addr(dev, key), words(dev, key, value))


def val(dev: Device, key: str) -> Any:
    return dev.value(dev.point(key))


# -- the register maps ------------------------------------------------------------------------


def test_marker_and_chain(warm: Gateway) -> None:
    for dev in warm.devices:
        regs = all_regs(warm, dev)
        assert regs[:2] == [0x5375, 0x6E53], dev.name  # 'SunS' at PDU 40000
        a, seen = 2, []
        while regs[a] != 0xFFFF:
            mid, length = regs[a], regs[a + 1]
            expected = json_length(model_json(mid)["group"], regs, a, {}) - 2
            assert length == expected, f"{dev.name} model {mid} at {BASE + a}: L={length}, JSON {expected}"
            seen.append(mid)
            a += length + 2
        assert regs[a : a + 2] == [0xFFFF, 0], dev.name
        assert a + 2 == len(regs), f"{dev.name}: {len(regs) - a - 2} registers after the end model"
        assert seen == dev.models
        assert seen[0] == 1
        assert warm.read_registers(dev, BASE + len(regs), 1) is None  # past the end model
        assert warm.read_registers(dev, BASE - 1, 2) is None


def test_not_implemented_values(warm: Gateway) -> None:
    checked = 0
    for dev in warm.devices:
        regs = all_regs(warm, dev)
        for p in dev.points:
            if p.implemented or p.pdef.type == "pad" or (p.name in ("ID", "L") and len(p.browse) == 2):
                continue
            got = regs[p.offset : p.offset + p.words]
            if p.pdef.type == "string":
                assert got == [0] * p.words, f"{dev.name} {p.key}"
            else:
                n, raw = NI[p.pdef.type]
                expect = [(raw >> (16 * (n - 1 - k))) & 0xFFFF for k in range(n)]
                assert got == expect, f"{dev.name} {p.key} ({p.pdef.type}): {got} != NI {expect}"
                assert dev.value(p) is None or p.pdef.type.startswith("acc")
            checked += 1
    assert checked > 0


def test_scale_factors_enums_mandatory(warm: Gateway) -> None:
    for dev in warm.devices:
        for p in dev.points:
            v = dev.value(p)
            if p.pdef.type == "sunssf" and p.implemented:
                assert isinstance(v, int), f"{dev.name} {p.key}"
                assert -10 <= v <= 10, f"{dev.name} {p.key} = {v}"
            if p.implemented and p.pdef.type.startswith("enum") and p.pdef.symbols:
                assert v in p.pdef.symbols.values(), f"{dev.name} {p.key} = {v} not in {p.pdef.symbols}"
            if p.pdef.mandatory and p.pdef.type != "pad":
                assert v is not None, f"{dev.name} {p.key} is mandatory and not implemented"
                assert v != "", f"{dev.name} {p.key} is mandatory and empty"


# -- rejected writes change nothing -----------------------------------------------------------


def snapshot(gw: Gateway) -> dict[str, float]:
    return gw.site.snapshot().to_dict()


def assert_same(x: dict[str, float], y: dict[str, float]) -> None:
    """Exact equality, NaN equal to NaN."""
    assert x.keys() == y.keys()
    diff = {k: (x[k], y[k]) for k in x if not (x[k] == y[k] or (math.isnan(x[k]) and math.isnan(y[k])))}
    assert not diff


def images(gw: Gateway) -> dict[str, np.ndarray]:
    return {kind: grp.image.copy() for kind, grp in gw.groups.items()}


def assert_same_images(x: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> None:
    assert x.keys() == y.keys()
    for kind in x:
        assert np.array_equal(x[kind], y[kind]), kind


def _pcs(gw: Gateway) -> Device:
    return next(d for d in gw.devices if d.kind == "bess")


Case = Callable[[Gateway, Device], WriteStatus]
REFUSALS: dict[str, tuple[Case, WriteStatus]] = {
    "read-only point": (
        lambda gw, d: gw.write_registers(d, addr(d, "701.W"), [100]),
        WriteStatus.NOT_WRITABLE,
    ),
    "model header": (lambda gw, d: gw.write_registers(d, addr(d, "704.ID"), [704]), WriteStatus.NOT_WRITABLE),
    "WSet above rating": (lambda gw, d: write(gw, d, "704.WSet", 60_000), WriteStatus.OUT_OF_RANGE),
    "WSet below -rating": (lambda gw, d: write(gw, d, "704.WSet", -60_000), WriteStatus.OUT_OF_RANGE),
    "bad enum": (lambda gw, d: write(gw, d, "704.WSetEna", 5), WriteStatus.OUT_OF_RANGE),
    "WSet high word only": (
        lambda gw, d: gw.write_registers(d, addr(d, "704.WSet"), [0]),
        WriteStatus.NOT_WRITABLE,
    ),
    "WSet low word only": (
        lambda gw, d: gw.write_registers(d, addr(d, "704.WSet") + 1, [100]),
        WriteStatus.NOT_WRITABLE,
    ),
    "good then bad point": (  # WSetEna = 1 is fine, WSetMod = 7 is not: nothing is applied
        lambda gw, d: gw.write_registers(d, addr(d, "704.WSetEna"), [1, 7]),
        WriteStatus.OUT_OF_RANGE,
    ),
    "past the end": (
        lambda gw, d: gw.write_registers(d, BASE + d.group.n_regs, [1]),
        WriteStatus.NO_SUCH_POINT,
    ),
    "type mismatch": (lambda gw, d: gw.write_value(d, "704.WSet", "20 kW"), WriteStatus.TYPE_MISMATCH),
    "local control": (lambda gw, d: write(gw, d, "704.WSet", 20_000), WriteStatus.LOCAL_CONTROL),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_write_changes_nothing(case: str) -> None:
    fn, expected = REFUSALS[case]
    gw, ref = Gateway(load_site("lab_rack")), Gateway(load_site("lab_rack"))
    gw.step(10)
    ref.step(10)
    if case == "local control":
        for g in (gw, ref):
            g.set_local(_pcs(g), True)
    dev = _pcs(gw)
    assert dev.group.behaviour.site is gw.site
    before_snap, before_img = snapshot(gw), images(gw)
    assert fn(gw, dev) is expected
    assert_same(snapshot(gw), before_snap)
    assert_same_images(images(gw), before_img)
    assert gw.pending == []
    for _ in range(3):  # and the future is the one without the write
        gw.step()
        ref.step()
        assert_same(snapshot(gw), snapshot(ref))
        assert_same_images(images(gw), images(ref))


def test_accepted_write_is_held_and_queued() -> None:
    gw = Gateway(load_site("lab_rack"))
    dev = _pcs(gw)
    assert write(gw, dev, "704.WSet", -12_345) is WriteStatus.OK
    assert val(dev, "704.WSet") == -12_345  # readable at once
    assert gw.read_registers(dev, addr(dev, "704.WSet"), 2) == [0xFFFF, (-12_345) & 0xFFFF]
    assert len(gw.pending) == 1
    gw.step()
    assert gw.pending == []
    assert val(dev, "704.WSet") == -12_345


# -- reversion, heartbeats, watchdog ----------------------------------------------------------


def _running(gw: Gateway) -> Device:
    """The lab rack's PCS once its start-up sequence is done (InvSt RUNNING)."""
    dev = _pcs(gw)
    for _ in range(300):
        if val(dev, "701.InvSt") == 3:
            return dev
        gw.step()
    raise AssertionError("the PCS did not start within 30 s")


def test_throtpct_reads_what_a_limit_holds_back() -> None:
    """701.ThrotPct is the active power a limit holds back from what was asked, in % of the
    rating, and 0 while nothing does (it used to read the output itself, and NaN at rest). An
    over-temperature derate to half the rating against a set point of 80 % holds back 30 %."""
    gw = Gateway(load_site("lab_rack"))
    dev = _running(gw)
    pcs = gw.site.params.pcs
    assert val(dev, "701.ThrotPct") == 0
    w_set = 0.8 * pcs.p_rated_kw * 1000.0
    for key, v in (("704.WSet", w_set), ("704.WSetEna", 1)):
        assert write(gw, dev, key, v) is WriteStatus.OK, key
    for _ in range(20):
        gw.step()
    assert val(dev, "701.InvSt") == 3
    assert val(dev, "701.ThrotPct") == 0
    gw.site.set("pcs.derate_pu", 0.5)
    for _ in range(20):
        gw.step()
    a = gw.snapshot.arrays
    held = 100.0 * (a["pcs.p_set_kw"][0] - a["pcs.p_max_dis_kw"][0]) / pcs.p_rated_kw
    assert 25.0 < held < 35.0  # the derate binds: 80 % asked, about half available
    assert val(dev, "701.InvSt") == 4  # THROTTLED
    assert abs(val(dev, "701.ThrotPct") - held) <= 0.5 + 1e-9  # a whole percent on the wire
    gw.site.set("pcs.derate_pu", 1.0)
    for _ in range(20):
        gw.step()
    assert val(dev, "701.InvSt") == 3
    assert val(dev, "701.ThrotPct") == 0


def test_utility_dr_points_before_during_and_after_an_event() -> None:
    """64902 always serves a value: with no event DRSt 0, DRId 0 and DRLimW the PCC's rating
    (no limit; it was not-implemented, which OPC UA serves as BadNoData); announced, active
    and over, the event's own figures."""
    gw = Gateway(load_site("lab_rack"))
    util = next(d for d in gw.devices if d.kind == "utility")
    no_limit = float(util.group.behaviour.ratings["w_total"][0])
    gw.step()
    assert (val(util, "64902.DRSt"), val(util, "64902.DRId"), val(util, "64902.DRLimW")) == (0, 0, no_limit)
    t = gw.snapshot.t
    util.group.behaviour.set_event(4, start_s=t + 2.0, duration_s=3.0, limit_w=55_000.0)  # type: ignore[attr-defined]
    gw.step()
    assert (val(util, "64902.DRSt"), val(util, "64902.DRId"), val(util, "64902.DRLimW")) == (1, 4, 55_000)
    assert val(util, "64902.DRStrRem") == 2  # whole seconds, rounded up
    _step_to(gw, t + 3.0)
    assert (val(util, "64902.DRSt"), val(util, "64902.DRLimW")) == (2, 55_000)
    _step_to(gw, t + 6.0)
    assert (val(util, "64902.DRSt"), val(util, "64902.DRId"), val(util, "64902.DRLimW")) == (0, 0, no_limit)


def _step_to(gw: Gateway, t: float) -> None:
    while gw.snapshot.t < t - 1e-9:
        gw.step()


TRACED = ("701.W", "704.WSetRvrtRem", "704.WSetEna", "704.WSet")


def test_wset_followed_then_reverted() -> None:
    gw = Gateway(load_site("lab_rack"))
    dev = _running(gw)
    pcs = gw.site.params.pcs
    target = 20_000.0
    tol = 0.01 * target  # 1 % of the step
    ramp_s = target / (pcs.ramp_pct_per_s / 100.0 * pcs.p_rated_kw * 1000.0)
    for key, v in (("704.WSetRvrtTms", 5), ("704.WSetEnaRvrt", 0), ("704.WSet", target), ("704.WSetEna", 1)):
        assert write(gw, dev, key, v) is WriteStatus.OK, key
    t0 = gw.snapshot.t
    assert abs(val(dev, "701.W")) <= tol
    trace = []  # (t - t0, *TRACED) per tick
    while gw.snapshot.t < t0 + 5 + ramp_s + 3 * pcs.t_response_s + 0.2:
        gw.step()
        trace.append((gw.snapshot.t - t0, *(val(dev, k) for k in TRACED)))

    def at(t: float) -> tuple[Any, ...]:
        return next(row for row in trace if row[0] >= t - 1e-9)

    # the ramp, then a first-order lag with T_r = t_response_s (90 % at T_r)
    assert at(ramp_s + pcs.t_response_s)[1] >= 0.9 * target
    assert abs(at(ramp_s + 3 * pcs.t_response_s)[1] - target) <= tol
    # the reversion countdown in whole seconds, the setpoint held until it expires
    assert [at(k + 0.5)[2] for k in range(5)] == [5, 4, 3, 2, 1]
    assert all(row[3] == 1 and row[4] == target for row in trace if row[0] < 5 - 1e-9)
    assert abs(at(5 - 0.1)[1] - target) <= tol
    # expired: WSetEna := WSetEnaRvrt, WSet := WSetRvrt, and the PCS returns to 0
    assert at(5 + 0.2)[2:] == (0, 0, 0)
    assert abs(trace[-1][1]) <= tol


def test_heartbeats_count_seconds() -> None:
    gw = Gateway(load_site("lab_rack"))
    dev = _pcs(gw)
    gw.step(5)  # half-way between seconds
    hb0, der0 = val(dev, "802.Hb"), val(dev, "715.DERHb")
    for k in range(1, 6):
        gw.step(round(1.0 / gw.site.dt))
        assert val(dev, "802.Hb") == hb0 + k
        assert val(dev, "715.DERHb") == der0 + k


def test_controller_heartbeat_watchdog() -> None:
    gw = Gateway(load_site("lab_rack"))
    assert gw.watchdog_s == 10.0
    dev = _running(gw)
    for key, v in (("704.WSet", 10_000), ("704.WSetEna", 1), ("802.CtrlHb", 1)):
        assert write(gw, dev, key, v) is WriteStatus.OK, key
    t0 = gw.snapshot.t
    gw.step()
    assert val(dev, "802.CtrlHb") == 1
    _step_to(gw, t0 + gw.watchdog_s - 0.2)  # still fresh
    assert int(val(dev, "802.Evt1")) & 1 == 0
    assert val(dev, "704.WSetEna") == 1
    assert val(dev, "701.W") > 9_000
    _step_to(gw, t0 + gw.watchdog_s + 0.3)  # stale: comms lost, reversions forced
    assert int(val(dev, "802.Evt1")) & 1 == 1  # COMMUNICATION_ERROR
    assert val(dev, "704.WSetEna") == 0
    _step_to(gw, t0 + gw.watchdog_s + 3.0)
    assert abs(val(dev, "701.W")) < 200
    # a fresh heartbeat clears the alarm
    assert write(gw, dev, "802.CtrlHb", 2) is WriteStatus.OK
    gw.step(2)
    assert int(val(dev, "802.Evt1")) & 1 == 0


@pytest.mark.parametrize(("mode", "expected"), [("grid_following", 1), ("grid_forming", 2)])
def test_der_mode_reports_each_units_own_mode_in_an_island(mode: str, expected: int) -> None:
    site = load_site("lab_rack", overrides={"pcs": {"mode": mode}})
    gw = Gateway(site)
    dev = gw.by_name["PCS01"]
    gw.step(5)
    assert dev.value(dev.point("701.DERMode")) == 1  # grid-connected: following
    site.set("grid.available", 0)
    gw.step(5)
    assert dev.value(dev.point("701.DERMode")) == expected


def test_a_point_plan_encodes_its_points_as_the_whole_encode_does_and_nothing_else() -> None:
    """The encode of a few points (what a controller observes inside a stretch,
    ``Gateway.advance_idle(fresh=)``) writes the words the kind's whole encode writes for
    them, and leaves every other register alone."""
    gw = Gateway(load_site("aidc_10k"))
    gw.site.set("pcs.enable", 1)
    gw.step(30)
    grp = gw.groups["site"]
    whole = grp.image.copy()  # this tick's encode of every point
    keys = ("64900.GridW", "64900.BessW")
    cols = [c for key in keys for p in [grp.by_key[key]] for c in range(p.offset, p.offset + p.words)]
    grp.image[:] = 0xFFFF
    plan = gw._point_plan("site", frozenset(("site", k) for k in keys))
    plan.encode(gw.snapshot, {})
    assert not plan.needs_derived
    np.testing.assert_array_equal(grp.image[:, cols], whole[:, cols])
    others = np.ones(grp.image.shape[1], dtype=bool)
    others[cols] = False
    assert (grp.image[:, others] == 0xFFFF).all()
    assert whole[:, cols].any()  # the points carry a value (the site imports)
