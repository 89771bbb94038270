"""Compile every numba kernel once, into numba's on-disk cache, before the test workers start.

    .venv/bin/python tools/warm_kernels.py

A fresh clone has no cache: without this, each pytest worker (and every subprocess a test
starts before a cache file exists) compiles the kernels itself, ≈ 40 s of CPU each, at the
same moment on a 2-core machine. ``make test`` runs this beside the linters, then the workers
load the kernels from the cache in about a second. It drives each kernel through the paths
the tests take (per tick and chunked, both shipped sites, aging on, the gateway's encode and derive), so
every signature they use is compiled (the OPC UA server's one small kernel compiles in the
tests that serve it); with the cache warm it takes about two seconds.
"""

from __future__ import annotations

import time

from hil.config import load_site
from hil.wire.gateway import Gateway


def main() -> None:
    t = time.perf_counter()
    for name, overrides in (("lab_rack", {}), ("aidc_10k", {"aging": {"model": "naumann"}})):
        site = load_site(name, overrides=overrides)
        gw = Gateway(site)  # the register encode
        site.set("pcs.enable", 1)
        site.set("bess.p_set_kw", 10.0)
        gw.step(3)  # per tick, through the gateway
        site.advance(50)  # chunked
        gw.step(1)
    print(f"numba kernels ready in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
