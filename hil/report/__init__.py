"""What a reader looks at after a run, built only from the files in the run folder.

:func:`build_report` reads ``results.json`` (written by the runner at the end),
``trace.parquet`` and ``events.parquet`` (see :mod:`hil.trace.store`) and writes:

* ``junit.xml`` — one test case per expectation, for CI (pytest, Jenkins and GitLab read it);
* ``report.html`` — one self-contained page (inline CSS, PNGs as data URIs, no script), so it
  can be mailed or archived as a CI artefact and still open years later;
* ``plots/key_signals.png`` and ``plots/timeline.png`` — the same figures as files;
* ``summary.md`` — the facts and tables in Markdown, for a merge request or a wiki.

Only the folder is read, never live objects: a report can be rebuilt later, on another
machine, and a report of a killed run (no ``results.json``, a trace recovered from its
stream) is built the same way, saying "incomplete run".

Times: the trace holds site time (``t_s``), results and events scenario time; ``t0_s`` (site
time at the scenario's t = 0, in results.json or the trace's meta, default 0) aligns them.

Long traces are reduced to a min/max envelope per pixel column before plotting, so a day at
10 Hz plots in about the time of a minute, and a one-tick spike still shows.
"""

from __future__ import annotations

from ..scenario.names import DEFAULT_KEY_SIGNALS
from .build import build_report, print_summary
from .load import EVENTS_SHOWN, RESULTS_FILE, ReportFiles
from .plots import _envelope

__all__ = [
    "DEFAULT_KEY_SIGNALS",
    "EVENTS_SHOWN",
    "RESULTS_FILE",
    "ReportFiles",
    "_envelope",
    "build_report",
    "print_summary",
]
