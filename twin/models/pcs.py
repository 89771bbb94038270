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
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

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
from twin.params import param
from twin.signals import Signal

__all__ = [
    "Pcs",
    "PcsParams",
    "PcsState",
    "ambient_derate_pu",
    "lag_ramp_step",
    "notton_efficiency",
    "notton_loss_kw",
    "pcs_loss_kw",
]


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
    s_rated_kva: float = param(
        1250.0, unit="kVA", gt=0, limit="pcs.s_rated_kva", source="[K] 1500 V BESS PCS class"
    )
    p_rated_kw: float = param(1250.0, unit="kW", gt=0, limit="pcs.p_rated_kw", source="[K] unity-PF rating")
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
    loss_k1_charge: float = param(
        0.0088,
        ge=0,
        source="[C] least-squares fit (relative, 10–100 % load) of P0 + k1·p + k2·p² with P0 = "
        "eff_p0_discharge to the SimSES SC1000TL charge fit as formerly applied, |P|(1 − η_c): "
        "η within 0.82 points from 10 % load, 0.21 from 20 %",
        doc="charge loss, linear term (pu of P_n per pu of load)",
    )
    loss_k2_charge: float = param(
        0.0089, ge=0, source="[C] same fit as loss_k1_charge", doc="charge loss, quadratic term"
    )
    standby: bool = param(
        True,
        source="[K] 1500 V BESS PCS idle in hot standby (IGBTs off, DC link and controls up); "
        "an EMS dispatches to InvSt STANDBY units as to RUNNING ones",
        doc="true: a running unit held at P = Q = 0 for standby_hold_s stops switching "
        "(hot standby, InvSt STANDBY, standby_loss_pu) and wakes on the next command",
    )
    standby_hold_s: float = param(
        30.0,
        unit="s",
        ge=0,
        source="[K] BESS PCS idle timeout before it stops switching: seconds to minutes",
        doc="a running unit whose |P| and |Q| commands stay below the threshold this long "
        "stops switching (hot standby, InvSt STANDBY)",
    )
    standby_threshold_pu: float = param(
        0.001, ge=0, le=0.05, source="[K] 0.1 % of rating: a zero command within metering noise"
    )
    standby_loss_pu: float = param(
        0.0002,
        ge=0,
        le=0.01,
        source="[K] controls and gate drivers of a non-switching PCS: a few hundred W for a "
        "1–2.5 MVA unit (0.25 kW at 1.25 MVA)",
        doc="standby loss in pu of P_n, drawn from the DC side",
    )
    i_max_pu: float = param(
        1.0,
        ge=0.1,
        le=2.0,
        source="[K] rated current I_n = S_rated/V_nom; short-time overload 1.1–1.5 pu possible "
        "(physics.md §2)",
        doc="current limit in pu of I_n: S ≤ min(V·i_max_pu, 1)·S_rated",
    )
    aux_kw: float = param(
        1.0,
        unit="kW",
        ge=0,
        source="[K] controls, BMS, lights and fans per container, always on (AC side)",
    )
    hvac_base_pu: float = param(
        0.0016,
        ge=0,
        le=0.05,
        source="[K] container HVAC holding its set point at rest ≈ 1–3 kW for a 2–3 MWh "
        "container (2 kW at 1.25 MVA)",
        doc="HVAC at or below hvac_t_ref_degc, pu of S_rated (kW per kVA)",
    )
    hvac_slope_pu_per_degc: float = param(
        0.00016,
        ge=0,
        le=0.01,
        source="[K] HVAC load rises ≈ 0.1–0.3 kW per °C of ambient above the set point for a "
        "2–3 MWh container (0.2 kW/°C at 1.25 MVA); physics.md §2: strongly temperature dependent",
    )
    hvac_t_ref_degc: float = param(25.0, unit="°C", source="[K] cabinet temperature set point")
    hvac_frac: float = param(0.01, ge=0, le=0.1, source="[K] HVAC 0.5–3 % of throughput (physics.md §2)")
    derate_t_start_degc: float = param(
        45.0, unit="°C", source="[K] full apparent power up to ~40–45 °C ambient (physics.md §2)"
    )
    derate_pu_per_degc: float = param(
        0.02,
        ge=0,
        le=1,
        source="[K] linear derating above, typically 2–3 % of S_rated per °C to ~60 °C",
    )
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
    volt_watt: bool = param(False, source="IEEE 1547 volt-watt enable (SunSpec 706); off like volt-var")
    # dict first: the parameter loader coerces a union to its first member, and a dict
    # passes through as is (a name too); load_grid_code validates either
    grid_code: dict[str, Any] | str = param(
        "ieee1547_2018_cat_ii",
        source="shipped grid-code table name",
        doc="a shipped name, or a dict of overrides on a shipped `base` (docs/models/gridcode.md)",
    )


def notton_efficiency(p_pu: FloatArray, p0: float, k: float, eff_min: float = 0.0) -> FloatArray:
    """η(p) = p / (p + P0 + K p²) for p = |P|/P_n, clamped below at ``eff_min``."""
    p = np.abs(np.asarray(p_pu, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        eta = np.where(p > 0, p / (p + p0 + k * p * p), 0.0)
    return np.asarray(np.maximum(eta, eff_min))


def pcs_loss_kw(p_ac_kw: FloatArray, params: PcsParams) -> FloatArray:
    """Conversion loss (kW, ≥ 0) of a switching unit at AC power ``p_ac_kw`` (+ discharge):
    P_n·(P0 + k1·p + k2·p²) with p = |P_ac|/P_n. Discharge: P0 = ``eff_p0_discharge``,
    k1 = 0, k2 = ``eff_k_discharge`` (the Notton fit exactly: η = p/(p + P0 + K p²)). Charge:
    the same P0, k1 = ``loss_k1_charge``, k2 = ``loss_k2_charge``. Continuous at P = 0."""
    pn = params.p_rated_kw
    p_ac = np.asarray(p_ac_kw, dtype=float)
    p = np.abs(p_ac) / pn
    k1 = np.where(p_ac >= 0, 0.0, params.loss_k1_charge)
    k2 = np.where(p_ac >= 0, params.eff_k_discharge, params.loss_k2_charge)
    return np.asarray(pn * (params.eff_p0_discharge + k1 * p + k2 * p * p))


def ambient_derate_pu(t_ambient_degc: float | FloatArray, params: PcsParams) -> FloatArray:
    """Apparent-power derating for the ambient temperature: 1 up to ``derate_t_start_degc``,
    then ``derate_pu_per_degc`` less per °C, not below 0."""
    over = np.maximum(np.asarray(t_ambient_degc, dtype=float) - params.derate_t_start_degc, 0.0)
    return np.asarray(np.clip(1.0 - params.derate_pu_per_degc * over, 0.0, 1.0))


def notton_loss_kw(p_ac_kw: FloatArray, params: PcsParams, running: FloatArray) -> FloatArray:
    """The former loss model, kept for comparison: Notton η in both directions, which drops
    to ≈ 0 just off P = 0 and jumps to P0·P_n at 0. Discharging, the DC side supplies P_ac/η;
    charging, the DC side receives |P_ac|·η. The twin uses :func:`pcs_loss_kw`."""
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
        Signal("enable", "1", "run command in force: 1 run, 0 stop"),
        Signal("discharge_kwh", "kWh", "AC energy delivered since the start"),
        Signal("charge_kwh", "kWh", "AC energy absorbed since the start"),
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
        s = self.state.copy()
        reset = self.fault_reset > 0
        self.islanded = islanded
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
        self.state = np.where(run, new_state, self.state)
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
        pr = self.params
        warm = max(self.t_ambient_degc - pr.hvac_t_ref_degc, 0.0)
        base = pr.aux_kw + pr.s_rated_kva * (pr.hvac_base_pu + pr.hvac_slope_pu_per_degc * warm)
        return np.asarray(base + pr.hvac_frac * np.abs(p_ac_kw))

    def finish_tick(self) -> None:
        """Losses, aux and DC power from the tick's mean AC power."""
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
