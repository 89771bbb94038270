"""Utility grid, point-of-common-coupling breaker and the island's aggregate swing equation.

Grid-connected, the grid supplies the residual and sets V and f (events may sag, swell,
shift or ramp them). When the grid is lost the breaker opens and the site islands: the
frequency then follows the aggregate swing equation (physics.md §2)::

    (2H/f0) df/dt = (P_gen + P_gfm + P_pv − P_load) / S_base − D Δf/f0
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.params import param

__all__ = ["FacilityParams", "GridParams"]


@dataclass(frozen=True)
class GridParams:
    f_nom_hz: float = param(50.0, unit="Hz", source="site: 50 Hz (CN/EU) or 60 Hz (US)")
    v_nom_kv: float = param(10.0, unit="kV", gt=0, source="site: medium-voltage PCC")
    inertia_h_s: float = param(
        4.0, unit="s", gt=0, source="[K] aggregate H of genset + GFM virtual inertia 1–10 s"
    )
    damping_pu: float = param(1.0, ge=0, source="[K] load damping D ≈ 1–2 pu")
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
    base_load_kw: float = param(0.0, unit="kW", ge=0, source="site: offices, lighting")
    t_ambient_degc: float = param(30.0, unit="°C", source="scenario")
