"""Keep numba's on-disk cache of the compiled kernels honest.

numba's cache (``@njit(cache=True)``) keys a compiled function on its own source file only
(numba documents this): a kernel that calls kernels, or reads constants, from other files
keeps its old machine code when they change. The chunked advance's kernel
(``twin/chunk_kernel.py``) compiles in the battery, BMS and PCS kernels; a stale cache of it
was measured running the battery's superseded code, 3.5× slower than a fresh compile, and
would as readily have run superseded physics.

So every kernel module calls :func:`drop_stale` before it defines its kernels: the cache
carries a stamp named after a digest of every file the kernels are built from, and when the
digest differs the module's cache files are deleted and numba compiles afresh (once). A
fresh clone has no cache and compiles anyway; an installed package that cannot write its
``__pycache__`` uses numba's user-wide cache, which a reinstall refreshes (new file stamps).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["KERNEL_SOURCES", "drop_stale"]

_TWIN = Path(__file__).resolve().parents[1]

KERNEL_SOURCES = (
    "chunk_kernel.py",
    "aging_kernel.py",
    "island_kernel.py",
    "models/battery_kernel.py",
    "models/bms_kernel.py",
    "models/pcs_kernel.py",
    "models/pcs_step_kernel.py",
    "models/kernel_math.py",
    "models/pcs_params.py",  # the state codes the kernels compile in
    "models/bms.py",  # the contactor and charge-state codes
    "models/cell.py",  # the gas constant and the kelvin offset
    "models/pv_kernel.py",
    "models/pv.py",  # the PV formulas compiled into the chunk (registered jitable)
    "clock.py",  # the sun's position, likewise
    "pms.py",  # the PCC voltage, likewise
    "models/ups.py",  # the UPS, likewise
    "site_fixed.py",  # the per-PCS energy books, likewise
)
"""What the compiled kernels are built from (paths under ``twin/``)."""


@functools.cache
def _digest() -> str:
    h = hashlib.sha1(usedforsecurity=False)
    for rel in KERNEL_SOURCES:
        h.update(rel.encode())
        h.update((_TWIN / rel).read_bytes())
    return h.hexdigest()[:16]


def drop_stale(module_file: str) -> None:
    """Delete the cached kernels of ``module_file`` if any kernel source changed since they
    were written (then numba compiles them again on first use)."""
    here = Path(module_file).resolve()
    cache = here.parent / "__pycache__"
    stamp = cache / f"{here.stem}.kernels-{_digest()}"
    if stamp.exists():
        return
    try:
        cache.mkdir(exist_ok=True)
        for pattern in (f"{here.stem}.*.nbi", f"{here.stem}.*.nbc", f"{here.stem}.kernels-*"):
            for old in cache.glob(pattern):
                old.unlink(missing_ok=True)
        stamp.touch()
    except OSError:  # a read-only install: numba caches elsewhere, refreshed on reinstall
        return
