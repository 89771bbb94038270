"""Physics faults: the twin misbehaves (a trip, a derate, a hot cell, a runaway)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

if TYPE_CHECKING:
    pass

from .catalogue import FAULTS, Bench, FaultType, NoParams, Params, Targets, _set, fault


# -- physics ------------------------------------------------------------------------------------
def input_fault(
    name: str,
    *,
    set_: Mapping[str, float | str],
    reset: Mapping[str, float],
    kinds: tuple[str, ...] = ("bess",),
    summary: str,
    shows: str,
    params: type[Params] = NoParams,
    clears_itself: bool = True,
    per_unit: bool = True,
) -> None:
    """Register a fault that sets twin inputs of its targets' units while it lasts.

    ``set_`` maps an input to a value, or to ``"@field"`` for a parameter of the fault;
    ``reset`` is what clearing writes back (empty: clearing changes nothing)."""

    def apply(b: Bench, t: Targets, p: Any, values: Mapping[str, float | str]) -> None:
        for name_, v in values.items():
            value = float(getattr(p, v[1:])) if isinstance(v, str) else float(v)
            if per_unit:
                _set(b, name_, t, value)
            else:
                b.site.set(name_, value)

    FAULTS[name] = FaultType(
        name=name,
        layer="physics",
        kinds=kinds,
        params=params,
        summary=summary,
        shows=shows,
        inject=lambda b, t, p: apply(b, t, p, set_),
        clear=lambda b, t, p: apply(b, t, p, reset),
        clears_itself=clears_itself,
    )


class DerateParams(Params):
    derate_pu: float = Field(0.5, ge=0.0, le=1.0)


class HeatParams(Params):
    heat_w: float = Field(1500.0, gt=0.0, le=20_000.0)


class ImbalanceParams(Params):
    soc_offset_pct: float = Field(-10.0, ge=-100.0, le=100.0)


class DriftParams(Params):
    a_per_h: float = 20.0


class BiasParams(Params):
    a: float = 5.0


input_fault(
    "pcs_trip",
    set_={"pcs.fault_trip": 1},
    reset={"pcs.fault_trip": 0},
    summary="The PCS trips on an internal fault and opens its AC contactor.",
    shows="701 InvSt FAULT, Alrm MANUFACTURER_ALRM, W falls to 0 within a tick; stays latched "
    "after the cause clears until an alarm reset (715 AlarmReset / 802 AlmRst).",
    clears_itself=False,
)
input_fault(
    "pcs_overtemp_derate",
    set_={"pcs.derate_pu": "@derate_pu", "pcs.overtemp": 1},
    reset={"pcs.derate_pu": 1.0, "pcs.overtemp": 0},
    params=DerateParams,
    summary="The PCS heat sink runs hot; the inverter derates its apparent power.",
    shows="701 Alrm OVER_TEMP, W capped at derate_pu × rating; InvSt stays RUNNING "
    "(THROTTLED when the cap bites).",
)
input_fault(
    "dc_overvoltage",
    set_={"pcs.fault_dc_overvolt": 1},
    reset={"pcs.fault_dc_overvolt": 0},
    summary="The PCS measures DC-link over-voltage and trips.",
    shows="701 InvSt FAULT, Alrm DC_OVER_VOLT; latched until an alarm reset.",
    clears_itself=False,
)
input_fault(
    "cell_overtemp",
    set_={"bess.fault_heat_w": "@heat_w"},
    reset={"bess.fault_heat_w": 0.0},
    params=HeatParams,
    summary="A hot spot: one cell of the cabinet heats (failed cooling plate, bad busbar joint).",
    shows="802 CellTmpMax rises; 802 Evt1 OVER_TEMP_WARNING then OVER_TEMP_ALARM; the BMS opens "
    "its contactor on the alarm (802 State FAULT) and the PCS trips with DC_DISCONNECT.",
)
input_fault(
    "cell_imbalance",
    set_={"bess.cell_soc_offset_pct": "@soc_offset_pct"},
    reset={},
    params=ImbalanceParams,
    summary="One cell's SoC is offset from its string (a weak or self-discharging cell).",
    shows="802 CellVMax − CellVMin grows (most at the ends of the OCV curve); 802 Evt1 "
    "VOLTAGE_IMBALANCE_WARNING; the weak cell reaches its voltage limit first, so usable "
    "energy shrinks. Clearing does nothing: the twin has no balancing, the cell stays offset.",
    clears_itself=False,
)
input_fault(
    "contactor_failure",
    set_={"bms.fault_contactor": 1},
    reset={"bms.fault_contactor": 0},
    summary="The rack's DC contactor fails open (welded-open coil, auxiliary contact mismatch).",
    shows="802 Evt1 CONTACTOR_ERROR, 802 State FAULT, 803 ConSt open; the PCS trips with "
    "DC_DISCONNECT; needs an alarm reset after the cause clears.",
    clears_itself=False,
)
input_fault(
    "insulation_fault",
    set_={"bms.fault_ground": 1},
    reset={"bms.fault_ground": 0},
    summary="Low insulation resistance between the DC bus and earth (ground fault).",
    shows="802 Evt1 GROUND_FAULT; the BMS opens the contactor; the PCS trips with DC_DISCONNECT.",
    clears_itself=False,
)
input_fault(
    "soc_sensor_drift",
    set_={"bms.soc_sensor_drift_a_per_h": "@a_per_h"},
    reset={"bms.soc_sensor_drift_a_per_h": 0.0},
    params=DriftParams,
    summary="The BMS current sensor's offset drifts, so its Coulomb-counted SoC walks away from the truth.",
    shows="802 SoC diverges from the true SoC by a growing amount; an EMS that trusts it "
    "over-charges or over-discharges; cell voltages tell the truth.",
)
input_fault(
    "current_sensor_bias",
    set_={"bms.soc_sensor_bias_a": "@a"},
    reset={"bms.soc_sensor_bias_a": 0.0},
    params=BiasParams,
    summary="A fixed offset on the BMS current sensor (the SoC estimate integrates it).",
    shows="802 SoC drifts at a constant rate at zero current; 803 current reads the offset.",
)
input_fault(
    "genset_fail_to_start",
    set_={"genset.fail_to_start": 1},
    reset={"genset.fail_to_start": 0},
    kinds=("genset",),
    summary="The genset cranks but does not start (fuel, battery, governor).",
    shows="Genset state CRANKING then FAIL_TO_START; 701 InvSt FAULT; no power; the EMS must "
    "ride through on the battery and shed load.",
)
input_fault(
    "pv_trip",
    set_={"pv.trip": 1},
    reset={"pv.trip": 0},
    kinds=("pv",),
    per_unit=False,
    summary="The PV inverter trips (anti-islanding, DC arc, isolation).",
    shows="701 InvSt FAULT, W 0; the site's import steps up by the PV output.",
)


class RunawayParams(Params):
    heat_w_per_s: float = Field(20.0, gt=0.0)
    max_heat_w: float = Field(8000.0, gt=0.0, le=20_000.0)


@fault(
    "thermal_runaway_precursor",
    layer="physics",
    kinds=("bess",),
    params=RunawayParams,
    summary="Self-heating of one cell that accelerates (internal short): heat rising at heat_w_per_s.",
    shows="802 CellTmpMax climbing faster every minute; temperature-imbalance then over-temperature "
    "alarms; the BMS isolates the rack. The EMS must not re-close it.",
)
class _Runaway:
    @staticmethod
    def inject(b: Bench, t: Targets, p: RunawayParams) -> None:
        _set(b, "bess.fault_heat_w", t, 0.0)

    @staticmethod
    def update(b: Bench, t: Targets, p: RunawayParams, elapsed_s: float) -> None:
        _set(b, "bess.fault_heat_w", t, min(p.max_heat_w, p.heat_w_per_s * elapsed_s))

    @staticmethod
    def clear(b: Bench, t: Targets, p: Any) -> None:
        _set(b, "bess.fault_heat_w", t, 0.0)
