"""Chaos runs: the whole fault catalogue, grid and workload events in random seeded order.

:func:`generate` turns a seed into an ordinary scenario (plain data, parsed and validated by
:func:`hil.scenario.parse_scenario` like any file): every registered fault type in
:data:`hil.faults.FAULTS` once, on a random target of a kind it applies to, at a random time
for a random duration, mixed with grid events (outages, voltage sags and swells, frequency
excursions, RoCoF) and workload events (GPU jobs failing, stopping, starting, checkpoints, PV
clouds), with an in-process controller in the loop. :func:`run_seed` plays it through the
normal :func:`hil.run.runner.run_scenario` (Modbus served on free loopback ports, the trace at
every tick) and checks, at every tick and every traced row:

* the site energy balance closes (``Site.energy_balance``: residual ≤ 1e-6 of the supplied);
* every state of charge is within [0, 100] %;
* no NaN or infinity (except where NaN is a declared value, :data:`NAN_ALLOWED`), and no
  negative value in a signal that cannot be negative (:func:`non_negative`: by the unit
  suffix where it says so, else the table :data:`NON_NEGATIVE`);
* the run raises nothing and the trace has one row per tick.

``tools/chaos.py`` runs many seeds and writes the violations as JSON.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from hil.run.runner import prepare_run, run_scenario
from hil.wire.gateway import Gateway

from .config import load_bench
from .errors import ConfigError
from .faults import FAULTS
from .scenario import parse_scenario

__all__ = [
    "NAN_ALLOWED",
    "NON_NEGATIVE",
    "ChaosResult",
    "DeviceInfo",
    "check_trace",
    "generate",
    "non_negative",
    "run_seed",
    "run_seed_async",
    "site_devices",
]

BALANCE_TOL = 1e-6  # residual / supplied, as tests/unit/twin/test_energy_balance.py
BALANCE_ABS_KWH = 1e-9  # the first ticks supply almost nothing: float noise only

#: unit suffixes of quantities with a direction or an offset (a flow, a temperature, an angle,
#: a current, a voltage difference): may be negative
SIGNED_UNITS = ("_kw", "_kvar", "_a", "_degc", "_deg", "_mv", "_hz")
#: unit suffixes of magnitudes (energy counters and contents, percentages, voltages, per-unit
#: voltages, fuel, times): never negative
UNSIGNED_UNITS = ("_kwh", "_pct", "_v", "_pu", "_l", "_s")
#: signals with a signed unit (or none) that cannot be negative all the same, and why
NON_NEGATIVE: dict[str, str] = {
    "site.p_it_kw": "IT load is consumption",
    "site.p_cooling_kw": "cooling is consumption",
    "site.p_aux_kw": "auxiliaries are consumption",
    "site.p_facility_kw": "the facility consumes",
    "gpu.p_kw": "GPU rack power is consumption",
    "pcs.loss_kw": "losses are dissipated",
    "bess.loss_kw": "losses are dissipated",
    "ups.loss_kw": "losses are dissipated",
    "pcs.aux_kw": "auxiliaries are consumption",
    "pcs.p_max_ch_kw": "a capability, a magnitude",
    "pcs.p_max_dis_kw": "a capability, a magnitude",
    "bms.ccl_a": "a current limit, a magnitude",
    "bms.dcl_a": "a current limit, a magnitude",
    "pv.p_ac_kw": "PV generates only",
    "site.racks_dark": "a count",
    "site.chillers_on": "a count",
    "pcs.running_count": "a count",
    "bms.alarm_count": "a count",
    "site.gpu_hours_lost": "a counter",
    "site.gpu_hours_lost_supply": "a counter",
}
#: signals whose unit is a magnitude's but that are differences, so may be negative
SIGNED_EXCEPTIONS: dict[str, str] = {
    "grid.reclose_dv_pu": "a voltage difference across the breaker",
}
#: signals where NaN is a declared value, not a fault, and why
NAN_ALLOWED: dict[str, str] = {
    "grid.reclose_df_hz": "NaN until the first reclose synchronism check (twin/site.py)",
    "grid.reclose_dphi_deg": "NaN until the first reclose synchronism check",
    "grid.reclose_dv_pu": "NaN until the first reclose synchronism check",
}
SOC_SIGNALS = ("soc_pct", "soc_est_pct", "soc_min_pct")


def _base(column: str) -> str:
    """``pcs[3].p_ac_kw`` → ``pcs.p_ac_kw``."""
    dev, _, sig = column.partition(".")
    return f"{dev.split('[')[0]}.{sig}"


def non_negative(column: str) -> bool:
    """Whether a trace column may never be negative (by unit suffix, else the tables)."""
    name = _base(column)
    if name in NON_NEGATIVE:
        return True
    if name in SIGNED_EXCEPTIONS or name.endswith(SIGNED_UNITS):
        return False
    return name.endswith(UNSIGNED_UNITS)


@dataclass(frozen=True)
class DeviceInfo:
    """A served device, as far as fault targets need it."""

    name: str
    kind: str
    points: tuple[str, ...]  # the points a sensor fault can take


def site_devices(site: str, tick_s: float | None = None) -> list[DeviceInfo]:
    """The served devices of a site: names, kinds and the points a sensor fault can take
    (measurements: not scale factors, pads or strings)."""
    tw, cfg = load_bench(site, overrides={} if tick_s is None else {"tick_s": tick_s})
    gw = Gateway.from_config(tw, cfg)
    return [
        DeviceInfo(
            d.name,
            d.kind,
            tuple(k for k, p in d.group.by_key.items() if p.pdef.type not in ("sunssf", "pad", "string")),
        )
        for d in gw.devices
    ]


def _dur(rng: random.Random, lo: float, hi: float) -> str:
    return f"{rng.uniform(lo, hi):.1f} s"


def _at(rng: random.Random, span: float) -> str:
    return f"{rng.uniform(0.0, span):.1f} s"


def _fault_events(rng: random.Random, devices: list[DeviceInfo], span: float) -> list[dict[str, Any]]:
    out = []
    for name in rng.sample(sorted(FAULTS), len(FAULTS)):
        ft = FAULTS[name]
        spec: dict[str, Any] = {"type": name}
        if ft.kinds == ("ems",):
            spec["target"] = "ems"
        else:
            fits = [d for d in devices if d.kind in ft.kinds]
            if not fits:
                continue  # the site has no device of this kind (no genset on lab_rack)
            dev = rng.choice(fits)
            spec["target"] = dev.name
            if "point" in ft.params.model_fields:
                spec["point"] = rng.choice(dev.points)
                if name == "biased_sensor":
                    spec["gain"] = round(rng.uniform(0.5, 1.5), 3)
                    spec["offset"] = round(rng.uniform(-10.0, 10.0), 3)
        if name == "modbus_slow":
            spec["delay"] = "0.5 s"
        if rng.random() < 0.8:  # the rest stay to the end of the run
            spec["duration"] = _dur(rng, 2.0, span / 4)
        out.append({"at": _at(rng, span), "fault": spec})
    return out


def _grid_events(rng: random.Random, span: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"at": _at(rng, span), "grid_outage": {"duration": _dur(rng, 5, 90)}}
        for _ in range(rng.randint(1, 2))
    ]
    for _ in range(rng.randint(1, 3)):
        v = rng.choice([rng.uniform(0.0, 0.9), rng.uniform(1.05, 1.25)])
        out.append({"at": _at(rng, span), "voltage": {"v_pu": round(v, 3), "duration": _dur(rng, 0.1, 5)}})
    for _ in range(rng.randint(1, 2)):
        f = rng.choice([rng.uniform(47.0, 49.8), rng.uniform(50.2, 52.0)])
        out.append(
            {
                "at": _at(rng, span),
                "frequency": {"f_hz": f"{f:.2f} Hz", "duration": _dur(rng, 1, 30), "ramp_hz_per_s": 0.5},
            }
        )
    if rng.random() < 0.5:
        rocof = {"hz_per_s": round(rng.uniform(-2.0, 2.0), 2), "duration": _dur(rng, 0.2, 2)}
        out.append({"at": _at(rng, span), "rocof": rocof})
    return out


def _workload_events(rng: random.Random, span: float, has_pv: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    kinds = ["job_fail", "job_stop", "job_start", "checkpoint"] + (["cloud"] if has_pv else [])
    for _ in range(rng.randint(2, 4)):
        what = rng.choice(kinds)
        if what == "checkpoint":
            spec: dict[str, Any] = {"job": "all", "count": rng.randint(1, 3), "every": "20 s"}
        elif what == "cloud":
            spec = {"index": round(rng.uniform(0, 1), 2), "duration": _dur(rng, 5, 60)}
        else:
            spec = {"job": "all"}
        out.append({"at": _at(rng, span), what: spec})
    return out


def generate(
    seed: int,
    site: str,
    *,
    duration_s: float,
    tick_s: float | None = None,
    controller: str = "standin",
    devices: list[DeviceInfo] | None = None,
) -> dict[str, Any]:
    """The chaos scenario of one seed, as the data a scenario file holds."""
    rng = random.Random(seed)
    devices = devices if devices is not None else site_devices(site, tick_s)
    span = duration_s * 0.9  # leave the end of the run for recovery
    has_pv = any(d.kind == "pv" for d in devices)
    events = _fault_events(rng, devices, span) + _grid_events(rng, span) + _workload_events(rng, span, has_pv)
    # the order of events at one time is their file order: shuffle, then a stable sort by time
    rng.shuffle(events)
    events.sort(key=lambda e: float(str(e["at"]).split()[0]))
    data: dict[str, Any] = {
        "scenario": f"chaos_{site}_{seed}",
        "title": f"Chaos seed {seed} on {site}",
        "description": "Generated by hil.chaos: every fault type, grid and workload events, random order.",
        "site": site,
        "seed": seed,
        "duration": f"{duration_s:g} s",
        "controller": controller,
        "tags": ["chaos"],
        "events": events,
    }
    if tick_s is not None:
        data["tick"] = f"{tick_s:g} s"
    return data


@dataclass
class ChaosResult:
    """One seed's outcome: ``ok`` when it raised nothing and broke no invariant."""

    seed: int
    site: str
    ticks: int = 0
    rows: int = 0
    events: int = 0
    faults: int = 0
    wall_s: float = 0.0
    error: str | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.violations


def parse(data: dict[str, Any]) -> Any:
    """Validate generated scenario data with the normal parser (ScenarioError on a problem)."""
    return parse_scenario(data, path=Path(f"<{data['scenario']}>"), lines={})


class _Checker:
    """The per-tick check that needs the live site (the trace holds no energy balance)."""

    def __init__(self, result: ChaosResult, limit: int = 20) -> None:
        self.result = result
        self.limit = limit
        self.ticks = 0

    def add(self, msg: str) -> None:
        if len(self.result.violations) < self.limit:
            self.result.violations.append(msg)

    def __call__(self, runner: Any) -> None:
        self.ticks += 1
        site = runner.site
        b = site.energy_balance()
        tol = BALANCE_TOL * b["supplied_kwh"] + BALANCE_ABS_KWH
        if not abs(b["residual_kwh"]) <= tol:  # also catches NaN
            self.add(
                f"t={site.t:.1f} s: energy balance residual {b['residual_kwh']:.3g} kWh "
                f"> {tol:.3g} (supplied {b['supplied_kwh']:.3g})"
            )


def check_trace(path: Path, ticks: int, add: Any) -> int:
    """Row-by-row checks of a ``trace.parquet`` (see the module docstring); returns its rows."""
    table = pq.read_table(path)
    rows = int(table.num_rows)
    if rows != ticks:
        add(f"trace has {rows} rows for {ticks} ticks")
    t_col = np.asarray(table.column("t_s").to_numpy(), dtype=float)
    if rows > 1 and not np.all(np.diff(t_col) > 0):
        add("trace time is not strictly increasing (a tick missing or repeated)")
    for name in table.column_names:
        try:
            a = np.asarray(table.column(name).to_numpy(), dtype=float)
        except (TypeError, ValueError):
            continue  # strings
        bad = ~np.isfinite(a)
        if name in NAN_ALLOWED:
            bad &= ~np.isnan(a)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            add(f"{name}: {int(bad.sum())} non-finite values, first at t={t_col[k]:.1f} s")
        a = np.where(np.isfinite(a), a, 0.0)
        if name.partition(".")[2] in SOC_SIGNALS:
            out = (a < -1e-9) | (a > 100.0 + 1e-9)
            if out.any():
                k = int(np.flatnonzero(out)[0])
                add(f"{name} = {a[k]:.6g} % at t={t_col[k]:.1f} s: outside [0, 100]")
        elif non_negative(name):
            neg = a < -1e-9
            if neg.any():
                k = int(np.flatnonzero(neg)[0])
                add(f"{name} = {a[k]:.6g} at t={t_col[k]:.1f} s: negative ({int(neg.sum())} rows)")
    return rows


async def run_seed_async(
    seed: int,
    site: str,
    *,
    duration_s: float,
    tick_s: float | None = None,
    controller: str = "standin",
    protocols: tuple[str, ...] = ("modbus",),
    out_dir: Path | None = None,
    devices: list[DeviceInfo] | None = None,
    report: bool = False,
) -> ChaosResult:
    """Generate, validate and play one seed, checking the invariants (module docstring)."""
    res = ChaosResult(seed, site)
    data = generate(seed, site, duration_s=duration_s, tick_s=tick_s, controller=controller, devices=devices)
    sc = parse(data)  # a generator bug fails here, with the parser's problems
    res.events = len(sc.events)
    res.faults = sum(1 for e in sc.events if e.action == "fault")
    checker = _Checker(res)
    wall0 = time.perf_counter()
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="chaos-")
        out_dir = Path(tmp.name)
    try:
        try:
            prepared = prepare_run(sc, ports=(0, 0))  # the site check (targets, inputs) runs here
        except ConfigError as exc:  # a generator bug, or a check stricter than the generator
            res.error = f"scenario refused: {exc}"
            return res
        res.ticks = round(duration_s / prepared.site.dt)
        try:
            outcome = await run_scenario(
                prepared,
                out_dir=out_dir,
                protocols=protocols,
                report=report,
                on_start=lambda r: r.on_tick.append(checker),
            )
            if outcome.results.get("error"):
                res.error = str(outcome.results["error"])
        except Exception as exc:  # the invariant under test: nothing escapes a run
            res.error = f"{type(exc).__name__}: {exc}"
        if checker.ticks != res.ticks:
            checker.add(f"{checker.ticks} ticks stepped of {res.ticks}")
        trace = Path(out_dir) / "trace.parquet"
        if trace.exists():
            res.rows = check_trace(trace, res.ticks, checker.add)
        else:
            checker.add("no trace.parquet written")
    finally:
        if tmp is not None:
            tmp.cleanup()
    res.wall_s = time.perf_counter() - wall0
    return res


def run_seed(seed: int, site: str, **kw: Any) -> ChaosResult:
    """:func:`run_seed_async` in a fresh event loop."""
    return asyncio.run(run_seed_async(seed, site, **kw))
