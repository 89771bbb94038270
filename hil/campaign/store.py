"""A campaign's folder: its plan, one Parquet part per finished run, and the results table.

```
<out>/campaign.json          the campaign, its plan's digest and every run's inputs
<out>/parts/<run_id>.parquet one row per finished run, written as the run comes back
<out>/results.parquet        every finished run, in index order (rebuilt from the parts every
                             30 s while the campaign runs, and at its end)
<out>/runs/<run_id>/         each run's own artefacts (trace, results.json or roi.json)
```

A part is written to a temporary name and renamed, so a campaign killed at any moment leaves
only whole parts: the next start with the same campaign reads them and runs only the rest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hil.errors import ConfigError, OutputError, Problem

from .plan import RunSpec, param_columns, plan_digest

__all__ = [
    "PARTS",
    "RESULTS",
    "ResultSchema",
    "done_indices",
    "open_folder",
    "read_results",
    "write_part",
    "write_results",
]

PARTS = "parts"
RESULTS = "results.parquet"
PLAN = "campaign.json"
_ARROW = {"float": pa.float64(), "string": pa.string()}


def _param_cell(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "float":
        return float(value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class ResultSchema:
    """The results table's columns, fixed by the plan before any run: every part has them all
    (a failed run's metrics are null), so the parts concatenate whatever order they finish in."""

    def __init__(self, runs: Sequence[RunSpec], metrics: Sequence[str]) -> None:
        self.params = param_columns(runs)
        self.metrics = list(metrics)
        fields = [
            pa.field("index", pa.int64()),
            pa.field("run_id", pa.string()),
            pa.field("point", pa.int64()),
            pa.field("replicate", pa.int64()),
            pa.field("seed", pa.int64()),
            pa.field("status", pa.string()),
            pa.field("error", pa.string()),
            *(pa.field(f"p.{k}", _ARROW[t]) for k, t in self.params.items()),
            *(pa.field(f"m.{m}", pa.float64()) for m in self.metrics),
            pa.field("passed", pa.bool_()),
            pa.field("faults", pa.string()),
            pa.field("detail", pa.string()),
            pa.field("started", pa.float64()),
            pa.field("wall_s", pa.float64()),
            pa.field("worker", pa.string()),
            pa.field("dir", pa.string()),
        ]
        self.schema = pa.schema(fields)

    def table(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        cols: dict[str, list[Any]] = {f.name: [] for f in self.schema}
        for row in rows:
            for k in ("index", "run_id", "point", "replicate", "seed", "status", "error"):
                cols[k].append(row.get(k))
            for k, t in self.params.items():
                cols[f"p.{k}"].append(_param_cell(row["params"].get(k), t))
            for m in self.metrics:
                x = row["metrics"].get(m)
                cols[f"m.{m}"].append(None if x is None or not math.isfinite(x) else float(x))
            cols["passed"].append((row.get("detail") or {}).get("passed"))
            cols["faults"].append(json.dumps(row.get("faults") or []))
            cols["detail"].append(json.dumps(row.get("detail") or {}, default=str))
            for k in ("started", "wall_s", "worker", "dir"):
                cols[k].append(row.get(k))
        return pa.table(cols, schema=self.schema)


def open_folder(out: Path, name: str, runs: Sequence[RunSpec], *, fresh: bool) -> bool:
    """Make ``out`` the campaign's folder; True when it resumes one started before. A folder
    of another campaign (or of this one with another plan) is refused, not mixed in."""
    digest = plan_digest(runs)
    plan_file = out / PLAN
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / PARTS).mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write the campaign folder {out}: {exc}") from exc
    if plan_file.exists() and not fresh:
        old = json.loads(plan_file.read_text())
        if old.get("digest") != digest:
            raise ConfigError(
                [
                    Problem(
                        str(out),
                        None,
                        "",
                        f"this folder holds campaign {old.get('campaign')!r} with another plan"
                        f" ({old.get('digest')} ≠ {digest}): the campaign file changed since it"
                        " started. Use another --out, or --fresh to discard its runs",
                    )
                ]
            )
        return any((out / PARTS).glob("*.parquet"))
    for p in (out / PARTS).glob("*.parquet"):
        p.unlink()
    (out / RESULTS).unlink(missing_ok=True)
    doc = {"campaign": name, "digest": digest, "runs": [r.as_dict() for r in runs]}
    tmp = plan_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    tmp.replace(plan_file)
    return False


def write_part(out: Path, schema: ResultSchema, row: Mapping[str, Any]) -> None:
    """One finished run's row, atomically (a kill leaves the part whole or absent)."""
    path = out / PARTS / f"{row['run_id']}.parquet"
    tmp = path.with_suffix(".tmp")
    pq.write_table(schema.table([row]), tmp)
    tmp.replace(path)


def done_indices(out: Path, *, retry_failed: bool = False) -> set[int]:
    """The runs with a part on disk (``retry_failed``: only the ones that succeeded)."""
    done: set[int] = set()
    for p in (out / PARTS).glob("*.parquet"):
        t = pq.read_table(p, columns=["index", "status"])
        for i, s in zip(t.column("index").to_pylist(), t.column("status").to_pylist(), strict=True):
            if not retry_failed or s == "ok":
                done.add(int(i))
    return done


def write_results(out: Path, schema: ResultSchema) -> pa.Table:
    """``results.parquet``: every part, in run order."""
    parts = sorted((out / PARTS).glob("*.parquet"))
    tables = [pq.read_table(p, schema=schema.schema) for p in parts]
    table = pa.concat_tables(tables) if tables else schema.schema.empty_table()
    table = table.sort_by("index")
    tmp = out / (RESULTS + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out / RESULTS)
    return table


def read_results(out: Path) -> pa.Table:
    return pq.read_table(out / RESULTS)
