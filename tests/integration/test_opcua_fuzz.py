"""A few hundred hostile OPC UA requests through ``tools/fuzz_opcua.py``'s harness (the long run
is ``python tools/fuzz_opcua.py --requests 12000``, attackers in another process; here they run
in a thread with their own event loop): malformed transport messages are answered with an Error
message or closed, over-limit requests get their Bad status, no hostile write or wrong-object
method call changes the twin, the legitimate client is served, nothing is left open."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from hil.endpoints import OpcUaLimits

TOOL = Path(__file__).resolve().parents[2] / "tools" / "fuzz_opcua.py"


def load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("fuzz_opcua", TOOL)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_opcua", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.asyncio
@pytest.mark.timeout(120)
async def test_hostile_opcua_traffic_is_refused_and_the_bench_keeps_going() -> None:
    fuzz = load_tool()
    limits = OpcUaLimits(
        max_sessions=4, max_subscriptions=2, max_monitored_items=40, max_nodes_per_request=50
    )
    rep = await fuzz.run_fuzz(requests=100, seed=3, workers=2, limits=limits, same_process=True)
    at = rep.attack
    assert rep.problems == []
    assert at.requests >= 100
    assert at.raw > 20
    # every malformed-transport class got its Error message (or a close), none hung
    assert at.raw_outcomes.get("hung", 0) == 0
    assert at.raw_outcomes.get("ERR BadTcpMessageTooLarge", 0) > 0
    assert at.raw_outcomes.get("ERR BadTcpMessageTypeInvalid", 0) > 0
    assert at.statuses.get("BadTooManyOperations", 0) > 0
    assert at.statuses.get("BadMethodInvalid", 0) + at.statuses.get("BadNodeIdInvalid", 0) > 0
    assert at.statuses.get("BadOutOfRange", 0) + at.statuses.get("BadTypeMismatch", 0) > 0
    assert at.sessions > 0
    assert at.legit_reads > 0
    assert at.legit_failures == 0
    assert rep.writes_accepted == 0
    assert rep.twin_identical
    assert rep.fds_after <= rep.fds_before
    assert rep.sessions_left == rep.connections_left == 0
    assert rep.ticks > 0
    assert rep.tracebacks_logged == 0
