"""Chunked advance (twin.chunk) against the per-tick path: the same site, the same inputs,
the same snapshot after every stretch to the bit (and after every tick, with ``each=``), the
same events, energy books, demand register and aging state, on both shipped sites through
setpoints, a battery filling to its BMS limits, an aging window closing, a frequency dip, an
outage with island and resync, a PCS trip and reset and a GPU job failure. The counters make
sure the chunks ran and that some stopped early at a discrete change."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import twin.chunk as chunk
from hil.config import load_site
from twin import Site
from twin.errors import SolverError
from twin.models.pv import clear_sky_ghi

TICKS = 4000


def _script(s: Site, k: int) -> None:
    n_pcs = s.unit_count("pcs")
    if k == 0:
        s.set("pcs.enable", 1)
        s.set("bess.p_set_kw", -1e9)  # charge as hard as the limits allow: the BMS tapers, the PCS throttles
    if k == 1500:
        s.set("bess.p_set_kw", 300.0)
        s.set("pcs.q_set_kvar", 40.0)  # reactive power follows its lag inside a chunk too
    if k == 1700:
        s.set("grid.f_hz", 49.6)
    if k == 1800:
        s.set("grid.f_hz", 50.0)
    if k == 2000:
        s.set("grid.available", 0)
    if k == 2600:
        s.set("grid.available", 1)
    if k == 3100:
        s.set(f"pcs[{n_pcs - 1}].fault_trip", 1)
    if k == 3200:
        s.set(f"pcs[{n_pcs - 1}].fault_trip", 0)
        s.set(f"pcs[{n_pcs - 1}].fault_reset", 1)
    if k == 3300:
        s.set("gpu.job_fail", 0)
    if k >= 3400 and k % 150 == 0:
        s.set("bess.p_set_kw", 200.0 if (k // 150) % 2 else -150.0)


_MARKS = sorted({0, 1500, 1700, 1800, 2000, 2600, 3100, 3200, 3300, *range(3450, TICKS, 150), TICKS})


def _same_snapshot(a: Any, b: Any, where: str) -> None:
    assert a.scalars.keys() == b.scalars.keys()
    for key, v in a.scalars.items():
        w = b.scalars[key]
        assert v == w or (v != v and w != w), f"{where}: {key} {v!r} != {w!r}"
    for key, arr in a.arrays.items():
        np.testing.assert_array_equal(np.asarray(arr), np.asarray(b.arrays[key]), err_msg=f"{where}: {key}")


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("lab_rack", {"battery": {"soc0": 0.93}, "aging": {"model": "naumann", "window_s": 20.0}}),
        ("aidc_10k", {"battery": {"soc0": 0.9}, "aging": {"model": "naumann", "window_s": 30.0}}),
    ],
)
def test_chunked_advance_equals_per_tick(
    name: str, overrides: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[tuple[int, int]] = []
    real: Callable[..., int] = chunk._run

    def counted(site: Site, k: int, each: Any = None) -> int:
        done = real(site, k, each)
        runs.append((k, done))
        return done

    monkeypatch.setattr(chunk, "_run", counted)
    ref = load_site(name, overrides=overrides)
    fast = load_site(name, overrides=overrides)
    rows = load_site(name, overrides=overrides)  # advanced with every tick's snapshot (each=)
    seen: list[Any] = []
    for start, end in itertools.pairwise(_MARKS):
        for s in (ref, fast, rows):
            _script(s, start)
        per_tick = [ref.step() for _ in range(end - start)]
        b = fast.advance(end - start)
        rows.advance(end - start, each=seen.append)
        assert ref.tick == fast.tick == rows.tick == len(seen) == end
        _same_snapshot(per_tick[-1], b, f"{name} tick {end}")
        for i, a in enumerate(per_tick):
            _same_snapshot(a, seen[start + i], f"{name} tick {start + i + 1}, each=")
    for s in (fast, rows):
        assert [tuple(e) for e in s.events] == [tuple(e) for e in ref.events]
        assert s.energy == ref.energy
        assert vars(s.demand) == vars(ref.demand)
        assert s.aging is not None
        assert ref.aging is not None
        assert s.aging.windows_applied == ref.aging.windows_applied > 10
        np.testing.assert_array_equal(s.aging.soh_pct, ref.aging.soh_pct)
        np.testing.assert_array_equal(s.battery.r_aging, ref.battery.r_aging)
    chunked = sum(done for _, done in runs) // 2  # fast's and rows' chunks
    assert chunked > TICKS // 3, (
        f"only {chunked} of {TICKS} ticks ran in chunks"
    )  # not the outage and reconnection
    assert any(0 < done < k for k, done in runs), "no chunk stopped at a discrete change"
    kinds = {e[2] for e in ref.events}
    assert {"state", "bus"} <= kinds  # the script's discrete changes happened (per tick)


def test_advance_leaves_a_faulted_or_islanded_site_to_the_per_tick_path() -> None:
    s = load_site("lab_rack")
    s.set("pcs.enable", 1)
    s.step(5)
    assert chunk.chunk_len(s, 100) == 100
    s.set("grid.available", 0)
    s.step(30)  # the breaker opens: islanded or dead
    assert chunk.chunk_len(s, 100) == 0
    s.set("grid.available", 1)


def test_a_chunk_with_the_sky_overridden_computes_pv_tick_by_tick_alike() -> None:
    """With ``pv.cloud_index`` set the chunk leaves the compiled sky for ``Pv.step`` per tick;
    the same snapshot either way, and the override's power is really what was used."""
    ref, fast = load_site("aidc_10k"), load_site("aidc_10k")
    for s in (ref, fast):
        s.set("pcs.enable", 1)
        s.step(20)
        s.set("pv.cloud_index", 0.5)
    a, b = ref.step(600), fast.advance(600)
    _same_snapshot(a, b, "aidc_10k, cloud_index 0.5")
    assert b.scalars["pv.p_ac_kw"] > 0.0
    assert fast.pv is not None
    day, hour = fast.pv.sun((fast.tick - 1) * fast.dt + 0.5 * fast.dt)
    clear = clear_sky_ghi(hour, fast.pv.params.latitude_deg, day)
    assert b.scalars["pv.ghi_w_m2"] == pytest.approx(0.5 * clear, rel=1e-12)  # the override, not the sky


def test_a_chunk_leaves_a_non_finite_state_to_the_per_tick_path_which_raises() -> None:
    """A state that turns non-finite inside a chunk is not committed: the tick goes to
    ``Site.step``'s path, which raises :class:`SolverError` with nothing advanced."""
    s = load_site("lab_rack")
    s.set("pcs.enable", 1)
    s.step(5)
    assert chunk.chunk_len(s, 100) == 100
    s.battery.state.soc[0, 0] = math.nan
    with pytest.raises(SolverError):
        s.advance(100, each=lambda _snap: None)
    assert s.tick == 5
