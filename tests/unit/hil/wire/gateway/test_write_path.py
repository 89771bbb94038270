"""The write path: one writer per tick boundary, and the last write wins.

A device passes a control register to the twin only when the register is written, or when its
reversion timer or the comm-loss watchdog fires; it never re-asserts unchanged registers. So a
scenario ``set:`` of a twin input holds until the next write to it. At one tick boundary the
runner applies the EMS writes first and the scenario's events after them: the scenario wins a
tie, and a later write of either kind takes over (docs/design-decisions.md, "The write path").

Scenario runs go through ``run_scenario`` (as fast as possible, no servers). The EMS is played
two ways the runner must treat alike: a wire client (``Gateway.write_registers`` between ticks,
as the Modbus adapter calls it) and an in-process controller (``Gateway.write_value`` from
``on_tick`` at the boundary, as the stand-in EMS does). Tolerances come from each device's own
response (PCS ramp and first-order lags, the genset's governor lag); where the twin echoes the
input itself (``pcs[i].p_set_kw``, ``pcs[i].enable``) the check is exact.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hil.config import load_site
from hil.run.runner import AsFastAsPossible, Runner, prepare_run, run_scenario
from hil.trace.store import read_events, read_trace
from hil.wire.gateway import Device, Gateway, WriteStatus
from hil.wire.sunspec import BASE_ADDRESS, encode_value
from twin.models.bms import Contactor
from twin.models.genset import GensetState
from twin.models.pcs import PcsState

Write = tuple[str, str, float]  # device, point key, value (engineering units)

POWER_ON = "power-on state"
BY_WRITE = "register write"


# -- playing a scenario against a scripted EMS ----------------------------------------------------
@dataclass
class ScriptedEms:
    """An in-process controller (the runner's ``Controller`` protocol) that writes given points at
    given ticks, at the boundary, through ``Gateway.write_value`` as the stand-in does."""

    gw: Gateway
    script: dict[int, list[Write]]
    name: str = "scripted"
    silenced: bool = False
    writes: int = 0
    rejected: int = 0

    def on_tick(self, t_s: float) -> None:
        for dev, key, value in self.script.get(round(t_s / self.gw.site.dt), []):
            assert self.gw.write_value(self.gw.by_name[dev], key, value) is WriteStatus.OK, (dev, key)
            self.writes += 1


def wire_write(gw: Gateway, dev: Device, key: str, value: float) -> WriteStatus:
    """Write one point as a Modbus client does: its registers at its address (FC16)."""
    p = dev.point(key)
    words = encode_value(value, p.pdef.type, p.pdef.size, dev.sf_of(p))
    return gw.write_registers(dev, BASE_ADDRESS + p.offset, list(words))


@dataclass
class Played:
    trace: Any  # pyarrow.Table
    events: list[dict[str, Any]]
    smoothing: np.ndarray  # the twin's GPU smoothing flag after each tick
    dt: float

    def column(self, name: str) -> np.ndarray:
        return np.asarray(self.trace.column(name).to_numpy(zero_copy_only=False), dtype=float)


def play(
    tmp_path: Path, scenario: dict[str, Any], *, writes: dict[float, list[Write]], writer: str
) -> Played:
    """Run ``scenario`` with an EMS that makes ``writes`` (simulated time -> writes) applied at
    those boundaries: ``writer`` "wire" writes between ticks, "in-process" at the boundary."""
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    prepared = prepare_run(path)
    gw = prepared.gateway
    dt = prepared.site.dt
    script = {round(t / dt): ops for t, ops in writes.items()}
    if writer == "in-process":
        prepared = prepared._replace(controller=ScriptedEms(gw, script))
    smoothing: list[bool] = []

    def on_start(runner: Runner) -> None:
        if writer == "wire":

            def between_ticks(r: Runner) -> None:  # after tick k-1: applied at boundary k
                for dev, key, value in script.get(r.site.tick, []):
                    assert wire_write(gw, gw.by_name[dev], key, value) is WriteStatus.OK, (dev, key)

            runner.on_tick.append(between_ticks)
        runner.on_tick.append(lambda r: smoothing.append(r.site.gpu.smoothing))

    out = tmp_path / "run"
    outcome = asyncio.run(
        run_scenario(prepared, out_dir=out, pacer=AsFastAsPossible(), serve=False, on_start=on_start)
    )
    assert not outcome.interrupted
    return Played(read_trace(out), read_events(out).to_pylist(), np.asarray(smoothing, dtype=float), dt)


# -- every writable twin input: scenario, EMS, tie, later writes, events ---------------------------
@dataclass(frozen=True)
class Control:
    """One twin input a device drives, and how to see it.

    Timeline: the scenario sets S1 at 0; at ``b1`` the EMS commands E1 and the scenario sets S2
    at the same boundary (S2 must win); at ``b2`` the EMS commands E2 (it takes over); at ``b3``
    the scenario sets S3 (it takes over). Each segment's reading is checked over its last
    ``hold_s`` (the whole segment where the twin echoes the input exactly)."""

    input: str
    site: str
    device: str
    ems: Callable[[float], list[tuple[str, float]]]  # EMS value -> (point, value) writes
    values: tuple[float, float, float, float, float]  # S1, E1, S2, E2, S3
    signal: str  # trace column, or "gpu.smoothing" (the twin's flag, sampled per tick)
    reading: Callable[[float], float]  # what ``signal`` reads once value v is in force
    tol: float
    first_s: float  # the first segment (start-up included)
    seg_s: float
    hold_s: float
    initial: dict[str, Any] = field(default_factory=dict)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        b1 = self.first_s
        return b1, b1 + self.seg_s, b1 + 2 * self.seg_s, b1 + 3 * self.seg_s


def _lab_pcs() -> Any:
    return load_site("lab_rack").params.pcs


def _aidc() -> Any:
    return load_site("aidc_10k").params


def _q_control() -> Control:
    pcs = _lab_pcs()
    values = (10.0, -12.0, 8.0, -12.0, 5.0)  # kvar, inside ±q_inject_max_pu × 50 kVA
    tau = pcs.t_response_q_s  # a lag that reaches 90 % at T_r has τ = T_r / ln 10 < T_r
    seg, hold = 6 * tau + 2.0, 2.0
    span = max(values) - min(values)
    return Control(
        "pcs[0].q_set_kvar", "lab_rack", "PCS01",
        lambda v: [("704.VarSetEna", 1.0), ("704.VarSet", v * 1000.0)],
        values, "pcs[0].q_ac_kvar", lambda v: v,
        tol=span * math.exp(-(seg - hold) / tau) + 1e-3,
        first_s=pcs.start_s + 3.0 + seg, seg_s=seg, hold_s=hold,
    )  # fmt: skip


def _genset_p_control() -> Control:
    p = _aidc().genset
    values = (800.0, 300.0, 1200.0, 300.0, 600.0)  # kW
    seg, hold = 7 * p.tau_s + 2.0, 2.0
    span = max(values) - min(values)
    return Control(
        "genset[0].p_set_kw", "aidc_10k", "Genset01",
        lambda v: [("704.WSetEna", 1.0), ("704.WSet", v * 1000.0)],
        values, "genset[0].p_kw", lambda v: v,
        tol=span * math.exp(-(seg - hold) / p.tau_s) + 1e-3,  # on a stiff grid: no droop term
        first_s=p.start_delay_s + 2.0 + seg, seg_s=seg, hold_s=hold,
        initial={"genset[0].start": 1},
    )  # fmt: skip


def _pv_control() -> Control:
    kva = _aidc().pv.s_inverter_kva
    return Control(
        "pv.p_limit_pct", "aidc_10k", "PV01",
        lambda v: [("704.WMaxLimPctEna", 1.0), ("704.WMaxLimPct", v)],
        (30.0, 70.0, 50.0, 70.0, 20.0), "pv.p_ac_kw", lambda v: v / 100.0 * kva,
        tol=1e-3 * kva,  # curtailment below the available DC power is held to the watt
        first_s=10.0, seg_s=10.0, hold_s=9.0,
        initial={"pv.irradiance_w_m2": 1000},  # DC enough for 70 % of the inverter
    )  # fmt: skip


CONTROLS = {
    "pcs.enable": lambda: Control(
        "pcs[0].enable", "lab_rack", "PCS01",
        lambda v: [("715.OpCtl", 1.0 if v else 0.0)],  # START / STOP
        (0.0, 1.0, 0.0, 1.0, 0.0), "pcs[0].enable", lambda v: v,
        tol=0.0, first_s=10.0, seg_s=10.0, hold_s=10.0,
    ),
    "bms.disconnect": lambda: Control(
        "bms[0].disconnect", "lab_rack", "PCS01",
        lambda v: [("802.SetOp", 2.0 if v else 1.0)],  # DISCONNECT / CONNECT
        (1.0, 0.0, 1.0, 0.0, 1.0), "bms[0].contactor",
        lambda v: float(Contactor.OPEN if v else Contactor.CLOSED),
        tol=0.0, first_s=10.0, seg_s=10.0, hold_s=5.0,
    ),
    "pcs.p_set_kw": lambda: Control(
        "pcs[0].p_set_kw", "lab_rack", "PCS01",
        lambda v: [("704.WSetEna", 1.0), ("704.WSet", v * 1000.0)],
        (20.0, -15.0, 10.0, -15.0, 5.0), "pcs[0].p_set_kw", lambda v: v,
        tol=0.0, first_s=10.0, seg_s=10.0, hold_s=10.0,
    ),
    "pcs.q_set_kvar": _q_control,
    "pv.p_limit_pct": _pv_control,
    "genset.start": lambda: Control(
        "genset[0].start", "aidc_10k", "Genset01",
        lambda v: [("715.OpCtl", 1.0 if v else 0.0)],
        (1.0, 0.0, 1.0, 0.0, 1.0), "genset[0].state",
        lambda v: float(GensetState.RUNNING if v else GensetState.COOLDOWN),  # stopping: cool-down
        tol=0.0, first_s=_aidc().genset.start_delay_s + 7.0, seg_s=6.0, hold_s=5.0,
    ),
    "genset.p_set_kw": _genset_p_control,
    "gpu.smoothing": lambda: Control(
        "gpu.smoothing", "aidc_10k", "Totals",
        lambda v: [("64901.Smth", v)],
        (1.0, 0.0, 1.0, 0.0, 1.0), "gpu.smoothing", lambda v: v,
        tol=0.0, first_s=5.0, seg_s=5.0, hold_s=5.0,
    ),
}  # fmt: skip

CASES = [(name, "wire") for name in CONTROLS] + [
    ("pcs.p_set_kw", "in-process"),
    ("pcs.enable", "in-process"),
    ("genset.p_set_kw", "in-process"),
]


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


@pytest.mark.parametrize(("name", "writer"), CASES, ids=[f"{n}-{w}" for n, w in CASES])
def test_last_write_at_a_boundary_wins(name: str, writer: str, tmp_path: Path) -> None:
    c = CONTROLS[name]()
    s1, e1, s2, e2, s3 = c.values
    b1, b2, b3, end = c.bounds
    scenario = {
        "scenario": "write_path",
        "site": c.site,
        "duration": f"{end:g} s",
        "controller": "external",
        "initial": dict(c.initial),
        "events": [
            {"at": "0 s", "set": {c.input: s1}},
            {"at": f"{b1:g} s", "set": {c.input: s2}},
            {"at": f"{b3:g} s", "set": {c.input: s3}},
        ],
    }
    writes = {b1: [(c.device, k, v) for k, v in c.ems(e1)], b2: [(c.device, k, v) for k, v in c.ems(e2)]}
    run = play(tmp_path, scenario, writes=writes, writer=writer)

    # the twin: each segment reads what its last writer commanded, tick after tick
    t = run.column("t_s")
    x = run.smoothing if c.signal == "gpu.smoothing" else run.column(c.signal)
    assert x.size == t.size
    for (a, b), v, who in zip(
        ((0.0, b1), (b1, b2), (b2, b3), (b3, end)),
        (s1, s2, e2, s3),
        ("scenario", "scenario over the EMS at the same boundary", "a later EMS write", "a later set"),
        strict=True,
    ):
        window = (t > b - c.hold_s + 1e-9) & (t <= b + 1e-9)
        assert window.sum() >= round(min(c.hold_s, b - a) / run.dt) - 1
        err = np.abs(x[window] - c.reading(v))
        assert err.max() <= c.tol, f"{who}: {c.signal} should read {c.reading(v):g} in ({a:g}, {b:g}] s"

    # the events: every writer of the input, in the order it wrote
    rows = [r for r in run.events if r["target"] == c.input and r["kind"] in ("event", "input")]
    power_on = [r for r in rows if r["detail"] == POWER_ON]
    rest = [r for r in rows if r["detail"] != POWER_ON]
    assert rows[: len(power_on)] == power_on  # the power-on state (PCS, PV) comes first
    got = [(r["t_s"], r["kind"], r["value"]) for r in rest]
    want = [(0.0, "event", s1), (b1, "input", e1), (b1, "event", s2), (b2, "input", e2), (b3, "event", s3)]
    assert len(got) == len(want), got
    for (tg, kg, vg), (tw, kw, vw) in zip(got, want, strict=True):
        assert (kg, _close(tg, tw), _close(vg, vw)) == (kw, True, True), (got, want)
    assert all(r["detail"] == BY_WRITE for r in rest if r["kind"] == "input")
    assert all(r["detail"] == f"{c.input} = {r['value']:g}" for r in rest if r["kind"] == "event")
    # the EMS's own writes are there too, before the scenario's event at the shared boundary
    tie_event = run.events.index(rest[2])
    ems_writes = [
        i
        for i, r in enumerate(run.events)
        if r["kind"] == "write_accepted" and r["target"] == c.device and _close(r["t_s"], b1)
    ]
    assert [run.events[i]["detail"].split(" = ")[0] for i in ems_writes] == [k for k, _ in c.ems(e1)]
    assert max(ems_writes) < tie_event


# -- the reported defect, as written ------------------------------------------------------------
def test_scenario_set_drives_the_pcs_with_no_ems(tmp_path: Path) -> None:
    """lab_rack, no EMS: ``set: {pcs.enable: 1}`` then ``pcs[0].p_set_kw: 20 kW`` gives 20 kW
    once the PCS has started, and keeps it (it used to stay at 0 kW)."""
    pcs = _lab_pcs()
    target = 20.0
    scenario = {
        "scenario": "set_pcs",
        "site": "lab_rack",
        "duration": "40 s",
        "controller": "external",
        "events": [
            {"at": "0 s", "set": {"pcs.enable": 1}},
            {"at": "1 s", "set": {"pcs[0].p_set_kw": f"{target:g} kW"}},
        ],
    }
    run = play(tmp_path, scenario, writes={}, writer="wire")
    t, p, state = run.column("t_s"), run.column("pcs[0].p_ac_kw"), run.column("pcs[0].state")
    running = np.flatnonzero(state == PcsState.RUNNING)
    assert running.size, "the PCS never started"
    t_run = t[running[0]]
    ramp_s = target / (pcs.ramp_pct_per_s / 100.0 * pcs.p_rated_kw)
    settled = t >= t_run + ramp_s + 3 * pcs.t_response_s  # ramp, then a lag 90 % in T_r
    assert t_run < 20.0
    assert settled.sum() > 100
    np.testing.assert_allclose(p[settled], target, atol=0.01 * target)  # 1 % of the step


# -- the gateway alone -------------------------------------------------------------------------
def _running(gw: Gateway) -> Device:
    dev = gw.by_name["PCS01"]
    for _ in range(300):
        if dev.value(dev.point("701.InvSt")) == PcsState.RUNNING:
            return dev
        gw.step()
    raise AssertionError("the PCS did not start within 30 s")


def _write(gw: Gateway, dev: Device, *points: tuple[str, float]) -> None:
    for key, value in points:
        assert wire_write(gw, dev, key, value) is WriteStatus.OK, key


def test_power_on_state_reaches_the_twin_once() -> None:
    gw = Gateway(load_site("lab_rack"))
    assert [(r[2], r[3], r[4]) for r in gw.input_log] == [
        ("pcs[0].enable", 1.0, POWER_ON),
        ("bms[0].disconnect", 0.0, POWER_ON),
        ("pcs[0].p_set_kw", 0.0, POWER_ON),
        ("pcs[0].q_set_kvar", 0.0, POWER_ON),
    ]
    gw.step()
    assert gw.snapshot["pcs[0].enable"] == 1.0  # a bench PCS is enabled at power-on
    gw.site.set("pcs.enable", 0)
    gw.site.set("pcs[0].p_set_kw", 7.0)
    for _ in range(50):
        gw.step()
        assert (gw.snapshot["pcs[0].enable"], gw.snapshot["pcs[0].p_set_kw"]) == (0.0, 7.0)
    assert len(gw.input_log) == 4


def test_only_the_units_written_are_pushed() -> None:
    gw = Gateway(load_site("aidc_10k"))
    gw.site.set("pcs.p_set_kw", 7.0)  # every unit, as a scenario set would
    _write(gw, gw.by_name["PCS03"], ("704.WSetEna", 1), ("704.WSet", 30_000))
    n_log = len(gw.input_log)
    for _ in range(20):
        gw.step()
        p = np.array([gw.snapshot[f"pcs[{i}].p_set_kw"] for i in range(gw.site.n_cab)])
        assert p[2] == 30.0
        assert np.all(np.delete(p, 2) == 7.0)
    assert [(r[1], r[2], r[3]) for r in gw.input_log[n_log:]] == [("PCS03", "pcs[2].p_set_kw", 30.0)]


def test_the_same_boundary_scenario_after_ems() -> None:
    """At the gateway: writes applied, then a scenario set, then the tick; a later write wins."""
    gw = Gateway(load_site("lab_rack"))
    dev = gw.by_name["PCS01"]
    _write(gw, dev, ("704.WSetEna", 1), ("704.WSet", 10_000))
    gw.apply_writes()
    gw.site.set("pcs[0].p_set_kw", 20.0)  # the scenario, at the same boundary
    gw.advance()
    gw.step(10)
    assert gw.snapshot["pcs[0].p_set_kw"] == 20.0
    _write(gw, dev, ("704.WSet", 10_000))  # the same value again: a write all the same
    gw.step()
    assert gw.snapshot["pcs[0].p_set_kw"] == 10.0


def test_applying_twice_at_one_boundary_counts_down_once() -> None:
    """``apply_writes`` called again at the same boundary (then ``advance``) runs the reversion
    timer exactly as ``step`` does, tick for tick, through its expiry."""
    ref, gw = Gateway(load_site("lab_rack")), Gateway(load_site("lab_rack"))
    devs = [_running(ref), _running(gw)]
    for g, dev in zip((ref, gw), devs, strict=True):
        _write(g, dev, ("704.WSetRvrtTms", 5), ("704.WSet", 10_000), ("704.WSetEna", 1))
    seen = []
    for _ in range(70):
        ref.step()
        gw.apply_writes()
        gw.apply_writes()
        gw.advance()
        rem = [d.value(d.point("704.WSetRvrtRem")) for d in devs]
        p = [g.snapshot["pcs[0].p_set_kw"] for g in (ref, gw)]
        assert rem[0] == rem[1]
        assert p[0] == p[1]
        seen.append((rem[0], p[0]))
    assert seen[0] == (5, 10.0)
    assert seen[-1] == (0, 0.0)


def test_a_reversion_is_a_write_and_only_then() -> None:
    gw = Gateway(load_site("lab_rack"))
    dev = _running(gw)
    _write(gw, dev, ("704.WSetRvrtTms", 3), ("704.WSet", 10_000), ("704.WSetEna", 1))
    gw.step()
    t0 = gw.snapshot.t
    gw.site.set("pcs[0].p_set_kw", 25.0)  # an operator override while the timer runs
    while gw.snapshot.t < t0 + 3.0 - 0.2:
        gw.step()
        assert gw.snapshot["pcs[0].p_set_kw"] == 25.0
    n_log = len(gw.input_log)
    gw.step(3)  # the timer expires: WSetEna := WSetEnaRvrt (0), the PCS goes to 0
    assert gw.snapshot["pcs[0].p_set_kw"] == 0.0
    assert [(r[2], r[3], r[4]) for r in gw.input_log[n_log:]] == [("pcs[0].p_set_kw", 0.0, "reversion")]
    gw.site.set("pcs[0].p_set_kw", 12.0)  # nothing re-asserts the reverted value afterwards
    for _ in range(50):
        gw.step()
        assert gw.snapshot["pcs[0].p_set_kw"] == 12.0


def test_the_comm_loss_watchdog_is_a_write() -> None:
    gw = Gateway(load_site("lab_rack"))
    dev = _running(gw)
    _write(gw, dev, ("704.WSet", 10_000), ("704.WSetEna", 1), ("802.CtrlHb", 1))
    gw.step()
    t0 = gw.snapshot.t
    gw.site.set("pcs[0].p_set_kw", 25.0)
    while gw.snapshot.t < t0 + gw.watchdog_s - 0.2:
        gw.step()
        assert gw.snapshot["pcs[0].p_set_kw"] == 25.0
    n_log = len(gw.input_log)
    gw.step(5)
    assert gw.snapshot["pcs[0].p_set_kw"] == 0.0
    assert [(r[2], r[4]) for r in gw.input_log[n_log:]] == [("pcs[0].p_set_kw", "comm-loss watchdog")]


def test_legacy_personality_pushes_only_what_is_written() -> None:
    gw = Gateway(load_site("lab_rack"), legacy=True)
    dev = gw.by_name["PCS01"]
    w_max = gw.site.params.pcs.p_rated_kw
    _write(gw, dev, ("124.InOutWRte_RvrtTms", 4), ("124.OutWRte", 40), ("124.StorCtl_Mod", 2))
    gw.step()
    assert gw.snapshot["pcs[0].p_set_kw"] == pytest.approx(0.4 * w_max)
    gw.site.set("pcs[0].p_set_kw", 5.0)
    t0 = gw.snapshot.t
    while gw.snapshot.t < t0 + 4.0 - 0.3:
        gw.step()
        assert gw.snapshot["pcs[0].p_set_kw"] == 5.0
    gw.step(5)  # model 124's reversion: StorCtl_Mod, OutWRte, InWRte := 0
    assert gw.snapshot["pcs[0].p_set_kw"] == 0.0
    assert gw.input_log[-1][2:] == ("pcs[0].p_set_kw", 0.0, "reversion")
