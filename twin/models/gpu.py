"""GPU training load: one vectorised fleet of racks running synchronous training jobs.

Each job is a group of racks that move in lock-step. A job's normalised utilisation
``s(t)`` (0 = node idle, 1 = node peak) is a piecewise-linear signal:

* training: a periodic trapezoid per iteration (rising edge, compute plateau, falling
  edge, communication plateau at ``comm_level``) with a seeded jitter on the communication
  phase; each job has its own random phase and, with ``job_period_spread``, its own period;
* checkpoints: a flat ``checkpoint_level`` every ``checkpoint_interval_s``;
* job start: a linear ramp from idle to the mean training level;
* stop or failure: a step to idle, automatic restart after ``restart_delay_s``.

With NVIDIA-style power smoothing on, the signal is raised to a floor while the job runs
and passed through a slew-rate limiter (ramp-up and ramp-down limits). A slew-rate limiter
maps a piecewise-linear input onto a piecewise-linear output, so the smoothed signal is
computed *exactly* as breakpoints, transients included.

Rack power is ``g_r · nodes · (P_idle + (P_peak − P_idle) · s_job(t))`` with a static
per-rack gain ``g_r``. :meth:`GpuFleet.mean_power_kw` returns the exact mean over a tick by
integrating the breakpoints (trapezoid rule, exact for linear segments): no sampling, no
aliasing, whatever the tick. See ``docs/models/gpu.md``.

**The defaults are the worst case** (preset ``worst_case``): one synchronous job across
every rack, so all racks swing in phase; the communication plateau at node idle; unsmoothed
100 ms edges. That is the largest swing the fleet can make: per rack
``N_node·(P_peak − P_idle)`` = 32 kW peak to peak with 320 kW/s edges, and 10.0 MW with
100 MW/s edges for the 313-rack site of ``profiles/sites/aidc_10k.yaml``. The preset
``realistic`` (``gpu: {profile: realistic}``, :mod:`twin.models.gpu_profiles`) staggers
12 jobs and raises the communication floor.
"""

from __future__ import annotations

import heapq
import math
from typing import ClassVar

import numpy as np

from twin.errors import SimulationError
from twin.models.gpu_jobs import (
    JobWaveforms,
    _Job,
    _keep,
    _put,
    _truncate_output,
    job_checkpoint,
    job_restore,
)
from twin.models.gpu_params import (
    _RUNNING,
    CHECKPOINT,
    FAILED,
    IDLE,
    JOB_STATE_NAMES,
    STARTING,
    TRAINING,
    GpuFleetParams,
)
from twin.pwl import integrate
from twin.signals import Signal

__all__ = [
    "CHECKPOINT",
    "FAILED",
    "IDLE",
    "JOB_STATE_NAMES",
    "STARTING",
    "TRAINING",
    "GpuFleet",
    "GpuFleetParams",
]


class GpuFleet(JobWaveforms):
    """All GPU racks of a site as one vectorised device (arrays of length ``n_racks``).

    ``mean_power_kw(t0, dt, powered)`` is called once per tick with consecutive intervals
    and returns each rack's exact mean IT power over ``[t0, t0 + dt)``. Job control
    methods take a time ``t``: at the current time (the end of the last tick) they act at
    once, at a later time they are queued and applied at exactly ``t`` inside the tick that
    contains it. Same seed and same call sequence give bit-identical results; the waveform
    does not depend on the tick length.
    """

    name: ClassVar[str] = "gpu"
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("p_kw", "kW", "rack IT power, mean over the tick"),
        Signal("powered", "1", "1 while the rack has supply"),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal("smoothing", "1", "1 turns the fleet's power smoothing on, 0 off", per_unit=False),
        Signal("job_start", "1", "starts job N (the value; negative: every job)", per_unit=False),
        Signal(
            "job_stop", "1", "stops job N: steps to idle, no restart (negative: every job)", per_unit=False
        ),
        Signal(
            "job_fail",
            "1",
            "fails job N: idle, work since its checkpoint lost, restart later (negative: every job)",
            per_unit=False,
        ),
        Signal("checkpoint", "1", "job N checkpoints now (negative: every job)", per_unit=False),
    )

    def __init__(self, params: GpuFleetParams, *, seed: int, t0: float = 0.0) -> None:
        p = params
        self.params = p
        self.n_racks = p.n_racks
        self.n_jobs = p.n_jobs
        self.gpus_per_rack = p.gpus_per_rack
        self.n_gpus = p.n_racks * p.gpus_per_rack
        sizes = [len(a) for a in np.array_split(np.arange(p.n_racks), p.n_jobs)]
        job_of_rack = np.repeat(np.arange(p.n_jobs), sizes)
        job_of_rack.flags.writeable = False
        self.job_of_rack: np.ndarray = job_of_rack
        self._job_sizes = np.asarray(sizes)

        rng = np.random.default_rng(seed)
        z = np.clip(rng.standard_normal(p.n_racks), -3.0, 3.0)
        gain = 1.0 + p.rack_gain_sigma * z
        gain /= (np.bincount(job_of_rack, weights=gain) / self._job_sizes)[job_of_rack]
        self.rack_gain: np.ndarray = gain
        self.rack_gain.flags.writeable = False
        d_kw = p.node_peak_kw - p.node_idle_kw
        self._a = gain * (p.nodes_per_rack * p.node_idle_kw)
        self._b = gain * (p.nodes_per_rack * d_kw)

        # waveform constants, in units of s (0 = idle, 1 = peak) and seconds
        self._edge = p.edge_s
        self._low = p.comm_level
        self._f_c = p.compute_fraction
        self._s_floor = min(1.0, max(0.0, (p.smoothing_floor_frac * p.node_peak_kw - p.node_idle_kw) / d_kw))
        self._r_up = p.smoothing_ramp_up_w_per_s * p.gpus_per_node / 1000.0 / d_kw
        self._r_dn = p.smoothing_ramp_down_w_per_s * p.gpus_per_node / 1000.0 / d_kw
        self._smooth = p.smoothing_enabled

        self._t = float(t0)
        self._queue: list[tuple[float, int, str, int, float | None]] = []
        self._seq = 0
        #: Event log: (time in s, kind, job index; -1 for fleet-wide events).
        self.events: list[tuple[float, str, int]] = []
        #: GPU-hours lost on racks without supply while their job was allocated.
        self.gpu_hours_lost_supply = 0.0
        #: GPU-hours lost to job failures: rolled-back work plus time waiting to restart.
        self.gpu_hours_lost_failures = 0.0
        #: Racks without supply during the last tick.
        self.racks_dark = 0
        self._running_s = np.zeros(p.n_jobs)
        self._ybar = np.zeros(p.n_jobs)

        children = rng.spawn(2 * p.n_jobs)
        # drawn after the spawn, so the per-job streams do not depend on the spread
        periods = p.iteration_period_s * (
            1.0 + p.job_period_spread * np.clip(rng.standard_normal(p.n_jobs), -3.0, 3.0)
        )
        self._jobs: list[_Job] = []
        for j in range(p.n_jobs):
            n_gpus = sizes[j] * p.gpus_per_rack
            rate = p.failure_rate_per_h * n_gpus / p.failure_ref_gpus / 3600.0
            jb = _Job(j, sizes[j], n_gpus, rate, children[2 * j], children[2 * j + 1], self._t)
            jb.period = float(periods[j])
            jb.plateau = self._f_c * jb.period - p.edge_s
            u_phase, u_ckpt = jb.jit_rng.random(2)
            if p.initial_state == "training":
                jb.phase = TRAINING
                jb.off_frac = float(u_phase)
                self._record(jb, self._t, TRAINING, self._t)
                if p.checkpoint_interval_s > 0.0:
                    jb.ckpt_due = self._t + float(u_ckpt) * p.checkpoint_interval_s
            elif p.initial_state == "starting":
                jb.phase = STARTING
                jb.ramp_s = p.start_ramp_s
                jb.entering = True
                jb.enter_kind = "start"
            else:
                self._record(jb, self._t, IDLE, math.nan)
            self._jobs.append(jb)
            self._generate_until(jb, self._t)
        self._flush_events(self._t)

    # ------------------------------------------------------------------ public API

    @property
    def t(self) -> float:
        """End of the last integrated interval (s)."""
        return self._t

    @property
    def smoothing(self) -> bool:
        """True while power smoothing (floor and ramp limits) is on."""
        return self._smooth

    @property
    def job_state(self) -> np.ndarray:
        """State of each job at :attr:`t` (0 idle, 1 starting, 2 training, 3 checkpoint,
        4 failed/restarting), a new int8 array of length ``n_jobs``."""
        return np.array([jb.state_at(self._t) for jb in self._jobs], dtype=np.int8)

    @property
    def job_period_s(self) -> np.ndarray:
        """Mean iteration period of each job (s): ``iteration_period_s`` unless
        ``job_period_spread`` draws one per job."""
        return np.array([jb.period for jb in self._jobs])

    @property
    def job_running_s(self) -> np.ndarray:
        """Cumulative time each job spent starting, training or checkpointing (s)."""
        return self._running_s.copy()

    @property
    def gpu_hours_lost(self) -> float:
        """Total GPU-hours lost: supply interruptions plus job failures."""
        return self.gpu_hours_lost_supply + self.gpu_hours_lost_failures

    def checkpoint(self) -> tuple[dict[str, object], list[tuple[object, ...]]]:
        """The fleet's whole state, to :meth:`restore` later (a chunk that stops early rewinds
        the fleet): every list and array copied, each job's random generators with their
        states; the parameters are shared. ≈ 20× cheaper than ``copy.deepcopy``."""
        return {k: _keep(v) for k, v in self.__dict__.items()}, [job_checkpoint(j) for j in self._jobs]

    def restore(self, saved: tuple[dict[str, object], list[tuple[object, ...]]]) -> None:
        """Put the fleet back as :meth:`checkpoint` found it."""
        fleet, jobs = saved
        state = {k: _put(v) for k, v in fleet.items()}
        self.__dict__.clear()
        self.__dict__.update(state)
        for job, kept in zip(self._jobs, jobs, strict=True):
            job_restore(job, kept)

    def mean_power_kw(self, t0: float, dt: float, powered: np.ndarray) -> np.ndarray:
        """Exact mean IT power of each rack over ``[t0, t0 + dt)`` in kW (new array).

        ``powered`` is a bool mask of racks with supply during the interval; the others
        draw 0 kW. Intervals must be consecutive: ``t0`` equals the previous ``t0 + dt``.
        """
        if not dt > 0.0:
            raise ValueError(f"dt must be positive, got {dt}")
        mask = np.asarray(powered, dtype=bool)
        if mask.shape != (self.n_racks,):
            raise ValueError(f"powered must have shape ({self.n_racks},), got {mask.shape}")
        if abs(t0 - self._t) > 1e-9 * max(1.0, abs(self._t)):
            raise SimulationError(f"GpuFleet.mean_power_kw: interval starts at {t0} s, expected {self._t} s")
        t1 = t0 + dt
        self._t = t0
        all_on = bool(mask.all())
        if all_on:
            dark = None
            self.racks_dark = 0
        else:
            dark = np.bincount(self.job_of_rack[~mask], minlength=self.n_jobs)
            self.racks_dark = int(dark.sum())
        if dark is not None or any(jb.hold for jb in self._jobs):
            self._supply_check(t0, dark)
        while self._queue and self._queue[0][0] < t1:
            tc, _, kind, j, ramp = heapq.heappop(self._queue)
            self._apply(tc, kind, j, ramp)

        ybar = self._ybar
        gpr = self.gpus_per_rack
        for jb in self._jobs:
            j = jb.index
            self._generate_until(jb, t1)
            ybar[j] = integrate(jb.yt, jb.yv, t0, t1) / dt
            alloc, running, failed = self._state_times(jb, t0, t1)
            self._running_s[j] += running
            n_dark = 0 if dark is None else int(dark[j])
            if n_dark and alloc > 0.0:
                self.gpu_hours_lost_supply += n_dark * gpr * alloc / 3600.0
            if failed > 0.0:
                self.gpu_hours_lost_failures += (jb.n_racks - n_dark) * gpr * failed / 3600.0
        self._t = t1
        self._flush_events(t1)
        for jb in self._jobs:
            self._prune(jb, t1)

        out = self._a + self._b * ybar[0] if self.n_jobs == 1 else self._a + self._b * ybar[self.job_of_rack]
        if not all_on:
            out[~mask] = 0.0
        return out

    def start_job(self, t: float, job: int | None = None, ramp_s: float | None = None) -> None:
        """Start ``job`` (all jobs if None) at ``t`` with a ramp of ``ramp_s`` (default
        ``start_ramp_s``). No effect on a running job; cancels a pending restart."""
        if ramp_s is not None and not ramp_s >= 0.0:
            raise ValueError(f"ramp_s must be >= 0, got {ramp_s}")
        self._command(t, "start", job, ramp_s)

    def stop_job(self, t: float, job: int | None = None) -> None:
        """Stop ``job`` (all jobs if None) at ``t``: step to idle, no restart."""
        self._command(t, "stop", job, None)

    def fail_job(self, t: float, job: int | None = None) -> None:
        """Fail a running ``job`` (all if None) at ``t``: step to idle, restart after
        ``restart_delay_s``; work since the last checkpoint is lost."""
        self._command(t, "fail", job, None)

    def checkpoint_now(self, t: float, job: int | None = None) -> None:
        """Checkpoint a training ``job`` (all if None: a checkpoint storm) at its first
        iteration boundary at or after ``t``. Ignored unless the job is training at ``t``."""
        self._command(t, "checkpoint", job, None)

    def set_smoothing(self, on: bool) -> None:
        """Turn power smoothing on or off at the current time :attr:`t`."""
        on = bool(on)
        if on == self._smooth:
            return
        tau = self._t
        for jb in self._jobs:
            self._generate_until(jb, tau)
            k = self._split_input(jb, tau)
            _truncate_output(jb, tau)
            jb.x_done = k
        self._smooth = on
        for jb in self._jobs:
            self._emit(jb)
        self.events.append((tau, "smoothing_on" if on else "smoothing_off", -1))

    # ------------------------------------------------------------------ commands

    def _command(self, t: float, kind: str, job: int | None, ramp: float | None) -> None:
        if job is None:
            jobs = list(range(self.n_jobs))
        else:
            if not 0 <= job < self.n_jobs:
                raise ValueError(f"job must be in 0..{self.n_jobs - 1}, got {job}")
            jobs = [int(job)]
        t = float(t)
        tol = 1e-9 * max(1.0, abs(self._t))
        if t < self._t - tol:
            raise SimulationError(f"GpuFleet: {kind} at {t} s is before the current time {self._t} s")
        if t <= self._t + tol:
            for j in jobs:
                self._apply(self._t, kind, j, ramp)
            self._flush_events(self._t)
            return
        for j in jobs:
            heapq.heappush(self._queue, (t, self._seq, kind, j, ramp))
            self._seq += 1

    def _apply(self, t: float, kind: str, j: int, ramp: float | None) -> None:
        jb = self._jobs[j]
        self._generate_until(jb, t)
        state = jb.state_at(t)
        if kind == "start":
            if state in _RUNNING:
                return
            jb.hold = False
            jb.ramp_s = self.params.start_ramp_s if ramp is None else ramp
            self._switch(jb, t, STARTING, "start")
        elif kind == "stop":
            if state == IDLE:
                return
            jb.hold = False
            self._switch(jb, t, IDLE, "stop")
        elif kind == "fail":
            if state not in _RUNNING:
                return
            self._switch(jb, t, FAILED, "fail")
        elif state == TRAINING and jb.phase == TRAINING and not jb.entering:
            jb.ckpt_due = min(jb.ckpt_due, t)
        self._generate_until(jb, t)

    def _supply_check(self, t0: float, dark: np.ndarray | None) -> None:
        for jb in self._jobs:
            n_dark = 0 if dark is None else int(dark[jb.index])
            self._generate_until(jb, t0)
            state = jb.state_at(t0)
            if n_dark:
                if state in _RUNNING and self.params.fail_job_on_supply_loss:
                    jb.hold = True
                    self._switch(jb, t0, FAILED, "supply_loss")
                    self._generate_until(jb, t0)
                elif state == FAILED:
                    jb.hold = True
            elif jb.hold:
                jb.hold = False
                if state == FAILED:
                    jb.restart_at = t0 + self.params.restart_delay_s

    # ------------------------------------------------------------------ generator
