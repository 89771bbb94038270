"""What the dashboard's page is sent: the site's layout and points, then frames that are the
runner's state (checked against the snapshot and the registers themselves), as strict JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hil.config import load_bench
from hil.run.runner import Manual, Runner
from hil.scenario.names import KEY_SIGNAL_LABELS
from hil.ui import Console, Feed, empty_timeline
from hil.wire.sunspec import BASE_ADDRESS


def _bench(site_name: str = "lab_rack") -> tuple[Runner, Feed, Console]:
    site, cfg = load_bench(site_name)
    runner = Runner(site, cfg, pacer=Manual(), serve=False)
    runner.play = empty_timeline(runner)
    return runner, Feed(runner), Console(runner)


def _strict(msg: dict[str, Any]) -> dict[str, Any]:
    """The message as the page parses it (no NaN or infinity in JSON)."""
    return json.loads(json.dumps(msg, allow_nan=False))  # type: ignore[no-any-return]


@pytest.mark.parametrize("site_name", ["lab_rack", "aidc_10k"])
def test_hello_lists_every_device_point_with_its_modbus_address(site_name: str) -> None:
    runner, feed, _ = _bench(site_name)
    hello = _strict(json.loads(feed.hello_json()))
    assert hello["site"] == site_name
    assert hello["mode"] == "serve"
    assert hello["scenario"] is None
    devices = {d.name: d for d in runner.gateway.devices}
    assert [d["name"] for d in hello["devices"]] == list(devices)
    for d in hello["devices"]:
        dev = devices[d["name"]]
        shown = {p["key"]: p for p in d["points"]}
        for p in dev.points:
            if p.implemented and p.pdef.type not in ("sunssf", "pad"):
                assert shown[p.key]["address"] == BASE_ADDRESS + p.offset
                assert shown[p.key]["writable"] == p.writable
                assert shown[p.key]["opcua"] is None  # nothing served
    diagram = hello["diagram"]
    assert diagram["cabinets"] == [d.name for d in devices.values() if d.kind == "bess"]
    assert diagram["gensets"] == [d.name for d in devices.values() if d.kind == "genset"]
    assert diagram["racks"] == runner.site.unit_count("gpu")
    assert {f["type"] for f in hello["faults"]} >= {"pcs_trip", "stuck_sensor", "ems_comm_loss"}
    assert "grid_outage" in {a["name"] for a in hello["actions"]}


def test_a_frame_is_the_snapshot_and_the_registers() -> None:
    runner, feed, _console = _bench("aidc_10k")
    asyncio.run(runner.step(3))
    frame = _strict(feed.frame())
    snap = runner.gateway.snapshot
    assert frame["t"] == pytest.approx(snap.t)
    assert frame["ticks"] == 3
    for name, value in frame["signals"].items():
        assert name in KEY_SIGNAL_LABELS
        assert value == pytest.approx(snap.scalars[name])
    a = snap.arrays
    assert len(frame["cabinets"]) == len(a["pcs.p_ac_kw"]) == 16
    for i, cab in enumerate(frame["cabinets"]):
        assert cab["p_kw"] == pytest.approx(a["pcs.p_ac_kw"][i])
        assert cab["soc_pct"] == pytest.approx(a["bess.soc_pct"][i])
    assert [g["p_kw"] for g in frame["gensets"]] == pytest.approx(list(a["genset.p_kw"]))
    assert frame["grid"]["breaker_closed"] is True
    assert frame["grid"]["available"] is True
    values = _strict(feed.device_values("PCS03"))  # type: ignore[arg-type]
    dev = runner.gateway.by_name["PCS03"]
    for p in dev.points:
        if p.key in values["values"] and isinstance(dev.value(p), float):
            assert values["values"][p.key] == pytest.approx(dev.value(p), nan_ok=True)
    assert values["frozen"] is False
    assert values["faulted"] == []
    assert feed.device_values("PCS99") is None


def test_events_reach_the_page_once_in_order_with_their_origin() -> None:
    runner, feed, console = _bench()
    feed.frame()
    console.act({"fault": {"type": "stale_values", "target": "PCS01"}})
    asyncio.run(runner.step(2))
    events = feed.frame()["events"]
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["ui_action", "fault_inject"]
    assert events[0]["source"] == "ui"
    assert events[0]["level"] == "ui"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert feed.frame()["events"] == []  # each once
    assert feed.device_values("PCS01")["frozen"] is True  # type: ignore[index]
    assert [f["type"] for f in feed.frame()["faults"]] == ["stale_values"]
    # a page that connects now gets the recent events and the history of the key signals
    hello = feed.hello()
    assert [e["kind"] for e in hello["events"]][:2] == ["ui_action", "fault_inject"]
    assert len(hello["history"]["t"]) == 4
