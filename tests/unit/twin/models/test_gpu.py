"""GPU training load fleet: waveform, exact tick means, smoothing, jobs, accounting.

Every test states its tolerance. "Exact" quantities (means of a piecewise-linear signal,
GPU-hour bookkeeping) are held to rtol 1e-9 or tighter, which leaves room only for
floating-point rounding.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest
from scipy import stats

from twin.errors import ParameterError, SimulationError
from twin.models.gpu import (
    CHECKPOINT,
    FAILED,
    IDLE,
    STARTING,
    TRAINING,
    GpuFleet,
    GpuFleetParams,
)
from twin.params import from_dict, to_dict

# A quiet fleet: no jitter, no gain spread, no checkpoints, no random failures.
QUIET: dict[str, Any] = {
    "n_racks": 4,
    "iteration_jitter": 0.0,
    "rack_gain_sigma": 0.0,
    "checkpoint_interval_s": 0.0,
    "failure_rate_per_h": 0.0,
}


def quiet(**kw: Any) -> GpuFleetParams:
    return GpuFleetParams(**{**QUIET, **kw})


def run(fleet: GpuFleet, t_end: float, dt: float, powered: np.ndarray | None = None) -> np.ndarray:
    """Per-tick per-rack means from fleet.t to t_end (ticks k·dt after the start)."""
    on = np.ones(fleet.n_racks, dtype=bool) if powered is None else powered
    start = fleet.t
    n = round((t_end - start) / dt)
    out = np.empty((n, fleet.n_racks))
    for k in range(n):
        out[k] = fleet.mean_power_kw(start + k * dt, dt, on)
    return out


def case11(smoothing: bool, **kw: Any) -> GpuFleetParams:
    """physics.md §6 case 11: T_it = 1 s, duty 0.8, 50 ms edges; its floor 0.8·P_peak is set
    here, not taken from the default (0.5·P_peak)."""
    return quiet(
        iteration_period_s=1.0,
        duty=0.8,
        edge_s=0.05,
        smoothing_enabled=smoothing,
        smoothing_floor_frac=0.8,
        **kw,
    )


def sample_total(p: GpuFleetParams, seconds: float, dt: float = 1e-3) -> np.ndarray:
    """Fleet total sampled as exact dt means after a 10 s settling window."""
    f = GpuFleet(p, seed=5)
    run(f, 10.0, dt)
    return run(f, 10.0 + seconds, dt).sum(axis=1)


def band_energy(x: np.ndarray, dt: float, lo: float = 0.1, hi: float = 20.0) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean())) ** 2
    freq = np.fft.rfftfreq(x.size, dt)
    return float(spec[(freq >= lo) & (freq <= hi)].sum())


# ---------------------------------------------------------------------- parameters


def test_defaults_are_a_dgx_h100_node_training_at_7p8_kw() -> None:
    """Analytic mean idle + duty·(peak − idle) = 7.8 kW (abs 1e-9) = 76 % of 10.2 kW (±1 %)."""
    p = GpuFleetParams()
    assert p.node_peak_kw == 10.2
    assert p.node_mean_training_kw == pytest.approx(7.8, abs=1e-9)
    assert p.node_mean_training_kw / p.node_peak_kw == pytest.approx(0.76, abs=0.01)
    assert p.gpus_per_rack == 32


def test_fleet_node_mean_over_long_training_window() -> None:
    """Default fleet (jitter and gain spread on), 2 h of training, no checkpoints or
    failures: mean node power 7.8 kW within ±2 % (the state tolerance)."""
    p = GpuFleetParams(checkpoint_interval_s=0.0, failure_rate_per_h=0.0)
    f = GpuFleet(p, seed=11)
    p_kw = run(f, 7200.0, 10.0)
    node_mean = p_kw.sum(axis=1).mean() / (p.n_racks * p.nodes_per_rack)
    assert node_mean == pytest.approx(7.8, rel=0.02)
    assert np.all(f.job_state == TRAINING)


def test_params_round_trip_and_cross_field_checks() -> None:
    p = from_dict(GpuFleetParams, {"n_racks": 10, "n_jobs": 2, "duty": 0.75})
    assert from_dict(GpuFleetParams, to_dict(p)) == p
    with pytest.raises(ParameterError) as err:
        from_dict(GpuFleetParams, {"duty": 0.95, "iteration_period_s": 1.0, "edge_s": 0.1})
    assert "communication plateau" in str(err.value)
    with pytest.raises(ParameterError):
        from_dict(GpuFleetParams, {"n_racks": 2, "n_jobs": 3})
    with pytest.raises(ParameterError):
        from_dict(GpuFleetParams, {"node_idle_kw": 11.0})
    with pytest.raises(ParameterError):
        from_dict(GpuFleetParams, {"initial_state": "trainig"})


# ---------------------------------------------------------------------- case 11


def test_case11_fundamental_at_1hz() -> None:
    """T_it = 1 s, duty 0.8, 50 ms edges at 1 kHz: the spectral peak is at 1 Hz within
    one FFT bin (1/64 Hz), inside the 0.2–3 Hz band."""
    x = sample_total(case11(False), 64.0)
    freq = np.fft.rfftfreq(x.size, 1e-3)
    spec = np.abs(np.fft.rfft(x - x.mean()))
    f_peak = freq[np.argmax(spec)]
    assert abs(f_peak - 1.0) <= freq[1]
    assert 0.2 <= f_peak <= 3.0


@pytest.mark.parametrize(("up", "down"), [(1000.0, 200.0), (2000.0, 2000.0)])
def test_case11_smoothing_cuts_band_energy_by_80_percent(up: float, down: float) -> None:
    """Floor 0.8·P_peak plus ramp limits: the fluctuation energy in 0.1–20 Hz falls by
    ≥ 80 % against the unsmoothed job (physics.md §6 case 11)."""
    raw = sample_total(case11(False), 64.0)
    smooth = sample_total(case11(True, smoothing_ramp_up_w_per_s=up, smoothing_ramp_down_w_per_s=down), 64.0)
    reduction = 1.0 - band_energy(smooth, 1e-3) / band_energy(raw, 1e-3)
    assert reduction >= 0.80


def test_smoothing_respects_floor_and_ramp_limits() -> None:
    """With smoothing on, node power never changes faster than the ramp limits (W/s per
    GPU, rtol 1e-6 on 1 ms means) and stays at or above 0.8·P_peak while training
    (abs 1e-9 kW)."""
    p = case11(True, smoothing_ramp_up_w_per_s=2000.0, smoothing_ramp_down_w_per_s=1500.0)
    x = sample_total(p, 8.0)
    per_gpu_w = x * 1000.0 / (p.n_racks * p.gpus_per_rack)
    slope = np.diff(per_gpu_w) / 1e-3
    assert slope.max() <= 2000.0 * (1 + 1e-6)
    assert slope.min() >= -1500.0 * (1 + 1e-6)
    assert slope.max() == pytest.approx(2000.0, rel=1e-6)  # the limit is reached
    node_kw = x / (p.n_racks * p.nodes_per_rack)
    assert node_kw.min() >= 0.8 * p.node_peak_kw - 1e-9


def test_smoothing_ramps_down_on_failure_and_up_on_start() -> None:
    """Stop/fail with smoothing on: power falls at the ramp-down limit to idle; start:
    rises at the ramp-up limit (slopes within rtol 1e-6)."""
    p = case11(True, smoothing_ramp_up_w_per_s=500.0, smoothing_ramp_down_w_per_s=250.0)
    f = GpuFleet(p, seed=1)
    run(f, 5.0, 1e-3)
    f.fail_job(5.0)
    x = run(f, 40.0, 1e-3).sum(axis=1) * 1000.0 / (p.n_racks * p.gpus_per_rack)
    slope = np.diff(x) / 1e-3
    assert slope.min() >= -250.0 * (1 + 1e-6)
    idle_w = p.node_idle_kw * 1000.0 / p.gpus_per_node
    assert x[-1] == pytest.approx(idle_w, rel=1e-12)
    f.start_job(40.0, ramp_s=0.0)
    y = run(f, 45.0, 1e-3).sum(axis=1) * 1000.0 / (p.n_racks * p.gpus_per_rack)
    assert np.diff(y).max() / 1e-3 == pytest.approx(500.0, rel=1e-6)


# ---------------------------------------------------------------------- exact means


def test_mean_over_whole_iterations_is_analytic() -> None:
    """Over whole iterations the mean is idle + duty·(peak − idle) per node (rtol 1e-12),
    whatever the phase of the tick."""
    p = quiet(iteration_period_s=1.25)
    f = GpuFleet(p, seed=2)
    run(f, 0.37, 0.37)
    means = run(f, 0.37 + 10 * 1.25, 1.25)
    expected = p.nodes_per_rack * p.node_mean_training_kw
    np.testing.assert_allclose(means, expected, rtol=1e-12)


def _eventful(smoothing: bool) -> GpuFleetParams:
    return GpuFleetParams(
        n_racks=8,
        n_jobs=2,
        iteration_period_s=1.3,
        checkpoint_interval_s=20.0,
        checkpoint_duration_s=7.3,
        start_ramp_s=5.5,
        failure_rate_per_h=30.0,
        failure_ref_gpus=64,
        restart_delay_s=4.2,
        smoothing_enabled=smoothing,
    )


def _eventful_run(p: GpuFleetParams, dt: float) -> tuple[np.ndarray, GpuFleet]:
    f = GpuFleet(p, seed=3)
    f.fail_job(33.3, 0)
    f.checkpoint_now(50.2)
    f.stop_job(70.05, 1)
    f.start_job(75.5, 1, ramp_s=3.3)
    f.fail_job(91.7)
    out = run(f, 60.0, dt)
    f.set_smoothing(not f.smoothing)
    return np.vstack([out, run(f, 120.0, dt)]), f


@pytest.mark.parametrize("smoothing", [False, True])
def test_tick_means_equal_1ms_average_across_events(smoothing: bool) -> None:
    """1 s and 60 s tick means equal the average of 1 ms means over the same interval
    (rtol 1e-9), across checkpoints, start ramps, random and commanded failures, a stop,
    a smoothing toggle and smoothing transients. Event logs and GPU-hour bookkeeping are
    identical whatever the tick (rtol 1e-9: sums over 120,000 ticks)."""
    p = _eventful(smoothing)
    ms, f_ms = _eventful_run(p, 1e-3)
    s1, f_1 = _eventful_run(p, 1.0)
    s60, f_60 = _eventful_run(p, 60.0)
    np.testing.assert_allclose(s1, ms.reshape(120, 1000, -1).mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(s60, ms.reshape(2, 60000, -1).mean(axis=1), rtol=1e-9)
    kinds = {kind for _, kind, _ in f_ms.events}
    assert {"checkpoint", "checkpoint_done", "failure", "fail", "restart", "train"} <= kinds
    assert {"stop", "start", "smoothing_on" if not smoothing else "smoothing_off"} <= kinds
    assert f_ms.events == f_1.events == f_60.events
    assert f_1.gpu_hours_lost_failures == pytest.approx(f_ms.gpu_hours_lost_failures, rel=1e-9)
    assert f_60.gpu_hours_lost_failures == pytest.approx(f_ms.gpu_hours_lost_failures, rel=1e-9)
    np.testing.assert_allclose(f_60.job_running_s, f_ms.job_running_s, rtol=1e-9)


def test_short_ticks_follow_the_waveform() -> None:
    """At 1 ms ticks the rack power spans idle to peak (abs 1e-9 kW) with edges 50 ms
    long (±2 ms)."""
    p = case11(False)
    f = GpuFleet(p, seed=4)
    x = run(f, 3.0, 1e-3)[:, 0]
    assert x.min() == pytest.approx(p.nodes_per_rack * p.node_idle_kw, abs=1e-9)
    assert x.max() == pytest.approx(p.nodes_per_rack * p.node_peak_kw, abs=1e-9)
    lo, hi = x.min(), x.max()
    on_edge = (x > lo + 1e-6) & (x < hi - 1e-6)
    assert on_edge.sum() / 3 == pytest.approx(2 * 50, abs=2 * 2)


# ---------------------------------------------------------------------- determinism


def test_same_seed_same_calls_bit_identical() -> None:
    p = _eventful(True)
    a, fa = _eventful_run(p, 0.5)
    b, fb = _eventful_run(p, 0.5)
    assert np.array_equal(a, b)
    assert fa.events == fb.events
    assert fa.gpu_hours_lost == fb.gpu_hours_lost


def test_different_seeds_differ() -> None:
    p = GpuFleetParams(n_racks=16, failure_rate_per_h=0.0)
    a = run(GpuFleet(p, seed=1), 30.0, 0.1)
    b = run(GpuFleet(p, seed=2), 30.0, 0.1)
    assert not np.array_equal(a, b)
    assert not np.array_equal(GpuFleet(p, seed=1).rack_gain, GpuFleet(p, seed=2).rack_gain)


def test_deepcopy_continues_identically() -> None:
    """The site probes the fleet with a deep copy: the copy must continue bit-identically."""
    f = GpuFleet(_eventful(True), seed=9)
    run(f, 10.0, 0.1)
    g = copy.deepcopy(f)
    assert np.array_equal(run(f, 40.0, 0.1), run(g, 40.0, 0.1))


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize("n_jobs", [1, 4])
def test_poisson_failures_match_llama3_rate(n_jobs: int) -> None:
    """16,384 GPUs (one job, or four of 4,096), 400 h: the number of random failures lies
    in the 99.9 % Poisson interval of rate 419/(54 d) x (GPUs / 16,384) x running time."""
    p = GpuFleetParams(
        n_racks=512,
        n_jobs=n_jobs,
        iteration_period_s=5.0,
        iteration_jitter=0.0,
        checkpoint_interval_s=0.0,
        restart_delay_s=600.0,
        start_ramp_s=60.0,
    )
    assert p.n_racks * p.gpus_per_rack == 16384
    f = GpuFleet(p, seed=123)
    run(f, 400 * 3600.0, 600.0)
    n_fail = sum(1 for _, kind, _ in f.events if kind == "failure")
    rate_per_s = 419.0 / (54 * 24 * 3600) / n_jobs
    mu = rate_per_s * float(f.job_running_s.sum())
    lo, hi = stats.poisson.ppf([0.0005, 0.9995], mu)
    assert lo <= n_fail <= hi
    assert mu == pytest.approx(400 / 3.09, rel=0.1)  # ≈ 1 failure per 3 h of training
    restarts = sum(1 for _, kind, _ in f.events if kind == "restart")
    assert restarts >= n_fail - n_jobs


def test_fail_job_steps_to_idle_restarts_and_accounts_lost_work() -> None:
    """fail_job: power steps to idle at once (abs 1e-9 kW), restart at t + delay and
    training after the ramp (times exact); lost GPU-hours = rollback since the last
    checkpoint + downtime (rtol 1e-12)."""
    p = quiet(restart_delay_s=30.0, start_ramp_s=10.0)
    f = GpuFleet(p, seed=1)
    run(f, 50.0, 1.0)
    f.fail_job(50.0)
    assert f.job_state[0] == FAILED
    idle = run(f, 80.0, 1.0)
    np.testing.assert_allclose(idle, p.nodes_per_rack * p.node_idle_kw, atol=1e-9)
    run(f, 95.0, 1.0)
    assert f.job_state[0] == TRAINING
    assert [e for e in f.events if e[1] != "train"] == [(50.0, "fail", 0), (80.0, "restart", 0)]
    assert (90.0, "train", 0) in f.events
    n_gpus = p.n_racks * p.gpus_per_rack
    assert f.gpu_hours_lost_failures == pytest.approx(n_gpus * (50.0 + 30.0) / 3600, rel=1e-12)
    assert f.gpu_hours_lost_supply == 0.0


def test_failure_during_start_ramp_loses_no_rolled_back_work() -> None:
    p = quiet(restart_delay_s=5.0, start_ramp_s=20.0, initial_state="starting")
    f = GpuFleet(p, seed=1)
    run(f, 10.0, 1.0)
    assert f.job_state[0] == STARTING
    f.fail_job(10.0)
    run(f, 12.0, 1.0)
    n_gpus = p.n_racks * p.gpus_per_rack
    assert f.gpu_hours_lost_failures == pytest.approx(n_gpus * 2.0 / 3600, rel=1e-12)


# ---------------------------------------------------------------------- supply


@pytest.mark.parametrize("fail_on_loss", [True, False])
def test_unpowered_racks_draw_zero_and_accrue_exact_gpu_hours(fail_on_loss: bool) -> None:
    """3 of 10 racks dark for 2 h in 10 s ticks: they draw exactly 0 kW and
    gpu_hours_lost_supply = 3 racks x 4 nodes x 8 GPUs x 2 h (rtol 1e-12)."""
    p = GpuFleetParams(n_racks=10, failure_rate_per_h=0.0, fail_job_on_supply_loss=fail_on_loss)
    f = GpuFleet(p, seed=7)
    powered = np.ones(10, dtype=bool)
    powered[[1, 4, 8]] = False
    out = run(f, 7200.0, 10.0, powered)
    assert np.all(out[:, ~powered] == 0.0)
    assert np.all(out[:, powered] > 0.0)
    assert f.racks_dark == 3
    assert f.gpu_hours_lost_supply == pytest.approx(3 * 4 * 8 * 2.0, rel=1e-12)
    if fail_on_loss:
        assert f.job_state[0] == FAILED
        assert f.events[0][1] == "supply_loss"
    else:
        assert f.gpu_hours_lost_failures == 0.0
        assert f.job_state[0] in (TRAINING, CHECKPOINT)


def test_supply_loss_fails_job_and_restarts_after_power_returns() -> None:
    """A rack blackout fails the job (other racks step to idle, abs 1e-9 kW); the job
    waits while dark and restarts restart_delay_s after supply returns (exact time).
    Supply and failure GPU-hours are kept apart (rtol 1e-12)."""
    p = quiet(restart_delay_s=30.0, start_ramp_s=10.0)
    f = GpuFleet(p, seed=1)
    run(f, 100.0, 1.0)
    powered = np.array([False, True, True, True])
    dark = run(f, 120.0, 1.0, powered)
    assert f.job_state[0] == FAILED
    assert f.racks_dark == 1
    np.testing.assert_allclose(dark[:, 0], 0.0, atol=0.0)
    np.testing.assert_allclose(dark[:, 1:], p.nodes_per_rack * p.node_idle_kw, atol=1e-9)
    run(f, 165.0, 1.0)
    assert f.job_state[0] == TRAINING
    assert (100.0, "supply_loss", 0) in f.events
    assert (150.0, "restart", 0) in f.events
    gpr = p.gpus_per_rack
    assert f.gpu_hours_lost_supply == pytest.approx(1 * gpr * 20.0 / 3600, rel=1e-12)
    rollback = 4 * gpr * 100.0
    waiting = 3 * gpr * 20.0 + 4 * gpr * 30.0
    assert f.gpu_hours_lost_failures == pytest.approx((rollback + waiting) / 3600, rel=1e-12)
    assert f.gpu_hours_lost == pytest.approx(f.gpu_hours_lost_supply + f.gpu_hours_lost_failures, rel=1e-15)


# ---------------------------------------------------------------------- jobs


def test_stop_and_start_with_ramp() -> None:
    """Stop: idle at once. Start with a ramp: state 1, mean over the ramp is
    idle + duty/2·(peak − idle) (rtol 1e-12), then training."""
    p = quiet()
    f = GpuFleet(p, seed=3)
    run(f, 10.0, 0.5)
    f.stop_job(10.0, 0)
    assert f.job_state[0] == IDLE
    np.testing.assert_allclose(run(f, 20.0, 0.5), p.nodes_per_rack * p.node_idle_kw, rtol=1e-12)
    f.start_job(20.0, 0, ramp_s=30.0)
    assert f.job_state[0] == STARTING
    ramp = run(f, 50.0, 30.0)
    d_kw = p.node_peak_kw - p.node_idle_kw
    expected = p.nodes_per_rack * (p.node_idle_kw + 0.5 * p.duty * d_kw)
    np.testing.assert_allclose(ramp, expected, rtol=1e-12)
    assert f.job_state[0] == TRAINING
    f.start_job(50.0, 0)  # already running: no effect
    assert [k for _, k, _ in f.events] == ["stop", "start", "train"]


def test_checkpoint_storm_and_periodic_checkpoints() -> None:
    """checkpoint_now on 3 jobs: each enters state 3 within one iteration (≤ T·(1+3σ)),
    draws idle + level·(peak − idle) (rtol 1e-12) for checkpoint_duration_s, then trains;
    the next checkpoint follows checkpoint_interval_s later (±1 iteration)."""
    p = GpuFleetParams(
        n_racks=6,
        n_jobs=3,
        rack_gain_sigma=0.0,
        failure_rate_per_h=0.0,
        checkpoint_interval_s=300.0,
        checkpoint_duration_s=30.0,
        checkpoint_level=0.1,
    )
    f = GpuFleet(p, seed=8)
    run(f, 400.0, 0.1)
    training = np.flatnonzero(f.job_state == TRAINING)
    assert training.size >= 2
    n_before = len(f.events)
    f.checkpoint_now(400.0)
    t_max = p.iteration_period_s * (1 + 3 * p.iteration_jitter)
    run(f, 400.0 + t_max, 0.01)
    assert np.all(f.job_state[training] == CHECKPOINT)
    starts = {j: t for t, k, j in f.events[n_before:] if k == "checkpoint"}
    assert sorted(starts) == training.tolist()
    assert all(400.0 <= t <= 400.0 + t_max for t in starts.values())
    during = run(f, 420.0, 0.1)[-1]
    d_kw = p.node_peak_kw - p.node_idle_kw
    racks = np.isin(f.job_of_rack, training)
    np.testing.assert_allclose(during[racks], 4 * (p.node_idle_kw + 0.1 * d_kw), rtol=1e-12)
    run(f, 1500.0, 1.0)
    pairs = 0
    for j in range(3):
        ev = [(t, k) for t, k, jj in f.events if jj == j and k.startswith("checkpoint")]
        for (t_a, k_a), (t_b, k_b) in itertools.pairwise(ev):
            if k_a == "checkpoint_done":
                assert k_b == "checkpoint"
                if t_b - t_a < 300.0:  # the storm came first
                    assert starts[j] == t_b
                    continue
                assert t_b - t_a <= 300.0 + t_max
                pairs += 1
            else:
                assert t_b - t_a == pytest.approx(30.0, abs=1e-9)
    assert pairs >= 6


def test_jobs_split_racks_evenly_with_independent_phases() -> None:
    p = GpuFleetParams(n_racks=10, n_jobs=3, rack_gain_sigma=0.0, failure_rate_per_h=0.0)
    f = GpuFleet(p, seed=4)
    assert f.job_of_rack.tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    x = run(f, 5.0, 0.01)
    assert not np.allclose(x[:, 0], x[:, 4])
    assert np.array_equal(x[:, 4], x[:, 6])  # lock-step within a job
    f.fail_job(5.0, 1)
    assert f.job_state.tolist() == [TRAINING, FAILED, TRAINING]


def test_future_commands_apply_at_their_exact_time() -> None:
    p = quiet(restart_delay_s=10.0, start_ramp_s=0.0)
    f = GpuFleet(p, seed=1)
    f.fail_job(12.345)
    run(f, 12.0, 1.0)
    assert f.job_state[0] == TRAINING
    run(f, 30.0, 1.0)
    assert f.events[:2] == [(12.345, "fail", 0), (22.345, "restart", 0)]


def test_interval_and_command_errors() -> None:
    f = GpuFleet(quiet(), seed=1)
    on = np.ones(4, dtype=bool)
    f.mean_power_kw(0.0, 1.0, on)
    with pytest.raises(SimulationError):
        f.mean_power_kw(2.0, 1.0, on)  # gap
    with pytest.raises(SimulationError):
        f.mean_power_kw(0.5, 1.0, on)  # overlap
    with pytest.raises(ValueError, match="shape"):
        f.mean_power_kw(1.0, 1.0, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="positive"):
        f.mean_power_kw(1.0, 0.0, on)
    with pytest.raises(SimulationError):
        f.fail_job(0.5)
    with pytest.raises(ValueError, match="job"):
        f.stop_job(1.0, 1)


def test_smoothing_toggle_is_continuous_and_logged() -> None:
    """Turning smoothing on mid-run does not jump the power (rise ≤ ramp limit x dt,
    rtol 1e-9); the toggle is logged with job −1."""
    p = case11(False)
    f = GpuFleet(p, seed=2)
    a = run(f, 2.0, 1e-3).sum(axis=1)
    f.set_smoothing(True)
    assert f.smoothing
    b = run(f, 4.0, 1e-3).sum(axis=1)
    max_step_kw = p.smoothing_ramp_up_w_per_s * p.n_racks * p.gpus_per_rack / 1000.0 * 1e-3
    assert b[0] - a[-1] <= 2 * max_step_kw * (1 + 1e-9)
    assert f.events[-1] == (2.0, "smoothing_on", -1)
    floor_kw = 0.8 * p.node_peak_kw * p.n_racks * p.nodes_per_rack
    assert b[-1000:].min() >= floor_kw * (1 - 1e-9)  # settled on the floor within 1 s


def test_params_are_frozen() -> None:
    p = GpuFleetParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.n_racks = 3  # type: ignore[misc]


# ---------------------------------------------------------------------- worst case and profiles

# The 10k-GPU demo site of profiles/sites/aidc_10k.yaml: 313 racks of 4 DGX H100 nodes.
AIDC_10K: dict[str, Any] = {"n_racks": 313, "checkpoint_interval_s": 0.0, "failure_rate_per_h": 0.0}


def sample_sum(p: GpuFleetParams, seconds: float, dt: float, seed: int = 1) -> tuple[np.ndarray, GpuFleet]:
    """Fleet total (kW) as exact dt means from t = 0, and the fleet."""
    f = GpuFleet(p, seed=seed)
    return run(f, seconds, dt).sum(axis=1), f


def incoherent_rms_kw(p: GpuFleetParams, f: GpuFleet) -> float:
    """RMS of the fleet total for jobs whose phases are independent: the variances add.

    A trapezoid between comm_level and 1 with compute fraction f_c, edges e and period T
    has variance (1 − c)²·(f_c − f_c² − e/(3T)) in units of s; job j scales it by its
    n_j racks x N_node x (P_peak − P_idle) (iteration jitter neglected).
    """
    sizes = np.bincount(f.job_of_rack)
    f_c, e = p.compute_fraction, p.edge_s
    var = (1.0 - p.comm_level) ** 2 * (f_c - f_c**2 - e / (3.0 * f.job_period_s))
    swing = sizes * p.nodes_per_rack * (p.node_peak_kw - p.node_idle_kw)
    return float(np.sqrt(np.sum(swing**2 * var)))


def test_worst_case_swing_of_the_10k_site_is_the_closed_form() -> None:
    """Defaults on 313 racks (jitter and gain spread on), 1 ms means: the fleet swings
    n_racks·N_node·(P_peak − P_idle) peak to peak (rtol 1e-9) with edges of that over
    edge_s (rtol 1e-6); each rack swings g_r·N_node·(P_peak − P_idle) (rtol 1e-9)."""
    p = GpuFleetParams(**AIDC_10K)
    f = GpuFleet(p, seed=1)
    racks = run(f, 3.0, 1e-3)
    total = racks.sum(axis=1)
    rack_pp = p.nodes_per_rack * (p.node_peak_kw - p.node_idle_kw)
    site_pp = p.n_racks * rack_pp
    assert np.ptp(total) == pytest.approx(site_pp, rel=1e-9)
    assert np.abs(np.diff(total)).max() / 1e-3 == pytest.approx(site_pp / p.edge_s, rel=1e-6)
    np.testing.assert_allclose(np.ptp(racks, axis=0), f.rack_gain * rack_pp, rtol=1e-9)
    # the figures docs/models/gpu.md quotes, to the digits it quotes them
    assert (rack_pp, rack_pp / p.edge_s) == (pytest.approx(32.0), pytest.approx(320.0))
    assert (site_pp / 1e3, site_pp / p.edge_s / 1e3) == (
        pytest.approx(10.0, abs=0.05),
        pytest.approx(100.0, abs=0.5),
    )


def test_profiles_apply_before_validation_and_explicit_keys_win() -> None:
    from twin.models.gpu_profiles import PROFILE_SOURCES, PROFILES
    from twin.site import SiteParams

    for preset in PROFILES.values():  # every preset value says where it comes from
        assert all(PROFILE_SOURCES[key][:3] in ("[S]", "[C]", "[K]") for key in preset)

    realistic = from_dict(GpuFleetParams, {"profile": "realistic"})
    assert realistic == GpuFleetParams(**PROFILES["realistic"])
    assert realistic == GpuFleetParams.from_profile("realistic")
    assert from_dict(GpuFleetParams, {"profile": "worst_case"}) == GpuFleetParams()
    mixed = from_dict(GpuFleetParams, {"profile": "realistic", "n_jobs": 8, "n_racks": 313})
    assert (mixed.n_jobs, mixed.n_racks, mixed.comm_level) == (8, 313, PROFILES["realistic"]["comm_level"])
    assert from_dict(GpuFleetParams, to_dict(mixed)) == mixed
    site = from_dict(SiteParams, {"gpu": {"profile": "realistic", "n_racks": 313}})
    assert site.gpu == GpuFleetParams.from_profile("realistic", {"n_racks": 313})
    with pytest.raises(ParameterError) as err:
        from_dict(SiteParams, {"gpu": {"profile": "realistc"}})
    assert err.value.issues[0].path == ("gpu", "profile")
    assert "did you mean 'realistic'?" in str(err.value)
    with pytest.raises(ParameterError, match="did you mean 'profile'"):
        from_dict(GpuFleetParams, {"profil": "realistic"})
    with pytest.raises(ParameterError, match="n_jobs must not exceed n_racks"):
        from_dict(GpuFleetParams, {"profile": "realistic", "n_racks": 4})
    with pytest.raises(ParameterError, match="duty must exceed comm_level"):
        from_dict(GpuFleetParams, {"comm_level": 0.7})
    with pytest.raises(ParameterError, match="job_period_spread"):
        from_dict(GpuFleetParams, {"iteration_period_s": 0.5, "job_period_spread": 0.3})


def test_comm_level_raises_the_floor_and_holds_the_training_mean() -> None:
    """comm_level 0.4: the communication plateau is idle + 0.4·(peak − idle) and the peak
    is unchanged (abs 1e-9 kW); the mean over whole iterations is still
    idle + duty·(peak − idle) = 7.8 kW (rtol 1e-12); the start ramp joins the trapezoid
    without a step (abs 1e-9 kW at 1 ms)."""
    p = quiet(comm_level=0.4, iteration_period_s=1.25, start_ramp_s=2.0)
    d_kw = p.node_peak_kw - p.node_idle_kw
    f = GpuFleet(p, seed=2)
    run(f, 0.37, 0.37)
    np.testing.assert_allclose(run(f, 0.37 + 8 * 1.25, 1.25), 4 * p.node_mean_training_kw, rtol=1e-12)
    assert p.node_mean_training_kw == pytest.approx(7.8, abs=1e-9)
    x = run(f, 15.0, 1e-3)[:, 0]
    assert x.min() == pytest.approx(4 * (p.node_idle_kw + 0.4 * d_kw), abs=1e-9)
    assert x.max() == pytest.approx(4 * p.node_peak_kw, abs=1e-9)
    f.stop_job(15.0)
    run(f, 16.0, 1e-3)
    f.start_job(16.0)
    y = run(f, 22.0, 1e-3)[:, 0]
    edge_step_kw = 4 * (1.0 - 0.4) * d_kw / p.edge_s * 1e-3
    assert np.abs(np.diff(y)).max() <= edge_step_kw + 1e-9


def test_staggered_jobs_cut_the_rms_swing_by_sqrt_n_jobs() -> None:
    """313 racks, 600 s of 20 ms means. The worst case's RMS swing is the closed form of
    one trapezoid (rtol 1 %). Twelve jobs with their own phases and periods (σ = 0.2) add
    incoherently: RMS = sqrt(Σ variances) within ±15 % (20 seeds measured 0.94–1.05), which
    is ≈ 1/sqrt(12) of the worst case; the largest spectral line falls by more than that
    (each job has its own fundamental). The realistic profile adds the (1 − comm_level)
    factor with the same tolerance and keeps the 7.8 kW node mean (rtol 1 %)."""
    dt, seconds = 0.02, 600.0
    worst_p = GpuFleetParams(**AIDC_10K)
    worst, f1 = sample_sum(worst_p, seconds, dt)
    assert worst.std() == pytest.approx(incoherent_rms_kw(worst_p, f1), rel=0.01)

    stagger_p = GpuFleetParams(**AIDC_10K, n_jobs=12, job_period_spread=0.2)
    stagger, f12 = sample_sum(stagger_p, seconds, dt)
    assert stagger.std() == pytest.approx(incoherent_rms_kw(stagger_p, f12), rel=0.15)
    assert stagger.std() / worst.std() == pytest.approx(1 / np.sqrt(12), rel=0.15)

    def peak_line(x: np.ndarray) -> float:
        return float(np.abs(np.fft.rfft(x - x.mean())).max())

    assert peak_line(stagger) / peak_line(worst) < 1 / np.sqrt(12)

    real_p = GpuFleetParams.from_profile("realistic", AIDC_10K)
    real, fr = sample_sum(real_p, seconds, dt)
    assert real.std() == pytest.approx(incoherent_rms_kw(real_p, fr), rel=0.15)
    t_it, e = real_p.iteration_period_s, real_p.edge_s
    shape = [f_c - f_c**2 - e / (3.0 * t_it) for f_c in (real_p.compute_fraction, worst_p.compute_fraction)]
    ratio = (1.0 - real_p.comm_level) * np.sqrt(shape[0] / shape[1]) / np.sqrt(12)
    assert real.std() / worst.std() == pytest.approx(ratio, rel=0.15)
    node_mean = real.mean() / (real_p.n_racks * real_p.nodes_per_rack)
    assert node_mean == pytest.approx(7.8, rel=0.01)
    assert np.ptp(real) <= (1.0 - real_p.comm_level) * np.ptp(worst) * (1 + 1e-9)


def test_smoothing_at_the_default_floor_costs_under_10_percent_energy() -> None:
    """Default floor (0.5·P_peak, below the 7.8 kW mean) and default ramps on the worst-case
    waveform: the mean over whole iterations rises by the closed form of a floored
    trapezoid, (s_f·t_comm + e·s_f²)/T·(P_peak − P_idle), rtol 1e-6 — the two equal ramp
    limits' lags cancel — and that is at most 10 % of the 7.8 kW training mean."""
    p = quiet(smoothing_enabled=True)
    assert p.smoothing_floor_frac * p.node_peak_kw <= p.node_mean_training_kw
    assert p.smoothing_ramp_up_w_per_s == p.smoothing_ramp_down_w_per_s
    f = GpuFleet(p, seed=3)
    run(f, 6.0, 1e-3)
    t_it = p.iteration_period_s
    mean_kw = run(f, 6.0 + 20 * t_it, 20 * t_it).sum() / (p.n_racks * p.nodes_per_rack)
    d_kw = p.node_peak_kw - p.node_idle_kw
    s_f = (p.smoothing_floor_frac * p.node_peak_kw - p.node_idle_kw) / d_kw
    t_comm = (1.0 - p.duty) * t_it - p.edge_s
    rise_kw = (s_f * t_comm + p.edge_s * s_f**2) / t_it * d_kw
    assert mean_kw - p.node_mean_training_kw == pytest.approx(rise_kw, rel=1e-6)
    assert rise_kw / p.node_mean_training_kw <= 0.10
