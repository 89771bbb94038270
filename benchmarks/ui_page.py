"""A dashboard page kept open and updating, for ``bench_serve.py --ui``: a process of its own.

    python benchmarks/ui_page.py URL SECONDS [--device PCS01]

Opens URL in Debian's headless Chromium (Playwright), shows ``--device``'s point panel (its
values then come with every frame), waits SECONDS, and prints one JSON line: the frames the
page received and drew, a second. Loopback only: the URL is the dashboard the benchmark runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--device", default="PCS01")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=a.chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(a.url)
        page.wait_for_function("state.frames > 0", timeout=20_000)
        page.select_option("#device-select", a.device)
        print("START", flush=True)
        f0, t0 = page.evaluate("state.frames"), time.monotonic()
        time.sleep(a.seconds)
        f1, t1 = page.evaluate("state.frames"), time.monotonic()
        browser.close()
    print(json.dumps({"frames_per_s": (f1 - f0) / (t1 - t0)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
