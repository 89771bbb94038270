"""What ``hil roi`` leaves in its folder: ``roi.json``, ``roi_series.parquet`` and the report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .roi_report import build_roi_report

__all__ = ["ROI_FILE", "SERIES_FILE", "write_roi"]

ROI_FILE = "roi.json"
SERIES_FILE = "roi_series.parquet"


def _clean(x: Any) -> Any:
    """JSON with nulls for NaN/inf and plain floats for numpy scalars."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_roi(
    out_dir: Path, roi: dict[str, Any], series: dict[str, np.ndarray], *, report: bool = True
) -> dict[str, Path]:
    """Write the study's results; the report is built from these files alone (``report=False``
    leaves it for later: a campaign builds the reports of the runs it links to)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ROI_FILE).write_text(json.dumps(_clean(roi), indent=1, ensure_ascii=False), encoding="utf-8")
    cols = {
        k: (v.astype("datetime64[ms]") if k == "timestamp" else np.asarray(v, dtype=float))
        for k, v in series.items()
    }
    pq.write_table(pa.table(cols), out_dir / SERIES_FILE, compression="zstd")
    files = {"roi": out_dir / ROI_FILE, "series": out_dir / SERIES_FILE}
    if not report:
        return files
    rep = build_roi_report(out_dir)
    files.update(html=rep.html, md=rep.md)
    return files
