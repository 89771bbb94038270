"""Power conversion systems (battery inverters), vectorised over units.

Setpoint dynamics: a rate limiter (``ramp_pct_per_s`` of rated power per second, SunSpec
704 ``WRmp``) followed by a first-order lag whose time constant follows from the IEEE 1547
open-loop response time: τ = T_r / ln 10 (90 % of a step at T_r). With the command held
over a tick the ramp-then-lag response has a closed form, so the fixed-step path is exact.

Terminal limits: the apparent power is bounded by the current limit at the terminal voltage,
S ≤ V·I_max (so nothing at 0 V), and by the ambient and external derating. The grid code adds
reactive-current injection in a sag (GB/T 19964 style), momentary cessation, the
enter-service ramp after a trip, volt-watt and freq-watt with its own settings.

Losses: a switching unit loses P_n·(P0 + k1·p + k2·p²), p = |P_ac|/P_n, one no-load term P0
for both directions so the loss is continuous through P = 0 (discharge: the Notton form of
the Sungrow SC1000TL field fit shipped in SimSES; charge: refitted to it with the common P0,
physics.md §2). With `standby` on (the default), a running unit held at P = Q = 0 stops
switching (hot standby) and draws only a small standby loss. Auxiliary and HVAC load rises
with the ambient temperature.
See ``docs/models/pcs.md``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from twin._interp import FloatArray
from twin.models.gridcode import (
    GridCode,
    fault_reactive_current_pu,
    freq_watt_dp_pu,
    lag_step,
    response_tau_s,
    volt_var_q_pu,
    volt_watt_p_pu,
)
from twin.models.pcs_params import (
    _PCSSTATE_FAULT,
    _PCSSTATE_OFF,
    _PCSSTATE_RUNNING,
    _PCSSTATE_STANDBY,
    _PCSSTATE_STARTING,
    _PCSSTATE_THROTTLED,
    PCS_ALARM_BITS,
    PcsParams,
    PcsState,
    ambient_derate_pu,
    lag_ramp_step,
    notton_efficiency,
    notton_loss_kw,
    pcs_loss_kw,
)
from twin.signals import Signal

__all__ = [
    "PCS_ALARM_BITS",
    "Pcs",
    "PcsParams",
    "PcsState",
    "ambient_derate_pu",
    "lag_ramp_step",
    "notton_efficiency",
    "notton_loss_kw",
    "pcs_loss_kw",
]


class Pcs:
    """Vectorised PCS fleet: one unit per battery cabinet."""

    name: ClassVar[str] = "pcs"
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("p_ac_kw", "kW", "AC active power at the end of the tick, + export (discharge)"),
        Signal("p_ac_mean_kw", "kW", "AC active power, mean over the tick (what the meters integrate)"),
        Signal("q_ac_kvar", "kvar", "AC reactive power, + inject"),
        Signal("p_dc_kw", "kW", "DC power drawn from the battery"),
        Signal("loss_kw", "kW", "conversion loss (standby loss when not switching)"),
        Signal("aux_kw", "kW", "auxiliary and HVAC consumption (AC side)"),
        Signal("state", "enum", "SunSpec 701 InvSt", enum=PcsState),
        Signal("alarm_bits", "bitfield32", "SunSpec 701 Alrm"),
        Signal("p_max_dis_kw", "kW", "available discharge power"),
        Signal("p_max_ch_kw", "kW", "available charge power"),
        Signal("p_set_kw", "kW", "active power setpoint in force, + discharge"),
        Signal(
            "throttle_pct",
            "%",
            "active power held back from what was asked (set point plus freq-watt) by a limit or "
            "momentary cessation, in % of rated power; 0 unless THROTTLED (SunSpec 701 ThrotPct)",
        ),
        Signal("enable", "1", "run command in force: 1 run, 0 stop"),
        Signal("discharge_kwh", "kWh", "AC energy delivered since the start"),
        Signal("charge_kwh", "kWh", "AC energy absorbed since the start"),
        Signal("kvarh_inj", "kvarh", "reactive energy injected since the start (tick means)"),
        Signal("kvarh_abs", "kvarh", "reactive energy absorbed since the start (tick means)"),
        Signal("dc_discharge_kwh", "kWh", "DC energy drawn from the battery since the start"),
        Signal("dc_charge_kwh", "kWh", "DC energy put into the battery since the start"),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal("enable", "1", "1 run, 0 stop"),
        Signal("p_set_kw", "kW", "active power setpoint, + discharge"),
        Signal("q_set_kvar", "kvar", "reactive power setpoint"),
        Signal("fault_reset", "1", "1 clears a latched fault"),
        Signal("derate_pu", "pu", "apparent-power derate (over-temperature), 1 = none"),
        Signal("fault_trip", "1", "1 forces a trip (fault injection)"),
        Signal("fault_dc_overvolt", "1", "1 forces a DC over-voltage trip (fault injection)"),
        Signal("overtemp", "1", "1 raises the over-temperature warning (fault injection)"),
    )

    def __init__(self, params: PcsParams, n: int, *, kernel: str = "numpy") -> None:
        """``kernel="compiled"`` runs the state machine through :mod:`twin.models.pcs_kernel`
        (the same results to the bit); ``"numpy"`` (the reference) through this file."""
        self.params = params
        self.n = n
        self.kernel = kernel
        # first-order lags with the IEEE 1547 open-loop response times (90 % of a step)
        self.tau = response_tau_s(params.t_response_s)
        self.tau_q = response_tau_s(params.t_response_q_s)
        self.tau_gfm = response_tau_s(params.gfm_t_response_s)
        self.rate_kw_s = params.ramp_pct_per_s / 100.0 * params.p_rated_kw
        self.state = np.full(n, _PCSSTATE_OFF)
        self.p_ac = np.zeros(n)
        self.p_ref = np.zeros(n)
        self.q_ac = np.zeros(n)
        self.p_ac_mean = np.zeros(n)
        self.q_ac_mean = np.zeros(n)
        self.start_left = np.zeros(n)
        self.islanded_for = 0.0
        self.islanded = False
        self.alarm_bits = np.zeros(n, dtype=np.int64)
        if params.grid_forming_units >= 0:
            self.gfm = np.arange(n) < params.grid_forming_units
        else:
            self.gfm = np.full(n, params.mode == "grid_forming")
        # inputs
        self.enable = np.zeros(n)
        self.p_set = np.zeros(n)
        self.q_set = np.zeros(n)
        self.fault_reset = np.zeros(n)
        self.derate = np.ones(n)
        self.fault_trip = np.zeros(n)
        self.fault_dc_ov = np.zeros(n)  # 1 trips with DC_OVER_VOLT (fault injection)
        self.overtemp = np.zeros(n)  # 1 raises OVER_TEMP without tripping (fault injection)
        self.p_max_dis = np.zeros(n)
        self.p_max_ch = np.zeros(n)
        self.loss = np.zeros(n)
        self.aux = np.zeros(n)
        self.p_dc = np.zeros(n)
        self.throttle_pct = np.zeros(n)  # % of P_n held back this tick (0 unless THROTTLED)
        self.trip_count = np.zeros(n)
        # terminal conditions and grid-code limits (set each tick by update_states / limits)
        self.v_pu = np.ones(n)
        self.t_ambient_degc = params.hvac_t_ref_degc
        self.cessation = np.zeros(n, dtype=bool)
        self.es_ramp = np.ones(n)  # enter-service ramp 0..1 on |P|
        self.s_cap = np.full(n, params.s_rated_kva)  # apparent-power limit now (kVA)
        self.i_lim_pu = np.full(n, params.i_max_pu)  # current limit now (pu of I_n)
        # grid-support filters: freq-watt ΔP and the volt-watt limit, each lagging with the
        # grid code's open-loop response time
        self.dp_fw = np.zeros(n)
        self.vw_lim = np.ones(n)
        # hot standby: connected and ready, not switching
        self.hot = np.zeros(n, dtype=bool)
        self.idle_for = np.zeros(n)

    @property
    def switching(self) -> FloatArray:
        """1 for units that switch (RUNNING or THROTTLED)."""
        s = self.state
        return ((s == _PCSSTATE_RUNNING) | (s == _PCSSTATE_THROTTLED)).astype(float)

    @property
    def running(self) -> FloatArray:
        """1 for units that can take a command at once: switching, or in hot standby."""
        return np.maximum(self.switching, self.hot.astype(float))

    def running_count(self) -> int:
        """How many units are :attr:`running`."""
        s = self.state
        return int(np.count_nonzero((s == _PCSSTATE_RUNNING) | (s == _PCSSTATE_THROTTLED) | (self.hot != 0)))

    def update_states(
        self,
        dt: float,
        *,
        contactor_closed: FloatArray,
        bms_fault: FloatArray,
        grid_ok: FloatArray,
        grid_trip: FloatArray,
        islanded: bool,
        trip_bits: FloatArray,
        cessation: npt.ArrayLike | None = None,
        ramp_limit_pu: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Discrete state machine. Returns the contactor close request per unit.

        ``cessation`` and ``ramp_limit_pu`` come from the grid-code monitor
        (:class:`~twin.models.gridcode.GridCodeStatus`); grid-forming units that hold an
        island ignore them (the monitor watches the grid side)."""
        self.islanded = islanded
        self.islanded_for = self.islanded_for + dt if islanded else 0.0
        if self.kernel == "compiled":
            from twin.models import pcs_kernel as pk

            return pk.run_update_states(
                self, dt, contactor_closed, bms_fault, grid_ok, grid_trip, trip_bits, cessation, ramp_limit_pu
            )
        s = self.state.copy()
        reset = self.fault_reset > 0
        gfl_island_trip = islanded & (~self.gfm) & (self.islanded_for >= self.params.anti_islanding_s)
        fault_now = (
            (self.fault_trip > 0)
            | (self.fault_dc_ov > 0)
            | (bms_fault > 0)
            | (grid_trip > 0)
            | gfl_island_trip
        )
        bits = np.where(self.fault_trip > 0, 1 << PCS_ALARM_BITS["MANUFACTURER_ALRM"], 0)
        bits |= np.where(self.fault_dc_ov > 0, 1 << PCS_ALARM_BITS["DC_OVER_VOLT"], 0)
        bits |= np.where(bms_fault > 0, 1 << PCS_ALARM_BITS["DC_DISCONNECT"], 0)
        bits |= np.where(gfl_island_trip, 1 << PCS_ALARM_BITS["GRID_DISCONNECT"], 0)
        bits |= np.asarray(trip_bits, dtype=np.int64)
        newly = fault_now & (s != _PCSSTATE_FAULT)
        self.trip_count = self.trip_count + newly
        s = np.where(fault_now, _PCSSTATE_FAULT, s)
        self.alarm_bits = np.where(fault_now, self.alarm_bits | bits, self.alarm_bits)
        # leave FAULT: hardware faults need a reset; grid trips clear themselves when the
        # grid code allows re-entry (grid_ok) — both need the fault condition gone
        clear = (s == _PCSSTATE_FAULT) & ~fault_now & (reset | ((self.alarm_bits & ~_SELF_CLEARING) == 0))
        clear &= grid_ok > 0
        s = np.where(clear, _PCSSTATE_STANDBY, s)
        self.alarm_bits = np.where(clear, 0, self.alarm_bits)
        # an over-temperature warning (derating, not a trip) stands while its cause does
        self.alarm_bits = np.where(
            self.overtemp > 0, self.alarm_bits | _OVER_TEMP, self.alarm_bits & ~_OVER_TEMP
        )
        en = self.enable > 0
        s = np.where((s != _PCSSTATE_FAULT) & ~en, _PCSSTATE_OFF, s)
        # hot standby ends with the unit (fault, stop); a grid-forming unit holding an island
        # must switch
        hot = self.hot & (s == _PCSSTATE_STANDBY)
        wake = hot & islanded & self.gfm
        s = np.where(wake, _PCSSTATE_RUNNING, s)
        hot &= ~wake
        self.hot = hot
        may_run = (grid_ok > 0) | (islanded & self.gfm)
        go = ((s == _PCSSTATE_OFF) | ((s == _PCSSTATE_STANDBY) & ~hot)) & en
        self.start_left = np.where(go & (s != _PCSSTATE_STARTING), self.params.start_s, self.start_left)
        s = np.where(go & may_run, _PCSSTATE_STARTING, np.where(go, _PCSSTATE_STANDBY, s))
        starting = s == _PCSSTATE_STARTING
        ready = starting & (contactor_closed > 0)
        self.start_left = np.where(ready, self.start_left - dt, self.start_left)
        s = np.where(ready & (self.start_left <= 1e-9), _PCSSTATE_RUNNING, s)
        stop = (s == _PCSSTATE_OFF) | (s == _PCSSTATE_FAULT)
        self.p_ac = np.where(stop, 0.0, self.p_ac)
        self.p_ref = np.where(stop | (s == _PCSSTATE_STARTING) | (s == _PCSSTATE_STANDBY), 0.0, self.p_ref)
        self.q_ac = np.where(stop, 0.0, self.q_ac)
        on = (s == _PCSSTATE_RUNNING) | (s == _PCSSTATE_THROTTLED) | hot
        self.idle_for = np.where(on & ~wake, self.idle_for, 0.0)
        self.state = s
        self.fault_reset = np.zeros(self.n)
        holds_island = islanded & self.gfm
        cess = np.zeros(self.n, dtype=bool) if cessation is None else np.asarray(cessation, dtype=bool)
        ramp = np.ones(self.n) if ramp_limit_pu is None else np.asarray(ramp_limit_pu, dtype=float)
        self.cessation = cess & ~holds_island
        self.es_ramp = np.where(holds_island, 1.0, np.clip(ramp, 0.0, 1.0))
        return (en & (s != _PCSSTATE_FAULT)).astype(float)

    def limits(
        self,
        dcl_a: FloatArray,
        ccl_a: FloatArray,
        v_dc_v: FloatArray,
        *,
        v_pu: float | FloatArray = 1.0,
        t_ambient_degc: float | None = None,
    ) -> None:
        """Available AC power from the BMS current limits, the current limit at the terminal
        voltage ``v_pu``, the ambient and external derating and the grid code's
        enter-service ramp, cessation and volt-watt limit."""
        pr = self.params
        if t_ambient_degc is not None:
            self.t_ambient_degc = float(t_ambient_degc)
        if self.kernel == "compiled":
            from twin.models import pcs_kernel as pk

            pk.run_limits(self, dcl_a, ccl_a, v_dc_v, v_pu)
            return
        self.v_pu = np.broadcast_to(np.maximum(np.asarray(v_pu, dtype=float), 0.0), (self.n,)).copy()
        d = np.minimum(np.clip(self.derate, 0.0, 1.0), ambient_derate_pu(self.t_ambient_degc, pr))
        self.i_lim_pu = pr.i_max_pu * d
        self.s_cap = pr.s_rated_kva * np.minimum(self.v_pu * self.i_lim_pu, d)
        p_cap = np.minimum(pr.p_rated_kw, self.s_cap)
        p_cap = np.where(self.cessation, 0.0, np.minimum(p_cap, self.es_ramp * pr.p_rated_kw))
        dis_dc = dcl_a * v_dc_v / 1000.0
        ch_dc = ccl_a * v_dc_v / 1000.0
        run = self.running
        vw = np.maximum(self.vw_lim, 0.0) * pr.p_rated_kw if pr.volt_watt else p_cap
        self.p_max_dis = run * np.minimum(np.minimum(p_cap, vw), dis_dc * 0.98)
        self.p_max_ch = run * np.minimum(p_cap, ch_dc / 0.98)

    def command(
        self,
        *,
        dt: float,
        v_pu: float | FloatArray,
        f_hz: float | FloatArray,
        f_nom_hz: float,
        code: GridCode,
    ) -> tuple[FloatArray, FloatArray]:
        """Active and reactive commands for the tick after every limit, with the grid code's
        control functions; marks THROTTLED units and moves units in and out of hot standby.

        The current limit, reactive-current injection and momentary cessation act within
        the tick (inner loops are ms-fast): the present output is clamped to them before the
        ramp-and-lag step. Freq-watt and volt-watt follow their curves through a lag with
        the grid code's open-loop response time."""
        if self.kernel == "compiled":
            from twin.models import pcs_kernel as pk

            return pk.run_command(self, dt=dt, v_pu=v_pu, f_hz=f_hz, f_nom_hz=f_nom_hz, code=code)
        pr = self.params
        n = self.n
        v = np.broadcast_to(np.maximum(np.asarray(v_pu, dtype=float), 0.0), (n,))
        f = np.broadcast_to(np.asarray(f_hz, dtype=float), (n,))
        fw, vw_curve = code.freq_watt, code.volt_watt
        dp_target = freq_watt_dp_pu(f, f_nom_hz, fw.deadband_hz, fw.droop) if pr.freq_watt else np.zeros(n)
        self.dp_fw = lag_step(self.dp_fw, dp_target, dt, response_tau_s(fw.t_r_s))
        vw_target = volt_watt_p_pu(v, vw_curve, absorbing=True) if pr.volt_watt else np.ones(n)
        self.vw_lim = lag_step(self.vw_lim, vw_target, dt, response_tau_s(vw_curve.t_r_s))

        want = self.p_set + self.dp_fw * pr.p_rated_kw
        hi = self.p_max_dis
        if pr.volt_watt:
            hi = np.minimum(hi, self.vw_lim * pr.p_rated_kw)
        lo = -self.p_max_ch
        p_cmd = np.clip(want, lo, np.maximum(hi, lo))

        # reactive power: the set point or volt-var within the Cat B bounds; in a sag the grid
        # code's reactive current (at least), up to the current limit
        s_cap = self.s_cap
        q_want = self.q_set if not pr.volt_var else volt_var_q_pu(v, code.volt_var) * pr.s_rated_kva
        q_target = np.clip(q_want, -pr.q_absorb_max_pu * pr.s_rated_kva, pr.q_inject_max_pu * pr.s_rated_kva)
        iq = fault_reactive_current_pu(v, code.reactive_current)
        inject = iq > 0
        q_inj = np.minimum(v * np.minimum(iq, self.i_lim_pu) * pr.s_rated_kva, s_cap)
        q_target = np.where(inject, np.maximum(q_target, q_inj), q_target)
        q_first = inject & code.reactive_current.q_priority
        q_first_cmd = np.clip(q_target, -s_cap, s_cap)
        p_room = np.sqrt(np.maximum(s_cap * s_cap - q_first_cmd * q_first_cmd, 0.0))
        p_cmd = np.where(q_first, np.clip(p_cmd, -p_room, p_room), np.clip(p_cmd, -s_cap, s_cap))
        q_room = np.sqrt(np.maximum(s_cap * s_cap - p_cmd * p_cmd, 0.0))
        q_cmd = np.where(q_first, q_first_cmd, np.clip(q_target, -q_room, q_room))
        # momentary cessation: no current at all
        cease = self.cessation
        p_cmd = np.where(cease, 0.0, p_cmd)
        q_cmd = np.where(cease, 0.0, q_cmd)

        run = self.running > 0
        # hot standby: idle commands for the hold time stop the switching; any command wakes
        idle = (np.abs(p_cmd) <= pr.standby_threshold_pu * pr.p_rated_kw) & (
            np.abs(q_cmd) <= pr.standby_threshold_pu * pr.s_rated_kva
        )
        may_sleep = run & idle & ~(self.islanded & self.gfm) & pr.standby
        self.idle_for = np.where(may_sleep, self.idle_for + dt, 0.0)
        sleep = may_sleep & (self.idle_for >= pr.standby_hold_s - 1e-9)
        self.hot = sleep
        p_cmd = np.where(sleep, 0.0, p_cmd)
        q_cmd = np.where(sleep, 0.0, q_cmd)

        # the present output obeys the current limit and cessation at once
        p_hard = np.where(cease | sleep, 0.0, np.where(q_first, p_room, s_cap))
        self.p_ac = np.clip(self.p_ac, -p_hard, p_hard)
        self.p_ref = np.clip(self.p_ref, -p_hard, p_hard)
        q_hard = np.sqrt(np.maximum(s_cap * s_cap - self.p_ac * self.p_ac, 0.0))
        q_now = np.where(q_first, q_cmd, np.clip(self.q_ac, -q_hard, q_hard))
        self.q_ac = np.where(cease | sleep, 0.0, q_now)

        throttled = run & ~sleep & ((np.abs(p_cmd - want) > 1e-6 * pr.p_rated_kw) | cease)
        new_state = np.where(
            sleep, _PCSSTATE_STANDBY, np.where(throttled, _PCSSTATE_THROTTLED, _PCSSTATE_RUNNING)
        )
        # what the limit held back; cessation holds back everything
        held = np.where(cease, 100.0, np.minimum(100.0 * np.abs(p_cmd - want) / pr.p_rated_kw, 100.0))
        self.throttle_pct = np.where(run & throttled, held, 0.0)
        self.state = np.where(run, new_state, self.state)
        return np.where(run, p_cmd, 0.0), np.where(run, q_cmd, 0.0)

    def step_following(self, p_cmd: FloatArray, q_cmd: FloatArray, dt: float) -> None:
        """Exact ramp + lag over the tick (grid-connected, or grid-following)."""
        if self.kernel == "compiled":
            from twin.models import pcs_step_kernel as psk

            psk.run_follow(self, p_cmd, q_cmd, dt)
            return
        self.p_ac, self.p_ref, self.p_ac_mean = lag_ramp_step(
            self.p_ac, self.p_ref, p_cmd, self.rate_kw_s, self.tau, dt
        )
        eq = math.exp(-dt / self.tau_q)
        q0 = self.q_ac
        self.q_ac = q_cmd + (q0 - q_cmd) * eq
        self.q_ac_mean = q_cmd + (q0 - q_cmd) * self.tau_q / dt * (1.0 - eq)

    def loss_now_kw(self, p_ac_kw: FloatArray) -> FloatArray:
        """Loss (kW, drawn from the DC side) at AC power ``p_ac_kw``: the conversion loss of a
        switching unit, the standby loss in hot standby, nothing otherwise."""
        pr = self.params
        sw = self.switching > 0
        conv = pcs_loss_kw(p_ac_kw, pr)
        return np.asarray(np.where(sw, conv, np.where(self.hot, pr.standby_loss_pu * pr.p_rated_kw, 0.0)))

    def aux_now_kw(self, p_ac_kw: FloatArray) -> FloatArray:
        """Auxiliary load (kW, AC side) per cabinet: controls/BMS/fans and HVAC always on,
        HVAC rising with the ambient above its set point, plus a share of the throughput."""
        return np.asarray(self.aux_base_kw() + self.params.hvac_frac * np.abs(p_ac_kw))

    def aux_base_kw(self) -> float:
        """The auxiliary load at no throughput: controls/BMS/fans and HVAC (kW per cabinet)."""
        pr = self.params
        warm = max(self.t_ambient_degc - pr.hvac_t_ref_degc, 0.0)
        return float(pr.aux_kw + pr.s_rated_kva * (pr.hvac_base_pu + pr.hvac_slope_pu_per_degc * warm))

    def island_lags(self, h: float) -> tuple[npt.NDArray[np.bool_], FloatArray, FloatArray, float]:
        """What an island sub-step of ``h`` seconds needs, once per tick: the running units,
        each unit's active-power time constant (grid-forming or following), its e^(−h/τ), and
        the reactive lag's e^(−h/τ_q)."""
        e_p = math.exp(-h / self.tau)
        e_g = math.exp(-h / self.tau_gfm)
        e_q = math.exp(-h / self.tau_q)
        run = self.running > 0
        tau_p = np.where(self.gfm, self.tau_gfm, self.tau)
        e = np.where(self.gfm, e_g, e_p)
        return run, tau_p, e, e_q

    def island_substep(
        self,
        tgt: FloatArray,
        q_cmd: FloatArray,
        h: float,
        lags: tuple[npt.NDArray[np.bool_], FloatArray, FloatArray, float],
    ) -> tuple[FloatArray, FloatArray]:
        """One island sub-step: P lags exactly toward ``tgt`` (:meth:`gfm_target`), Q toward
        ``q_cmd``, held over ``h`` (:meth:`island_lags`). Returns the sub-step's mean P and Q."""
        run, tau_p, e, e_q = lags
        p0 = self.p_ac
        self.p_ac = np.where(run, tgt + (p0 - tgt) * e, 0.0)
        p_mean = np.where(run, tgt + (p0 - tgt) * tau_p / h * (1.0 - e), 0.0)
        q0 = self.q_ac
        self.q_ac = q_cmd + (q0 - q_cmd) * e_q
        q_mean = q_cmd + (q0 - q_cmd) * self.tau_q / h * (1.0 - e_q)
        return p_mean, q_mean

    def gfm_target(self, dev: float, p_cmd: FloatArray) -> FloatArray:
        """Active power each unit heads for on an island: grid-forming units follow their
        setpoint plus the frequency droop (``dev`` = per-unit frequency error), within the
        charge limit and the overload rating; grid-following units their command ``p_cmd``."""
        pp = self.params
        droop = -dev / (pp.gfm_droop_pct / 100.0) * pp.p_rated_kw
        gfm_t = np.clip(self.p_set + droop, -self.p_max_ch, self.p_max_dis * pp.gfm_overload_pu)
        return np.asarray(np.where(self.gfm, gfm_t, p_cmd))

    def finish_tick(self) -> None:
        """Losses, aux and DC power from the tick's mean AC power."""
        if self.kernel == "compiled":
            from twin.models import pcs_step_kernel as psk

            psk.run_finish(self)
            return
        self.loss = self.loss_now_kw(self.p_ac_mean)
        self.aux = self.aux_now_kw(self.p_ac_mean)
        self.p_dc = self.p_ac_mean + self.loss


_GRID_BITS = sum(
    1 << PCS_ALARM_BITS[k]
    for k in (
        "GRID_DISCONNECT",
        "OVER_FREQUENCY",
        "UNDER_FREQUENCY",
        "AC_OVER_VOLT",
        "AC_UNDER_VOLT",
    )
)
_OVER_TEMP = 1 << PCS_ALARM_BITS["OVER_TEMP"]
_SELF_CLEARING = _GRID_BITS | _OVER_TEMP
