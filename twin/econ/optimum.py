"""Perfect-foresight storage dispatch: one linear programme per billing month (HiGHS).

Formulation (docs/roi-conventions.md), per calendar month m with steps t = 0..n−1 of ``dt``
hours (interval starts, naive local time; an interval belongs to the month of its start):

Variables (kW unless said): charge ``c_t ∈ [0, P]``, discharge ``d_t ∈ [0, P]`` (AC), grid
import ``g_t ≥ 0``, export ``x_t ≥ 0`` (only if the tariff allows export), PV curtailment
``s_t ∈ [0, pv_t]``, stored energy above ``soc_min`` ``e_t ∈ [0, U]`` kWh battery-side at the
interval starts t = 0..n, and one peak ``D_w ≥ 0`` (kW) per demand window of the month
(:meth:`Tariff.demand_windows`: the flat demand and each TOU demand period).

    minimise  Σ_t π_t·g_t·dt − Σ_t χ_t·x_t·dt + Σ_w r_w·D_w + ε·Σ_t (c_t + d_t)·dt + ε_s·Σ_t s_t·dt
    s.t.      g_t − x_t = load_t + aux − (pv_t − s_t) + c_t − d_t
              e_{t+1} = e_t + η_c·c_t·dt − d_t·dt/η_d
              e_0 = E_m (month start),  e_n ≥ E_m (month end ≥ month start)
              D_w ≥ ḡ_b  for every demand interval b (15 min) of window w

``π`` is the energy price (:meth:`Tariff.energy_price`, with critical peak), ``χ`` the export
price, ``r_w`` the window's **first-tier** rate, ``ḡ_b`` the mean import over demand interval b
(the steps starting in it: ``Σ g_t·dt / interval``; with data coarser than the demand interval,
``ḡ_b = g_t``). ``ε`` (default 1e-6 per kWh of AC throughput) keeps the solver from charging
and discharging at once; ``ε_s`` = 1e-7 per kWh keeps it from curtailing PV for nothing.

Simplifications, stated: demand tiers use the first-tier rate; ratchets, the minimum billing
demand and the NDRC high-utilisation factor are not in the objective (the bill of the result,
:func:`twin.econ.bill.compute_bill`, applies them); capacity (kVA) and fixed charges do not
depend on dispatch and are left out, so on the capacity basis there is no demand term at all.
Month m starts at the end energy of month m − 1 (the first month at ``e0_kwh``/``soc0``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix

from twin.errors import ParameterError, ParameterIssue, SimulationError

from .storage import DispatchResult, StorageSpec, _prepare
from .tariff import Tariff

__all__ = ["MonthSolution", "OptimumResult", "optimal_dispatch"]


@dataclass(frozen=True)
class MonthSolution:
    """One month's LP: its key (``"2026-01"``), objective value (currency, energy + demand +
    penalties, without fixed or capacity charges), solver status and message, and peaks (kW)
    by demand window name."""

    month: str
    objective: float
    status: int
    message: str
    peaks_kw: dict[str, float]


@dataclass(frozen=True, eq=False)
class OptimumResult:
    """The optimal dispatch over the whole span and the per-month solutions."""

    dispatch: DispatchResult
    months: tuple[MonthSolution, ...]

    @property
    def objective(self) -> float:
        return float(sum(m.objective for m in self.months))


def _month_lp(
    *,
    tariff: Tariff,
    ts: np.ndarray,
    load: np.ndarray,
    pv: np.ndarray,
    storage: StorageSpec,
    dt_h: float,
    usable: float,
    e_start: float,
    throughput_cost: float,
    e_end: float | None = None,
) -> tuple[np.ndarray, ...]:
    """Build and solve one month. Returns (c, d, g, x, s, e, peaks, objective, status, message, names)."""
    n = load.size
    pmax, eta_c, eta_d = storage.power_kw, storage.eta_charge, storage.eta_discharge
    xprice = tariff.export_price(ts)
    nx = n if xprice is not None else 0
    windows = tariff.demand_windows(ts)
    nw = len(windows)
    # variable layout
    o_c, o_d, o_g, o_s = 0, n, 2 * n, 3 * n
    o_x = 4 * n
    o_e = o_x + nx
    o_p = o_e + n + 1
    nv = o_p + nw
    idx = np.arange(n)

    cost = np.zeros(nv)
    cost[o_g : o_g + n] = tariff.energy_price(ts) * dt_h
    cost[o_c : o_c + n] = throughput_cost * dt_h
    cost[o_d : o_d + n] = throughput_cost * dt_h
    cost[o_s : o_s + n] = 1e-7 * dt_h
    if xprice is not None:
        cost[o_x : o_x + n] = -xprice * dt_h
    for k, w in enumerate(windows):
        cost[o_p + k] = w.rate_per_kw

    # equalities: balance (n rows), energy (n rows)
    rows = [idx, idx, idx, idx]
    cols = [o_g + idx, o_s + idx, o_c + idx, o_d + idx]
    vals = [np.ones(n), -np.ones(n), -np.ones(n), np.ones(n)]
    if nx:
        rows.append(idx)
        cols.append(o_x + idx)
        vals.append(-np.ones(n))
    rows += [n + idx, n + idx, n + idx, n + idx]
    cols += [o_e + idx + 1, o_e + idx, o_c + idx, o_d + idx]
    vals += [np.ones(n), -np.ones(n), np.full(n, -eta_c * dt_h), np.full(n, dt_h / eta_d)]
    a_eq = csr_matrix(
        coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(2 * n, nv))
    )
    b_eq = np.concatenate([load + storage.aux_kw - pv, np.zeros(n)])

    # peaks: mean import over each demand interval of each window ≤ D_w
    dsec = tariff.demand_interval_min * 60
    ms = np.asarray(ts).astype("datetime64[ms]").astype(np.int64)
    if dt_h * 3600.0 >= dsec:
        bucket, coef = np.arange(n), np.ones(n)
    else:
        _, bucket = np.unique(ms - ms % (dsec * 1000), return_inverse=True)
        coef = np.full(n, dt_h * 3600.0 / dsec)
    u_rows: list[np.ndarray] = []
    u_cols: list[np.ndarray] = []
    u_vals: list[np.ndarray] = []
    nrow = 0
    for k, w in enumerate(windows):
        steps = np.flatnonzero(w.mask)
        ub, inv = np.unique(bucket[steps], return_inverse=True)
        u_rows += [nrow + inv, nrow + np.arange(ub.size)]
        u_cols += [o_g + steps, np.full(ub.size, o_p + k)]
        u_vals += [coef[steps], -np.ones(ub.size)]
        nrow += ub.size
    a_ub = b_ub = None
    if nrow:
        a_ub = csr_matrix(
            coo_matrix(
                (np.concatenate(u_vals), (np.concatenate(u_rows), np.concatenate(u_cols))), shape=(nrow, nv)
            )
        )
        b_ub = np.zeros(nrow)

    lo = np.zeros(nv)
    hi = np.full(nv, np.inf)
    hi[o_c : o_c + n] = pmax
    hi[o_d : o_d + n] = pmax
    hi[o_s : o_s + n] = pv
    hi[o_e : o_e + n + 1] = usable
    lo[o_e] = hi[o_e] = e_start
    lo[o_e + n] = e_start if e_end is None else e_end
    res = linprog(
        cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=np.column_stack([lo, hi]), method="highs"
    )
    if res.status != 0 or res.x is None:
        raise SimulationError(
            f"HiGHS failed on month {np.asarray(ts)[0].astype('datetime64[M]')!s}: "
            f"status {res.status}, {res.message}"
        )
    v = res.x
    x = v[o_x : o_x + n] if nx else np.zeros(n)
    return (
        v[o_c : o_c + n],
        v[o_d : o_d + n],
        v[o_g : o_g + n],
        x,
        v[o_s : o_s + n],
        v[o_e : o_e + n + 1],
        v[o_p : o_p + nw],
        np.array(res.fun),
        np.array(res.status),
        np.array(str(res.message)),
        np.array([w.name for w in windows], dtype=object),
    )


def optimal_dispatch(
    tariff: Tariff,
    ts: Any,
    load_kw: Any,
    pv_kw: Any,
    storage: StorageSpec,
    dt_h: float,
    *,
    year: int = 1,
    e0_kwh: float | None = None,
    capacity_factor: float | None = None,
    throughput_cost_per_kwh: float = 1e-6,
    end_energy_kwh: Mapping[str, float] | None = None,
) -> OptimumResult:
    """Perfect-foresight dispatch minimising the bill, one LP per calendar month (module doc).

    ``ts`` are increasing interval starts (naive local ``datetime64``) at a constant step of
    ``dt_h`` hours; load and PV in kW (``pv_kw`` may be ``None``). ``e0_kwh`` is the battery-side
    energy above empty at the start (default ``soc0·E``). Raises
    :class:`twin.errors.SimulationError` if HiGHS does not report an optimum.

    ``end_energy_kwh`` (``{"2026-07": kWh}``, battery-side above empty) replaces a month's
    "end ≥ start" rule by "end ≥ this": scoring a recorded run, the optimum may then draw down
    (or must refill) its store exactly as far as the run did, month by month.
    """
    load, pv, e_min, e_max, e0 = _prepare(
        storage, load_kw, pv_kw, dt_h, year=year, e0_kwh=e0_kwh, capacity_factor=capacity_factor
    )
    t = np.asarray(ts).astype("datetime64[ms]")
    if t.shape != load.shape:
        raise ParameterError([ParameterIssue(("ts",), f"expected {load.size} timestamps, got {t.shape}")])
    if t.size > 1 and not np.all(np.diff(t.astype(np.int64)) > 0):
        raise ParameterError([ParameterIssue(("ts",), "timestamps must be strictly increasing")])
    usable = e_max - e_min
    months = t.astype("datetime64[M]")
    bounds = np.flatnonzero(np.r_[True, months[1:] != months[:-1], True])
    n = load.size
    c = np.zeros(n)
    d = np.zeros(n)
    g = np.zeros(n)
    x = np.zeros(n)
    s = np.zeros(n)
    e = np.zeros(n + 1)
    e[0] = e0 - e_min
    sols: list[MonthSolution] = []
    for a, b in itertools.pairwise(bounds):
        out = _month_lp(
            tariff=tariff,
            ts=t[a:b],
            load=load[a:b],
            pv=pv[a:b],
            storage=storage,
            dt_h=dt_h,
            usable=usable,
            e_start=min(max(float(e[a]), 0.0), usable),
            throughput_cost=throughput_cost_per_kwh,
            e_end=None
            if end_energy_kwh is None or str(months[a]) not in end_energy_kwh
            else min(max(float(end_energy_kwh[str(months[a])]) - e_min, 0.0), usable),
        )
        c[a:b], d[a:b], g[a:b], x[a:b], s[a:b], e[a : b + 1], peaks, fun, status, msg, names = out
        sols.append(
            MonthSolution(
                str(months[a]),
                float(fun),
                int(status),
                str(msg),
                {str(k): float(v) for k, v in zip(names, peaks, strict=True)},
            )
        )
    # clean solver dust so the books close exactly: same-step charge/discharge netted
    net = d - c
    c_clean = np.clip(-net, 0.0, None)
    d_clean = np.clip(net, 0.0, None)
    pv_used = pv - s
    surplus = np.clip(pv - load - storage.aux_kw, 0.0, None)
    from_pv = np.minimum(c_clean, surplus)
    energy = np.clip(e, 0.0, usable) + e_min
    return OptimumResult(
        dispatch=DispatchResult(
            battery_kw=d_clean - c_clean,
            grid_kw=g - x,
            pv_used_kw=pv_used,
            pv_curtailed_kw=s,
            charge_from_pv_kw=from_pv,
            charge_from_grid_kw=c_clean - from_pv,
            energy_kwh=energy,
            soc=energy / storage.energy_kwh,
            dt_h=float(dt_h),
            e_min_kwh=e_min,
            e_max_kwh=e_max,
            eta_discharge=storage.eta_discharge,
        ),
        months=tuple(sols),
    )
