"""The signal reference (docs/reference/signals.md), generated from the declarations.

Every device class declares its inputs and outputs (:class:`twin.signals.Signal`), the bus
declares the site's own (:mod:`twin.bus`); this module only lays them out. ``hil schema
signals`` prints it; a test keeps the shipped file equal to it.
"""

from __future__ import annotations

from collections.abc import Iterable

from twin.bus import INPUTS, OUTPUTS
from twin.models.battery import Battery
from twin.models.bms import Bms
from twin.models.genset import Genset
from twin.models.gpu import GpuFleet
from twin.models.pcs import Pcs
from twin.models.pv import Pv
from twin.models.ups import Ups
from twin.signals import Signal

__all__ = ["DEVICE_CLASSES", "signals_markdown"]

#: Every device class a site can hold, in the order the reference lists them.
DEVICE_CLASSES = (Pcs, Battery, Bms, Genset, Pv, GpuFleet, Ups)

_WHEN = {
    "Genset": "sites with gensets (`genset:`)",
    "Pv": "sites with PV (`pv:`)",
    "Ups": "every site (without `ups:` the racks' draw passes through)",
}


def _enum_note(s: Signal) -> str:
    if s.enum is None:
        return ""
    return " (" + ", ".join(f"{int(m)} {m.name}" for m in s.enum) + ")"


def _table(dev: str, sigs: Iterable[Signal], *, addressed: str) -> list[str]:
    rows = []
    for s in sigs:
        name = f"`{dev}[i].{s.name}`" if s.per_unit else f"`{dev}.{s.name}`"
        rows.append(f"| {name} | {s.unit} | {s.doc}{_enum_note(s)} |")
    if not rows:
        return []
    return ["", f"{addressed}:", "", "| signal | unit | meaning |", "|---|---|---|", *rows]


def signals_markdown() -> str:
    out = [
        "# Signal reference",
        "",
        "Generated from the declarations (`outputs`/`inputs` of each device class in",
        "`twin/models/`, the site's own in `twin/bus.py`) by `hil schema signals`; do not edit",
        "by hand. Every output is in every snapshot and trace row; every input is accepted by",
        "`Site.set`, scenario `set:` and the faults.",
        "",
        "Names: `device.signal` is one value, `device[i].signal` one value per unit (0-based:",
        "cabinet, PCS, genset, rack). Setting `device.input` on a per-unit input sets every unit.",
        "Sign convention: battery, PCS, PV and genset power is + when delivering to the AC bus;",
        "`grid.p_import_kw` is + when importing; cell and pack current is + on discharge; loads are",
        "+ when consuming. Enumerations list their values.",
        "",
        "## The site (bus, PCC, totals and energy books)",
        "",
        "Reported on every site (`twin/bus.py`).",
    ]
    for dev in dict.fromkeys([*OUTPUTS, *INPUTS]):
        out += ["", f"### `{dev}`"]
        out += _table(dev, OUTPUTS.get(dev, ()), addressed="Outputs")
        out += _table(dev, INPUTS.get(dev, ()), addressed="Inputs")
    for cls in DEVICE_CLASSES:
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out += [
            "",
            f"## `{cls.name}`: {doc}",
            "",
            f"`{cls.__module__}.{cls.__name__}`; present on {_WHEN.get(cls.__name__, 'every site')}.",
        ]
        out += _table(cls.name, cls.outputs, addressed="Outputs")
        out += _table(cls.name, cls.inputs, addressed="Inputs")
    return "\n".join(out) + "\n"
