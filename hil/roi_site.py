"""A study's year on the simulated site: the twin (and the reference EMS, in process) run the
whole span faster than real time, and the meter books give the study's interval series.

The run is an ordinary scenario built from the study (no expectations, no servers): the same
runner, gateway and controller as ``hil run``, so the EMS makes the decisions it makes on the
wire. The trace keeps only the energy books, every study step, and each interval's power is
the exact energy between two rows. The site's load without storage or PV is
``grid + battery AC output + PV − storage auxiliaries``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hil.run.runner import AsFastAsPossible, prepare_run, run_scenario
from hil.trace.store import read_trace
from twin.econ.storage import DispatchResult, StorageSpec

from .scenario import parse_scenario
from .study import Study, YearSeries

__all__ = ["BOOKS", "DEFAULT_TICK_S", "simulate_site_year"]

BOOKS = (
    "grid.import_kwh",
    "grid.export_kwh",
    "bess.discharge_kwh",
    "bess.charge_kwh",
    "bess.aux_kwh",
    "pv.energy_kwh",
    "bess.energy_kwh",
    "site.gpu_hours_lost_supply",
    "site.local_time_s",  # the trace adds the site.local_time timestamp column from it
)
DEFAULT_TICK_S = 60.0


def scenario_data(study: Study) -> dict[str, Any]:
    """The scenario a site study's year is played as."""
    spec = study.spec
    cal = spec.calendar
    data: dict[str, Any] = {
        "scenario": f"roi_{spec.study}",
        "title": f"the year of study {spec.study}",
        "site": spec.load.site,
        "tick": f"{spec.load.tick or DEFAULT_TICK_S:g} s",
        "duration": f"{cal.days * 24} h",
        "start": cal.start,
        "timezone": cal.timezone,
        "trace": {"every": f"{cal.step:g} s", "signals": list(BOOKS)},
        "controller": "external",  # no controller: the storage idles in standby
    }
    if spec.load.site_params:
        data["site_params"] = dict(spec.load.site_params)
    if spec.dispatch.ems is not None:
        ems = spec.dispatch.ems
        data["controller"] = {"name": "reference", "options": {**ems.options, "profile": ems.profile}}
    return data


def _run(study: Study, out: Path, progress: Callable[[str, float], None]) -> Any:
    sc = parse_scenario(scenario_data(study), path=study.path, lines={})
    prepared = prepare_run(sc)
    site = prepared.site
    total = sc.duration_s

    async def go() -> None:
        task = asyncio.ensure_future(
            run_scenario(prepared, out_dir=out, serve=False, pacer=AsFastAsPossible())
        )
        while not task.done():
            await asyncio.wait({task}, timeout=0.5)
            progress("simulating the site", min(1.0, (site.t - 0.0) / total))
        await task

    asyncio.run(go())
    return site


def simulate_site_year(study: Study, progress: Callable[[str, float], None] | None = None) -> Any:
    """Run the site's year; returns a :class:`hil.roi.YearSeries` whose ``extra`` carries the
    EMS's own dispatch (``ems_dispatch``), GPU-hours lost, the fade the twin's aging measured
    (``fade_per_year``, extrapolated linearly to a year) and notes."""
    say = progress or (lambda _w, _f: None)
    spec = study.spec
    step_s = spec.calendar.step
    dt_h = step_s / 3600.0
    with tempfile.TemporaryDirectory(prefix="hil-roi-") as tmp:
        site = _run(study, Path(tmp), say)
        names = ["t_s", *BOOKS, "site.local_time"]
        table = read_trace(Path(tmp), names)
    cols = {n: np.asarray(table.column(n).to_numpy(zero_copy_only=False)) for n in names}
    t_s = cols["t_s"].astype(float)
    # the books are zero at the start of the run; the first row closes the first interval
    if abs(t_s[0] - step_s) > 1e-6:
        raise RuntimeError(f"the year's trace starts at t = {t_s[0]:g} s, expected one step ({step_s:g} s)")

    def rate(name: str) -> np.ndarray:
        e = np.concatenate([[0.0], cols[name].astype(float)])
        return np.diff(e) / dt_h

    grid = rate("grid.import_kwh") - rate("grid.export_kwh")
    bess = rate("bess.discharge_kwh") - rate("bess.charge_kwh")
    aux = rate("bess.aux_kwh")
    pv = rate("pv.energy_kwh")
    load = grid + bess + pv - aux
    ts = cols["site.local_time"].astype("datetime64[ms]") - np.timedelta64(round(step_s * 1000), "ms")
    energy_rows = cols["bess.energy_kwh"].astype(float)
    nameplate = float(site.battery.capacity_kwh_nominal()) * site.params.battery.n_cabinets  # the fleet
    soh_end = float(np.mean(site.battery.soh))
    days = spec.calendar.days
    # a year or more: the fade measured; less: extrapolated as calendar aging grows, with √t
    fade = (1.0 - soh_end) * (365.0 / days if days >= 365 else (365.0 / days) ** 0.5)
    charge = np.clip(-bess, 0.0, None)
    surplus = np.clip(pv - (load + aux), 0.0, None)
    from_pv = np.minimum(charge, surplus)
    energy = np.concatenate([[energy_rows[0]], energy_rows])
    ems = DispatchResult(
        battery_kw=bess,
        grid_kw=grid,
        pv_used_kw=pv,
        pv_curtailed_kw=np.zeros_like(pv),
        charge_from_pv_kw=from_pv,
        charge_from_grid_kw=charge - from_pv,
        energy_kwh=energy,
        soc=energy / nameplate,
        dt_h=dt_h,
        e_min_kwh=spec.storage.soc_min * nameplate,
        e_max_kwh=spec.storage.soc_max * nameplate,
        eta_discharge=spec.storage.eta_discharge,
    )

    def ems_dispatch(_storage: StorageSpec, _pv: Any, _cf: float) -> DispatchResult:
        return ems

    notes = [
        f"the year was simulated on the twin ({spec.load.site}, tick {spec.load.tick or DEFAULT_TICK_S:g} s)"
        + (" with the reference EMS in the loop" if spec.dispatch.ems is not None else ", storage idle"),
        f"the twin's aging: state of health {soh_end:.4f} after {days} days"
        f" → {fade:.3%}/yr of usable energy"
        + (" (extrapolated to a year as √t)" if days < 365 else "")
        + ", applied to later years unless the study sets storage.fade_per_year",
    ]
    if abs(nameplate - spec.storage.energy_kwh) > 0.05 * nameplate:
        notes.append(
            f"the study's storage.energy_kwh {spec.storage.energy_kwh:,.0f} differs from the site's"
            f" nameplate {nameplate:,.0f} kWh: the optimum and finance use the study's figure"
        )
    lost = float(cols["site.gpu_hours_lost_supply"][-1])  # power-related: racks without supply
    extra = {
        "ems_dispatch": ems_dispatch if spec.dispatch.ems is not None else None,
        "fade_per_year": fade,
        "gpu_hours_lost": {"project": lost, "without_storage": None},
        "notes": notes,
    }
    return YearSeries(ts, load, pv if float(pv.sum()) > 0 else None, dt_h, extra)
