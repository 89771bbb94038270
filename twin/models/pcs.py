"""Power conversion systems (battery inverters), vectorised over units.

Setpoint dynamics: a rate limiter (``ramp_pct_per_s`` of rated power per second, SunSpec
704 ``WRmp``) followed by a first-order lag whose time constant follows from the IEEE 1547
open-loop response time: τ = T_r / ln 10 (90 % of a step at T_r). With the command held
over a tick the ramp-then-lag response has a closed form, so the fixed-step path is exact.

Losses follow Notton et al. (2010): η(p) = p / (p + P0 + K p²), p = |P_ac| / P_n, with the
Sungrow SC1000TL field fit shipped in SimSES (physics.md §2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from twin._interp import FloatArray
from twin.params import param
from twin.signals import Signal

__all__ = ["Pcs", "PcsParams", "PcsState", "lag_ramp_step", "notton_efficiency", "notton_loss_kw"]


class PcsState(IntEnum):
    """SunSpec 701 ``InvSt`` codes."""

    OFF = 0
    STARTING = 2
    RUNNING = 3
    THROTTLED = 4
    FAULT = 6
    STANDBY = 7


_PCSSTATE_OFF = int(PcsState.OFF)
_PCSSTATE_STARTING = int(PcsState.STARTING)
_PCSSTATE_RUNNING = int(PcsState.RUNNING)
_PCSSTATE_THROTTLED = int(PcsState.THROTTLED)
_PCSSTATE_FAULT = int(PcsState.FAULT)
_PCSSTATE_STANDBY = int(PcsState.STANDBY)


#: SunSpec 701 ``Alrm`` bits [S] pysunspec2 1.3.7 model_701.json.
PCS_ALARM_BITS = {
    "GROUND_FAULT": 0,
    "DC_OVER_VOLT": 1,
    "AC_DISCONNECT": 2,
    "DC_DISCONNECT": 3,
    "GRID_DISCONNECT": 4,
    "CABINET_OPEN": 5,
    "MANUAL_SHUTDOWN": 6,
    "OVER_TEMP": 7,
    "OVER_FREQUENCY": 8,
    "UNDER_FREQUENCY": 9,
    "AC_OVER_VOLT": 10,
    "AC_UNDER_VOLT": 11,
    "BLOWN_STRING_FUSE": 12,
    "UNDER_TEMP": 13,
    "MEMORY_LOSS": 14,
    "HW_TEST_FAILURE": 15,
    "MANUFACTURER_ALRM": 16,
}


@dataclass(frozen=True)
class PcsParams:
    s_rated_kva: float = param(1250.0, unit="kVA", gt=0, source="[K] 1500 V BESS PCS class")
    p_rated_kw: float = param(1250.0, unit="kW", gt=0, source="[K] unity-PF rating")
    ramp_pct_per_s: float = param(
        100.0, unit="%/s", gt=0, source="[S] SunSpec 704 WRmp semantics; [K] default 100 %/s"
    )
    t_response_s: float = param(
        0.5, unit="s", gt=0, source="[K] plant + comms 0.1–1 s; τ = T_r/ln10 (physics.md §2)"
    )
    t_response_q_s: float = param(5.0, unit="s", gt=0, source="[S] IEEE 1547 volt-var T_r = 5 s")
    eff_p0_discharge: float = param(0.00551, ge=0, source="[S] SimSES Sungrow SC1000TL Notton fit")
    eff_k_discharge: float = param(0.01877, ge=0, source="[S] SimSES Sungrow SC1000TL Notton fit")
    eff_p0_charge: float = param(0.00770, ge=0, source="[S] SimSES Sungrow SC1000TL Notton fit")
    eff_k_charge: float = param(0.01729, ge=0, source="[S] SimSES Sungrow SC1000TL Notton fit")
    eff_min: float = param(0.209, ge=0, le=1, source="[S] SimSES minimum efficiency clamp")
    aux_kw: float = param(4.0, unit="kW", ge=0, source="[K] controls, fans, lights per container")
    hvac_frac: float = param(0.01, ge=0, le=0.1, source="[K] HVAC 0.5–3 % of throughput (physics.md §2)")
    q_inject_max_pu: float = param(0.44, ge=0, le=1, source="[S] IEEE 1547 Cat B: 0.44 × S")
    q_absorb_max_pu: float = param(0.44, ge=0, le=1, source="[S] IEEE 1547 Cat B: 0.44 × S")
    start_s: float = param(5.0, unit="s", ge=0, source="[K] inverter start-up sequence")
    mode: str = param(
        "grid_following",
        choices=("grid_following", "grid_forming"),
        source="[S] SunSpec 701 DERMode GRID_FOLLOWING / GRID_FORMING",
    )
    grid_forming_units: int = param(
        -1,
        ge=-1,
        source="site layout",
        doc="k >= 0: the first k units are grid-forming and the rest grid-following, whatever "
        "`mode` says (a site with a few island-capable PCS); -1: every unit follows `mode`",
    )
    gfm_droop_pct: float = param(4.0, unit="%", gt=0, source="[K] GFM P–f droop 1–5 % (physics.md §2)")
    gfm_t_response_s: float = param(0.1, unit="s", gt=0, source="[K] GFM inner loops tens of ms")
    gfm_overload_pu: float = param(1.2, ge=1, source="[K] short-time current 1.1–1.5 pu")
    anti_islanding_s: float = param(
        0.5, unit="s", ge=0, le=2, source="[K] IEEE 1547: cease to energize within 2 s"
    )
    volt_var: bool = param(False, source="IEEE 1547 volt-var enable (SunSpec 705)")
    freq_watt: bool = param(True, source="IEEE 1547 freq-watt enable (SunSpec 711)")
    grid_code: str = param("ieee1547_2018_cat_ii", source="shipped grid-code table name")


def notton_efficiency(p_pu: FloatArray, p0: float, k: float, eff_min: float = 0.0) -> FloatArray:
    """η(p) = p / (p + P0 + K p²) for p = |P|/P_n, clamped below at ``eff_min``."""
    p = np.abs(np.asarray(p_pu, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        eta = np.where(p > 0, p / (p + p0 + k * p * p), 0.0)
    return np.asarray(np.maximum(eta, eff_min))


def notton_loss_kw(p_ac_kw: FloatArray, params: PcsParams, running: FloatArray) -> FloatArray:
    """Conversion loss (kW, ≥ 0) at AC power ``p_ac_kw`` (+ discharge). Discharging, the DC
    side supplies P_ac/η; charging, the DC side receives |P_ac|·η."""
    pn = params.p_rated_kw
    p = np.abs(p_ac_kw) / pn
    eta_d = notton_efficiency(p, params.eff_p0_discharge, params.eff_k_discharge, params.eff_min)
    eta_c = notton_efficiency(p, params.eff_p0_charge, params.eff_k_charge, params.eff_min)
    with np.errstate(invalid="ignore", divide="ignore"):
        loss_d = np.where(
            p > 0,
            np.abs(p_ac_kw) * (1.0 / np.maximum(eta_d, 1e-9) - 1.0),
            pn * params.eff_p0_discharge,
        )
    loss_c = np.abs(p_ac_kw) * (1.0 - eta_c)
    loss = np.where(p_ac_kw >= 0, loss_d, loss_c)
    return np.asarray(np.where(running > 0, loss, 0.0))


def lag_ramp_step(
    y0: FloatArray,
    ref0: FloatArray,
    cmd: FloatArray,
    rate: FloatArray | float,
    tau: float,
    dt: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Exact response over ``dt`` of a first-order lag (τ) fed by a rate-limited ramp from
    ``ref0`` toward a held ``cmd``. Returns (y(dt), ref(dt), mean of y over the step)."""
    delta = cmd - ref0
    slope = np.sign(delta) * rate
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ramp = np.where(slope != 0, np.abs(delta) / rate, 0.0)
    t1 = np.minimum(t_ramp, dt)
    e1 = np.exp(-t1 / tau)
    # phase 1: input ref0 + slope·t
    c1 = y0 - ref0 + slope * tau
    y1 = ref0 + slope * (t1 - tau) + c1 * e1
    int1 = ref0 * t1 + slope * (0.5 * t1 * t1 - tau * t1) + c1 * tau * (1.0 - e1)
    ref1 = ref0 + slope * t1
    # phase 2: input held at ref1 (== cmd when the ramp finished)
    h = dt - t1
    e2 = np.exp(-h / tau)
    y2 = ref1 + (y1 - ref1) * e2
    int2 = ref1 * h + (y1 - ref1) * tau * (1.0 - e2)
    return y2, ref1, (int1 + int2) / dt


class Pcs:
    """Vectorised PCS fleet: one unit per battery cabinet."""

    name = "pcs"
    outputs = (
        Signal("p_ac_kw", "kW", "AC active power, + export (discharge)"),
        Signal("q_ac_kvar", "kvar", "AC reactive power, + inject"),
        Signal("p_dc_kw", "kW", "DC power drawn from the battery"),
        Signal("loss_kw", "kW", "conversion loss"),
        Signal("aux_kw", "kW", "auxiliary and HVAC consumption"),
        Signal("state", "enum", "SunSpec 701 InvSt"),
        Signal("alarm_bits", "bitfield32", "SunSpec 701 Alrm"),
        Signal("p_max_dis_kw", "kW", "available discharge power"),
        Signal("p_max_ch_kw", "kW", "available charge power"),
    )
    inputs = (
        Signal("enable", "1", "1 run, 0 stop"),
        Signal("p_set_kw", "kW", "active power setpoint, + discharge"),
        Signal("q_set_kvar", "kvar", "reactive power setpoint"),
        Signal("fault_reset", "1", "1 clears a latched fault"),
        Signal("derate_pu", "pu", "apparent-power derate (over-temperature), 1 = none"),
        Signal("fault_trip", "1", "1 forces a trip (fault injection)"),
        Signal("fault_dc_overvolt", "1", "1 forces a DC over-voltage trip (fault injection)"),
        Signal("overtemp", "1", "1 raises the over-temperature warning (fault injection)"),
    )

    def __init__(self, params: PcsParams, n: int) -> None:
        self.params = params
        self.n = n
        self.tau = params.t_response_s / math.log(10.0)
        self.tau_q = params.t_response_q_s / math.log(10.0)
        self.tau_gfm = params.gfm_t_response_s / math.log(10.0)
        self.rate_kw_s = params.ramp_pct_per_s / 100.0 * params.p_rated_kw
        self.state = np.full(n, _PCSSTATE_OFF)
        self.p_ac = np.zeros(n)
        self.p_ref = np.zeros(n)
        self.q_ac = np.zeros(n)
        self.p_ac_mean = np.zeros(n)
        self.q_ac_mean = np.zeros(n)
        self.start_left = np.zeros(n)
        self.islanded_for = 0.0
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
        self.trip_count = np.zeros(n)

    @property
    def running(self) -> FloatArray:
        s = self.state
        return ((s == _PCSSTATE_RUNNING) | (s == _PCSSTATE_THROTTLED)).astype(float)

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
    ) -> FloatArray:
        """Discrete state machine. Returns the contactor close request per unit."""
        s = self.state.copy()
        reset = self.fault_reset > 0
        self.islanded_for = self.islanded_for + dt if islanded else 0.0
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
        may_run = (grid_ok > 0) | (islanded & self.gfm)
        go = ((s == _PCSSTATE_OFF) | (s == _PCSSTATE_STANDBY)) & en
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
        self.state = s
        self.fault_reset = np.zeros(self.n)
        return (en & (s != _PCSSTATE_FAULT)).astype(float)

    def limits(self, dcl_a: FloatArray, ccl_a: FloatArray, v_dc_v: FloatArray) -> None:
        """Available AC power from the BMS current limits and the apparent-power rating."""
        s_av = self.params.s_rated_kva * np.clip(self.derate, 0.0, 1.0)
        p_cap = np.minimum(self.params.p_rated_kw, s_av)
        dis_dc = dcl_a * v_dc_v / 1000.0
        ch_dc = ccl_a * v_dc_v / 1000.0
        run = self.running
        self.p_max_dis = run * np.minimum(p_cap, dis_dc * 0.98)
        self.p_max_ch = run * np.minimum(p_cap, ch_dc / 0.98)

    def command(self, p_extra_pu: FloatArray, q_curve_pu: FloatArray | None) -> tuple[FloatArray, FloatArray]:
        """Active and reactive commands after limits; marks THROTTLED units."""
        pr = self.params
        want = self.p_set + p_extra_pu * pr.p_rated_kw
        p_cmd = np.clip(want, -self.p_max_ch, self.p_max_dis)
        run = self.running > 0
        throttled = run & (np.abs(p_cmd - want) > 1e-6 * pr.p_rated_kw)
        self.state = np.where(run, np.where(throttled, _PCSSTATE_THROTTLED, _PCSSTATE_RUNNING), self.state)
        s_av = pr.s_rated_kva * np.clip(self.derate, 0.0, 1.0)
        q_room = np.sqrt(np.maximum(s_av * s_av - p_cmd * p_cmd, 0.0))
        q_want = self.q_set if q_curve_pu is None else q_curve_pu * pr.s_rated_kva
        q_cmd = np.clip(
            q_want,
            -np.minimum(q_room, pr.q_absorb_max_pu * pr.s_rated_kva),
            np.minimum(q_room, pr.q_inject_max_pu * pr.s_rated_kva),
        )
        return np.where(run, p_cmd, 0.0), np.where(run, q_cmd, 0.0)

    def step_following(self, p_cmd: FloatArray, q_cmd: FloatArray, dt: float) -> None:
        """Exact ramp + lag over the tick (grid-connected, or grid-following)."""
        self.p_ac, self.p_ref, self.p_ac_mean = lag_ramp_step(
            self.p_ac, self.p_ref, p_cmd, self.rate_kw_s, self.tau, dt
        )
        eq = math.exp(-dt / self.tau_q)
        q0 = self.q_ac
        self.q_ac = q_cmd + (q0 - q_cmd) * eq
        self.q_ac_mean = q_cmd + (q0 - q_cmd) * self.tau_q / dt * (1.0 - eq)

    def finish_tick(self) -> None:
        """Losses, aux and DC power from the tick's mean AC power."""
        run = self.running
        self.loss = notton_loss_kw(self.p_ac_mean, self.params, run)
        self.aux = np.where(
            self.state != _PCSSTATE_OFF, self.params.aux_kw, 0.0
        ) + self.params.hvac_frac * np.abs(self.p_ac_mean)
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
