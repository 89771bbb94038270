"""The OPC UA endpoint against real clients: asyncua's own client, and node-opcua (independent).

Servers bind 127.0.0.1 port 0. Time is driven in-process (``gw.step()`` then
``await ep.publish()``), except for the node-opcua runs, which step in real time at the site's
tick while the client subscribes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from asyncua import Client, Node, ua

from hil.config import load_site
from hil.protocols.opcua.endpoint import SIM_EPOCH, UNECE_NAMESPACE, OpcUaEndpoint, is_analog, unece_unit_id
from hil.wire.gateway import Device, Gateway, PointInstance

JS = Path(__file__).resolve().parent / "js"
ANALOG = ua.NodeId(ua.ObjectIds.AnalogItemType)
HAS_COMPONENT = ua.NodeId(ua.ObjectIds.HasComponent)
HAS_PROPERTY = ua.NodeId(ua.ObjectIds.HasProperty)
WAIT_S = 10.0  # bound on waiting for a notification (never a fixed sleep)


@dataclass
class Served:
    gw: Gateway
    ep: OpcUaEndpoint
    client: Client
    ns: int

    def node(self, path: str) -> Node:
        return self.client.get_node(ua.NodeId(path, self.ns))

    def point_node(self, device: str, key: str) -> Node:
        d = self.gw.by_name[device]
        return self.client.get_node(self.ep.nodeid(d, d.point(key)))


@contextlib.asynccontextmanager
async def served(site: str = "lab_rack", gw: Gateway | None = None) -> AsyncIterator[Served]:
    gw = gw or Gateway(load_site(site))
    ep = OpcUaEndpoint(gw, port=0)
    await ep.start()
    try:
        client = Client(ep.url, timeout=30)
        client.session_timeout = 600_000  # the server's maximum: asyncua logs a revision otherwise
        async with client:
            ns = await client.get_namespace_index(ep.namespace_uri)
            yield Served(gw, ep, client, ns)
    finally:
        await ep.stop()


@pytest_asyncio.fixture
async def lab() -> AsyncIterator[Served]:
    async with served("lab_rack") as s:
        yield s


def expected_paths(gw: Gateway, ep: OpcUaEndpoint) -> dict[str, tuple[Device, PointInstance]]:
    site = gw.site.params.name
    return {
        ".".join((site, d.area, d.name, *p.browse)): (d, p)
        for d, p in gw.iter_points()
        if p.implemented and p.pdef.type != "sunssf"
    }


async def read_many(client: Client, nodeids: list[ua.NodeId], attr: ua.AttributeIds) -> list[ua.DataValue]:
    out: list[ua.DataValue] = []
    for k in range(0, len(nodeids), 500):
        params = ua.ReadParameters()
        params.NodesToRead = [ua.ReadValueId(NodeId=n, AttributeId=attr) for n in nodeids[k : k + 500]]
        out += await client.uaclient.read(params)
    return out


async def browse_variables(root: Node) -> dict[str, ua.ReferenceDescription]:
    """Every variable below ``root`` (objects recursively), by string NodeId."""
    found: dict[str, ua.ReferenceDescription] = {}
    level = [root]
    while level:
        nxt = []
        for node in level:
            for ref in await node.get_references(
                refs=ua.ObjectIds.HierarchicalReferences, direction=ua.BrowseDirection.Forward
            ):
                if ref.NodeClass == ua.NodeClass.Object:
                    nxt.append(Node(root.session, ref.NodeId))
                elif ref.NodeClass == ua.NodeClass.Variable and ref.ReferenceTypeId == HAS_COMPONENT:
                    found[str(ref.NodeId.Identifier)] = ref
        level = nxt
    return found


async def write_status(node: Node, variant: ua.Variant) -> ua.StatusCode:
    params = ua.WriteParameters()
    params.NodesToWrite = [
        ua.WriteValue(NodeId=node.nodeid, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(variant))
    ]
    return (await node.session.write(params))[0]


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def assert_same_state(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    keys = sorted(a)
    np.testing.assert_array_equal(np.array([a[k] for k in keys]), np.array([b[k] for k in keys]))


class Collector:
    """asyncua subscription handler: notifications into queues the test awaits with a bound."""

    def __init__(self) -> None:
        self.changes: asyncio.Queue[tuple[Node, ua.DataValue]] = asyncio.Queue()
        self.events: asyncio.Queue[Any] = asyncio.Queue()

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.changes.put_nowait((node, data.monitored_item.Value))

    def event_notification(self, event: Any) -> None:
        self.events.put_nowait(event)


# -- asyncua client ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_address_space_mirrors_the_gateway(lab: Served) -> None:
    gw, ep, client = lab.gw, lab.ep, lab.client
    assert ep.url.startswith("opc.tcp://127.0.0.1:")
    assert not ep.url.endswith(":0/")
    assert ep.namespace_uri == "urn:aidc-hil:lab_rack"
    endpoints = await client.get_endpoints()
    assert endpoints
    assert all(e.EndpointUrl == ep.url for e in endpoints)
    root = await client.nodes.objects.get_child([f"{lab.ns}:lab_rack"])
    assert root.nodeid == ua.NodeId("lab_rack", lab.ns)
    found = await browse_variables(root)
    expected = expected_paths(gw, ep)
    assert set(found) == set(expected)
    assert len(found) == ep.variable_count
    for path, ref in found.items():
        _, p = expected[path]
        assert ref.NodeId == ua.NodeId(path, lab.ns)
        assert ref.BrowseName == ua.QualifiedName(p.name, lab.ns)
    # the documented browse path, including a repeated group's folder
    w = await client.nodes.objects.get_child(
        [f"{lab.ns}:{name}" for name in ("lab_rack", "BESS", "PCS01", "DERMeasureAC", "W")]
    )
    assert w.nodeid.Identifier == "lab_rack.BESS.PCS01.DERMeasureAC.W"
    soc = lab.node("lab_rack.BESS.PCS01.lithium_ion_bank.string_1.StrSoC")
    assert (await soc.read_browse_name()).Name == "StrSoC"
    assert not any(p.pdef.type == "sunssf" for _, p in expected.values())


@pytest.mark.asyncio
async def test_device_identification_and_methods(lab: Served) -> None:
    for d in lab.gw.devices:
        dev = lab.node(lab.ep.node_path(d))
        names = {(await c.read_browse_name()).Name: c for c in await dev.get_children()}
        assert str((await names["Manufacturer"].read_value()).Text) == d.value(d.point("1.Mn"))
        assert str((await names["Model"].read_value()).Text) == d.value(d.point("1.Md"))
        assert await names["SerialNumber"].read_value() == d.value(d.point("1.SN"))
        assert await names["SoftwareRevision"].read_value() == d.value(d.point("1.Vr"))
        assert await names["UnitId"].read_value() == d.unit_id
        methods = {"Start", "Stop", "AlarmReset"} & set(names)
        wanted = {"start": "Start", "stop": "Stop", "alarm_reset": "AlarmReset"}
        assert methods == {wanted[c] for c in d.group.behaviour.commands}


@pytest.mark.asyncio
async def test_types_units_ranges_and_access(lab: Served) -> None:
    gw, ep, client = lab.gw, lab.ep, lab.client
    served_points = ep.variables()
    nodeids = [ua.NodeId(s, lab.ns) for _, _, s in served_points]
    dtypes = await read_many(client, nodeids, ua.AttributeIds.DataType)
    access = await read_many(client, nodeids, ua.AttributeIds.AccessLevel)
    user_access = await read_many(client, nodeids, ua.AttributeIds.UserAccessLevel)
    sampling = await read_many(client, nodeids, ua.AttributeIds.MinimumSamplingInterval)
    n_analog = 0
    for (d, p, s), dt, al, ual, si in zip(served_points, dtypes, access, user_access, sampling, strict=True):
        node = lab.node(s)
        writable = bool(al.Value.Value & ua.AccessLevel.CurrentWrite.mask)
        assert writable == p.writable, s
        assert bool(ual.Value.Value & ua.AccessLevel.CurrentWrite.mask) == p.writable, s
        assert si.Value.Value == pytest.approx(gw.site.dt * 1000.0)
        typedef = await node.read_type_definition()
        if is_analog(p):
            n_analog += 1
            assert typedef == ANALOG, s
            assert dt.Value.Value == ua.NodeId(ua.ObjectIds.Double), s
            eu = await (await node.get_child("0:EngineeringUnits")).read_value()
            assert isinstance(eu, ua.EUInformation)
            assert eu.NamespaceUri == UNECE_NAMESPACE
            code = p.unit_code()
            if p.pdef.units:
                assert code is not None, f"{s}: no UNECE code for {p.pdef.units!r}"
            assert eu.UnitId == unece_unit_id(code[0] if code else "C62"), s
            assert eu.DisplayName.Text
            rng = await (await node.get_child("0:EURange")).read_value()
            assert isinstance(rng, ua.Range), s
            assert rng.Low < rng.High, s
            if p.writable:
                lo, hi = d.group.ranges[p.path]
                if math.isfinite(lo[d.index]):
                    assert rng.Low == pytest.approx(max(lo[d.index], rng.Low))
                if math.isfinite(hi[d.index]):
                    assert rng.High == pytest.approx(hi[d.index])
        else:
            assert typedef == ua.NodeId(ua.ObjectIds.BaseDataVariableType), s
            want = {
                "string": ua.ObjectIds.String,
                "enum16": ua.ObjectIds.UInt16,
                "bitfield16": ua.ObjectIds.UInt16,
                "enum32": ua.ObjectIds.UInt32,
                "bitfield32": ua.ObjectIds.UInt32,
                "uint16": ua.ObjectIds.UInt16,
                "uint32": ua.ObjectIds.UInt32,
            }[p.pdef.type]
            assert dt.Value.Value == ua.NodeId(want), s
            if p.pdef.symbols:
                desc = (await node.read_description()).Text
                assert all(sym in desc for sym in p.pdef.symbols), s
    assert n_analog > 100
    wset = lab.point_node("PCS01", "704.WSet")
    rng = await (await wset.get_child("0:EURange")).read_value()
    w_max = gw.by_name["PCS01"].group.behaviour.ratings["w_max"][0]
    assert (rng.Low, rng.High) == (pytest.approx(-w_max), pytest.approx(w_max))


@pytest.mark.asyncio
async def test_values_equal_device_values(lab: Served) -> None:
    gw, ep = lab.gw, lab.ep
    pcs = gw.by_name["PCS01"]
    assert gw.write_value(pcs, "704.WSetEna", 1).name == "OK"
    assert gw.write_value(pcs, "704.WSet", 20_000).name == "OK"
    for _ in range(80):
        gw.step()
        await ep.publish()
    served_points = ep.variables()
    dvs = await read_many(
        lab.client, [ua.NodeId(s, lab.ns) for _, _, s in served_points], ua.AttributeIds.Value
    )
    n_none = 0
    for (d, p, s), dv in zip(served_points, dvs, strict=True):
        want = d.value(p)
        if want is None:
            n_none += 1
            assert dv.StatusCode.value == ua.StatusCodes.BadNoData, s
            continue
        assert dv.StatusCode.is_good(), s
        got = dv.Value.Value
        if isinstance(want, str):
            assert got == want, s
        else:
            assert got == want, (s, got, want)
            assert type(got) is (float if is_analog(p) else int), s
    assert n_none < len(served_points) // 4
    assert pcs.value(pcs.point("701.W")) != 0  # the PCS runs: measurements are not trivially zero
    assert await ep.publish() == 0  # nothing changed since the last publish


@pytest.mark.asyncio
async def test_setpoint_write_is_accepted_and_read_back(lab: Served) -> None:
    gw = lab.gw
    pcs = gw.by_name["PCS01"]
    wset = lab.point_node("PCS01", "704.WSet")
    status = await write_status(wset, ua.Variant(12_345.0, ua.VariantType.Double))
    assert status.is_good()
    assert await wset.read_value() == 12_345.0
    assert pcs.value(pcs.point("704.WSet")) == 12_345
    ena = lab.point_node("PCS01", "704.WSetEna")
    assert (await write_status(ena, ua.Variant(1, ua.VariantType.UInt16))).is_good()
    gw.step()
    await lab.ep.publish()
    assert await wset.read_value() == 12_345.0
    assert await ena.read_value() == 1
    assert gw.write_log[-1][1:] == ("PCS01", "704.WSetEna", 1, "ok")
    # asyncua's high-level write guesses the variant type from the Python value
    await wset.write_value(ua.DataValue(ua.Variant(-2_000.0, ua.VariantType.Double)))
    assert pcs.value(pcs.point("704.WSet")) == -2_000
    # any numeric type that converts exactly is taken: the Int32 Modbus serves, 1.0 for an enum
    assert (await write_status(wset, ua.Variant(-3_000, ua.VariantType.Int32))).is_good()
    assert pcs.value(pcs.point("704.WSet")) == -3_000
    assert (await write_status(ena, ua.Variant(0.0, ua.VariantType.Double))).is_good()
    assert gw.write_log[-1][1:] == ("PCS01", "704.WSetEna", 0, "ok")


@pytest.mark.asyncio
async def test_refused_writes(lab: Served) -> None:
    gw = lab.gw
    pcs = gw.by_name["PCS01"]
    cases = [
        ("701.W", ua.Variant(1.0, ua.VariantType.Double), ua.StatusCodes.BadNotWritable),
        ("802.SoC", ua.Variant(10.0, ua.VariantType.Double), ua.StatusCodes.BadNotWritable),
        ("701.InvSt", ua.Variant(1, ua.VariantType.UInt16), ua.StatusCodes.BadNotWritable),
        ("704.WSet", ua.Variant(1e9, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
        ("704.WSet", ua.Variant(math.nan, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
        ("704.WMaxLimPct", ua.Variant(150.0, ua.VariantType.Double), ua.StatusCodes.BadOutOfRange),
        ("704.WSetEna", ua.Variant(7, ua.VariantType.UInt16), ua.StatusCodes.BadOutOfRange),
        (
            "704.WSet",
            ua.Variant(2**53 + 1, ua.VariantType.Int64),
            ua.StatusCodes.BadTypeMismatch,
        ),  # no exact double
        ("704.WSet", ua.Variant(True, ua.VariantType.Boolean), ua.StatusCodes.BadTypeMismatch),
        ("704.WSet", ua.Variant("1000", ua.VariantType.String), ua.StatusCodes.BadTypeMismatch),
        ("704.WSetEna", ua.Variant(1.5, ua.VariantType.Double), ua.StatusCodes.BadTypeMismatch),
        ("704.WSetEna", ua.Variant(-1, ua.VariantType.Int32), ua.StatusCodes.BadTypeMismatch),
        ("704.WSet", ua.Variant([1.0, 2.0], ua.VariantType.Double), ua.StatusCodes.BadTypeMismatch),
    ]
    for key, variant, code in cases:
        node = lab.point_node("PCS01", key)
        before = await node.read_data_value(raise_on_bad_status=False)
        status = await write_status(node, variant)
        assert status.value == code, (key, variant, status)
        after = await node.read_data_value(raise_on_bad_status=False)
        assert after.Value == before.Value, key
    # properties and containers of the namespace are not writable either
    eu = await lab.point_node("PCS01", "701.W").get_child("0:EngineeringUnits")
    assert (
        await write_status(eu, ua.Variant("x", ua.VariantType.String))
    ).value == ua.StatusCodes.BadNotWritable
    with pytest.raises(ua.UaStatusCodeError) as err:
        await lab.point_node("PCS01", "701.W").write_value(1.0)
    assert err.value.code in (ua.StatusCodes.BadNotWritable, ua.StatusCodes.BadUserAccessDenied)
    # local control: setpoints refuse remote writes
    gw.set_local(pcs, True)
    status = await write_status(lab.point_node("PCS01", "704.WSet"), ua.Variant(1.0, ua.VariantType.Double))
    assert status.value == ua.StatusCodes.BadUserAccessDenied
    assert gw.writes_accepted == 0


@pytest.mark.asyncio
async def test_rejected_writes_leave_the_twin_unchanged() -> None:
    reference = Gateway(load_site("lab_rack"))
    async with served("lab_rack") as s:
        gw = s.gw
        for g in (gw, reference):
            g.step(20)
        await s.ep.publish()
        assert_same_state(gw.site.snapshot().to_dict(), reference.site.snapshot().to_dict())
        before = {
            k: await s.point_node("PCS01", k).read_value() for k in ("704.WSet", "704.WSetEna", "715.OpCtl")
        }
        bad = [
            ("704.WSet", ua.Variant(1e12, ua.VariantType.Double)),
            ("704.WSet", ua.Variant(2**53 + 1, ua.VariantType.Int64)),  # no exact double
            ("704.WSetEna", ua.Variant(3, ua.VariantType.UInt16)),
            ("715.OpCtl", ua.Variant(9, ua.VariantType.UInt16)),
            ("701.W", ua.Variant(0.0, ua.VariantType.Double)),
        ]
        for key, variant in bad:
            assert not (await write_status(s.point_node("PCS01", key), variant)).is_good()
        assert gw.pending == []
        assert_same_state(gw.site.snapshot().to_dict(), reference.site.snapshot().to_dict())
        for g in (gw, reference):
            g.step(10)
        await s.ep.publish()
        assert_same_state(gw.site.snapshot().to_dict(), reference.site.snapshot().to_dict())
        pcs = gw.by_name["PCS01"]
        ref_pcs = reference.by_name["PCS01"]
        np.testing.assert_array_equal(pcs.regs, ref_pcs.regs)
        after = {k: await s.point_node("PCS01", k).read_value() for k in before}
        assert after == before


@pytest.mark.asyncio
async def test_methods_start_stop_alarm_reset(lab: Served) -> None:
    gw = lab.gw
    pcs = gw.by_name["PCS01"]
    dev = lab.node(lab.ep.node_path(pcs))
    opctl = lab.point_node("PCS01", "715.OpCtl")
    gw.step(100)
    await lab.ep.publish()
    assert pcs.value(pcs.point("701.InvSt")) != 0  # running or starting, not OFF

    await dev.call_method(f"{lab.ns}:Stop")
    assert await opctl.read_value() == 0
    gw.step(50)
    await lab.ep.publish()
    assert gw.snapshot.arrays["pcs.state"][0] not in (3, 4)  # neither running nor throttled
    assert await lab.point_node("PCS01", "701.St").read_value() == 0

    await dev.call_method(f"{lab.ns}:Start")
    assert await opctl.read_value() == 1
    gw.step(150)
    await lab.ep.publish()
    assert gw.snapshot.arrays["pcs.state"][0] in (3, 4)

    await dev.call_method(f"{lab.ns}:AlarmReset")
    assert await lab.point_node("PCS01", "715.AlarmReset").read_value() == 1
    gw.step()
    await lab.ep.publish()
    assert await lab.point_node("PCS01", "715.AlarmReset").read_value() == 0  # the device clears it

    gw.set_local(pcs, True)
    with pytest.raises(ua.UaStatusCodeError) as err:
        await dev.call_method(f"{lab.ns}:Stop")
    assert err.value.code == ua.StatusCodes.BadUserAccessDenied
    assert await opctl.read_value() == 1
    meter = lab.node(lab.ep.node_path(gw.by_name["GridMeter"]))
    with pytest.raises(ua.UaStatusCodeError):
        await meter.call_method(f"{lab.ns}:Start")


@pytest.mark.asyncio
async def test_bms_alarm_raises_and_clears_an_event(lab: Served) -> None:
    gw, ep = lab.gw, lab.ep
    pcs = gw.by_name["PCS01"]
    dev = lab.node(ep.node_path(pcs))
    handler = Collector()
    sub = await lab.client.create_subscription(50, handler)
    try:
        await sub.subscribe_events(dev, ep.event_type)
        await sub.subscribe_events(lab.client.nodes.server, ep.event_type)
        gw.step(5)
        await ep.publish()
        gw.site.set("bms.fault_ground", 1)
        gw.step()
        t_raise = gw.snapshot.t
        await ep.publish()
        seen: list[Any] = []
        while sum(e.Symbol == "GROUND_FAULT" for e in seen) < 2:
            seen.append(await asyncio.wait_for(handler.events.get(), WAIT_S))
        ground = [e for e in seen if e.Symbol == "GROUND_FAULT"]
        assert len(ground) == 2  # from the device and from the Server object
        ev = ground[0]
        assert ev.Message.Text == "PCS01: GROUND_FAULT raised"
        assert ev.Severity == 700
        assert ev.SourceNode == dev.nodeid
        assert ev.SourceName == "PCS01"
        assert ev.Active is True
        assert ev.Point == "802.Evt1"
        assert utc(ev.Time) == SIM_EPOCH + timedelta(seconds=t_raise)
        # clear the fault and reset: a "cleared" event follows
        gw.site.set("bms.fault_ground", 0)
        await dev.call_method(f"{lab.ns}:AlarmReset")
        for _ in range(20):
            gw.step()
            await ep.publish()
        cleared = None
        while cleared is None:
            e = await asyncio.wait_for(handler.events.get(), WAIT_S)
            if e.Symbol == "GROUND_FAULT" and not e.Active:
                cleared = e
        assert cleared.Message.Text == "PCS01: GROUND_FAULT cleared"
    finally:
        await sub.delete()


@pytest.mark.asyncio
async def test_source_timestamps_follow_simulated_time(lab: Served) -> None:
    gw, ep = lab.gw, lab.ep
    wset = lab.point_node("PCS01", "704.WSet")
    handler = Collector()
    sub = await lab.client.create_subscription(50, handler)
    try:
        await sub.subscribe_data_change(wset)
        _, first = await asyncio.wait_for(handler.changes.get(), WAIT_S)  # the initial value
        assert utc(first.SourceTimestamp) == SIM_EPOCH
        pcs = gw.by_name["PCS01"]
        stamps = []
        for k in range(3):
            gw.write_value(pcs, "704.WSet", 1000.0 * (k + 1))
            gw.step(7)
            stamps.append(SIM_EPOCH + timedelta(seconds=gw.snapshot.t))
            await ep.publish()
            _, dv = await asyncio.wait_for(handler.changes.get(), WAIT_S)
            assert dv.Value.Value == 1000.0 * (k + 1)
            # written between ticks, published with the time of the tick it took effect on
            assert utc(dv.SourceTimestamp) == SIM_EPOCH + timedelta(seconds=gw.snapshot.t - 6 * gw.site.dt)
            assert abs((utc(dv.ServerTimestamp) - datetime.now(UTC)).total_seconds()) < 60
        w = await lab.point_node("Totals", "64900.GridW").read_data_value()
        assert SIM_EPOCH <= utc(w.SourceTimestamp) <= stamps[-1]
    finally:
        await sub.delete()


@pytest.mark.asyncio
async def test_publish_writes_only_changed_nodes(lab: Served) -> None:
    gw, ep = lab.gw, lab.ep
    gw.step()
    n1 = await ep.publish()
    assert 0 < n1 < ep.variable_count
    assert await ep.publish() == 0
    gw.step(3)  # several ticks before one publish: each node once, with its latest value
    n3 = await ep.publish()
    assert 0 < n3 < ep.variable_count
    assert ep.stats.nodes == n3


@pytest.mark.asyncio
async def test_aidc_10k_address_space_builds_and_serves() -> None:
    t0 = time.perf_counter()
    async with served("aidc_10k") as s:
        build_s = time.perf_counter() - t0
        assert s.ep.variable_count > 5000
        assert build_s < 60
        d = s.gw.by_name["PCS16"]
        node = s.node(s.ep.node_path(d, d.point("803.string[2].StrSoC")))
        assert node.nodeid.Identifier == "aidc_10k.BESS.PCS16.lithium_ion_bank.string_2.StrSoC"
        assert await node.read_value() == d.value(d.point("803.string[2].StrSoC"))
        rack = s.gw.by_name["Totals"]
        last = rack.point(f"64901.Rack[{s.gw.site.params.gpu.n_racks}].W")
        assert (await s.node(s.ep.node_path(rack, last)).read_value()) == rack.value(last)
        genset = s.node(s.ep.node_path(s.gw.by_name["Genset01"]))
        await genset.call_method(f"{s.ns}:Start")
        assert s.gw.by_name["Genset01"].value(s.gw.by_name["Genset01"].point("715.OpCtl")) == 1


# -- node-opcua: an independent client ---------------------------------------------------------


def node_opcua() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the OPC UA tests need it for node-opcua; run `make test`")
    if not (JS / "node_modules" / "node-opcua-client").is_dir():
        pytest.fail(
            f"node-opcua-client is not installed in {JS}: run `make test` "
            "(or `npm install --no-audit --no-fund` there)"
        )
    return node


async def step_in_real_time(gw: Gateway, ep: OpcUaEndpoint, stop: asyncio.Event) -> list[float]:
    """The serve loop: absolute deadlines at the site's tick; a PCS setpoint ramps every tick."""
    pcs = gw.by_name["PCS01"]
    dt = gw.site.dt
    lateness = []
    t0 = time.perf_counter()
    k = 0
    while not stop.is_set():
        gw.write_value(pcs, "704.WSet", 5_000.0 + 100.0 * (k % 200))
        gw.step()
        await ep.publish()
        k += 1
        deadline = t0 + k * dt
        lateness.append(max(0.0, time.perf_counter() - deadline))
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
    return lateness


@pytest.mark.asyncio
@pytest.mark.parametrize("site", ["lab_rack", "aidc_10k"])
async def test_node_opcua_browses_reads_subscribes_and_writes(site: str) -> None:
    node = node_opcua()
    gw = Gateway(load_site(site))
    pcs = gw.by_name["PCS01"]
    gw.write_value(pcs, "704.WSetEna", 1)
    gw.step(100)  # the PCS has started: its measurements change every tick
    seconds = 3.0
    async with served(site, gw=gw) as s:
        ep = s.ep
        measured = f"{site}.BESS.PCS01.DERMeasureAC.W"
        opts = {
            "namespace": ep.namespace_uri,
            "root": site,
            "subscribe": [
                measured,
                f"{site}.BESS.PCS01.DERCtlAC.WSet",
                f"{site}.Site.Totals.aidc_site.GridW",
            ],
            "interval_ms": gw.site.dt * 1000.0,
            "seconds": seconds,
            "writes": [
                {"node": f"{site}.BESS.PCS01.DERCtlAC.WMaxLimPct", "dataType": "Double", "value": 80},
                {"node": measured, "dataType": "Double", "value": 1},
                {"node": f"{site}.BESS.PCS01.DERCtlAC.WMaxLimPct", "dataType": "Int32", "value": 70},
                {"node": f"{site}.BESS.PCS01.DERCtlAC.WMaxLimPct", "dataType": "Double", "value": 150},
                {"node": f"{site}.BESS.PCS01.DERCtlAC.WMaxLimPct", "dataType": "String", "value": "60"},
            ],
        }
        stop = asyncio.Event()
        loop = asyncio.create_task(step_in_real_time(gw, ep, stop))
        try:
            proc = await asyncio.create_subprocess_exec(
                node,
                str(JS / "opcua_check.js"),
                ep.url,
                json.dumps(opts),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=JS,
            )
            try:
                out, err = await asyncio.wait_for(proc.communicate(), 120)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise
        finally:
            stop.set()
            await loop
        assert proc.returncode == 0, err.decode()[-3000:]
        doc = json.loads([line for line in out.decode().splitlines() if line.startswith("{")][-1])

    ns = doc["namespaceIndex"]
    assert ns == s.ns
    expected = expected_paths(gw, ep)
    variables = {
        n["nodeId"]: n for n in doc["nodes"] if n["nodeClass"] == "Variable" and n["reference"] == "ns=0;i=47"
    }
    assert set(variables) == {f"ns={ns};s={path}" for path in expected}
    for path, (_d, p) in expected.items():
        n = variables[f"ns={ns};s={path}"]
        assert n["browseName"] == p.name
        assert n["status"] in ("Good", "BadNoData"), (path, n["status"])
        assert bool(n["accessLevel"] & 2) == p.writable, path
        if is_analog(p):
            assert n["typeDefinition"] == "ns=0;i=2368", path
            assert n["dataType"] == "ns=0;i=11", path
            units = n.get("units")
            assert units, path
            assert units["unitId"] > 0, path
            assert units["displayName"], path
            assert units["namespaceUri"] == UNECE_NAMESPACE
            assert n.get("euRange"), path
            assert n["euRange"][0] < n["euRange"][1], path

    # subscriptions at the tick rate: 701.W follows a setpoint ramped every tick
    expected_count = seconds / gw.site.dt
    for key in (measured, f"{site}.BESS.PCS01.DERCtlAC.WSet"):
        rec = doc["subscribed"][key]
        assert rec["count"] >= 0.5 * expected_count, (key, rec["count"], expected_count)
        stamps = rec["sourceTimestamps"]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == len(stamps)
    assert doc["timings"]["revised_publishing_interval_ms"] == pytest.approx(gw.site.dt * 1000.0)

    statuses = [w["status"] for w in doc["writes"]]
    assert statuses[0] == "Good"
    assert statuses[1] in ("BadNotWritable", "BadUserAccessDenied")
    assert statuses[2] == "Good"  # an Int32 to a Double setpoint: converts exactly, taken
    assert statuses[3] == "BadOutOfRange"
    assert statuses[4] == "BadTypeMismatch"
    assert pcs.value(pcs.point("704.WMaxLimPct")) == 70
    assert [e[1:] for e in gw.write_log if e[2] == "704.WMaxLimPct"] == [
        ("PCS01", "704.WMaxLimPct", 80, "ok"),
        ("PCS01", "704.WMaxLimPct", 70, "ok"),
        ("PCS01", "704.WMaxLimPct", 150, "out of range"),
    ]
