"""Utility grid (a Thevenin source at the PCC), the facility, and the island's swing equation.

Grid-connected, the grid supplies the residual and sets f; the PCC voltage follows from a
Thevenin source behind the short-circuit impedance (S_sc = SCR × S_ref, angle from X/R)::

    V² − V_s·V + (r·P + x·Q)/S_sc = 0,   r = 1/√(1 + (X/R)²),  x = (X/R)·r

with P, Q the site's import (the usual ΔV ≈ (R·P + X·Q)/V drop, solved for V). Islanded,
the frequency follows the aggregate swing equation in energy form (physics.md §2)::

    d/dt [H·S_base·(f/f0)²] = P_gen + P_gfm + P_pv − P_load − D·(Δf/f0)·S_base

Data-centre loads are constant power (D = 0 by default); a site whose load does relieve
with frequency declares ``damping_pu`` and the relief is booked as its own term.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.params import param

__all__ = ["FacilityParams", "GridParams", "cooling_target_kw"]


@dataclass(frozen=True)
class GridParams:
    f_nom_hz: float = param(50.0, unit="Hz", ge=40.0, le=70.0, source="site: 50 Hz (CN/EU) or 60 Hz (US)")
    v_nom_kv: float = param(10.0, unit="kV", gt=0, source="site: medium-voltage PCC")
    inertia_h_s: float = param(
        4.0, unit="s", gt=0, source="[K] aggregate H of genset + GFM virtual inertia 1–10 s"
    )
    damping_pu: float = param(
        0.0, ge=0, source="[K] constant-power IT and drive loads give no relief (D ≈ 0)"
    )
    scr: float = param(20.0, gt=0, source="[K] short-circuit ratio at an MV PCC: strong grid > 10, weak < 3")
    x_over_r: float = param(7.0, gt=0, source="[K] X/R of an MV network 2–10")
    connection_kva: float = param(
        0.0,
        unit="kVA",
        ge=0,
        limit="grid.connection_kva",
        source="site: the connection's rating",
        doc="reference for the SCR; 0 = the site's peak draw (racks at peak × PUE + base) or "
        "the PCS fleet's rating, whichever is larger",
    )
    auto_reclose: bool = param(True, source="reconnect when the grid has been healthy")
    reclose_delay_s: float = param(
        60.0, unit="s", ge=0, source="[K] utility reconnection practice (site choice)"
    )
    breaker_open_delay_s: float = param(0.1, unit="s", ge=0, source="[K] relay + breaker ≈ 100 ms")
    island_substep_s: float = param(
        0.02, unit="s", gt=0, le=0.1, source="modelling choice: island sub-step of the fixed path"
    )
    grid_code: str = param("ieee1547_2018_cat_ii", source="shipped grid-code table (or a dict)")


@dataclass(frozen=True)
class FacilityParams:
    pue: float = param(
        1.25, ge=1.0, le=3.0, source="[S] new large sites ≤ 1.3, hyperscale ≈ 1.1 (physics.md §3)"
    )
    cooling_tau_s: float = param(
        300.0, unit="s", gt=0, source="[K] cooling lags IT by minutes (physics.md §3)"
    )
    base_load_kw: float = param(
        0.0, unit="kW", ge=0, limit="facility.base_load_kw", source="site: offices, lighting"
    )
    t_ambient_degc: float = param(30.0, unit="°C", source="scenario")
    pue_t_ref_degc: float = param(
        30.0, unit="°C", source="site: the ambient at which `pue` holds (design day)"
    )
    pue_slope_per_degc: float = param(
        0.02,
        ge=0,
        le=0.2,
        source="[K] chiller power rises 2–3 % per °C of condenser (ambient) temperature",
        doc="cooling = IT × (PUE − 1) × (1 + slope × (T_amb − T_ref)), floored at 20 %",
    )
    load_pf: float = param(0.99, gt=0, le=1, source="[K] server PSUs with active PFC behind UPS: PF ≥ 0.98")
    chiller_units: int = param(
        1, ge=1, limit="facility.chiller_units", source="site layout: chillers that share the cooling load"
    )
    chiller_restart_s: float = param(
        30.0, unit="s", ge=0, source="[K] fast-restart chillers 30–60 s apart after a power loss"
    )


def cooling_target_kw(fac: FacilityParams, p_it_kw: float, t_ambient_degc: float) -> float:
    """Cooling power with every chiller running: IT × (PUE − 1), corrected for ambient."""
    k = max(1.0 + fac.pue_slope_per_degc * (t_ambient_degc - fac.pue_t_ref_degc), 0.2)
    return p_it_kw * (fac.pue - 1.0) * k
