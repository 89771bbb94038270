"""``junit.xml``: one test case per expectation, for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._render import num as _num

if TYPE_CHECKING:
    pass

from .load import _XML_BAD, _Run
from .plots import _window
from .text import _facts, _fmt_condition, _fmt_t, _fmt_value, _fmt_window, _result, _speedup


def _x(s: Any) -> str:
    """Text safe for XML 1.0 (ElementTree escapes markup but not control characters)."""
    return _XML_BAD.sub("?", "" if s is None else str(s))


def _failure_message(e: Mapping[str, Any]) -> str:
    msg = f"{_fmt_condition(e)} [{_fmt_window(e)}]: {e.get('violations', '?')} violation(s)"
    fv = _num(e.get("first_violation_s"))
    if fv is not None:
        msg += f", first at t={fv:g} s"
    if e.get("detail"):
        msg += f"; {e['detail']}"
    return msg


def _case_time(e: Mapping[str, Any], info: Mapping[str, Any], t_end: float) -> float:
    """Wall time spent watching the expectation: its share of the simulated time, as wall time.

    JUnit wants a duration per case and expectations have none of their own; this one makes
    the cases of a suite add up to about the run's wall time.
    """
    wall, sim = _num(info.get("wall_s")), _num(info.get("simulated_s")) or t_end
    w = _window(e, sim)
    if wall is None or not sim:
        return 0.0
    if w is None:
        return wall
    a, b = max(0.0, w[0]), min(sim, w[1])
    return max(0.0, wall * (b - a) / sim)


def _write_junit(run: _Run, path: Path) -> None:
    info = run.info
    interrupted = bool(info.get("interrupted"))
    wall = _num(info.get("wall_s")) or 0.0
    cases = run.expectations if run.complete else []
    failures = sum(_result(e) == "FAIL" for e in cases)
    errors = sum(_result(e) == "ERROR" for e in cases) + (0 if run.complete else 1)
    root = ET.Element(
        "testsuites", name="hil", tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    root.set("time", f"{wall:.3f}")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=_x(run.scenario),
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{wall:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for label, value in _facts(run):
        ET.SubElement(props, "property", name=_x(label.lower()), value=_x(value))
    classname = f"hil.{run.scenario}"
    for e in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=_x(classname),
            name=_x(e.get("name") or "?"),
            time=f"{_case_time(e, info, run.t_end):.3f}",
        )
        body = "\n".join(
            f"{k}: {_fmt_value(e.get(k))}"
            for k in (
                "kind",
                "signal",
                "condition",
                "window",
                "violations",
                "first_violation_s",
                "worst",
                "line",
            )
            if e.get(k) is not None
        )
        if e.get("detail"):
            body += f"\ndetail: {e['detail']}"
        res = _result(e)
        if res == "FAIL":
            fail = ET.SubElement(case, "failure", message=_x(_failure_message(e)), type="ExpectationFailed")
            fail.text = _x(body)
        elif res == "ERROR":
            why = "run interrupted before it could be evaluated" if interrupted else "not evaluated"
            err = ET.SubElement(case, "error", message=_x(f"{e.get('name')}: {why}"), type="NotEvaluated")
            err.text = _x(body)
    out = ET.SubElement(suite, "system-out")
    if not run.complete:
        out.text = _x("incomplete run: no results.json; " + "; ".join(run.notes))
        err_el = ET.SubElement(suite, "system-err")
        err_el.text = _x(
            "the run did not finish (killed?): expectations were not evaluated; "
            f"the trace holds {run.trace_rows} rows up to t={run.t_end:g} s"
        )
    elif interrupted:
        out.text = _x(
            f"run INTERRUPTED after {_fmt_t(info.get('simulated_s'))} simulated"
            f" of {_fmt_t(info.get('duration_s'))}"
        )
    else:
        sp = _speedup(info)
        out.text = _x(
            f"run completed: {_fmt_t(info.get('simulated_s'))} simulated in {_fmt_t(info.get('wall_s'))} wall"
            + (f" (×{sp:.1f})" if sp else "")
        )
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
