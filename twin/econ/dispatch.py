"""Rule-based storage dispatch on local clock hours (the reference dispatch of economics.md §5.1).

A :class:`ScheduleDispatch` names clock-hour windows ``(start, end)`` in local hours, ``[start,
end)``, 0 ≤ start, end ≤ 24; a window with start > end wraps past midnight. At every interval
start (naive local ``datetime64``) the rule picks, in this order of precedence:

1. **shave** (in ``shave_hours``): discharge ``min(power_kw, net − shave_target_kw)`` when the net
   load ``net = load + aux − pv`` exceeds the target, else idle;
2. **discharge** (in ``discharge_hours``): discharge what remains above ``soc_min`` at the
   constant AC power that empties it by the window end, ``(e − e_min)·η_d / hours_left``;
3. **charge** (in ``charge_hours``): charge to ``soc_max`` at the constant AC power that refills
   it by the window end, ``(e_max − e) / (η_c·hours_left)``, capped by ``power_kw``; when a
   shave target is set (and ``charge_below_target``), charging never lifts the net import above
   it (charging must not create a new peak, economics.md §6.5).

The power is recomputed at each step from the stored energy, which gives the constant power
of the rule when nothing clips, and catches up after a clip. The request then goes through
:func:`twin.econ.storage.simulate`'s limits (PCS, energy window, no export).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from twin.errors import ParameterError, ParameterIssue

from .storage import DispatchResult, StorageSpec, _prepare, _run

__all__ = ["ScheduleDispatch", "clock_hours", "schedule_dispatch"]

Windows = tuple[tuple[float, float], ...]

_IDLE, _SHAVE, _DISCHARGE, _CHARGE = 0, 1, 2, 3


@dataclass(frozen=True)
class ScheduleDispatch:
    """Clock-hour rule: charge windows, peak-shave windows with a target (kW), discharge windows.

    Where a shave window overlaps a discharge window, the battery discharges whichever is more:
    the shave (import above the target) or the constant power that empties it by the end of the
    discharge window; where a charge window overlaps either, discharging wins.

    REF-A's reference dispatch is ``ScheduleDispatch(charge_hours=((0, 7),),
    shave_hours=((18, 19),), shave_target_kw=6200, discharge_hours=((19, 20),))``.
    """

    charge_hours: Windows = ()
    shave_hours: Windows = ()
    shave_target_kw: float | None = None
    discharge_hours: Windows = ()
    charge_below_target: bool = True

    def __post_init__(self) -> None:
        issues: list[ParameterIssue] = []
        for key in ("charge_hours", "shave_hours", "discharge_hours"):
            for i, w in enumerate(getattr(self, key)):
                ok = len(w) == 2 and all(0.0 <= float(x) <= 24.0 for x in w) and w[0] != w[1]
                if not ok:
                    issues.append(ParameterIssue((key, i), f"expected (start, end) hours in 0–24, got {w!r}"))
        if self.shave_hours and self.shave_target_kw is None:
            issues.append(ParameterIssue(("shave_target_kw",), "required with shave_hours"))
        if self.shave_target_kw is not None and not self.shave_target_kw >= 0:
            issues.append(ParameterIssue(("shave_target_kw",), f"must be ≥ 0, got {self.shave_target_kw!r}"))
        if issues:
            raise ParameterError(issues)


def clock_hours(ts: Any) -> np.ndarray:
    """Fractional local clock hour (0 ≤ h < 24) of each interval start."""
    a = np.asarray(ts).astype("datetime64[ms]")
    ms = (a - a.astype("datetime64[D]")).astype(np.int64)
    return ms / 3_600_000.0


def _in_windows(h: np.ndarray, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """(inside any window, hours left to that window's end) for clock hours ``h``."""
    inside = np.zeros(h.shape, dtype=bool)
    left = np.zeros(h.shape)
    for lo, hi in windows:
        m = (h >= lo) & (h < hi) if lo < hi else (h >= lo) | (h < hi)
        rem = hi - h
        rem = np.where(rem <= 0.0, rem + 24.0, rem)
        left = np.where(m & ~inside, rem, left)
        inside |= m
    return inside, left


def schedule_dispatch(
    spec: ScheduleDispatch,
    storage: StorageSpec,
    ts: Any,
    load_kw: Any,
    pv_kw: Any,
    dt_h: float,
    *,
    year: int = 1,
    allow_export: bool = False,
    e0_kwh: float | None = None,
    capacity_factor: float | None = None,
) -> DispatchResult:
    """Dispatch ``storage`` by the clock-hour rule ``spec`` over interval starts ``ts`` (naive
    local ``datetime64``), load and PV in kW (``pv_kw`` may be ``None``), steps of ``dt_h`` h.

    ``year``/``capacity_factor`` set the usable energy (:meth:`StorageSpec.usable_kwh`);
    ``e0_kwh`` is the battery-side energy above empty at the start (default ``soc0·E``).
    """
    load, pv, e_min, e_max, e0 = _prepare(
        storage, load_kw, pv_kw, dt_h, year=year, e0_kwh=e0_kwh, capacity_factor=capacity_factor
    )
    h = clock_hours(ts)
    if h.shape != load.shape:
        raise ParameterError([ParameterIssue(("ts",), f"expected {load.size} timestamps, got {h.shape}")])
    mode = np.full(h.shape, _IDLE, dtype=np.int64)
    left = np.zeros(h.shape)
    for code, windows in ((_CHARGE, spec.charge_hours), (_DISCHARGE, spec.discharge_hours)):
        m, rem = _in_windows(h, windows)
        mode = np.where(m, code, mode)
        left = np.where(m, np.maximum(rem, dt_h), left)
    in_discharge = cast("list[bool]", (mode == _DISCHARGE).tolist())
    m, _ = _in_windows(h, spec.shave_hours)
    mode = np.where(m, _SHAVE, mode)

    net: list[float] = (load + storage.aux_kw - pv).tolist()
    modes = cast("list[int]", mode.tolist())
    lefts = cast("list[float]", left.tolist())
    pmax, eta_c, eta_d = storage.power_kw, storage.eta_charge, storage.eta_discharge
    target = spec.shave_target_kw
    cap_charge = target is not None and spec.charge_below_target

    def request(i: int, e: float) -> float:
        md = modes[i]
        if md == _IDLE:
            return 0.0
        if md == _SHAVE:  # in a discharge window too: whichever asks for more
            assert target is not None
            excess = net[i] - target
            shave = min(pmax, excess) if excess > 0.0 else 0.0
            return max(shave, (e - e_min) * eta_d / lefts[i]) if in_discharge[i] else shave
        if md == _DISCHARGE:
            return max(0.0, (e - e_min) * eta_d / lefts[i])
        c = min(pmax, max(0.0, (e_max - e) / (eta_c * lefts[i])))
        if cap_charge:
            assert target is not None
            c = min(c, max(0.0, target - net[i]))
        return -c

    return _run(storage, load, pv, request, dt_h, allow_export=allow_export, e_min=e_min, e_max=e_max, e0=e0)
