"""The campaign report's figures, each from the results table alone (Agg canvases, no pyplot).

Each function returns a figure or None when the campaign has nothing to show in it (a sweep
with one numeric parameter has no heatmap; a study campaign has no pass rates).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter

from hil._render import new_figure

__all__ = ["distributions", "heatmaps", "numeric_params", "pareto", "pareto_front", "pass_rates", "tornado"]

_FACETS = 6


def _short(x: float) -> str:
    """A number for a heatmap cell: 3 significant digits, M/k for large magnitudes."""
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _label(value: Any) -> str:
    """A parameter's value in a title: null is the base's own."""
    if value is None:
        return "(base's own)"
    return (
        value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else json.dumps(value)
    )


def _col(rows: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([math.nan if r.get(name) is None else float(r[name]) for r in rows], dtype=float)


def numeric_params(rows: Sequence[dict[str, Any]], params: Sequence[str]) -> list[str]:
    """The swept parameters that are numbers and take more than one value."""
    out = []
    for p in params:
        vals = {r.get(p) for r in rows}
        if len(vals) > 1 and all(isinstance(v, float) for v in vals if v is not None):
            out.append(p)
    return out


def heatmaps(rows: Sequence[dict[str, Any]], params: Sequence[str], metric: str) -> Any:
    """``metric`` over the first two numeric parameters, one panel per value of the others
    (at most six panels; the mean over replicates in each cell)."""
    nums = numeric_params(rows, params)
    if len(nums) < 2:
        return None
    px, py = nums[0], nums[1]
    others = [p for p in params if p not in (px, py) and len({r.get(p) for r in rows}) > 1]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r.get(p) for p in others)].append(r)
    keys = sorted(groups, key=str)[:_FACETS]
    xs = sorted({r[px] for r in rows if r.get(px) is not None})
    ys = sorted({r[py] for r in rows if r.get(py) is not None})
    n = len(keys)
    cols = min(n, 3)
    fig = new_figure(4.6 * cols, 3.8 * math.ceil(n / cols))
    vals = _col(rows, f"m.{metric}")
    finite = vals[np.isfinite(vals)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for k, key in enumerate(keys):
        ax = fig.add_subplot(math.ceil(n / cols), cols, k + 1)
        grid = np.full((len(ys), len(xs)), np.nan)
        cells: dict[tuple[int, int], list[float]] = defaultdict(list)
        for r in groups[key]:
            v = r.get(f"m.{metric}")
            if v is not None and r.get(px) in xs and r.get(py) in ys:
                cells[(ys.index(r[py]), xs.index(r[px]))].append(float(v))
        for (i, j), v in cells.items():
            grid[i, j] = float(np.mean(v))
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=vmin, vmax=vmax)
        for i, j in cells:
            ax.text(j, i, _short(grid[i, j]), ha="center", va="center", fontsize=7, color="w")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], fontsize=7, rotation=45)
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys], fontsize=7)
        ax.set_xlabel(px[2:], fontsize=8)
        ax.set_ylabel(py[2:], fontsize=8)
        title = ", ".join(f"{p[2:]} = {_label(v)}" for p, v in zip(others, key, strict=True)) or metric
        ax.set_title(title, fontsize=8)
        bar = fig.colorbar(im, ax=ax, label=metric)
        bar.formatter = FuncFormatter(lambda x, _pos: _short(x))
        bar.update_ticks()
    fig.tight_layout()
    return fig


def tornado(rows: Sequence[dict[str, Any]], params: Sequence[str], metric: str) -> Any:
    """Each parameter's main effect on ``metric``: the range of the metric's mean over the runs
    at each of its values (numbers with many values binned in quartiles), largest first."""
    vals = _col(rows, f"m.{metric}")
    ok = np.isfinite(vals)
    if ok.sum() < 2:
        return None
    bars: list[tuple[str, float, float]] = []
    for p in params:
        raw = [r.get(p) for r in rows]
        distinct = sorted({v for v in raw if v is not None}, key=str)
        if len(distinct) < 2:
            continue
        if len(distinct) > 6 and all(isinstance(v, float) for v in distinct):
            x = np.array([math.nan if v is None else v for v in raw], dtype=float)
            edges = np.nanquantile(x, [0.25, 0.5, 0.75])
            labels = np.digitize(x, edges)
        else:
            labels = np.array([distinct.index(v) if v is not None else -1 for v in raw])
        means = [
            float(np.mean(vals[ok & (labels == g)])) for g in np.unique(labels) if (ok & (labels == g)).any()
        ]
        if len(means) >= 2:
            bars.append((p[2:], min(means), max(means)))
    if not bars:
        return None
    bars.sort(key=lambda b: b[2] - b[1])
    centre = float(np.mean(vals[ok]))
    fig = new_figure(8.0, 0.45 * len(bars) + 1.4)
    ax = fig.add_subplot(1, 1, 1)
    for i, (_name, lo, hi) in enumerate(bars):
        ax.barh(i, hi - lo, left=lo, color="#1f77b4")
    ax.axvline(centre, color="k", lw=0.8, ls="--", label=f"mean {centre:.4g}")
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.set_xlabel(f"{metric}: range of the mean over each parameter's values")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pareto_front(cost: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Indices of the runs no other run beats on both (lower cost, higher gain), by cost."""
    order = np.lexsort((-gain, cost))  # by cost, the best gain first among equal costs
    idx = [i for i in order if np.isfinite(cost[i]) and np.isfinite(gain[i])]
    front: list[int] = []
    best = -math.inf
    for i in idx:
        if gain[i] > best:
            front.append(int(i))
            best = float(gain[i])
    return np.array(front, dtype=int)


def pareto(rows: Sequence[dict[str, Any]], cost: str = "capex", gain: str = "savings_year1.total") -> Any:
    c, g = _col(rows, f"m.{cost}"), _col(rows, f"m.{gain}")
    if not (np.isfinite(c) & np.isfinite(g)).any():
        return None
    front = pareto_front(c, g)
    fig = new_figure(7.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(c, g, s=14, color="#999", label="runs")
    ax.plot(c[front], g[front], "o-", color="#d62728", ms=5, label="Pareto front")
    ax.set_xlabel(cost)
    ax.set_ylabel(gain)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def pass_rates(rows: Sequence[dict[str, Any]]) -> Any:
    """Pass rates per scenario and per fault type drawn (scenario campaigns)."""
    by_sc: dict[str, list[bool]] = defaultdict(list)
    by_fault: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        if r.get("passed") is None:
            continue
        detail = json.loads(r.get("detail") or "{}")
        by_sc[str(detail.get("scenario", "?"))].append(bool(r["passed"]))
        for f in detail.get("fault_types", []):
            by_fault[f].append(bool(r["passed"]))
    if not by_sc:
        return None
    panels = [("per scenario", by_sc)] + ([("per fault type drawn", by_fault)] if by_fault else [])
    fig = new_figure(6.0 * len(panels), 0.35 * max(len(by_sc), len(by_fault)) + 1.6)
    for k, (title, data) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        names = sorted(data)
        rates = [100.0 * sum(data[n]) / len(data[n]) for n in names]
        ax.barh(range(len(names)), rates, color=["#2e7d32" if x == 100 else "#c62828" for x in rates])
        for i, n in enumerate(names):
            ax.text(1, i, f"{sum(data[n])}/{len(data[n])}", va="center", fontsize=7, color="w")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel("runs passed, %")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def distributions(rows: Sequence[dict[str, Any]], metrics: Sequence[str]) -> Any:
    """Histograms of the given metrics over the runs (those the campaign collected)."""
    have = [m for m in metrics if np.isfinite(_col(rows, f"m.{m}")).any()]
    if not have:
        return None
    fig = new_figure(5.0 * len(have), 3.4)
    for k, m in enumerate(have):
        v = _col(rows, f"m.{m}")
        v = v[np.isfinite(v)]
        ax = fig.add_subplot(1, len(have), k + 1)
        ax.hist(v, bins=min(30, max(5, v.size // 3)), color="#1f77b4")
        ax.axvline(float(np.percentile(v, 95)), color="#d62728", ls="--", lw=1, label="95th percentile")
        ax.set_xlabel(m)
        ax.set_ylabel("runs")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
