"""The dashboard's server on loopback: the page and its assets are served from the package,
a page gets ``hello`` then frames over its WebSocket, and control needs the token (a wrong
or missing one, or a read-only dashboard, is refused and changes nothing)."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from hil.config import load_bench
from hil.run.runner import Manual, RealTime, Runner
from hil.ui import STATIC, Dashboard, UiConfig
from hil.ui.server import GUARD_S


def _with_dashboard(
    body: Callable[[Runner, Dashboard, aiohttp.ClientSession], Awaitable[Any]], **cfg: Any
) -> Any:
    async def go() -> Any:
        site, endpoints = load_bench("lab_rack")
        runner = Runner(site, endpoints, pacer=Manual(), serve=False)
        dash = Dashboard(UiConfig(port=0, rate_hz=10.0, **cfg))
        await dash.attach(runner)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{dash.port}") as http:
                return await asyncio.wait_for(body(runner, dash, http), 20.0)
        finally:
            await dash.detach()

    return asyncio.run(go())


def test_the_page_and_its_assets_come_from_the_package() -> None:
    async def body(runner: Runner, dash: Dashboard, http: aiohttp.ClientSession) -> None:
        assert dash.url == f"http://127.0.0.1:{dash.port}/?token={dash.token}"
        async with http.get("/") as r:
            assert r.status == 200
            assert '<svg id="diagram"' in await r.text()
        for asset in ("app.js", "style.css", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"):
            async with http.get(f"/static/{asset}") as r:
                assert r.status == 200
                assert await r.read() == (STATIC / asset).read_bytes()
        async with http.get("/static/../server.py") as r:
            assert r.status in (403, 404)
        async with http.get("/api/device/PCS01") as r:
            assert (await r.json())["name"] == "PCS01"
        async with http.get("/api/device/NOPE") as r:
            assert r.status == 404

    _with_dashboard(body)


def test_a_page_gets_hello_then_frames_that_follow_the_clock() -> None:
    async def body(runner: Runner, dash: Dashboard, http: aiohttp.ClientSession) -> list[float]:
        async with http.ws_connect("/ws") as ws:
            hello = json.loads((await ws.receive()).data)
            assert hello["type"] == "hello"
            assert hello["site"] == "lab_rack"
            await ws.send_str(json.dumps({"watch": "PCS01"}))
            seen: list[float] = []
            devices = 0
            while len(seen) < 4:
                msg = json.loads((await ws.receive()).data)
                if msg["type"] == "frame":
                    seen.append(msg["t"])
                    await runner.step(1)  # the clock moves between frames
                elif msg["type"] == "device":
                    devices += 1
                    assert msg["name"] == "PCS01"
            assert devices >= 1
            return seen

    seen = _with_dashboard(body)
    assert seen == sorted(seen)
    assert seen[-1] > seen[0]


def test_control_needs_the_token_and_a_refusal_changes_nothing() -> None:
    async def body(runner: Runner, dash: Dashboard, http: aiohttp.ClientSession) -> None:
        action = {"action": {"grid_outage": {"duration": "1 s"}}}
        due = len(runner.play._due)  # type: ignore[union-attr]
        for headers in ({}, {"X-HIL-Token": "wrong"}, {"Authorization": "Bearer wrong"}):
            async with http.post("/api/action", json=action, headers=headers) as r:
                assert r.status == 403
                assert "token" in (await r.json())["problems"][0]["message"]
        async with http.post(
            "/api/action",
            json={"action": {"grid_outage": {"duration": "soon"}}},
            headers={"X-HIL-Token": dash.token},
        ) as r:
            assert r.status == 400
            (problem,) = (await r.json())["problems"]
            assert problem["where"] == "grid_outage.duration"
        async with http.post("/api/action", data=b"{not json", headers={"X-HIL-Token": dash.token}) as r:
            assert r.status == 400
        assert len(runner.play._due) == due  # type: ignore[union-attr]
        await runner.step(1)
        assert runner.site.snapshot().scalars["grid.available"] == 1.0
        async with http.post(
            "/api/action", json=action, headers={"Authorization": f"Bearer {dash.token}"}
        ) as r:
            assert r.status == 200
            assert (await r.json())["ok"] is True
        await runner.step(1)
        assert runner.site.snapshot().scalars["grid.available"] == 0.0

    _with_dashboard(body)


def test_a_read_only_dashboard_refuses_every_action() -> None:
    async def body(runner: Runner, dash: Dashboard, http: aiohttp.ClientSession) -> None:
        assert "token" not in dash.url
        async with http.post(
            "/api/action", json={"action": {"clock": "pause"}}, headers={"X-HIL-Token": dash.token}
        ) as r:
            assert r.status == 403
            assert "read-only" in (await r.json())["problems"][0]["message"]
        assert not runner.clock.paused

    _with_dashboard(body, read_only=True)


@pytest.mark.parametrize("bad", [{"port": 70000}, {"rate_hz": 0.0}])
def test_a_bad_ui_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ui"):
        UiConfig(**bad)


def test_a_frame_due_just_before_a_tick_waits_until_the_tick_has_run() -> None:
    """The frames run on the clock's loop: one that would start within the guard of the next
    deadline is held until that tick is done, so it never starts a tick late."""

    async def go() -> tuple[bool, bool, float, bool]:
        site, endpoints = load_bench("lab_rack")
        runner = Runner(site, endpoints, pacer=RealTime(speed=1.0), serve=False)
        dash = Dashboard(UiConfig(port=0))
        await dash.attach(runner)
        loop = asyncio.get_running_loop()
        try:
            runner.next_deadline = None  # no clock waiting: at once
            await asyncio.wait_for(dash._clear_of_the_clock(loop), 0.05)
            # the tick is due in 2 ms (inside the guard): the frame waits for it
            runner.next_deadline = loop.time() + GUARD_S * 0.4
            held = asyncio.create_task(dash._clear_of_the_clock(loop))
            await asyncio.sleep(0.02)
            waited = not held.done()
            runner.ticks += 1  # the tick ran
            await asyncio.wait_for(held, 0.05)
            # a tick far off: at once
            runner.next_deadline = loop.time() + 10 * GUARD_S
            t = loop.time()
            await dash._clear_of_the_clock(loop)
            far = loop.time() - t
            # a clock that stops before its tick: the frame gives up after a tick
            runner.next_deadline = loop.time()
            await asyncio.wait_for(dash._clear_of_the_clock(loop), runner.site.dt + 0.5)
            return waited, held.done(), far, True
        finally:
            await dash.detach()

    waited, released, far, gave_up = asyncio.run(go())
    assert waited
    assert released
    assert far < GUARD_S
    assert gave_up


def test_the_clock_says_when_its_next_tick_is_due_only_while_it_waits_for_it() -> None:
    async def go() -> tuple[float | None, float | None, float | None]:
        site, endpoints = load_bench("lab_rack")
        runner = Runner(site, endpoints, pacer=RealTime(speed=1.0), serve=False)
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(runner.run(duration_s=60.0))
        await asyncio.sleep(0.25)
        running = runner.next_deadline
        ahead = None if running is None else running - loop.time()
        runner.clock.pause()
        await asyncio.sleep(0.25)
        paused = runner.next_deadline
        runner.stop()
        await asyncio.wait_for(task, 5.0)
        return ahead, paused, runner.next_deadline

    ahead, paused, ended = asyncio.run(go())
    assert ahead is not None
    assert 0.0 <= ahead <= 0.1 + 1e-3  # within one 0.1-s tick of now
    assert paused is None
    assert ended is None


def test_a_port_in_use_fails_the_attach_and_a_later_attach_serves() -> None:
    import socket

    async def go() -> tuple[OSError, int]:
        site, endpoints = load_bench("lab_rack")
        runner = Runner(site, endpoints, pacer=Manual(), serve=False)
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            dash = Dashboard(UiConfig(port=port))
            with pytest.raises(OSError, match="address already in use") as ei:
                await dash.attach(runner)
        try:  # the port is free again: nothing of the failed attempt stands in the way
            await dash.attach(runner)
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/hello") as r:
                status = r.status
        finally:
            await dash.detach()
        return ei.value, status

    exc, status = asyncio.run(go())
    assert exc.errno == errno.EADDRINUSE
    assert status == 200
