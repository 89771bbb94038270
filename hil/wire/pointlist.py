"""The point list an EMS vendor integrates against, generated from the compiled register maps.

One table per device kind (every instance of a kind has the same layout; only its unit id
differs): 0-based PDU address, Modicon reference, SunSpec key, type, scale factor, unit,
access, write range, what the point reads or drives, and the SunSpec label.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from hil.wire.gateway import Device, Gateway, PointInstance
from hil.wire.sunspec import BASE_ADDRESS

__all__ = ["PointRow", "point_rows", "to_csv", "to_markdown"]


@dataclass(frozen=True)
class PointRow:
    kind: str
    devices: str  # "PCS01..PCS16"
    unit_ids: str  # "10..25"
    address: int
    key: str
    type: str
    words: int
    scale: str
    unit: str
    access: str
    range: str
    binding: str
    label: str
    opcua: str


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "-inf" if x < 0 else "inf"
    return f"{x:g}"


def _binding(p: PointInstance) -> str:
    b = p.binding
    if b is None:
        return "not implemented"
    if b.kind == "const":
        return f"= {b.const}"
    if b.kind == "source":
        s = str(b.source)
        if b.scale != 1.0:
            s += f" × {b.scale:g}"
        return s
    if b.kind == "control":
        return f"setpoint (default {b.default})"
    if b.kind == "index":
        return f"index {b.index}"
    return f"scale factor (auto: {b.auto})"


def point_rows(gw: Gateway, *, implemented_only: bool = False) -> list[PointRow]:
    rows: list[PointRow] = []
    for kind, grp in gw.groups.items():
        devs = [d for d in gw.devices if d.kind == kind]
        first: Device = devs[0]
        names = first.name if len(devs) == 1 else f"{devs[0].name}..{devs[-1].name}"
        ids = str(first.unit_id) if len(devs) == 1 else f"{devs[0].unit_id}..{devs[-1].unit_id}"
        for p in grp.points:
            if implemented_only and not p.implemented and p.pdef.name not in ("ID", "L"):
                continue
            sf = ""
            if p.sf_col is not None and p.sf_col in grp.sf_values:
                sf = f"{grp.points[p.sf_col].key} = {first.sf_of(p)}"
            rng = ""
            if p.writable:
                lo, hi = grp.ranges[p.path]
                if p.pdef.symbols and p.pdef.type.startswith("enum"):
                    rng = ", ".join(f"{k}={v}" for k, v in p.pdef.symbols.items())
                else:
                    rng = f"{_fmt(float(lo[0]))} .. {_fmt(float(hi[0]))}"
            rows.append(
                PointRow(
                    kind=kind,
                    devices=names,
                    unit_ids=ids,
                    address=BASE_ADDRESS + p.offset,
                    key=p.key,
                    type=p.pdef.type,
                    words=p.words,
                    scale=sf,
                    unit=p.pdef.units or "",
                    access="RW" if p.writable else "R",
                    range=rng,
                    binding=_binding(p)
                    if not (p.pdef.name in ("ID", "L") and p.binding is None)
                    else "header",
                    label=p.pdef.label.strip(),
                    opcua="/".join(p.browse) if p.implemented and p.pdef.type != "sunssf" else "",
                )
            )
    return rows


_COLS = ("address", "key", "type", "words", "scale", "unit", "access", "range", "binding", "label")


def to_markdown(gw: Gateway, *, implemented_only: bool = True) -> str:
    rows = point_rows(gw, implemented_only=implemented_only)
    out = [f"# Point list: {gw.site.params.name}", ""]
    out.append(
        "Addresses are 0-based PDU addresses (Modicon reference = address + 1). Every map starts "
        "with 'SunS' at 40000 and ends with 0xFFFF, 0. 32- and 64-bit values are big-endian, high word "
        "first. Value = raw × 10^SF. Unlisted addresses inside a model hold SunSpec's not-implemented "
        "value."
    )
    out.append("")
    for kind in gw.groups:
        krows = [r for r in rows if r.kind == kind]
        if not krows:
            continue
        r0 = krows[0]
        out += [f"## {gw.groups[kind].point_map.title}", ""]
        out += [
            f"Devices {r0.devices}, Modbus unit ids {r0.unit_ids}; "
            f"point map `profiles/points/{gw.groups[kind].point_map.name}.yaml`.",
            "",
        ]
        out.append("| " + " | ".join(_COLS) + " |")
        out.append("|" + "---|" * len(_COLS))
        for r in krows:
            cells = [str(getattr(r, c)).replace("|", "\\|") for c in _COLS]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(gw: Gateway, *, implemented_only: bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    fields = ("kind", "devices", "unit_ids", *_COLS, "opcua")
    w.writerow(fields)
    for r in point_rows(gw, implemented_only=implemented_only):
        w.writerow([getattr(r, f) for f in fields])
    return buf.getvalue()
