"""Battery management system: current limits, SunSpec 802 alarms, contactor, SoC estimate.

Discrete logic updated once per tick from the battery's outputs (design.md §2). Alarm and
state codes follow SunSpec model 802 (``Evt1`` bits, ``State``, ``ChaSt``) as shipped in
pysunspec2 1.3.7 ``model_802.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from twin._interp import FloatArray
from twin.params import param
from twin.signals import Signal

__all__ = ["ALARMS_THAT_TRIP", "ALARM_BITS", "Bms", "BmsParams", "ChaSt", "Contactor"]

#: SunSpec 802 ``Evt1`` bit positions [S] pysunspec2 1.3.7 model_802.json.
ALARM_BITS: dict[str, int] = {
    "COMMUNICATION_ERROR": 0,
    "OVER_TEMP_ALARM": 1,
    "OVER_TEMP_WARNING": 2,
    "UNDER_TEMP_ALARM": 3,
    "UNDER_TEMP_WARNING": 4,
    "OVER_CHARGE_CURRENT_ALARM": 5,
    "OVER_CHARGE_CURRENT_WARNING": 6,
    "OVER_DISCHARGE_CURRENT_ALARM": 7,
    "OVER_DISCHARGE_CURRENT_WARNING": 8,
    "OVER_VOLT_ALARM": 9,
    "OVER_VOLT_WARNING": 10,
    "UNDER_VOLT_ALARM": 11,
    "UNDER_VOLT_WARNING": 12,
    "UNDER_SOC_MIN_ALARM": 13,
    "UNDER_SOC_MIN_WARNING": 14,
    "OVER_SOC_MAX_ALARM": 15,
    "OVER_SOC_MAX_WARNING": 16,
    "VOLTAGE_IMBALANCE_WARNING": 17,
    "TEMPERATURE_IMBALANCE_ALARM": 18,
    "TEMPERATURE_IMBALANCE_WARNING": 19,
    "CONTACTOR_ERROR": 20,
    "FAN_ERROR": 21,
    "GROUND_FAULT": 22,
    "OPEN_DOOR_ERROR": 23,
    "CURRENT_IMBALANCE_WARNING": 24,
    "OTHER_ALARM": 25,
    "OTHER_WARNING": 26,
    "CONFIGURATION_ALARM": 28,
    "CONFIGURATION_WARNING": 29,
}

#: Alarms that open the contactor and latch the BMS in FAULT until an alarm reset.
ALARMS_THAT_TRIP = (
    "OVER_TEMP_ALARM",
    "UNDER_TEMP_ALARM",
    "OVER_VOLT_ALARM",
    "UNDER_VOLT_ALARM",
    "TEMPERATURE_IMBALANCE_ALARM",
    "CONTACTOR_ERROR",
    "GROUND_FAULT",
)
_TRIP_MASK = sum(1 << ALARM_BITS[a] for a in ALARMS_THAT_TRIP)


class Contactor(IntEnum):
    OPEN = 0
    PRECHARGE = 1
    CLOSED = 2
    FAULT = 3


_CONTACTOR_OPEN = int(Contactor.OPEN)
_CONTACTOR_PRECHARGE = int(Contactor.PRECHARGE)
_CONTACTOR_CLOSED = int(Contactor.CLOSED)
_CONTACTOR_FAULT = int(Contactor.FAULT)


class ChaSt(IntEnum):
    """SunSpec 802 ``ChaSt``."""

    OFF = 1
    EMPTY = 2
    DISCHARGING = 3
    CHARGING = 4
    FULL = 5
    HOLDING = 6
    TESTING = 7


class BmsState(IntEnum):
    """SunSpec 802 ``State``."""

    DISCONNECTED = 1
    INITIALIZING = 2
    CONNECTED = 3
    STANDBY = 4
    SOC_PROTECTION = 5
    SUSPENDING = 6
    FAULT = 99


@dataclass(frozen=True)
class BmsParams:
    """Limits and thresholds; cell-level values apply to the modelled cells."""

    t_derate_start_degc: float = param(
        45.0, unit="°C", source="[K] BMS derates above ~45 °C (physics.md §1.2)"
    )
    t_cold_derate_end_degc: float = param(
        10.0, unit="°C", source="[K] charge current tapers from 10 °C to 0 °C"
    )
    soc_charge_taper_start: float = param(0.90, ge=0, le=1, source="[K] integrator practice")
    soc_max: float = param(0.98, ge=0, le=1, source="[K] integrator practice")
    soc_discharge_taper_start: float = param(0.10, ge=0, le=1, source="[K] integrator practice")
    soc_min: float = param(0.03, ge=0, le=1, source="[K] integrator practice")
    v_cell_warn_high_v: float = param(3.55, unit="V", source="[K] LFP alarm practice 3.55–3.60 V")
    v_cell_alarm_high_v: float = param(3.62, unit="V", source="[K] below the 3.65 V cut-off")
    v_cell_warn_low_v: float = param(2.90, unit="V", source="[K] LFP alarm practice")
    v_cell_alarm_low_v: float = param(2.70, unit="V", source="[K] above the 2.5 V cut-off")
    t_warn_high_degc: float = param(50.0, unit="°C", source="[K]")
    t_alarm_high_degc: float = param(58.0, unit="°C", source="[K] below the 60 °C discharge limit")
    t_warn_low_degc: float = param(2.0, unit="°C", source="[K]")
    t_alarm_low_degc: float = param(-15.0, unit="°C", source="[K]")
    v_imbalance_warn_mv: float = param(60.0, unit="mV", source="[K] integrator practice")
    t_imbalance_warn_k: float = param(6.0, unit="K", source="[K] integrator practice")
    t_imbalance_alarm_k: float = param(12.0, unit="K", source="[K] integrator practice")
    soc_warn_low: float = param(0.05, ge=0, le=1, source="[K]")
    soc_warn_high: float = param(0.97, ge=0, le=1, source="[K]")
    current_alarm_margin: float = param(
        1.15, gt=1, source="[K] over-current alarm at 115 % of the present limit"
    )
    precharge_s: float = param(2.0, unit="s", ge=0, source="[K] typical DC-link precharge")
    soc_sensor_bias_a: float = param(0.0, unit="A", source="fault/test knob: current sensor offset")
    soc_sensor_gain: float = param(1.0, gt=0, source="fault/test knob: current sensor gain")
    soc_sensor_drift_a_per_h: float = param(0.0, unit="A/h", source="fault/test knob: offset drift")
    soc_estimate_error: float = param(0.0, ge=-1, le=1, source="initial estimate error (SoC fraction)")


class Bms:
    """Vectorised BMS for n cabinets."""

    name = "bms"
    outputs = (
        Signal("ccl_a", "A", "charge current limit"),
        Signal("dcl_a", "A", "discharge current limit"),
        Signal("alarm_bits", "bitfield32", "SunSpec 802 Evt1"),
        Signal("state", "enum", "SunSpec 802 State"),
        Signal("cha_st", "enum", "SunSpec 802 ChaSt"),
        Signal("contactor", "enum", "0 open, 1 precharge, 2 closed, 3 fault"),
        Signal("soc_est_pct", "%", "BMS estimate (coulomb counting with sensor errors)"),
        Signal("soh_pct", "%", "state of health (capacity)"),
    )

    def __init__(
        self,
        params: BmsParams,
        n: int,
        *,
        i_max_charge_a: float,
        i_max_discharge_a: float,
        cell_t_charge: tuple[float, float],
        cell_t_discharge: tuple[float, float],
        soc0: float,
    ) -> None:
        self.params = params
        self.n = n
        self.i_max_ch = i_max_charge_a
        self.i_max_dis = i_max_discharge_a
        self.t_ch = cell_t_charge
        self.t_dis = cell_t_discharge
        self.contactor = np.full(n, _CONTACTOR_OPEN)
        self.precharge_left = np.zeros(n)
        self.close_cmd = np.zeros(n)
        self.alarm_bits = np.zeros(n, dtype=np.int64)
        self.latched = np.zeros(n, dtype=np.int64)
        self.soc_est = np.full(n, float(np.clip(soc0 + params.soc_estimate_error, 0, 1)))
        self.sensor_bias_a = np.full(n, params.soc_sensor_bias_a)
        self.sensor_gain = np.full(n, params.soc_sensor_gain)
        self.sensor_drift = np.full(n, params.soc_sensor_drift_a_per_h)
        self.drift_offset_a = np.zeros(n)  # the drift's accumulated offset
        self.ccl = np.zeros(n)
        self.dcl = np.zeros(n)
        # fault injection inputs (0/1 per cabinet)
        self.fault_contactor = np.zeros(n)
        self.fault_ground = np.zeros(n)
        self.fault_other = np.zeros(n)
        self.cha_st = np.full(n, int(ChaSt.OFF))

    def reset_alarms(self, mask: FloatArray) -> None:
        m = np.asarray(mask) > 0
        self.latched[m] = 0
        self.contactor[m & (self.contactor == _CONTACTOR_FAULT)] = _CONTACTOR_OPEN

    def update(self, dt: float, out: dict[str, FloatArray], n_parallel: int, capacity_ah: FloatArray) -> None:
        """Limits, alarms, contactor and SoC estimate from the battery's latest outputs."""
        p = self.params
        soc = out["soc_pct"] / 100.0
        t_max = out["t_cell_max_degc"]
        t_min = out["t_cell_min_degc"]
        # --- current limits, derated by temperature and SoC
        hot = np.clip((self.t_ch[1] - t_max) / max(self.t_ch[1] - p.t_derate_start_degc, 1e-9), 0, 1)
        hot_d = np.clip((self.t_dis[1] - t_max) / max(self.t_dis[1] - p.t_derate_start_degc, 1e-9), 0, 1)
        cold = np.clip((t_min - self.t_ch[0]) / max(p.t_cold_derate_end_degc - self.t_ch[0], 1e-9), 0, 1)
        cold_d = (t_min > self.t_dis[0]).astype(float)
        soc_hi = np.clip(
            (p.soc_max - out["soc_pct"] / 100.0) / max(p.soc_max - p.soc_charge_taper_start, 1e-9),
            0,
            1,
        )
        soc_lo = np.clip(
            (out["soc_min_pct"] / 100.0 - p.soc_min) / max(p.soc_discharge_taper_start - p.soc_min, 1e-9),
            0,
            1,
        )
        v_hi = np.clip((p.v_cell_alarm_high_v - out["v_cell_max_v"]) / 0.07, 0, 1)
        v_lo = np.clip((out["v_cell_min_v"] - p.v_cell_alarm_low_v) / 0.2, 0, 1)
        closed = self.contactor == _CONTACTOR_CLOSED
        self.ccl = np.where(
            closed, self.i_max_ch * n_parallel * np.minimum.reduce([hot, cold, soc_hi, v_hi]), 0.0
        )
        self.dcl = np.where(
            closed,
            self.i_max_dis * n_parallel * np.minimum.reduce([hot_d, cold_d, soc_lo, v_lo]),
            0.0,
        )
        # --- alarms (SunSpec 802 Evt1)
        b = ALARM_BITS
        i = out["i_dc_a"]
        conds = [
            (t_max >= p.t_alarm_high_degc, b["OVER_TEMP_ALARM"]),
            (t_max >= p.t_warn_high_degc, b["OVER_TEMP_WARNING"]),
            (t_min <= p.t_alarm_low_degc, b["UNDER_TEMP_ALARM"]),
            (t_min <= p.t_warn_low_degc, b["UNDER_TEMP_WARNING"]),
            (out["v_cell_max_v"] >= p.v_cell_alarm_high_v, b["OVER_VOLT_ALARM"]),
            (out["v_cell_max_v"] >= p.v_cell_warn_high_v, b["OVER_VOLT_WARNING"]),
            (out["v_cell_min_v"] <= p.v_cell_alarm_low_v, b["UNDER_VOLT_ALARM"]),
            (out["v_cell_min_v"] <= p.v_cell_warn_low_v, b["UNDER_VOLT_WARNING"]),
            (soc <= p.soc_min, b["UNDER_SOC_MIN_ALARM"]),
            (soc <= p.soc_warn_low, b["UNDER_SOC_MIN_WARNING"]),
            (soc >= p.soc_max, b["OVER_SOC_MAX_ALARM"]),
            (soc >= p.soc_warn_high, b["OVER_SOC_MAX_WARNING"]),
            (out["v_imbalance_mv"] >= p.v_imbalance_warn_mv, b["VOLTAGE_IMBALANCE_WARNING"]),
            (t_max - t_min >= p.t_imbalance_alarm_k, b["TEMPERATURE_IMBALANCE_ALARM"]),
            (t_max - t_min >= p.t_imbalance_warn_k, b["TEMPERATURE_IMBALANCE_WARNING"]),
            (-i > self.ccl * p.current_alarm_margin + 1.0, b["OVER_CHARGE_CURRENT_ALARM"]),
            (i > self.dcl * p.current_alarm_margin + 1.0, b["OVER_DISCHARGE_CURRENT_ALARM"]),
            (self.fault_contactor > 0, b["CONTACTOR_ERROR"]),
            (self.fault_ground > 0, b["GROUND_FAULT"]),
            (self.fault_other > 0, b["OTHER_ALARM"]),
        ]
        flags = np.array([c for c, _ in conds], dtype=np.int64)
        weights = np.array([1 << bit for _, bit in conds], dtype=np.int64)
        bits = weights @ flags
        # over-current alarms only matter while closed
        self.latched |= bits & _TRIP_MASK
        self.alarm_bits = bits | self.latched
        # --- contactor state machine
        c = self.contactor
        tripping = (self.latched & _TRIP_MASK) != 0
        want = self.close_cmd > 0
        c = np.where(tripping, _CONTACTOR_FAULT, c)
        start = (c == _CONTACTOR_OPEN) & want
        self.precharge_left = np.where(start, p.precharge_s, self.precharge_left)
        c = np.where(start, _CONTACTOR_PRECHARGE, c)
        pre = c == _CONTACTOR_PRECHARGE
        self.precharge_left = np.where(pre, self.precharge_left - dt, self.precharge_left)
        c = np.where(pre & (self.precharge_left <= 1e-9), _CONTACTOR_CLOSED, c)
        c = np.where(((c == _CONTACTOR_CLOSED) | (c == _CONTACTOR_PRECHARGE)) & ~want, _CONTACTOR_OPEN, c)
        self.contactor = c
        # --- SoC estimate: coulomb counting of the measured current
        self.drift_offset_a = self.drift_offset_a + self.sensor_drift * (dt / 3600.0)
        i_meas = i * self.sensor_gain + self.sensor_bias_a + self.drift_offset_a
        q_pack = capacity_ah.sum(axis=1) / capacity_ah.shape[1] * n_parallel
        self.soc_est = np.clip(self.soc_est - i_meas * dt / (3600.0 * q_pack), 0.0, 1.0)
        # --- charge state
        cha = np.full(self.n, int(ChaSt.HOLDING))
        cha = np.where(i > 1.0, int(ChaSt.DISCHARGING), cha)
        cha = np.where(i < -1.0, int(ChaSt.CHARGING), cha)
        cha = np.where(soc >= p.soc_max, int(ChaSt.FULL), cha)
        cha = np.where(soc <= p.soc_min, int(ChaSt.EMPTY), cha)
        self.cha_st = np.where(self.contactor == _CONTACTOR_CLOSED, cha, int(ChaSt.OFF))

    def state_code(self) -> FloatArray:
        c = self.contactor
        s = np.full(self.n, int(BmsState.DISCONNECTED))
        s = np.where(c == _CONTACTOR_PRECHARGE, int(BmsState.INITIALIZING), s)
        s = np.where(c == _CONTACTOR_CLOSED, int(BmsState.CONNECTED), s)
        s = np.where(c == _CONTACTOR_FAULT, int(BmsState.FAULT), s)
        return s.astype(float)
