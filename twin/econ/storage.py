"""A battery "bucket" for bill and ROI studies at any resolution (15 min for studies).

Conventions (docs/roi-conventions.md, economics.md):

- Power is AC at the point of connection, kW. Battery power is **+ discharge, − charge**;
  grid power is **+ import, − export** (twin/signals.py).
- ``energy_kwh`` is the battery-side stored energy above empty, kWh, at interval *starts*
  (length n + 1). Discharging ``P`` kW AC for ``dt`` h removes ``P·dt/η_d`` kWh; charging
  ``|P|`` kW AC adds ``η_c·|P|·dt`` kWh.
- The energy window is ``[soc_min·E, soc_min·E + usable]`` with
  ``usable_y = (soc_max − soc_min)·E·(1 − fade·(y − 1))`` (linear fade applied as a step at
  each year start), or ``(soc_max − soc_min)·E·capacity_factor`` when a capacity factor is given
  (a replacement plan, :func:`twin.econ.finance.replacement_plan`).
- PV serves the load first; charging takes surplus PV before grid (``charge_from_pv_kw`` vs
  ``charge_from_grid_kw``: grid-charged energy is not renewable). Without export, discharge is
  limited to the net load and PV is curtailed to load + charging, so the grid never goes negative.
- ``aux_kw`` is the BESS auxiliary load (HVAC, controls), drawn from the AC bus every interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.errors import ParameterError, ParameterIssue

__all__ = ["DispatchResult", "StorageSpec", "simulate"]

RequestFn = Callable[[int, float], float]
"""``request(i, e_kwh) -> kW``: the AC request of step ``i`` given the stored energy at its start."""


@dataclass(frozen=True)
class StorageSpec:
    """Nameplate and limits of a battery for studies.

    ``energy_kwh`` nameplate (kWh), ``power_kw`` PCS AC limit in both directions (kW), SOC
    window ``soc_min``–``soc_max`` (fractions of nameplate), one-way efficiencies
    ``eta_charge``/``eta_discharge``, initial SOC ``soc0`` (default ``soc_min``), linear fade of
    usable energy ``fade_per_year`` (fraction per year, a step at each year start), auxiliary
    load ``aux_kw`` (kW).
    """

    energy_kwh: float
    power_kw: float
    soc_min: float = 0.10
    soc_max: float = 0.95
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    soc0: float | None = None
    fade_per_year: float = 0.0
    aux_kw: float = 0.0

    def __post_init__(self) -> None:
        issues: list[ParameterIssue] = []

        def bad(key: str, msg: str) -> None:
            issues.append(ParameterIssue(("storage", key), msg))

        for key in ("energy_kwh", "power_kw", "soc_min", "soc_max", "eta_charge", "eta_discharge"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                bad(key, f"expected a number, got {v!r}")
        if issues:
            raise ParameterError(issues)
        if self.energy_kwh <= 0:
            bad("energy_kwh", f"must be > 0, got {self.energy_kwh:g}")
        if self.power_kw < 0:
            bad("power_kw", f"must be ≥ 0, got {self.power_kw:g}")
        if not 0.0 <= self.soc_min < self.soc_max <= 1.0:
            bad("soc_max", f"need 0 ≤ soc_min < soc_max ≤ 1, got {self.soc_min:g}, {self.soc_max:g}")
        for key in ("eta_charge", "eta_discharge"):
            v = getattr(self, key)
            if not 0.0 < v <= 1.0:
                bad(key, f"must be in (0, 1], got {v:g}")
        if self.soc0 is not None and not self.soc_min <= self.soc0 <= self.soc_max:
            bad("soc0", f"must lie in [soc_min, soc_max], got {self.soc0!r}")
        if not 0.0 <= self.fade_per_year < 1.0:
            bad("fade_per_year", f"must be in [0, 1), got {self.fade_per_year!r}")
        if not self.aux_kw >= 0.0:
            bad("aux_kw", f"must be ≥ 0, got {self.aux_kw!r}")
        if issues:
            raise ParameterError(issues)

    @property
    def e_min_kwh(self) -> float:
        """Battery-side energy at ``soc_min`` (kWh above empty)."""
        return self.soc_min * self.energy_kwh

    def capacity_factor(self, year: int = 1) -> float:
        """Usable fraction in ``year`` (1-based) from the linear fade, floored at 0."""
        if year < 1:
            raise ParameterError([ParameterIssue(("year",), f"years count from 1, got {year!r}")])
        return max(0.0, 1.0 - self.fade_per_year * (year - 1))

    def usable_kwh(self, year: int = 1, capacity_factor: float | None = None) -> float:
        """Usable battery-side energy (kWh) in ``year``: ``(soc_max − soc_min)·E·factor``, the
        factor being ``capacity_factor`` if given, else ``1 − fade·(year − 1)``."""
        cf = self.capacity_factor(year) if capacity_factor is None else float(capacity_factor)
        if not cf >= 0.0:
            raise ParameterError([ParameterIssue(("capacity_factor",), f"must be ≥ 0, got {cf!r}")])
        return (self.soc_max - self.soc_min) * self.energy_kwh * cf

    def e0_kwh(self) -> float:
        """Initial battery-side energy above empty: ``soc0·E`` (default ``soc_min·E``)."""
        return (self.soc_min if self.soc0 is None else self.soc0) * self.energy_kwh


@dataclass(frozen=True, eq=False)
class DispatchResult:
    """A dispatched series. Arrays are length n (per interval, kW, held over ``dt_h``) except
    ``energy_kwh`` and ``soc`` (n + 1, at interval starts and the final end).

    ``battery_kw`` AC, + discharge / − charge; ``grid_kw`` + import / − export; ``pv_used_kw`` =
    PV minus ``pv_curtailed_kw``; ``charge_from_pv_kw`` + ``charge_from_grid_kw`` = the charging
    power; ``energy_kwh`` battery-side above empty; ``soc`` = energy / nameplate;
    ``e_min_kwh``/``e_max_kwh`` the energy window used.
    """

    battery_kw: np.ndarray
    grid_kw: np.ndarray
    pv_used_kw: np.ndarray
    pv_curtailed_kw: np.ndarray
    charge_from_pv_kw: np.ndarray
    charge_from_grid_kw: np.ndarray
    energy_kwh: np.ndarray
    soc: np.ndarray
    dt_h: float
    e_min_kwh: float = 0.0
    e_max_kwh: float = math.inf
    eta_discharge: float = 1.0

    def __len__(self) -> int:
        return int(self.battery_kw.size)

    @property
    def discharge_kwh(self) -> float:
        """AC energy discharged (kWh)."""
        return float(np.clip(self.battery_kw, 0.0, None).sum() * self.dt_h)

    @property
    def charge_kwh(self) -> float:
        """AC energy charged (kWh)."""
        return float(np.clip(-self.battery_kw, 0.0, None).sum() * self.dt_h)

    @property
    def throughput_kwh(self) -> float:
        """AC throughput, charge + discharge (kWh)."""
        return self.charge_kwh + self.discharge_kwh

    @property
    def charge_from_pv_kwh(self) -> float:
        """AC charging energy taken from surplus PV (renewable), kWh."""
        return float(self.charge_from_pv_kw.sum() * self.dt_h)

    @property
    def charge_from_grid_kwh(self) -> float:
        """AC charging energy taken from the grid (not renewable), kWh."""
        return float(self.charge_from_grid_kw.sum() * self.dt_h)

    @property
    def import_kwh(self) -> float:
        return float(np.clip(self.grid_kw, 0.0, None).sum() * self.dt_h)

    @property
    def export_kwh(self) -> float:
        return float(np.clip(-self.grid_kw, 0.0, None).sum() * self.dt_h)

    @property
    def curtailed_kwh(self) -> float:
        return float(self.pv_curtailed_kw.sum() * self.dt_h)

    @property
    def available_kwh(self) -> np.ndarray:
        """Battery-side energy above ``soc_min`` at each interval start (length n + 1): what an
        outage could draw (:func:`twin.econ.resilience.resilience_hours`)."""
        return np.clip(self.energy_kwh - self.e_min_kwh, 0.0, None)

    def equivalent_full_cycles(self, usable_kwh: float) -> float:
        """Battery-side discharged energy / usable energy."""
        return self.discharge_kwh / self.eta_discharge / usable_kwh if usable_kwh > 0 else 0.0


def _series(name: str, v: Any, n: int | None) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim == 0 and n is not None:
        a = np.full(n, float(a))
    if a.ndim != 1 or (n is not None and a.size != n):
        raise ParameterError([ParameterIssue((name,), f"expected {n} values, got shape {a.shape}")])
    if not np.all(np.isfinite(a)):
        raise ParameterError([ParameterIssue((name,), "contains a value that is not a number")])
    return a


def _prepare(
    storage: StorageSpec,
    load_kw: Any,
    pv_kw: Any,
    dt_h: float,
    *,
    year: int,
    e0_kwh: float | None,
    capacity_factor: float | None,
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Checked ``(load, pv, e_min, e_max, e0)`` (helper shared with the dispatchers)."""
    load = _series("load_kw", load_kw, None)
    pv = np.zeros(load.size) if pv_kw is None else _series("pv_kw", pv_kw, load.size)
    if np.any(pv < 0):
        raise ParameterError([ParameterIssue(("pv_kw",), "PV power must be ≥ 0")])
    if not dt_h > 0:
        raise ParameterError([ParameterIssue(("dt_h",), f"must be > 0, got {dt_h!r}")])
    e_min = storage.e_min_kwh
    e_max = e_min + storage.usable_kwh(year, capacity_factor)
    e0 = storage.e0_kwh() if e0_kwh is None else float(e0_kwh)
    return load, pv, e_min, e_max, min(max(e0, e_min), e_max)


def _run(
    storage: StorageSpec,
    load: np.ndarray,
    pv: np.ndarray,
    request: RequestFn,
    dt_h: float,
    *,
    allow_export: bool,
    e_min: float,
    e_max: float,
    e0: float,
) -> DispatchResult:
    """The sequential bucket simulation behind :func:`simulate` and the rule dispatchers."""
    n = load.size
    pmax, eta_c, eta_d, aux = storage.power_kw, storage.eta_charge, storage.eta_discharge, storage.aux_kw
    loads = (load + aux).tolist()
    pvs = pv.tolist()
    bat = [0.0] * n
    grid = [0.0] * n
    used = [0.0] * n
    c_pv = [0.0] * n
    c_grid = [0.0] * n
    energy = [0.0] * (n + 1)
    e = e0
    energy[0] = e
    for i in range(n):
        ld, p = loads[i], pvs[i]
        r = request(i, e)
        if r > pmax:
            r = pmax
        elif r < -pmax:
            r = -pmax
        if r > 0.0:
            room = (e - e_min) * eta_d / dt_h
            if r > room:
                r = room if room > 0.0 else 0.0
            if not allow_export:
                net = ld - p
                if r > net:
                    r = net if net > 0.0 else 0.0
            e -= r * dt_h / eta_d
            ch = 0.0
        elif r < 0.0:
            room = (e_max - e) / (eta_c * dt_h)
            ch = -r
            if ch > room:
                ch = room if room > 0.0 else 0.0
            e += eta_c * ch * dt_h
            r = -ch
        else:
            ch = 0.0
        surplus = p - ld
        from_pv = min(ch, surplus) if surplus > 0.0 else 0.0
        pv_use = p if allow_export else min(p, ld + ch)
        g = ld - pv_use - r
        if g < 0.0 and not allow_export:
            g = 0.0  # rounding dust of pv_use = load + charge
        bat[i] = r
        grid[i] = g
        used[i] = pv_use
        c_pv[i] = from_pv
        c_grid[i] = ch - from_pv
        energy[i + 1] = e
    e_arr = np.asarray(energy)
    pv_used = np.asarray(used)
    return DispatchResult(
        battery_kw=np.asarray(bat),
        grid_kw=np.asarray(grid),
        pv_used_kw=pv_used,
        pv_curtailed_kw=pv - pv_used,
        charge_from_pv_kw=np.asarray(c_pv),
        charge_from_grid_kw=np.asarray(c_grid),
        energy_kwh=e_arr,
        soc=e_arr / storage.energy_kwh,
        dt_h=float(dt_h),
        e_min_kwh=e_min,
        e_max_kwh=e_max,
        eta_discharge=storage.eta_discharge,
    )


def simulate(
    storage: StorageSpec,
    load_kw: Any,
    pv_kw: Any,
    request_kw: Any,
    dt_h: float,
    *,
    allow_export: bool = False,
    year: int = 1,
    e0_kwh: float | None = None,
    capacity_factor: float | None = None,
) -> DispatchResult:
    """Play a request series (kW AC, + discharge / − charge) through the battery.

    Each request is clipped to the PCS limit, then to the energy window (``−P·dt/η_d`` on
    discharge, ``+η_c·|P|·dt`` on charge), and, without export, a discharge to
    ``max(0, load + aux − pv)``; PV is curtailed to load + aux + charging. ``pv_kw`` may be
    ``None`` (no PV). ``e0_kwh`` is the battery-side energy above empty at the start (default
    ``soc0·E``), clipped into the window of ``year``.
    """
    load, pv, e_min, e_max, e0 = _prepare(
        storage, load_kw, pv_kw, dt_h, year=year, e0_kwh=e0_kwh, capacity_factor=capacity_factor
    )
    req = _series("request_kw", request_kw, load.size).tolist()
    return _run(
        storage,
        load,
        pv,
        lambda i, _e: req[i],
        dt_h,
        allow_export=allow_export,
        e_min=e_min,
        e_max=e_max,
        e0=e0,
    )
