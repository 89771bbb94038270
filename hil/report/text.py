"""Formatting: times, windows, conditions, values, the verdict and the run's facts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hil.trace.full import TRACE_FULL_FILE

from .._render import num as _num

if TYPE_CHECKING:
    pass

from .load import _Run


def _fmt_t(x: Any) -> str:
    v = _num(x)
    if v is None:
        return "—"
    s = f"{v:,.1f} s"
    if abs(v) >= 3600:
        h, rem = divmod(abs(v), 3600)
        s += f" ({int(h)}:{int(rem // 60):02d}:{rem % 60:04.1f})"
    return s


def _fault_end(f: Mapping[str, Any]) -> str:
    return "not cleared" if f.get("end_s") is None else _fmt_t(f.get("end_s"))


def _fmt_window(e: Mapping[str, Any]) -> str:
    w = e.get("window")
    if not isinstance(w, (list, tuple)) or not w:
        return "whole run"
    a = _num(w[0])
    b = _num(w[1]) if len(w) > 1 else None
    if a is not None and b is not None and a == b:
        return f"at {a:g} s"
    if b is None:
        return f"from {a:g} s" if a is not None else "whole run"
    return f"{(a or 0.0):g}–{b:g} s"


def _fmt_condition(e: Mapping[str, Any]) -> str:
    """``kind signal condition``, without repeating a signal the condition already names."""
    kind, sig, cond = (str(e.get(k) or "") for k in ("kind", "signal", "condition"))
    if sig and sig in cond:
        sig = ""
    return " ".join(p for p in (kind, sig, cond) if p)


def _fmt_value(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _result(e: Mapping[str, Any]) -> str:
    """PASS, FAIL or ERROR (not evaluated, e.g. the run was interrupted first)."""
    p = e.get("passed")
    return "PASS" if p is True else "FAIL" if p is False else "ERROR"


def _verdict(run: _Run) -> str:
    if not run.complete:
        return "INCOMPLETE"
    results = [_result(e) for e in run.expectations]
    if "FAIL" in results:
        return "FAIL"
    if run.info.get("interrupted"):
        return "INTERRUPTED"
    if "ERROR" in results:
        return "ERROR"
    return "PASS"


def _speedup(info: Mapping[str, Any]) -> float | None:
    sim, wall = _num(info.get("simulated_s")), _num(info.get("wall_s"))
    return sim / wall if sim is not None and wall else None


def _facts(run: _Run) -> list[tuple[str, str]]:
    """The header, as (label, text) pairs, shared by the HTML, Markdown and junit outputs."""
    i = run.info
    out: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        if value is not None and value != "":
            out.append((label, str(value)))

    add("Scenario", i.get("scenario") or run.scenario)
    add("Title", i.get("title"))
    add("File", i.get("file"))
    add("Site", i.get("site"))
    add("Seed", i.get("seed"))
    add("Controller", i.get("controller"))
    add("Pacing", i.get("pacing"))
    if _num(i.get("tick_s")) is not None:
        add("Tick", f"{float(i['tick_s']):g} s")
    if _num(i.get("duration_s")) is not None:
        add("Duration (scenario)", _fmt_t(i["duration_s"]))
    if run.complete:
        add("Simulated", _fmt_t(i.get("simulated_s")))
        add("Wall time", _fmt_t(i.get("wall_s")))
        sp = _speedup(i)
        if sp is not None:
            add("Speed-up", f"×{sp:,.1f}")
        add("Interrupted", "yes" if i.get("interrupted") else "no")
        if i.get("error"):
            add("Error", i["error"])
        writes = i.get("writes")
        if isinstance(writes, dict) and writes:
            add("Writes", ", ".join(f"{v} {k}" for k, v in writes.items()))
        if _num(i.get("rebased_s")):
            add("Rebased (overruns)", _fmt_t(i["rebased_s"]))
    else:
        add("State", "incomplete run")
    if run.trace_rows:
        add(
            "Trace",
            f"{run.trace_rows:,} rows, {len(run.columns) - 2:,} signals, t = {run.t_first:g}…{run.t_end:g} s",
        )
    full_s = _num(i.get("trace_full_every_s"))
    if full_s:
        add("Long-run trace", f"every signal's mean, min and max per {_fmt_t(full_s)} in {TRACE_FULL_FILE}")
    if run.events is not None:
        add("Events", f"{run.events.num_rows:,}")
    out += _bill_facts(i.get("bill"))
    return out


def _bill_facts(b: Any) -> list[tuple[str, str]]:
    """The run's bill (results.json ``bill``, when the run was given a tariff)."""
    if not isinstance(b, Mapping):
        return []
    tid = b.get("tariff_id", "?")
    if b.get("error"):
        return [(f"Bill ({tid})", f"not billed: {b['error']}")]
    cur = b.get("currency", "")
    out = [
        (
            f"Bill ({tid})",
            f"{b['total']:,.2f} {cur}: energy {b['energy_cost']:,.2f}, demand {b['demand_cost']:,.2f}, "
            f"fixed {b['fixed_cost']:,.2f}, export credit {b['export_credit']:,.2f}; "
            f"{b['energy_kwh']:,.1f} kWh imported",
        ),
        ("15-min peaks", ", ".join(f"{m} {kw:,.1f} kW" for m, kw in b.get("peak_kw_by_month", {}).items())),
    ]
    base, sav = b.get("without_storage"), b.get("savings")
    if isinstance(base, Mapping) and isinstance(sav, Mapping):
        peaks = ", ".join(f"{m} {kw:,.1f} kW" for m, kw in base.get("peak_kw_by_month", {}).items())
        out.append(("Without storage", f"{base['total']:,.2f} {cur}; 15-min peaks {peaks}"))
        out.append(
            (
                "Storage saved",
                f"{sav['total']:,.2f} {cur} (energy {sav['energy']:,.2f}, demand {sav['demand']:,.2f})",
            )
        )
    opt = b.get("optimum")
    if isinstance(opt, Mapping) and "savings" in opt:
        share = b.get("optimum_share")
        text = f"the perfect-foresight dispatch of this window saves {opt['savings']:,.2f} {cur}"
        if share is not None:
            text = f"this EMS earned {share:.1%} of what was possible: " + text
        out.append(("Against the optimum", text))
    return out


def _lateness(run: _Run) -> dict[str, float] | None:
    lat = run.info.get("lateness")
    if not isinstance(lat, dict):
        return None
    pacing = str(run.info.get("pacing") or "")
    if not pacing.startswith("real") and not (_num(lat.get("n")) or 0) > 0:
        return None
    return {k: v for k in ("n", "p50_ms", "p99_ms", "max_ms") if (v := _num(lat.get(k))) is not None}
