"""The twin's names a scenario refers to: signals, inputs, unit counts, alarm tables and
state enumerations, read from the site.
"""

from __future__ import annotations

from typing import Any, Literal

from twin.models.bms import ALARM_BITS, BmsState, Contactor
from twin.models.genset import GensetState
from twin.models.pcs import PCS_ALARM_BITS, PcsState
from twin.signals import parse_name

# -- names in the twin ---------------------------------------------------------------------------


#: the twin input an action drives, where the site may lack the device (a site without PV)
ACTION_INPUT = {
    "cloud": "pv.cloud_index",
    "job_start": "gpu.job_start",
    "job_stop": "gpu.job_stop",
    "job_fail": "gpu.job_fail",
    "checkpoint": "gpu.checkpoint",
    "smoothing": "gpu.smoothing",
}


def split_name(name: str) -> tuple[str, int | Literal["*"] | None, str]:
    """``dev``, unit index (an int, ``"*"`` for every unit, or None) and ``sig``; a malformed
    name comes back whole with an empty signal, so every lookup of it fails by name."""
    return parse_name(name) or (name, None, "")


def signal_names(site: Any) -> dict[str, set[str]]:
    snap = site.snapshot()
    return {"scalar": set(snap.scalars), "array": set(snap.arrays)}


def unit_counts(site: Any) -> dict[str, int]:
    snap = site.snapshot()
    return {k: int(a.shape[0]) for k, a in snap.arrays.items()}


def alarm_table(target: str) -> dict[str, int] | None:
    dev, _, sig = split_name(target)
    if sig != "alarm_bits":
        return None
    return {"bms": ALARM_BITS, "pcs": PCS_ALARM_BITS}.get(dev)


def state_enum(target: str) -> Any:
    dev, _, sig = split_name(target)
    return {
        "pcs.state": PcsState,
        "bms.state": BmsState,
        "bms.contactor": Contactor,
        "genset.state": GensetState,
    }.get(f"{dev}.{sig}")


#: The key signals, with their labels: the report's panels, the live status panel and a
#: scenario's default ``report: {signals:}`` show these, in this order.
KEY_SIGNAL_LABELS = {
    "grid.p_import_kw": "grid import",
    "bess.p_ac_kw": "BESS power",
    "bess.soc_pct": "BESS SoC",
    "site.p_it_kw": "IT load",
    "pv.p_ac_kw": "PV",
    "genset.p_kw": "genset",
    "grid.f_hz": "frequency",
    "grid.v_pu": "voltage",
}
DEFAULT_KEY_SIGNALS = list(KEY_SIGNAL_LABELS)
