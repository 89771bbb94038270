"""Exact step of the n-RC equivalent circuit under a held (zero-order-hold) current.

Over a step of length ``dt`` with current ``I`` held and the lookups frozen at the start
of the step, the RC voltages, SoC and (for held heat and ambient) the two thermal nodes
have closed-form solutions; these are what the fixed-step integrator and ``hil cell`` use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin._interp import FloatArray
from twin.models.cell import KELVIN, CellModel

__all__ = ["EcmState", "ecm_rhs", "ecm_step", "terminal_voltage"]


@dataclass(slots=True)
class EcmState:
    """Cell states; every array has the fleet's shape (``v_rc`` has a leading RC axis)."""

    soc: FloatArray
    v_rc: FloatArray
    t_cell_degc: FloatArray
    t_jig_degc: FloatArray

    def copy(self) -> EcmState:
        return EcmState(self.soc.copy(), self.v_rc.copy(), self.t_cell_degc.copy(), self.t_jig_degc.copy())


@dataclass(slots=True)
class StepResult:
    state: EcmState
    heat_w: FloatArray
    """Mean heat generation over the step (irreversible + reversible), W per cell."""
    v_rc_mean: FloatArray
    ocv_mean: FloatArray


def _scaled_lookups(
    model: CellModel, state: EcmState, current_a: FloatArray, r_scale: FloatArray | float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """R0, R_j, C_j at the state, with the cell's spread/aging factor on the resistances;
    C_j is divided by it so each RC time constant is kept (aging scales R, not τ)."""
    r0, r, c = model.rc_values(state.t_cell_degc, current_a, state.soc)
    return r0 * r_scale, r * r_scale, c / r_scale


def terminal_voltage(
    model: CellModel,
    state: EcmState,
    current_a: FloatArray,
    *,
    capacity_scale: FloatArray | float = 1.0,
) -> FloatArray:
    """V = OCV(SoC) − I R0(T, I, SoC) + Σ V_j."""
    r0, _, _ = model.rc_values(state.t_cell_degc, current_a, state.soc)
    return model.ocv(state.soc) - current_a * r0 + state.v_rc.sum(axis=0)


def ecm_step(
    model: CellModel,
    state: EcmState,
    current_a: FloatArray,
    dt: float,
    t_amb_degc: FloatArray | float,
    *,
    capacity_ah: FloatArray | float | None = None,
    r_scale: FloatArray | float = 1.0,
    thermal: tuple[FloatArray, FloatArray] | None = None,
) -> StepResult:
    """Advance every cell by ``dt`` seconds with ``current_a`` held (A, + on discharge).

    ``capacity_ah`` and ``r_scale`` carry the cell-to-cell spread (and aging).
    ``thermal`` is the cached ``(Φ, Γ)`` pair of :meth:`CellModel.thermal_step_matrices`.
    """
    q_ah = model.capacity_ah if capacity_ah is None else capacity_ah
    r0, r, c = _scaled_lookups(model, state, current_a, r_scale)
    tau = r * c
    decay = np.exp(-dt / tau)
    phi = tau / dt * (1.0 - decay)
    v_rc1 = state.v_rc * decay - current_a * r * (1.0 - decay)
    v_rc_mean = state.v_rc * phi - current_a * r * (1.0 - phi)
    dsoc = current_a * dt / (3600.0 * q_ah)
    soc1 = state.soc - dsoc
    ocv0 = model.ocv(state.soc)
    ocv_mean = 0.5 * (ocv0 + model.ocv(soc1))
    dudt = model.dudt(ocv0, state.t_cell_degc)
    q_irr = current_a * current_a * r0 - current_a * v_rc_mean.sum(axis=0)
    q_rev = -current_a * (state.t_cell_degc + KELVIN) * dudt
    heat = q_irr + q_rev
    phi_t, gam = thermal if thermal is not None else model.thermal_step_matrices(dt)
    tc, tj = state.t_cell_degc, state.t_jig_degc
    tc1 = phi_t[0, 0] * tc + phi_t[0, 1] * tj + gam[0, 0] * heat + gam[0, 1] * t_amb_degc
    tj1 = phi_t[1, 0] * tc + phi_t[1, 1] * tj + gam[1, 0] * heat + gam[1, 1] * t_amb_degc
    return StepResult(EcmState(soc1, v_rc1, tc1, tj1), heat, v_rc_mean, ocv_mean)


def ecm_rhs(
    model: CellModel,
    state: EcmState,
    current_a: FloatArray,
    t_amb_degc: FloatArray | float,
    *,
    capacity_ah: FloatArray | float | None = None,
    r_scale: FloatArray | float = 1.0,
    lookup_current_a: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Time derivatives (dSoC, dV_j, dT_cell, dT_jig) for the reference (solve_ivp) path."""
    q_ah = model.capacity_ah if capacity_ah is None else capacity_ah
    i_lk = current_a if lookup_current_a is None else lookup_current_a
    r0, r, c = _scaled_lookups(model, state, i_lk, r_scale)
    dsoc = -current_a / (3600.0 * q_ah)
    dv = -state.v_rc / (r * c) - current_a / c
    ocv = model.ocv(state.soc)
    heat = (
        current_a * current_a * r0
        - current_a * state.v_rc.sum(axis=0)
        - current_a * (state.t_cell_degc + KELVIN) * model.dudt(ocv, state.t_cell_degc)
    )
    th = model.thermal
    q_cj = th.k_cell_jig_w_per_k * (state.t_cell_degc - state.t_jig_degc)
    dtc = (heat - q_cj) / th.c_cell_j_per_k
    dtj = (q_cj - th.k_jig_amb_w_per_k * (state.t_jig_degc - t_amb_degc)) / th.c_jig_j_per_k
    return dsoc, dv, dtc, dtj
