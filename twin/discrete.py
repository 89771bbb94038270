"""The discrete logic of a tick (:func:`discrete_step`), run once per tick before integration.

Inputs are held over the tick; everything here sees the state at the tick's start. The
order matters and is the protection engineer's: timers and the breaker first, then what
feeds the bus, then each terminal's protection, then the BMS, the PCS state machines and
limits, then the PMS's load management (:mod:`twin.pms`), and last the event record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from twin._interp import FloatArray
from twin.models.bms import Contactor
from twin.models.gridcode.monitor import GridCodeStatus
from twin.models.pcs_params import grid_trip_alarm_bits
from twin.pms import BusMode, Transfer, breaker, pms_loads, set_bus

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["discrete_step", "grid_trips"]

_CONTACTOR_CLOSED = int(Contactor.CLOSED)
_CONTACTOR_FAULT = int(Contactor.FAULT)


def discrete_step(site: Site, t: float, dt: float) -> None:
    """The tick's discrete logic, once, before the continuous states advance: outage timers,
    breaker and transfer, genset start logic, bus mode, grid-code protection of the PCS and PV
    terminals, the BMS, setpoint sharing, PCS state machines and limits, load management and
    the event record."""
    if site.grid_available:
        site.outage_for = 0.0
        site.healthy_for += dt
    else:
        site.outage_for += dt
        site.healthy_for = 0.0
    breaker(site, t, dt)
    islanded = not site.breaker_closed
    if site.genset is not None:
        pm = site.params.pms
        demand = (
            site.outage_for >= pm.outage_confirm_s - 1e-9  # an outage, confirmed
            or (islanded and site.grid_available and site.transfer != Transfer.OPEN)
            or site.transfer == Transfer.UNLOAD
        )
        site.genset.update_states(dt, demand_start=demand)
    set_bus(site, t)
    live = site.bus != BusMode.DEAD
    # grid code on the PCS and PV terminals; a relay's frequency element is blocked on a
    # dead bus (no voltage to measure it on), so the monitors see f0 there
    f_meas = site.f if live else site.f0
    rocof = site.grid_rocof if not islanded else 0.0
    status = site.pcs_monitor.update(t, dt, site.v, f_meas, rocof)  # one PCC voltage for all
    grid_trip, trip_bits = grid_trips(site, status, islanded or not site.grid_available)
    grid_ok = np.asarray(status.may_energize, dtype=float) * (0.0 if islanded else 1.0)
    if site.pv is not None and site.pv_monitor is not None:
        pst = site.pv_monitor.update(t, dt, site.v, f_meas, rocof)
        site.pv.tripped = bool(pst.tripped[0]) or not live or site.pv.forced_trip
    # BMS from the battery's present outputs
    bat_out = site._bat_out
    site.bms.update(dt, bat_out, site.params.battery.n_parallel, site.battery.capacity_ah)
    bms_fault = (site.bms.contactor == _CONTACTOR_FAULT).astype(float)
    # setpoint distribution
    if site.bess_p_set_total is not None:
        avail = np.maximum(site.pcs.running, 1e-12 * np.ones(site.n_cab))
        site.pcs.p_set = site.bess_p_set_total * avail / max(float(avail.sum()), 1e-12)
    close = site.pcs.update_states(
        dt,
        contactor_closed=(site.bms.contactor == _CONTACTOR_CLOSED).astype(float),
        bms_fault=bms_fault,
        grid_ok=grid_ok,
        grid_trip=grid_trip,
        islanded=islanded,
        trip_bits=trip_bits,
        cessation=status.cessation,
        ramp_limit_pu=status.ramp_limit_pu,
    )
    # an operator's or EMS's disconnect command (SunSpec 802 SetOp) keeps the contactor open
    site.bms.close_cmd = close * (site.bms_disconnect <= 0)
    site.pcs.limits(site.bms.dcl, site.bms.ccl, bat_out["v_dc_v"], v_pu=site.v, t_ambient_degc=site.t_ambient)
    pms_loads(site, t, dt)
    site.transitions.update(site, t)


def grid_trips(site: Site, status: GridCodeStatus, masked: bool) -> tuple[FloatArray, npt.NDArray[Any]]:
    """Each PCS's grid-code trip (1.0 or 0.0) and its 701 alarm bits. ``masked``: islanded or
    without grid, grid-forming units hold the island and protection watches the grid side only.

    A monitor's repeated status (a quiet or waiting tick) shares its arrays with the last one,
    so the answer for the same arrays and mask is kept (``site._trip_memo``) rather than worked
    out unit by unit at every islanded tick (a chunk asks for the same); the memo holds the
    arrays, so their identity is not reused while it is checked."""
    memo = site._trip_memo
    if memo is not None and memo[0] is status.tripped and memo[1] is status.trip_reason and memo[2] == masked:
        return memo[3], memo[4]
    grid_trip = np.asarray(status.tripped, dtype=float)
    if masked:
        grid_trip = np.where(site.pcs.gfm, 0.0, grid_trip)
    trip_bits = grid_trip_alarm_bits(status.trip_reason, grid_trip > 0)
    site._trip_memo = (status.tripped, status.trip_reason, masked, grid_trip, trip_bits)
    return grid_trip, trip_bits
