"""The ROI report: what storage (and PV) earn on a site's bill, built from the files of ``hil roi``.

:func:`build_roi_report` reads ``roi.json`` (the study's figures, see docs/tariffs.md and
shared economics) and ``roi_series.parquet`` (one simulated year at the study's resolution)
from a folder and writes, beside them:

* ``report.html`` — one self-contained page (inline CSS, PNGs as data URIs, no script);
* ``report.md`` — the same facts and tables in Markdown, referencing the PNGs;
* ``plots/*.png`` — monthly bills, monthly peaks, typical days, battery life, cash flow and
  this EMS against the perfect-foresight optimum.

The report keeps apart what the bill engine can defend and what it cannot: bill savings are
split into energy, demand and fixed charges and into what storage earns and what PV earns;
resilience (hours the battery carries the critical load) is reported beside them, with its
counting, and never added to the savings. Any figure that is null in roi.json is shown as "—".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _roi_plots as plots
from ._render import esc, html_table, img_tag, md_cell, num

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["ROI_FILE", "ROI_SERIES_FILE", "RoiReportFiles", "build_roi_report", "print_roi_summary"]

log = logging.getLogger(__name__)

ROI_FILE = "roi.json"
ROI_SERIES_FILE = "roi_series.parquet"
DASH = "—"

#: The bill cases of roi.json, in the order of the tables, with their display names.
CASES = (("baseline", "baseline"), ("pv_only", "PV only"), ("project", "project"), ("optimum", "optimum"))


@dataclass(frozen=True)
class RoiReportFiles:
    """Where :func:`build_roi_report` wrote each file."""

    out_dir: Path
    html: Path
    md: Path
    plots: tuple[Path, ...]


# ------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------
@dataclass
class _Roi:
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


def _read_json(out_dir: Path) -> dict[str, Any]:
    path = out_dir / ROI_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file; `hil roi` writes it, and the ROI report is built from it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_series(out_dir: Path, notes: list[str]) -> tuple[dict[str, np.ndarray] | None, float]:
    """The series as numpy arrays (timestamps as datetime64[s]) and the step in hours."""
    import pyarrow.parquet as pq

    path = out_dir / ROI_SERIES_FILE
    if not path.is_file():
        notes.append(f"no {ROI_SERIES_FILE}: the typical days and the SoC range are not drawn")
        return None, 0.25
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        notes.append(f"{ROI_SERIES_FILE} unreadable ({exc}): the typical days are not drawn")
        return None, 0.25
    if "timestamp" not in table.column_names:
        notes.append(f"{ROI_SERIES_FILE} has no timestamp column: the typical days are not drawn")
        return None, 0.25
    out: dict[str, np.ndarray] = {}
    ts = np.asarray(table.column("timestamp").to_numpy(zero_copy_only=False)).astype("datetime64[s]")
    out["timestamp"] = ts
    for name in table.column_names:
        if name != "timestamp":
            out[name] = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
    steps = np.diff(ts).astype(float)
    dt_h = float(np.median(steps)) / 3600.0 if steps.size else 0.25
    return out, dt_h if dt_h > 0 else 0.25


def _load(out_dir: Path, *, series: bool = True) -> _Roi:
    out_dir = Path(out_dir)
    data = _read_json(out_dir)
    notes: list[str] = []
    arrays, dt_h = _read_series(out_dir, notes) if series else (None, 0.25)
    return _Roi(out_dir, data, arrays, dt_h, notes)


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


def _headline(roi: _Roi) -> list[tuple[str, list[Row]]]:
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
            "baseline → project, bill / grid import",
        ),
        (
            "Highest monthly 15-min peak",
            _arrow(_kw(_max_peak(base)), _kw(_max_peak(proj))),
            "baseline → project" + (f"; optimum {_kw(_max_peak(opt))}" if opt else ""),
        ),
        (
            "Against the optimum",
            share_text,
            _optimum_note(roi),
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


def _optimum_note(roi: _Roi) -> str:
    """What the optimum saves, and with PV the share of what storage alone could earn."""
    cur, sav, opt = roi.currency, roi.section("savings_year1"), roi.section("optimum_savings_year1")
    if not opt:
        return "no optimum run"
    note = f"perfect-foresight LP dispatch saves {_money(opt.get('total'), cur)}"
    storage, pv, best = num(sav.get("storage")), num(sav.get("pv")), num(opt.get("total"))
    if storage is not None and pv is not None and best is not None and best - pv > 0:
        note += f"; of what storage alone could earn (PV's part removed): {100 * storage / (best - pv):.1f} %"
    return note


def _sentence(roi: _Roi) -> str:
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


def _facts(roi: _Roi) -> list[tuple[str, str]]:
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
def _bill_table(roi: _Roi) -> tuple[list[str], list[list[str]]]:
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


def _month_table(roi: _Roi) -> tuple[list[str], list[list[str]]]:
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


def _year_table(roi: _Roi) -> tuple[list[str], list[list[str]]]:
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


def _claim_rows(roi: _Roi) -> list[list[str]]:
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
def _pv_part(roi: _Roi) -> dict[str, float] | None:
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


def _plots(roi: _Roi, plot_dir: Path) -> tuple[dict[str, tuple[Path, bytes, str]], str]:
    """Every figure as name → (file, PNG bytes, caption); and which typical days were drawn."""
    cur = roi.currency
    out: dict[str, tuple[Path, bytes, str]] = {}

    def add(name: str, file: str, caption: str, draw: Any) -> None:
        path = plot_dir / file
        out[name] = (path, draw(path), caption)

    bills = {name: roi.bill(c) for c, name in CASES}
    add(
        "monthly bills",
        "monthly_bills.png",
        "Monthly bills before and after, in thousands.",
        lambda p: plots.plot_monthly(
            {n: b.get("bill_by_month") or {} for n, b in bills.items() if b},
            ylabel=f"bill [k{cur}]",
            title="monthly bill",
            path=p,
            scale=1000.0,
        ),
    )
    add(
        "monthly peaks",
        "monthly_peaks.png",
        "Monthly maximum 15-minute grid import (the billed demand).",
        lambda p: plots.plot_monthly(
            {n: b.get("peak_kw_by_month") or {} for n, b in bills.items() if b and n != "PV only"},
            ylabel="peak import [kW]",
            title="monthly 15-minute peak",
            path=p,
        ),
    )
    days: list[tuple[str, np.datetime64]] = []
    s = roi.series
    if s is not None and "grid_kw" in s:
        days = plots.pick_days(s["timestamp"], s["grid_kw"], roi.dt_h)
    which = "; ".join(label for label, _ in days) or "none (no series)"
    add(
        "typical days",
        "typical_days.png",
        f"Dispatch on {which}. Battery power is positive when discharging.",
        lambda p: plots.plot_days(s or {}, days, roi.dt_h, p),
    )
    add(
        "battery life",
        "battery_life.png",
        "Year-1 state of charge (daily range), and usable energy and SoH year by year.",
        lambda p: plots.plot_battery_life(s, roi.years, p),
    )
    add(
        "cash flow",
        "cash_flow.png",
        "Net cash flow per year and cumulative cash flow, simple and discounted, paybacks marked.",
        lambda p: plots.plot_cash_flow(
            roi.years,
            capex=num(roi.data.get("capex")),
            simple_pb=num(roi.data.get("simple_payback_years")),
            discounted_pb=num(roi.data.get("discounted_payback_years")),
            currency=cur,
            path=p,
        ),
    )
    add(
        "EMS vs optimum",
        "ems_vs_optimum.png",
        "Year-1 savings of this EMS and of the perfect-foresight optimum, split energy/demand"
        + (", PV's part apart." if _pv_part(roi) else "."),
        lambda p: plots.plot_vs_optimum(
            roi.section("savings_year1") or None,
            roi.section("optimum_savings_year1") or None,
            pv=_pv_part(roi),
            share=num(roi.data.get("optimum_share")),
            currency=cur,
            path=p,
        ),
    )
    return out, which


# ------------------------------------------------------------------------------------------
# html and markdown
# ------------------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{margin:0 0 4px 0;font-size:24px} h2{margin-top:28px;font-size:18px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:14px 0 4px 0}
.lead{font-size:15px;margin:10px 0 14px 0;max-width:1000px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} table.facts th{width:200px} table.headline th{width:260px}
table.headline th.sub{font-weight:400;padding-left:24px}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.yes{color:#2e7d32;font-weight:700} td.no{color:#c62828;font-weight:700}
.note{color:#8a6d00;background:#fffbe6;border:1px solid #f0e0a0;padding:6px 10px;margin:6px 0}
img{max-width:100%;border:1px solid #eee} figcaption{color:#555;font-size:13px}
"""


def _td(text: str, *, numeric: bool = False, cls: str = "") -> str:
    classes = " ".join(c for c in ("num" if numeric else "", cls) if c)
    return f'<td class="{classes}">{esc(text)}</td>' if classes else f"<td>{esc(text)}</td>"


def _html_rows(rows: Sequence[Sequence[str]], *, first_is_label: bool = True) -> list[list[str]]:
    return [[_td(c, numeric=not (first_is_label and k == 0)) for k, c in enumerate(row)] for row in rows]


def _write_html(roi: _Roi, images: Mapping[str, tuple[Path, bytes, str]], path: Path) -> None:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>ROI — {esc(roi.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>ROI — {esc(roi.name)}</h1>",
        f'<p class="lead">{esc(_sentence(roi))}</p>',
    ]
    parts += [f'<div class="note">{esc(n)}</div>' for n in roi.notes]
    parts.append("<h2>Headline</h2>")
    for title, rows in _headline(roi):
        parts.append(f"<h3>{esc(title)}</h3>")
        parts.append('<table class="headline">')
        for k, v, n in rows:
            th = '<th class="sub">' if k.startswith("  ") else "<th>"
            parts.append(f"<tr>{th}{esc(k.strip())}</th>{_td(v, numeric=True)}<td>{esc(n)}</td></tr>")
        parts.append("</table>")

    parts.append("<h2>Bills, year 1</h2>")
    head, rows = _bill_table(roi)
    parts.append(html_table(head, _html_rows(rows)))
    head, rows = _month_table(roi)
    if rows:
        parts.append("<h3>By month</h3>")
        parts.append(html_table(head, _html_rows(rows)))

    parts.append("<h2>Cash flow, year by year</h2>")
    head, rows = _year_table(roi)
    parts.append(html_table(head, _html_rows(rows)))

    parts.append("<h2>Plots</h2>")
    for name, (_, png, caption) in images.items():
        parts.append(f"<figure>{img_tag(name, png)}<figcaption>{esc(caption)}</figcaption></figure>")

    if roi.claims:
        parts.append("<h2>Claims</h2>")
        rows_html = [
            [
                _td(r[0]),
                _td(r[1]),
                _td(r[2]),
                _td(r[3], cls={"yes": "yes", "no": "no"}.get(r[3], "")),
                _td(r[4]),
            ]
            for r in _claim_rows(roi)
        ]
        parts.append('<div id="claims">' + html_table(CLAIM_HEAD, rows_html) + "</div>")

    notes = [str(n) for n in roi.data.get("notes") or []]
    parts.append("<h2>Notes</h2>")
    parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>" if notes else "<p>None.</p>")

    parts.append("<h2>Study</h2>")
    parts.append('<table class="facts">')
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _facts(roi)]
    parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _sub(label: str, mark: str) -> str:
    """A headline label; a sub-item (two leading spaces in :func:`_headline`) gets ``mark``."""
    return mark + label.strip() if label.startswith("  ") else label


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]], *, align: str = "") -> list[str]:
    """A Markdown table; ``align`` has one letter per column (l/r), default label then numbers."""
    align = align or "l" + "r" * (len(head) - 1)
    align = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out


def _write_md(roi: _Roi, images: Mapping[str, tuple[Path, bytes, str]], path: Path) -> None:
    lines = [f"# ROI — {md_cell(roi.name)}", "", _sentence(roi), ""]
    lines += [f"> {md_cell(n)}" for n in roi.notes]
    if roi.notes:
        lines.append("")
    lines += ["## Headline", ""]
    for title, rows in _headline(roi):
        lines += [f"### {title}", ""]
        lines += _md_table(["", "", ""], [[_sub(k, "· "), v, n] for k, v, n in rows], align="lrl")
        lines.append("")
    lines += ["## Bills, year 1", ""]
    lines += [*_md_table(*_bill_table(roi)), ""]
    head, rows = _month_table(roi)
    if rows:
        lines += ["### By month", "", *_md_table(head, rows), ""]
    lines += ["## Cash flow, year by year", "", *_md_table(*_year_table(roi)), ""]
    lines += ["## Plots", ""]
    for name, (file, _, caption) in images.items():
        lines += [f"![{name}]({file.relative_to(path.parent).as_posix()})", "", f"*{md_cell(caption)}*", ""]
    if roi.claims:
        lines += ["## Claims", "", *_md_table(CLAIM_HEAD, _claim_rows(roi), align="lllll"), ""]
    notes = [str(n) for n in roi.data.get("notes") or []]
    lines += ["## Notes", "", *([f"- {md_cell(n)}" for n in notes] or ["None."]), ""]
    lines += ["## Study", "", *_md_table(["", ""], _facts(roi), align="ll"), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# ------------------------------------------------------------------------------------------
# entry points
# ------------------------------------------------------------------------------------------
def build_roi_report(out_dir: Path) -> RoiReportFiles:
    """Write report.html, report.md and plots/*.png from ``out_dir``'s roi.json and series.

    Raises FileNotFoundError naming ``roi.json`` when it is missing, ValueError when it is not
    a JSON object. A missing or unreadable ``roi_series.parquet`` is noted in the report and
    only the figures that need it go without.
    """
    out_dir = Path(out_dir)
    roi = _load(out_dir)
    images, _ = _plots(roi, out_dir / "plots")
    files = RoiReportFiles(
        out_dir=out_dir,
        html=out_dir / "report.html",
        md=out_dir / "report.md",
        plots=tuple(p for p, _, _ in images.values()),
    )
    _write_html(roi, images, files.html)
    _write_md(roi, images, files.md)
    log.info("ROI report of %s: %s", roi.name, files.html)
    return files


def print_roi_summary(out_dir: Path, console: Console) -> None:
    """The terminal view: the headline figures in one compact table."""
    from rich.table import Table
    from rich.text import Text

    roi = _load(out_dir, series=False)
    table = Table(title=Text(f"ROI — {roi.name} ({roi.currency})"), title_justify="left", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    for k, (title, rows) in enumerate(_headline(roi)):
        if k:
            table.add_section()
        table.add_row(Text(title, style="bold"), "", "")
        for label, value, note in rows:
            table.add_row(Text(_sub(label, "  · ")), Text(value), Text(note))
    console.print(table)
