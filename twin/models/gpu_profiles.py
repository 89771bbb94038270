"""Named presets of :class:`~twin.models.gpu.GpuFleetParams` (``gpu: {profile: realistic}``).

A preset is a plain dict of parameter values. :func:`twin.params.from_dict` applies the one
named by the ``profile`` key *before* validation and lets every other key of the dict
override it, so a site file says ``gpu: {profile: realistic, n_racks: 313}`` and gets the
realistic preset with its own rack count. Without a ``profile`` key the class defaults
apply, and they are the ``worst_case`` preset.

``worst_case`` (the defaults): one synchronous job over every rack, so all racks swing in
phase; the communication plateau sits at node idle; unsmoothed 100 ms edges. It is the
largest swing the fleet can make: use it to size and stress-test the storage and the
protections.

``realistic``: the racks of a 10k-GPU site split into ``n_jobs`` jobs that do not share a
phase (each has its own random phase and its own mean iteration period), and GPUs that keep
part of their power while they wait on communication. The mean node power while training
is held at the measured 7.8 kW. Sources are tagged as in ``docs/models/gpu.md``: [S] read
from a cited source, [C] computed, [K] typical value not re-read at the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

__all__ = ["DEFAULT_PROFILE", "PROFILES", "PROFILE_SOURCES"]

#: The preset the class defaults describe.
DEFAULT_PROFILE: Final = "worst_case"

_REALISTIC: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "n_jobs": 12,
        "comm_level": 0.4,
        "job_period_spread": 0.2,
    }
)

#: Preset name -> parameter values applied under the explicit keys of a site file.
PROFILES: Final[Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        DEFAULT_PROFILE: MappingProxyType({}),
        "realistic": _REALISTIC,
    }
)

#: Where each value of the ``realistic`` preset comes from.
PROFILE_SOURCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "n_jobs": "[K] 8–16 concurrent jobs share a 10k-GPU cluster (mixed tenancy: pre-training, "
        "fine-tuning, evaluation); 12 is the middle. One job over the whole site (the worst "
        "case) is what Llama 3 ran on 16k GPUs (arXiv:2407.21783 [S])",
        "comm_level": "[K] GPUs keep ≈ 40–50 % of the way from idle to peak while they wait on "
        "collectives (memory, NVLink and NIC traffic, partially overlapped compute); 0.4 is the "
        "low end, which keeps the compute fraction at (0.7 − 0.4)/(1 − 0.4) = 0.5 [C]",
        "job_period_spread": "[K] different models and batch sizes iterate at different periods; "
        "σ = 0.2 keeps ±3σ (0.6–2.4 s at T = 1.5 s [C]) inside T_it 0.3–5 s (physics.md §3)",
    }
)
