"""The scenario schema reference, generated from the parser's own tables (docs/scenario-schema.md)."""

from __future__ import annotations

from pydantic import BaseModel

from .scenario import _TOP, ACTIONS, DURATION_UNITS, QUANTITY_UNITS, Always, Eventually

__all__ = ["scenario_schema_markdown"]


def _fields(model: type[BaseModel]) -> str:
    rows = []
    for name, f in model.model_fields.items():
        name = name.rstrip("_")
        ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
        default = "**required**" if f.is_required() else f"`{f.default!r}`"
        rows.append(f"`{name}` ({ann}, {default})")
    return ", ".join(rows) or "–"


def scenario_schema_markdown() -> str:
    out: list[str] = [
        "# Scenario schema reference",
        "",
        "Generated from `hil/scenario.py` by `hil schema`; do not edit by hand. The how-to is",
        "[write a fault script](howto-fault-script.md); the faults are in [the catalogue](faults.md).",
        "",
        "## Top-level keys",
        "",
        "| key | meaning |",
        "|---|---|",
    ]
    out += [f"| `{k}` | {v} |" for k, v in _TOP.items()]
    out += [
        "",
        "`scenario` and `duration` are required.",
        "",
        "## Units",
        "",
        f"Durations: a number and one of {', '.join(f'`{u}`' for u in DURATION_UNITS)} (`250 ms`, "
        "`5 min`, `1.5 h`); a bare number is an error.",
        "",
        "Values may carry a unit, converted to the signal's unit (taken from its name: `_kw` kW, "
        "`_pct` %, `_hz` Hz, `_degc` °C, `_v` V, `_pu` per unit...): "
        + ", ".join(f"`{u}`" for u in QUANTITY_UNITS)
        + ". Bare numbers are in the signal's unit.",
        "",
        "## Events",
        "",
        "Each event has exactly one of `at: <duration>` (from the start) or `after: <duration>` "
        "(after the previous event), an optional `name:`, and exactly one action:",
        "",
        "| action | parameters | what it does |",
        "|---|---|---|",
    ]
    for a in ACTIONS.values():
        params = _fields(a.model) if a.model is not None else "see right"
        out.append(f"| `{a.key}` | {params} | {' '.join(a.summary.split())} |")
    out += [
        "",
        "`fault:` takes `type` (a name from the [fault catalogue](faults.md)), `target` (a device "
        "name such as `PCS03`, a kind such as `bess`, `all`, or `ems`), an optional `duration` "
        "and `id`, and the fault's own parameters. Two faults of one type on one target may not "
        "overlap in time.",
        "",
        "## Expectations",
        "",
        "Each expectation has a `name` (unique; it is the junit test case), exactly one subject "
        "and at most one timing:",
        "",
        "| subject | condition | notes |",
        "|---|---|---|",
        "| `signal: <name>` | one of `lt`, `gt`, `le`, `ge` (a value) or `between: [low, high]` | "
        "`pcs[2].p_ac_kw` is one unit, `pcs[*].p_ac_kw` every unit (all must satisfy) |",
        "| `alarm: <ALARM_NAME>` | `raised: true` (default) or `false`; `unit: bms[*]` (default), "
        "`bms[3]`, `pcs[*]`... | names: SunSpec 802 Evt1 (bms) and 701 Alrm (pcs) bits |",
        "| `state: <signal>` | `is: <STATE>` or a list | `pcs[i].state` (OFF, STARTING, RUNNING, "
        "THROTTLED, FAULT, STANDBY), `bms[i].state`, `bms[i].contactor`, `genset[i].state` |",
        "",
        "| timing | parameters | passes when |",
        "|---|---|---|",
        f"| `always` | {_fields(Always)} | the condition holds on every tick of the window "
        "(default for signal conditions and `raised: false`) |",
        f"| `eventually` | {_fields(Eventually)} | it holds on some tick in "
        "[after, after + within] (for `hold` seconds running); default for `raised: true` and states |",
        "| `at` | a duration | it holds on the first tick at or after that time |",
        "",
        "Results record violation count, first violation time and worst value; an expectation whose "
        "window had not closed when a run was stopped is *not evaluated* (a junit error).",
        "",
    ]
    return "\n".join(out)
