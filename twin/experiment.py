"""Cell experiments: constant-current and rest steps with cut-offs, as on a cell cycler.

A step is written as on a bench: ``discharge 100 A until 3.2 V``, ``charge 50 A for
30 min``, ``rest 1 h``. Durations take ``ms``, ``s``, ``min``, ``h``. The experiment
advances a single cell with the exact ECM step under held current and locates voltage
cut-offs inside a step by root finding, so the step boundary is exact, not rounded to dt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from twin import units
from twin._interp import FloatArray
from twin.errors import ParameterError, ParameterIssue
from twin.models.cell import CellModel, CellParams
from twin.models.ecm import EcmState, ecm_step, terminal_voltage

__all__ = ["CellStep", "ExperimentResult", "parse_duration", "parse_step", "run_cell_experiment"]

_STEP = re.compile(
    r"^\s*(?P<kind>discharge|charge)\s+(?P<amps>[0-9]*\.?[0-9]+)\s*A\s+"
    r"(?:(?:for\s+(?P<dur>.+?))|(?:until\s+(?P<volts>[0-9]*\.?[0-9]+)\s*V))\s*$"
    r"|^\s*(?P<rest>rest)\s+(?:for\s+)?(?P<rdur>.+?)\s*$",
    re.IGNORECASE,
)


def parse_duration(text: str, *, allowed: Sequence[str] = ("ms", "s", "min", "h", "d")) -> float:
    """Seconds in ``text`` such as ``1 h``, ``30 min``, ``250 ms``: :func:`twin.units.parse_duration`
    (the scenario files' parser), limited to the units in ``allowed``."""
    try:
        return units.parse_duration(text, allowed=allowed)
    except units.UnitProblem as exc:
        raise ValueError(
            f"bad duration {text!r}: write a number and one of {', '.join(allowed)} (e.g. '30 min') ({exc})"
        ) from None


@dataclass(frozen=True, slots=True)
class CellStep:
    """One cycler step. ``current_a`` is positive on discharge."""

    text: str
    current_a: float
    duration_s: float | None = None
    until_v: float | None = None


def parse_step(text: str) -> CellStep:
    m = _STEP.match(text)
    if not m:
        raise ValueError(
            f"cannot read step {text!r}; write 'discharge|charge <x> A for <duration>', "
            "'discharge|charge <x> A until <v> V' or 'rest <duration>'"
        )
    if m.group("rest"):
        return CellStep(
            text, 0.0, duration_s=parse_duration(m.group("rdur"), allowed=("ms", "s", "min", "h"))
        )
    amps = float(m.group("amps"))
    current = amps if m.group("kind").lower() == "discharge" else -amps
    if m.group("volts") is not None:
        if amps == 0:
            raise ValueError(f"step {text!r}: a cut-off step needs a non-zero current")
        return CellStep(text, current, until_v=float(m.group("volts")))
    return CellStep(text, current, duration_s=parse_duration(m.group("dur"), allowed=("ms", "s", "min", "h")))


@dataclass(frozen=True)
class ExperimentResult:
    columns: dict[str, FloatArray]
    end_reasons: list[str]

    def to_csv(self) -> str:
        names = list(self.columns)
        lines = [",".join(names)]
        data = np.column_stack([self.columns[n] for n in names])
        lines += [
            ",".join(
                repr(float(v)) if not float(v).is_integer() or abs(v) > 1e15 else str(int(v)) for v in row
            )
            for row in data
        ]
        return "\n".join(lines) + "\n"


def run_cell_experiment(  # noqa: C901 - over 15 branches before the gate; to split
    params: CellParams,
    steps: Sequence[CellStep | str],
    *,
    soc0: float,
    temp_degc: float,
    dt: float,
    max_step_s: float = 7 * 86400.0,
    max_internal_step_s: float = 1.0,
) -> ExperimentResult:
    """Run ``steps`` on one cell from ``soc0`` at ``temp_degc`` (initial and ambient).

    Rows: one at t = 0, one every ``dt`` inside each step, and one at each step's end
    (its exact cut-off time when a voltage limit ends it). A row carries the current of
    the step it belongs to; the first row of a step is ``dt`` after its start. Rows more
    than ``max_internal_step_s`` apart are computed with internal sub-steps, so the answer
    does not depend on ``dt`` (lookups are held only over a sub-step).
    """
    issues = []
    if not 0.0 <= soc0 <= 1.0:
        issues.append(ParameterIssue(("soc0",), f"must be within 0..1, got {soc0}"))
    if not dt > 0:
        issues.append(ParameterIssue(("dt",), f"must be > 0 s, got {dt}"))
    parsed: list[CellStep] = []
    for k, s in enumerate(steps):
        try:
            parsed.append(s if isinstance(s, CellStep) else parse_step(s))
        except ValueError as exc:
            issues.append(ParameterIssue(("step", k), str(exc)))
    if issues:
        raise ParameterError(issues)
    model = CellModel(params)
    n_rc = model.n_rc
    one = np.ones(1)
    state = EcmState(one * soc0, np.zeros((n_rc, 1)), one * temp_degc, one * temp_degc)
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "t_s",
            "step",
            "current_a",
            "voltage_v",
            "soc",
            "ocv_v",
            "t_cell_degc",
            "t_jig_degc",
            "heat_w",
        )
    }
    for j in range(n_rc):
        cols[f"v_rc{j + 1}_v"] = []

    def record(t: float, k: int, i: float, st: EcmState, heat: float) -> None:
        cur = one * i
        cols["t_s"].append(t)
        cols["step"].append(float(k))
        cols["current_a"].append(i)
        cols["voltage_v"].append(float(terminal_voltage(model, st, cur)[0]))
        cols["soc"].append(float(st.soc[0]))
        cols["ocv_v"].append(float(model.ocv(st.soc)[0]))
        cols["t_cell_degc"].append(float(st.t_cell_degc[0]))
        cols["t_jig_degc"].append(float(st.t_jig_degc[0]))
        cols["heat_w"].append(heat)
        for j in range(n_rc):
            cols[f"v_rc{j + 1}_v"].append(float(st.v_rc[j, 0]))

    t = 0.0
    first = parsed[0].current_a if parsed else 0.0
    record(t, 0, first, state, 0.0)
    reasons: list[str] = []
    cache: dict[float, tuple[FloatArray, FloatArray]] = {}
    soc_eps = 1e-12
    for k, step in enumerate(parsed):
        cur = one * step.current_a
        limit = step.duration_s if step.duration_s is not None else max_step_s
        elapsed = 0.0
        reason = "duration"
        soc_now = float(state.soc[0])
        if (step.current_a > 0 and soc_now <= soc_eps) or (step.current_a < 0 and soc_now >= 1 - soc_eps):
            reasons.append("soc limit at start")
            continue
        if step.until_v is not None:
            v_now = float(terminal_voltage(model, state, cur)[0])
            if (step.current_a > 0 and v_now <= step.until_v) or (
                step.current_a < 0 and v_now >= step.until_v
            ):
                reasons.append("cut-off at start")
                continue
        while elapsed < limit - 1e-6:
            h = min(dt, limit - elapsed)
            if limit - elapsed - h < 1e-6:
                h = limit - elapsed
            new, heat = _advance(model, state, cur, h, temp_degc, max_internal_step_s, cache)
            soc1 = float(new.soc[0])
            soc_out = (step.current_a > 0 and soc1 < 0.0) or (step.current_a < 0 and soc1 > 1.0)
            crossed = False
            if step.until_v is not None:
                v1 = float(terminal_voltage(model, new, cur)[0])
                crossed = (v1 <= step.until_v) if step.current_a > 0 else (v1 >= step.until_v)
            if crossed or soc_out:
                h_hit = _locate_event(
                    model,
                    state,
                    cur,
                    h,
                    temp_degc,
                    step.until_v,
                    step.current_a,
                    max_internal_step_s,
                    cache,
                )
                state, heat = _advance(model, state, cur, h_hit, temp_degc, max_internal_step_s, cache)
                elapsed += h_hit
                t += h_hit
                record(t, k, step.current_a, state, heat)
                reason = "cut-off" if crossed else "soc limit"
                break
            state = new
            elapsed += h
            t += h
            record(t, k, step.current_a, state, heat)
        else:
            if step.until_v is not None:
                reason = "max step time"
        reasons.append(reason)
    return ExperimentResult({k: np.asarray(v) for k, v in cols.items()}, reasons)


def _advance(
    model: CellModel,
    state: EcmState,
    cur: FloatArray,
    h: float,
    temp: float,
    max_h: float,
    cache: dict[float, tuple[FloatArray, FloatArray]],
) -> tuple[EcmState, float]:
    """Advance by ``h`` in equal sub-steps no longer than ``max_h``; returns the state and
    the mean heat generation."""
    n = max(1, math.ceil(h / max_h - 1e-9))
    sub = h / n
    th = cache.get(sub)
    if th is None:
        th = model.thermal_step_matrices(sub)
        if len(cache) < 64:
            cache[sub] = th
    heat = 0.0
    for _ in range(n):
        res = ecm_step(model, state, cur, sub, temp, thermal=th)
        state = res.state
        heat += float(res.heat_w[0]) / n
    return state, heat


def _locate_event(
    model: CellModel,
    state: EcmState,
    cur: FloatArray,
    h: float,
    temp_degc: float,
    v_limit: float | None,
    current: float,
    max_h: float,
    cache: dict[float, tuple[FloatArray, FloatArray]],
) -> float:
    """Time within (0, h] where the voltage reaches ``v_limit`` (or SoC reaches 0/1)."""

    def g(x: float) -> float:
        st, _ = _advance(model, state, cur, x, temp_degc, max_h, cache)
        out = math.inf
        if v_limit is not None:
            v = float(terminal_voltage(model, st, cur)[0])
            out = (v - v_limit) if current > 0 else (v_limit - v)
        soc = float(st.soc[0])
        soc_margin = soc if current > 0 else 1.0 - soc
        return min(out, soc_margin)

    tiny = min(1e-9, h * 1e-6)
    if g(tiny) <= 0:
        return tiny
    if g(h) > 0:  # rounding: the event is at the end of the interval
        return h
    return float(brentq(g, tiny, h, xtol=1e-9, rtol=1e-12))
