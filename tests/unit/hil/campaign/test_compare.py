"""The EMS comparison: pairs by point and replicate, every regression listed, none averaged away."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from hil.campaign.compare import compare_runs
from hil.campaign.model import CompareSpec
from hil.campaign.plan import RunSpec
from hil.campaign.plots import pareto_front
from hil.campaign.store import ResultSchema

METRICS = ["passed", "bill.total", "gpu_hours_lost", "max:grid.f_hz"]


def _row(
    i: int, ctl: str, rep: int, *, bill: float, lost: float, exps: dict[str, bool], status: str = "ok"
) -> dict[str, Any]:
    return {
        "index": i,
        "run_id": f"{i:05d}",
        "point": i // 2,
        "replicate": rep,
        "seed": None,
        "params": {"scenario": "s", "controller": ctl},
        "faults": [],
        "status": status,
        "error": None if status == "ok" else "boom",
        "metrics": {
            "passed": float(all(exps.values())),
            "bill.total": bill,
            "gpu_hours_lost": lost,
            "max:grid.f_hz": 50.1,
        },
        "detail": {
            "passed": all(exps.values()),
            "expectations": [{"name": k, "passed": v} for k, v in exps.items()],
        },
        "started": 0.0,
        "wall_s": 1.0,
        "worker": "w",
        "dir": f"runs/{i:05d}",
    }


def _table(rows: list[dict[str, Any]]) -> Any:
    specs = [
        RunSpec(r["index"], r["point"], r["replicate"], "scenario", "b", r["params"], {}, None) for r in rows
    ]
    return ResultSchema(specs, METRICS).table(rows)


def test_each_pair_is_diffed_expectation_by_expectation_and_bill_by_bill() -> None:
    ok = {"a": True, "b": True}
    rows = [
        _row(0, "v1", 0, bill=100.0, lost=0.0, exps=ok),
        _row(1, "v2", 0, bill=100.2, lost=0.0, exps=ok),  # within the 0.5 % tolerance: not a finding
        _row(2, "v1", 1, bill=100.0, lost=0.0, exps=ok),
        _row(3, "v2", 1, bill=90.0, lost=0.5, exps={"a": True, "b": False}),  # cheaper, but unsafe
        _row(4, "v1", 2, bill=100.0, lost=0.0, exps=ok),
        _row(5, "v2", 2, bill=0.0, lost=0.0, exps={}, status="failed"),
    ]
    cmp = compare_runs(
        _table(rows), CompareSpec(parameter="controller", baseline="v1", candidate="v2"), METRICS
    )
    assert cmp.pairs == 3
    reg = {(f.what, f.baseline_run, f.candidate_run) for f in cmp.regressions}
    assert reg == {
        ("expectation: b", "00002", "00003"),
        ("gpu_hours_lost", "00002", "00003"),
        ("status", "00004", "00005"),
    }
    assert [(f.what, f.candidate) for f in cmp.improvements] == [("bill.total", 90.0)]
    assert cmp.totals["bill.total"] == pytest.approx((200.0, 190.2))  # the failed pair is not summed
    json.dumps(cmp.as_dict(), default=str)


def test_swapping_the_sides_swaps_regressions_and_improvements() -> None:
    rows = [
        _row(0, "v1", 0, bill=100.0, lost=0.0, exps={"a": True}),
        _row(1, "v2", 0, bill=110.0, lost=0.0, exps={"a": False}),
    ]
    fwd = compare_runs(
        _table(rows), CompareSpec(parameter="controller", baseline="v1", candidate="v2"), METRICS
    )
    back = compare_runs(
        _table(rows), CompareSpec(parameter="controller", baseline="v2", candidate="v1"), METRICS
    )
    assert (
        {f.what for f in fwd.regressions}
        == {f.what for f in back.improvements}
        == {"expectation: a", "bill.total"}
    )
    assert back.regressions == []


def test_the_pareto_front_is_exactly_the_undominated_runs() -> None:
    rng = np.random.default_rng(3)
    cost = rng.integers(1, 8, 200).astype(float)  # many equal costs: the case that matters
    gain = rng.normal(size=200).round(1)

    def dominated(i: int) -> bool:  # another run costs no more and gains no less, one strictly
        better = (cost <= cost[i]) & (gain >= gain[i]) & ((cost < cost[i]) | (gain > gain[i]))
        return bool(better.any())

    front = pareto_front(cost, gain)
    assert {(cost[i], gain[i]) for i in front} == {(cost[i], gain[i]) for i in range(200) if not dominated(i)}
    assert not any(dominated(i) for i in front)
