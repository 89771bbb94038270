"""What the ROI report says, as plain strings: formatted figures, the headline and the tables.

:class:`Roi` is a read-only view of roi.json (and the series, when read); every function here
turns it into rows of text that :mod:`hil.roi_report` renders as HTML, Markdown or a rich
table, so the three always show the same figures. A figure that is null shows as "—".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._render import num

DASH = "—"

#: The bill cases of roi.json, in the order of the tables, with their display names.
CASES = (("baseline", "baseline"), ("pv_only", "PV only"), ("project", "project"), ("optimum", "optimum"))


# ------------------------------------------------------------------------------------------
# the figures of roi.json
# ------------------------------------------------------------------------------------------
@dataclass
class Roi:
    """roi.json as read (``data``), the series as arrays (None when absent), and load notes."""

    out_dir: Path
    data: dict[str, Any]
    series: dict[str, np.ndarray] | None
    dt_h: float
    notes: list[str] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return str(self.data.get("currency") or "")

    @property
    def study(self) -> dict[str, Any]:
        s = self.data.get("study")
        return s if isinstance(s, dict) else {}

    @property
    def name(self) -> str:
        return str(self.study.get("name") or self.out_dir.name)

    def bill(self, case: str) -> dict[str, Any] | None:
        b = self.data.get(case)
        return b if isinstance(b, dict) else None

    def section(self, key: str) -> dict[str, Any]:
        s = self.data.get(key)
        return s if isinstance(s, dict) else {}

    @property
    def years(self) -> list[dict[str, Any]]:
        return [r for r in self.data.get("years") or [] if isinstance(r, dict)]

    @property
    def claims(self) -> list[dict[str, Any]]:
        return [c for c in self.data.get("claims") or [] if isinstance(c, dict)]


# ------------------------------------------------------------------------------------------
# formatting: every formatter shows "—" for a missing figure
# ------------------------------------------------------------------------------------------
def _money(x: Any, cur: str) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.0f} {cur}".rstrip()


def _pct(x: Any, digits: int = 1) -> str:
    v = num(x)
    return DASH if v is None else f"{100 * v:,.{digits}f} %"


def _yrs(x: Any) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.2f} years"


def _hours(x: Any) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.2f} h"


def _kw(x: Any) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.0f} kW"


def _kwh(x: Any) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.0f} kWh"


def _price(x: Any, cur: str) -> str:
    v = num(x)
    return DASH if v is None else f"{v:,.4f} {cur}/kWh"


def _plain(x: Any, fmt: str = ",.0f") -> str:
    v = num(x)
    return DASH if v is None else format(v, fmt)


def _arrow(a: str, b: str) -> str:
    return DASH if a == DASH and b == DASH else f"{a} → {b}"


def _max_peak(b: Mapping[str, Any] | None) -> float | None:
    peaks = (b or {}).get("peak_kw_by_month")
    vals = (
        [v for v in (num(x) for x in (peaks or {}).values()) if v is not None]
        if isinstance(peaks, dict)
        else []
    )
    return max(vals) if vals else None


# ------------------------------------------------------------------------------------------
# the headline: one list of groups of (label, value, note), shared by HTML, Markdown, terminal
# ------------------------------------------------------------------------------------------
Row = tuple[str, str, str]


def headline(roi: Roi) -> list[tuple[str, list[Row]]]:
    d, cur = roi.data, roi.currency
    sav = roi.section("savings_year1")
    base, proj, opt = roi.bill("baseline"), roi.bill("project"), roi.bill("optimum")
    share = num(d.get("optimum_share"))
    share_text = DASH if share is None else f"this EMS earned {100 * share:.1f} % of what was possible"
    bill_rows: list[Row] = [
        ("Bill savings, year 1", _money(sav.get("total"), cur), "baseline bill − project bill"),
        ("  energy charge", _money(sav.get("energy"), cur), ""),
        ("  demand charge", _money(sav.get("demand"), cur), "monthly max 15-min import"),
        ("  fixed charge", _money(sav.get("fixed"), cur), ""),
        ("  export credit", _money(sav.get("export"), cur), ""),
        (
            "Earned by storage",
            _money(sav.get("storage"), cur),
            "PV-only bill − project bill" if roi.bill("pv_only") else "no PV in the study: all of the saving",
        ),
        ("Earned by PV", _money(sav.get("pv"), cur), "baseline bill − PV-only bill"),
        (
            "Average price",
            _arrow(
                _price((base or {}).get("avg_price_per_kwh"), cur),
                _price((proj or {}).get("avg_price_per_kwh"), cur),
            ),
            "baseline → project, bill / site consumption",
        ),
        (
            "Highest monthly 15-min peak",
            _arrow(_kw(_max_peak(base)), _kw(_max_peak(proj))),
            "baseline → project" + (f"; optimum {_kw(_max_peak(opt))}" if opt else ""),
        ),
        (
            "Against the optimum",
            share_text,
            optimum_note(roi),
        ),
    ]
    study = roi.study
    rate = num(study.get("discount_rate"))
    horizon = study.get("years") or len(roi.years) or None
    npv_note = ", ".join(
        p
        for p in (
            f"{horizon} years" if horizon else "",
            f"discount rate {100 * rate:g} %" if rate is not None else "",
        )
        if p
    )
    money_rows: list[Row] = [
        ("Investment (capex)", _money(d.get("capex"), cur), ""),
        ("NPV", _money(d.get("npv"), cur), npv_note),
        ("Simple payback", _yrs(d.get("simple_payback_years")), ""),
        ("Discounted payback", _yrs(d.get("discounted_payback_years")), ""),
        ("IRR", _pct(d.get("irr")), ""),
        ("LCOS", _price(d.get("lcos_per_kwh"), cur), "per kWh discharged, incl. charging cost"),
        ("LCOS excl. charging", _price(d.get("lcos_per_kwh_excl_charging"), cur), ""),
    ]
    res = roi.section("resilience_hours")
    counting = str(res.get("counting") or "")
    counting_text = {
        "continuous": "continuous (fractions of a step count)",
        "whole_steps": "whole steps (floored to the step)",
    }.get(counting, counting or DASH)
    crit = _kw(res.get("critical_load_kw"))
    res_rows: list[Row] = [
        ("Critical load carried", _hours(res.get("mean")), f"mean over outage starts, critical load {crit}"),
        ("  minimum / maximum", f"{_hours(res.get('min'))} / {_hours(res.get('max'))}", ""),
        ("  mean, whole steps", _hours(res.get("mean_whole_steps")), "floored to the step"),
        ("  counting", counting_text, ""),
    ]
    gpu = roi.section("gpu_hours_lost")
    energy_rows: list[Row] = [
        (
            "Renewable share",
            _arrow(_pct(d.get("renewable_share_baseline")), _pct(d.get("renewable_share"))),
            "baseline → project",
        ),
        (
            "GPU-hours lost per year",
            _arrow(_plain(gpu.get("without_storage"), ",.1f"), _plain(gpu.get("project"), ",.1f")),
            "without storage → project",
        ),
    ]
    return [
        ("What the project saves on the bill (year 1)", bill_rows),
        ("Investment", money_rows),
        ("Resilience (reported apart, not in the savings)", res_rows),
        ("Renewables and compute", energy_rows),
    ]


def optimum_note(roi: Roi) -> str:
    """What the optimum saves, and with PV the share of what storage alone could earn."""
    cur, sav, opt = roi.currency, roi.section("savings_year1"), roi.section("optimum_savings_year1")
    if not opt:
        return "no optimum run"
    note = f"perfect-foresight LP dispatch saves {_money(opt.get('total'), cur)}"
    storage, pv, best = num(sav.get("storage")), num(sav.get("pv")), num(opt.get("total"))
    if storage is not None and pv is not None and best is not None and best - pv > 0:
        note += f"; of what storage alone could earn (PV's part removed): {100 * storage / (best - pv):.1f} %"
    return note


def sentence(roi: Roi) -> str:
    """One plain sentence on what storage and PV earn, for the top of the page."""
    cur, sav = roi.currency, roi.section("savings_year1")
    parts = [f"In year 1 the project saves {_money(sav.get('total'), cur)} on the bill"]
    if num(sav.get("storage")) is not None and num(sav.get("pv")) is not None:
        parts.append(f": storage earns {_money(sav.get('storage'), cur)}, PV {_money(sav.get('pv'), cur)}")
    parts.append(
        f" (energy {_money(sav.get('energy'), cur)}, demand {_money(sav.get('demand'), cur)},"
        f" fixed {_money(sav.get('fixed'), cur)})."
    )
    share = num(roi.data.get("optimum_share"))
    if share is not None:
        parts.append(f" This EMS earned {100 * share:.1f} % of what was possible with perfect foresight.")
    parts.append(" Resilience is reported apart and is not in these savings.")
    return "".join(parts)


def facts(roi: Roi) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in roi.study.items():
        if v is None or v == "":
            continue
        text = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)
        out.append((str(k), text))
    if roi.currency:
        out.append(("currency", roi.currency))
    if roi.series is not None and roi.series["timestamp"].size:
        t = roi.series["timestamp"]
        out.append(("series", f"{t.size:,} steps of {roi.dt_h * 60:g} min, {t[0]} … {t[-1]}"))
    return out


# ------------------------------------------------------------------------------------------
# tables as rows of plain strings (HTML and Markdown render the same rows)
# ------------------------------------------------------------------------------------------
def bill_table(roi: Roi) -> tuple[list[str], list[list[str]]]:
    cur = roi.currency
    bills = [roi.bill(c) for c, _ in CASES]
    base_total = num((bills[0] or {}).get("bill_total"))

    def saved(b: dict[str, Any] | None) -> str:
        t = num((b or {}).get("bill_total"))
        return DASH if t is None or base_total is None else _money(base_total - t, cur)

    rows = [
        ["Energy charge", *(_money((b or {}).get("energy_cost"), cur) for b in bills)],
        ["Demand charge", *(_money((b or {}).get("demand_cost"), cur) for b in bills)],
        ["Fixed charge", *(_money((b or {}).get("fixed_cost"), cur) for b in bills)],
        ["Export credit", *(_money((b or {}).get("export_credit"), cur) for b in bills)],
        ["Bill total", *(_money((b or {}).get("bill_total"), cur) for b in bills)],
        ["Saved against the baseline", *(saved(b) for b in bills)],
        ["Grid import", *(_kwh((b or {}).get("energy_kwh")) for b in bills)],
        ["Average price", *(_price((b or {}).get("avg_price_per_kwh"), cur) for b in bills)],
        ["Highest monthly peak", *(_kw(_max_peak(b)) for b in bills)],
    ]
    return ["", *(name for _, name in CASES)], rows


def month_table(roi: Roi) -> tuple[list[str], list[list[str]]]:
    bills = {name: roi.bill(c) for c, name in CASES}
    present = [(n, b) for n, b in bills.items() if b]
    months = sorted(
        {m for _, b in present for key in ("bill_by_month", "peak_kw_by_month") for m in b.get(key) or {}}
    )
    head = [
        "Month",
        *(f"bill {n} [{roi.currency}]" for n, _ in present),
        *(f"peak {n} [kW]" for n, _ in present),
    ]
    rows = [
        [
            m,
            *(_plain((b.get("bill_by_month") or {}).get(m)) for _, b in present),
            *(_plain((b.get("peak_kw_by_month") or {}).get(m)) for _, b in present),
        ]
        for m in months
    ]
    return head, rows


def year_table(roi: Roi) -> tuple[list[str], list[list[str]]]:
    cur = roi.currency
    head = [
        "Year", "Usable [kWh]", "SoH", "Discharged [kWh]", f"Savings [{cur}]", f"O&M [{cur}]",
        f"Replacement [{cur}]", f"Net [{cur}]", f"Discounted [{cur}]", f"Cumulative [{cur}]",
        f"Cumulative discounted [{cur}]",
    ]  # fmt: skip
    capex = num(roi.data.get("capex"))
    rows: list[list[str]] = []
    if capex is not None:
        c0 = _plain(-capex)
        rows.append(["0", "", "", "", "", "", "", c0, c0, c0, c0])
    rows += [
        [
            str(r.get("year", "")),
            _plain(r.get("usable_kwh")),
            _pct(r.get("soh")),
            _plain(r.get("discharge_kwh")),
            *(_plain(r.get(k)) for k in ("savings", "om", "replacement", "net", "discounted")),
            _plain(r.get("cumulative")),
            _plain(r.get("cumulative_discounted")),
        ]
        for r in roi.years
    ]
    return head, rows


def _supported(x: Any) -> str:
    return "yes" if x is True else "no" if x is False else DASH


def claim_rows(roi: Roi) -> list[list[str]]:
    return [
        [
            str(c.get("claim") or DASH),
            str(c.get("value_claimed") or DASH),
            str(c.get("simulated") or DASH),
            _supported(c.get("supported")),
            str(c.get("why") or ""),
        ]
        for c in roi.claims
    ]


CLAIM_HEAD = ["Claim", "Claimed", "Simulated", "Supported?", "Why"]


# ------------------------------------------------------------------------------------------
# plots
# ------------------------------------------------------------------------------------------
def pv_part(roi: Roi) -> dict[str, float] | None:
    """What PV alone saves (baseline − PV-only bill), split like savings_year1; None without PV."""
    base, pv = roi.bill("baseline"), roi.bill("pv_only")
    if base is None or pv is None:
        return None
    out: dict[str, float] = {}
    for key, item in (("total", "bill_total"), ("energy", "energy_cost"), ("demand", "demand_cost")):
        a, b = num(base.get(item)), num(pv.get(item))
        if a is None or b is None:
            return None
        out[key] = a - b
    return out


def sub_label(label: str, mark: str) -> str:
    """A headline label; a sub-item (two leading spaces in :func:`headline`) gets ``mark``."""
    return mark + label.strip() if label.startswith("  ") else label
