"""The site bus's own signals: the PCC, the site's totals and its energy books.

Each device declares its own signals in its model file (``Pcs.outputs``, ``Bms.inputs``...).
What belongs to no single device is declared here, once: the utility and the PCC breaker,
the bus mode and the PMS's transfer sequence, the site's loads, fleet totals, and the
energy books. These are reported whatever devices the site has (``pv.p_ac_kw`` is 0 on a
site without PV; without a UPS model the ``ups.*`` signals pass the racks' draw through).
:class:`twin.signals.SignalTable` joins them with the devices' declarations.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from twin.models.ups import Ups
from twin.pms import BusMode, Transfer
from twin.signals import Declares, Signal, SignalTable

__all__ = [
    "INPUTS",
    "OUTPUTS",
    "DemandRegister",
    "Energy",
    "energy_balance",
    "signal_table",
]


def _s(name: str, unit: str, doc: str, enum: type[BusMode] | type[Transfer] | None = None) -> Signal:
    return Signal(name, unit, doc, per_unit=False, enum=enum)


#: Site-level outputs by device prefix: one value each, in every snapshot.
OUTPUTS: dict[str, tuple[Signal, ...]] = {
    "site": (
        _s("t_s", "s", "simulated time since the start"),
        _s("local_time_s", "s", "local wall time at the site, seconds since 1970-01-01 (local)"),
        _s("chillers_on", "1", "chiller units running"),
        _s("p_it_kw", "kW", "IT load: the racks' draw, mean over the tick"),
        _s("p_cooling_kw", "kW", "cooling load, mean over the tick"),
        _s("p_facility_kw", "kW", "IT + cooling + base load"),
        _s("p_aux_kw", "kW", "storage auxiliaries (PCS and cabinet HVAC), all cabinets"),
        _s("gpu_hours_lost", "GPU·h", "GPU-hours of training lost (failed jobs and racks without supply)"),
        _s("gpu_hours_lost_supply", "GPU·h", "the part of gpu_hours_lost due to racks without supply"),
        _s("racks_dark", "rack", "racks without supply now"),
        _s("t_ambient_degc", "°C", "outdoor air temperature"),
    ),
    "grid": (
        _s("p_import_kw", "kW", "active power at the PCC, + import from the utility"),
        _s("q_import_kvar", "kvar", "reactive power at the PCC, + import"),
        _s("f_hz", "Hz", "frequency of the site bus (the utility's when connected)"),
        _s("v_pu", "pu", "voltage of the site bus at the PCC"),
        _s("breaker_closed", "1", "1 while the PCC breaker is closed"),
        _s("available", "1", "1 while the utility is energised"),
        _s("bus_mode", "enum", "what feeds the site bus", BusMode),
        _s("bus_dead", "1", "1 while the bus is dead (no source)"),
        _s("transfer", "enum", "the PMS's transfer sequence", Transfer),
        _s("sync_dphi_deg", "deg", "phase difference island − utility while synchronising, else 0"),
        _s("reclose_df_hz", "Hz", "frequency difference at the last reclose check (NaN before one)"),
        _s("reclose_dphi_deg", "deg", "phase difference at the last reclose check (NaN before one)"),
        _s("reclose_dv_pu", "pu", "voltage difference at the last reclose check (NaN before one)"),
        _s("import_kwh", "kWh", "energy imported since the start"),
        _s("export_kwh", "kWh", "energy exported since the start"),
        _s("demand_15min_kw", "kW", "mean import of the clock-aligned 15-min window so far"),
        _s("demand_15min_prev_kw", "kW", "mean import of the last complete 15-min window"),
        _s("demand_15min_max_kw", "kW", "highest complete 15-min mean import since the start"),
    ),
    "bess": (
        _s("p_ac_kw", "kW", "storage AC power, all PCS, mean over the tick, + discharge"),
        _s("q_ac_kvar", "kvar", "storage reactive power, all PCS, + inject"),
        _s("soc_pct", "%", "site SoC: capacity-weighted mean of the cabinets' true SoC"),
        _s("energy_kwh", "kWh", "chemical energy stored, all cabinets"),
        _s("p_dc_kw", "kW", "DC power, all cabinets, + discharge"),
        _s("v_cell_min_v", "V", "lowest modelled cell voltage on site"),
        _s("v_cell_max_v", "V", "highest modelled cell voltage on site"),
        _s("t_cell_max_degc", "°C", "hottest modelled cell on site"),
        _s("t_cell_min_degc", "°C", "coolest modelled cell on site"),
        _s("loss_kw", "kW", "PCS conversion loss, all PCS"),
        _s("charge_kwh", "kWh", "AC energy into storage since the start"),
        _s("discharge_kwh", "kWh", "AC energy out of storage since the start"),
        _s("aux_kwh", "kWh", "energy of the storage auxiliaries since the start"),
    ),
    "bms": (_s("alarm_count", "1", "cabinets with any BMS alarm bit set"),),
    "pcs": (_s("running_count", "1", "PCS that take a command at once (switching or in hot standby)"),),
    "genset": (
        _s("p_kw", "kW", "genset output, all units, mean over the tick (0 without gensets)"),
        _s("fuel_l", "l", "fuel used, all units, since the start (0 without gensets)"),
    ),
    "pv": (
        _s("p_ac_kw", "kW", "PV AC output (0 without PV)"),
        _s("energy_kwh", "kWh", "PV AC energy since the start (0 without PV)"),
    ),
}

#: Site-level inputs by device prefix (``Site.set``).
INPUTS: dict[str, tuple[Signal, ...]] = {
    "site": (_s("t_ambient_degc", "°C", "outdoor air temperature"),),
    "grid": (
        _s("available", "1", "0 opens the utility (outage), 1 restores it"),
        _s("v_pu", "pu", "utility voltage (sags and swells)"),
        _s("f_hz", "Hz", "utility frequency"),
        _s("rocof_hz_per_s", "Hz/s", "utility frequency ramp"),
        _s(
            "breaker_close",
            "1",
            "1 lets the PMS reclose the PCC breaker on a healthy grid; 0 opens it and keeps it open",
        ),
    ),
    "bess": (_s("p_set_kw", "kW", "site storage setpoint, shared over the running PCS, + discharge"),),
}


def signal_table(devices: Iterable[Declares]) -> SignalTable:
    """Every signal of a site with these devices: theirs, the UPS's (always) and the bus's."""
    groups: list[tuple[str, str, Iterable[Signal], Iterable[Signal]]] = []
    for d in devices:
        cls = type(d)
        groups.append((f"{cls.__module__}.{cls.__name__}", cls.name, cls.inputs, cls.outputs))
    if not any(isinstance(d, Ups) for d in devices):
        groups.append(("twin.models.ups.Ups", Ups.name, (), Ups.outputs))  # passed through
    groups += [
        ("twin.bus", d, INPUTS.get(d, ()), OUTPUTS.get(d, ())) for d in dict.fromkeys([*OUTPUTS, *INPUTS])
    ]
    return SignalTable.build(groups)


# ------------------------------------------------------------------------------------------
# the energy accounts
# ------------------------------------------------------------------------------------------
@dataclass
class Energy:
    """Energy accumulators (kWh) for the balance: sources = loads + losses + Δstored."""

    grid_kwh: float = 0.0
    pv_kwh: float = 0.0
    genset_kwh: float = 0.0
    it_kwh: float = 0.0
    cooling_kwh: float = 0.0
    base_kwh: float = 0.0
    pcs_loss_kwh: float = 0.0
    aux_kwh: float = 0.0
    battery_loss_kwh: float = 0.0
    battery_chem_kwh: float = 0.0  # chemical energy drawn from the cells (+ discharge)
    unserved_kwh: float = 0.0  # DC energy the PCS asked for and the cells did not give
    ups_loss_kwh: float = 0.0
    ups_discharge_kwh: float = 0.0  # net energy out of the UPS battery (+ discharge)
    rotating_kwh: float = 0.0  # island imbalance taken up by the rotating masses
    damping_kwh: float = 0.0  # frequency-dependent load relief (0 unless a load declares it)
    aging_kwh: float = 0.0  # stored energy removed by capacity fade (not a flow)
    it_unserved_kwh: float = 0.0  # racks' draw the UPS could not carry within a tick
    supplied_kwh: float = 0.0  # energy delivered by every source and store (positive flows)
    # revenue-meter accumulators (not balance terms): the split of ``grid_kwh`` and of the
    # fleet's AC power by sign, each tick's mean power times its length
    grid_import_kwh: float = 0.0  # Σ max(p_grid, 0)·dt
    grid_export_kwh: float = 0.0  # Σ max(−p_grid, 0)·dt
    bess_discharge_kwh: float = 0.0  # Σ max(p_ac_mean, 0)·dt over the fleet (AC side)
    bess_charge_kwh: float = 0.0  # Σ max(−p_ac_mean, 0)·dt over the fleet (AC side)


@dataclass
class DemandRegister:
    """A fixed-block demand register: mean import (kW) over clock-aligned intervals.

    Intervals are aligned to the site's local wall clock (``site.local_time_s``; a whole
    number of intervals since 1970-01-01T00:00 local), as :func:`twin.econ.compute_bill` buckets
    demand. A tick belongs to the interval its start falls in (as the bill's samples do). A
    completed interval's demand is its import energy over the full interval length (so a first
    interval the run covers only in part reads low, as a bill would); ``current_kw`` is the mean
    import over the part of the current interval seen so far (0 right after a boundary).
    """

    interval_s: float = 900.0
    key: int | None = None  # index of the current interval (None: none open)
    kwh: float = 0.0  # import energy booked in the current interval
    covered_s: float = 0.0  # seconds of the current interval booked so far
    prev_kw: float = 0.0  # demand of the last completed interval
    max_kw: float = 0.0  # highest completed-interval demand since start

    def book(self, t_start_s: float, dt: float, p_import_kw: float) -> None:
        """Book one tick starting at local time ``t_start_s`` with mean import ``p_import_kw``."""
        n = t_start_s / self.interval_s
        key = math.floor(n + 1e-9)
        if self.key is not None and key != self.key:
            self._close()
        self.key = key
        self.kwh += max(p_import_kw, 0.0) * dt / 3600.0
        self.covered_s += dt
        if (t_start_s + dt) / self.interval_s >= key + 1 - 1e-9:
            self._close()

    def _close(self) -> None:
        self.prev_kw = self.kwh * 3600.0 / self.interval_s
        self.max_kw = max(self.max_kw, self.prev_kw)
        self.key, self.kwh, self.covered_s = None, 0.0, 0.0

    @property
    def current_kw(self) -> float:
        return self.kwh * 3600.0 / self.covered_s if self.covered_s > 0.0 else 0.0


def energy_balance(en: Energy) -> dict[str, float]:
    """Every term of the site's energy balance since t = 0 (kWh), with its closing error.

    sources (grid import, PV, gensets) + stores given up (battery cells' chemical energy,
    UPS battery) = sinks (IT, cooling, base, auxiliaries, PCS, cell and UPS losses,
    rotating-mass energy taken up on an island, load relief) + ``residual_kwh``.
    ``supplied_kwh`` is the energy every source and store delivered (positive flows), the
    scale for the residual. ``aging_kwh`` is stored energy removed by capacity fade: not a
    flow, so it is outside the flow balance, but the cells' energy obeys
    ``E(t) − E(0) = −battery_chem_kwh − aging_kwh``.
    """
    sources = en.grid_kwh + en.pv_kwh + en.genset_kwh
    stores = en.battery_chem_kwh + en.ups_discharge_kwh
    sinks = (
        en.it_kwh
        + en.cooling_kwh
        + en.base_kwh
        + en.aux_kwh
        + en.pcs_loss_kwh
        + en.battery_loss_kwh
        + en.ups_loss_kwh
        + en.rotating_kwh
        + en.damping_kwh
    )
    return {
        **en.__dict__,
        "sources_kwh": sources,
        "stores_kwh": stores,
        "sinks_kwh": sinks,
        "residual_kwh": sources + stores - sinks,
    }
