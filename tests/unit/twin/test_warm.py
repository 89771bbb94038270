"""Loading a site's compiled kernels before its clock starts (twin/warm.py).

``warm_kernels`` works on a copy: the site is bit-identical afterwards. And it does its job: in
a fresh process (numba's loads are per process), a run of aidc_10k after it (ticks, a quiet
stretch, the grid failing and the island forming) loads no kernel, while the same run without
it loads them (the check can fail).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from hil.config import load_site
from twin.warm import warm_kernels

from ..hil.wire.gateway._state_image import diff, state_image

_RUN = textwrap.dedent(
    """
    import sys
    from numba.core import dispatcher
    from hil.config import load_site
    from twin.pms import BusMode
    from twin.warm import warm_kernels

    site = load_site("aidc_10k")
    if sys.argv[1] == "warm":
        warm_kernels(site)
    loads = []
    orig = dispatcher._DispatcherBase._compile_for_args

    def counted(self, *a, **k):
        loads.append(self.py_func.__name__)
        return orig(self, *a, **k)

    dispatcher._DispatcherBase._compile_for_args = counted
    site.step(3)
    site.advance(20)
    site.advance(10, each=lambda snap: None)
    site.set("grid.available", 0.0)
    for _ in range(600):
        site.step(1)
        if site.bus == BusMode.ISLAND:
            break
    assert site.bus == BusMode.ISLAND, site.bus
    site.step(5)
    print(",".join(sorted(set(loads))))
    """
)


def _loads(mode: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _RUN, mode], capture_output=True, text=True, timeout=300, check=True
    ).stdout.strip()
    return [name for name in out.splitlines()[-1].split(",") if name] if out else []


def test_warm_kernels_leaves_the_site_as_it_was() -> None:
    site = load_site("aidc_10k")
    site.step(2)
    before = state_image({"site": site})
    warm_kernels(site)
    assert diff(before, state_image({"site": site})) == []


def test_after_warming_a_run_loads_no_kernel() -> None:
    cold = _loads("cold")
    assert "run" in cold  # the chunk's kernel, loaded by the run itself
    assert "substeps" in cold  # the island's, when the grid fails
    assert _loads("warm") == []
