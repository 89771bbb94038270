"""Observation faults in the gateway (no network): frozen devices, stuck and biased points.

Every test steps a faulted gateway next to a reference gateway built from the same site file
and stepped with the same writes: the twin is deterministic, so the reference shows both what a
fresh encode gives and that the fault never reaches the physics.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from hil.config import load_bench
from hil.wire.gateway import Device, Gateway, WriteStatus


def lab() -> Gateway:
    site, _endpoints = load_bench("lab_rack")
    return Gateway(site)


@pytest.fixture
def pair() -> tuple[Gateway, Gateway]:
    """(faulted, reference), both a few ticks in."""
    gw, ref = lab(), lab()
    gw.step(2)
    ref.step(2)
    return gw, ref


def images(gw: Gateway) -> dict[str, np.ndarray]:
    return {d.name: d.regs.copy() for d in gw.devices}


def same_twin(a: Gateway, b: Gateway) -> None:
    assert a.snapshot.to_dict() == b.snapshot.to_dict()
    for kind, grp in a.groups.items():
        for path, values in grp.controls.items():
            np.testing.assert_array_equal(values, b.groups[kind].controls[path], err_msg=f"{kind} {path}")


def val(gw: Gateway, device: str, key: str) -> float | int | str | None:
    d = gw.by_name[device]
    return d.value(d.point(key))


# -- freeze -------------------------------------------------------------------------------------


def test_freeze_holds_the_registers_while_the_twin_runs(pair: tuple[Gateway, Gateway]) -> None:
    gw, ref = pair
    meter, pcs = gw.by_name["GridMeter"], gw.by_name["PCS01"]
    gw.freeze(meter)
    gw.freeze("PCS01")
    assert gw.frozen(meter)
    assert gw.frozen(pcs)
    assert not gw.frozen("Totals")
    held = images(gw)
    seen_w, seen_t = set(), set()
    for _ in range(12):  # across a heartbeat second and the meter's load steps
        gw.step()
        ref.step()
        for name in ("GridMeter", "PCS01"):
            np.testing.assert_array_equal(gw.by_name[name].regs, held[name], err_msg=name)
        np.testing.assert_array_equal(gw.by_name["Totals"].regs, ref.by_name["Totals"].regs)
        seen_w.add(val(ref, "GridMeter", "203.W"))
        seen_t.add(gw.snapshot["site.p_it_kw"])
    assert len(seen_w) > 1
    assert len(seen_t) > 1
    assert val(ref, "PCS01", "802.Hb") != val(gw, "PCS01", "802.Hb")  # the heartbeat stopped too
    same_twin(gw, ref)
    gw.unfreeze(meter)
    gw.unfreeze(pcs)
    np.testing.assert_array_equal(meter.regs, held["GridMeter"])  # until the next encode
    gw.step()
    ref.step()
    for d in gw.devices:  # then what a fresh encode gives
        np.testing.assert_array_equal(d.regs, ref.by_name[d.name].regs, err_msg=d.name)
    gw.unfreeze(meter)  # no-op


def test_a_write_to_a_frozen_device_reaches_the_twin(pair: tuple[Gateway, Gateway]) -> None:
    gw, ref = pair
    pcs = gw.by_name["PCS01"]
    gw.freeze(pcs)
    held = pcs.regs.copy()
    for g in (gw, ref):
        d = g.by_name["PCS01"]
        assert g.write_value(d, "704.WSetEna", 1) is WriteStatus.OK
        assert g.write_value(d, "704.WSet", 20_000) is WriteStatus.OK
    np.testing.assert_array_equal(pcs.regs, held)  # the readback is frozen as well
    for _ in range(5):
        gw.step()
        ref.step()
    np.testing.assert_array_equal(pcs.regs, held)
    assert gw.snapshot["pcs[0].p_set_kw"] == ref.snapshot["pcs[0].p_set_kw"] != 0
    same_twin(gw, ref)
    gw.unfreeze(pcs)
    gw.step()
    ref.step()
    np.testing.assert_array_equal(pcs.regs, ref.by_name["PCS01"].regs)
    assert val(gw, "PCS01", "704.WSet") == 20_000


# -- overrides ----------------------------------------------------------------------------------


def test_stuck_and_biased_points(pair: tuple[Gateway, Gateway]) -> None:
    gw, ref = pair
    meter = gw.by_name["GridMeter"]
    assert meter.sf_of(meter.point("203.W")) == 1
    assert meter.sf_of(meter.point("203.A")) == -2
    stuck_now = val(gw, "GridMeter", "203.W")
    gw.set_override(meter, "203.W")  # stuck at what it reads now
    gw.set_override(meter, "203.A", gain=1.5, offset=2.0)  # biased, scaled (SF -2)
    gw.set_override(meter, "203.Hz", value=49.5)  # stuck at a value
    gw.set_override("PCS01", "702.WMaxRtg", offset=50.0)  # a constant point: no drift
    assert sorted(gw.overrides(meter)) == ["203.A", "203.Hz", "203.W"]
    moved = set()
    for _ in range(12):
        gw.step()
        ref.step()
        assert val(gw, "GridMeter", "203.W") == stuck_now
        assert val(gw, "GridMeter", "203.Hz") == 49.5
        a = val(ref, "GridMeter", "203.A")
        assert isinstance(a, float)
        assert val(gw, "GridMeter", "203.A") == pytest.approx(a * 1.5 + 2.0, abs=0.01)
        assert val(gw, "PCS01", "702.WMaxRtg") == 50_050
        assert val(gw, "GridMeter", "203.PhVphA") == val(ref, "GridMeter", "203.PhVphA")  # untouched
        moved.add(val(ref, "GridMeter", "203.W"))
    assert len(moved) > 1
    same_twin(gw, ref)  # the fault never reaches the physics
    for key in ("203.W", "203.A", "203.Hz"):
        gw.clear_override(meter, key)
    gw.clear_override("PCS01", "702.WMaxRtg")
    gw.clear_override(meter, "203.W")  # no-op
    # cleared at once, with the values of the last encode
    np.testing.assert_array_equal(meter.regs, ref.by_name["GridMeter"].regs)
    np.testing.assert_array_equal(gw.by_name["PCS01"].regs, ref.by_name["PCS01"].regs)
    gw.step()
    ref.step()
    for d in gw.devices:
        np.testing.assert_array_equal(d.regs, ref.by_name[d.name].regs, err_msg=d.name)


def test_override_keeps_not_implemented_and_can_report_it(pair: tuple[Gateway, Gateway]) -> None:
    gw, _ref = pair
    pcs = gw.by_name["PCS01"]
    ni = next(
        p
        for p in pcs.points
        if pcs.value(p) is None and p.pdef.type not in ("string", "pad", "sunssf") and p.words == 1
    )
    gw.set_override(pcs, ni.key, offset=10.0, gain=2.0)
    gw.step()
    assert pcs.value(ni) is None  # a bias of "not implemented" is still not implemented
    gw.set_override(pcs, "713.SoC", value=math.nan)  # a sensor that reports NI
    gw.step()
    assert val(gw, "PCS01", "713.SoC") is None
    gw.clear_override(pcs, "713.SoC")
    assert val(gw, "PCS01", "713.SoC") == pytest.approx(gw.snapshot["bess[0].soc_pct"], abs=0.01)


def test_a_write_to_an_overridden_setpoint(pair: tuple[Gateway, Gateway]) -> None:
    gw, ref = pair
    pcs = gw.by_name["PCS01"]
    gw.set_override(pcs, "704.WSet", offset=100.0)
    for g in (gw, ref):
        assert g.write_value(g.by_name["PCS01"], "704.WSet", 5_000) is WriteStatus.OK
    assert val(gw, "PCS01", "704.WSet") == 5_100  # the readback is biased at once
    gw.step()
    ref.step()
    assert val(gw, "PCS01", "704.WSet") == 5_100
    assert gw.groups["bess"].controls["704.WSet"][0, 0] == 5_000  # the device holds the true value
    same_twin(gw, ref)
    gw.clear_override(pcs, "704.WSet")
    assert val(gw, "PCS01", "704.WSet") == 5_000


def test_override_on_a_frozen_device_waits_for_unfreeze(pair: tuple[Gateway, Gateway]) -> None:
    gw, ref = pair
    meter = gw.by_name["GridMeter"]
    gw.freeze(meter)
    held = meter.regs.copy()
    gw.set_override(meter, "203.W", offset=1000.0)
    gw.step(3)
    ref.step(3)
    np.testing.assert_array_equal(meter.regs, held)
    gw.unfreeze(meter)
    gw.step()
    ref.step()
    assert val(gw, "GridMeter", "203.W") == val(ref, "GridMeter", "203.W") + 1000.0  # type: ignore[operator]


def test_override_errors(pair: tuple[Gateway, Gateway]) -> None:
    gw, _ref = pair
    meter = gw.by_name["GridMeter"]
    with pytest.raises(ValueError, match=r"did you mean '203\.W'"):
        gw.set_override(meter, "203.WW", offset=1.0)
    with pytest.raises(ValueError, match=r"sunssf"):
        gw.set_override(meter, "203.W_SF", value=0)
    with pytest.raises(ValueError, match="either value or offset"):
        gw.set_override(meter, "203.W", value=1.0, offset=1.0)
    with pytest.raises(ValueError, match="string"):
        gw.set_override(meter, "1.Mn", offset=1.0)
    with pytest.raises(ValueError, match="number"):
        gw.set_override(meter, "203.W", value="high")
    with pytest.raises(ValueError, match="did you mean 'PCS01'"):
        gw.freeze("PCS1")
    other = lab()
    with pytest.raises(ValueError, match="no device"):
        gw.freeze(other.by_name["PCS01"])  # a device of another gateway
    assert not gw.overrides(meter)
    gw.set_override(meter, "1.Mn", value="ACME")  # a string can be stuck
    assert val(gw, "GridMeter", "1.Mn") == "ACME"


# -- cost and logging ---------------------------------------------------------------------------


def test_no_fault_no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    gw = lab()
    calls: list[int] = []
    monkeypatch.setattr(gw, "_serve_faults", lambda: calls.append(1))
    gw.step(3)
    assert gw.write_value(gw.by_name["PCS01"], "704.WSet", 1_000) is WriteStatus.OK
    assert calls == []
    gw.freeze("GridMeter")
    gw.step()
    assert calls == [1]


def test_faults_are_logged(pair: tuple[Gateway, Gateway], caplog: pytest.LogCaptureFixture) -> None:
    gw, _ref = pair
    meter: Device = gw.by_name["GridMeter"]
    with caplog.at_level(logging.INFO, logger="hil.wire.gateway"):
        gw.freeze(meter)
        gw.unfreeze(meter)
        gw.set_override(meter, "203.W", offset=5.0)
        gw.clear_override(meter, "203.W")
    text = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("GridMeter registers frozen" in m for m in text)
    assert any("GridMeter registers unfrozen" in m for m in text)
    assert any("GridMeter 203.W biased" in m for m in text)
    assert any("GridMeter 203.W override cleared" in m for m in text)
