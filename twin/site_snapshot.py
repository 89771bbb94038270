"""The snapshot of every signal of the site: at the tick just taken (:func:`make_snapshot`), or
at each tick of a chunk at once (:func:`stretch_snapshots`), from the same formulas.

A snapshot is computed from two kinds of value:

* what a chunk holds still (:func:`_held`): the devices' states, alarms, contactors and
  setpoints, the grid's breaker and bus, SoH, the gensets (idle in a chunk), the racks'
  supply. A change to any of them ends a chunk (``twin.chunk``), so one evaluation serves all
  its ticks;
* what moves at every tick (``moving``, a dict): the battery's outputs, the PCS books,
  :data:`RECORDED` of the PCSs and BMSs, the racks' draw and the site's scalars. At the tick
  just taken they are read off the devices; over a chunk they are stacks with a leading tick
  axis (the compiled call's records), and the formulas reduce over the last axis, so that
  each tick's value is the one the per-tick path computes, to the bit
  (``tests/unit/twin/test_chunk.py`` compares every tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._interp import FloatArray
from twin.pms import BusMode, Transfer
from twin.site_fixed import PCS_BOOKS
from twin.snapshot import Snapshot

if TYPE_CHECKING:
    from twin.site import Site

__all__ = ["MOVING_SCALARS", "RECORDED", "Snapshot", "make_snapshot", "stretch_snapshots"]

RECORDED = (
    "pcs.p_ac", "pcs.p_ac_mean", "pcs.q_ac", "pcs.q_ac_mean", "pcs.p_dc", "pcs.loss", "pcs.aux",
    "pcs.p_max_dis", "pcs.p_max_ch", "pcs.throttle_pct", "bms.ccl", "bms.dcl", "bms.soc_est",
)  # fmt: skip
"""The PCSs' and BMSs' per-unit arrays (``device.attribute``) a snapshot takes that move within a
chunk; the compiled call records them in this order (``twin.chunk_kernel.run``)."""

_RECORDED_ATTRS = tuple((name, *name.split(".", 1)) for name in RECORDED)

MOVING_SCALARS = (
    "t", "local_time", "p_grid", "q_grid", "v", "import_kwh", "export_kwh", "demand_kw",
    "demand_prev_kw", "demand_max_kw", "p_it", "p_cool_mean", "gpu_lost", "gpu_lost_supply",
    "charge_kwh", "aux_kwh", "discharge_kwh", "pv_kwh", "ups_p_in", "ups_p_out", "ups_p_batt",
    "ups_loss", "ups_soc", "pv_p_ac", "pv_ghi", "pv_loss",
)  # fmt: skip
"""The site's scalars a snapshot takes that move within a chunk (the ``moving`` dict's other keys)."""


@dataclass(slots=True)
class _Held:
    """What a chunk holds still, evaluated once for all its ticks (per tick outside chunks)."""

    arrays: dict[str, FloatArray]
    scalars: dict[str, float]
    cap: FloatArray  # each unit's capacity (A·h), for the site's SoC
    cap_total: float
    base_now: float


def make_snapshot(site: Site) -> Snapshot:
    """The snapshot of the tick just taken (sets the site's battery outputs for the next tick)."""
    bat = site._bat_out = site.battery.outputs_now()
    owners = {"pcs": site.pcs, "bms": site.bms}
    moving: dict[str, Any] = {name: getattr(owners[dev], attr).copy() for name, dev, attr in _RECORDED_ATTRS}
    moving["bat"] = bat
    moving["books"] = site.pcs_books.copy()
    moving["racks"] = site.p_it_racks.copy()
    moving.update(zip(MOVING_SCALARS, _scalars_now(site), strict=True))
    scalars, arrays = _assemble(site, _held(site), moving, one=True)
    return Snapshot(site.t, site.tick, scalars, arrays, site.signals)


def stretch_snapshots(site: Site, ticks: np.ndarray, moving: dict[str, Any]) -> list[Snapshot]:
    """The snapshots of the chunk's ``ticks`` (after each), from ``moving``'s stacks (leading
    axis: the ticks) and what the chunk holds still (read off the devices now). The arrays are
    views into the stacks, and the held arrays are shared by all the snapshots: both are made
    read-only."""
    scalars, arrays = _assemble(site, _held(site), moving, one=False)
    for a in arrays.values():
        a.flags.writeable = False
    k = ticks.shape[0]
    table = np.empty((k, len(scalars)))
    for j, col in enumerate(scalars.values()):
        table[:, j] = col
    s_keys = list(scalars)
    a_keys = list(arrays)
    fixed = list(arrays.values())
    stacks = [(j, a) for j, a in enumerate(fixed) if a.ndim == 2]  # the held ones are per unit
    signals = site.signals
    out: list[Snapshot] = []
    rows = zip(table.tolist(), ticks.tolist(), moving["t"].tolist(), strict=True)
    for i, (row, tick, t) in enumerate(rows):
        vals = fixed.copy()
        for j, a in stacks:
            vals[j] = a[i]
        scalars_i = dict(zip(s_keys, row, strict=True))
        out.append(Snapshot(t, tick, scalars_i, dict(zip(a_keys, vals, strict=True)), signals))
    return out


def _scalars_now(site: Site) -> tuple[float, ...]:
    """The :data:`MOVING_SCALARS` at the tick just taken."""
    en, dem, u, pv = site.energy, site.demand, site.ups, site.pv
    t = site.t
    return (
        t, site.clock.local_time_s(t), site.p_grid, site.q_grid, site.v, en.grid_import_kwh,
        en.grid_export_kwh, dem.current_kw, dem.prev_kw, dem.max_kw, site.p_it, site.p_cool_mean,
        float(site.gpu.gpu_hours_lost), float(site.gpu.gpu_hours_lost_supply), en.bess_charge_kwh,
        en.aux_kwh, en.bess_discharge_kwh, en.pv_kwh,
        u.p_in if u is not None else site.it_bus, u.p_out if u is not None else site.p_it,
        u.p_batt if u is not None else 0.0, u.loss if u is not None else 0.0,
        u.soc if u is not None else 0.0,
        pv.p_ac if pv is not None else 0.0, pv.ghi if pv is not None else 0.0,
        pv.loss if pv is not None else 0.0,
    )  # fmt: skip


def _held(site: Site) -> _Held:
    pcs, bms, g = site.pcs, site.bms, site.genset
    cap, cap_total, soh_pct = site.battery.unit_capacity()
    arrays: dict[str, FloatArray] = {
        "pcs.state": pcs.state.astype(float),
        "pcs.alarm_bits": pcs.alarm_bits.astype(float),
        "pcs.p_set_kw": pcs.p_set.copy(),
        "pcs.enable": pcs.enable.copy(),
        "bms.alarm_bits": bms.alarm_bits.astype(float),
        "bms.state": bms.state_code(),
        "bms.cha_st": bms.cha_st.astype(float),
        "bms.contactor": bms.contactor.astype(float),
        "bms.soh_pct": soh_pct,
        "gpu.powered": site.powered.astype(float),
    }
    if g is not None:
        arrays.update(
            {
                "genset.p_kw": g.p.copy(),
                "genset.state": g.state.astype(float),
                "genset.fuel_l": g.fuel_l.copy(),
                "genset.fuel_l_per_h": g.fuel_rate.copy(),
                "genset.energy_kwh": g.energy_kwh.copy(),
            }
        )
    scalars = {
        "grid.f_hz": site.f,
        "grid.breaker_closed": float(site.breaker_closed),
        "grid.available": float(site.grid_available),
        "grid.bus_mode": float(site.bus),
        "grid.bus_dead": float(site.bus == BusMode.DEAD),
        "grid.transfer": float(site.transfer),
        "grid.sync_dphi_deg": site.phase_deg if site.transfer == Transfer.SYNC else 0.0,
        "grid.reclose_df_hz": site.reclose_check[0],
        "grid.reclose_dphi_deg": site.reclose_check[1],
        "grid.reclose_dv_pu": site.reclose_check[2],
        "site.chillers_on": float(site.chillers_on),
        "site.racks_dark": float(site.powered.size - np.count_nonzero(site.powered)),
        "site.t_ambient_degc": site.t_ambient,
        "bms.alarm_count": float(np.count_nonzero(bms.alarm_bits)),
        "pcs.running_count": float(pcs.running_count()),
        "genset.p_kw": float(g.p_mean.sum()) if g is not None else 0.0,
        "genset.fuel_l": float(g.fuel_l.sum()) if g is not None else 0.0,
        "pv.tripped": float(site.pv.tripped) if site.pv is not None else 0.0,
    }
    return _Held(arrays, scalars, cap, cap_total, site.base_now)


def _assemble(
    site: Site, held: _Held, mv: dict[str, Any], *, one: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The snapshot's scalars and per-unit arrays in their order: ``one``, the tick just taken
    (floats, arrays); else a chunk's (a scalar is a float or one value per tick, an array is
    held (per unit) or moves (one row per tick))."""
    bat = mv["bat"]
    red: Any = float if one else _same  # a reduction over the units (the last axis) at each tick
    ha, hs = held.arrays, held.scalars
    arrays: dict[str, Any] = {_BESS_KEYS[k]: v for k, v in bat.items()}
    books = mv["books"]
    rows = books if one else books.transpose(1, 0, 2)  # one row per book (each over the ticks)
    arrays.update(zip(PCS_BOOKS, rows, strict=True))
    arrays.update(
        {
            "pcs.p_ac_kw": mv["pcs.p_ac"],
            "pcs.p_ac_mean_kw": mv["pcs.p_ac_mean"],
            "pcs.q_ac_kvar": mv["pcs.q_ac"],
            "pcs.p_dc_kw": mv["pcs.p_dc"],
            "pcs.loss_kw": mv["pcs.loss"],
            "pcs.aux_kw": mv["pcs.aux"],
            "pcs.state": ha["pcs.state"],
            "pcs.alarm_bits": ha["pcs.alarm_bits"],
            "pcs.p_max_dis_kw": mv["pcs.p_max_dis"],
            "pcs.p_max_ch_kw": mv["pcs.p_max_ch"],
            "pcs.p_set_kw": ha["pcs.p_set_kw"],
            "pcs.throttle_pct": mv["pcs.throttle_pct"],
            "pcs.enable": ha["pcs.enable"],
            "bms.ccl_a": mv["bms.ccl"],
            "bms.dcl_a": mv["bms.dcl"],
            "bms.alarm_bits": ha["bms.alarm_bits"],
            "bms.state": ha["bms.state"],
            "bms.cha_st": ha["bms.cha_st"],
            "bms.contactor": ha["bms.contactor"],
            "bms.soc_est_pct": 100.0 * mv["bms.soc_est"],
            "bms.soh_pct": ha["bms.soh_pct"],
            "gpu.p_kw": mv["racks"],
            "gpu.powered": ha["gpu.powered"],
        }
    )
    if site.genset is not None:
        arrays.update((k, ha[k]) for k in _GENSET_ARRAYS)
    u = site.ups is not None
    scalars: dict[str, Any] = {
        "site.t_s": mv["t"],
        "site.local_time_s": mv["local_time"],
        "grid.p_import_kw": mv["p_grid"],
        "grid.q_import_kvar": mv["q_grid"],
        "grid.f_hz": hs["grid.f_hz"],
        "grid.v_pu": mv["v"],
        **{k: hs[k] for k in _GRID_HELD},
        "grid.import_kwh": mv["import_kwh"],
        "grid.export_kwh": mv["export_kwh"],
        "grid.demand_15min_kw": mv["demand_kw"],
        "grid.demand_15min_prev_kw": mv["demand_prev_kw"],
        "grid.demand_15min_max_kw": mv["demand_max_kw"],
        "site.chillers_on": hs["site.chillers_on"],
        "site.p_it_kw": mv["p_it"],
        "site.p_cooling_kw": mv["p_cool_mean"],
        "site.p_facility_kw": mv["p_it"] + mv["p_cool_mean"] + held.base_now,
        "site.p_aux_kw": red(mv["pcs.aux"].sum(axis=-1)),
        "site.gpu_hours_lost": mv["gpu_lost"],
        # the part lost to racks without supply (power-related), apart from job failures
        "site.gpu_hours_lost_supply": mv["gpu_lost_supply"],
        "site.racks_dark": hs["site.racks_dark"],
        "site.t_ambient_degc": hs["site.t_ambient_degc"],
        "bess.p_ac_kw": red(mv["pcs.p_ac_mean"].sum(axis=-1)),
        "bess.q_ac_kvar": red(mv["pcs.q_ac_mean"].sum(axis=-1)),
        "bess.soc_pct": red((bat["soc_pct"] * held.cap).sum(axis=-1) / held.cap_total),
        "bess.energy_kwh": red(bat["energy_kwh"].sum(axis=-1)),
        "bess.p_dc_kw": red(bat["p_dc_kw"].sum(axis=-1)),
        "bess.v_cell_min_v": red(bat["v_cell_min_v"].min(axis=-1)),
        "bess.v_cell_max_v": red(bat["v_cell_max_v"].max(axis=-1)),
        "bess.t_cell_max_degc": red(bat["t_cell_max_degc"].max(axis=-1)),
        "bess.t_cell_min_degc": red(bat["t_cell_min_degc"].min(axis=-1)),
        "bess.loss_kw": red(mv["pcs.loss"].sum(axis=-1)),
        "bess.charge_kwh": mv["charge_kwh"],
        "bess.aux_kwh": mv["aux_kwh"],  # the PCS auxiliaries' (HVAC, controls) energy book
        "bess.discharge_kwh": mv["discharge_kwh"],
        "bms.alarm_count": hs["bms.alarm_count"],
        "pcs.running_count": hs["pcs.running_count"],
        "genset.p_kw": hs["genset.p_kw"],
        "genset.fuel_l": hs["genset.fuel_l"],
        "ups.p_in_kw": mv["ups_p_in"],
        "ups.p_out_kw": mv["ups_p_out"],
        "ups.p_batt_kw": mv["ups_p_batt"],
        "ups.loss_kw": mv["ups_loss"],
        "ups.soc_pct": 100.0 * mv["ups_soc"] if u else 0.0,
        "ups.on_battery": _positive(mv["ups_p_batt"], one) if u else 0.0,
    }
    if site.pv is not None:
        scalars.update(
            {
                "pv.p_ac_kw": mv["pv_p_ac"],
                "pv.ghi_w_m2": mv["pv_ghi"],
                "pv.loss_kw": mv["pv_loss"],
                "pv.tripped": hs["pv.tripped"],
            }
        )
    else:
        scalars["pv.p_ac_kw"] = 0.0
    scalars["pv.energy_kwh"] = mv["pv_kwh"]  # the PV's AC energy book (the balance's pv_kwh)
    if one:
        for d in site.extra_devices:
            for key, value in d.outputs_now().items():
                if isinstance(value, np.ndarray):
                    arrays[f"{d.name}.{key}"] = np.array(value, dtype=float)
                else:
                    scalars[f"{d.name}.{key}"] = float(value)
    return scalars, arrays


_BESS_KEYS = {
    k: f"bess.{k}"
    for k in ("soc_pct", "soc_min_pct", "v_dc_v", "i_dc_a", "p_dc_kw", "v_cell_min_v", "v_cell_max_v",
              "v_imbalance_mv", "t_cell_min_degc", "t_cell_max_degc", "energy_kwh", "heat_kw")
}  # fmt: skip
_GENSET_ARRAYS = ("genset.p_kw", "genset.state", "genset.fuel_l", "genset.fuel_l_per_h", "genset.energy_kwh")
_GRID_HELD = (
    "grid.breaker_closed", "grid.available", "grid.bus_mode", "grid.bus_dead", "grid.transfer",
    "grid.sync_dphi_deg", "grid.reclose_df_hz", "grid.reclose_dphi_deg", "grid.reclose_dv_pu",
)  # fmt: skip


def _same(x: Any) -> Any:
    return x


def _positive(p: Any, one: bool) -> Any:
    """1.0 where the UPS battery discharges (over 1 W), else 0.0."""
    return float(p > 1e-6) if one else (p > 1e-6).astype(float)
