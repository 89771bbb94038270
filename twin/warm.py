"""Load a site's compiled kernels before its clock starts (:func:`warm_kernels`).

numba compiles each kernel once per argument types and keeps the machine code in its on-disk
cache (``cache=True``), but a process still loads a kernel from that cache the first time it
calls it: ≈ 2–7 ms a kernel, ≈ 60 ms for the chunk's (``twin.chunk_kernel.run``), ≈ 130 ms in
all for aidc_10k. Left to the run, that load lands on the run's first tick, its first quiet
stretch and its first islanded tick, which in a real-time run is the moment the grid fails.
:func:`warm_kernels` takes those calls on a throwaway copy of the site instead, so a runner
can load them before its clock starts (``hil.run.runner.Runner.__aenter__``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from twin.site_fixed import island_fixed

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["warm_kernels"]


def warm_kernels(site: Site) -> None:
    """Call, on a deep copy of ``site`` (the site itself is left untouched), every compiled
    kernel its runs may call: one tick on the per-tick path, a quiet stretch through the chunk
    (if the copy may take one now), and the island's sub-steps. Nothing to do without numba."""
    if site.battery.kernel != "compiled":
        return
    s = copy.deepcopy(site)
    s.step(1)
    s.advance(2)
    s.advance(2, each=lambda _snap: None)
    p_cmd, q_cmd = s._pcs_commands()
    island_fixed(s, p_cmd, q_cmd, s.dt)
