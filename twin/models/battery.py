"""Battery cabinets: a fleet of n_s × n_p LFP strings, vectorised over cabinets and cells.

Each cabinet is ``n_series`` cells in series times ``n_parallel`` strings. ``cells_modelled``
series cells per cabinet are simulated individually (all of them when it equals
``n_series``), each with its own seeded capacity and resistance deviation, so that
min/max cell voltage and temperature and the imbalance are real outputs. The pack voltage
is ``n_series`` times the mean modelled cell voltage; parallel strings share current
equally. Power-controlled steps solve the pack current in closed form so that the mean DC
power over the tick equals the PCS's demand exactly (see ``docs/models/battery.md``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from twin._interp import FloatArray
from twin.models.cell import CellModel, CellParams
from twin.models.ecm import EcmState, ecm_rhs, ecm_step
from twin.params import param
from twin.signals import Signal

if TYPE_CHECKING:
    from twin.models.battery_kernel import KernelTables

__all__ = ["Battery", "BatteryParams"]


@dataclass(frozen=True)
class BatteryParams:
    """A fleet of identical battery cabinets (one entry per cabinet type in a site)."""

    n_cabinets: int = param(1, ge=1, limit="battery.n_cabinets", source="site layout")
    cell: str = param("lfp_280ah", source="shipped cell set name (or a cell dict in the site)")
    n_series: int = param(
        416,
        ge=1,
        limit="battery.n_series",
        source="[K] 1500 V-class LFP rack: 416s × 3.2 V = 1331 V nominal (physics.md §1.2)",
    )
    n_parallel: int = param(
        6, ge=1, limit="battery.n_parallel", source="[K] strings per cabinet; 6 × 0.373 MWh ≈ 2.2 MWh"
    )
    cells_modelled: int = param(
        16,
        ge=1,
        limit="battery.cells_modelled",
        source="modelling choice: series cells simulated per cabinet (≤ n_series)",
    )
    capacity_spread: float = param(
        0.015, ge=0, lt=0.2, source="[K] cell-to-cell capacity σ ≈ 1–2 % (physics.md §1.2)"
    )
    resistance_spread: float = param(
        0.04, ge=0, lt=0.5, source="[K] cell-to-cell resistance σ ≈ 3–5 % (physics.md §1.2)"
    )
    soc0: float = param(0.5, ge=0, le=1, source="scenario choice")
    t0_degc: float = param(25.0, unit="°C", source="[K] conditioned container")
    t_coolant_degc: float = param(
        25.0, unit="°C", source="[K] HVAC / liquid-loop set point the module node cools to"
    )
    self_discharge_pct_per_month: float = param(
        2.5,
        unit="%/month",
        ge=0,
        le=50,
        source="[K] LFP cells lose 2–3 % of capacity per month at 25 °C (month = 30 d)",
    )
    self_discharge_t_ref_degc: float = param(
        25.0, unit="°C", source="[K] temperature the self-discharge rate is quoted at"
    )
    self_discharge_doubling_degc: float = param(
        10.0,
        unit="°C",
        gt=0,
        source="[K] self-discharge roughly doubles per 10 °C (Arrhenius rule of thumb)",
    )

    def __post_init__(self) -> None:
        if self.cells_modelled > self.n_series:
            raise ValueError("cells_modelled cannot exceed n_series")


class Battery:
    """Fleet of cabinets. States per modelled cell, shape ``(n_cabinets, cells_modelled)``."""

    name: ClassVar[str] = "bess"
    states: ClassVar[tuple[Signal, ...]] = (
        Signal("soc", "1", "state of charge of each modelled cell"),
        Signal("v_rc_v", "V", "RC-pair overpotentials"),
        Signal("t_cell_degc", "°C", "cell temperature"),
        Signal("t_jig_degc", "°C", "module / cold-plate node temperature"),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal("fault_heat_w", "W", "extra heat in the first modelled cell (thermal fault injection)"),
        Signal(
            "cell_soc_offset_pct",
            "%",
            "shifts the first cell's SoC by this many points (imbalance injection)",
        ),
        Signal("t_coolant_degc", "°C", "coolant / cabinet air temperature"),
    )
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("soc_pct", "%", "true pack SoC (capacity-weighted mean of the cells)"),
        Signal("soc_min_pct", "%", "lowest cell SoC"),
        Signal("v_dc_v", "V", "pack terminal voltage"),
        Signal("i_dc_a", "A", "pack current, + on discharge"),
        Signal("p_dc_kw", "kW", "DC power, + on discharge"),
        Signal("v_cell_min_v", "V", "lowest modelled cell voltage"),
        Signal("v_cell_max_v", "V", "highest modelled cell voltage"),
        Signal("v_imbalance_mv", "mV", "max − min cell voltage"),
        Signal("t_cell_min_degc", "°C", "coolest cell"),
        Signal("t_cell_max_degc", "°C", "hottest cell"),
        Signal("energy_kwh", "kWh", "chemical energy stored (∫ OCV dQ from SoC 0)"),
        Signal("heat_kw", "kW", "heat generated in the cells"),
    )

    def __init__(
        self, params: BatteryParams, cell: CellParams, *, rng: np.random.Generator, kernel: str = "numpy"
    ) -> None:
        """``kernel="compiled"`` runs the tick, the outputs and the stored energy through
        :mod:`twin.models.battery_kernel`; ``"numpy"`` (the reference) through this file."""
        self.params = params
        self.cell = CellModel(cell)
        n, k = params.n_cabinets, params.cells_modelled
        self.shape = (n, k)
        self.n_rc = self.cell.n_rc
        z_q = rng.standard_normal(self.shape)
        z_r = rng.standard_normal(self.shape)
        self.cap_factor = np.clip(1.0 + params.capacity_spread * z_q, 0.5, 1.5)
        self.r_factor = np.clip(1.0 + params.resistance_spread * z_r, 0.5, 2.0)
        self._unit_capacity: tuple[FloatArray, float, FloatArray] | None = None
        self.soh = np.ones(self.shape)  # capacity fraction from aging
        self.r_aging = np.ones(self.shape)
        self.series_scale = params.n_series / k
        full = np.full(self.shape, 1.0)
        self.state = EcmState(
            full * params.soc0,
            np.zeros((self.n_rc, *self.shape)),
            full * params.t0_degc,
            full * params.t0_degc,
        )
        self.t_coolant = np.full(n, params.t_coolant_degc)
        self.i_pack = np.zeros(n)
        self._thermal_cache: dict[float, tuple[FloatArray, FloatArray]] = {}
        self._thermal_flat: dict[float, FloatArray] = {}
        # ∫_0^soc OCV ds on the OCV table nodes, for stored energy
        x, y = self.cell.ocv_grid.x, self.cell.ocv_grid.y
        self._ocv_x = x
        self._ocv_cum = np.concatenate(([0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))))
        self._ocv_cum -= np.interp(0.0, x, self._ocv_cum)
        self.last_heat_w = np.zeros(self.shape)
        # fault injection: extra heat (W) into the first modelled cell of each cabinet (a hot spot)
        self.fault_heat_w = np.zeros(n)
        # self-discharge rate at the reference temperature, SoC fraction per second
        self._sd_rate = params.self_discharge_pct_per_month / 100.0 / (30.0 * 86400.0)
        self.kernel = kernel
        self._kt: KernelTables | None = None
        # outputs the chunk's compiled step already computed for the state as it stands, taken
        # once by outputs_now (twin.chunk); None: compute them
        self.outputs_ready: FloatArray | None = None
        if kernel == "compiled":
            try:
                from twin.models.battery_kernel import cell_tables
            except ImportError as exc:  # numba has no build for this platform: same results, slower
                warnings.warn(f"numba unavailable ({exc}); the battery runs on numpy", stacklevel=2)
                self.kernel = kernel = "numpy"
        if kernel == "compiled":
            self._kt = tuple(cell_tables(self.cell, self._ocv_cum))
            # each cell's OCV segment at its last lookup: the kernels walk from it (a tick moves
            # SoC by far less than a segment) instead of bisecting the table; same segment found
            self._ocv_k = np.zeros(self.shape, dtype=np.int64)
            self._kscale = np.array(
                [
                    float(params.n_parallel),
                    self.series_scale,
                    self._sd_rate,
                    params.self_discharge_t_ref_degc,
                    params.self_discharge_doubling_degc,
                ]
            )

    # -- helpers -------------------------------------------------------------------------
    @property
    def soh(self) -> FloatArray:
        """Each modelled cell's capacity fraction from aging (read-only: assign a new array)."""
        return self._soh

    @soh.setter
    def soh(self, value: FloatArray) -> None:
        value = np.array(value, dtype=float)
        value.flags.writeable = False
        self._soh = value
        self._unit_capacity = None

    def unit_capacity(self) -> tuple[FloatArray, float, FloatArray]:
        """Each unit's capacity (A·h, the sum over its cells), their total and each unit's mean
        SoH (%): kept until :attr:`soh` is replaced (read-only arrays)."""
        if self._unit_capacity is None:
            cap = self.capacity_ah.sum(axis=1)
            soh = 100.0 * self.soh.mean(axis=1)
            cap.flags.writeable = soh.flags.writeable = False
            self._unit_capacity = (cap, float(cap.sum()), soh)
        return self._unit_capacity

    @property
    def capacity_ah(self) -> FloatArray:
        """Capacity of each modelled cell (A·h), spread and aging included."""
        return self.cell.capacity_ah * self.cap_factor * self.soh

    @property
    def r_scale(self) -> FloatArray:
        return self.r_factor * self.r_aging

    def thermal(self, dt: float) -> tuple[FloatArray, FloatArray]:
        m = self._thermal_cache.get(dt)
        if m is None:
            m = self.cell.thermal_step_matrices(dt)
            self._thermal_cache[dt] = m
        return m

    def stored_energy_kwh(self, soc: FloatArray | None = None) -> FloatArray:
        """Chemical energy per cabinet: n_p × (n_s/K) Σ_k Q_k ∫_0^soc OCV ds."""
        s = self.state.soc if soc is None else soc
        if self._kt is not None:
            from twin.models import battery_kernel as bk

            out = np.empty(s.shape[0])
            hint = self._ocv_k if s.shape == self._ocv_k.shape else np.zeros(s.shape, dtype=np.int64)
            bk.stored_energy(self._kt, np.ascontiguousarray(s), self.capacity_ah, self._kscale, out, hint)
            return out
        idx = np.clip(np.searchsorted(self._ocv_x, s, side="right") - 1, 0, self._ocv_x.size - 2)
        ocv_lo = self.cell.ocv_grid.y[idx]
        x_lo = self._ocv_x[idx]
        slope = self.cell.ocv_grid.slope[idx]
        ds = s - x_lo
        integral = self._ocv_cum[idx] + ocv_lo * ds + 0.5 * slope * ds * ds
        wh = integral * self.capacity_ah  # V·A·h
        return np.asarray(wh.sum(axis=1) * self.series_scale * self.params.n_parallel / 1000.0)

    def self_discharge_dsoc(self, state: EcmState) -> FloatArray:
        """Self-discharge as a SoC rate (1/s, ≥ 0) per modelled cell: the quoted monthly
        rate, doubled every ``self_discharge_doubling_degc`` above the reference; a cell at
        SoC 0 has nothing left to lose."""
        p = self.params
        factor = np.exp2((state.t_cell_degc - p.self_discharge_t_ref_degc) / p.self_discharge_doubling_degc)
        return np.asarray(np.where(state.soc > 0.0, self._sd_rate * factor, 0.0))

    def self_discharge_w(self, state: EcmState) -> FloatArray:
        """Chemical power (W, ≥ 0) per cabinet lost to self-discharge: the internal current
        ``dsoc·Q`` at the cells' OCV, scaled to every series cell and parallel string."""
        i_sd = self.self_discharge_dsoc(state) * self.capacity_ah * 3600.0  # A per cell
        return np.asarray(
            (self.cell.ocv(state.soc) * i_sd).sum(axis=1) * self.series_scale * self.params.n_parallel
        )

    def _pack_coeffs(self, dt: float, i_lookup: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mean pack voltage over a step of length dt is ``E − R·I`` (I pack current)."""
        st = self.state
        n_p = self.params.n_parallel
        i_cell = (i_lookup / n_p)[:, None]
        r0, r, c = self.cell.rc_values(st.t_cell_degc, i_cell, st.soc)
        rs = self.r_scale
        r0 = r0 * rs
        r = r * rs
        c = c / rs
        tau = r * c
        phi = tau / dt * (1.0 - np.exp(-dt / tau)) if dt > 0 else np.ones_like(tau)
        q = self.capacity_ah
        e_cell = self.cell.ocv(st.soc) + (st.v_rc * phi).sum(axis=0)
        r_cell = r0 + (r * (1.0 - phi)).sum(axis=0) + 0.5 * self.cell.docv_dsoc(st.soc) * dt / (3600.0 * q)
        e = e_cell.sum(axis=1) * self.series_scale
        rr = r_cell.sum(axis=1) * self.series_scale / n_p
        return e, rr

    @staticmethod
    def current_for_power(e: FloatArray, r: FloatArray, p_w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Pack current with (E − R I) I = P; where P exceeds the maximum E²/4R, the
        current of maximum power. Returns (current, limited flag as float)."""
        disc = e * e - 4.0 * r * p_w
        limited = disc < 0
        root = np.sqrt(np.maximum(disc, 0.0))
        i = 2.0 * p_w / (e + root)
        i = np.where(limited, e / (2.0 * r), i)
        return i, limited.astype(float)

    # -- discrete-time path ---------------------------------------------------------------
    def step_power(self, p_dc_w: FloatArray, dt: float, *, closed: FloatArray) -> dict[str, FloatArray]:
        """Advance every cabinet with DC power ``p_dc_w`` (+ discharge) held for ``dt``.

        Cabinets whose contactor is open carry no current. Returns per-cabinet means over
        the step: current, delivered DC power and chemical power (W); the chemical power
        includes the self-discharge, also returned alone as ``p_sd_w`` (so chemical minus
        delivered power, the battery loss, books it).
        """
        if self._kt is not None:
            return self._step_power_compiled(np.asarray(p_dc_w, dtype=float), dt, closed)
        p = np.where(closed > 0, p_dc_w, 0.0)
        e, r = self._pack_coeffs(dt, self.i_pack)
        i, limited = self.current_for_power(e, r, p)
        i = np.where(closed > 0, i, 0.0)
        p_sd = self.self_discharge_w(self.state)
        res = self.step_current(i, dt)
        p_del = i * (e - r * i)
        return {"i_a": i, "p_dc_w": p_del, "p_chem_w": res, "p_sd_w": p_sd, "limited": limited}

    def _step_power_compiled(
        self, p_dc_w: FloatArray, dt: float, closed: FloatArray
    ) -> dict[str, FloatArray]:
        from twin.models import battery_kernel as bk

        assert self._kt is not None
        st = self.state
        th = self._thermal_flat.get(dt)
        if th is None:  # (Φ, Γ) flattened for the kernel, once per tick length
            phi, gam = self.thermal(dt)
            th = self._thermal_flat[dt] = np.concatenate((phi.ravel(), gam.ravel()))
        new = EcmState(
            np.empty(self.shape), np.empty(st.v_rc.shape), np.empty(self.shape), np.empty(self.shape)
        )
        heat = np.empty(self.shape)
        cab = np.empty((5, self.shape[0]))
        bk.step_power(
            self._kt,
            np.ascontiguousarray(p_dc_w),
            np.asarray(closed, dtype=float),
            float(dt),
            self.i_pack,
            st.soc,
            st.v_rc,
            st.t_cell_degc,
            st.t_jig_degc,
            self.capacity_ah,
            self.r_scale,
            self.t_coolant,
            th,
            self._kscale,
            (new.soc, new.v_rc, new.t_cell_degc, new.t_jig_degc, heat),
            cab,
            self._ocv_k,
        )
        self.state = new
        self.i_pack = cab[0].copy()
        self.last_heat_w = heat
        return {
            "i_a": cab[0], "p_dc_w": cab[1], "p_chem_w": cab[2], "p_sd_w": cab[3], "limited": cab[4],
            "cab": cab,  # all five rows, for the compiled books (twin.site_fixed.bookkeeping)
        }  # fmt: skip

    def step_current(self, i_pack: FloatArray, dt: float) -> FloatArray:
        """Advance with pack current held; returns the mean chemical power (W), self-discharge
        included. Self-discharge is a small internal current that lowers SoC only (its heat,
        tens of mW per cell, is neglected)."""
        n_p = self.params.n_parallel
        i_cell = (i_pack / n_p)[:, None]
        dsoc_sd = self.self_discharge_dsoc(self.state) * dt
        p_sd = self.self_discharge_w(self.state)
        out = ecm_step(
            self.cell,
            self.state,
            i_cell,
            dt,
            self.t_coolant[:, None],
            capacity_ah=self.capacity_ah,
            r_scale=self.r_scale,
            thermal=self.thermal(dt),
        )
        out.state.soc = np.maximum(out.state.soc - dsoc_sd, 0.0)
        self.state = out.state
        self.i_pack = np.asarray(i_pack, dtype=float)
        self.last_heat_w = out.heat_w
        return np.asarray((out.ocv_mean * i_cell).sum(axis=1) * self.series_scale * n_p + p_sd)

    def apply_fault_heat(self, dt: float) -> None:
        """Add the injected hot-spot heat of the last ``dt`` to cell 0 of each cabinet.

        The two-node thermal model is linear, so the response to a held extra heat ``Q`` over
        ``dt`` superposes exactly: ``ΔT = Γ[:, 0] · Q`` (the same Γ the step uses)."""
        if not np.any(self.fault_heat_w):
            return
        _, gam = self.thermal(dt)
        self.state.t_cell_degc[:, 0] += gam[0, 0] * self.fault_heat_w
        self.state.t_jig_degc[:, 0] += gam[1, 0] * self.fault_heat_w

    def offset_cell_soc(self, offset: FloatArray) -> None:
        """Shift the SoC of cell 0 of each cabinet by ``offset`` (fraction): an imbalanced cell."""
        self.state.soc[:, 0] = np.clip(self.state.soc[:, 0] + offset, 0.0, 1.0)

    # -- continuous path ------------------------------------------------------------------
    def pack_instant(self, state: EcmState, i_lookup: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Instantaneous pack E (OCV + Σ V_j) and R0 for a state (for the solve_ivp path)."""
        if state is self.state:
            out = self.pack_instant_rows(i_lookup)
            if out is not None:
                return out[0], out[1]
        n_p = self.params.n_parallel
        r0, _, _ = self.cell.rc_values(state.t_cell_degc, (i_lookup / n_p)[:, None], state.soc)
        e = (self.cell.ocv(state.soc) + state.v_rc.sum(axis=0)).sum(axis=1) * self.series_scale
        r = (r0 * self.r_scale).sum(axis=1) * self.series_scale / n_p
        return e, r

    def pack_instant_rows(self, i_lookup: FloatArray) -> FloatArray | None:
        """:meth:`pack_instant` of the present state as one ``(2, n)`` array (E, R) from the
        compiled kernel; None without it."""
        if self._kt is None:
            return None
        from twin.models import battery_kernel as bk

        st = self.state
        out = np.empty((2, self.shape[0]))
        bk.pack_instant(
            self._kt, i_lookup, st.soc, st.v_rc, st.t_cell_degc, self.r_scale, self._kscale, out, self._ocv_k
        )
        return out

    def rhs(self, state: EcmState, i_pack: FloatArray, i_lookup: FloatArray) -> tuple[FloatArray, ...]:
        n_p = self.params.n_parallel
        dsoc, *rest = ecm_rhs(
            self.cell,
            state,
            (i_pack / n_p)[:, None],
            self.t_coolant[:, None],
            capacity_ah=self.capacity_ah,
            r_scale=self.r_scale,
            lookup_current_a=(i_lookup / n_p)[:, None],
        )
        return (dsoc - self.self_discharge_dsoc(state), *rest)

    def chem_power_w(self, state: EcmState, i_pack: FloatArray) -> FloatArray:
        """Chemical power (W) per cabinet at pack current ``i_pack``, self-discharge included."""
        p_i = self.cell.ocv(state.soc).sum(axis=1) * self.series_scale * i_pack
        return np.asarray(p_i + self.self_discharge_w(state))

    # -- outputs ---------------------------------------------------------------------------
    @staticmethod
    def outputs_of(o: FloatArray, i_pack: FloatArray) -> dict[str, FloatArray]:
        """The outputs from the compiled kernel's ten rows ``o`` (``battery_kernel.outputs_now``)
        and the pack current; ``o`` may carry a leading tick axis (``(k, 10, n)``, a chunk's)."""
        return {
            "soc_pct": o[..., 0, :],
            "soc_min_pct": o[..., 1, :],
            "v_dc_v": o[..., 2, :],
            "i_dc_a": i_pack,
            "p_dc_kw": o[..., 3, :],
            "v_cell_min_v": o[..., 4, :],
            "v_cell_max_v": o[..., 5, :],
            "v_imbalance_mv": 1000.0 * (o[..., 5, :] - o[..., 4, :]),
            "t_cell_min_degc": o[..., 6, :],
            "t_cell_max_degc": o[..., 7, :],
            "energy_kwh": o[..., 8, :],
            "heat_kw": o[..., 9, :],
        }

    def outputs_now(self) -> dict[str, FloatArray]:
        st = self.state
        if self._kt is not None:
            from twin.models import battery_kernel as bk

            o, self.outputs_ready = self.outputs_ready, None
            if o is None:
                o = np.empty((10, self.shape[0]))
                bk.outputs_now(
                    self._kt,
                    self.i_pack,
                    st.soc,
                    st.v_rc,
                    st.t_cell_degc,
                    self.r_scale,
                    self.capacity_ah,
                    self.last_heat_w,
                    self._kscale,
                    o,
                    self._ocv_k,
                )
            return self.outputs_of(o, self.i_pack.copy())
        n_p = self.params.n_parallel
        i_cell = (self.i_pack / n_p)[:, None]
        r0, _, _ = self.cell.rc_values(st.t_cell_degc, i_cell, st.soc)
        v_cell = self.cell.ocv(st.soc) - i_cell * r0 * self.r_scale + st.v_rc.sum(axis=0)
        q = self.capacity_ah
        soc_pack = (st.soc * q).sum(axis=1) / q.sum(axis=1)
        v_dc = v_cell.sum(axis=1) * self.series_scale
        return {
            "soc_pct": 100.0 * soc_pack,
            "soc_min_pct": 100.0 * st.soc.min(axis=1),
            "v_dc_v": v_dc,
            "i_dc_a": self.i_pack.copy(),
            "p_dc_kw": v_dc * self.i_pack / 1000.0,
            "v_cell_min_v": v_cell.min(axis=1),
            "v_cell_max_v": v_cell.max(axis=1),
            "v_imbalance_mv": 1000.0 * (v_cell.max(axis=1) - v_cell.min(axis=1)),
            "t_cell_min_degc": st.t_cell_degc.min(axis=1),
            "t_cell_max_degc": st.t_cell_degc.max(axis=1),
            "energy_kwh": self.stored_energy_kwh(),
            "heat_kw": self.last_heat_w.sum(axis=1) * self.series_scale * n_p / 1000.0,
        }

    def capacity_kwh_nominal(self) -> float:
        p = self.params
        return float(self.cell.capacity_ah * self.cell.params.v_nom_v * p.n_series * p.n_parallel / 1000.0)
