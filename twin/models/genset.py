"""Standby genset: start delay, first-order engine, load-acceptance limit, governor, fuel.

The governor is a droop with an optional common integral (``governor: isochronous``): the
units share load by droop and the integral of the frequency error, shared equally over the
running units as an isochronous load-sharing line does, brings the island back to nominal
frequency (ISO 8528-5 steady-state band ≤ 0.25–0.5 % for classes G2–G3 [K]). A reference
offset ``dev_ref`` lets the synchroniser slip the island against a returning grid.

ISO 8528-5 / NFPA 110 flavoured [K]: a turbocharged diesel accepts 30–50 % of its rating
per load step, responds with τ ≈ 1–3 s, should not run below ~30 % load for long, and an
NFPA 110 Type 10 set carries emergency load within 10 s of an outage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from twin._interp import FloatArray
from twin.params import param
from twin.signals import Signal

__all__ = ["Genset", "GensetParams", "GensetState"]


class GensetState(IntEnum):
    OFF = 0
    CRANKING = 1
    RUNNING = 2
    COOLDOWN = 3
    FAIL_TO_START = 4


_GENSETSTATE_OFF = int(GensetState.OFF)
_GENSETSTATE_CRANKING = int(GensetState.CRANKING)
_GENSETSTATE_RUNNING = int(GensetState.RUNNING)
_GENSETSTATE_COOLDOWN = int(GensetState.COOLDOWN)
_GENSETSTATE_FAIL_TO_START = int(GensetState.FAIL_TO_START)


@dataclass(frozen=True)
class GensetParams:
    n_units: int = param(1, ge=0, limit="genset.n_units", source="site layout")
    p_rated_kw: float = param(
        2500.0, unit="kW", gt=0, limit="genset.p_rated_kw", source="[K] 2.5 MW standby diesel class"
    )
    start_delay_s: float = param(8.0, unit="s", ge=0, source="[K] NFPA 110 Type 10: on load within 10 s")
    tau_s: float = param(2.0, unit="s", gt=0, source="[K] engine τ ≈ 1–3 s (physics.md §5)")
    step_limit_frac: float = param(
        0.4, gt=0, le=1, source="[K] turbocharged diesel load step 30–50 % of rating"
    )
    min_load_frac: float = param(0.3, ge=0, lt=1, source="[K] wet-stacking limit ≈ 30 %")
    droop_pct: float = param(4.0, unit="%", gt=0, source="[K] governor droop 3–5 %")
    governor: str = param(
        "isochronous",
        choices=("isochronous", "droop"),
        source="[K] standby plants run isochronous load sharing; droop alone leaves an offset",
    )
    iso_t_i_s: float = param(
        5.0, unit="s", gt=0, source="[K] isochronous load-sharing integral time, seconds"
    )
    unload_kw_per_s: float = param(
        150.0, unit="kW/s", gt=0, source="[K] soft unload over 10–30 s per unit on retransfer"
    )
    fuel_a_l_per_kwh: float = param(
        0.08415, ge=0, source="[K] Skarstein–Uhlen fuel line: F = a·P_rated + b·P (l/h)"
    )
    fuel_b_l_per_kwh: float = param(0.246, ge=0, source="[K] Skarstein–Uhlen fuel line")
    fail_to_start_prob: float = param(0.0, ge=0, le=1, source="test knob: seeded per start")
    auto_start: bool = param(True, source="start on loss of grid")
    cooldown_s: float = param(300.0, unit="s", ge=0, source="[K] unloaded cool-down run")


class Genset:
    """Standby gensets, one unit each: start sequence, engine lag, droop governor, fuel."""

    name: ClassVar[str] = "genset"
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("p_kw", "kW", "electrical output"),
        Signal(
            "state", "enum", "0 off, 1 cranking, 2 running, 3 cool-down, 4 fail-to-start", enum=GensetState
        ),
        Signal("fuel_l", "l", "fuel used (cumulative)"),
        Signal("fuel_l_per_h", "l/h", "fuel rate"),
        Signal("energy_kwh", "kWh", "electrical energy delivered since the start (tick means)"),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal("start", "1", "1 starts the unit (a rising edge retries after a failed start), 0 stops"),
        Signal("p_set_kw", "kW", "base-load setpoint at nominal frequency (droop acts around it)"),
        Signal("fail_to_start", "1", "1 makes the next start fail (fault injection)"),
    )

    def __init__(self, params: GensetParams, *, rng: np.random.Generator) -> None:
        n = params.n_units
        self.params = params
        self.n = n
        self.rng = rng
        self.state = np.full(n, _GENSETSTATE_OFF)
        self.p = np.zeros(n)
        self.p_mean = np.zeros(n)
        self.crank_left = np.zeros(n)
        self.cool_left = np.zeros(n)
        self.fuel_l = np.zeros(n)
        self.fuel_rate = np.zeros(n)
        self.energy_kwh = np.zeros(n)  # Σ max(p_mean, 0)·dt
        self.accept_ceiling = np.zeros(n)
        self.p_sec = np.zeros(n)  # isochronous integral, kW per unit
        # inputs
        self.start_cmd = np.zeros(n)
        self._start_prev = np.zeros(n)
        self.p_set = np.zeros(n)
        self.force_fail = np.zeros(n)
        self.tau = params.tau_s

    @property
    def running(self) -> FloatArray:
        return (self.state == _GENSETSTATE_RUNNING).astype(float)

    def update_states(self, dt: float, *, demand_start: bool) -> None:
        p = self.params
        s = self.state
        want = (self.start_cmd > 0) | (demand_start & p.auto_start)
        if self._idle(want):  # every unit off, at rest and not asked to start: nothing changes
            return
        if self._steady(want):  # nothing starts, stops or times out: only the acceptance moves
            self._accept(s == _GENSETSTATE_RUNNING)
            return
        begin = (s == _GENSETSTATE_OFF) & want
        if np.any(begin):
            fails = (self.rng.random(self.n) < p.fail_to_start_prob) | (self.force_fail > 0)
            self.crank_left = np.where(begin, p.start_delay_s, self.crank_left)
            s = np.where(begin & fails, _GENSETSTATE_FAIL_TO_START, np.where(begin, _GENSETSTATE_CRANKING, s))
        crank = s == _GENSETSTATE_CRANKING
        self.crank_left = np.where(crank, self.crank_left - dt, self.crank_left)
        up = crank & (self.crank_left <= 1e-9)
        s = np.where(up, _GENSETSTATE_RUNNING, s)
        stop = (s == _GENSETSTATE_RUNNING) & ~want
        self.cool_left = np.where(stop, p.cooldown_s, self.cool_left)
        s = np.where(stop, _GENSETSTATE_COOLDOWN, s)
        cool = s == _GENSETSTATE_COOLDOWN
        self.cool_left = np.where(cool, self.cool_left - dt, self.cool_left)
        s = np.where(cool & want, _GENSETSTATE_RUNNING, s)
        s = np.where(cool & (self.cool_left <= 1e-9), _GENSETSTATE_OFF, s)
        # a failed start stays failed until the start demand is withdrawn, or until a start
        # command is (re-)issued: a rising edge of start_cmd retries even while an outage keeps
        # the automatic start demand up
        retry = (self.start_cmd > 0) & (self._start_prev <= 0)
        s = np.where((s == _GENSETSTATE_FAIL_TO_START) & (~want | retry), _GENSETSTATE_OFF, s)
        self._start_prev = self.start_cmd.copy()
        self.state = s
        self._accept(s == _GENSETSTATE_RUNNING)

    def _accept(self, running: npt.NDArray[np.bool_]) -> None:
        """A unit that does not run carries nothing; one that runs accepts load up to its
        acceptance ceiling: at most ``step_limit_frac`` of its rating above what it carries
        now (the lag then closes the gap with τ); more needs shedding."""
        p = self.params
        self.p = np.where(running, self.p, 0.0)
        self.p_sec = np.where(running, self.p_sec, 0.0)
        self.accept_ceiling = np.where(
            running,
            np.minimum(self.p + p.step_limit_frac * p.p_rated_kw, p.p_rated_kw),
            0.0,
        )

    def _steady(self, want: npt.NDArray[np.bool_]) -> bool:
        """True when the state update would change no state or timer: every unit asked to
        run, each running or failed to start, and the start command as on the last tick (no
        rising edge to retry a failed start)."""
        s = self.state
        return (
            bool(want.all())
            and bool(((s == _GENSETSTATE_RUNNING) | (s == _GENSETSTATE_FAIL_TO_START)).all())
            and np.array_equal(self.start_cmd, self._start_prev)
        )

    def _idle(self, want: npt.NDArray[np.bool_]) -> bool:
        """True when the state update would leave every array as it is: all units off with
        no power, no integral and no acceptance headroom, no start wanted, and the start
        command unchanged since the last tick (so no rising edge and ``_start_prev`` stays)."""
        return (
            not want.any()
            and bool((self.state == _GENSETSTATE_OFF).all())
            and not self.p.any()
            and not self.p_sec.any()
            and not self.accept_ceiling.any()
            and np.array_equal(self.start_cmd, self._start_prev)
        )

    def droop_target(self, f_dev_pu: float, dev_ref: float = 0.0) -> FloatArray:
        """Governor target for a frequency deviation (pu of nominal), clipped to limits."""
        p = self.params
        err = f_dev_pu - dev_ref
        tgt = self.p_set + self.p_sec - err / (p.droop_pct / 100.0) * p.p_rated_kw
        return np.asarray(np.clip(tgt, 0.0, self.accept_ceiling) * self.running)

    def integrate(self, f_dev_pu: float, dev_ref: float, h: float) -> None:
        """Advance the isochronous integral over ``h`` (no-op on a droop governor)."""
        p = self.params
        if p.governor != "isochronous":
            return
        err = f_dev_pu - dev_ref
        sec = self.p_sec - err / (p.droop_pct / 100.0) * p.p_rated_kw * h / p.iso_t_i_s
        # anti-windup: the integral never asks for more than the unit can take now
        self.p_sec = (
            np.clip(sec, -self.p_set, np.maximum(self.accept_ceiling - self.p_set, 0.0)) * self.running
        )

    def step_lag(self, target: FloatArray, dt: float) -> None:
        e = math.exp(-dt / self.tau)
        p0 = self.p
        self.p = target + (p0 - target) * e
        self.p_mean = target + (p0 - target) * self.tau / dt * (1.0 - e)

    def finish_tick(self, dt: float) -> None:
        p = self.params
        run = self.running
        self.fuel_rate = run * (p.fuel_a_l_per_kwh * p.p_rated_kw + p.fuel_b_l_per_kwh * self.p_mean)
        self.fuel_l = self.fuel_l + self.fuel_rate * dt / 3600.0
        self.energy_kwh = self.energy_kwh + np.maximum(self.p_mean, 0.0) * dt / 3600.0
