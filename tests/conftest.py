from __future__ import annotations

import asyncio
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
