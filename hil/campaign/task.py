"""One campaign run as a pure task: its :class:`RunSpec` in, its result row out, its artefacts
in ``<out>/runs/<run_id>/``.

The task is what a Dask worker calls, and what a test calls one by one to check the campaign:
the same spec gives the same row anywhere (the seed and the fault sequence are in the spec).
It never raises for a run that goes wrong: the row says ``status: failed`` and carries the
error, so one bad point does not stop the campaign.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any

import numpy as np

from hil.config import beside, load_yaml
from hil.errors import ConfigError
from hil.roi import run_study
from hil.roi_io import write_roi
from hil.run.prepare import prepare_run
from hil.run.runner import RealTime, run_scenario
from hil.scenario import parse_scenario
from hil.study import parse_study
from hil.tariff import load_tariff
from hil.trace.store import read_trace, read_trace_schema

from .model import AGGREGATES
from .plan import RunSpec, run_document

__all__ = ["DEFAULT_METRICS", "pick_units", "result_row", "run_one", "scenario_doc", "study_doc"]

#: what a campaign collects when its file names no metrics
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "study": (
        "npv",
        "simple_payback_years",
        "irr",
        "capex",
        "savings_year1.total",
        "optimum_savings_year1.total",
        "optimum_share",
        "project.bill_total",
        "project.peak_kw",
    ),
    "scenario": (
        "passed",
        "expectations_failed",
        "gpu_hours_lost",
        "gpu_hours_lost_supply",
        "f_excursion_hz",
        "bill.total",
        "bill.savings.total",
        "writes.rejected",
    ),
}


def study_doc(spec: RunSpec, out: Path) -> tuple[Any, Any]:
    """The study a run plays: the base with the parameters over it (a varied tariff in ``out``)."""
    data, lines = load_yaml(Path(spec.base))
    return run_document("study", data, spec.overrides, Path(spec.base), out), lines


def scenario_doc(spec: RunSpec, out: Path) -> tuple[Any, Any, dict[int, float]]:
    """The scenario a run plays: the base, its seed, the parameters over it
    (:func:`hil.campaign.plan.scenario_with`), the drawn faults after its own events; and
    which of those events pick a unit of their target kind (event index -> the draw)."""
    data, lines = load_yaml(Path(spec.base))
    doc = run_document("scenario", data, spec.overrides, Path(spec.base), out, spec.seed)
    picks: dict[int, float] = {}
    if spec.faults:
        own = list(doc.get("events") or [])
        drawn = []
        for j, ev in enumerate(spec.faults):
            fault = dict(ev["fault"])
            if "_unit" in fault:
                picks[len(own) + j] = float(fault.pop("_unit"))
            drawn.append({**ev, "fault": fault})
        doc["events"] = [*own, *drawn]
    return doc, lines, picks


def pick_units(scenario: Any, devices: Sequence[Any], picks: Mapping[int, float]) -> list[dict[str, Any]]:
    """Point each drawn fault whose target is a kind at one device of that kind (the draw's
    fraction of the way through them, by name), in the parsed scenario; what was struck."""
    struck = []
    for k, ev in enumerate(scenario.events):
        index = ev.where[1] if len(ev.where) > 1 and isinstance(ev.where[1], int) else -1
        if ev.action != "fault" or index not in picks:
            continue
        names = sorted(d.name for d in devices if d.kind == ev.spec.target)
        if names:
            target = names[min(int(picks[index] * len(names)), len(names) - 1)]
            scenario.events[k] = dc_replace(ev, spec=dc_replace(ev.spec, target=target))
        fs = scenario.events[k].spec
        struck.append({"t_s": ev.t_s, "type": fs.type, "target": fs.target, "duration_s": fs.duration})
    return struck


def _dig(tree: Any, path: str) -> Any:
    cur = tree
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _number(x: Any) -> float:
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, (int, float, np.number)):
        return float(x)
    if isinstance(x, Mapping) and "max" in x and isinstance(x["max"], (int, float)):  # peak_kw_by_month-like
        return float(x["max"])
    return math.nan


_AGG: dict[str, Callable[[np.ndarray], Any]] = {
    "min": np.min,
    "max": np.max,
    "mean": np.mean,
    "first": lambda a: a[0],
    "last": lambda a: a[-1],
    "absmax": lambda a: np.max(np.abs(a)),
}


def _aggregate(values: np.ndarray, how: str) -> float:
    """``how`` over the finite samples (NaN when there are none)."""
    v = values[np.isfinite(values)]
    return float(_AGG[how](v)) if v.size else math.nan


def _trace_metrics(out: Path, names: Sequence[str]) -> dict[str, float]:
    wanted = {m: m.partition(":") for m in names if ":" in m}
    if not wanted or not (out / "trace.parquet").exists():
        return dict.fromkeys(wanted, math.nan)
    have = set(read_trace_schema(out).names)
    signals = sorted({sig for _a, _s, sig in wanted.values() if sig in have})
    table = read_trace(out, signals) if signals else None
    got: dict[str, float] = {}
    for m, (agg, _sep, sig) in wanted.items():
        if table is None or sig not in have:
            got[m] = math.nan
            continue
        assert agg in AGGREGATES
        got[m] = _aggregate(np.asarray(table.column(sig).to_numpy(zero_copy_only=False), dtype=float), agg)
    return got


def _study(spec: RunSpec, out: Path) -> tuple[dict[str, float], dict[str, Any]]:
    doc, lines = study_doc(spec, out)
    study = parse_study(doc, path=Path(spec.base), lines=lines)
    tariff = load_tariff(beside(study.path, study.spec.tariff))
    roi, series = run_study(study, tariff)
    write_roi(out, roi, series, report=False)
    project = roi.get("project") or {}
    derived = {"project.peak_kw": max((project.get("peak_kw_by_month") or {"": math.nan}).values())}
    names = spec.metrics or DEFAULT_METRICS["study"]
    metrics = {m: _number(derived[m] if m in derived else _dig(roi, m)) for m in names if ":" not in m}
    metrics.update(_trace_metrics(out, names))
    return metrics, {"passed": None}


def _scenario(spec: RunSpec, out: Path) -> tuple[dict[str, float], dict[str, Any]]:
    doc, lines, picks = scenario_doc(spec, out)
    if spec.external is not None:
        doc["controller"] = "external"  # the EMS in its own process is the controller
    sc = parse_scenario(doc, path=Path(spec.base), lines=lines)
    prepared = prepare_run(sc, site=spec.site, ports=(0, 0) if spec.external is not None else None)
    struck = pick_units(prepared.scenario, prepared.gateway.devices, picks)
    f_nom = float(prepared.site.params.grid.f_nom_hz)
    ems: dict[str, Any] = {}
    if spec.external is None:
        outcome = asyncio.run(run_scenario(prepared, out_dir=out, serve=False, report=False))
    else:
        outcome = asyncio.run(run_with_external(prepared, out, spec, ems))
    res = outcome.results
    exps = res.get("expectations") or []
    derived: dict[str, float] = {
        "passed": 1.0 if outcome.passed else 0.0,
        "expectations_failed": float(sum(1 for e in exps if e.get("passed") is False)),
    }
    names = spec.metrics or DEFAULT_METRICS["scenario"]
    own = ["last:site.gpu_hours_lost", "last:site.gpu_hours_lost_supply", "min:grid.f_hz", "max:grid.f_hz"]
    trace = _trace_metrics(out, [*own, *(m for m in names if ":" in m)])  # one read of the trace
    derived["gpu_hours_lost"] = trace["last:site.gpu_hours_lost"]
    derived["gpu_hours_lost_supply"] = trace["last:site.gpu_hours_lost_supply"]
    derived["f_excursion_hz"] = max(trace["max:grid.f_hz"] - f_nom, f_nom - trace["min:grid.f_hz"])
    metrics = {m: derived[m] if m in derived else _number(_dig(res, m)) for m in names if ":" not in m}
    metrics.update({m: trace[m] for m in names if ":" in m})
    detail = {
        "passed": bool(outcome.passed),
        "expectations": [{"name": e.get("name"), "passed": e.get("passed")} for e in exps],
        "fault_types": sorted({f["fault"]["type"] for f in spec.faults}),
        "faults": struck,
        **({"external": ems} if spec.external is not None else {}),
        "scenario": sc.name,
    }
    return metrics, detail


async def run_with_external(prepared: Any, out: Path, spec: RunSpec, ems: dict[str, Any]) -> Any:
    """Play ``prepared`` paced, its endpoints on free loopback ports, with the external EMS's
    command started once they are up (its output in ``ems.log``) and stopped at the end;
    ``ems`` gets its command line and exit status."""
    ext = spec.external
    assert ext is not None
    speed = float(ext["speed"])
    procs: list[asyncio.subprocess.Process] = []
    log = (out / "ems.log").open("wb")

    def on_start(runner: Any) -> None:
        fields = {
            "python": sys.executable,
            "host": "127.0.0.1",
            "modbus_port": runner.modbus[0].port if runner.modbus else "",
            "opcua_url": runner.opcua.url if runner.opcua is not None else "",
            "speed": f"{speed:g}",
            "duration_s": f"{prepared.scenario.duration_s:g}",
            "wall_s": f"{prepared.scenario.duration_s / speed:g}",
            "run_dir": str(out),
            "campaign_dir": spec.campaign_dir,
        }
        argv = [arg.format(**fields) for arg in ext["command"]]
        ems["command"] = argv

        async def start() -> None:
            procs.append(
                await asyncio.create_subprocess_exec(*argv, stdout=log, stderr=asyncio.subprocess.STDOUT)
            )

        starting.append(asyncio.get_running_loop().create_task(start()))

    starting: list[asyncio.Task[None]] = []
    try:
        outcome = await run_scenario(
            prepared,
            out_dir=out,
            pacer=RealTime(speed=speed),
            protocols=tuple(ext["protocols"]),
            on_start=on_start,
            report=False,
        )
    finally:
        for t in starting:
            await t
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), float(ext["stop_after_s"]))
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            ems["exit"] = proc.returncode
        log.close()
    return outcome


def run_one(spec: RunSpec, out_dir: str) -> dict[str, Any]:
    """Run ``spec`` into ``<out_dir>/runs/<run_id>/``; the results table's row (never raises
    for the run's own failure: ``status`` is ``failed`` and ``error`` says why)."""
    out = Path(out_dir) / "runs" / spec.run_id
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    wall0 = time.perf_counter()
    status, error = "ok", None
    metrics: dict[str, float] = {}
    detail: dict[str, Any] = {}
    try:
        metrics, detail = _study(spec, out) if spec.kind == "study" else _scenario(spec, out)
    except ConfigError as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # a run that goes wrong is a row, not the end of the campaign
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return result_row(spec, status, error, metrics, detail, started=t0, wall_s=time.perf_counter() - wall0)


def result_row(
    spec: RunSpec,
    status: str,
    error: str | None,
    metrics: Mapping[str, float],
    detail: Mapping[str, Any],
    *,
    started: float | None,
    wall_s: float | None,
) -> dict[str, Any]:
    """A run's row in the results table (:class:`hil.campaign.store.ResultSchema` writes it)."""
    return {
        "index": spec.index,
        "run_id": spec.run_id,
        "point": spec.point,
        "replicate": spec.replicate,
        "seed": spec.seed,
        "params": spec.params,
        "faults": spec.faults,
        "status": status,
        "error": error,
        "metrics": dict(metrics),
        "detail": dict(detail),
        "started": started,
        "wall_s": wall_s,
        "worker": f"{socket.gethostname()}:{os.getpid()}" if started is not None else None,
        "dir": f"runs/{spec.run_id}",
    }
