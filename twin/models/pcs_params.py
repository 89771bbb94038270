"""PCS parameters, states and alarm bits, and the pure loss, derating and lag formulas.

Part of :mod:`twin.models.pcs` (see its docstring for the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from typing import Any

import numpy as np

from twin._interp import FloatArray
from twin.params import param

__all__ = [
    "PCS_ALARM_BITS",
    "PcsParams",
    "PcsState",
    "ambient_derate_pu",
    "grid_trip_alarm_bits",
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
        "gbt_50hz",
        source="shipped grid-code table name; the default matches the default 50 Hz grid",
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
    if type(t_ambient_degc) is float:  # the PCS's one ambient, every tick: the same arithmetic on floats
        over_f = max(t_ambient_degc - params.derate_t_start_degc, 0.0)  # NaN stays NaN, as np.maximum's
        return np.asarray(min(max(1.0 - params.derate_pu_per_degc * over_f, 0.0), 1.0))
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


_TRIP_ALARM_BIT = {
    "OV": PCS_ALARM_BITS["AC_OVER_VOLT"],
    "UV": PCS_ALARM_BITS["AC_UNDER_VOLT"],
    "OF": PCS_ALARM_BITS["OVER_FREQUENCY"],
    "UF": PCS_ALARM_BITS["UNDER_FREQUENCY"],
    "RO": PCS_ALARM_BITS["GRID_DISCONNECT"],
}


@cache
def _trip_alarm_bits(reason: str) -> int:
    """The 701 alarm bit value of one trip reason; any other reason is a grid disconnect."""
    return 1 << _TRIP_ALARM_BIT.get(reason[:2].upper(), PCS_ALARM_BITS["GRID_DISCONNECT"])


def grid_trip_alarm_bits(reasons: Any, tripped: Any) -> Any:
    """SunSpec 701 alarm bits for grid-code trip reasons (``GridCodeStatus.trip_reason``)."""
    out = np.zeros(len(tripped), dtype=np.int64)
    if not np.any(tripped):
        return out
    n = min(len(reasons), len(tripped))
    for i in np.flatnonzero(np.asarray(tripped)[:n]).tolist():
        r = str(reasons[i])
        if r:
            out[i] = _trip_alarm_bits(r)
    return out
