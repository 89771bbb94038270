"""Battery management system: current limits, SunSpec 802 alarms, contactor, SoC estimate.

Discrete logic updated once per tick from the battery's outputs (design.md §2). Alarm and
state codes follow SunSpec model 802 (``Evt1`` bits, ``State``, ``ChaSt``) as shipped in
pysunspec2 1.3.7 ``model_802.json``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

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

#: The alarm conditions the BMS evaluates each tick, in the order both paths list them.
_CONDITIONS = (
    "OVER_TEMP_ALARM",
    "OVER_TEMP_WARNING",
    "UNDER_TEMP_ALARM",
    "UNDER_TEMP_WARNING",
    "OVER_VOLT_ALARM",
    "OVER_VOLT_WARNING",
    "UNDER_VOLT_ALARM",
    "UNDER_VOLT_WARNING",
    "UNDER_SOC_MIN_ALARM",
    "UNDER_SOC_MIN_WARNING",
    "OVER_SOC_MAX_ALARM",
    "OVER_SOC_MAX_WARNING",
    "VOLTAGE_IMBALANCE_WARNING",
    "TEMPERATURE_IMBALANCE_ALARM",
    "TEMPERATURE_IMBALANCE_WARNING",
    "OVER_CHARGE_CURRENT_ALARM",
    "OVER_DISCHARGE_CURRENT_ALARM",
    "CONTACTOR_ERROR",
    "GROUND_FAULT",
    "OTHER_ALARM",
)
_CONDITION_WEIGHTS = np.array([1 << ALARM_BITS[a] for a in _CONDITIONS], dtype=np.int64)


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


#: 802 ``State`` by contactor state (OPEN → DISCONNECTED, PRECHARGE → INITIALIZING, …)
_STATE_OF_CONTACTOR = np.array(
    [
        float(
            {
                Contactor.OPEN: BmsState.DISCONNECTED,
                Contactor.PRECHARGE: BmsState.INITIALIZING,
                Contactor.CLOSED: BmsState.CONNECTED,
                Contactor.FAULT: BmsState.FAULT,
            }[c]
        )
        for c in Contactor
    ]
)


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
    v_cell_warn_high_v: float = param(3.55, unit="V", gt=0, source="[K] LFP alarm practice 3.55–3.60 V")
    v_cell_alarm_high_v: float = param(3.62, unit="V", gt=0, source="[K] below the 3.65 V cut-off")
    v_cell_warn_low_v: float = param(2.90, unit="V", gt=0, source="[K] LFP alarm practice")
    v_cell_alarm_low_v: float = param(2.70, unit="V", gt=0, source="[K] above the 2.5 V cut-off")
    t_warn_high_degc: float = param(50.0, unit="°C", source="[K]")
    t_alarm_high_degc: float = param(58.0, unit="°C", source="[K] below the 60 °C discharge limit")
    t_warn_low_degc: float = param(2.0, unit="°C", source="[K]")
    t_alarm_low_degc: float = param(-15.0, unit="°C", source="[K]")
    v_imbalance_warn_mv: float = param(60.0, unit="mV", gt=0, source="[K] integrator practice")
    t_imbalance_warn_k: float = param(6.0, unit="K", gt=0, source="[K] integrator practice")
    t_imbalance_alarm_k: float = param(12.0, unit="K", gt=0, source="[K] integrator practice")
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
    v_cell_charge_end_v: float = param(
        3.55,
        unit="V",
        source="[K] LFP full-charge detection 3.45–3.55 V, below the 3.65 V cut-off; the same level "
        "as v_cell_warn_high_v. [C] a lab_rack-like lfp_280ah pack charged at 1C / 0.1C reaches it at "
        "99.3 % / 99.8 % SoC (the twin's ECM)",
        doc="the highest cell reaching this while charging recalibrates the SoC estimate (top of charge)",
    )
    rest_current_c: float = param(
        0.01,
        unit="1/h",
        ge=0,
        source="[K] a BMS counts the pack as resting below about C/100",
        doc="|measured current| below this × pack capacity counts as rest",
    )
    rest_time_s: float = param(
        1800.0,
        unit="s",
        gt=0,
        source="[K] 30 min rest before an OCV reading; [C] with lfp_280ah's τ2 = 400 s the RC "
        "overpotential has decayed to e^-4.5 ≈ 1 % (τ2 of 1000 s would leave 17 %)",
    )
    ocv_recal_dv_v: float = param(
        0.010,
        unit="V",
        gt=0,
        source="[K] uncertainty of a rested cell voltage on the steep ends of the LFP curve: AFE "
        "accuracy ±1–5 mV plus residual relaxation and hysteresis",
        doc="half-width of the voltage band whose SoC span measures the local OCV slope",
    )
    ocv_recal_min_slope_v: float = param(
        1.0,
        unit="V per unit SoC",
        gt=0,
        source="[C] 10 mV per 1 % SoC: an OCV known to ±10 mV fixes SoC to ±1 %. The shipped LFP "
        "curve is that steep only below ≈10 % and above ≈98.7 % SoC; its 30–70 % plateau spans "
        "42 mV (0.105 V per unit SoC, ±10 mV ↔ ±10 % SoC)",
        doc="rest recalibration only where 2·dv / (SoC(V+dv) − SoC(V−dv)) reaches this on every cell",
    )


class Bms:
    """Vectorised BMS for n cabinets.

    It acts on what it measures: SoC-based limits, alarms and ``ChaSt`` read the estimate
    ``soc_est`` (Coulomb counting of the measured current), never the battery's true SoC;
    voltage and temperature protections read the measured cell voltages and temperatures.
    The estimate is recalibrated at the top of charge and, given ``soc_from_ocv``, after a
    rest on a steep part of the OCV curve.
    """

    name: ClassVar[str] = "bms"
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("ccl_a", "A", "charge current limit"),
        Signal("dcl_a", "A", "discharge current limit"),
        Signal("alarm_bits", "bitfield32", "SunSpec 802 Evt1"),
        Signal("state", "enum", "SunSpec 802 State", enum=BmsState),
        Signal("cha_st", "enum", "SunSpec 802 ChaSt", enum=ChaSt),
        Signal("contactor", "enum", "0 open, 1 precharge, 2 closed, 3 fault", enum=Contactor),
        Signal("soc_est_pct", "%", "BMS estimate (coulomb counting with sensor errors)"),
        Signal("soh_pct", "%", "state of health (capacity)"),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal("alarm_reset", "1", "1 clears latched BMS alarms (and the PCS's latched fault)"),
        Signal("disconnect", "1", "1 opens the contactors and keeps them open, 0 releases"),
        Signal("fault_contactor", "1", "1 raises a contactor error (fault injection)"),
        Signal("fault_ground", "1", "1 raises a ground fault (fault injection)"),
        Signal("fault_other", "1", "1 raises 'other alarm' (fault injection)"),
        Signal("soc_sensor_bias_a", "A", "current-sensor offset seen by the SoC estimate"),
        Signal("soc_sensor_gain", "1", "current-sensor gain seen by the SoC estimate"),
        Signal("soc_sensor_drift_a_per_h", "A/h", "current-sensor drift rate (from a zero offset)"),
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
        i_max_discharge_vs_t: tuple[Sequence[float], Sequence[float]] | None = None,
        soc_from_ocv: Callable[[FloatArray], FloatArray] | None = None,
        kernel: str = "numpy",
    ) -> None:
        """``i_max_discharge_vs_t`` is the cell's (T °C, max continuous discharge A) table,
        interpolated on the coldest cell and held beyond its ends (None: ``i_max_discharge_a``
        at every temperature); ``soc_from_ocv`` inverts the cell's OCV curve (None: no
        recalibration at rest, and the top of charge snaps the estimate to 1). ``kernel=
        "compiled"`` runs the tick through :mod:`twin.models.bms_kernel` (the same results to
        the bit); ``"numpy"`` (the reference) through this file."""
        self.params = params
        self.n = n
        self.i_max_ch = i_max_charge_a
        self.i_max_dis = i_max_discharge_a
        self.t_ch = cell_t_charge
        self.t_dis = cell_t_discharge
        self.dis_table: tuple[FloatArray, FloatArray] | None = None
        if i_max_discharge_vs_t is not None:
            t_tab, i_tab = (np.asarray(a, dtype=float) for a in i_max_discharge_vs_t)
            if t_tab.shape != i_tab.shape or t_tab.size < 2 or np.any(np.diff(t_tab) <= 0):
                raise ValueError("i_max_discharge_vs_t needs two equal-length rows, temperatures increasing")
            self.dis_table = (t_tab, i_tab)
        self.soc_from_ocv = soc_from_ocv
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
        self.rest_s = np.zeros(n)  # how long the measured current has been below the rest level
        self.at_top = np.zeros(n, dtype=bool)  # highest cell at the charge-end voltage, charging
        self.recalibrations = np.zeros(n, dtype=np.int64)
        self.ccl = np.zeros(n)
        self.dcl = np.zeros(n)
        # fault injection inputs (0/1 per cabinet)
        self.fault_contactor = np.zeros(n)
        self.fault_ground = np.zeros(n)
        self.fault_other = np.zeros(n)
        self.cha_st = np.full(n, int(ChaSt.OFF))
        self.kernel = kernel
        self._kprm: tuple[int, FloatArray] | None = None  # (n_parallel, the kernel's thresholds)
        if kernel == "compiled":
            self._kbits = np.array([ALARM_BITS[a] for a in _CONDITIONS], dtype=np.int64)
            self._kdis = self.dis_table or (np.zeros(0), np.zeros(0))

    def _kernel_params(self, n_par: int) -> FloatArray:
        """The thresholds of :func:`twin.models.bms_kernel.protect`, by position."""
        from twin.models.bms_kernel import PARAM_NAMES

        p = self.params
        values = {
            "t_ch_hi": self.t_ch[1],
            "t_ch_lo": self.t_ch[0],
            "t_dis_hi": self.t_dis[1],
            "t_dis_lo": self.t_dis[0],
            "den_hot": max(self.t_ch[1] - p.t_derate_start_degc, 1e-9),
            "den_hot_d": max(self.t_dis[1] - p.t_derate_start_degc, 1e-9),
            "den_cold": max(p.t_cold_derate_end_degc - self.t_ch[0], 1e-9),
            "den_soc_hi": max(p.soc_max - p.soc_charge_taper_start, 1e-9),
            "den_soc_lo": max(p.soc_discharge_taper_start - p.soc_min, 1e-9),
            "ch_max": self.i_max_ch * n_par,
            "dis_max": self.i_max_dis * n_par,
            "i_max_dis": self.i_max_dis,
            "soc_max": p.soc_max,
            "soc_min": p.soc_min,
            "v_alarm_hi": p.v_cell_alarm_high_v,
            "v_alarm_lo": p.v_cell_alarm_low_v,
            "t_alarm_hi": p.t_alarm_high_degc,
            "t_warn_hi": p.t_warn_high_degc,
            "t_alarm_lo": p.t_alarm_low_degc,
            "t_warn_lo": p.t_warn_low_degc,
            "v_warn_hi": p.v_cell_warn_high_v,
            "v_warn_lo": p.v_cell_warn_low_v,
            "soc_warn_lo": p.soc_warn_low,
            "soc_warn_hi": p.soc_warn_high,
            "v_imb_warn": p.v_imbalance_warn_mv,
            "t_imb_alarm": p.t_imbalance_alarm_k,
            "t_imb_warn": p.t_imbalance_warn_k,
            "margin": p.current_alarm_margin,
            "precharge_s": p.precharge_s,
        }
        return np.array([values[k] for k in PARAM_NAMES], dtype=float)

    def reset_alarms(self, mask: FloatArray) -> None:
        m = np.asarray(mask) > 0
        self.latched[m] = 0
        self.contactor[m & (self.contactor == _CONTACTOR_FAULT)] = _CONTACTOR_OPEN

    def update(self, dt: float, out: dict[str, FloatArray], n_parallel: int, capacity_ah: FloatArray) -> None:
        """SoC estimate, limits, alarms, contactor and ``ChaSt`` from the battery's latest outputs.

        ``out`` holds ``Battery.outputs_now()``; of it the BMS reads only what a BMS measures:
        the pack current, cell voltages and temperatures and the voltage imbalance.
        """
        p = self.params
        i = out["i_dc_a"]
        q_pack = capacity_ah.sum(axis=1) / capacity_ah.shape[1] * n_parallel
        if self.kernel == "compiled":
            self._update_compiled(dt, out, n_parallel, q_pack)
            return
        self._estimate_soc(dt, i, out, q_pack)
        soc = self.soc_est
        t_max = out["t_cell_max_degc"]
        t_min = out["t_cell_min_degc"]
        # --- current limits, derated by temperature, estimated SoC and measured cell voltage
        hot = np.clip((self.t_ch[1] - t_max) / max(self.t_ch[1] - p.t_derate_start_degc, 1e-9), 0, 1)
        hot_d = np.clip((self.t_dis[1] - t_max) / max(self.t_dis[1] - p.t_derate_start_degc, 1e-9), 0, 1)
        cold = np.clip((t_min - self.t_ch[0]) / max(p.t_cold_derate_end_degc - self.t_ch[0], 1e-9), 0, 1)
        cold_d = (t_min > self.t_dis[0]).astype(float)
        if self.dis_table is not None:
            i_cold = np.interp(t_min, *self.dis_table)
            cold_d = cold_d * np.minimum(i_cold / self.i_max_dis, 1.0)
        soc_hi = np.clip((p.soc_max - soc) / max(p.soc_max - p.soc_charge_taper_start, 1e-9), 0, 1)
        soc_lo = np.clip((soc - p.soc_min) / max(p.soc_discharge_taper_start - p.soc_min, 1e-9), 0, 1)
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
        conds = [  # in the order of _CONDITIONS
            t_max >= p.t_alarm_high_degc,
            t_max >= p.t_warn_high_degc,
            t_min <= p.t_alarm_low_degc,
            t_min <= p.t_warn_low_degc,
            out["v_cell_max_v"] >= p.v_cell_alarm_high_v,
            out["v_cell_max_v"] >= p.v_cell_warn_high_v,
            out["v_cell_min_v"] <= p.v_cell_alarm_low_v,
            out["v_cell_min_v"] <= p.v_cell_warn_low_v,
            soc <= p.soc_min,
            soc <= p.soc_warn_low,
            soc >= p.soc_max,
            soc >= p.soc_warn_high,
            out["v_imbalance_mv"] >= p.v_imbalance_warn_mv,
            t_max - t_min >= p.t_imbalance_alarm_k,
            t_max - t_min >= p.t_imbalance_warn_k,
            -i > self.ccl * p.current_alarm_margin + 1.0,
            i > self.dcl * p.current_alarm_margin + 1.0,
            self.fault_contactor > 0,
            self.fault_ground > 0,
            self.fault_other > 0,
        ]
        flags = np.array(conds, dtype=np.int64)
        bits = _CONDITION_WEIGHTS @ flags
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
        # --- charge state, on the estimate
        cha = np.full(self.n, int(ChaSt.HOLDING))
        cha = np.where(i > 1.0, int(ChaSt.DISCHARGING), cha)
        cha = np.where(i < -1.0, int(ChaSt.CHARGING), cha)
        cha = np.where(soc >= p.soc_max, int(ChaSt.FULL), cha)
        cha = np.where(soc <= p.soc_min, int(ChaSt.EMPTY), cha)
        self.cha_st = np.where(self.contactor == _CONTACTOR_CLOSED, cha, int(ChaSt.OFF))

    def _estimate_soc(self, dt: float, i: FloatArray, out: dict[str, FloatArray], q_pack: FloatArray) -> None:
        """Coulomb counting of the measured current, then the two recalibrations.

        * Top of charge: when the highest cell reaches ``v_cell_charge_end_v`` while charging, the
          estimate snaps to the SoC that cell's voltage reads on the OCV curve (an upper bound on
          the truth by the overpotential: ≤ 0.7 % at 1C on lfp_280ah, whose curve rises
          3.37 → 3.60 V over its last 1 % of SoC), or to 1 without ``soc_from_ocv``. Once per
          arrival: the flag re-arms when the condition ends.
        * Rest: after ``rest_time_s`` with the measured current below ``rest_current_c`` × the
          pack capacity, the estimate is reset to the mean of the SoCs the lowest and highest
          cell voltages read on the OCV curve, but only where the curve is steep enough at both
          (``ocv_recal_min_slope_v``); on the LFP plateau a 10 mV error would move it ~10 %.

        Either resets the drift's accumulated offset (the sensor is re-zeroed); a fixed bias,
        a gain error and the drift rate stay, being faults of the sensor itself.
        """
        p = self.params
        self.drift_offset_a = self.drift_offset_a + self.sensor_drift * (dt / 3600.0)
        i_meas = i * self.sensor_gain + self.sensor_bias_a + self.drift_offset_a
        self.soc_est = np.clip(self.soc_est - i_meas * dt / (3600.0 * q_pack), 0.0, 1.0)
        v_max = out["v_cell_max_v"]
        i_rest = p.rest_current_c * q_pack
        # top of charge
        top = (i_meas < -i_rest) & (v_max >= p.v_cell_charge_end_v)
        snap_top = top & ~self.at_top
        self.at_top = top
        # rest
        resting = np.abs(i_meas) <= i_rest
        rested_before = self.rest_s >= p.rest_time_s
        self.rest_s = np.where(resting, self.rest_s + dt, 0.0)
        due = (self.rest_s >= p.rest_time_s) & ~rested_before
        self._recalibrate(snap_top, due, out)

    def _recalibrate(
        self, snap_top: NDArray[np.bool_], due: NDArray[np.bool_], out: dict[str, FloatArray]
    ) -> None:
        """Snap the estimate where the top of charge was reached or a rest became long enough
        on a steep part of the OCV curve (both paths; the curve is read only on such a tick)."""
        v_min, v_max = out["v_cell_min_v"], out["v_cell_max_v"]
        full = np.ones(self.n)  # read off the OCV curve only on a tick that snaps (one in hours)
        if self.soc_from_ocv is not None and snap_top.any():
            full = self.soc_from_ocv(v_max)
        snap_rest = np.zeros(self.n, dtype=bool)
        rested = np.zeros(self.n)
        if self.soc_from_ocv is not None and due.any():
            snap_rest = due & self._steep(v_min) & self._steep(v_max)
            rested = 0.5 * (self.soc_from_ocv(v_min) + self.soc_from_ocv(v_max))
        self.soc_est = np.where(snap_top, full, np.where(snap_rest, rested, self.soc_est))
        snapped = snap_top | snap_rest
        self.drift_offset_a = np.where(snapped, 0.0, self.drift_offset_a)
        self.recalibrations += snapped

    def _update_compiled(
        self, dt: float, out: dict[str, FloatArray], n_parallel: int, q_pack: FloatArray
    ) -> None:
        """:meth:`update` through :mod:`twin.models.bms_kernel`: the same results to the bit."""
        from twin.models import bms_kernel as bk

        p = self.params
        i = out["i_dc_a"]
        soc, drift, rest, top, snap_top, due, flagged = bk.count(
            dt,
            i,
            out["v_cell_max_v"],
            q_pack,
            self.soc_est,
            self.drift_offset_a,
            self.sensor_drift,
            self.sensor_gain,
            self.sensor_bias_a,
            self.rest_s,
            self.at_top,
            p.rest_current_c,
            p.rest_time_s,
            p.v_cell_charge_end_v,
        )
        self.soc_est, self.drift_offset_a, self.rest_s, self.at_top = soc, drift, rest, top
        if flagged:
            self._recalibrate(snap_top, due, out)
        if self._kprm is None or self._kprm[0] != n_parallel:
            self._kprm = (n_parallel, self._kernel_params(n_parallel))
        (
            self.ccl,
            self.dcl,
            self.alarm_bits,
            self.latched,
            self.contactor,
            self.precharge_left,
            self.cha_st,
        ) = bk.protect(
            dt,
            i,
            out["t_cell_max_degc"],
            out["t_cell_min_degc"],
            out["v_cell_max_v"],
            out["v_cell_min_v"],
            out["v_imbalance_mv"],
            self.soc_est,
            self.contactor,
            self.precharge_left,
            self.latched,
            self.close_cmd,
            self.fault_contactor,
            self.fault_ground,
            self.fault_other,
            self._kprm[1],
            self._kdis[0],
            self._kdis[1],
            self._kbits,
            _TRIP_MASK,
        )

    def _steep(self, v: FloatArray) -> NDArray[np.bool_]:
        """True where the OCV curve around ``v`` is steep enough to read SoC from it: the SoC span of
        ``v ± dv`` is at most ``2 dv / ocv_recal_min_slope_v`` (a secant slope, which the measured
        table's point-to-point noise does not disturb)."""
        assert self.soc_from_ocv is not None
        dv = self.params.ocv_recal_dv_v
        span = self.soc_from_ocv(v + dv) - self.soc_from_ocv(v - dv)
        return np.asarray(span * self.params.ocv_recal_min_slope_v <= 2.0 * dv)

    def state_code(self) -> FloatArray:
        """SunSpec 802 ``State`` of each unit, from its contactor (a new array each call)."""
        return _STATE_OF_CONTACTOR[self.contactor]
