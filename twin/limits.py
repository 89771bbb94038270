"""Size limits of a site, as data: each with its value, unit and the reason for it.

A site file is data from anyone; a typo (``n_cabinets: 100000000``) must get a clear error
before the twin allocates arrays, never a machine that swaps for minutes. Each limit is far
above any real site (the reason says how far) and far below what would hurt the host.

The per-field limits are the ``le=`` bounds of the parameter declarations (they read
:data:`SIZE_LIMITS`); the products (modelled cells, GPUs) are checked by :func:`size_issues`
once the parameters are built and before anything is allocated. ``hil`` adds the limits of
its files (:mod:`hil.limits`) and documents both tables in ``docs/limits.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.errors import ParameterIssue

if TYPE_CHECKING:
    from twin.site_params import SiteParams

__all__ = ["SIZE_LIMITS", "Limit", "size_issues"]


@dataclass(frozen=True)
class Limit:
    """The largest value a quantity may take, and why."""

    name: str
    value: float
    unit: str
    reason: str


def _table(*limits: Limit) -> dict[str, Limit]:
    return {lim.name: lim for lim in limits}


#: Site sizes. Keys are the parameter names (``battery.n_cabinets``) or, for products, a name
#: of their own.
SIZE_LIMITS: dict[str, Limit] = _table(
    Limit(
        "battery.n_cabinets",
        5_000,
        "cabinet",
        "a 1 GWh campus is ≈ 270 cabinets of 3.7 MWh; 5 000 cabinets is ≈ 18 GWh",
    ),
    Limit(
        "battery.n_series",
        2_000,
        "cell",
        "a 1500 V LFP string has ≈ 470 cells in series; 2 000 would be a 6.4 kV DC string",
    ),
    Limit("battery.n_parallel", 1_000, "string", "a cabinet holds 1–12 strings in parallel"),
    Limit(
        "battery.cells_modelled",
        2_000,
        "cell",
        "at most one modelled cell per series cell (and n_series ≤ 2 000)",
    ),
    Limit(
        "modelled_cells",
        200_000,
        "cell",
        "n_cabinets × cells_modelled: the battery's state arrays (≈ 30 floats per cell) stay "
        "under ≈ 50 MB; aidc_10k models 256",
    ),
    Limit("gpu.n_racks", 100_000, "rack", "a 1 GW campus is ≈ 10 000 racks of 100 kW"),
    Limit("gpu.nodes_per_rack", 128, "node", "a rack holds at most ≈ 48 1U nodes (an NVL72 rack: 18 trays)"),
    Limit("gpu.gpus_per_node", 128, "GPU", "a node holds 4–8 GPUs (an NVL72 tray: 4)"),
    Limit(
        "n_gpus",
        10_000_000,
        "GPU",
        "n_racks × nodes_per_rack × gpus_per_node: the largest clusters announced are ≈ 1 M GPUs",
    ),
    Limit("gpu.n_jobs", 100_000, "job", "at most one job per rack (and n_racks ≤ 100 000)"),
    Limit(
        "genset.n_units",
        1_000,
        "genset",
        "a 1 GW campus backed entirely by 2.5 MW sets needs 400",
    ),
    Limit(
        "pcs.s_rated_kva",
        100_000,
        "kVA",
        "PCS blocks are 0.05–5 MVA; 100 MVA would be a whole plant as one unit (ratings beyond "
        "≈ 1e15 overflow the state integration)",
    ),
    Limit("pcs.p_rated_kw", 100_000, "kW", "as pcs.s_rated_kva"),
    Limit("genset.p_rated_kw", 100_000, "kW", "standby sets are 0.5–4 MW; a gas turbine 50–100 MW"),
    Limit(
        "grid.connection_kva",
        10_000_000,
        "kVA",
        "a 1 GW campus connects at ≈ 1.2 GVA; 10 GVA is a large power station",
    ),
    Limit("facility.base_load_kw", 1_000_000, "kW", "offices and lighting: ≈ 1 % of a 1 GW campus"),
    Limit("pv.p_dc_stc_kw", 10_000_000, "kWp", "the largest solar parks are ≈ 5 GWp"),
    Limit("pv.s_inverter_kva", 10_000_000, "kVA", "as pv.p_dc_stc_kw"),
    Limit("ups.p_rated_kw", 10_000_000, "kW", "the UPS carries the IT load: ≤ n_racks × 1 MW"),
    Limit("ups.energy_kwh", 10_000_000, "kWh", "minutes of the UPS rating"),
    Limit(
        "gpu.node_peak_kw",
        1_000,
        "kW",
        "a DGX H100 node draws 10.2 kW, a GB200 NVL72 rack ≈ 130 kW",
    ),
    Limit("gpu.node_idle_kw", 1_000, "kW", "as gpu.node_peak_kw"),
    Limit(
        "facility.chiller_units",
        1_000,
        "chiller",
        "a 1 GW campus needs ≈ 300 chillers of 1 MW of heat rejection",
    ),
)


def limit(name: str) -> float:
    """The value of the limit ``name`` (for ``param(..., le=limit("gpu.n_racks"))``)."""
    return SIZE_LIMITS[name].value


def size_issues(params: SiteParams) -> list[ParameterIssue]:
    """Products of sizes beyond :data:`SIZE_LIMITS`, each at the key that makes it large."""
    issues: list[ParameterIssue] = []
    bat = params.battery
    cells = bat.n_cabinets * bat.cells_modelled
    lim = SIZE_LIMITS["modelled_cells"]
    if cells > lim.value:
        key = "n_cabinets" if bat.n_cabinets >= bat.cells_modelled else "cells_modelled"
        issues.append(
            ParameterIssue(
                ("battery", key),
                f"n_cabinets × cells_modelled = {cells:,} modelled cells, above the limit of "
                f"{lim.value:,.0f} ({lim.reason})",
            )
        )
    gpu = params.gpu
    n_gpus = gpu.n_racks * gpu.nodes_per_rack * gpu.gpus_per_node
    lim = SIZE_LIMITS["n_gpus"]
    if n_gpus > lim.value:
        issues.append(
            ParameterIssue(
                ("gpu", "n_racks"),
                f"n_racks × nodes_per_rack × gpus_per_node = {n_gpus:,} GPUs, above the limit of "
                f"{lim.value:,.0f} ({lim.reason})",
            )
        )
    return issues
