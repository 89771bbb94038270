"""The battery's tick compiled: one call per tick instead of ~300 small numpy calls.

The same equations as :mod:`twin.models.battery` and :mod:`twin.models.ecm` (which stay the
reference, ``kernel: numpy``), written as loops over cabinets and modelled cells and compiled
with numba. Every cell quantity is evaluated the way :class:`~twin.models.cell.CellModel`
does it: constants with their Arrhenius factor, then the (T, I, SoC) tables (multilinear,
extrapolating linearly along the end segment), then ``C_j = τ_j / R_j`` where a time constant
is given. The results differ from the numpy path only in the order of floating-point sums
(≈ 1e-15 relative a tick); ``tests/unit/twin/models/test_battery_kernel.py`` holds the two together, a
tick and a simulated month.

Why a compiled kernel and not restructured numpy: the arrays are 16–256 elements, so the
numpy path's cost is call dispatch and temporaries, not arithmetic (docs/design-decisions.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from twin._interp import FloatArray
from twin.models import kernel_cache
from twin.models.cell import GAS_CONSTANT, KELVIN

kernel_cache.drop_stale(__file__)  # before any kernel is loaded from numba's cache

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from twin.models.cell import CellModel

__all__ = ["CellTables", "cell_tables", "outputs_now", "pack_instant", "step_power"]


class CellTables(NamedTuple):
    """A :class:`CellModel` as flat arrays the kernel can take (one fixed tuple type)."""

    const: FloatArray  # (nq,) R0, R_1..R_n, C_1..C_n
    ea: FloatArray  # (nq,) Arrhenius activation energy, 0 = none
    tref_k: FloatArray  # (nq,)
    tau: FloatArray  # (n_rc,) τ_j, NaN where C_j is given instead
    g_off: NDArray[np.intp]  # (G+1, 4): offsets into axes_t, axes_i, axes_s, values
    g_nout: NDArray[np.intp]  # (G,) outputs of each group
    g_tgt: NDArray[np.intp]  # (Σ nout,) the quantity each output sets, group after group
    axes_t: FloatArray
    axes_i: FloatArray
    axes_s: FloatArray
    values: FloatArray  # each group's (nt, ni, ns, nout) table, flattened C-order
    ocv_x: FloatArray
    ocv_y: FloatArray
    ocv_slope: FloatArray
    ocv_cum: FloatArray  # ∫_0^x OCV ds at the OCV nodes (stored energy)
    dudt_const: float  # NaN when dU/dT is a table
    dudt_ax0: FloatArray  # the table's OCV axis (empty when constant)
    dudt_ax1: FloatArray  # its temperature axis
    dudt_vals: FloatArray  # (n0 × n1,) C-order


KernelTables = tuple  # a CellTables as a plain tuple: numba types plain tuples fast, NamedTuples not
"""The kernels index it by position, in the order of :class:`CellTables`' fields."""


def cell_tables(model: CellModel, ocv_cum: FloatArray) -> CellTables:
    """Flatten a cell model's lookups for the kernel (pass ``tuple(...)`` of it to a kernel)."""
    offs = [(0, 0, 0, 0)]
    nout: list[int] = []
    tgt: list[int] = []
    at: list[FloatArray] = []
    ai: list[FloatArray] = []
    as_: list[FloatArray] = []
    vals: list[FloatArray] = []
    for idx, grid in model._grids:
        t_ax, i_ax, s_ax = grid.axes
        at.append(t_ax)
        ai.append(i_ax)
        as_.append(s_ax)
        vals.append(grid.values.ravel())
        o = offs[-1]
        offs.append((o[0] + t_ax.size, o[1] + i_ax.size, o[2] + s_ax.size, o[3] + grid.values.size))
        nout.append(len(idx))
        tgt += [int(k) for k in idx]

    def cat(parts: list[FloatArray]) -> FloatArray:
        return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0))

    dg = model._dudt_grid
    return CellTables(
        const=np.ascontiguousarray(model._const, dtype=float),
        ea=np.ascontiguousarray(model._ea, dtype=float),
        tref_k=np.ascontiguousarray(model._tref_k, dtype=float),
        tau=np.array([math.nan if t is None else float(t) for t in model._tau], dtype=float),
        g_off=np.array(offs, dtype=np.intp),
        g_nout=np.array(nout, dtype=np.intp),
        g_tgt=np.array(tgt, dtype=np.intp),
        axes_t=cat(at),
        axes_i=cat(ai),
        axes_s=cat(as_),
        values=cat(vals),
        ocv_x=np.ascontiguousarray(model.ocv_grid.x),
        ocv_y=np.ascontiguousarray(model.ocv_grid.y),
        ocv_slope=np.ascontiguousarray(model.ocv_grid.slope),
        ocv_cum=np.ascontiguousarray(ocv_cum),
        dudt_const=math.nan if model._dudt_const is None else float(model._dudt_const),
        dudt_ax0=dg.axes[0] if dg is not None else np.zeros(0),
        dudt_ax1=dg.axes[1] if dg is not None else np.zeros(0),
        dudt_vals=np.ascontiguousarray(dg.values[..., 0].ravel()) if dg is not None else np.zeros(0),
    )


# -- compiled primitives ------------------------------------------------------------------
# The helpers take the tables' arrays one by one: a tuple of arrays passed to a helper costs
# a reference count per member per call (10× the arithmetic); each kernel unpacks it once.
@njit(cache=True, inline="always")
def _seg(ax: FloatArray, lo: int, n: int, x: float) -> tuple[int, float]:
    """``_interp._locate`` on ``ax[lo:lo+n]``: segment index (clipped) and unclipped weight."""
    a, b = 0, n  # searchsorted(side="right") by bisection
    while a < b:
        m = (a + b) // 2
        if ax[lo + m] <= x:
            a = m + 1
        else:
            b = m
    k = min(max(a - 1, 0), n - 2)
    x0 = ax[lo + k]
    return k, (x - x0) / (ax[lo + k + 1] - x0)


@njit(cache=True, inline="always")
def _hunt(ax: FloatArray, x: float, k: int) -> tuple[int, float]:
    """:func:`_seg` on the whole axis, walking from segment ``k`` (a nearby SoC: O(1))."""
    n = ax.size
    while k < n - 2 and ax[k + 1] <= x:
        k += 1
    while k > 0 and ax[k] > x:
        k -= 1
    x0 = ax[k]
    return k, (x - x0) / (ax[k + 1] - x0)


@njit(cache=True, inline="always")
def _lin(oy: FloatArray, k: int, w: float) -> float:
    """OCV on segment ``k`` at weight ``w`` (``Grid1D.__call__``)."""
    return oy[k] + w * (oy[k + 1] - oy[k])


@njit(cache=True, inline="always")
def _energy_cell(
    ox: FloatArray, oy: FloatArray, oslope: FloatArray, ocum: FloatArray, k: int, soc: float
) -> float:
    """∫_0^soc OCV ds (V) with ``soc`` on OCV segment ``k``, as ``Battery.stored_energy_kwh``."""
    ds = soc - ox[k]
    return ocum[k] + oy[k] * ds + 0.5 * oslope[k] * ds * ds


@njit(cache=True, inline="always")
def _dudt(dconst: float, d0: FloatArray, d1: FloatArray, dv: FloatArray, ocv: float, t_degc: float) -> float:
    if not math.isnan(dconst):
        return dconst
    n0, n1 = d0.size, d1.size
    k0, w0 = _seg(d0, 0, n0, ocv)
    k1, w1 = _seg(d1, 0, n1, t_degc)
    return (
        (1.0 - w0) * (1.0 - w1) * dv[k0 * n1 + k1]
        + w0 * (1.0 - w1) * dv[(k0 + 1) * n1 + k1]
        + (1.0 - w0) * w1 * dv[k0 * n1 + k1 + 1]
        + w0 * w1 * dv[(k0 + 1) * n1 + k1 + 1]
    )


@njit(cache=True, inline="always")
def _rc_row(
    const: FloatArray,
    ea: FloatArray,
    tref_k: FloatArray,
    tau: FloatArray,
    g_off: NDArray[np.intp],
    g_nout: NDArray[np.intp],
    g_tgt: NDArray[np.intp],
    axes_t: FloatArray,
    axes_i: FloatArray,
    axes_s: FloatArray,
    values: FloatArray,
    t_row: FloatArray,
    i_a: float,
    soc_row: FloatArray,
    out: FloatArray,
) -> None:
    """R0, R_1..R_n, C_1..C_n (unscaled) of every cell of one cabinet into the rows of
    ``out``, as ``CellModel.rc_values``, at one lookup current. One call per cabinet, not per
    cell: each array handed to a helper costs its reference counting per call, which per cell
    was ten times the arithmetic."""
    n_rc = tau.size
    for k in range(t_row.shape[0]):
        t_degc = t_row[k]
        soc = soc_row[k]
        t_k = t_degc + KELVIN
        f_ea = -1.0
        f_tref = -1.0
        f = 1.0
        for q in range(const.size):
            v = const[q]
            if ea[q] > 0:
                if ea[q] != f_ea or tref_k[q] != f_tref:  # quantities share one law: one exp
                    f_ea, f_tref = ea[q], tref_k[q]
                    f = math.exp(f_ea / GAS_CONSTANT * (1.0 / t_k - 1.0 / f_tref))
                v *= f
            out[k, q] = v
        pos = 0
        for g in range(g_nout.size):
            ot, oi, os_, ov = g_off[g, 0], g_off[g, 1], g_off[g, 2], g_off[g, 3]
            nt = g_off[g + 1, 0] - ot
            ni = g_off[g + 1, 1] - oi
            ns = g_off[g + 1, 2] - os_
            no = g_nout[g]
            kt, wt = _seg(axes_t, ot, nt, t_degc)
            ki, wi = _seg(axes_i, oi, ni, i_a)
            ks, ws = _seg(axes_s, os_, ns, soc)
            for o in range(no):
                acc = 0.0
                for c in range(8):  # corner bits: axis 0 = bit 0, as GridND
                    bt, bi, bs = c & 1, (c >> 1) & 1, (c >> 2) & 1
                    w = (wt if bt else 1.0 - wt) * (wi if bi else 1.0 - wi) * (ws if bs else 1.0 - ws)
                    flat = ((kt + bt) * ni + (ki + bi)) * ns + (ks + bs)
                    acc += w * values[ov + flat * no + o]
                out[k, g_tgt[pos + o]] = acc
            pos += no
        for j in range(n_rc):
            if not math.isnan(tau[j]):
                out[k, 1 + n_rc + j] = tau[j] / out[k, 1 + j]


@njit(cache=True, inline="always")
def _current_for_power(e: float, r: float, p_w: float) -> tuple[float, float]:
    disc = e * e - 4.0 * r * p_w
    if disc < 0:
        return e / (2.0 * r), 1.0
    return 2.0 * p_w / (e + math.sqrt(disc)), 0.0


@njit(cache=True, inline="always")
def _cells_instant(
    tb: KernelTables, v_rc: FloatArray, c: int, t_row: FloatArray, i_a: float, soc_row: FloatArray,
    vals: FloatArray, hint: np.ndarray, e_out: FloatArray,
) -> None:  # fmt: skip
    """The cells of cabinet ``c`` now: R0, R_j, C_j (unscaled) into the rows of ``vals`` at
    lookup current ``i_a``, OCV + Σ V_j into ``e_out``, each cell's OCV segment into ``hint``."""
    const, ea, tref_k, tau_g, g_off, g_nout, g_tgt, at, ai, as_, gv, ox, oy = tb[:13]
    _rc_row(const, ea, tref_k, tau_g, g_off, g_nout, g_tgt, at, ai, as_, gv, t_row, i_a, soc_row, vals)
    for k in range(soc_row.shape[0]):
        ko, wo = _hunt(ox, soc_row[k], hint[c, k])
        hint[c, k] = ko
        e = _lin(oy, ko, wo)
        for j in range(tau_g.size):
            e += v_rc[j, c, k]
        e_out[k] = e


# -- the kernels ----------------------------------------------------------------------------
@njit(cache=True)
def step_power(
    tb: KernelTables,
    p_dc_w: FloatArray,
    closed: FloatArray,
    dt: float,
    i_lookup: FloatArray,
    soc: FloatArray,
    v_rc: FloatArray,
    tc: FloatArray,
    tj: FloatArray,
    cap: FloatArray,
    rs: FloatArray,
    t_cool: FloatArray,
    thermal: FloatArray,
    scale: FloatArray,
    out_state: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray],
    out_cab: FloatArray,
    hint: np.ndarray,
) -> None:
    """``Battery.step_power`` for every cabinet: the pack current for the held DC power,
    then the exact ECM step under it with self-discharge.

    ``thermal`` = (Φ00, Φ01, Φ10, Φ11, Γ00, Γ01, Γ10, Γ11); ``scale`` = (n_parallel,
    series scale, self-discharge rate 1/s, its reference °C, its doubling °C).
    ``out_state`` = new (soc, v_rc, t_cell, t_jig, heat); ``out_cab`` rows = i, p_dc
    delivered, p_chem, p_sd, limited (per cabinet)."""
    const, ea, tref_k, tau_g, g_off, g_nout, g_tgt, at, ai, as_, gv, ox, oy, osl, _oc, dc, d0, d1, dv = tb
    n_cab, n_cell = soc.shape
    n_rc = tau_g.size
    n_p, ss, sd_rate, sd_tref, sd_dbl = scale[0], scale[1], scale[2], scale[3], scale[4]
    soc1, vrc1, tc1, tj1, heat_o = out_state
    vals = np.empty((n_cell, const.size))
    for c in range(n_cab):
        # the pack's mean E and R over the tick, with lookups at the previous current
        il = i_lookup[c] / n_p
        e_sum = 0.0
        r_sum = 0.0
        _rc_row(const, ea, tref_k, tau_g, g_off, g_nout, g_tgt, at, ai, as_, gv, tc[c], il, soc[c], vals)
        for k in range(n_cell):
            s = soc[c, k]
            r_s = rs[c, k]
            r0 = vals[k, 0] * r_s
            ko, wo = _hunt(ox, s, hint[c, k])
            hint[c, k] = ko
            e_cell = _lin(oy, ko, wo)
            r_cell = r0
            for j in range(n_rc):
                rj = vals[k, 1 + j] * r_s
                tau = rj * (vals[k, 1 + n_rc + j] / r_s)
                ph = tau / dt * (1.0 - math.exp(-dt / tau)) if dt > 0 else 1.0
                e_cell += v_rc[j, c, k] * ph
                r_cell += rj * (1.0 - ph)
            r_cell += 0.5 * osl[ko] * dt / (3600.0 * cap[c, k])
            e_sum += e_cell
            r_sum += r_cell
        e = e_sum * ss
        r = r_sum * ss / n_p
        p = p_dc_w[c] if closed[c] > 0 else 0.0
        i, lim = _current_for_power(e, r, p)
        if not closed[c] > 0:
            i = 0.0
        # the exact ECM step with the current held
        ic = i / n_p
        p_sd = 0.0
        p_chem = 0.0
        _rc_row(const, ea, tref_k, tau_g, g_off, g_nout, g_tgt, at, ai, as_, gv, tc[c], ic, soc[c], vals)
        for k in range(n_cell):
            s = soc[c, k]
            t0 = tc[c, k]
            q = cap[c, k]
            ko, wo = _hunt(ox, s, hint[c, k])
            ocv0 = _lin(oy, ko, wo)
            rate = sd_rate * 2.0 ** ((t0 - sd_tref) / sd_dbl) if s > 0.0 else 0.0
            p_sd += ocv0 * (rate * q * 3600.0)
            r_s = rs[c, k]
            r0 = vals[k, 0] * r_s
            vrc_mean_sum = 0.0
            for j in range(n_rc):
                rj = vals[k, 1 + j] * r_s
                tau = rj * (vals[k, 1 + n_rc + j] / r_s)
                decay = math.exp(-dt / tau)
                ph = tau / dt * (1.0 - decay)
                v0 = v_rc[j, c, k]
                vrc1[j, c, k] = v0 * decay - ic * rj * (1.0 - decay)
                vrc_mean_sum += v0 * ph - ic * rj * (1.0 - ph)
            s1 = s - ic * dt / (3600.0 * q)
            k1, w1 = _hunt(ox, s1, ko)
            hint[c, k] = k1
            ocv_mean = 0.5 * (ocv0 + _lin(oy, k1, w1))
            dudt = _dudt(dc, d0, d1, dv, ocv0, t0)
            h = ic * ic * r0 - ic * vrc_mean_sum - ic * (t0 + KELVIN) * dudt
            heat_o[c, k] = h
            tj0 = tj[c, k]
            ta = t_cool[c]
            tc1[c, k] = thermal[0] * t0 + thermal[1] * tj0 + thermal[4] * h + thermal[5] * ta
            tj1[c, k] = thermal[2] * t0 + thermal[3] * tj0 + thermal[6] * h + thermal[7] * ta
            soc1[c, k] = max(s1 - rate * dt, 0.0)
            p_chem += ocv_mean * ic
        p_sd *= ss * n_p
        out_cab[0, c] = i
        out_cab[1, c] = i * (e - r * i)
        out_cab[2, c] = p_chem * ss * n_p + p_sd
        out_cab[3, c] = p_sd
        out_cab[4, c] = lim


@njit(cache=True)
def pack_instant(
    tb: KernelTables,
    i_lookup: FloatArray,
    soc: FloatArray,
    v_rc: FloatArray,
    tc: FloatArray,
    rs: FloatArray,
    scale: FloatArray,
    out: FloatArray,
    hint: np.ndarray,
) -> None:
    """``Battery.pack_instant``: instantaneous pack E (row 0) and R0 (row 1) per cabinet."""
    n_cab, n_cell = soc.shape
    n_p, ss = scale[0], scale[1]
    vals = np.empty((n_cell, tb[0].size))
    e_cell = np.empty(n_cell)
    for c in range(n_cab):
        il = i_lookup[c] / n_p
        e_sum = 0.0
        r_sum = 0.0
        _cells_instant(tb, v_rc, c, tc[c], il, soc[c], vals, hint, e_cell)
        for k in range(n_cell):
            e_sum += e_cell[k]
            r_sum += vals[k, 0] * rs[c, k]
        out[0, c] = e_sum * ss
        out[1, c] = r_sum * ss / n_p


@njit(cache=True)
def outputs_now(
    tb: KernelTables,
    i_pack: FloatArray,
    soc: FloatArray,
    v_rc: FloatArray,
    tc: FloatArray,
    rs: FloatArray,
    cap: FloatArray,
    heat: FloatArray,
    scale: FloatArray,
    out: FloatArray,
    hint: np.ndarray,
) -> None:
    """``Battery.outputs_now`` into rows of ``out``: soc %, soc min %, v_dc, p_dc kW, v_cell
    min, v_cell max, t_cell min, t_cell max, energy kWh, heat kW (per cabinet)."""
    ox, oy, osl, ocum = tb[11], tb[12], tb[13], tb[14]
    n_cab, n_cell = soc.shape
    n_p, ss = scale[0], scale[1]
    vals = np.empty((n_cell, tb[0].size))
    e_cell = np.empty(n_cell)
    for c in range(n_cab):
        ic = i_pack[c] / n_p
        _cells_instant(tb, v_rc, c, tc[c], ic, soc[c], vals, hint, e_cell)
        sq = 0.0
        q_sum = 0.0
        s_min = math.inf
        v_sum = 0.0
        v_min = math.inf
        v_max = -math.inf
        t_min = math.inf
        t_max = -math.inf
        wh = 0.0
        h_sum = 0.0
        for k in range(n_cell):
            s = soc[c, k]
            ko = hint[c, k]
            v = e_cell[k] - ic * vals[k, 0] * rs[c, k]
            q = cap[c, k]
            sq += s * q
            q_sum += q
            s_min = min(s_min, s)
            v_sum += v
            v_min = min(v_min, v)
            v_max = max(v_max, v)
            t_min = min(t_min, tc[c, k])
            t_max = max(t_max, tc[c, k])
            wh += _energy_cell(ox, oy, osl, ocum, ko, s) * q
            h_sum += heat[c, k]
        v_dc = v_sum * ss
        out[0, c] = 100.0 * sq / q_sum
        out[1, c] = 100.0 * s_min
        out[2, c] = v_dc
        out[3, c] = v_dc * i_pack[c] / 1000.0
        out[4, c] = v_min
        out[5, c] = v_max
        out[6, c] = t_min
        out[7, c] = t_max
        out[8, c] = wh * ss * n_p / 1000.0
        out[9, c] = h_sum * ss * n_p / 1000.0


@njit(cache=True)
def stored_energy(
    tb: KernelTables, soc: FloatArray, cap: FloatArray, scale: FloatArray, out: FloatArray, hint: np.ndarray
) -> None:
    """``Battery.stored_energy_kwh`` per cabinet into ``out``."""
    ox, oy, osl, ocum = tb[11], tb[12], tb[13], tb[14]
    n_cab, n_cell = soc.shape
    for c in range(n_cab):
        wh = 0.0
        for k in range(n_cell):
            s = soc[c, k]
            ko, _ = _hunt(ox, s, hint[c, k])
            hint[c, k] = ko
            wh += _energy_cell(ox, oy, osl, ocum, ko, s) * cap[c, k]
        out[c] = wh * scale[1] * scale[0] / 1000.0
