"""The browser dashboard's HTTP and WebSocket server (aiohttp, confined to this module).

It runs on the runner's own asyncio loop, beside the protocol servers: no thread, no signal
handlers of its own. A page is served from the package's ``static/`` folder (nothing is
fetched from the internet); it opens ``/ws``, gets the feed's ``hello`` and then one
``frame`` every 1/``rate_hz`` s, built once and sent to every page. The feed is read from
its own task, never from the clock's tick, and a frame due just before the clock's next
tick waits until that tick has run (:data:`GUARD_S`): the dashboard never starts a tick late.
Frames are sent uncompressed (loopback or a LAN; aiohttp would deflate them in a thread).

Control (``POST /api/action``) needs the token printed with the URL (``Authorization:
Bearer TOKEN`` or ``X-HIL-Token``); a read-only dashboard refuses every action. Each
response is JSON: ``{"ok": true, "done": "..."}`` or ``{"ok": false, "problems": [{"where",
"message"}]}`` with status 400 (a bad action, nothing changed), 403 (no or wrong token,
read-only) or 413 (a body over 64 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from hil.ui.control import ActionError, Console, empty_timeline
from hil.ui.feed import Feed

__all__ = ["STATIC", "Dashboard", "UiConfig"]

log = logging.getLogger("hil.ui")

#: the page and its assets, shipped with the package
STATIC = Path(__file__).resolve().parent / "static"
_MAX_BODY = 64 * 1024
#: a frame due closer than this to the clock's next tick waits until the tick has run
GUARD_S = 0.005


@dataclass
class UiConfig:
    """Where the dashboard listens and who may drive the run from it."""

    host: str = "127.0.0.1"  # loopback unless configured otherwise
    port: int = 8080  # 0: a free port
    token: str | None = None  # None: a new random token each start
    read_only: bool = False  # the page shows the run; no action is accepted
    rate_hz: float = 5.0  # frames a second to every page

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"ui port {self.port} is not 0 .. 65535")
        if not 0.5 <= self.rate_hz <= 30.0:
            raise ValueError(f"ui rate {self.rate_hz:g} Hz is not 0.5 .. 30 Hz")


class Dashboard:
    """The dashboard of one run: ``await dash.attach(runner)`` after the runner's servers
    are up, ``await dash.detach()`` when the run ends (both idempotent)."""

    def __init__(self, config: UiConfig | None = None) -> None:
        self.config = config or UiConfig()
        self.token = self.config.token or secrets.token_urlsafe(16)
        self.feed: Feed | None = None
        self.console: Console | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None  # aiohttp's
        self._pages: dict[web.WebSocketResponse, str | None] = {}  # page -> the device it watches
        self._task: asyncio.Task[None] | None = None
        self.frames = 0

    @property
    def url(self) -> str:
        """The page's address; with the token, unless read-only."""
        base = f"http://{self.config.host}:{self.port}/"
        return base if self.config.read_only else f"{base}?token={self.token}"

    def describe(self) -> str:
        """What ``hil serve`` and ``hil run`` print beside the URL."""
        if self.config.read_only:
            return "browser dashboard, read-only"
        return "browser dashboard; the token in the URL allows control"

    async def attach(self, runner: Any) -> None:
        if self._runner is not None:
            return
        app = web.Application(client_max_size=_MAX_BODY)
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/ws", self._ws),
                web.get("/api/hello", self._hello),
                web.get("/api/device/{name}", self._device),
                web.post("/api/action", self._action),
                web.static("/static", STATIC),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError:  # the port is taken (or the address is not this machine's): nothing left open
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])  # the bound port (the configured one may be 0)
        # bound: now what the pages read (no request is served before the next await)
        if runner.play is None:
            runner.play = empty_timeline(runner)
        self.feed = Feed(runner, read_only=self.config.read_only)
        self.console = Console(runner)
        self._task = asyncio.get_running_loop().create_task(self._broadcast())
        log.info("dashboard at %s", self.url)

    async def detach(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for ws in list(self._pages):
            with contextlib.suppress(Exception):
                await ws.close()
        self._pages.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the frames -----------------------------------------------------------------------
    async def _broadcast(self) -> None:
        assert self.feed is not None
        period = 1.0 / self.config.rate_hz
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += period
            await asyncio.sleep(max(next_t - loop.time(), 0.0))
            await self._clear_of_the_clock(loop)
            frame = json.dumps(self.feed.frame(), separators=(",", ":"))
            self.frames += 1
            for ws, watched in list(self._pages.items()):
                if ws.closed:
                    self._pages.pop(ws, None)
                    continue
                try:
                    await ws.send_str(frame)
                    if watched is not None:
                        values = self.feed.device_values(watched)
                        if values is not None:
                            await ws.send_str(json.dumps({"type": "device", **values}, separators=(",", ":")))
                except (ConnectionError, RuntimeError):  # the page went away
                    self._pages.pop(ws, None)

    async def _clear_of_the_clock(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hold a frame that would start within :data:`GUARD_S` of the clock's next tick until
        that tick has run: the frame's work (≈ 0.3 ms on aidc_10k, more with pages watching a
        device) would otherwise start the tick late, and at a tick of the frame period it would
        do so every tick. Bounded by one tick, in case the clock stops meanwhile."""
        if self.feed is None:
            return
        runner = self.feed.runner
        ticks = runner.ticks
        give_up = loop.time() + runner.site.dt + 0.1
        while True:
            deadline = runner.next_deadline
            now = loop.time()
            if deadline is None or deadline - now > GUARD_S or runner.ticks != ticks or now > give_up:
                return
            await asyncio.sleep(0.001)

    # -- handlers -------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _hello(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        return web.Response(text=self.feed.hello_json(), content_type="application/json")

    async def _device(self, request: web.Request) -> web.Response:
        assert self.feed is not None
        values = self.feed.device_values(request.match_info["name"])
        if values is None:
            return web.json_response({"ok": False, "error": "no such device"}, status=404)
        return web.json_response(values)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        assert self.feed is not None
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=_MAX_BODY, compress=False)
        await ws.prepare(request)
        await ws.send_str(self.feed.hello_json())
        self._pages[ws] = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(data, dict) and "watch" in data:  # the device panel the page shows
                    watched = data["watch"]
                    self._pages[ws] = watched if isinstance(watched, str) else None
        finally:
            self._pages.pop(ws, None)
        return ws

    async def _action(self, request: web.Request) -> web.Response:
        assert self.console is not None
        if self.config.read_only:
            return _refused(403, "", "this dashboard is read-only (started with --ui-read-only)")
        given = request.headers.get("X-HIL-Token") or request.headers.get("Authorization", "").removeprefix(
            "Bearer "
        )
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return _refused(403, "", "control needs the token printed with the dashboard's URL")
        try:
            body = await request.json()
        except web.HTTPRequestEntityTooLarge:
            return _refused(413, "", f"the body is over {_MAX_BODY // 1024} KiB")
        except ValueError:
            return _refused(400, "", 'the body is not JSON: {"action": {<action>: <parameters>}}')
        action = body.get("action") if isinstance(body, dict) else None
        try:
            done = self.console.act(action)
        except ActionError as exc:
            problems = [{"where": p.where, "message": p.message} for p in exc.problems]
            return web.json_response({"ok": False, "problems": problems}, status=400)
        return web.json_response({"ok": True, "done": done})


def _refused(status: int, where: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "problems": [{"where": where, "message": message}]}, status=status)
