"""The IT load's UPS: double conversion, a battery that bridges the bus, walk-in on return.

One aggregate UPS carries the GPU racks (the data hall's critical load). While its input is
healthy it converts the racks' draw at efficiency η (the loss is a load on the bus) and
recharges its battery; when the input fails (a dead bus, or voltage or frequency outside its
input window) the battery carries the racks with no interruption. When the input returns the
UPS *walks in*: the power it takes from the bus ramps from zero to full load over
``walk_in_s`` (the battery covers the rest meanwhile), so a genset sees the IT load as a ramp
within its load-acceptance limit instead of one step. The power-management system may hold
the ramp further (``allowance_cap``). With the battery empty the UPS carries only what its
input allows and the racks beyond that are shed.

Per tick (input power P_in, battery power P_b, racks' draw P_it)::

    need = P_it / η                  input-side power that carries the racks
    P_in,load = min(need, A)         A: the walk-in allowance (0 while the input is bad)
    P_b = need − P_in,load           from the battery (≤ what its energy allows)
    P_rech = min(k_r·P_rated, A − P_in,load, room)     recharge while the input is good
    E' = E + (P_rech − P_b)·dt

Figures [K]: online double-conversion UPS 96–97 % at 50–100 % load (IEC 62040-3 VFI class);
data-centre UPS autonomy 5–10 min at full load; walk-in (soft start) 10–20 s; recharge
current about 10 % of rating. The battery's own charge loss is not modelled (η_charge = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from twin.params import param
from twin.signals import Signal

__all__ = ["Ups", "UpsParams", "capability_kw", "carry", "input_ok"]


@dataclass(frozen=True)
class UpsParams:
    p_rated_kw: float = param(
        13000.0, unit="kW", gt=0, limit="ups.p_rated_kw", source="site layout: ≥ peak IT load"
    )
    energy_kwh: float = param(
        1083.0,
        unit="kWh",
        gt=0,
        limit="ups.energy_kwh",
        source="[K] data-centre UPS autonomy 5–10 min at full load",
    )
    efficiency: float = param(
        0.97, gt=0.5, le=1.0, source="[K] online double-conversion UPS 96–97 % (IEC 62040-3 VFI)"
    )
    v_min_pu: float = param(0.85, ge=0, le=1, source="[K] UPS input voltage tolerance −10…−15 %")
    v_max_pu: float = param(1.15, ge=1, source="[K] UPS input voltage tolerance +10…+15 %")
    f_window_hz: float = param(
        2.5, unit="Hz", gt=0, source="[K] UPS input frequency tolerance ±5 % of nominal"
    )
    walk_in_s: float = param(15.0, unit="s", gt=0, source="[K] UPS walk-in (soft start) 10–20 s")
    recharge_frac: float = param(
        0.1, ge=0, le=1, source="[K] recharge power ≈ 10 % of rating (C/10-class battery charger)"
    )
    soc0: float = param(1.0, ge=0, le=1, source="a UPS battery floats at full charge")
    reserve_ticks: float = param(
        2.0,
        ge=1,
        source="modelling choice: shed before the energy left covers two ticks of the draw",
    )


class Ups:
    """Aggregate UPS on the racks. Vectorless: one unit carries the whole data hall.

    Its outputs are reported on every site: without a UPS model the racks' draw passes
    straight through (``p_in_kw`` = ``p_out_kw``, no battery, no loss).
    """

    name: ClassVar[str] = "ups"
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("p_in_kw", "kW", "power taken from the bus (load share and recharge)", per_unit=False),
        Signal("p_out_kw", "kW", "power delivered to the racks", per_unit=False),
        Signal("p_batt_kw", "kW", "battery power, + discharge", per_unit=False),
        Signal("loss_kw", "kW", "conversion loss", per_unit=False),
        Signal("soc_pct", "%", "battery state of charge", per_unit=False),
        Signal("on_battery", "1", "1 while the battery carries any of the load", per_unit=False),
    )
    inputs: ClassVar[tuple[Signal, ...]] = ()

    def __init__(self, params: UpsParams) -> None:
        self.params = params
        self.e_kwh = params.soc0 * params.energy_kwh
        self.allowance = params.p_rated_kw * (1.0 + params.recharge_frac)
        self.allowance_cap = np.inf
        self.p_in = 0.0
        self.p_out = 0.0
        self.p_batt = 0.0
        self.loss = 0.0

    @property
    def soc(self) -> float:
        return self.soc_of(self.e_kwh)

    def soc_of(self, e_kwh: Any) -> Any:
        """The state of charge (0–1) at stored energy ``e_kwh`` (a float or an array)."""
        return e_kwh / self.params.energy_kwh

    def input_ok(self, live: bool, v_pu: float, f_hz: float, f_nom_hz: float) -> bool:
        p = self.params
        return input_ok(live, v_pu, f_hz, f_nom_hz, p.v_min_pu, p.v_max_pu, p.f_window_hz)

    def advance_allowance(self, ok: bool, dt: float) -> None:
        """The walk-in ramp: 0 while the input is bad, then rated/walk_in_s per second, held
        at ``allowance_cap`` (never lowered by it); once at full it stays there."""
        p = self.params
        full = p.p_rated_kw * (1.0 + p.recharge_frac)
        if not ok:
            self.allowance = 0.0
        elif self.allowance < full:  # walking in: the PMS may hold the ramp (allowance_cap)
            ramped = min(self.allowance + p.p_rated_kw / p.walk_in_s * dt, full)
            self.allowance = max(min(ramped, max(self.allowance_cap, self.allowance)), 0.0)

    def capability_kw(self, dt: float) -> float:
        """The racks' draw (kW) the UPS can carry over the next tick, keeping the reserve."""
        p = self.params
        return capability_kw(self.e_kwh, self.allowance, dt, p.reserve_ticks, p.p_rated_kw, p.efficiency)

    def step(self, p_it_kw: float, ok: bool, dt: float) -> float:
        """Carry ``p_it_kw`` over ``dt``; returns the racks' draw not carried (kW, ≥ 0)."""
        p = self.params
        self.e_kwh, self.p_in, self.p_out, self.p_batt, self.loss, short = carry(
            p_it_kw,
            ok,
            dt,
            self.e_kwh,
            self.allowance,
            p.p_rated_kw,
            p.efficiency,
            p.energy_kwh,
            p.recharge_frac,
        )
        return short


# The UPS's formulas as plain functions of numbers: the methods above call them, and the
# chunked advance compiles them from this source (twin.chunk_kernel), so there is one copy.


def input_ok(
    live: bool, v_pu: float, f_hz: float, f_nom_hz: float, v_min: float, v_max: float, f_window: float
) -> bool:
    """The rectifier's input is within its voltage and frequency window on a live bus."""
    return live and v_min <= v_pu <= v_max and abs(f_hz - f_nom_hz) <= f_window


def capability_kw(
    e_kwh: float, allowance: float, dt: float, reserve_ticks: float, p_rated: float, eff: float
) -> float:
    """The racks' draw (kW) a UPS can carry over a tick of ``dt``, keeping its reserve."""
    batt = max(e_kwh * 3600.0 / (dt * reserve_ticks), 0.0)
    return min(p_rated, (allowance + batt) * eff)


def carry(
    p_it_kw: float, ok: bool, dt: float, e_kwh: float, allowance: float, p_rated: float, eff: float,
    energy_kwh: float, recharge_frac: float,
) -> tuple[float, float, float, float, float, float]:  # fmt: skip
    """A UPS carrying ``p_it_kw`` over ``dt``: (stored energy after, input, output, battery
    (+ discharge), loss, the racks' draw not carried), kW and kWh."""
    need = p_it_kw / eff
    p_load_in = min(need, allowance) if ok else 0.0
    want = need - p_load_in
    avail = max(e_kwh, 0.0) * 3600.0 / dt
    p_b = min(want, avail)
    unserved_in = want - p_b
    room = max(energy_kwh - e_kwh, 0.0) * 3600.0 / dt
    rech = min(recharge_frac * p_rated, max(allowance - p_load_in, 0.0), room) if ok else 0.0
    e_after = min(e_kwh + (rech - p_b) * dt / 3600.0, energy_kwh)
    served_in = p_load_in + p_b
    p_out = served_in * eff
    return e_after, p_load_in + rech, p_out, p_b - rech, served_in - p_out, unserved_in * eff
