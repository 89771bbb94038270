"""The site: every device in one state, stepped on an integer tick.

``Site`` is built from plain dicts (``hil`` loads YAML). Each :meth:`Site.step` holds the
inputs over the tick (zero-order hold), runs the discrete logic once (BMS, PCS and genset
state machines, grid-code timers, breaker, load shedding), then advances the continuous
states either with the fixed-step exact discretisation (``method="fixed"``, for long
runs) or with ``scipy.integrate.solve_ivp`` (``method="ivp"``, the reference path). Both
paths share the discrete logic, the GPU fleet's exact tick means and the bookkeeping, and
a test holds them to the same answer.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twin import integrate as _integrate
from twin import pms as _pms
from twin import site_fixed as _fixed
from twin import site_io as _io
from twin._interp import FloatArray
from twin.aging import AgingModel
from twin.bus import DemandRegister, Energy, energy_balance, signal_table
from twin.clock import Clock
from twin.errors import ParameterError, ParameterIssue, UnknownSignalError
from twin.limits import size_issues
from twin.models.battery import Battery
from twin.models.bms import Bms, Contactor
from twin.models.cell import load_cell
from twin.models.genset import Genset
from twin.models.gpu import GpuFleet
from twin.models.grid import cooling_target_kw
from twin.models.gridcode import GridCodeMonitor, load_grid_code
from twin.models.pcs import Pcs, PcsState
from twin.models.pcs_params import grid_trip_alarm_bits
from twin.models.pv import Pv
from twin.models.ups import Ups
from twin.params import from_dict, suggest
from twin.pms import BusMode, Transfer
from twin.signals import SignalTable, resolve_alias, split_name
from twin.site_params import AgingParams, SiteParams
from twin.snapshot import Snapshot
from twin.transitions import TransitionLog

__all__ = ["AgingParams", "Site", "SiteParams", "Snapshot"]

_PCS_OFF = int(PcsState.OFF)
_CONTACTOR_CLOSED = int(Contactor.CLOSED)
_CONTACTOR_FAULT = int(Contactor.FAULT)


# ------------------------------------------------------------------------------------------
# site
# ------------------------------------------------------------------------------------------


class Site:
    """An AI training site with distributed battery storage, as one state vector."""

    def __init__(
        self, config: Mapping[str, Any] | SiteParams | None = None, *, base_dir: Path | None = None
    ) -> None:
        if isinstance(config, SiteParams):
            params = config
        else:
            cfg = dict(config or {})
            cell_spec = (
                cfg.get("battery", {}).get("cell") if isinstance(cfg.get("battery"), Mapping) else None
            )
            if isinstance(cell_spec, Mapping):
                cfg["battery"] = {**cfg["battery"], "cell": str(cell_spec.get("name", "inline"))}
                cfg["cell"] = dict(cell_spec)
            params = from_dict(SiteParams, cfg)
        too_big = size_issues(params)  # before any array is allocated
        if too_big:
            raise ParameterError(too_big)
        self.params = params
        self.dt = params.tick_s
        self.tick = 0
        self.method = params.method
        rng = np.random.default_rng(params.seed)
        seeds = rng.integers(0, 2**31 - 1, size=8)
        cell_params = load_cell(
            params.cell if params.cell is not None else params.battery.cell, base_dir=base_dir
        )
        n = params.battery.n_cabinets
        self.n_cab = n
        self.battery = Battery(params.battery, cell_params, rng=np.random.default_rng(seeds[0]))
        self.bms = Bms(
            params.bms,
            n,
            i_max_charge_a=cell_params.i_max_charge_a,
            i_max_discharge_a=cell_params.i_max_discharge_a,
            cell_t_charge=(cell_params.t_charge_min_degc, cell_params.t_charge_max_degc),
            cell_t_discharge=(cell_params.t_discharge_min_degc, cell_params.t_discharge_max_degc),
            soc0=params.battery.soc0,
            i_max_discharge_vs_t=cell_params.discharge_limit_table_a(),
            soc_from_ocv=self.battery.cell.soc_from_ocv,
        )
        self.pcs = Pcs(params.pcs, n)
        code_issues: list[ParameterIssue] = []
        if params.pcs.grid_forming_units > n:
            code_issues.append(
                ParameterIssue(
                    ("pcs", "grid_forming_units"),
                    f"{params.pcs.grid_forming_units} grid-forming units, but the site has {n} PCS",
                )
            )
        try:
            self.pcs_code = load_grid_code(params.pcs.grid_code)
        except ParameterError as exc:
            code_issues += [ParameterIssue(("pcs", "grid_code", *i.path), i.message) for i in exc.issues]
        if code_issues:
            raise ParameterError(code_issues)
        self.pcs_monitor = GridCodeMonitor(n, self.pcs_code)
        self.clock = Clock(
            params.start,
            params.timezone,
            longitude_deg=params.pv.longitude_deg if params.pv is not None else 113.3,
        )
        self.pv = Pv(params.pv, seed=int(seeds[1]), clock=self.clock) if params.pv is not None else None
        self.pv_monitor = GridCodeMonitor(1, self.pcs_code) if self.pv is not None else None
        self.genset = (
            Genset(params.genset, rng=np.random.default_rng(seeds[2])) if params.genset is not None else None
        )
        self.gpu = GpuFleet(params.gpu, seed=int(seeds[3]))
        self.ups = Ups(params.ups) if params.ups is not None else None
        self.devices = tuple(
            d
            for d in (self.battery, self.bms, self.pcs, self.genset, self.pv, self.gpu, self.ups)
            if d is not None
        )
        self.signals: SignalTable = signal_table(self.devices)
        """Every input and output of this site, from the devices' and the bus's declarations."""
        n_racks = params.gpu.n_racks
        self.powered = np.ones(n_racks, dtype=bool)
        self.rack_est = np.zeros(n_racks)
        self.rack_off_t = -math.inf
        self._rng_phase = np.random.default_rng(seeds[4])
        self.aging = (
            AgingModel(
                n * params.battery.cells_modelled,
                model=params.aging.model,
                window_s=params.aging.window_s,
            )
            if params.aging.model != "none"
            else None
        )
        g = params.grid
        self.f0 = g.f_nom_hz
        # grid inputs and state
        self.grid_available = True
        self.grid_v_pu = 1.0
        self.grid_f_hz = g.f_nom_hz
        self.grid_rocof = 0.0
        self.breaker_closed = True
        self.breaker_cmd_close = True
        self.outage_for = 0.0
        self.healthy_for = 0.0
        self.f = g.f_nom_hz
        self.v = 1.0
        self.p_grid = 0.0
        self.q_grid = 0.0
        # the bus and the PMS (twin.pms)
        self.bus = BusMode.GRID
        self.transfer = Transfer.NORMAL
        self.transfer_for = 0.0
        self.live_for = math.inf
        self.chillers_on = params.facility.chiller_units
        self.phase_deg = 0.0
        self._phase_min = math.inf
        self._phase_at_min = 0.0
        self.sync_ref = 0.0
        self.reclose_check = (math.nan, math.nan, math.nan)
        self.gen_unload_ref = np.zeros(self.genset.n if self.genset is not None else 0)
        self.p_bus_load = 0.0
        self.it_bus = 0.0
        self.base_now = params.facility.base_load_kw
        self.ups_short = 0.0
        self.rot_p = 0.0
        self.relief_p = 0.0
        self._aux_island: FloatArray | None = None
        pf = params.facility.load_pf
        self._load_tan_phi = math.sqrt(max(1.0 - pf * pf, 0.0)) / pf
        xr = g.x_over_r
        self._thev_r = 1.0 / math.sqrt(1.0 + xr * xr)
        self._thev_x = xr * self._thev_r
        # facility
        self.t_ambient = params.facility.t_ambient_degc
        self.p_it_racks = np.zeros(n_racks)
        self.p_it = 0.0
        self.p_cool = 0.0
        self.p_cool_mean = 0.0
        self.energy = Energy()
        self.demand = DemandRegister()
        # per-PCS AC energy books (kWh): Σ max(±p_ac_mean, 0)·dt, the units of Energy.bess_*
        self.pcs_discharge_kwh = np.zeros(n)
        self.pcs_charge_kwh = np.zeros(n)
        self.transitions = TransitionLog(self)
        self.events = self.transitions.events  # (t, device, kind, detail), see twin.transitions
        self._racks_dark_prev = 0
        self.bess_p_set_total: float | None = None
        self.bms_disconnect = np.zeros(n)
        self.s_base_kva = max(self._s_base(), 1.0)
        self.s_sc_kva = g.scr * self._s_ref_kva()
        self._inputs = _io.build_inputs(self)
        if set(self._inputs) != set(self.signals.inputs):  # a setter without a declaration, or vice versa
            raise RuntimeError(
                f"inputs and declarations differ: {set(self._inputs) ^ set(self.signals.inputs)}"
            )
        self._bat_out: dict[str, FloatArray] = {}
        self._batt_step: dict[str, FloatArray] = {}  # the battery step of the tick (for the books)
        self._init_cooling()
        self._snapshot = _io.make_snapshot(self)
        # devices with per-unit inputs are addressed dev[i] over as many units as they report
        addressed = {key.partition(".")[0] for key, sig in self.signals.inputs.items() if sig.per_unit}
        self._unit_counts: dict[str, int] = {}
        for key, arr in self._snapshot.arrays.items():
            if key.partition(".")[0] in addressed:
                self._unit_counts.setdefault(key.partition(".")[0], arr.shape[0])

    # -- construction helpers --------------------------------------------------------------
    def _s_base(self) -> float:
        s = self.params.pcs.s_rated_kva * self.n_cab
        if self.genset is not None:
            s += self.genset.params.p_rated_kw * self.genset.n
        return s

    def _s_ref_kva(self) -> float:
        """The SCR's reference: the connection rating, or the site's peak draw."""
        p = self.params
        if p.grid.connection_kva > 0:
            return p.grid.connection_kva
        peak = p.gpu.n_racks * self.gpu_rack_nominal_kw() * p.facility.pue + p.facility.base_load_kw
        return max(peak, p.pcs.s_rated_kva * self.n_cab, 1.0)

    def _init_cooling(self) -> None:
        # start in steady state: cooling settled on the IT's mean over one cooling time
        # constant (not the first tick's value, which a swinging load biases), the UPS (if
        # any) carrying the first tick's draw, the racks' measured draw known
        probe = copy.deepcopy(self.gpu)
        fac = self.params.facility
        p_tau = probe.mean_power_kw(0.0, fac.cooling_tau_s, self.powered)
        self.p_cool = cooling_target_kw(fac, float(p_tau.sum()), self.t_ambient)
        self.p_cool_mean = self.p_cool
        probe = copy.deepcopy(self.gpu)
        self.rack_est = probe.mean_power_kw(0.0, self.dt, self.powered)
        it0 = float(self.rack_est.sum())
        self.it_bus = it0 / self.ups.params.efficiency if self.ups is not None else it0
        self.p_bus_load = self.it_bus + self.p_cool + fac.base_load_kw
        self.p_grid = self.p_bus_load
        self.q_grid = self.p_bus_load * self._load_tan_phi
        self.v = _pms.pcc_v(self, self.p_grid, self.q_grid)

    @property
    def t(self) -> float:
        """Simulated time in seconds (tick count × tick length)."""
        return self.tick * self.dt

    # -- inputs -----------------------------------------------------------------------------

    @property
    def input_names(self) -> list[str]:
        return sorted(self._inputs)

    def set(self, name: str, value: float) -> None:
        """Set an input or setpoint; it takes effect from the next tick (held over it).

        ``device.input`` sets every unit, ``device[i].input`` one unit.
        """
        name = resolve_alias(name)
        dev, idx, sig = split_name(name)
        key = f"{dev}.{sig}"
        setter = self._inputs.get(key)
        if setter is None:
            raise UnknownSignalError(name, suggest(key, list(self._inputs)))
        n_units = self.unit_count(dev)
        if idx is not None and not 0 <= idx < n_units:
            raise UnknownSignalError(name, [f"{dev}[{n_units - 1}].{sig}"])
        v = float(value)
        if math.isinf(v):
            raise ValueError(f"{name}: value must be finite, got {value!r}")
        setter(v, idx)

    def unit_count(self, device: str) -> int:
        """How many units ``device[i].input`` may address (1 for a site-wide device)."""
        return self._unit_counts.get(device, 1)

    def set_units(self, name: str, values: Any) -> None:
        """Set a per-unit input on every unit at once (``values`` has one entry per unit)."""
        name = resolve_alias(name)
        setter = self._inputs.get(name)
        if setter is None:
            raise UnknownSignalError(name, suggest(name, list(self._inputs)))
        arr = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: values must be finite")
        setter(arr, None)  # type: ignore[arg-type]

    # -- the tick ---------------------------------------------------------------------------
    def step(self, n: int = 1) -> Snapshot:
        """Advance ``n`` ticks; returns the snapshot after the last."""
        for _ in range(n):
            self._step_once()
        return self._snapshot

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _step_once(self) -> None:
        dt = self.dt
        t0 = self.t
        self._discrete(t0, dt)
        _integrate.advance(self, t0, dt)
        self.battery.apply_fault_heat(dt)
        self.tick += 1
        _fixed.bookkeeping(self, dt)
        self._snapshot = _io.make_snapshot(self)

    # discrete logic -------------------------------------------------------------------------
    def _discrete(self, t: float, dt: float) -> None:
        if self.grid_available:
            self.outage_for = 0.0
            self.healthy_for += dt
        else:
            self.outage_for += dt
            self.healthy_for = 0.0
        _pms.breaker(self, t, dt)
        islanded = not self.breaker_closed
        if self.genset is not None:
            pm = self.params.pms
            demand = (
                self.outage_for >= pm.outage_confirm_s - 1e-9  # an outage, confirmed
                or (islanded and self.grid_available and self.transfer != Transfer.OPEN)
                or self.transfer == Transfer.UNLOAD
            )
            self.genset.update_states(dt, demand_start=demand)
        _pms.set_bus(self, t)
        live = self.bus != BusMode.DEAD
        # grid code on the PCS and PV terminals; a relay's frequency element is blocked on a
        # dead bus (no voltage to measure it on), so the monitors see f0 there
        f_meas = self.f if live else self.f0
        v_arr = np.full(self.n_cab, self.v)
        rocof = self.grid_rocof if not islanded else 0.0
        status = self.pcs_monitor.update(t, dt, v_arr, f_meas, rocof)
        grid_trip = np.asarray(status.tripped, dtype=float)
        if islanded or not self.grid_available:
            # grid-forming units hold the island; protection watches the grid side only
            grid_trip = np.where(self.pcs.gfm, 0.0, grid_trip)
        trip_bits = grid_trip_alarm_bits(status.trip_reason, grid_trip > 0)
        grid_ok = np.asarray(status.may_energize, dtype=float) * (0.0 if islanded else 1.0)
        if self.pv is not None and self.pv_monitor is not None:
            pst = self.pv_monitor.update(t, dt, np.array([self.v]), f_meas, rocof)
            self.pv.tripped = bool(pst.tripped[0]) or not live or self.pv.forced_trip
        # BMS from the battery's present outputs
        bat_out = self._bat_out
        self.bms.update(dt, bat_out, self.params.battery.n_parallel, self.battery.capacity_ah)
        bms_fault = (self.bms.contactor == _CONTACTOR_FAULT).astype(float)
        # setpoint distribution
        if self.bess_p_set_total is not None:
            avail = np.maximum(self.pcs.running, 1e-12 * np.ones(self.n_cab))
            self.pcs.p_set = self.bess_p_set_total * avail / max(float(avail.sum()), 1e-12)
        close = self.pcs.update_states(
            dt,
            contactor_closed=(self.bms.contactor == _CONTACTOR_CLOSED).astype(float),
            bms_fault=bms_fault,
            grid_ok=grid_ok,
            grid_trip=grid_trip,
            islanded=islanded,
            trip_bits=trip_bits,
            cessation=status.cessation,
            ramp_limit_pu=status.ramp_limit_pu,
        )
        # an operator's or EMS's disconnect command (SunSpec 802 SetOp) keeps the contactor open
        self.bms.close_cmd = close * (self.bms_disconnect <= 0)
        self.pcs.limits(
            self.bms.dcl, self.bms.ccl, bat_out["v_dc_v"], v_pu=self.v, t_ambient_degc=self.t_ambient
        )
        _pms.pms_loads(self, t, dt)
        self.transitions.update(self, t)

    def gpu_rack_nominal_kw(self) -> float:
        gp = self.params.gpu
        return float(gp.node_peak_kw * gp.nodes_per_rack)

    # continuous: fixed-step exact discretisation -------------------------------------------
    def _pcs_commands(self) -> tuple[FloatArray, FloatArray]:
        # freq-watt, volt-watt, volt-var and sag injection with the PCS grid code's settings
        return self.pcs.command(dt=self.dt, v_pu=self.v, f_hz=self.f, f_nom_hz=self.f0, code=self.pcs_code)

    # events --------------------------------------------------------------------------------------
    def _event(self, t: float, device: str, kind: str, detail: str) -> None:
        self.transitions.add(t, device, kind, detail)

    # outputs -----------------------------------------------------------------------------

    def energy_balance(self) -> dict[str, float]:
        """Every term of the site's energy balance since t = 0 (kWh): :func:`twin.bus.energy_balance`."""
        return energy_balance(self.energy)
