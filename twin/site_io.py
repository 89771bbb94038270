"""The site's inputs and outputs: the setter behind every input name, and the snapshot of
every signal at a tick. Called from :class:`twin.site.Site`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._interp import FloatArray
from twin.pms import BusMode, Transfer
from twin.site_fixed import PCS_BOOKS
from twin.snapshot import Snapshot

if TYPE_CHECKING:
    from twin.device import Device
    from twin.signals import SignalTable
    from twin.site import Site

__all__ = ["build_inputs", "device_setter", "make_snapshot", "unit_counts"]


def build_inputs(site: Site) -> dict[str, Callable[[float, int | None], None]]:  # noqa: C901 - over 15 branches before the gate; to split
    pcs, bms, bat = site.pcs, site.bms, site.battery

    def unit_setter(arr_owner: Any, attr: str) -> Callable[[float, int | None], None]:
        def setter(value: float, idx: int | None) -> None:
            arr = getattr(arr_owner, attr)
            if idx is None:
                arr[:] = value
            else:
                arr[idx] = value

        return setter

    def bess_total(value: float, idx: int | None) -> None:
        site.bess_p_set_total = float(value)

    def pcs_p_set(value: float, idx: int | None) -> None:
        site.bess_p_set_total = None
        unit_setter(pcs, "p_set")(value, idx)

    def per_unit(value: float, idx: int | None) -> FloatArray:
        """``value`` on every cabinet (idx None) or on cabinet ``idx`` only, 0 elsewhere."""
        out = np.zeros(site.n_cab)
        if idx is None:
            out[:] = value
        else:
            out[idx] = value
        return out

    def alarm_reset(value: float, idx: int | None) -> None:
        mask = per_unit(value, idx)
        bms.reset_alarms(mask)
        pcs.fault_reset = np.maximum(pcs.fault_reset, mask)

    def drift(value: float, idx: int | None) -> None:
        # a new drift rate starts from a zero offset (a fresh fault, or a recalibrated sensor)
        unit_setter(bms, "sensor_drift")(value, idx)
        bms.drift_offset_a = np.where(per_unit(1.0, idx) > 0, 0.0, bms.drift_offset_a)

    def cell_offset(value: float, idx: int | None) -> None:
        bat.offset_cell_soc(per_unit(value, idx) / 100.0)

    def coolant(value: float, idx: int | None) -> None:
        unit_setter(bat, "t_coolant")(value, idx)

    def scalar(attr: str, conv: Callable[[float], Any] = float) -> Callable[[float, int | None], None]:
        def setter(value: float, idx: int | None) -> None:
            setattr(site, attr, conv(value))

        return setter

    inputs: dict[str, Callable[[float, int | None], None]] = {
        "pcs.enable": unit_setter(pcs, "enable"),
        "pcs.p_set_kw": pcs_p_set,
        "pcs.q_set_kvar": unit_setter(pcs, "q_set"),
        "pcs.fault_reset": unit_setter(pcs, "fault_reset"),
        "pcs.derate_pu": unit_setter(pcs, "derate"),
        "pcs.fault_trip": unit_setter(pcs, "fault_trip"),
        "pcs.fault_dc_overvolt": unit_setter(pcs, "fault_dc_ov"),
        "pcs.overtemp": unit_setter(pcs, "overtemp"),
        "bess.fault_heat_w": unit_setter(bat, "fault_heat_w"),
        "bess.cell_soc_offset_pct": cell_offset,
        "bess.p_set_kw": bess_total,
        "bms.alarm_reset": alarm_reset,
        "bms.fault_contactor": unit_setter(bms, "fault_contactor"),
        "bms.disconnect": unit_setter(site, "bms_disconnect"),
        "bms.fault_ground": unit_setter(bms, "fault_ground"),
        "bms.fault_other": unit_setter(bms, "fault_other"),
        "bms.soc_sensor_bias_a": unit_setter(bms, "sensor_bias_a"),
        "bms.soc_sensor_gain": unit_setter(bms, "sensor_gain"),
        "bms.soc_sensor_drift_a_per_h": drift,
        "bess.t_coolant_degc": coolant,
        "grid.available": scalar("grid_available", lambda v: bool(v)),
        "grid.v_pu": scalar("grid_v_pu"),
        "grid.f_hz": scalar("grid_f_hz"),
        "grid.rocof_hz_per_s": scalar("grid_rocof"),
        "grid.breaker_close": scalar("breaker_cmd_close", lambda v: bool(v)),
        "site.t_ambient_degc": scalar("t_ambient"),
    }
    if site.genset is not None:
        gs = site.genset
        inputs["genset.start"] = unit_setter(gs, "start_cmd")
        inputs["genset.p_set_kw"] = unit_setter(gs, "p_set")
        inputs["genset.fail_to_start"] = unit_setter(gs, "force_fail")
    if site.pv is not None:
        pv = site.pv

        def irr(value: float, idx: int | None) -> None:
            pv.irradiance_override = None if math.isnan(value) else float(value)

        def cloud(value: float, idx: int | None) -> None:
            pv.cloud_override = None if math.isnan(value) else float(np.clip(value, 0.0, 1.0))

        def limit(value: float, idx: int | None) -> None:
            pv.limit_pct = float(np.clip(value, 0.0, 100.0))

        def trip(value: float, idx: int | None) -> None:
            pv.forced_trip = bool(value)  # held until cleared; the grid-code trip is separate

        inputs.update(
            {
                "pv.irradiance_w_m2": irr,
                "pv.cloud_index": cloud,
                "pv.p_limit_pct": limit,
                "pv.trip": trip,
            }
        )
    gpu = site.gpu

    def job(kind: str) -> Callable[[float, int | None], None]:
        def setter(value: float, idx: int | None) -> None:
            j = int(value) if value >= 0 else None
            getattr(gpu, kind)(site.t, j)

        return setter

    inputs["gpu.smoothing"] = lambda v, i: gpu.set_smoothing(bool(v))
    inputs["gpu.job_start"] = job("start_job")
    inputs["gpu.job_stop"] = job("stop_job")
    inputs["gpu.job_fail"] = job("fail_job")
    inputs["gpu.checkpoint"] = job("checkpoint_now")
    for d in site.extra_devices:  # devices added from outside twin/ (twin.device)
        for sig in d.inputs:
            inputs[f"{d.name}.{sig.name}"] = device_setter(d, sig.name)
    if set(inputs) != set(site.signals.inputs):  # a setter without a declaration, or vice versa
        odd = sorted(set(inputs) ^ set(site.signals.inputs))
        raise RuntimeError(f"inputs and declarations differ: {odd}")
    return inputs


def unit_counts(signals: SignalTable, snap: Snapshot) -> dict[str, int]:
    """How many units ``dev[i].input`` addresses: as many as the device's outputs report."""
    addressed = {key.partition(".")[0] for key, sig in signals.inputs.items() if sig.per_unit}
    counts: dict[str, int] = {}
    for key, arr in snap.arrays.items():
        if key.partition(".")[0] in addressed:
            counts.setdefault(key.partition(".")[0], arr.shape[0])
    return counts


def device_setter(dev: Device, name: str) -> Callable[[float, int | None], None]:
    """The setter of input ``name`` of a device added from outside (:mod:`twin.device`)."""

    def setter(value: float, idx: int | None) -> None:
        dev.set_input(name, value, idx)

    return setter


def make_snapshot(site: Site) -> Snapshot:
    bat = site._bat_out = site.battery.outputs_now()
    pcs = site.pcs
    bms = site.bms
    energy = bat["energy_kwh"]
    e_total = float(energy.sum())
    cap, cap_total, soh_pct = site.battery.unit_capacity()
    soc_site = float(np.sum(bat["soc_pct"] * cap) / cap_total)
    arrays: dict[str, FloatArray] = {f"bess.{k}": v for k, v in bat.items()}
    arrays.update(zip(PCS_BOOKS, site.pcs_books.copy(), strict=True))
    arrays.update(
        {
            "pcs.p_ac_kw": pcs.p_ac.copy(),
            "pcs.p_ac_mean_kw": pcs.p_ac_mean.copy(),
            "pcs.q_ac_kvar": pcs.q_ac.copy(),
            "pcs.p_dc_kw": pcs.p_dc.copy(),
            "pcs.loss_kw": pcs.loss.copy(),
            "pcs.aux_kw": pcs.aux.copy(),
            "pcs.state": pcs.state.astype(float),
            "pcs.alarm_bits": pcs.alarm_bits.astype(float),
            "pcs.p_max_dis_kw": pcs.p_max_dis.copy(),
            "pcs.p_max_ch_kw": pcs.p_max_ch.copy(),
            "pcs.p_set_kw": pcs.p_set.copy(),
            "pcs.throttle_pct": pcs.throttle_pct.copy(),
            "pcs.enable": pcs.enable.copy(),
            "bms.ccl_a": bms.ccl.copy(),
            "bms.dcl_a": bms.dcl.copy(),
            "bms.alarm_bits": bms.alarm_bits.astype(float),
            "bms.state": bms.state_code(),
            "bms.cha_st": bms.cha_st.astype(float),
            "bms.contactor": bms.contactor.astype(float),
            "bms.soc_est_pct": 100.0 * bms.soc_est,
            "bms.soh_pct": soh_pct,
            "gpu.p_kw": site.p_it_racks.copy(),
            "gpu.powered": site.powered.astype(float),
        }
    )
    g = site.genset
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
    p_bess = float(pcs.p_ac_mean.sum())
    aux = float(pcs.aux.sum())
    scalars: dict[str, float] = {
        "site.t_s": site.t,
        "site.local_time_s": site.clock.local_time_s(site.t),
        "grid.p_import_kw": site.p_grid,
        "grid.q_import_kvar": site.q_grid,
        "grid.f_hz": site.f,
        "grid.v_pu": site.v,
        "grid.breaker_closed": float(site.breaker_closed),
        "grid.available": float(site.grid_available),
        "grid.bus_mode": float(site.bus),
        "grid.bus_dead": float(site.bus == BusMode.DEAD),
        "grid.transfer": float(site.transfer),
        "grid.sync_dphi_deg": site.phase_deg if site.transfer == Transfer.SYNC else 0.0,
        "grid.reclose_df_hz": site.reclose_check[0],
        "grid.reclose_dphi_deg": site.reclose_check[1],
        "grid.reclose_dv_pu": site.reclose_check[2],
        "grid.import_kwh": site.energy.grid_import_kwh,
        "grid.export_kwh": site.energy.grid_export_kwh,
        "grid.demand_15min_kw": site.demand.current_kw,
        "grid.demand_15min_prev_kw": site.demand.prev_kw,
        "grid.demand_15min_max_kw": site.demand.max_kw,
        "site.chillers_on": float(site.chillers_on),
        "site.p_it_kw": site.p_it,
        "site.p_cooling_kw": site.p_cool_mean,
        "site.p_facility_kw": site.p_it + site.p_cool_mean + site.base_now,
        "site.p_aux_kw": aux,
        "site.gpu_hours_lost": float(site.gpu.gpu_hours_lost),
        # the part lost to racks without supply (power-related), apart from job failures
        "site.gpu_hours_lost_supply": float(site.gpu.gpu_hours_lost_supply),
        "site.racks_dark": float(site.powered.size - site.powered.sum()),
        "site.t_ambient_degc": site.t_ambient,
        "bess.p_ac_kw": p_bess,
        "bess.q_ac_kvar": float(pcs.q_ac_mean.sum()),
        "bess.soc_pct": soc_site,
        "bess.energy_kwh": e_total,
        "bess.p_dc_kw": float(bat["p_dc_kw"].sum()),
        "bess.v_cell_min_v": float(bat["v_cell_min_v"].min()),
        "bess.v_cell_max_v": float(bat["v_cell_max_v"].max()),
        "bess.t_cell_max_degc": float(bat["t_cell_max_degc"].max()),
        "bess.t_cell_min_degc": float(bat["t_cell_min_degc"].min()),
        "bess.loss_kw": float(pcs.loss.sum()),
        "bess.charge_kwh": site.energy.bess_charge_kwh,
        "bess.aux_kwh": site.energy.aux_kwh,  # the PCS auxiliaries' (HVAC, controls) energy book
        "bess.discharge_kwh": site.energy.bess_discharge_kwh,
        "bms.alarm_count": float(np.count_nonzero(bms.alarm_bits)),
        "pcs.running_count": float(pcs.running_count()),
        "genset.p_kw": float(g.p_mean.sum()) if g is not None else 0.0,
        "genset.fuel_l": float(g.fuel_l.sum()) if g is not None else 0.0,
    }
    u = site.ups
    scalars.update(
        {
            "ups.p_in_kw": u.p_in if u is not None else site.it_bus,
            "ups.p_out_kw": u.p_out if u is not None else site.p_it,
            "ups.p_batt_kw": u.p_batt if u is not None else 0.0,
            "ups.loss_kw": u.loss if u is not None else 0.0,
            "ups.soc_pct": 100.0 * u.soc if u is not None else 0.0,
            "ups.on_battery": float(u.p_batt > 1e-6) if u is not None else 0.0,
        }
    )
    if site.pv is not None:
        scalars.update(
            {
                "pv.p_ac_kw": site.pv.p_ac,
                "pv.ghi_w_m2": site.pv.ghi,
                "pv.loss_kw": site.pv.loss,
                "pv.tripped": float(site.pv.tripped),
            }
        )
    else:
        scalars["pv.p_ac_kw"] = 0.0
    scalars["pv.energy_kwh"] = site.energy.pv_kwh  # the PV's AC energy book (the balance's pv_kwh)
    for d in site.extra_devices:
        for key, value in d.outputs_now().items():
            if isinstance(value, np.ndarray):
                arrays[f"{d.name}.{key}"] = np.array(value, dtype=float)
            else:
                scalars[f"{d.name}.{key}"] = float(value)
    return Snapshot(site.t, site.tick, scalars, arrays, site.signals)
