"""Operating-system errors of ``hil run`` and ``hil serve``, told apart and reported by path.

Only a port that cannot be bound is "cannot bind" (exit 3, the port-clash code); an output
folder that cannot be written (read-only, a full disk, a name too long, a path through a
file) names the path and the OS error and exits 4. :func:`check_writable` probes the output
folder before any server starts, so a run that could not keep its results never starts.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from hil.trace.disk import DiskBudget

from .errors import OutputError

__all__ = ["EXIT_BIND", "EXIT_OS", "OutputError", "check_writable", "describe_os_error"]

#: Exit status when a port cannot be bound (in use, not permitted, no such address).
EXIT_BIND = 3
#: Exit status for every other operating-system error (output folder, disk, path names).
EXIT_OS = 4

_BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM})
_PROBE = ".hil-write-probe"


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write, flush and delete a probe file in it; raise
    :class:`OutputError` naming the path if any step fails."""
    probe = folder / _PROBE
    data = b"hil write probe\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        budget = DiskBudget.from_env()  # the full-disk test seam (HIL_TEST_DISK_BYTES)
        if budget is not None:
            budget.take(len(data), probe)
        with probe.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        raise OutputError(exc.errno, exc.strerror, exc.filename or str(folder)) from exc


def is_bind_error(exc: OSError) -> bool:
    """A socket that could not be bound: no file name, and an address or permission errno."""
    return exc.filename is None and not isinstance(exc, OutputError) and exc.errno in _BIND_ERRNOS


def describe_os_error(exc: OSError, *, path: Path | None = None) -> tuple[str, int]:
    """``(message, exit status)`` for an OS error of a run; ``path`` is named when the
    error carries no file name of its own (the run's output folder)."""
    if is_bind_error(exc):
        hint = {
            errno.EADDRINUSE: "another process holds the port: choose others with --modbus-port N "
            "--opcua-port N (and --ui-port N for the dashboard; 0 = any free port) or the site "
            "file's endpoints:",
            errno.EADDRNOTAVAIL: "no interface of this machine has that address: check endpoints: bind",
        }.get(exc.errno or 0, "binding ports below 1024 needs privileges: use a port of 1024 or more")
        return f"cannot bind: {exc}; {hint}", EXIT_BIND
    reason = exc.strerror or str(exc)
    cause: str | None = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exhausted",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "no permission to write there",
        errno.EPERM: "no permission to write there",
        errno.ENAMETOOLONG: "a name in the path is too long for the file system",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EEXIST: "a file of that name is in the way",
    }.get(exc.errno or 0)
    tail = f" ({cause})" if cause else ""
    where = exc.filename if exc.filename is not None else (path if path is not None else "?")
    what = "cannot write the output folder: " if path is not None else ""
    return f"{what}{where}: {reason}{tail}", EXIT_OS
