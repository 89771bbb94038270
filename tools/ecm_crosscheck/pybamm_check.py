"""Check reference.py against PyBaMM's own Thevenin model (optional; needs pybamm).

PyBaMM is not a project dependency; install it in a throwaway venv outside the repo::

    python3 -m venv /tmp/pybamm-venv && /tmp/pybamm-venv/bin/pip install pybamm
    PYBAMM_DISABLE_TELEMETRY=true /tmp/pybamm-venv/bin/python \
        tools/ecm_crosscheck/pybamm_check.py --data DIR_WITH_ECM_EXAMPLE_CSVS

It runs ``pybamm.equivalent_circuit.Thevenin`` with ``ParameterValues("ECM_Example")``
and a ``pybamm.Experiment`` for each profile of compare.py, and compares it with the
reference in the same way compare.py compares ``hil cell``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import C2_F, PROFILES, R2_OHM, compare_rows, find_data_dir, fmt_cut
from reference import CellParams, parse_step, simulate


def pybamm_step(text: str) -> str:
    st = parse_step(text)
    if st.current == 0:
        return f"Rest for {st.duration:g} seconds"
    verb = "Discharge" if st.current > 0 else "Charge"
    if st.duration is not None:
        return f"{verb} at {abs(st.current):g} A for {st.duration:g} seconds"
    return f"{verb} at {abs(st.current):g} A until {st.until_v:g} V"


def run_pybamm(prof, temp_c: float, period: str, rtol: float, atol: float):
    import pybamm  # optional dependency, imported only here

    options = {"number of rc elements": 2} if prof.rc2 else {}
    model = pybamm.equivalent_circuit.Thevenin(options=options)
    pv = pybamm.ParameterValues("ECM_Example")
    pv.update(
        {
            "Initial SoC": prof.soc0,
            "Initial temperature [K]": temp_c + 273.15,
            "Ambient temperature [K]": temp_c + 273.15,
        }
    )
    if prof.rc2:
        pv.update(
            {"R2 [Ohm]": R2_OHM, "C2 [F]": C2_F, "Element-2 initial overpotential [V]": 0.0},
            check_already_exists=False,
        )
    exp = pybamm.Experiment([pybamm_step(s) for s in prof.steps], period=period)
    solver = pybamm.IDAKLUSolver(rtol=rtol, atol=atol)
    sim = pybamm.Simulation(model, parameter_values=pv, experiment=exp, solver=solver)
    sol = sim.solve()
    out = {
        k: np.asarray(sol[v].entries, dtype=float)
        for k, v in [
            ("t_s", "Time [s]"),
            ("current_a", "Current [A]"),
            ("voltage_v", "Voltage [V]"),
            ("t_cell_degc", "Cell temperature [degC]"),
            ("soc", "SoC"),
        ]
    }
    return out, sol.termination


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--profiles", default="a,b,c,c2,c12,d")
    ap.add_argument("--temps", default="10,25,40")
    ap.add_argument("--period", default="1 second")
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--atol", type=float, default=1e-11)
    ap.add_argument(
        "--window-margin",
        type=float,
        default=1.0,
        help="widen the reference's 3.2/4.2 V stop events like pybamm.Experiment does (1 V)",
    )
    a = ap.parse_args(argv)
    try:
        import pybamm
    except ImportError:
        print("pybamm is not installed; see the module docstring", file=sys.stderr)
        return 2
    data = find_data_dir(a.data)
    p1 = CellParams.from_dir(data)
    p2 = CellParams.from_dir(data, r2=R2_OHM, c2=C2_F)
    print(f"pybamm {pybamm.__version__}; reference tables: {data}")
    hdr = (
        f"{'case':<9}{'max|dV| mV':>12}{'@t s':>10}{'max|dT| K':>11}{'@t s':>10}{'max|dSoC|':>11}"
        "  cut-off t(pybamm)-t(ref)     end pybamm/ref s"
    )
    print(hdr)
    print("-" * len(hdr))
    for key in a.profiles.split(","):
        prof = PROFILES[key]
        for temp in prof.temps or [float(x) for x in a.temps.split(",")]:
            name = f"{key}_{temp:g}C"
            ref = simulate(p2 if prof.rc2 else p1, prof.steps, prof.soc0, temp, window_margin=a.window_margin)
            t0 = time.time()
            try:
                d, term = run_pybamm(prof, temp, a.period, a.rtol, a.atol)
            except Exception as e:  # report and go on
                print(f"{name:<9}  pybamm failed: {type(e).__name__}: {str(e)[:200]}")
                continue
            m = compare_rows(
                ref,
                prof.steps,
                d["t_s"],
                d["current_a"],
                d["voltage_v"],
                d["t_cell_degc"],
                d["soc"],
            )
            print(
                f"{name:<9}{m.max_dv_mv:>12.2e}{m.t_at_max_dv:>10.1f}{m.max_dt_k:>11.2e}{m.t_at_max_dt:>10.1f}"
                f"{m.max_dsoc:>11.2e}  {fmt_cut(m, 3):<28}{m.end_other:>8.2f}/{m.end_ref:<9.2f}"
                f"  ({time.time() - t0:.0f}s; pybamm: {term}; ref: {ref.stopped or 'completed'})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
