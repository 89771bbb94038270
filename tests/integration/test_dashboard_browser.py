"""The dashboard in a real browser: Playwright drives Debian's Chromium, headless, on loopback.

lab_rack runs in real time (a 0.1-s tick) with the dashboard attached; each test opens the
page and checks what a bench engineer sees and does: the page loads with no console error,
the diagram and the plots move with the twin, a fault injected from the form reaches the
twin's signals and the events table, a bad parameter shows the error and changes nothing,
and a page without the token cannot drive the run. Each run stops by itself (a minute of
simulated time at most; the tests stop it sooner).

Chromium comes from Debian (``make test`` installs the ``chromium`` package); Playwright
downloads no browser. A machine without it fails these tests with that message.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from hil.config import load_bench
from hil.run.runner import RealTime, Runner
from hil.ui import Dashboard, UiConfig, empty_timeline
from twin.models.pcs_params import PcsState

CHROMIUM = Path(os.environ.get("HIL_CHROMIUM", "/usr/bin/chromium"))
# what a closed network and a root user need (no sandbox as root; no calls home)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip

pytestmark = pytest.mark.timeout(120)

Body = Callable[[Runner, Dashboard, Page, list[str]], Awaitable[None]]


def _browse(body: Body, *, with_token: bool = True) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package")

    async def go() -> None:
        site, endpoints = load_bench("lab_rack")
        runner = Runner(site, endpoints, pacer=RealTime(speed=1.0), serve=False)
        runner.play = empty_timeline(runner)
        dash = Dashboard(UiConfig(port=0))
        await dash.attach(runner)
        clock = asyncio.create_task(runner.run(duration_s=60.0))
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1600, "height": 1000})
                    errors: list[str] = []
                    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    url = dash.url if with_token else dash.url.split("?")[0]
                    await page.goto(url)
                    await page.wait_for_selector("#db-PCS01", timeout=10_000)  # the diagram is built
                    await body(runner, dash, page, errors)
                finally:
                    await browser.close()
        finally:
            runner.stop()
            await asyncio.wait_for(clock, 10.0)
            await dash.detach()

    asyncio.run(go())


async def _until(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    """Wait (polling, on the run's own loop) until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {check}")
        await asyncio.sleep(0.05)


def _pcs_state(runner: Runner) -> PcsState:
    return PcsState(int(runner.gateway.snapshot.arrays["pcs.state"][0]))


def test_the_page_loads_and_follows_the_twin() -> None:
    async def body(runner: Runner, dash: Dashboard, page: Page, errors: list[str]) -> None:
        await page.wait_for_function("document.querySelector('#status-t').textContent !== '–'")
        first = await page.text_content("#status-t")
        titles = await page.evaluate(
            "[...document.querySelectorAll('#plots .plot')].map((d) => d.dataset.title)"
        )
        # one plot per unit of the key signals; the cabinets' SoC share the site's
        assert set(titles) == {"power (kW)", "state of charge (%)", "frequency (Hz)", "voltage (pu)"}
        points = len(titles)
        drawn = "state.plots.map((p) => p.u.ctx.canvas.toDataURL())"  # what each plot shows
        before = await page.evaluate(drawn)
        await asyncio.sleep(1.5)
        after = await page.evaluate(drawn)
        assert len(after) == len(titles)
        assert all(a != b for a, b in zip(after, before, strict=True))  # every plot was redrawn
        later = await page.text_content("#status-t")
        assert later != first
        assert float(later.split()[0]) > float(first.split()[0])  # type: ignore[union-attr]
        # the diagram shows the twin's values: the PCS's state as the twin has it
        state = await page.text_content("#ds-PCS01")
        assert state is not None
        assert state.split(" ")[0] == _pcs_state(runner).name
        # the plots hold the frames received (uPlot draws on canvases)
        assert await page.evaluate("document.querySelectorAll('#plots canvas').length") >= points
        assert await page.text_content("#control-state") == "enabled"
        assert errors == []

    _browse(body)


def test_a_fault_from_the_form_reaches_the_twin_and_the_events_table() -> None:
    async def body(runner: Runner, dash: Dashboard, page: Page, errors: list[str]) -> None:
        assert _pcs_state(runner) is not PcsState.FAULT
        await page.select_option("#fault-type", "pcs_trip")
        await page.select_option("#fault-target", "PCS01")
        await page.click("#fault-inject")
        await page.wait_for_function(
            "document.querySelector('#action-result').textContent.startsWith('done')"
        )
        await _until(lambda: _pcs_state(runner) is PcsState.FAULT)
        await page.wait_for_selector('#events tr[data-kind="fault_inject"]', timeout=5_000)
        await page.wait_for_selector('#events tr[data-kind="ui_action"]', timeout=5_000)
        await page.wait_for_function(
            "document.querySelector('#db-PCS01').getAttribute('class').includes('fault')"
        )
        assert "pcs_trip on PCS01" in (await page.text_content("#faults") or "")
        assert errors == []

    _browse(body)


def test_a_bad_fault_parameter_shows_the_error_and_changes_nothing() -> None:
    async def body(runner: Runner, dash: Dashboard, page: Page, errors: list[str]) -> None:
        await page.select_option("#fault-type", "pcs_overtemp_derate")
        await page.select_option("#fault-target", "PCS01")
        await page.fill('#fault-params input[name="derate_pu"]', "lots")
        await page.click("#fault-inject")
        await page.wait_for_function("document.querySelector('#action-error').textContent.length > 0")
        message = await page.text_content("#action-error")
        assert message is not None
        assert message.startswith("fault.derate_pu:")
        await asyncio.sleep(0.5)  # a few ticks: nothing was scheduled
        assert runner.play is not None
        assert runner.play.faults == []
        assert dash.console is not None
        assert dash.console.accepted == 0
        assert await page.query_selector('#events tr[data-kind="fault_inject"]') is None
        # the refused request logs its status in Chromium's console, nothing else may
        assert [e for e in errors if "status of 400" not in e] == []

    _browse(body)


def test_a_page_without_the_token_cannot_drive_the_run() -> None:
    async def body(runner: Runner, dash: Dashboard, page: Page, errors: list[str]) -> None:
        assert await page.text_content("#control-state") == "no token: read-only"
        status = await page.evaluate(
            """async () => (await fetch('/api/action', {method: 'POST',
                 headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({action: {grid_outage: {duration: '5 s'}}})})).status"""
        )
        assert status == 403
        await asyncio.sleep(0.5)
        assert runner.gateway.snapshot.scalars["grid.available"] == 1.0
        assert dash.console is not None
        assert dash.console.accepted == 0
        # the refused request logs a console error in Chromium ("Failed to load resource: 403")
        assert [e for e in errors if "status of 403" not in e] == []

    _browse(body, with_token=False)
