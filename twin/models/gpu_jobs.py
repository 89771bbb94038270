"""The job waveforms of the GPU fleet: one timeline of breakpoints per synchronous job.

:class:`JobWaveforms` generates, records and prunes each job's piecewise-linear utilisation
(training iterations, checkpoints, start ramps, failures) for :class:`twin.models.gpu.GpuFleet`,
which inherits it. Part of :mod:`twin.models.gpu` (see its docstring for the model).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from typing import Any

import numpy as np

from twin.models.gpu_params import (
    _ARRIVAL_BLOCK,
    _JITTER_BLOCK,
    _PRUNE_AT,
    _RUNNING,
    CHECKPOINT,
    FAILED,
    IDLE,
    STARTING,
    TRAINING,
    GpuFleetParams,
)
from twin.pwl import slew


class _Job:
    """Timeline of one synchronous job (private; one per job, never one per rack).

    ``xt, xv, xf``: raw input breakpoints (time, s, floor active on the segment that starts
    there). ``yt, yv``: output breakpoints (equal to the input without smoothing, the slew-
    limited floored input with it); the output covers the input up to ``xt[x_done]``.
    ``rec_*``: state records (start time, state, start of unsaved work). ``ev``: events
    generated but not yet reached by the clock. ``g_*``: where the generator stands.
    """

    __slots__ = (
        "arr",
        "arr_i",
        "arr_t0",
        "ckpt_due",
        "enter_kind",
        "entering",
        "ev",
        "fail_rng",
        "g_t",
        "hold",
        "index",
        "jit",
        "jit_pos",
        "jit_rng",
        "n_gpus",
        "n_racks",
        "off",
        "off_frac",
        "period",
        "phase",
        "phase_end",
        "plateau",
        "ramp_s",
        "rate_per_s",
        "rec_s",
        "rec_t",
        "rec_w",
        "restart_at",
        "x_done",
        "xf",
        "xt",
        "xv",
        "yt",
        "yv",
    )

    def __init__(
        self,
        index: int,
        n_racks: int,
        n_gpus: int,
        rate_per_s: float,
        jit_rng: np.random.Generator,
        fail_rng: np.random.Generator,
        t0: float,
    ) -> None:
        self.index = index
        self.n_racks = n_racks
        self.n_gpus = n_gpus
        self.rate_per_s = rate_per_s
        self.jit_rng = jit_rng
        self.fail_rng = fail_rng
        self.jit: list[float] = []
        self.jit_pos = 0
        self.arr: list[float] = [math.inf] if rate_per_s <= 0.0 else []
        self.arr_i = 0
        self.arr_t0 = t0
        self.xt: list[float] = []
        self.xv: list[float] = []
        self.xf: list[bool] = []
        self.x_done = 0
        self.yt: list[float] = []
        self.yv: list[float] = []
        self.rec_t: list[float] = []
        self.rec_s: list[int] = []
        self.rec_w: list[float] = []
        self.ev: list[tuple[float, str, float]] = []
        self.phase = IDLE
        self.g_t = t0
        self.entering = False
        self.enter_kind: str | None = None
        self.off = 0.0
        self.off_frac: float | None = None
        self.phase_end = t0
        self.ckpt_due = math.inf
        self.restart_at = math.inf
        self.hold = False
        self.ramp_s = 0.0
        self.period = 0.0  # mean iteration period of this job (s)
        self.plateau = 0.0  # compute plateau of an iteration of that period (s)

    def state_at(self, t: float) -> int:
        return self.rec_s[bisect_right(self.rec_t, t) - 1]


def _keep(v: object) -> object:
    """One attribute as a checkpoint keeps it: lists and arrays copied (their items are
    immutable: numbers, strings, tuples), a random generator with its state, the rest as is."""
    if isinstance(v, list):
        return v.copy()
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, np.random.Generator):
        return _RngAt(v, v.bit_generator.state)
    return v


def _put(v: object) -> object:
    """An attribute back from :func:`_keep` (a generator rewound to its kept state)."""
    if isinstance(v, _RngAt):
        v.rng.bit_generator.state = v.state
        return v.rng
    if isinstance(v, (list, np.ndarray)):
        return v.copy()  # the checkpoint stays reusable
    return v


class _RngAt:
    """A generator and its state when a checkpoint was taken."""

    __slots__ = ("rng", "state")

    def __init__(self, rng: np.random.Generator, state: Mapping[str, Any]) -> None:
        self.rng, self.state = rng, state


def job_checkpoint(job: _Job) -> tuple[object, ...]:
    return tuple(_keep(getattr(job, k)) for k in _Job.__slots__)


def job_restore(job: _Job, saved: tuple[object, ...]) -> None:
    for k, v in zip(_Job.__slots__, saved, strict=True):
        setattr(job, k, _put(v))


class JobWaveforms:
    """The fleet's per-job waveform generation (a mixin of :class:`twin.models.gpu.GpuFleet`)."""

    params: GpuFleetParams
    events: list[tuple[float, str, int]]
    gpu_hours_lost_failures: float
    _jobs: list[_Job]
    _edge: float
    _low: float
    _f_c: float
    _s_floor: float
    _r_up: float
    _r_dn: float
    _smooth: bool

    def _record(self, jb: _Job, t: float, state: int, work_ref: float) -> None:
        jb.rec_t.append(t)
        jb.rec_s.append(state)
        jb.rec_w.append(work_ref)

    def _switch(self, jb: _Job, tau: float, phase: int, kind: str) -> None:
        """Cut the job's timeline at ``tau`` and enter ``phase`` there."""
        _truncate(jb, tau)
        jb.g_t = tau
        jb.phase = phase
        jb.entering = True
        jb.enter_kind = kind
        jb.off = 0.0
        jb.off_frac = None

    def _enter(self, jb: _Job) -> None:
        p = self.params
        t = jb.g_t
        phase = jb.phase
        rollback = 0.0
        if phase == FAILED:
            i = bisect_right(jb.rec_t, t) - 1
            w = jb.rec_w[i]
            if jb.rec_s[i] in _RUNNING and not math.isnan(w):
                rollback = jb.n_gpus * max(0.0, t - w) / 3600.0
            jb.restart_at = t + p.restart_delay_s
            self._record(jb, t, FAILED, math.nan)
        elif phase == IDLE:
            self._record(jb, t, IDLE, math.nan)
        elif phase == STARTING:
            jb.phase_end = t + jb.ramp_s
            self._record(jb, t, STARTING, math.nan)
        elif phase == TRAINING:
            jb.ckpt_due = t + p.checkpoint_interval_s if p.checkpoint_interval_s > 0 else math.inf
            self._record(jb, t, TRAINING, t)
        else:  # CHECKPOINT keeps the start of unsaved work until it completes
            jb.phase_end = t + p.checkpoint_duration_s
            self._record(jb, t, CHECKPOINT, jb.rec_w[-1])
        if jb.enter_kind is not None:
            jb.ev.append((t, jb.enter_kind, rollback))
        jb.entering = False
        jb.enter_kind = None

    def _generate_until(self, jb: _Job, target: float) -> None:
        """Extend the job's timeline by whole chunks until it reaches ``target``."""
        while True:
            if jb.entering:
                self._enter(jb)
                continue
            if jb.g_t >= target and jb.xt:
                break
            phase = jb.phase
            if phase == TRAINING:
                self._chunk_training(jb)
            elif phase == CHECKPOINT:
                self._chunk_checkpoint(jb)
            elif phase == STARTING:
                self._chunk_starting(jb)
            else:
                self._chunk_flat(jb, target)
        if jb.x_done < len(jb.xt) - 1 or not jb.yt:
            self._emit(jb)

    def _level(self, jb: _Job, v: float, floor: bool) -> None:
        """Make the input continue from value ``v`` at ``g_t`` (a step if needed)."""
        if not jb.xt:
            jb.xt.append(jb.g_t)
            jb.xv.append(v)
            jb.xf.append(floor)
            return
        jb.xf[-1] = floor
        if jb.xv[-1] != v:
            jb.xt.append(jb.g_t)
            jb.xv.append(v)
            jb.xf.append(floor)

    def _push(self, jb: _Job, t: float, v: float, floor: bool) -> None:
        jb.xt.append(t)
        jb.xv.append(v)
        jb.xf.append(floor)

    def _chunk_flat(self, jb: _Job, target: float) -> None:
        self._level(jb, 0.0, False)
        end = target
        restart = jb.phase == FAILED and not jb.hold and jb.restart_at <= target
        if restart:
            end = max(jb.restart_at, jb.g_t)
        if end > jb.g_t:
            self._push(jb, end, 0.0, False)
            jb.g_t = end
        if restart:
            jb.phase = STARTING
            jb.ramp_s = self.params.start_ramp_s
            jb.entering = True
            jb.enter_kind = "restart"

    def _chunk_starting(self, jb: _Job) -> None:
        t_s = jb.g_t
        t_e = jb.phase_end
        jb.phase = TRAINING
        jb.entering = True
        jb.enter_kind = "train"
        if t_e <= t_s:
            jb.off = 0.0
            return
        self._level(jb, 0.0, True)
        self._push(jb, t_e, self.params.duty, True)
        jb.g_t = t_e
        jb.off = self._f_c * self._edge  # continue on the rising edge at s = duty
        self._check_failure(jb, t_s, t_e)

    def _chunk_checkpoint(self, jb: _Job) -> None:
        t_s = jb.g_t
        t_e = jb.phase_end
        lvl = self.params.checkpoint_level
        self._level(jb, lvl, True)
        self._push(jb, t_e, lvl, True)
        jb.g_t = t_e
        jb.phase = TRAINING
        jb.entering = True
        jb.enter_kind = "checkpoint_done"
        jb.off = 0.0
        self._check_failure(jb, t_s, t_e)

    def _chunk_training(self, jb: _Job) -> None:
        t = jb.g_t
        if jb.off == 0.0 and jb.off_frac is None and t >= jb.ckpt_due:
            jb.phase = CHECKPOINT
            jb.entering = True
            jb.enter_kind = "checkpoint"
            return
        period = jb.period * (1.0 + self._jitter(jb))
        if jb.off_frac is not None:
            off = jb.off_frac * period
            jb.off_frac = None
        else:
            off = jb.off
        jb.off = 0.0
        e = self._edge
        e_h = e + jb.plateau
        lo = self._low
        rel = (e, e_h, e_h + e, period)
        val = (1.0, 1.0, lo, lo)
        # value at the offset (lo on the boundary, on the rising edge after a ramp)
        if off <= 0.0:
            x_off = lo
        elif off < e:
            x_off = lo + (1.0 - lo) * (off / e)
        elif off <= e_h:
            x_off = 1.0
        elif off < e_h + e:
            x_off = 1.0 - (1.0 - lo) * ((off - e_h) / e)
        else:
            x_off = lo
        self._level(jb, x_off, True)
        b = t - off
        for r, v in zip(rel, val, strict=True):
            if r > off:
                self._push(jb, b + r, v, True)
        jb.g_t = b + period
        self._check_failure(jb, t, jb.g_t)

    def _jitter(self, jb: _Job) -> float:
        sigma = self.params.iteration_jitter
        if sigma == 0.0:
            return 0.0
        if jb.jit_pos >= len(jb.jit):
            z = np.clip(jb.jit_rng.standard_normal(_JITTER_BLOCK), -3.0, 3.0)
            jb.jit = (sigma * z).tolist()
            jb.jit_pos = 0
        d = jb.jit[jb.jit_pos]
        jb.jit_pos += 1
        return d

    def _check_failure(self, jb: _Job, c0: float, c1: float) -> None:
        """Fail the job at the first Poisson arrival in ``[c0, c1)``, if any."""
        arr = jb.arr
        i = jb.arr_i
        while True:
            while i < len(arr) and arr[i] < c0:
                i += 1
            if i < len(arr):
                break
            last = arr[-1] if arr else jb.arr_t0
            draws = jb.fail_rng.exponential(1.0 / jb.rate_per_s, _ARRIVAL_BLOCK)
            arr.extend((last + np.cumsum(draws)).tolist())
        jb.arr_i = i
        a = arr[i]
        if a < c1:
            jb.arr_i = i + 1
            self._switch(jb, a, FAILED, "failure")

    # ------------------------------------------------------------------ output

    def _emit(self, jb: _Job) -> None:
        """Turn pending input breakpoints into output breakpoints."""
        xt, xv = jb.xt, jb.xv
        if not jb.yt:
            y0 = xv[0]
            if self._smooth and jb.xf[0]:
                y0 = max(y0, self._s_floor)
            jb.yt.append(xt[0])
            jb.yv.append(y0)
            jb.x_done = 0
        k = jb.x_done
        n = len(xt)
        if k >= n - 1:
            return
        if self._smooth:
            slew(xt, xv, jb.xf, k, jb.yt, jb.yv, self._s_floor, self._r_up, self._r_dn)
        else:
            if jb.yv[-1] != xv[k]:
                jb.yt.append(xt[k])
                jb.yv.append(xv[k])
            jb.yt.extend(xt[k + 1 :])
            jb.yv.extend(xv[k + 1 :])
        jb.x_done = n - 1

    def _split_input(self, jb: _Job, tau: float) -> int:
        """Index of the last input breakpoint at or before ``tau`` (inserted if needed)."""
        xt, xv, xf = jb.xt, jb.xv, jb.xf
        i = bisect_right(xt, tau) - 1
        if xt[i] < tau and i < len(xt) - 1:
            ta, tb = xt[i], xt[i + 1]
            v = xv[i] + (xv[i + 1] - xv[i]) * (tau - ta) / (tb - ta)
            xt.insert(i + 1, tau)
            xv.insert(i + 1, v)
            xf.insert(i + 1, xf[i])
            i += 1
        return i

    # ------------------------------------------------------------------ bookkeeping

    def _state_times(self, jb: _Job, t0: float, t1: float) -> tuple[float, float, float]:
        """Time in [t0, t1) that the job was allocated (not idle), running, failed."""
        rt, rs = jb.rec_t, jb.rec_s
        i = bisect_right(rt, t0) - 1
        n = len(rt)
        alloc = running = failed = 0.0
        start = t0
        while True:
            end = rt[i + 1] if i + 1 < n else math.inf
            if end > t1:
                end = t1
            d = end - start
            if d > 0.0:
                s = rs[i]
                if s != IDLE:
                    alloc += d
                    if s == FAILED:
                        failed += d
                    else:
                        running += d
            if end >= t1:
                break
            i += 1
            start = max(start, rt[i])
        return alloc, running, failed

    def _flush_events(self, t: float) -> None:
        batch: list[tuple[float, str, int]] = []
        for jb in self._jobs:
            ev = jb.ev
            k = 0
            while k < len(ev) and ev[k][0] <= t:
                te, kind, rollback = ev[k]
                batch.append((te, kind, jb.index))
                self.gpu_hours_lost_failures += rollback
                k += 1
            if k:
                del ev[:k]
        if batch:
            batch.sort(key=lambda e: e[0])
            self.events.extend(batch)

    def _prune(self, jb: _Job, t: float) -> None:
        if len(jb.yt) > _PRUNE_AT:
            p = bisect_right(jb.yt, t) - 1
            if p > 0:
                del jb.yt[:p], jb.yv[:p]
        if len(jb.xt) > _PRUNE_AT:
            q = min(bisect_right(jb.xt, t) - 1, jb.x_done)
            if q > 0:
                del jb.xt[:q], jb.xv[:q], jb.xf[:q]
                jb.x_done -= q
        if len(jb.rec_t) > _PRUNE_AT:
            r = bisect_right(jb.rec_t, t) - 1
            if r > 0:
                del jb.rec_t[:r], jb.rec_s[:r], jb.rec_w[:r]
        if jb.arr_i > _PRUNE_AT:
            a = min(bisect_left(jb.arr, t), jb.arr_i)
            if a > 0:
                del jb.arr[:a]
                jb.arr_i -= a


def _truncate_output(jb: _Job, tau: float) -> None:
    """Drop output after ``tau``; the output then ends at ``tau`` (left value kept)."""
    yt, yv = jb.yt, jb.yv
    j = bisect_right(yt, tau)
    if j < len(yt):
        ta, tb = yt[j - 1], yt[j]
        v = yv[j - 1] + (yv[j] - yv[j - 1]) * (tau - ta) / (tb - ta)
        del yt[j:], yv[j:]
        if ta < tau:
            yt.append(tau)
            yv.append(v)


def _truncate(jb: _Job, tau: float) -> None:
    """Cut every generated list of ``jb`` at ``tau`` (the input must reach ``tau``)."""
    xt, xv, xf = jb.xt, jb.xv, jb.xf
    i = bisect_right(xt, tau)
    if i < len(xt):
        ta, tb = xt[i - 1], xt[i]
        v = xv[i - 1] + (xv[i] - xv[i - 1]) * (tau - ta) / (tb - ta)
        del xt[i:], xv[i:], xf[i:]
        if ta < tau:
            xt.append(tau)
            xv.append(v)
            xf.append(xf[-1])
    if jb.yt and jb.yt[-1] > tau:
        _truncate_output(jb, tau)
        jb.x_done = len(xt) - 1
    else:
        jb.x_done = min(jb.x_done, len(xt) - 1)
    k = bisect_right(jb.rec_t, tau)
    del jb.rec_t[k:], jb.rec_s[k:], jb.rec_w[k:]
    ev = jb.ev
    while ev and ev[-1][0] > tau:
        ev.pop()
    jb.arr_i = bisect_right(jb.arr, tau)
