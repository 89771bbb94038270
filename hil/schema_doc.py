"""The scenario schema reference, generated from the parser's own tables (docs/scenario-schema.md)."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel

from twin.econ.tariff import TARIFF_KEYS
from twin.units import DURATION_UNITS, QUANTITY_UNITS

from .campaign.model import CampaignFile
from .scenario import ACTIONS, TOP_KEYS, Always, Eventually
from .study import StudyFile

__all__ = ["campaign_schema_markdown", "scenario_schema_markdown", "study_schema_markdown"]


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
        "Generated from `hil/scenario/` by `hil schema`; do not edit by hand. The how-to is",
        "[write a fault script](howto-fault-script.md); the faults are in [the catalogue](faults.md).",
        "",
        "## Top-level keys",
        "",
        "| key | meaning |",
        "|---|---|",
    ]
    out += [f"| `{k}` | {v} |" for k, v in TOP_KEYS.items()]
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


def _type_name(ann: object) -> str:
    """A field's type for people: ``number``, ``text``, ``one of a, b``, ``list of LoadWindow``."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return "list of " + _type_name(args[0]) if args else "list"
    if origin is tuple:
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if origin is dict:
        return "mapping"
    names = {float: "number", int: "integer", str: "text", bool: "true/false"}
    if isinstance(ann, type) and ann in names:
        return names[ann]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "mapping"
    return getattr(ann, "__name__", str(ann))


def _models_in(ann: object) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    stack = [ann]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            found.append(a)
        stack.extend(getattr(a, "__args__", ()))
    return found


def _model_markdown(root: type[BaseModel], head: list[str]) -> str:
    """A file reference walked from its root model: one table per model, in the order met."""
    out = list(head)
    seen: set[type[BaseModel]] = set()
    queue: list[tuple[str, type[BaseModel]]] = [("(top level)", root)]
    while queue:
        where, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        out += [f"## `{where}`", ""]
        doc = " ".join((model.__doc__ or "").split())
        if doc and model is not root:
            out += [doc, ""]
        out += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for name, f in model.model_fields.items():
            if f.is_required():
                default = "**required**"
            elif f.default_factory is not None:
                empty = "`{}`" if typing.get_origin(f.annotation) is dict else "`[]`"
                default = "see below" if _models_in(f.annotation) else empty
            else:
                default = f"`{f.default!r}`"
            meaning = " ".join((f.description or "").split())
            subs = _models_in(f.annotation)
            if subs:
                meaning = (meaning + " " if meaning else "") + f"(see `{name}`)"
            out.append(f"| `{name}` | {_type_name(f.annotation)} | {default} | {meaning} |")
            queue += [(name, m) for m in subs]
        out.append("")
    return "\n".join(out)


def study_schema_markdown() -> str:
    """The study file reference (docs/study-schema.md), walked from :class:`hil.study.StudyFile`."""
    return _model_markdown(
        StudyFile,
        [
            "# Study schema reference",
            "",
            "Generated from `hil/study.py` by `hil schema study`; do not edit by hand. A study is what",
            "`hil roi` simulates and finances; the tutorial is [how much will storage earn on my",
            "site?](tutorial-roi.md) and the formulas are in [ROI conventions](roi-conventions.md).",
            "Durations take a unit (`15 min`, `1 h`, `60 s`). Unknown keys are errors with a",
            "did-you-mean; every problem in a file is reported at once with its line.",
            "",
        ],
    )


def campaign_schema_markdown() -> str:
    """The campaign file reference (docs/campaign-schema.md), from :class:`hil.campaign.CampaignFile`."""
    return _model_markdown(
        CampaignFile,
        [
            "# Campaign schema reference",
            "",
            "Generated from `hil/campaign/model.py` by `hil schema campaign`; do not edit by hand. A",
            "campaign is what `hil campaign` runs on Dask: many runs of a study or a scenario suite.",
            "The how-tos: [size storage with a sweep](howto-sizing-sweep.md), [compare two EMS",
            "versions](howto-compare-ems.md), [run a campaign on a Dask cluster](howto-dask-cluster.md).",
            "Durations take a unit (`10 s`, `2 min`). Unknown keys are errors with a did-you-mean;",
            "every problem in a file is reported at once with its line, and every parameter value is",
            "applied to its base and checked before anything runs (`hil campaign FILE --dry-run`).",
            "",
        ],
    )


def tariff_schema_markdown() -> str:
    """The tariff file reference (docs/tariff-schema.md), from ``twin.econ.tariff.TARIFF_KEYS``."""
    out = [
        "# Tariff schema reference",
        "",
        "Generated from `twin/econ/tariff.py` by `hil schema tariff`; do not edit by hand. The",
        "conventions, the shipped tariffs and the URDB layout are in [tariffs and bills](tariffs.md).",
        "A misspelt key is reported with its file, line and a did-you-mean; every problem in a",
        "file is reported at once.",
        "",
    ]
    for section, keys in TARIFF_KEYS.items():
        out += [f"## `{section or '(top level)'}`", "", "| key | unit | meaning |", "|---|---|---|"]
        out += [f"| `{k}` | {unit} | {meaning} |" for k, (unit, meaning) in keys.items()]
        out.append("")
    return "\n".join(out)
