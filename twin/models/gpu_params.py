"""Parameters of the GPU training fleet (:class:`GpuFleetParams`) and the job states.

Part of :mod:`twin.models.gpu` (see its docstring for the model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from twin.models.gpu_profiles import PROFILES
from twin.params import PROFILE_KEY, from_dict, param

IDLE: Final = 0
STARTING: Final = 1
TRAINING: Final = 2
CHECKPOINT: Final = 3
FAILED: Final = 4
#: Names of the job states, indexed by the values of :attr:`GpuFleet.job_state`.
JOB_STATE_NAMES: Final = ("idle", "starting", "training", "checkpoint", "failed")

_RUNNING: Final = (STARTING, TRAINING, CHECKPOINT)
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
