"""Two EMS configurations (or versions) on the same runs: the diff, run by run.

A pair is the baseline's run and the candidate's at the same point (every other parameter
equal) and the same replicate (the same seed and fault sequence). Each pair is compared
expectation by expectation (passed in the baseline, failed in the candidate: a regression),
on its status (the candidate's run failing where the baseline's ran) and on every metric with
a known better direction (a bill, GPU-hours lost, the frequency excursion, NPV, ...): worse by
more than the tolerance is a regression. Nothing is averaged away: one regressed run is
flagged even when the candidate is better on average.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .model import CompareSpec

__all__ = ["DIRECTION", "Comparison", "Finding", "compare_runs"]

#: +1: higher is better; -1: lower is better. Metrics not here are shown, not judged.
DIRECTION: dict[str, int] = {
    "passed": +1,
    "expectations_failed": -1,
    "gpu_hours_lost": -1,
    "gpu_hours_lost_supply": -1,
    "f_excursion_hz": -1,
    "writes.rejected": -1,
    "bill.total": -1,
    "bill.energy_cost": -1,
    "bill.demand_cost": -1,
    "bill.savings.total": +1,
    "npv": +1,
    "irr": +1,
    "simple_payback_years": -1,
    "savings_year1.total": +1,
    "optimum_share": +1,
    "project.bill_total": -1,
    "project.peak_kw": -1,
}
#: judged on any change beyond rounding, not on the relative tolerance: safety, not money
STRICT = frozenset(
    {"passed", "expectations_failed", "gpu_hours_lost", "gpu_hours_lost_supply", "writes.rejected"}
)


@dataclass(frozen=True)
class Finding:
    pair: str  # "point 3, replicate 0" with the parameters
    what: str  # the expectation's name, "status" or the metric
    baseline: Any
    candidate: Any
    regression: bool  # False: an improvement
    baseline_run: str
    candidate_run: str


@dataclass
class Comparison:
    parameter: str
    baseline: Any
    candidate: Any
    pairs: int = 0
    unpaired: int = 0
    findings: list[Finding] = field(default_factory=list)
    totals: dict[str, tuple[float, float]] = field(default_factory=dict)  # metric -> sums (b, c)

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regression]

    @property
    def improvements(self) -> list[Finding]:
        return [f for f in self.findings if not f.regression]

    def as_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "pairs": self.pairs,
            "unpaired": self.unpaired,
            "regressions": [f.__dict__ for f in self.regressions],
            "improvements": [f.__dict__ for f in self.improvements],
            "totals": {k: {"baseline": b, "candidate": c} for k, (b, c) in self.totals.items()},
        }


def _key(value: Any) -> str:
    """A parameter's value as the results table holds it (numbers as floats, the rest as text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _worse(metric: str, b: float, c: float, tol: float, direction: int) -> bool | None:
    """True: c is worse than b beyond the tolerance; False: better; None: the same."""
    if math.isnan(b) or math.isnan(c):
        return None
    delta = (c - b) * direction  # > 0: better
    margin = 1e-09 * max(1.0, abs(b)) if metric in STRICT else tol * max(abs(b), 1e-09)
    if delta < -margin:
        return True
    if delta > margin:
        return False
    return None


def compare_runs(results: pa.Table, spec: CompareSpec, metrics: Sequence[str]) -> Comparison:
    """Pair the baseline's and the candidate's runs in ``results`` and list every difference."""
    col = f"p.{spec.parameter}"
    rows = results.to_pylist()
    params = [c for c in results.column_names if c.startswith("p.") and c != col]
    base_v, cand_v = _key(spec.baseline), _key(spec.candidate)
    sides: dict[str, dict[tuple[Any, ...], Mapping[str, Any]]] = {base_v: {}, cand_v: {}}
    for row in rows:
        v = _key(row[col])
        if v in sides:
            sides[v][(*(row[p] for p in params), row["replicate"])] = row
    cmp = Comparison(spec.parameter, spec.baseline, spec.candidate)
    cmp.unpaired = len(set(sides[base_v]) ^ set(sides[cand_v]))
    sums = {m: [0.0, 0.0] for m in metrics}
    for key in sorted(set(sides[base_v]) & set(sides[cand_v]), key=str):
        b, c = sides[base_v][key], sides[cand_v][key]
        cmp.pairs += 1
        label = ", ".join(
            [*(f"{p[2:]}={v}" for p, v in zip(params, key, strict=False)), f"replicate {key[-1]}"]
        )

        found: list[tuple[str, Any, Any, bool]] = []  # what, baseline, candidate, regression
        _compare_pair(b, c, metrics, spec.tolerance, found, sums)
        cmp.findings += [Finding(label, w, bv, cv, reg, b["run_id"], c["run_id"]) for w, bv, cv, reg in found]
    cmp.totals = {m: (s[0], s[1]) for m, s in sums.items()}
    return cmp


def _compare_pair(
    b: Mapping[str, Any],
    c: Mapping[str, Any],
    metrics: Sequence[str],
    tol: float,
    found: list[tuple[str, Any, Any, bool]],
    sums: dict[str, list[float]],
) -> None:
    """The differences between one baseline run and its candidate, appended to ``found``."""
    add = lambda *f: found.append(f)  # noqa: E731
    if b["status"] != c["status"]:
        add("status", b["status"], c["status"], c["status"] != "ok")
        return
    exps_b = {e["name"]: e.get("passed") for e in json.loads(b["detail"] or "{}").get("expectations", [])}
    exps_c = {e["name"]: e.get("passed") for e in json.loads(c["detail"] or "{}").get("expectations", [])}
    for name in sorted(exps_b.keys() | exps_c.keys()):
        pb, pc = exps_b.get(name), exps_c.get(name)
        if pb is True and pc is not True:
            add(f"expectation: {name}", pb, pc, True)
        elif pc is True and pb is not True:
            add(f"expectation: {name}", pb, pc, False)
    for m in metrics:
        bv, cv = b.get(f"m.{m}"), c.get(f"m.{m}")
        bf = math.nan if bv is None else float(bv)
        cf = math.nan if cv is None else float(cv)
        if not math.isnan(bf) and not math.isnan(cf):
            sums[m][0] += bf
            sums[m][1] += cf
        if m not in DIRECTION or (m == "passed" and (exps_b or exps_c)):
            continue  # an unjudged metric; a verdict already compared expectation by expectation
        worse = _worse(m, bf, cf, tol, DIRECTION[m])
        if worse is not None:
            add(m, bf, cf, worse)
