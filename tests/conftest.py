from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def profiles() -> Path:
    return ROOT / "profiles"


def pytest_configure(config: pytest.Config) -> None:
    # No implicit event loop: pytest-asyncio asks asyncio.get_event_loop() for the "old" loop
    # before each async test, and on Python 3.11 that call *creates* one in the main thread;
    # pytest-asyncio sets it back as current afterwards, and the next asyncio.run() (hil run in
    # a sync test) drops it unclosed, so a ResourceWarning lands in whichever test collects it.
    # Marking the loop as explicitly unset makes get_event_loop() raise instead, which
    # pytest-asyncio handles (old loop = None).
    asyncio.set_event_loop(None)


# -- order: the long files first ------------------------------------------------------------------
#: Where a file's tests go in the run, by what they are (xdist's ``--dist loadfile
#: --no-loadscope-reorder``, as ``make test`` runs it, hands files to its workers in collection
#: order; long ones at the end leave one worker running alone).
_FIRST = (("profiles/scenarios/", 1), ("tests/scenarios/", 1), ("tests/integration/", 2))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with a test marked ``slow`` first, then whole scenario runs, then the protocol
    tests, then the unit tests (a stable sort: each keeps its order within)."""
    rank: dict[str, int] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        r = 0 if item.get_closest_marker("slow") else next((k for p, k in _FIRST if path.startswith(p)), 3)
        rank[path] = min(rank.get(path, r), r)
    items.sort(key=lambda item: rank[item.nodeid.split("::")[0]])


# -- leaks (issue 13, a ratchet) ------------------------------------------------------------------
#: How long a test's threads, sockets and tasks get to end by themselves after it returns
#: (a server's connection handler notices a closed client on its next read).
LEAK_GRACE_S = 3.0


def _open_sockets() -> set[str]:
    """The sockets this process holds, by inode (Linux: /proc/self/fd)."""
    out = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed while we looked
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def _describe_thread(t: threading.Thread) -> str:
    kind = "daemon" if t.daemon else "non-daemon"
    return f"thread {t.name!r} ({kind}, target {getattr(t, '_target', None)!r})"


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread or a socket behind: every server, client, executor
    and event loop a test starts must be stopped and closed by the end of its teardown
    (its async fixtures' teardown included: this fixture is set up first, so it is torn
    down last). Tasks are checked in :func:`pytest_runtest_call`, inside the test's loop."""
    threads = set(threading.enumerate())
    sockets = _open_sockets() if sys.platform == "linux" else set()
    yield
    problems = leaks_since(threads, sockets, grace_s=LEAK_GRACE_S)
    if problems:
        pytest.fail("the test leaked:\n  " + "\n  ".join(problems), pytrace=False)


def leaks_since(threads: set[threading.Thread], sockets: set[str], *, grace_s: float) -> list[str]:
    """The threads and sockets opened since ``threads`` and ``sockets`` were taken that are
    still open after up to ``grace_s`` seconds."""
    deadline = time.monotonic() + grace_s
    first = True
    while True:
        if not first:  # a socket whose last reference just went is closed by its finaliser
            gc.collect()  # (only when something looked open: a full collection costs ~0.1 s)
        first = False
        new_threads = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
        new_sockets = (_open_sockets() - sockets) if sys.platform == "linux" else set()
        if not (new_threads or new_sockets) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return [_describe_thread(t) for t in new_threads] + [f"open {s}" for s in sorted(new_sockets)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """An async test must not leave a task of ours (a coroutine of ``hil/`` or ``tests/``)
    running in its event loop when it returns. Tasks its fixtures own, started before the
    test body, are theirs to stop; tasks a protocol library starts for itself (asyncua's
    per-session publish loop, started by the first subscription of a fixture's client) are
    the library's, and a server or client left open shows as a socket or a thread in
    :func:`_no_leaks`."""
    loop = _test_loop(item)
    before = asyncio.all_tasks(loop) if loop is not None else set()
    result = yield
    if loop is not None and not loop.is_closed():
        deadline = time.monotonic() + LEAK_GRACE_S
        while True:
            leaked = {t for t in asyncio.all_tasks(loop) - before if not t.done() and _ours(t)}
            if not leaked or time.monotonic() > deadline:
                break
            loop.run_until_complete(asyncio.sleep(0.05))
        if leaked:
            names = sorted(f"{t.get_name()} ({t.get_coro()!r})" for t in leaked)
            pytest.fail("the test left tasks running:\n  " + "\n  ".join(names), pytrace=False)
    return result


def _ours(task: asyncio.Task[object]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    path = Path(code.co_filename) if code is not None else None
    return path is not None and (ROOT / "hil" in path.parents or ROOT / "tests" in path.parents)


def _test_loop(item: pytest.Item) -> asyncio.AbstractEventLoop | None:
    """The event loop pytest-asyncio runs this test in, or None for a sync test."""
    request = getattr(item, "_request", None)
    if request is None or "_function_scoped_runner" not in getattr(item, "fixturenames", ()):
        return None
    runner = request.getfixturevalue("_function_scoped_runner")
    loop: asyncio.AbstractEventLoop = runner.get_loop()
    return loop
