"""The dashboard's screenshot in the docs: ``grid_outage`` on aidc_10k, some seconds into the outage.

Plays the scenario in real time at ``--speed`` (nothing served but the dashboard, on a free
loopback port), opens the page in Debian's headless Chromium with Playwright, waits until the
simulated time is ``--at`` and saves the whole page to ``docs/img/dashboard_grid_outage.png``.

    .venv/bin/python tools/dashboard_screenshot.py            # ≈ 40 s
    .venv/bin/python tools/dashboard_screenshot.py --at 160 --out /tmp/shot.png
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from hil.run.runner import RealTime, Runner, run_scenario
from hil.ui import Dashboard, UiConfig

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


async def shoot(scenario: str, at_s: float, speed: float, out: Path) -> None:
    dash = Dashboard(UiConfig(port=0))
    started: asyncio.Future[Runner] = asyncio.get_running_loop().create_future()

    def on_start(runner: Runner) -> None:
        started.set_result(runner)

    with tempfile.TemporaryDirectory() as tmp:
        run = asyncio.create_task(
            run_scenario(
                scenario, out_dir=Path(tmp), pacer=RealTime(speed=speed), serve=False, report=False,
                on_start=on_start, attachments=(dash,),
            )
        )  # fmt: skip
        runner = await started
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
                page = await browser.new_page(viewport={"width": 1600, "height": 1100})
                await page.goto(dash.url)
                await page.select_option("#window", "300")
                while runner.site.t - (runner.play.t0 if runner.play else 0.0) < at_s:
                    if run.done():
                        raise SystemExit(f"the run ended before {at_s:g} s")
                    await asyncio.sleep(0.05)
                runner.clock.pause()  # the page and the twin agree while the picture is taken
                await asyncio.sleep(0.6)  # the next frames reach the page
                out.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(out), full_page=True)
                await browser.close()
        finally:
            runner.stop()
            await run
    print(f"wrote {out} (t = {at_s:g} s of {scenario})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="grid_outage")
    ap.add_argument("--at", type=float, default=154.0, help="simulated seconds from the start (default 154)")
    ap.add_argument("--speed", type=float, default=5.0, help="real-time speed of the run (default 5)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard_grid_outage.png")
    a = ap.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"no Chromium at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2
    asyncio.run(shoot(a.scenario, a.at, a.speed, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
