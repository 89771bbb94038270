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

import math
from collections.abc import Callable, Mapping, Sequence
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
from twin.device import Device
from twin.discrete import discrete_step
from twin.errors import ParameterError, UnknownSignalError
from twin.limits import size_issues
from twin.models.battery import Battery
from twin.models.bms import Bms
from twin.models.cell import load_cell
from twin.models.genset import Genset
from twin.models.gpu import GpuFleet
from twin.models.gridcode import GridCodeMonitor
from twin.models.pcs import Pcs
from twin.models.pv import Pv
from twin.models.ups import Ups
from twin.params import from_dict, suggest
from twin.pms import BusMode, Transfer
from twin.signals import SignalTable, resolve_alias, split_name
from twin.site_params import AgingParams, SiteParams, site_grid_code
from twin.site_snapshot import Snapshot, make_snapshot
from twin.transitions import TransitionLog

__all__ = ["AgingParams", "Site", "SiteParams", "Snapshot"]


class Site:
    """An AI training site with distributed battery storage, as one state vector."""

    def __init__(
        self,
        config: Mapping[str, Any] | SiteParams | None = None,
        *,
        base_dir: Path | None = None,
        devices: Sequence[Device] = (),
    ) -> None:
        """``devices``: extra loads on the bus, declared outside ``twin/`` (:mod:`twin.device`)."""
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
        self.battery = Battery(
            params.battery, cell_params, rng=np.random.default_rng(seeds[0]), kernel=params.kernel
        )
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
            kernel=self.battery.kernel,  # "numpy" where numba did not import
        )
        self.pcs = Pcs(params.pcs, n, kernel=self.battery.kernel)
        self.pcs_code = site_grid_code(params)
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
        self.extra_devices: tuple[Device, ...] = tuple(devices)
        built_in = (self.battery, self.bms, self.pcs, self.genset, self.pv, self.gpu, self.ups)
        self.devices = (*(d for d in built_in if d is not None), *self.extra_devices)
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
                kernel=self.battery.kernel,
            )
            if params.aging.model != "none"
            else None
        )
        self.aging_seen = -1  # the aging model's windows_applied last copied to the battery
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
        self.p_bus_load = self.it_bus = 0.0
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
        # per-PCS energy books, one row each (twin.site_fixed.PCS_BOOKS): Σ max(±x, 0)·dt of the
        # tick means of AC power (kWh, the units of Energy.bess_*), reactive power and DC power
        self.pcs_books = np.zeros((len(_fixed.PCS_BOOKS), n))
        self.transitions = TransitionLog(self)
        self.events = self.transitions.events  # twin.transitions.Event (t, device, kind, detail, value)
        self._racks_dark_prev = 0
        self.bess_p_set_total: float | None = None
        self.bms_disconnect = np.zeros(n)
        self._trip_memo: tuple[Any, ...] | None = None  # twin.discrete.grid_trips
        self.s_base_kva = max(_pms.s_base_kva(self), 1.0)
        self.s_sc_kva = g.scr * _pms.s_ref_kva(self)
        self._inputs = _io.build_inputs(self)  # checked against the declarations
        self._bat_out: dict[str, FloatArray] = {}
        self._batt_step: dict[str, FloatArray] = {}  # the battery step of the tick (for the books)
        _pms.settle_initial_state(self)
        self._snapshot = make_snapshot(self)
        self._unit_counts = _io.unit_counts(self.signals, self._snapshot)

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

    def advance(self, n: int, each: Callable[[Snapshot], None] | None = None) -> Snapshot:
        """Advance ``n`` ticks with the inputs held, quiet grid-connected stretches as compiled
        chunks (:mod:`twin.chunk`), ``each`` given every tick's snapshot: as :meth:`step`, faster."""
        if self.battery.kernel != "compiled":  # numba did not import, or kernel: numpy
            for _ in range(n):
                self._step_once()
                if each is not None:
                    each(self._snapshot)
            return self._snapshot
        from twin.chunk import advance

        return advance(self, n, each)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _step_once(self) -> None:
        dt = self.dt
        t0 = self.t
        discrete_step(self, t0, dt)
        _integrate.advance(self, t0, dt)
        self.battery.apply_fault_heat(dt)
        self.tick += 1
        _fixed.bookkeeping(self, dt)
        self._snapshot = make_snapshot(self)

    # discrete logic -------------------------------------------------------------------------
    def gpu_rack_nominal_kw(self) -> float:
        gp = self.params.gpu
        return float(gp.node_peak_kw * gp.nodes_per_rack)

    # continuous: fixed-step exact discretisation -------------------------------------------
    def _pcs_commands(self) -> tuple[FloatArray, FloatArray]:
        # freq-watt, volt-watt, volt-var and sag injection with the PCS grid code's settings
        return self.pcs.command(dt=self.dt, v_pu=self.v, f_hz=self.f, f_nom_hz=self.f0, code=self.pcs_code)

    # events --------------------------------------------------------------------------------------
    def _event(self, t: float, device: str, kind: str, detail: str, value: float = math.nan) -> None:
        self.transitions.add(t, device, kind, detail, value)

    # outputs -----------------------------------------------------------------------------

    def energy_balance(self) -> dict[str, float]:
        """Every term of the site's energy balance since t = 0 (kWh): :func:`twin.bus.energy_balance`."""
        return energy_balance(self.energy)
