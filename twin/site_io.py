"""The site's inputs: the setter behind every input name (the snapshot of its outputs is
:mod:`twin.site_snapshot`). Called from :class:`twin.site.Site`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from twin._interp import FloatArray
from twin.snapshot import Snapshot

if TYPE_CHECKING:
    from twin.device import Device
    from twin.signals import SignalTable
    from twin.site import Site

__all__ = ["build_inputs", "device_setter", "unit_counts"]


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
