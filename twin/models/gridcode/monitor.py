"""The vectorised protection, ride-through and enter-service state machine.

Part of :mod:`twin.models.gridcode`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from twin._interp import FloatArray
from twin.errors import ParameterError, SimulationError
from twin.models.gridcode.loading import grid_code_issues
from twin.models.gridcode.settings import (
    _MAY_TRIP,
    _MODE_NAMES,
    _REASON_NAMES,
    RIDE_THROUGH_MODES,
    TIME_TOLERANCE_S,
    TRIP_REASONS,
    GridCode,
    _LvrtTable,
)

BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

# --------------------------------------------------------------------------------------
# Protection / ride-through state machine
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GridCodeStatus:
    """Per-unit protection state at the end of a tick (``t_s``); arrays are read-only.

    * ``tripped``: out of service after a trip, waiting for the enter-service conditions.
    * ``trip_time_s``: instant of the trip that holds the unit out (exact within its tick);
      NaN while the unit is in service.
    * ``trip_reason``: code from :data:`TRIP_REASONS` ("" while in service).
    * ``new_trip``: the unit tripped during this tick.
    * ``cessation``: momentary cessation (in service, but no current) for this tick.
    * ``may_energize``: in service: never tripped, or re-entered after the enter-service delay.
    * ``ramp_limit_pu``: enter-service ramp 0..1 on the output (0 while out of service).
    * ``ride_through_mode``: voltage ride-through mode from :data:`RIDE_THROUGH_MODES`.
    """

    t_s: float
    tripped: BoolArray
    trip_time_s: FloatArray
    trip_reason: StrArray
    new_trip: BoolArray
    cessation: BoolArray
    may_energize: BoolArray
    ramp_limit_pu: FloatArray
    ride_through_mode: StrArray

    def at(self, t_s: float) -> GridCodeStatus:
        """The same status at ``t_s`` (the arrays shared): ``dataclasses.replace`` without its
        per-call field lookups (a monitor's repeated status, at every quiet tick)."""
        return GridCodeStatus(
            t_s, self.tripped, self.trip_time_s, self.trip_reason, self.new_trip, self.cessation,
            self.may_energize, self.ramp_limit_pu, self.ride_through_mode,
        )  # fmt: skip

    @property
    def output_limit_pu(self) -> FloatArray:
        """The limit on |current| or |P| in pu: the ramp, zeroed during cessation."""
        return np.asarray(np.where(self.cessation, 0.0, self.ramp_limit_pu), dtype=float)


def _frozen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = a.copy()
    out.flags.writeable = False
    return out


class GridCodeMonitor:
    """Trip timers, momentary cessation and enter service for ``n`` units under one code.

    Call :meth:`update` once per tick with the inputs held over ``[t, t + dt)``. A timer
    accumulates while its condition holds, resets when it clears, and trips at the exact
    instant it reaches the clearing time. The earliest function to expire names the trip;
    ties go to the order of :data:`TRIP_FUNCTIONS`. While out of service no trip timer runs.
    """

    def __init__(self, n: int, code: GridCode, *, in_service: bool | npt.ArrayLike = True) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        issues = grid_code_issues(code)
        if issues:
            raise ParameterError(issues)
        self.n = n
        self.code = code
        tr = code.trip
        # column: (measurement row, +1 over / −1 under, threshold, clearing time, enabled)
        # measurement rows: 0 V, 1 f, 2 |RoCoF|, 3 islanded (0/1)
        cols: list[tuple[int, float, float, float, bool]] = [
            (0, 1.0, tr.ov2.v_pu, tr.ov2.clearing_time_s, tr.ov2.enabled),
            (0, 1.0, tr.ov1.v_pu, tr.ov1.clearing_time_s, tr.ov1.enabled),
            (0, -1.0, tr.uv1.v_pu, tr.uv1.clearing_time_s, tr.uv1.enabled),
            (0, -1.0, tr.uv2.v_pu, tr.uv2.clearing_time_s, tr.uv2.enabled),
            (1, 1.0, tr.of2.f_hz, tr.of2.clearing_time_s, tr.of2.enabled),
            (1, 1.0, tr.of1.f_hz, tr.of1.clearing_time_s, tr.of1.enabled),
            (1, -1.0, tr.uf1.f_hz, tr.uf1.clearing_time_s, tr.uf1.enabled),
            (1, -1.0, tr.uf2.f_hz, tr.uf2.clearing_time_s, tr.uf2.enabled),
            (2, 1.0, tr.rocof.rocof_hz_per_s, tr.rocof.clearing_time_s, tr.rocof.enabled),
            (3, 1.0, 0.5, tr.island.clearing_time_s, tr.island.enabled),
        ]
        self._lvrt = _LvrtTable(code.lvrt) if code.lvrt.enabled else None
        lv_end = self._lvrt.v_end if self._lvrt is not None else 0.0
        cols.append((0, -1.0, lv_end, math.inf, self._lvrt is not None))
        self._k = len(cols)
        self._lvrt_col = self._k - 1
        self._src = np.array([c[0] for c in cols], dtype=np.intp)
        sign = np.array([c[1] for c in cols])
        self._sign = sign
        self._thr_signed = sign * np.array([c[2] for c in cols])
        enabled = np.array([c[4] for c in cols], dtype=bool)
        # a disabled function never picks up: its signed threshold is +∞
        self._thr_signed = np.where(enabled, self._thr_signed, np.inf)
        self._clear = np.array([c[3] for c in cols])

        # voltage ride-through regions → open/closed comparisons via nextafter
        regs = code.ride_through.voltage
        lo = np.array([r.v_min_pu for r in regs], dtype=float)
        hi = np.array([math.inf if r.v_max_pu is None else r.v_max_pu for r in regs])
        above = lo >= 1.0  # wholly above nominal: (lo, hi]
        below = hi <= 1.0  # wholly below nominal: [lo, hi)
        self._reg_lo = np.where(above, lo, np.nextafter(lo, -np.inf))  # test v > _reg_lo
        self._reg_hi = np.where(below, hi, np.nextafter(hi, np.inf))  # test v < _reg_hi
        self._reg_mode = np.array([RIDE_THROUGH_MODES.index(r.mode) for r in regs], dtype=np.intp)
        pc = code.ride_through.permissive_ceases
        self._mode_ceases = np.array([False, False, pc, True, pc])

        es = code.enter_service
        self._es = (es.v_min_pu, es.v_max_pu, es.f_min_hz, es.f_max_hz)
        self._es_delay = es.delay_s
        self._ramp_s = es.ramp_s
        self._rows = np.arange(n)
        self._meas = np.empty((n, 4))
        # the quiet tick's test and ride-through lookup as Python floats (exact: IEEE doubles)
        self._thr_py = [
            (int(c), float(g), float(h)) for c, g, h in zip(self._src, sign, self._thr_signed, strict=True)
        ]
        self._reg_py = [
            (float(a), float(b), int(m))
            for a, b, m in zip(self._reg_lo, self._reg_hi, self._reg_mode, strict=True)
        ]
        self.quiet_path = True
        """Skip the per-unit arrays on a tick where nothing can pick up (False: always the
        general path, which the quiet one is tested against)."""
        self.reset(in_service=in_service)

    # ---- state management ------------------------------------------------------------

    def reset(self, *, in_service: bool | npt.ArrayLike = True) -> None:
        """Clear every timer, trip and permit-service block. Units with ``in_service``
        false start out of service and must meet the enter-service conditions first (a cold
        start)."""
        n = self.n
        ins = np.broadcast_to(np.asarray(in_service, dtype=bool), (n,)).copy()
        self._timers = np.zeros((n, self._k))
        self._in_service = ins
        self._tripped = np.zeros(n, dtype=bool)
        self._trip_time = np.full(n, np.nan)
        self._reason = np.zeros(n, dtype=np.intp)
        self._es_timer = np.zeros(n)
        # instant the unit (re-)entered service: −∞ = since the start, +∞ = not in service
        self._entered = np.where(ins, -np.inf, np.inf)
        self._permit = np.ones(n, dtype=bool)
        self._t_end = 0.0
        self._last_new = np.zeros(n, dtype=bool)
        self._last_mode = np.full(n, RIDE_THROUGH_MODES.index("continuous"), dtype=np.intp)
        self._quiet_status: tuple[int, GridCodeStatus] | None = None
        # every unit out of service and the inputs outside the enter-service window: the next
        # such tick changes nothing but the time (see update)
        self._waiting_status: tuple[int, GridCodeStatus] | None = None

    def _select(self, units: npt.ArrayLike | None) -> BoolArray:
        mask = np.zeros(self.n, dtype=bool)
        if units is None:
            mask[:] = True
        else:
            mask[np.asarray(units)] = True
        return mask

    def trip(self, t_s: float, units: npt.ArrayLike | None = None, *, reason: str = "MANUAL") -> None:
        """Trip ``units`` (indices or a bool mask; all when None) at ``t_s``. Units already
        out of service keep their reason but restart their enter-service delay."""
        if reason not in TRIP_REASONS[1:]:
            raise ValueError(f"unknown trip reason {reason!r}; one of {TRIP_REASONS[1:]}")
        self._quiet_status = self._waiting_status = None
        sel = self._select(units)
        hit = sel & self._in_service
        self._trip_units(hit, np.full(self.n, float(t_s)), TRIP_REASONS.index(reason))
        self._es_timer[sel] = 0.0

    def set_permit_service(self, enabled: bool, t_s: float, units: npt.ArrayLike | None = None) -> None:
        """IEEE 1547 "permit service": disabling trips the units (reason PERMIT) and keeps
        them out; enabling lets the enter-service delay start counting again."""
        self._quiet_status = self._waiting_status = None
        sel = self._select(units)
        self._permit[sel] = enabled
        if not enabled:
            self.trip(t_s, sel, reason="PERMIT")

    def _trip_units(self, hit: BoolArray, t_trip: FloatArray, reason: int | npt.NDArray[Any]) -> None:
        self._quiet_status = self._waiting_status = None
        self._tripped |= hit
        self._in_service &= ~hit
        self._trip_time = np.where(hit, t_trip, self._trip_time)
        self._reason = np.where(hit, reason, self._reason)
        self._entered = np.where(hit, np.inf, self._entered)
        self._timers[hit] = 0.0

    # ---- the tick --------------------------------------------------------------------

    def _per_unit(self, x: float | npt.ArrayLike, name: str) -> FloatArray | float:
        a = np.asarray(x, dtype=float)
        if a.ndim == 0:
            return float(a)
        if a.shape != (self.n,):
            raise ValueError(f"{name} must be a scalar or have shape ({self.n},), got {a.shape}")
        return a

    def update(
        self,
        t: float,
        dt: float,
        v_pu: npt.ArrayLike,
        f_hz: float | npt.ArrayLike,
        rocof_hz_per_s: float | npt.ArrayLike = 0.0,
        *,
        islanded: bool | npt.ArrayLike = False,
    ) -> GridCodeStatus:
        """Advance every unit over the tick ``[t, t + dt)`` with the inputs held constant
        and return the status at ``t + dt``. ``v_pu`` is per unit (or one value for all);
        ``f_hz``, ``rocof_hz_per_s`` and ``islanded`` may be scalars or per unit."""
        if not (dt > 0.0 and math.isfinite(dt) and math.isfinite(t)):
            raise SimulationError(f"grid-code monitor needs finite t and dt > 0, got {t}, {dt}")
        qs = self._quiet_status
        if qs is not None and islanded is False and type(v_pu) is float and type(f_hz) is float:
            # another quiet tick after a quiet one, with the ramp done: the same status but
            # for its time, found without any array (the state is as the last tick left it)
            r = abs(float(rocof_hz_per_s)) if isinstance(rocof_hz_per_s, float | int) else math.nan
            vals = (v_pu, f_hz, r, 0.0)
            if (
                math.isfinite(v_pu)
                and math.isfinite(f_hz)
                and math.isfinite(r)
                and not any(vals[c] * g > h for c, g, h in self._thr_py)
                and self._mode_py(v_pu) == qs[0]
            ):
                self._t_end = t + dt
                return qs[1].at(self._t_end)
        ws = self._waiting_status
        if ws is not None and islanded is False and type(v_pu) is float and type(f_hz) is float:
            # the waiting repeat: no unit in service, so nothing trips; the enter-service timers
            # count inside the window (or are zero outside it) until one would enter
            r = abs(float(rocof_hz_per_s)) if isinstance(rocof_hz_per_s, float | int) else math.nan
            if (
                math.isfinite(v_pu)
                and math.isfinite(f_hz)
                and math.isfinite(r)
                and self._mode_py(v_pu) == ws[0]
                and self._wait(dt, self._in_window(v_pu, f_hz))
            ):
                self._t_end = t + dt
                return ws[1].at(self._t_end)
        self._quiet_status = self._waiting_status = None
        m = self._meas
        m[:, 0] = self._per_unit(v_pu, "v_pu")
        m[:, 1] = self._per_unit(f_hz, "f_hz")
        m[:, 2] = np.abs(self._per_unit(rocof_hz_per_s, "rocof_hz_per_s"))
        m[:, 3] = self._per_unit(islanded, "islanded")
        if not np.isfinite(m).all():
            raise SimulationError(f"grid-code monitor got a non-finite input at t={t}")
        t_end = t + dt
        if self.quiet_path and self._quiet((v_pu, f_hz, rocof_hz_per_s, islanded), m[0]):
            # every unit in service, no timer running, one measurement for all of them and
            # inside every threshold: nothing can pick up, so the (units × thresholds) arrays
            # are not built. The same state and status as the general path below (tested).
            self._last_new = np.zeros(self.n, dtype=bool)
            mode = self._mode_of(float(m[0, 0]))
            self._last_mode = np.full(self.n, mode, dtype=np.intp)
            self._t_end = t_end
            status = self.status
            if self._ramp_s <= 0.0 or float(np.min(t_end - self._entered)) >= self._ramp_s:
                self._quiet_status = (mode, status)  # the ramp is done: only t_s moves now
            return status
        v = m[:, 0]
        f = m[:, 1]
        was_in = self._in_service.copy()

        # trip timers: (n, K) condition, elapsed time, time left to the clearing time
        x = m[:, self._src] * self._sign
        cond = (x > self._thr_signed) & was_in[:, None]
        before = self._timers
        self._timers = np.where(cond, before + dt, 0.0)
        remaining = self._clear - before
        if self._lvrt is not None:
            remaining[:, self._lvrt_col] = self._lvrt.time_to_trip_s(v) - before[:, self._lvrt_col]
        fire = cond & (remaining <= dt + TIME_TOLERANCE_S)
        new = np.zeros(self.n, dtype=bool)
        t_trip = np.full(self.n, np.inf)
        if fire.any():
            t_fire = np.where(fire, np.clip(remaining, 0.0, dt), np.inf)
            col = np.argmin(t_fire, axis=1)
            first = t_fire[self._rows, col]
            new = np.isfinite(first)
            t_trip = t + first
            self._trip_units(new, t_trip, col + 1)

        # enter service: the window must hold continuously for the delay
        if not self._in_service.all():
            v_lo, v_hi, f_lo, f_hi = self._es
            window = (v >= v_lo) & (v <= v_hi) & (f >= f_lo) & (f <= f_hi) & self._permit
            waiting = ~was_in
            es_before = self._es_timer
            credit = np.where(waiting, dt, np.where(new, t_end - t_trip, 0.0))
            es_after = np.where(window & (waiting | new), es_before + credit, 0.0)
            enter = waiting & window & (es_before + dt >= self._es_delay - TIME_TOLERANCE_S)
            if enter.any():
                t_enter = t + np.clip(self._es_delay - es_before, 0.0, dt)
                self._in_service |= enter
                self._tripped &= ~enter
                self._entered = np.where(enter, t_enter, self._entered)
                self._trip_time = np.where(enter, np.nan, self._trip_time)
                self._reason = np.where(enter, 0, self._reason)
                es_after = np.where(enter, 0.0, es_after)
            self._es_timer = es_after

        # voltage ride-through mode (first matching region; none → may_trip)
        if self._reg_mode.size:
            match = (v[:, None] > self._reg_lo) & (v[:, None] < self._reg_hi)
            mode = self._reg_mode[np.argmax(match, axis=1)]
            self._last_mode = np.where(match.any(axis=1), mode, _MAY_TRIP)
        else:
            self._last_mode = np.full(self.n, _MAY_TRIP, dtype=np.intp)
        self._last_new = new
        self._t_end = t_end
        status = self.status
        scalar = type(v_pu) is float and type(f_hz) is float and islanded is False
        idle = not (new.any() or self._in_service.any() or self._timers.any())
        if self.quiet_path and scalar and idle:
            # nothing is in service to trip: until a unit enters, or the ride-through mode
            # changes, a tick moves only the time and the enter-service timers (see _wait)
            self._waiting_status = (int(self._last_mode[0]), status)
        return status

    def _wait(self, dt: float, inside: bool) -> bool:
        """The enter-service timers over a tick with no unit in service (the general path's
        arithmetic): zero outside the window; inside it each permitted unit's counts ``dt``.
        False, changing nothing, when a unit would enter this tick (the general path then)."""
        es = self._es_timer
        if not inside:
            if es.any():
                self._es_timer = np.zeros(self.n)
            return True
        if bool(np.any(self._permit & (es + dt >= self._es_delay - TIME_TOLERANCE_S))):
            return False
        self._es_timer = np.where(self._permit, es + dt, 0.0)
        return True

    def _in_window(self, v: float, f: float) -> bool:
        """The enter-service window holds at ``v``, ``f`` (before the permit)."""
        v_lo, v_hi, f_lo, f_hi = self._es
        return v >= v_lo and v <= v_hi and f >= f_lo and f <= f_hi

    def _quiet(self, inputs: tuple[Any, ...], row: FloatArray) -> bool:
        """True when the tick cannot pick anything up: scalar inputs (one measurement for every
        unit), every unit in service, no timer running and ``row`` inside every threshold."""
        if any(np.ndim(x) != 0 for x in inputs) or not self._in_service.all() or self._timers.any():
            return False
        return not bool(np.any(row[self._src] * self._sign > self._thr_signed))

    def _mode_py(self, v: float) -> int:
        """:meth:`_mode_of` without arrays."""
        for lo, hi, mode in self._reg_py:
            if v > lo and v < hi:
                return mode
        return _MAY_TRIP

    def _mode_of(self, v: float) -> int:
        """The ride-through mode at voltage ``v`` (first matching region; none → may trip)."""
        if self._reg_mode.size:
            match = (v > self._reg_lo) & (v < self._reg_hi)
            if match.any():
                return int(self._reg_mode[np.argmax(match)])
        return _MAY_TRIP

    @property
    def status(self) -> GridCodeStatus:
        """The state at the end of the last tick (reflects :meth:`trip` calls since)."""
        ins = self._in_service
        if self._ramp_s > 0.0:
            ramp = np.clip((self._t_end - self._entered) / self._ramp_s, 0.0, 1.0)
        else:
            ramp = np.ones(self.n)
        ramp = np.where(ins, ramp, 0.0)
        cess = self._mode_ceases[self._last_mode] & ins
        return GridCodeStatus(
            t_s=self._t_end,
            tripped=_frozen(self._tripped),
            trip_time_s=_frozen(self._trip_time),
            trip_reason=_frozen(_REASON_NAMES[self._reason]),
            new_trip=_frozen(self._last_new),
            cessation=_frozen(cess),
            may_energize=_frozen(ins),
            ramp_limit_pu=_frozen(ramp),
            ride_through_mode=_frozen(_MODE_NAMES[self._last_mode]),
        )
