"""The runner freezes the collector's view of what it built for a clock that runs by itself,
and leaves it alone under manual pacing (tests stepping by hand)."""

from __future__ import annotations

import asyncio
import gc
import types

import pytest

import twin.warm
from hil.config import load_bench
from hil.run.pacing import Pacer
from hil.run.runner import AsFastAsPossible, Manual, Runner


def _frozen_inside(pacer: Pacer) -> tuple[int, int]:
    async def go() -> tuple[int, int]:
        site, cfg = load_bench("lab_rack")
        async with Runner(site, cfg, pacer=pacer, serve=False) as r:
            inside = gc.get_freeze_count()
            if isinstance(pacer, Manual):
                await r.step(2)
            else:
                await r.run(duration_s=1.0)
        return inside, gc.get_freeze_count()

    return asyncio.run(go())


def test_a_running_clock_freezes_the_heap_and_thaws_it_after() -> None:
    assert gc.get_freeze_count() == 0
    inside, after = _frozen_inside(AsFastAsPossible())
    assert inside > 1000  # the site, the gateway and everything imported
    assert after == 0


def test_manual_pacing_leaves_the_collector_alone() -> None:
    assert _frozen_inside(Manual()) == (0, 0)


def test_a_site_the_warm_up_cannot_copy_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the kernels before the clock is an optimisation: a site it cannot copy (a
    user's device holding a lock, say) runs all the same, its kernels loading on first use."""

    def no_copy(_obj: object) -> object:
        raise TypeError("cannot pickle '_thread.lock' object")

    monkeypatch.setattr(twin.warm, "copy", types.SimpleNamespace(deepcopy=no_copy))

    async def go() -> int:
        site, cfg = load_bench("lab_rack")
        async with Runner(site, cfg, pacer=AsFastAsPossible(), serve=False) as r:
            await r.run(duration_s=1.0)
            return site.tick

    assert asyncio.run(go()) == 10  # 1 s of 0.1-s ticks
