"""The pytest plugin's fixtures and marker, used as a project's own tests would use them."""

from __future__ import annotations

from typing import Any

import pytest

from hil.run.runner import SimTimeoutError


@pytest.mark.asyncio
@pytest.mark.hil_site("lab_rack")
async def test_runner_and_modbus_client_see_the_same_site(hil_runner: Any, hil_modbus: Any) -> None:
    await hil_runner.step(10)
    dev = hil_runner.gateway.by_name["PCS01"]
    rr = await hil_modbus.read_holding_registers(40000, count=2, device_id=dev.unit_id)
    assert not rr.isError()
    assert rr.registers == [0x5375, 0x6E53]  # 'SunS'


@pytest.mark.asyncio
async def test_opcua_client_reads_a_value_with_its_simulated_timestamp(
    hil_runner: Any, hil_opcua: Any
) -> None:
    await hil_runner.step(20)
    _, _, node_id = hil_runner.opcua.variables()[0]
    from asyncua import ua

    ns = await hil_opcua.get_namespace_index(hil_runner.opcua.namespace_uri)
    dv = await hil_opcua.get_node(ua.NodeId(node_id, ns)).read_data_value()
    assert dv.StatusCode.is_good()


@pytest.mark.asyncio
@pytest.mark.hil_timeout(1.0)
async def test_timeout_marker_counts_simulated_seconds(hil_runner: Any) -> None:
    await hil_runner.step(10)  # exactly 1 s at a 100 ms tick: allowed
    with pytest.raises(SimTimeoutError, match="over the 1 s budget"):
        await hil_runner.step(1)


@pytest.mark.hil_site("aidc_10k")
def test_hil_site_fixture_builds_the_marked_site(hil_site: Any) -> None:
    assert hil_site.params.name == "aidc_10k"
