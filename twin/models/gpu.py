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
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np

from twin.errors import SimulationError
from twin.models.gpu_profiles import PROFILES
from twin.params import PROFILE_KEY, from_dict, param
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

IDLE: Final = 0
STARTING: Final = 1
TRAINING: Final = 2
CHECKPOINT: Final = 3
FAILED: Final = 4
#: Names of the job states, indexed by the values of :attr:`GpuFleet.job_state`.
JOB_STATE_NAMES: Final = ("idle", "starting", "training", "checkpoint", "failed")

_RUNNING: Final = (STARTING, TRAINING, CHECKPOINT)
_EPS: Final = 1e-12  # equality tolerance of the slew limiter, in units of s (0..1)
_JITTER_BLOCK: Final = 256
_ARRIVAL_BLOCK: Final = 64
_PRUNE_AT: Final = 256

#: Llama 3 405B: 419 unexpected interruptions in 54 days on 16,384 H100 GPUs.
_LLAMA3_RATE_PER_H: Final = 419.0 / (54.0 * 24.0)


@dataclass(frozen=True)
class GpuFleetParams:
    """Parameters of a GPU training fleet.

    The defaults are the worst case (preset ``worst_case``): DGX H100 nodes, one synchronous
    job across every rack (all racks in phase), the communication plateau at node idle and
    unsmoothed 100 ms edges. ``from_dict`` accepts ``profile: <name>`` to start from a preset
    of :data:`PROFILES` instead (:mod:`twin.models.gpu_profiles`); explicit keys override it.
    """

    #: Named presets, selected by the ``profile`` key of ``from_dict`` (see twin.params).
    PROFILES: ClassVar[Mapping[str, Mapping[str, Any]]] = PROFILES

    n_racks: int = param(
        312,
        unit="rack",
        ge=1,
        limit="gpu.n_racks",
        source="[C] 312 racks x 4 nodes x 8 GPUs = 9,984 GPUs, the 10k-GPU demo site",
    )
    nodes_per_rack: int = param(
        4,
        unit="node",
        ge=1,
        limit="gpu.nodes_per_rack",
        source="[C] physics.md §3: DGX H100 rack of 4 nodes (41 kW max)",
    )
    gpus_per_node: int = param(
        8, unit="GPU", ge=1, limit="gpu.gpus_per_node", source="[K] DGX H100: 8 H100 SXM GPUs"
    )
    node_peak_kw: float = param(
        10.2,
        unit="kW",
        gt=0,
        limit="gpu.node_peak_kw",
        source="[S] DGX H100 max input 10.2 kW (6 x 3.3 kW PSUs, 4+2), physics.md §3",
        doc="node power on the compute plateau",
    )
    node_idle_kw: float = param(
        2.2,
        unit="kW",
        ge=0,
        limit="gpu.node_idle_kw",
        source=(
            "[C] chosen so that idle + duty·(peak − idle) = 2.2 + 0.7 x 8.0 = 7.8 kW, the "
            "measured DGX H100 training mean (≈ 76 % of 10.2 kW, arXiv:2506.14551 [S]); "
            "≈ 2 kW for a node whose GPUs wait on communication is [K]; worst case: the "
            "communication plateau sits here (comm_level 0)"
        ),
        doc="node power when no job runs, and on the communication plateau at comm_level 0",
    )
    duty: float = param(
        0.7,
        unit="1",
        gt=0,
        lt=1,
        source="[K] compute duty 0.6–0.9 (physics.md §3); 0.7 gives the 7.8 kW mean",
        doc="time-mean of s(t) over an iteration, held whatever comm_level is; at comm_level 0 "
        "it is the compute fraction (compute plateau plus half of each edge)",
    )
    comm_level: float = param(
        0.0,
        unit="1",
        ge=0,
        lt=1,
        source="[K] worst case: GPUs fall to idle while they wait on communication "
        "(Choukse et al., arXiv:2508.14318 [S]: communication phase 'near idle'); the "
        "realistic preset raises it to 0.4",
        doc="s on the communication plateau (0 = node idle, 1 = peak); the compute fraction "
        "becomes (duty − comm_level)/(1 − comm_level), so the training mean stays put",
    )
    iteration_period_s: float = param(
        1.5,
        unit="s",
        gt=0,
        source="[K] T_it 0.3–5 s, energy at 0.2–3 Hz (arXiv:2508.14318 [S]); steps every 1–2 s "
        "(Uptime UII-382 [S])",
    )
    edge_s: float = param(
        0.1,
        unit="s",
        gt=0,
        source="[K] unsmoothed edges 50–200 ms (physics.md §3); worst case: every rack's edge "
        "at the same instant, so the site edge is 313 x 320 kW/s = 100 MW/s [C]",
    )
    iteration_jitter: float = param(
        0.02,
        unit="1",
        ge=0,
        le=0.2,
        source="[K] illustrative",
        doc="std of the iteration period relative to the mean, clipped at ±3σ; it changes "
        "the length of the communication plateau only",
    )
    rack_gain_sigma: float = param(
        0.02,
        unit="1",
        ge=0,
        le=0.3,
        source="[K] illustrative rack-to-rack spread",
        doc="std of a static per-rack power gain (clipped at ±3σ, mean 1 within each job)",
    )
    job_period_spread: float = param(
        0.0,
        unit="1",
        ge=0,
        le=0.3,
        source="[K] worst case: every job iterates at the same period; the realistic preset "
        "draws each job's period with σ = 0.2",
        doc="std of each job's mean iteration period relative to iteration_period_s, drawn once "
        "per job (seeded, clipped at ±3σ); jobs with different periods drift through each "
        "other's phase and their swings partly cancel",
    )
    checkpoint_interval_s: float = param(
        1800.0,
        unit="s",
        ge=0,
        source="[K] every 10–60 min (physics.md §3)",
        doc="training time between checkpoints; 0 disables periodic checkpoints",
    )
    checkpoint_duration_s: float = param(60.0, unit="s", gt=0, source="[K] 10–120 s (physics.md §3)")
    checkpoint_level: float = param(
        0.05,
        unit="1",
        ge=0,
        le=1,
        source="[K] ≈ idle (physics.md §3)",
        doc="s during a checkpoint (0 = idle, 1 = peak)",
    )
    start_ramp_s: float = param(
        60.0,
        unit="s",
        ge=0,
        source="[K] staged ramp over seconds to minutes (physics.md §3)",
        doc="default ramp from idle to the mean training level at job (re)start; 0 = step",
    )
    failure_rate_per_h: float = param(
        _LLAMA3_RATE_PER_H,
        unit="1/h",
        ge=0,
        source="[S] Llama 3 405B: 419 unexpected interruptions in 54 days ≈ 1/(3.1 h) "
        "(arXiv:2407.21783); [C] 419/1296 h",
        doc="Poisson failure rate of a job with failure_ref_gpus GPUs; scales ∝ GPUs; 0 = none",
    )
    failure_ref_gpus: int = param(
        16384, unit="GPU", ge=1, source="[S] Llama 3 405B ran on 16,384 H100 (arXiv:2407.21783)"
    )
    restart_delay_s: float = param(
        600.0,
        unit="s",
        ge=0,
        source="[K] illustrative; Llama 3 kept > 90 % effective training time at 1 failure/3 h",
        doc="time from a failure (or from supply restoration) to the restart ramp",
    )
    fail_job_on_supply_loss: bool = param(
        True,
        source="[K] a synchronous job stalls when any of its ranks disappears",
        doc="a running job fails when any of its racks loses supply",
    )
    smoothing_enabled: bool = param(
        False,
        source="[S] GPU power smoothing is a Blackwell-and-newer NVML feature (off for H100)",
    )
    smoothing_floor_frac: float = param(
        0.5,
        unit="1",
        ge=0,
        le=1,
        source="[C] below the training mean (7.8/10.2 = 0.765) so the floor only fills the "
        "communication dips: 5.1 kW per node burns +9.6 % IT energy on the worst-case "
        "waveform (docs/models/gpu.md); NVML floors are set per GPU in W [S], no public default",
        doc="power floor as a fraction of node peak while a job runs (NVML power floor)",
    )
    smoothing_ramp_up_w_per_s: float = param(
        2000.0,
        unit="W/s per GPU",
        gt=0,
        source="[K] illustrative; NVML RAMP_UP_RATE is in W/s [S], no public default; equal "
        "to the ramp-down, so the limiter's lags on the two edges cancel in energy [C]",
    )
    smoothing_ramp_down_w_per_s: float = param(
        2000.0,
        unit="W/s per GPU",
        gt=0,
        source="[K] illustrative; NVML RAMP_DOWN_RATE is in W/s [S], no public default; "
        "reaches the default floor in 0.32 s, inside the 0.36–0.45 s communication phase [C]",
    )
    n_jobs: int = param(
        1,
        unit="job",
        ge=1,
        limit="gpu.n_jobs",
        source="[K] worst case: one synchronous job over the whole cluster, all racks in "
        "phase; the realistic preset runs 12",
        doc="racks are split into n_jobs contiguous groups of (nearly) equal size; each job "
        "has its own random phase",
    )
    initial_state: str = param(
        "training",
        choices=("training", "starting", "idle"),
        source="[K] modelling choice",
        doc="job state at t0; 'training' starts at a random phase of the iteration",
    )

    def __post_init__(self) -> None:
        problems = []
        if self.node_peak_kw <= self.node_idle_kw:
            problems.append("node_peak_kw must exceed node_idle_kw")
        if self.duty <= self.comm_level:
            problems.append("duty must exceed comm_level (the compute fraction would be ≤ 0)")
        f_c = self.compute_fraction
        t_it = self.iteration_period_s * (1.0 - 3.0 * self.job_period_spread)  # shortest job period
        if f_c * t_it < self.edge_s:
            problems.append(
                "compute fraction·iteration_period_s·(1 − 3·job_period_spread) must be at least edge_s"
            )
        if (1.0 - f_c - 3.0 * self.iteration_jitter) * t_it < self.edge_s:
            problems.append(
                "(1 − compute fraction − 3·iteration_jitter)·iteration_period_s·"
                "(1 − 3·job_period_spread) must be at least edge_s (the communication plateau "
                "would be negative)"
            )
        if self.n_jobs > self.n_racks:
            problems.append("n_jobs must not exceed n_racks")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def gpus_per_rack(self) -> int:
        return self.nodes_per_rack * self.gpus_per_node

    @property
    def node_mean_training_kw(self) -> float:
        """Mean node power while training, without checkpoints or smoothing."""
        return self.node_idle_kw + self.duty * (self.node_peak_kw - self.node_idle_kw)

    @property
    def compute_fraction(self) -> float:
        """Compute plateau plus half of each edge, as a fraction of the iteration."""
        return (self.duty - self.comm_level) / (1.0 - self.comm_level)

    @classmethod
    def from_profile(cls, profile: str, overrides: Mapping[str, Any] | None = None) -> GpuFleetParams:
        """A preset of :data:`PROFILES` with ``overrides`` on top, validated like a site file."""
        return from_dict(cls, {PROFILE_KEY: profile, **(overrides or {})})


class _Job:
    """Timeline of one synchronous job (private; one per job, never one per rack).

    ``xt, xv, xf``: raw input breakpoints (time, s, floor active on the segment that starts
    there). ``yt, yv``: output breakpoints (equal to the input without smoothing, the slew-
    limited floored input with it); the output covers the input up to ``xt[x_done]``.
    ``rec_*``: state records (start time, state, start of unsaved work). ``ev``: events
    generated but not yet reached by the clock. ``g_*``: where the generator stands.
    """

    __slots__ = (
        "arr",
        "arr_i",
        "arr_t0",
        "ckpt_due",
        "enter_kind",
        "entering",
        "ev",
        "fail_rng",
        "g_t",
        "hold",
        "index",
        "jit",
        "jit_pos",
        "jit_rng",
        "n_gpus",
        "n_racks",
        "off",
        "off_frac",
        "period",
        "phase",
        "phase_end",
        "plateau",
        "ramp_s",
        "rate_per_s",
        "rec_s",
        "rec_t",
        "rec_w",
        "restart_at",
        "x_done",
        "xf",
        "xt",
        "xv",
        "yt",
        "yv",
    )

    def __init__(
        self,
        index: int,
        n_racks: int,
        n_gpus: int,
        rate_per_s: float,
        jit_rng: np.random.Generator,
        fail_rng: np.random.Generator,
        t0: float,
    ) -> None:
        self.index = index
        self.n_racks = n_racks
        self.n_gpus = n_gpus
        self.rate_per_s = rate_per_s
        self.jit_rng = jit_rng
        self.fail_rng = fail_rng
        self.jit: list[float] = []
        self.jit_pos = 0
        self.arr: list[float] = [math.inf] if rate_per_s <= 0.0 else []
        self.arr_i = 0
        self.arr_t0 = t0
        self.xt: list[float] = []
        self.xv: list[float] = []
        self.xf: list[bool] = []
        self.x_done = 0
        self.yt: list[float] = []
        self.yv: list[float] = []
        self.rec_t: list[float] = []
        self.rec_s: list[int] = []
        self.rec_w: list[float] = []
        self.ev: list[tuple[float, str, float]] = []
        self.phase = IDLE
        self.g_t = t0
        self.entering = False
        self.enter_kind: str | None = None
        self.off = 0.0
        self.off_frac: float | None = None
        self.phase_end = t0
        self.ckpt_due = math.inf
        self.restart_at = math.inf
        self.hold = False
        self.ramp_s = 0.0
        self.period = 0.0  # mean iteration period of this job (s)
        self.plateau = 0.0  # compute plateau of an iteration of that period (s)

    def state_at(self, t: float) -> int:
        return self.rec_s[bisect_right(self.rec_t, t) - 1]


class GpuFleet:
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
            ybar[j] = _integrate(jb.yt, jb.yv, t0, t1) / dt
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

    def _record(self, jb: _Job, t: float, state: int, work_ref: float) -> None:
        jb.rec_t.append(t)
        jb.rec_s.append(state)
        jb.rec_w.append(work_ref)

    def _switch(self, jb: _Job, tau: float, phase: int, kind: str) -> None:
        """Cut the job's timeline at ``tau`` and enter ``phase`` there."""
        _truncate(jb, tau)
        jb.g_t = tau
        jb.phase = phase
        jb.entering = True
        jb.enter_kind = kind
        jb.off = 0.0
        jb.off_frac = None

    def _enter(self, jb: _Job) -> None:
        p = self.params
        t = jb.g_t
        phase = jb.phase
        rollback = 0.0
        if phase == FAILED:
            i = bisect_right(jb.rec_t, t) - 1
            w = jb.rec_w[i]
            if jb.rec_s[i] in _RUNNING and not math.isnan(w):
                rollback = jb.n_gpus * max(0.0, t - w) / 3600.0
            jb.restart_at = t + p.restart_delay_s
            self._record(jb, t, FAILED, math.nan)
        elif phase == IDLE:
            self._record(jb, t, IDLE, math.nan)
        elif phase == STARTING:
            jb.phase_end = t + jb.ramp_s
            self._record(jb, t, STARTING, math.nan)
        elif phase == TRAINING:
            jb.ckpt_due = t + p.checkpoint_interval_s if p.checkpoint_interval_s > 0 else math.inf
            self._record(jb, t, TRAINING, t)
        else:  # CHECKPOINT keeps the start of unsaved work until it completes
            jb.phase_end = t + p.checkpoint_duration_s
            self._record(jb, t, CHECKPOINT, jb.rec_w[-1])
        if jb.enter_kind is not None:
            jb.ev.append((t, jb.enter_kind, rollback))
        jb.entering = False
        jb.enter_kind = None

    def _generate_until(self, jb: _Job, target: float) -> None:
        """Extend the job's timeline by whole chunks until it reaches ``target``."""
        while True:
            if jb.entering:
                self._enter(jb)
                continue
            if jb.g_t >= target and jb.xt:
                break
            phase = jb.phase
            if phase == TRAINING:
                self._chunk_training(jb)
            elif phase == CHECKPOINT:
                self._chunk_checkpoint(jb)
            elif phase == STARTING:
                self._chunk_starting(jb)
            else:
                self._chunk_flat(jb, target)
        if jb.x_done < len(jb.xt) - 1 or not jb.yt:
            self._emit(jb)

    def _level(self, jb: _Job, v: float, floor: bool) -> None:
        """Make the input continue from value ``v`` at ``g_t`` (a step if needed)."""
        if not jb.xt:
            jb.xt.append(jb.g_t)
            jb.xv.append(v)
            jb.xf.append(floor)
            return
        jb.xf[-1] = floor
        if jb.xv[-1] != v:
            jb.xt.append(jb.g_t)
            jb.xv.append(v)
            jb.xf.append(floor)

    def _push(self, jb: _Job, t: float, v: float, floor: bool) -> None:
        jb.xt.append(t)
        jb.xv.append(v)
        jb.xf.append(floor)

    def _chunk_flat(self, jb: _Job, target: float) -> None:
        self._level(jb, 0.0, False)
        end = target
        restart = jb.phase == FAILED and not jb.hold and jb.restart_at <= target
        if restart:
            end = max(jb.restart_at, jb.g_t)
        if end > jb.g_t:
            self._push(jb, end, 0.0, False)
            jb.g_t = end
        if restart:
            jb.phase = STARTING
            jb.ramp_s = self.params.start_ramp_s
            jb.entering = True
            jb.enter_kind = "restart"

    def _chunk_starting(self, jb: _Job) -> None:
        t_s = jb.g_t
        t_e = jb.phase_end
        jb.phase = TRAINING
        jb.entering = True
        jb.enter_kind = "train"
        if t_e <= t_s:
            jb.off = 0.0
            return
        self._level(jb, 0.0, True)
        self._push(jb, t_e, self.params.duty, True)
        jb.g_t = t_e
        jb.off = self._f_c * self._edge  # continue on the rising edge at s = duty
        self._check_failure(jb, t_s, t_e)

    def _chunk_checkpoint(self, jb: _Job) -> None:
        t_s = jb.g_t
        t_e = jb.phase_end
        lvl = self.params.checkpoint_level
        self._level(jb, lvl, True)
        self._push(jb, t_e, lvl, True)
        jb.g_t = t_e
        jb.phase = TRAINING
        jb.entering = True
        jb.enter_kind = "checkpoint_done"
        jb.off = 0.0
        self._check_failure(jb, t_s, t_e)

    def _chunk_training(self, jb: _Job) -> None:
        t = jb.g_t
        if jb.off == 0.0 and jb.off_frac is None and t >= jb.ckpt_due:
            jb.phase = CHECKPOINT
            jb.entering = True
            jb.enter_kind = "checkpoint"
            return
        period = jb.period * (1.0 + self._jitter(jb))
        if jb.off_frac is not None:
            off = jb.off_frac * period
            jb.off_frac = None
        else:
            off = jb.off
        jb.off = 0.0
        e = self._edge
        e_h = e + jb.plateau
        lo = self._low
        rel = (e, e_h, e_h + e, period)
        val = (1.0, 1.0, lo, lo)
        # value at the offset (lo on the boundary, on the rising edge after a ramp)
        if off <= 0.0:
            x_off = lo
        elif off < e:
            x_off = lo + (1.0 - lo) * (off / e)
        elif off <= e_h:
            x_off = 1.0
        elif off < e_h + e:
            x_off = 1.0 - (1.0 - lo) * ((off - e_h) / e)
        else:
            x_off = lo
        self._level(jb, x_off, True)
        b = t - off
        for r, v in zip(rel, val, strict=True):
            if r > off:
                self._push(jb, b + r, v, True)
        jb.g_t = b + period
        self._check_failure(jb, t, jb.g_t)

    def _jitter(self, jb: _Job) -> float:
        sigma = self.params.iteration_jitter
        if sigma == 0.0:
            return 0.0
        if jb.jit_pos >= len(jb.jit):
            z = np.clip(jb.jit_rng.standard_normal(_JITTER_BLOCK), -3.0, 3.0)
            jb.jit = (sigma * z).tolist()
            jb.jit_pos = 0
        d = jb.jit[jb.jit_pos]
        jb.jit_pos += 1
        return d

    def _check_failure(self, jb: _Job, c0: float, c1: float) -> None:
        """Fail the job at the first Poisson arrival in ``[c0, c1)``, if any."""
        arr = jb.arr
        i = jb.arr_i
        while True:
            while i < len(arr) and arr[i] < c0:
                i += 1
            if i < len(arr):
                break
            last = arr[-1] if arr else jb.arr_t0
            draws = jb.fail_rng.exponential(1.0 / jb.rate_per_s, _ARRIVAL_BLOCK)
            arr.extend((last + np.cumsum(draws)).tolist())
        jb.arr_i = i
        a = arr[i]
        if a < c1:
            jb.arr_i = i + 1
            self._switch(jb, a, FAILED, "failure")

    # ------------------------------------------------------------------ output

    def _emit(self, jb: _Job) -> None:
        """Turn pending input breakpoints into output breakpoints."""
        xt, xv = jb.xt, jb.xv
        if not jb.yt:
            y0 = xv[0]
            if self._smooth and jb.xf[0]:
                y0 = max(y0, self._s_floor)
            jb.yt.append(xt[0])
            jb.yv.append(y0)
            jb.x_done = 0
        k = jb.x_done
        n = len(xt)
        if k >= n - 1:
            return
        if self._smooth:
            _slew(xt, xv, jb.xf, k, jb.yt, jb.yv, self._s_floor, self._r_up, self._r_dn)
        else:
            if jb.yv[-1] != xv[k]:
                jb.yt.append(xt[k])
                jb.yv.append(xv[k])
            jb.yt.extend(xt[k + 1 :])
            jb.yv.extend(xv[k + 1 :])
        jb.x_done = n - 1

    def _split_input(self, jb: _Job, tau: float) -> int:
        """Index of the last input breakpoint at or before ``tau`` (inserted if needed)."""
        xt, xv, xf = jb.xt, jb.xv, jb.xf
        i = bisect_right(xt, tau) - 1
        if xt[i] < tau and i < len(xt) - 1:
            ta, tb = xt[i], xt[i + 1]
            v = xv[i] + (xv[i + 1] - xv[i]) * (tau - ta) / (tb - ta)
            xt.insert(i + 1, tau)
            xv.insert(i + 1, v)
            xf.insert(i + 1, xf[i])
            i += 1
        return i

    # ------------------------------------------------------------------ bookkeeping

    def _state_times(self, jb: _Job, t0: float, t1: float) -> tuple[float, float, float]:
        """Time in [t0, t1) that the job was allocated (not idle), running, failed."""
        rt, rs = jb.rec_t, jb.rec_s
        i = bisect_right(rt, t0) - 1
        n = len(rt)
        alloc = running = failed = 0.0
        start = t0
        while True:
            end = rt[i + 1] if i + 1 < n else math.inf
            if end > t1:
                end = t1
            d = end - start
            if d > 0.0:
                s = rs[i]
                if s != IDLE:
                    alloc += d
                    if s == FAILED:
                        failed += d
                    else:
                        running += d
            if end >= t1:
                break
            i += 1
            start = max(start, rt[i])
        return alloc, running, failed

    def _flush_events(self, t: float) -> None:
        batch: list[tuple[float, str, int]] = []
        for jb in self._jobs:
            ev = jb.ev
            k = 0
            while k < len(ev) and ev[k][0] <= t:
                te, kind, rollback = ev[k]
                batch.append((te, kind, jb.index))
                self.gpu_hours_lost_failures += rollback
                k += 1
            if k:
                del ev[:k]
        if batch:
            batch.sort(key=lambda e: e[0])
            self.events.extend(batch)

    def _prune(self, jb: _Job, t: float) -> None:
        if len(jb.yt) > _PRUNE_AT:
            p = bisect_right(jb.yt, t) - 1
            if p > 0:
                del jb.yt[:p], jb.yv[:p]
        if len(jb.xt) > _PRUNE_AT:
            q = min(bisect_right(jb.xt, t) - 1, jb.x_done)
            if q > 0:
                del jb.xt[:q], jb.xv[:q], jb.xf[:q]
                jb.x_done -= q
        if len(jb.rec_t) > _PRUNE_AT:
            r = bisect_right(jb.rec_t, t) - 1
            if r > 0:
                del jb.rec_t[:r], jb.rec_s[:r], jb.rec_w[:r]
        if jb.arr_i > _PRUNE_AT:
            a = min(bisect_left(jb.arr, t), jb.arr_i)
            if a > 0:
                del jb.arr[:a]
                jb.arr_i -= a


# ---------------------------------------------------------------------- pure helpers


def _truncate_output(jb: _Job, tau: float) -> None:
    """Drop output after ``tau``; the output then ends at ``tau`` (left value kept)."""
    yt, yv = jb.yt, jb.yv
    j = bisect_right(yt, tau)
    if j < len(yt):
        ta, tb = yt[j - 1], yt[j]
        v = yv[j - 1] + (yv[j] - yv[j - 1]) * (tau - ta) / (tb - ta)
        del yt[j:], yv[j:]
        if ta < tau:
            yt.append(tau)
            yv.append(v)


def _truncate(jb: _Job, tau: float) -> None:
    """Cut every generated list of ``jb`` at ``tau`` (the input must reach ``tau``)."""
    xt, xv, xf = jb.xt, jb.xv, jb.xf
    i = bisect_right(xt, tau)
    if i < len(xt):
        ta, tb = xt[i - 1], xt[i]
        v = xv[i - 1] + (xv[i] - xv[i - 1]) * (tau - ta) / (tb - ta)
        del xt[i:], xv[i:], xf[i:]
        if ta < tau:
            xt.append(tau)
            xv.append(v)
            xf.append(xf[-1])
    if jb.yt and jb.yt[-1] > tau:
        _truncate_output(jb, tau)
        jb.x_done = len(xt) - 1
    else:
        jb.x_done = min(jb.x_done, len(xt) - 1)
    k = bisect_right(jb.rec_t, tau)
    del jb.rec_t[k:], jb.rec_s[k:], jb.rec_w[k:]
    ev = jb.ev
    while ev and ev[-1][0] > tau:
        ev.pop()
    jb.arr_i = bisect_right(jb.arr, tau)


def _integrate(t: list[float], y: list[float], t0: float, t1: float) -> float:
    """Exact integral over [t0, t1] of the piecewise-linear signal (t, y); t covers it."""
    i = bisect_right(t, t0) - 1
    j = bisect_left(t, t1)
    ta, tb = t[i], t[i + 1]
    ya, yb = y[i], y[i + 1]
    y0 = ya + (yb - ya) * (t0 - ta) / (tb - ta)
    if j == i + 1:
        y1 = ya + (yb - ya) * (t1 - ta) / (tb - ta)
        return 0.5 * (y0 + y1) * (t1 - t0)
    total = 0.5 * (y0 + yb) * (tb - t0)
    if j - i > 34:
        tt = np.asarray(t[i + 1 : j])
        yy = np.asarray(y[i + 1 : j])
        total += float(np.dot(yy[1:] + yy[:-1], np.diff(tt))) * 0.5
    else:
        for k in range(i + 1, j - 1):
            total += 0.5 * (y[k] + y[k + 1]) * (t[k + 1] - t[k])
    ta, tb = t[j - 1], t[j]
    ya, yb = y[j - 1], y[j]
    y1 = ya + (yb - ya) * (t1 - ta) / (tb - ta)
    return total + 0.5 * (ya + y1) * (t1 - ta)


def _slew(
    xt: list[float],
    xv: list[float],
    xf: list[bool],
    k0: int,
    yt: list[float],
    yv: list[float],
    floor: float,
    r_up: float,
    r_dn: float,
) -> None:
    """Append the output of a floor plus slew-rate limiter for input segments from ``k0``.

    The input is piecewise linear, so the output is piecewise linear too and is computed
    exactly: on each input segment the output either follows the input (slope within the
    limits) or moves at a limit until it meets the input.
    """
    y = yv[-1]
    for k in range(k0, len(xt) - 1):
        ta, tb = xt[k], xt[k + 1]
        if tb <= ta:
            continue  # a step in the input: no time passes, the output does not jump
        xa, xb = xv[k], xv[k + 1]
        if xf[k] and (xa < floor or xb < floor):
            if xa <= floor and xb <= floor:
                y = _slew_segment(ta, floor, tb, floor, y, yt, yv, r_up, r_dn)
            else:
                tc = ta + (floor - xa) * (tb - ta) / (xb - xa)
                y = _slew_segment(ta, max(xa, floor), tc, floor, y, yt, yv, r_up, r_dn)
                y = _slew_segment(tc, floor, tb, max(xb, floor), y, yt, yv, r_up, r_dn)
        else:
            y = _slew_segment(ta, xa, tb, xb, y, yt, yv, r_up, r_dn)


def _slew_segment(
    ta: float,
    xa: float,
    tb: float,
    xb: float,
    y: float,
    yt: list[float],
    yv: list[float],
    r_up: float,
    r_dn: float,
) -> float:
    """Rate-limit one linear input segment starting from output ``y``; returns y(tb)."""
    if tb <= ta:
        return y
    m = (xb - xa) / (tb - ta)
    t = ta
    while True:
        x = xa + m * (t - ta)
        d = y - x
        if -_EPS <= d <= _EPS:
            if -r_dn <= m <= r_up:
                yt.append(tb)
                yv.append(xb)
                return xb
            y = x + (r_up if m > r_up else -r_dn) * (tb - t)
            yt.append(tb)
            yv.append(y)
            return y
        if d < 0.0:  # below the input: rise at r_up until it is met
            close = r_up - m
            rate = r_up
        else:  # above the input: fall at r_dn until it is met
            close = r_dn + m
            rate = -r_dn
        t_meet = t + abs(d) / close if close > 0.0 else math.inf
        if t_meet < tb:
            y = xa + m * (t_meet - ta)
            t = t_meet
            yt.append(t)
            yv.append(y)
            continue
        y = y + rate * (tb - t)
        yt.append(tb)
        yv.append(y)
        return y
