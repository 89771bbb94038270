"""The run report: junit, self-contained HTML, Markdown, plots and the terminal summary."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from hil.config import load_site
from hil.report import _envelope, build_report, print_summary
from hil.trace.store import TraceWriter

PNG = b"\x89PNG\r\n\x1a\n"

RESULTS: dict[str, Any] = {
    "scenario": "unit_outage",
    "title": "Unit test outage <&>",
    "file": "profiles/scenarios/unit_outage.yaml",
    "site": "lab_rack",
    "seed": 1,
    "controller": "standin",
    "pacing": "real time x1",
    "tick_s": 0.1,
    "duration_s": 20.0,
    "simulated_s": 20.0,
    "wall_s": 20.4,
    "interrupted": False,
    "lateness": {"n": 200, "p50_ms": 0.4, "p99_ms": 2.5, "max_ms": 7.1},
    "key_signals": ["grid.p_import_kw", "bess.p_ac_kw", "bess.soc_pct", "pcs[*].p_ac_kw", "no.such_signal"],
    "expectations": [
        {
            "name": "site stays powered",
            "kind": "always",
            "signal": "gpu.powered",
            "condition": "gt 0.99",
            "window": [2.0, 18.0],
            "passed": True,
            "violations": 0,
            "first_violation_s": None,
            "worst": 1.0,
            "detail": "",
            "line": 23,
        },
        {
            "name": "soc above 99",
            "kind": "always",
            "signal": "bess.soc_pct",
            "condition": "gt 99",
            "window": [5.0, 15.0],
            "passed": False,
            "violations": 101,
            "first_violation_s": 5.0,
            "worst": 52.3,
            "detail": "soc was 52.3 %",
            "line": 31,
        },
    ],
    "faults": [{"name": "pcs_trip", "target": "PCS00", "layer": "physics", "start_s": 6.0, "end_s": 9.0}],
}


def _write_run(out: Path, ticks: int = 200, close: bool = True) -> TraceWriter:
    site = load_site("lab_rack")
    # a run that is never closed writes synchronously, so what is on disk is known exactly
    w = TraceWriter(
        out, row_group_rows=50, meta={"scenario": "unit_outage", "site": "lab_rack"}, background=close
    )
    w.event(0.0, "run", detail="start")
    for _ in range(ticks):
        snap = site.step()
        w.append(snap, {"runner.lag_s": 0.001})
        if snap.tick == 30:
            w.event(snap.t, "event", source="grid_off", target="grid.available", value=0.0)
        if snap.tick == 60:
            w.event(snap.t, "fault_inject", source="pcs_trip", target="PCS00", detail="physics")
        if snap.tick == 90:
            w.event(snap.t, "fault_clear", source="pcs_trip", target="PCS00", detail="physics")
            w.event(snap.t, "alarm", source="PCS00", target="trip")
    if close:
        w.event(site.t, "expectation", source="soc above 99", value=52.3, passed=False)
        w.close()
    return w


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    _write_run(out)
    (out / "results.json").write_text(json.dumps(RESULTS), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Any:
    return build_report(run_dir)


def test_junit(report: Any) -> None:
    root = ET.parse(report.junit).getroot()
    suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "unit_outage"
    assert suite.get("tests") == "2"
    assert suite.get("failures") == "1"
    assert suite.get("errors") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["site stays powered", "soc above 99"]
    assert {c.get("classname") for c in cases} == {"hil.unit_outage"}
    for c in cases:
        assert float(c.get("time", "nan")) >= 0
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "gt 99" in message
    assert "101 violation" in message
    assert "t=5 s" in message
    assert "soc was 52.3 %" in message
    out = suite.find("system-out")
    assert out is not None
    assert "completed" in (out.text or "")


def test_html_is_self_contained(report: Any) -> None:
    text = report.html.read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)
    assert len(srcs) == 2
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link" not in text
    assert "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", text)
    assert "url(" not in text
    for e in RESULTS["expectations"]:
        assert e["name"] in text
    assert "pcs_trip" in text
    assert "Unit test outage &lt;&amp;&gt;" in text  # escaped
    assert 'class="badge FAIL"' in text
    assert "grid_off" in text  # events table
    assert "p99" in text  # lateness shown for a real-time run
    assert "not plotted: no.such_signal<" in text  # a key signal missing from the trace is said


def test_plots_are_png(report: Any) -> None:
    assert len(report.plots) == 2
    for p in report.plots:
        assert p.parent.name == "plots"
        assert p.read_bytes().startswith(PNG)


def test_summary_md(report: Any) -> None:
    md = report.summary_md.read_text(encoding="utf-8")
    assert md.startswith("# unit_outage — FAIL")
    assert "| Result | Expectation | Condition | Window |" in md
    assert "| **PASS** | site stays powered |" in md
    assert "| **FAIL** | soc above 99 |" in md
    assert "| pcs_trip | PCS00 | physics |" in md
    assert "](plots/key_signals.png)" in md
    assert "](plots/timeline.png)" in md


def test_print_summary(run_dir: Path) -> None:
    console = Console(record=True, width=120)
    print_summary(run_dir, console)
    text = console.export_text()
    assert "FAIL" in text
    assert "PASS" in text
    assert "site stays powered" in text
    assert "soc above 99" in text
    assert "1/2 expectations passed" in text


def test_interrupted_run_marks_unevaluated_as_errors(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    results = json.loads(json.dumps(RESULTS))
    results["interrupted"] = True
    results["expectations"][1]["passed"] = None
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    files = build_report(out)
    suite = ET.parse(files.junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("errors") == "1"
    assert suite.get("failures") == "0"
    err = suite.findall("testcase")[1].find("error")
    assert err is not None
    assert "interrupted" in err.get("message", "")
    assert "INTERRUPTED" in (suite.findtext("system-out") or "")
    assert 'class="badge INTERRUPTED"' in files.html.read_text(encoding="utf-8")


def test_killed_run_folder(tmp_path: Path) -> None:
    """No results.json, no Parquet footer: build what the stream and events allow."""
    w = _write_run(tmp_path, ticks=120, close=False)  # never closed, like a SIGKILLed run
    assert not (tmp_path / "trace.parquet").exists()
    files = build_report(tmp_path)
    root = ET.parse(files.junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "unit_outage"  # from the trace's meta
    assert suite.findall("testcase") == []
    assert suite.get("errors") == "1"
    assert "incomplete run" in (suite.findtext("system-out") or "")
    html = files.html.read_text(encoding="utf-8")
    assert "Incomplete run" in html
    assert 'class="badge INCOMPLETE"' in html
    assert "pcs_trip" in html  # the fault, rebuilt from its events
    for p in files.plots:
        assert p.read_bytes().startswith(PNG)
    assert "INCOMPLETE" in files.summary_md.read_text(encoding="utf-8")

    console = Console(record=True, width=400)  # one line, whatever the tmp path
    print_summary(tmp_path, console)
    assert w.rows_flushed == 100
    assert "100 rows" in console.export_text()
    w.close()


def test_empty_folder_still_reports(tmp_path: Path) -> None:
    files = build_report(tmp_path)
    assert ET.parse(files.junit).getroot().find("testsuite") is not None
    assert "INCOMPLETE" in files.html.read_text(encoding="utf-8")


def test_envelope_keeps_spikes_and_bounds_points() -> None:
    n = 864_000  # a day at 10 Hz
    t = np.arange(n) * 0.1
    y = np.sin(t / 600.0)
    y[123_457] = 50.0
    y[500_000] = np.nan
    tb, lo, hi = _envelope(t, y, y, buckets=1000)
    assert tb.size <= 1000
    assert np.nanmax(hi) == 50.0
    assert np.nanmin(lo) >= -1.0
    assert not np.isnan(hi).any()


def test_the_events_that_matter_come_first_and_routine_writes_are_summarised(tmp_path: Path) -> None:
    # thousands of heartbeats before the outage: the outage must still be in the table
    with TraceWriter(tmp_path) as w:
        for k in range(3000):
            hb = "802.CtrlHb = 1"
            w.event(0.001 * k, "write_accepted", source="ems", target="PCS01", detail=hb, value=1.0)
        w.event(2.5, "input", source="gateway", target="pcs[0].p_set_kw", detail="set", value=10.0)
        w.event(3.0, "event", source="scenario", target="grid.available", detail="grid_outage")
        w.event(3.1, "alarm", source="twin", target="pcs[0]", detail="FAULT")
    files = build_report(tmp_path)
    html = files.html.read_text()
    table = html[html.index("<h2>Events</h2>") :]
    assert "grid_outage" in table
    assert "FAULT" in table
    assert table.index("grid_outage") < table.index("Routine events, summarised")
    assert "2 events that matter" in table
    assert "3,001 routine ones" in table
    summary = table[table.index("Routine events, summarised") :]
    assert '<td class="num">3,000</td>' in summary  # the heartbeats, counted once
