"""The runner's tick-lateness record: exact percentiles in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from hil.run.runner import Lateness


def test_percentiles_and_max_are_exact_across_buffer_growth() -> None:
    rng = np.random.default_rng(3)
    late = rng.exponential(0.002, size=20_000)  # grows the 4096-sample buffer three times
    rec = Lateness()
    for x in late:
        rec.add(float(x))
    s = rec.summary()
    assert s["n"] == late.size
    assert s["p50_ms"] == pytest.approx(np.percentile(late * 1000, 50), rel=1e-12)
    assert s["p99_ms"] == pytest.approx(np.percentile(late * 1000, 99), rel=1e-12)
    assert s["max_ms"] == pytest.approx(late.max() * 1000, rel=1e-12)
    assert np.array_equal(rec.samples, late)
    assert rec.samples.dtype == np.float64  # 8 bytes a tick, not a Python float object


def test_past_the_cap_the_count_and_max_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Lateness, "MAX_KEPT", 100)
    rec = Lateness()
    for k in range(250):
        rec.add(0.001 * (k % 10))
    rec.add(0.5)  # the worst tick comes after the cap: still reported
    s = rec.summary()
    assert s["n"] == 251
    assert rec.samples.size == 100
    assert s["max_ms"] == pytest.approx(500.0)


def test_empty() -> None:
    assert Lateness().summary() == {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
