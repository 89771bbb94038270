"""A few thousand hostile Modbus/TCP frames through ``tools/fuzz_modbus.py``'s harness (the long
run is ``python tools/fuzz_modbus.py --frames 200000``): every well-framed request answered once,
in order, bad framing closed, flood and slowloris clients closed, no write accepted, the twin
identical to an untouched reference, the legitimate client served, no descriptor leaked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hil.endpoints import ModbusLimits

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fuzz_modbus.py"


def load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_modbus", TOOL)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_modbus", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_hostile_traffic_is_refused_and_the_bench_keeps_going() -> None:
    fuzz = load_tool()
    limits = ModbusLimits(max_connections=12, idle_timeout_s=0.5, frame_timeout_s=0.3)
    rep = await fuzz.run_fuzz(frames=3000, seed=11, workers=3, limits=limits, flood_extra=10, rounds=2)
    assert rep.problems == []
    assert rep.frames_sent == 3000
    assert rep.answered > 2500
    assert rep.closes_seen == rep.closes_expected > 0
    assert rep.flood_refused >= 20
    assert rep.slowloris_closed == rep.slowloris == 4
    assert rep.legit_reads > 0
    assert rep.legit_failures == 0
    assert rep.writes_accepted == 0
    assert rep.twin_identical
    assert rep.fds_after <= rep.fds_before
    assert rep.server["errors"] == 0
    assert rep.ticks > 0
