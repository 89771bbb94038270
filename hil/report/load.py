"""Reading a run folder: results.json, the trace and the events, as one record."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from hil.trace.store import read_events, read_trace_schema, trace_meta

from .._render import num as _num

if TYPE_CHECKING:
    pass


log = logging.getLogger("hil.report")

RESULTS_FILE = "results.json"
EVENTS_SHOWN = 500
#: event kinds a run writes by the thousand (heartbeats, setpoints, the inputs they push):
#: summarised in the report, after the events that matter
ROUTINE_KINDS = ("write_accepted", "input")
MAX_PANELS = 10
MAX_EVENT_LINES = 300
ENVELOPE_BUCKETS = 1500  # ~ one per pixel column of the 12-inch, 100-dpi figure


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`build_report` wrote each file."""

    out_dir: Path
    junit: Path
    html: Path
    summary_md: Path
    plots: tuple[Path, ...]


@dataclass
class _Run:
    out_dir: Path
    results: dict[str, Any] | None
    info: dict[str, Any]
    expectations: list[dict[str, Any]]
    faults: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    events: pa.Table | None = None
    trace_rows: int = 0
    t_first: float = 0.0
    t_end: float = 0.0

    @property
    def complete(self) -> bool:
        return self.results is not None

    @property
    def t0(self) -> float:
        """Site time at the scenario's t = 0: the trace holds site time, everything else scenario time."""
        return _num(self.info.get("t0_s")) or 0.0

    @property
    def scenario(self) -> str:
        return str(self.info.get("scenario") or self.out_dir.name)


def _read_results(out_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    path = out_dir / RESULTS_FILE
    if not path.exists():
        notes.append("incomplete run: no results.json (the run was killed or is still going)")
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"incomplete run: results.json unreadable ({exc})")
        return None
    if not isinstance(data, dict):
        notes.append("incomplete run: results.json is not an object")
        return None
    return data


def _faults_from_events(events: pa.Table | None) -> list[dict[str, Any]]:
    """Pair ``fault_inject``/``fault_clear`` events by (name, target) when results.json is missing."""
    if events is None or events.num_rows == 0:
        return []
    mask = pc.is_in(events["kind"], pa.array(["fault_inject", "fault_clear"]))
    rows = events.filter(mask).select(["t_s", "kind", "source", "target", "detail"]).to_pylist()
    open_: dict[tuple[str, str], dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for r in rows:
        key = (r["source"], r["target"])
        if r["kind"] == "fault_inject":
            f = {"name": r["source"] or r["detail"], "target": r["target"], "layer": r["detail"]}
            f.update(start_s=r["t_s"], end_s=None)
            open_[key] = f
            out.append(f)
        elif key in open_:
            open_.pop(key)["end_s"] = r["t_s"]
    return out


def _load(out_dir: Path, *, events: bool = True) -> _Run:
    out_dir = Path(out_dir)
    notes: list[str] = []
    results = _read_results(out_dir, notes)
    meta: dict[str, Any] = {}
    columns: list[str] = []
    try:
        schema = read_trace_schema(out_dir)
        meta = trace_meta(schema)
        columns = list(schema.names)
    except (FileNotFoundError, ValueError) as exc:
        notes.append(f"no trace: {exc}")
    info = {**meta, **(results or {})}
    ev: pa.Table | None = None
    if events:
        try:
            ev = read_events(out_dir)
        except (FileNotFoundError, ValueError, pa.ArrowInvalid) as exc:
            notes.append(f"no events: {exc}")
    expectations = [e for e in (results or {}).get("expectations") or [] if isinstance(e, dict)]
    faults = [f for f in (info.get("faults") or []) if isinstance(f, dict)]
    if results is None and not faults:
        faults = _faults_from_events(ev)
    return _Run(out_dir, results, info, expectations, faults, notes, columns, ev)
