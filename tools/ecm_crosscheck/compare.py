"""Compare ``hil cell`` against the independent reference ECM (reference.py).

Runs ``hil cell`` through a subprocess for each profile and temperature, runs the
reference (scipy solve_ivp, rtol 1e-10) on the same profile, and prints max |dV| (mV),
max |dT_cell| (K), max |dSoC| and the difference of the cut-off times.

How the two are put on common time points: the reference's states (SoC, V_RC, T_cell,
T_jig) are continuous across step boundaries, so they are evaluated from its dense
output at every time stamp of the ``hil cell`` CSV; the terminal voltage, which jumps
with the current at a boundary, is then recomputed from that state with the current of
the CSV row (V = OCV - I R0 + sum V_j).  Rows at a boundary (two rows sharing a time,
or the row carrying the ending step's current) thus compare like with like, and a
cut-off found a few ms apart does not show up as an I*R0 jump.

Usage::

    .venv/bin/python tools/ecm_crosscheck/compare.py \
        [--hil .venv/bin/hil] [--data DIR_WITH_ECM_EXAMPLE_CSVS] \
        [--profiles a,b,c,c2,c12,d] [--temps 10,25,40] [--dt 0.1] [--keep DIR]

Exit status 1 if any compared case misses 1 mV / 0.05 K.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import CellParams, Result, parse_step, simulate

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA_CANDIDATES = [
    REPO / "twin" / "data" / "cells" / "ecm_example_100ah",
]

R2_OHM = 0.3e-3
C2_F = 1000.0 / 0.3e-3

V_TOL_MV = 1.0
T_TOL_K = 0.05

_PULSE = [
    "discharge 200 A for 10 s",
    "rest 60 s",
    "charge 100 A for 10 s",
    "rest 60 s",
    "discharge 100 A for 30 min",
]


@dataclass
class Profile:
    key: str
    soc0: float
    steps: list[str]
    params: str = "ecm_example_100ah"
    rc2: bool = False
    temps: tuple[float, ...] | None = None  # None: use --temps
    note: str = ""


PROFILES = {
    "a": Profile("a", 0.99, ["discharge 100 A until 3.2 V", "rest 1 h"], note="CC 100 A dis + 1 h rest"),
    "b": Profile("b", 0.10, ["charge 50 A until 4.1 V", "rest 30 min"], note="CC 50 A chg + 30 min rest"),
    # as briefed: 4 x (pulses + 100 A for 30 min = 0.5 SoC) from 0.9 cannot complete; the
    # cell reaches 3.2 V in the second 30-min discharge and PyBaMM-style the profile stops
    "c": Profile("c", 0.90, _PULSE * 4, note="pulses, 4x(... 100 A 30 min); hits 3.2 V in cycle 2"),
    # the first two cycles of c only: ends on the SoC = 0 limit if the 3.2 V stop is not
    # applied inside "for" steps (run with --window-margin 1, as pybamm.Experiment does)
    "c2": Profile("c2", 0.90, _PULSE * 2, note="2 cycles of c"),
    # same pulses with 12-min discharges: pulses at SoC ~0.9, 0.7, 0.5, 0.3, runs to the end
    "c12": Profile(
        "c12",
        0.90,
        [s.replace("30 min", "12 min") for s in _PULSE] * 4,
        note="pulses at SoC 0.9/0.7/0.5/0.3",
    ),
    "d": Profile(
        "d",
        0.99,
        ["discharge 100 A until 3.2 V", "rest 1 h"],
        params="ecm_example_100ah_2rc",
        rc2=True,
        temps=(25.0,),
        note="2-RC variant of (a)",
    ),
}


def find_data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    for c in DEFAULT_DATA_CANDIDATES:
        if (c / "ecm_example_r0.csv").exists():
            return c
    raise SystemExit("no ECM table directory found; pass --data")


def read_csv(path: Path | str) -> dict[str, np.ndarray]:
    with Path(path).open(newline="") as f:
        rd = csv.DictReader(f)
        cols: dict[str, list[float]] = {k: [] for k in rd.fieldnames or []}
        for row in rd:
            for k, v in row.items():
                try:
                    cols[k].append(float(v))
                except (TypeError, ValueError):
                    cols[k].append(float("nan"))
    return {k: np.asarray(v) for k, v in cols.items()}


def step_currents(steps: list[str]) -> list[float]:
    return [parse_step(s).current for s in steps]


def assign_steps(t: np.ndarray, cur: np.ndarray, currents: list[float]) -> np.ndarray:
    """Step index of each row, walking the profile by the row's current (-1: no match)."""
    k = 0
    out = np.full(len(t), -1)
    for i, c in enumerate(cur):
        if abs(c - currents[k]) < 1e-6:
            out[i] = k
        elif k + 1 < len(currents) and abs(c - currents[k + 1]) < 1e-6:
            k += 1
            out[i] = k
    return out


def ref_states(ref: Result, t: np.ndarray) -> np.ndarray:
    """Reference state vectors (columns) at the times t, clamped to the reference's end."""
    t = np.minimum(t, ref.t_end)
    ys = np.full((len(ref.segments[0].y0), len(t)), np.nan)
    done = np.zeros(len(t), bool)
    for s in ref.segments:
        mask = (~done) & (t <= s.t1)
        if not mask.any():
            continue
        if s.sol is None:
            ys[:, mask] = s.y1[:, None]
        else:
            ys[:, mask] = s.sol(np.clip(t[mask], s.t0, s.t1))
        done |= mask
    return ys


@dataclass
class Metrics:
    n_rows: int
    n_compared: int
    max_dv_mv: float
    t_at_max_dv: float
    max_dt_k: float
    t_at_max_dt: float
    max_dsoc: float
    cutoff_dt_s: list[tuple[int, float, float]]  # (step, t_other, t_ref)
    end_other: float
    end_ref: float
    current_mismatch: int
    note: str = ""

    def ok(self) -> bool:
        return self.max_dv_mv <= V_TOL_MV and self.max_dt_k <= T_TOL_K


def compare_rows(
    ref: Result,
    steps: list[str],
    t: np.ndarray,
    cur: np.ndarray,
    v: np.ndarray,
    tc: np.ndarray,
    soc: np.ndarray | None = None,
) -> Metrics:
    m = ref.model
    n = m.n
    t_end = ref.t_end
    sel = t <= t_end + 1e-6
    dv = np.full(len(t), np.nan)
    dT = np.full(len(t), np.nan)
    ds = np.full(len(t), np.nan)
    mismatch = 0
    bounds = np.array([s.t1 for s in ref.segments])
    ys = ref_states(ref, t)
    for i in np.nonzero(sel)[0]:
        y = ys[:, i]
        dv[i] = v[i] - m.voltage(y, float(cur[i]))
        dT[i] = tc[i] - y[1 + n]
        if soc is not None:
            ds[i] = soc[i] - y[0]
        # is the row's current one the reference has at that time (either side of a boundary)?
        ok = any(s.t0 - 1e-6 <= t[i] <= s.t1 + 1e-6 and abs(s.current - cur[i]) < 1e-6 for s in ref.segments)
        if not ok and np.min(np.abs(bounds - t[i])) > 1.0:
            mismatch += 1
    iv = int(np.nanargmax(np.abs(dv)))
    it = int(np.nanargmax(np.abs(dT)))
    # cut-off times: end of each reference step that did not end on its duration
    idx = assign_steps(t, cur, step_currents(steps))
    cut = []
    for s in ref.segments:
        if s.reason == "duration":
            continue
        rows = np.nonzero(idx == s.index)[0]
        t_other = float(t[rows].max()) if len(rows) else float("nan")
        cut.append((s.index, t_other, s.t1))
    return Metrics(
        n_rows=len(t),
        n_compared=int(sel.sum()),
        max_dv_mv=float(abs(dv[iv]) * 1e3),
        t_at_max_dv=float(t[iv]),
        max_dt_k=float(abs(dT[it])),
        t_at_max_dt=float(t[it]),
        max_dsoc=float(np.nanmax(np.abs(ds))) if soc is not None else float("nan"),
        cutoff_dt_s=cut,
        end_other=float(t.max()),
        end_ref=t_end,
        current_mismatch=mismatch,
    )


def run_hil(hil: str, prof: Profile, temp: float, dt: float, out: Path) -> tuple[bool, str, float]:
    cmd = [
        hil,
        "cell",
        "--params",
        prof.params,
        "--soc0",
        str(prof.soc0),
        "--temp",
        str(temp),
        "--dt",
        str(dt),
    ]
    for s in prof.steps:
        cmd += ["--step", s]
    cmd += ["--out", str(out)]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return p.returncode == 0 and out.exists(), (p.stdout + p.stderr).strip(), time.time() - t0


def fmt_cut(m: Metrics, digits: int = 2) -> str:
    if not m.cutoff_dt_s:
        return "-"
    return ", ".join(f"s{k}:{(a - b) * 1e3:+.{digits}f}ms" for k, a, b in m.cutoff_dt_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="hil cell vs independent reference ECM")
    ap.add_argument("--hil", default=str(REPO / ".venv" / "bin" / "hil"))
    ap.add_argument("--data", default=None, help="ECM table directory for the reference")
    ap.add_argument("--profiles", default="a,b,c,c2,c12,d")
    ap.add_argument("--temps", default="10,25,40")
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--keep", default=None, help="keep the CSVs in this directory")
    ap.add_argument("--method", default="DOP853", help="reference solve_ivp method")
    ap.add_argument(
        "--window-margin",
        type=float,
        default=0.0,
        help="widen the reference's 3.2/4.2 V stop events (1.0 mimics pybamm.Experiment)",
    )
    a = ap.parse_args(argv)

    data = find_data_dir(a.data)
    hil = a.hil if Path(a.hil).exists() else (shutil.which(a.hil) or a.hil)
    p1 = CellParams.from_dir(data)
    p2 = CellParams.from_dir(data, r2=R2_OHM, c2=C2_F)
    temps = [float(x) for x in a.temps.split(",")]
    workdir = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="ecm_xcheck_"))
    workdir.mkdir(parents=True, exist_ok=True)

    print(f"reference tables: {data}\nhil: {hil}\n")
    hdr = (
        f"{'case':<9}{'T0 degC':>8}{'max|dV| mV':>12}{'@t s':>10}{'max|dT| K':>11}{'@t s':>10}"
        f"{'max|dSoC|':>11}  cut-off t(hil)-t(ref)        end hil/ref s      ok"
    )
    print(hdr)
    print("-" * len(hdr))
    all_ok = True
    for key in a.profiles.split(","):
        prof = PROFILES[key]
        for temp in prof.temps or temps:
            name = f"{key}_{temp:g}C"
            ref = simulate(
                p2 if prof.rc2 else p1,
                prof.steps,
                prof.soc0,
                temp,
                method=a.method,
                window_margin=a.window_margin,
            )
            out = workdir / f"hil_{name}.csv"
            ok, log, secs = run_hil(hil, prof, temp, a.dt, out)
            if not ok:
                all_ok = False
                last = log.splitlines()[-1] if log else "no output"
                print(f"{name:<9}{temp:>8g}  hil cell failed: {last}")
                continue
            d = read_csv(out)
            m = compare_rows(
                ref,
                prof.steps,
                d["t_s"],
                d["current_a"],
                d["voltage_v"],
                d["t_cell_degc"],
                d.get("soc"),
            )
            good = m.ok()
            all_ok &= good
            print(
                f"{name:<9}{temp:>8g}{m.max_dv_mv:>12.4f}{m.t_at_max_dv:>10.1f}{m.max_dt_k:>11.5f}"
                f"{m.t_at_max_dt:>10.1f}{m.max_dsoc:>11.2e}  {fmt_cut(m):<28}"
                f"{m.end_other:>8.2f}/{m.end_ref:<9.2f}{'OK' if good else 'FAIL'}"
                + (f"  [{m.current_mismatch} rows: current differs]" if m.current_mismatch else "")
                + (f"  ({m.n_rows - m.n_compared} rows past ref end)" if m.n_compared < m.n_rows else "")
                + f"  hil {secs:.1f}s"
            )
            if ref.stopped:
                print(f"{'':<9}  reference stopped early: {ref.stopped}")
    print(f"\ntarget: |dV| <= {V_TOL_MV} mV and |dT_cell| <= {T_TOL_K} K; CSVs in {workdir}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
