"""The compiled island sub-steps (:func:`twin.site_fixed.island_fixed`): within a tick on an
island, each PCS's active and reactive lag, the gensets' governors and lags, the auxiliaries
and the rotating energy by the swing equation, sub-step by sub-step.

The same operations in the same order as the numpy path in :mod:`twin.site_fixed`: sums are
numpy's pairwise sum (:func:`twin.models.kernel_math.np_sum`), clips numpy's NaN-propagating
ones, and every e^(−h/τ) is computed once per tick in Python and passed in, so that both
paths agree to the bit (``tests/unit/twin/test_island_kernel.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache
from twin.models.kernel_math import clip, nan_max, np_sum

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

__all__ = ["substeps"]


@njit(cache=True, error_model="numpy")
def substeps(
    n_sub: int,
    h: float,
    # -- the bus: [f, f0, energy, hs, load, pv, damping_pu, s_base, target, sync_ref, sync_t_s,
    #    grid_f, phase, phase_min, phase_at_min]; f, energy, sync_ref and the phase updated in place
    bus: FloatArray,
    syncing: bool,
    gen_up: bool,
    # -- the PCSs
    p_ac: FloatArray,  # updated in place
    q_ac: FloatArray,  # updated in place
    run: np.ndarray,
    tau_p: FloatArray,
    e_p: FloatArray,
    e_q: float,
    tau_q: float,
    p_cmd: FloatArray,
    q_cmd: FloatArray,
    gfm: np.ndarray,
    p_set: FloatArray,
    p_max_ch: FloatArray,
    p_max_dis: FloatArray,
    gfm_droop_pu: float,  # PcsParams.gfm_droop_pct / 100
    p_rated: float,
    overload_pu: float,
    aux_base: float,
    hvac_frac: float,
    # -- the gensets (none: empty arrays)
    g_p: FloatArray,  # updated in place
    g_p_sec: FloatArray,  # updated in place
    g_p_set: FloatArray,
    g_ceiling: FloatArray,
    g_running: FloatArray,
    g_tau: float,
    g_e: float,  # e^(-h / g_tau)
    g_droop_pu: float,  # GensetParams.droop_pct / 100
    g_rated: float,
    g_iso: bool,
    g_iso_t_i_s: float,
    # -- the sums over the sub-steps (zeroed by the caller)
    acc_p: FloatArray,
    acc_q: FloatArray,
    acc_aux: FloatArray,
    acc_g: FloatArray,
    g_p_mean: FloatArray,  # the gensets' mean over the last sub-step
) -> tuple[float, float]:
    """Run ``n_sub`` sub-steps of ``h`` seconds; returns the sums of the rotating-energy
    imbalance and of the load relief (kW, one term per sub-step)."""
    f, f0, energy, hs, load, pv = bus[0], bus[1], bus[2], bus[3], bus[4], bus[5]
    damping, s_base, target, sync_ref, sync_t_s = bus[6], bus[7], bus[8], bus[9], bus[10]
    grid_f, phase, phase_min, phase_at_min = bus[11], bus[12], bus[13], bus[14]
    n = p_ac.shape[0]
    ng = g_p.shape[0]
    pm = np.empty(n)
    qm = np.empty(n)
    aux = np.empty(n)
    acc_rot = 0.0
    acc_relief = 0.0
    for _ in range(n_sub):
        dev = (f - f0) / f0
        if syncing and not gen_up:  # storage-only island: an integrating synchroniser
            sync_ref += (target - dev) * h / sync_t_s
        ref_p = target if gen_up else sync_ref
        d = dev - ref_p
        droop = -d / gfm_droop_pu * p_rated  # Pcs.gfm_target
        for i in range(n):  # Pcs.island_substep
            tgt = clip(p_set[i] + droop, -p_max_ch[i], p_max_dis[i] * overload_pu) if gfm[i] else p_cmd[i]
            p0 = p_ac[i]
            if run[i]:
                p_ac[i] = tgt + (p0 - tgt) * e_p[i]
                pm[i] = tgt + (p0 - tgt) * tau_p[i] / h * (1.0 - e_p[i])
            else:
                p_ac[i] = 0.0
                pm[i] = 0.0
            q0 = q_ac[i]
            q_ac[i] = q_cmd[i] + (q0 - q_cmd[i]) * e_q
            qm[i] = q_cmd[i] + (q0 - q_cmd[i]) * tau_q / h * (1.0 - e_q)
        supply = np_sum(pm) + pv
        if ng > 0:
            err = dev - target
            if g_iso:  # Genset.integrate
                for j in range(ng):
                    sec = g_p_sec[j] - err / g_droop_pu * g_rated * h / g_iso_t_i_s
                    hi = nan_max(g_ceiling[j] - g_p_set[j], 0.0)
                    g_p_sec[j] = clip(sec, -g_p_set[j], hi) * g_running[j]
            for j in range(ng):  # Genset.droop_target, then Genset.step_lag
                gt = g_p_set[j] + g_p_sec[j] - err / g_droop_pu * g_rated
                gt = clip(gt, 0.0, g_ceiling[j]) * g_running[j]
                p0 = g_p[j]
                g_p[j] = gt + (p0 - gt) * g_e
                g_p_mean[j] = gt + (p0 - gt) * g_tau / h * (1.0 - g_e)
                acc_g[j] += g_p_mean[j]
            supply += np_sum(g_p_mean)
        for i in range(n):  # Pcs.aux_now_kw
            aux[i] = aux_base + hvac_frac * abs(pm[i])
        relief = damping * dev * s_base
        imbalance = supply - load - np_sum(aux) - relief
        e_new = energy + imbalance * h
        floor = 1e-6 * hs
        energy = floor if floor > e_new else e_new  # Python's max(e_new, floor)
        f = f0 * math.sqrt(energy / hs)
        acc_rot += imbalance
        acc_relief += relief
        for i in range(n):
            acc_p[i] += pm[i]
            acc_q[i] += qm[i]
            acc_aux[i] += aux[i]
        if syncing:
            phase = (phase + 360.0 * (f - grid_f) * h + 180.0) % 360.0 - 180.0
            if abs(phase) < phase_min:
                phase_min = abs(phase)
                phase_at_min = phase
    bus[0], bus[2], bus[9] = f, energy, sync_ref
    bus[12], bus[13], bus[14] = phase, phase_min, phase_at_min
    return acc_rot, acc_relief
