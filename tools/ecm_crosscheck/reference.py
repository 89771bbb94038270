"""Independent reference implementation of the PyBaMM Thevenin ECM (physics.md §1.1).

Written from the equations only, for cross-checking ``hil cell``; it shares no code
with ``twin/`` or ``hil/``.  numpy + scipy only.

Model (I > 0 on discharge, T in degC except where noted):

    dSoC/dt   = -I / (3600 Q)
    dV_j/dt   = -V_j / (R_j C_j) - I / C_j                  j = 1..n (n = 1 or 2)
    V         = OCV(SoC) - I R0 + sum_j V_j
    Q_irr     = I^2 R0 - sum_j I V_j
    Q_rev     = -I (T_cell + 273.15) dU/dT(OCV, T_cell)
    C_cell dT_cell/dt = Q_irr + Q_rev - k_cj (T_cell - T_jig)
    C_jig  dT_jig/dt  = k_cj (T_cell - T_jig) - k_ja (T_jig - T_amb)

R0, R1, C1 are 3-D tables over (T_cell degC, I A, SoC), dU/dT a 2-D table over
(OCV V, T_cell degC), OCV a 1-D table over SoC; all interpolated multilinearly with
linear extrapolation outside the grid (what casadi's "linear" interpolant does).
R2/C2 (2-RC variant) are constants.

Each profile step is integrated separately (the solver restarts at every step boundary,
current piecewise constant); voltage cut-offs are located with solve_ivp events.  A
step ends early, and the whole profile stops, if the cell leaves the voltage window
[3.2, 4.2] V or SoC leaves [0, 1] (PyBaMM's termination events); a step's own
"until X V" target ends just that step.

Usage (writes a CSV in the ``hil cell`` layout)::

    python tools/ecm_crosscheck/reference.py --data DIR_WITH_ECM_EXAMPLE_CSVS \
        --soc0 0.99 --temp 25 --dt 0.1 \
        --step "discharge 100 A until 3.2 V" --step "rest 1 h" --out ref.csv
"""

# ruff: noqa: E741  (I is the current, as in the equations)
from __future__ import annotations

import argparse
import bisect
import csv
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.integrate import solve_ivp

KELVIN = 273.15


# --------------------------------------------------------------------------- tables
class LinearTable:
    """Multilinear interpolation on a regular (rectilinear) grid with linear extrapolation.

    Outside the grid the edge cell's multilinear formula is used with weights outside
    [0, 1], which is linear extrapolation along each axis (casadi / RegularGridInterpolator
    with ``fill_value=None`` behave the same way).
    """

    def __init__(self, axes: list[np.ndarray], values: np.ndarray) -> None:
        self.axes = [np.asarray(a, dtype=float) for a in axes]
        self.values = np.asarray(values, dtype=float)
        assert self.values.shape == tuple(len(a) for a in self.axes)
        for a in self.axes:
            assert len(a) >= 2
            assert np.all(np.diff(a) > 0)
        self._ax = [a.tolist() for a in self.axes]
        self._v = self.values

    def _locate(self, d: int, x: float) -> tuple[int, float]:
        ax = self._ax[d]
        i = bisect.bisect_right(ax, x) - 1
        i = min(max(i, 0), len(ax) - 2)
        return i, (x - ax[i]) / (ax[i + 1] - ax[i])

    def __call__(self, *x: float) -> float:
        if len(x) == 1:
            i, w = self._locate(0, x[0])
            f = self._v
            return float(f[i] + w * (f[i + 1] - f[i]))
        if len(x) == 2:
            (i, u), (j, w) = self._locate(0, x[0]), self._locate(1, x[1])
            c = self._v[i : i + 2, j : j + 2]
            return float((1 - u) * ((1 - w) * c[0, 0] + w * c[0, 1]) + u * ((1 - w) * c[1, 0] + w * c[1, 1]))
        if len(x) == 3:
            (i, u), (j, v), (k, w) = (self._locate(d, x[d]) for d in range(3))
            c3 = self._v[i : i + 2, j : j + 2, k : k + 2]
            c2 = c3[0] * (1 - u) + c3[1] * u  # (2, 2)
            c1 = c2[0] * (1 - v) + c2[1] * v  # (2,)
            return float(c1[0] * (1 - w) + c1[1] * w)
        raise ValueError("1-3 dimensions only")


def _grid_from_long_csv(path: Path, ndim: int) -> LinearTable:
    """Table stored in long form: ndim coordinate columns then one value column."""
    data = np.loadtxt(path, delimiter=",", comments="#", skiprows=1)
    axes = []
    idx = []
    for d in range(ndim):
        # round away float noise such as 0.15000000000000002 before finding the axis
        col = np.round(data[:, d], 9)
        ax = np.unique(col)
        axes.append(ax)
        idx.append(np.searchsorted(ax, col))
    values = np.full(tuple(len(a) for a in axes), np.nan)
    values[tuple(idx)] = data[:, ndim]
    if np.isnan(values).any():
        raise ValueError(f"{path}: not a full regular grid")
    return LinearTable(axes, values)


@dataclass
class CellParams:
    ocv: LinearTable  # SoC -> V
    dudt: LinearTable  # (OCV V, T degC) -> V/K
    r0: LinearTable  # (T degC, I A, SoC) -> Ohm
    r1: LinearTable
    c1: LinearTable
    capacity_ah: float = 100.0
    v_min: float = 3.2
    v_max: float = 4.2
    c_cell: float = 1000.0
    c_jig: float = 500.0
    k_cell_jig: float = 10.0
    k_jig_air: float = 10.0
    r2: float | None = None  # constant 2nd RC pair (Ohm, F) or None for 1 RC
    c2: float | None = None

    @property
    def n_rc(self) -> int:
        return 1 if self.r2 is None else 2

    @classmethod
    def from_dir(cls, directory: str | Path, **kw: float) -> CellParams:
        d = Path(directory)

        def find(key: str) -> Path:
            hits = sorted(d.glob(f"*{key}.csv"))
            if len(hits) != 1:
                raise FileNotFoundError(f"expected one *{key}.csv in {d}, found {hits}")
            return hits[0]

        ocv = np.loadtxt(find("ocv"), delimiter=",", comments="#")
        return cls(
            ocv=LinearTable([ocv[:, 0]], ocv[:, 1]),
            dudt=_grid_from_long_csv(find("dudt"), 2),
            r0=_grid_from_long_csv(find("r0"), 3),
            r1=_grid_from_long_csv(find("r1"), 3),
            c1=_grid_from_long_csv(find("c1"), 3),
            **kw,
        )


# --------------------------------------------------------------------------- model
class Model:
    """State y = [SoC, V_1, (V_2), T_cell degC, T_jig degC]."""

    def __init__(self, p: CellParams, t_amb_c: float) -> None:
        self.p = p
        self.t_amb = t_amb_c
        self.n = p.n_rc

    def rc(self, j: int, T: float, I: float, soc: float) -> tuple[float, float]:
        p = self.p
        if j == 0:
            return p.r1(T, I, soc), p.c1(T, I, soc)
        assert p.r2 is not None
        assert p.c2 is not None
        return p.r2, p.c2

    def voltage(self, y: np.ndarray, I: float) -> float:
        soc, T = y[0], y[1 + self.n]
        return self.p.ocv(soc) - I * self.p.r0(T, I, soc) + float(sum(y[1 : 1 + self.n]))

    def rhs(self, t: float, y: np.ndarray, I: float) -> np.ndarray:
        p, n = self.p, self.n
        soc, T, Tj = y[0], y[1 + n], y[2 + n]
        dy = np.empty_like(y)
        dy[0] = -I / (3600.0 * p.capacity_ah)
        q_irr = I * I * p.r0(T, I, soc)
        for j in range(n):
            R, C = self.rc(j, T, I, soc)
            vj = y[1 + j]
            dy[1 + j] = -vj / (R * C) - I / C
            q_irr -= I * vj
        ocv = p.ocv(soc)
        q_rev = -I * (T + KELVIN) * p.dudt(ocv, T)
        q_cj = p.k_cell_jig * (T - Tj)
        dy[1 + n] = (q_irr + q_rev - q_cj) / p.c_cell
        dy[2 + n] = (q_cj - p.k_jig_air * (Tj - self.t_amb)) / p.c_jig
        return dy

    def heat(self, y: np.ndarray, I: float) -> tuple[float, float]:
        p, n = self.p, self.n
        soc, T = y[0], y[1 + n]
        q_irr = I * I * p.r0(T, I, soc) - I * float(sum(y[1 : 1 + n]))
        q_rev = -I * (T + KELVIN) * p.dudt(p.ocv(soc), T)
        return q_irr, q_rev


# --------------------------------------------------------------------------- profile
_DUR = {"ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(ms|s|sec|min|h|hr)\s*", text)
    if not m:
        raise ValueError(f"bad duration {text!r}")
    return float(m.group(1)) * _DUR[m.group(2)]


@dataclass
class Step:
    text: str
    current: float  # A, > 0 discharge
    duration: float | None = None  # s
    until_v: float | None = None


def parse_step(text: str) -> Step:
    s = text.strip().lower()
    m = re.fullmatch(r"rest\s+(.+)", s)
    if m:
        return Step(text, 0.0, duration=parse_duration(m.group(1)))
    m = re.fullmatch(r"(discharge|charge)\s+([0-9.eE+-]+)\s*a\s+(for|until)\s+(.+)", s)
    if not m:
        raise ValueError(f"bad step {text!r}")
    amps = float(m.group(2)) * (1.0 if m.group(1) == "discharge" else -1.0)
    if m.group(3) == "for":
        return Step(text, amps, duration=parse_duration(m.group(4)))
    v = re.fullmatch(r"([0-9.eE+-]+)\s*v", m.group(4).strip())
    if not v:
        raise ValueError(f"bad voltage target in {text!r}")
    return Step(text, amps, until_v=float(v.group(1)))


@dataclass
class Segment:
    step: Step
    index: int
    t0: float
    t1: float
    current: float
    sol: Any  # OdeSolution (None for a zero-length segment)
    y0: np.ndarray
    y1: np.ndarray
    reason: str  # duration | target | v_min | v_max | soc_min | soc_max | already

    def y(self, t: float) -> np.ndarray:
        if self.sol is None or t <= self.t0:
            return self.y0 if t <= self.t0 else self.y1
        if t >= self.t1:
            return self.y1
        return np.asarray(self.sol(t))


@dataclass
class Result:
    model: Model
    segments: list[Segment] = field(default_factory=list)
    stopped: str | None = None  # reason the profile stopped early, if it did

    @property
    def t_end(self) -> float:
        return self.segments[-1].t1

    def state(self, t: float) -> np.ndarray:
        """Continuous state at absolute time t (states do not jump at boundaries)."""
        for seg in self.segments:
            if t <= seg.t1:
                return seg.y(t)
        return self.segments[-1].y1

    def segment_at(self, t: float, ending: bool = True) -> Segment:
        """Segment containing t; at a boundary, the ending one if ``ending``."""
        for k, seg in enumerate(self.segments):
            if t < seg.t1 or (ending and t == seg.t1):
                return seg
            if t == seg.t1 and k + 1 < len(self.segments):
                return self.segments[k + 1]
        return self.segments[-1]

    def voltage(self, t: float, current: float | None = None) -> float:
        seg = self.segment_at(t)
        return self.model.voltage(seg.y(t), seg.current if current is None else current)

    def cutoff_times(self) -> list[tuple[int, float]]:
        return [(s.index, s.t1) for s in self.segments if s.reason != "duration"]


def simulate(  # noqa: C901 - over 15 branches before the gate; to split
    p: CellParams,
    steps: list[Step] | list[str],
    soc0: float,
    temp_c: float,
    method: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    window_margin: float = 0.0,
) -> Result:
    """Run a profile.  ``window_margin`` widens the [v_min, v_max] stop events by that
    many volts (PyBaMM experiments move them by 1 V, so only SoC 0/1 and the steps' own
    targets stop a pybamm.Experiment)."""
    steps = [parse_step(s) if isinstance(s, str) else s for s in steps]
    model = Model(p, temp_c)
    n = model.n
    y = np.array([soc0] + [0.0] * n + [temp_c, temp_c], dtype=float)
    res = Result(model)
    t = 0.0
    for k, st in enumerate(steps):
        I = st.current

        def ev_vmin(_t: float, yy: np.ndarray, I: float = I) -> float:
            return model.voltage(yy, I) - (p.v_min - window_margin)

        def ev_vmax(_t: float, yy: np.ndarray, I: float = I) -> float:
            return model.voltage(yy, I) - (p.v_max + window_margin)

        def ev_soc0(_t: float, yy: np.ndarray) -> float:
            return float(yy[0])

        def ev_soc1(_t: float, yy: np.ndarray) -> float:
            return float(yy[0] - 1.0)

        events = [ev_vmin, ev_vmax, ev_soc0, ev_soc1]
        names = ["v_min", "v_max", "soc_min", "soc_max"]
        dirs = [-1, 1, -1, 1]
        if st.until_v is not None:
            target = st.until_v

            def ev_target(_t: float, yy: np.ndarray, I: float = I, target: float = target) -> float:
                return model.voltage(yy, I) - target

            events.append(ev_target)
            names.append("target")
            dirs.append(-1 if I > 0 else 1)
        for e, d in zip(events, dirs, strict=True):
            e.terminal = True  # type: ignore[attr-defined]
            e.direction = d  # type: ignore[attr-defined]

        # already past a limit at the start of the step?
        start_vals = [e(t, y) for e in events]
        already = [nm for nm, v, d in zip(names, start_vals, dirs, strict=True) if v * d > 0]
        if already:
            reason = "target" if "target" in already else already[0]
            res.segments.append(Segment(st, k, t, t, I, None, y.copy(), y.copy(), "already:" + reason))
            if reason != "target":
                res.stopped = f"step {k} ({st.text}): {reason} at start"
                break
            continue

        t_stop = t + (st.duration if st.duration is not None else 1e7)
        sol = solve_ivp(
            lambda tt, yy, I=I: model.rhs(tt, yy, I),
            (t, t_stop),
            y,
            method=method,
            rtol=rtol,
            atol=atol,
            events=events,
            dense_output=True,
            max_step=60.0,
        )
        if sol.status < 0:
            raise RuntimeError(f"solver failed in step {k}: {sol.message}")
        reason = "duration"
        t1 = float(sol.t[-1])
        y1 = sol.y[:, -1].copy()
        if sol.status == 1:
            hit = [(float(te[0]), nm) for te, nm in zip(sol.t_events, names, strict=True) if len(te)]
            t1 = min(h[0] for h in hit)
            hit_names = [nm for te_, nm in hit if te_ == t1]
            reason = "target" if "target" in hit_names else hit_names[0]
            ie = names.index(reason)
            y1 = sol.y_events[ie][0].copy()
            # scipy keeps only the first of simultaneous terminal events: a target equal
            # to a window limit (discharge until 3.2 V) must still count as the target
            if st.until_v is not None and abs(model.voltage(y1, I) - st.until_v) < 1e-9:
                reason = "target"
        elif st.duration is None:
            raise RuntimeError(f"step {k} ({st.text}) never reached its target")
        res.segments.append(Segment(st, k, t, t1, I, sol.sol, y.copy(), y1, reason))
        t, y = t1, y1
        if reason not in ("duration", "target"):
            res.stopped = f"step {k} ({st.text}): {reason} at t={t1:.6f} s"
            break
    return res


def sample(res: Result, dt: float) -> list[dict[str, float]]:
    """Rows at multiples of dt within each step plus every step boundary.

    The row at a boundary carries the ending step's current; the first row (t=0)
    carries the first step's current.
    """
    rows = []
    m = res.model
    n = m.n
    for k, seg in enumerate(res.segments):
        ts = []
        if k == 0:
            ts.append(seg.t0)
        j = math.floor(seg.t0 / dt + 1e-9) + 1
        while j * dt < seg.t1 - 1e-9:
            ts.append(round(j * dt, 9))
            j += 1
        if seg.t1 > seg.t0 or k == 0:
            ts.append(seg.t1)
        for tt in ts:
            yy = seg.y(tt)
            q_irr, q_rev = m.heat(yy, seg.current)
            row = {
                "t_s": tt,
                "step": seg.index,
                "current_a": seg.current,
                "voltage_v": m.voltage(yy, seg.current),
                "soc": yy[0],
                "t_cell_degc": yy[1 + n],
                "t_jig_degc": yy[2 + n],
                "q_irr_w": q_irr,
                "q_rev_w": q_rev,
            }
            for jj in range(n):
                row[f"v_rc{jj + 1}_v"] = yy[1 + jj]
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory with the ecm_example_*.csv tables")
    ap.add_argument("--soc0", type=float, required=True)
    ap.add_argument("--temp", type=float, default=25.0, help="initial cell/jig and ambient degC")
    ap.add_argument("--dt", type=float, default=1.0)
    ap.add_argument("--step", action="append", required=True)
    ap.add_argument("--rc2", nargs=2, type=float, metavar=("R2_OHM", "C2_F"))
    ap.add_argument("--method", default="DOP853")
    ap.add_argument("--out", default="-")
    a = ap.parse_args(argv)
    kw = {}
    if a.rc2:
        kw = {"r2": a.rc2[0], "c2": a.rc2[1]}
    p = CellParams.from_dir(a.data, **kw)
    res = simulate(p, a.step, a.soc0, a.temp, method=a.method)
    rows = sample(res, a.dt)
    if a.out == "-":
        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    else:
        with Path(a.out).open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
    for seg in res.segments:
        print(
            f"step {seg.index}: {seg.step.text!r} t={seg.t0:.6f}..{seg.t1:.6f} s ({seg.reason})",
            file=sys.stderr,
        )
    if res.stopped:
        print(f"profile stopped early: {res.stopped}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
