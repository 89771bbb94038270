"""A test seam: a disk that fills up after a given number of bytes of trace.

``HIL_TEST_DISK_BYTES=N`` in the environment makes every :class:`hil.trace.store.TraceWriter`
created afterwards raise ``OSError(ENOSPC)``, naming the file, once its two sinks (trace and
events, stream and Parquet) have been handed N bytes of record batches (Arrow's in-memory
size, before compression: a deterministic stand-in for the bytes on disk). The write that
would cross the limit writes nothing, like a full disk refusing a block. It lets a test (or
an operator rehearsing) see what a full disk does to a run without mounting a tiny file
system, which needs privileges a CI container may not have.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["ENV", "DiskBudget"]

ENV = "HIL_TEST_DISK_BYTES"


class DiskBudget:
    """Bytes left on a pretend disk; :meth:`take` raises ``ENOSPC`` when they run out."""

    def __init__(self, nbytes: int) -> None:
        self.left = int(nbytes)

    @classmethod
    def from_env(cls) -> DiskBudget | None:
        raw = os.environ.get(ENV)
        return None if raw is None or raw == "" else cls(int(raw))

    def take(self, nbytes: int, path: Path) -> None:
        if nbytes > self.left:
            self.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        self.left -= nbytes
