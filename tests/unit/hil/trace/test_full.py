"""The long-run trace: every signal's mean, min and max over each interval, over every tick,
computed here from the per-tick snapshots (the closed form of a mean and an extreme)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil.config import load_site
from hil.trace.full import read_trace_full
from hil.trace.store import TraceWriter, read_trace


def _run(
    tmp_path: Path, ticks: int, every: int, *, close: bool = True
) -> tuple[list[dict[str, float]], TraceWriter]:
    site = load_site("aidc_10k")  # GPU swings at 1.5 s: a 1-s mean is not any tick's value
    site.set("bess.p_set_kw", 3000.0)
    rows = []
    w = TraceWriter(tmp_path, full_every_ticks=every)
    for _ in range(ticks):
        snap = site.step()
        w.append(snap)
        rows.append(snap.to_dict())
    if close:
        w.close()
    return rows, w


def test_each_row_is_the_intervals_mean_min_and_max_over_every_tick(tmp_path: Path) -> None:
    ticks, every = 95, 10
    rows, _ = _run(tmp_path, ticks, every)
    full = read_trace_full(tmp_path)
    assert full.num_rows == 10  # nine full intervals and the last five ticks
    n = full.column("n_ticks").to_pylist()
    assert n == [10] * 9 + [5]
    starts = np.cumsum([0, *n[:-1]])
    for sig in (
        "grid.p_import_kw",
        "site.p_it_kw",
        "pcs[3].p_ac_kw",
        "gpu[100].p_kw",
        "bess[0].v_cell_max_v",
    ):
        vals = np.array([r[sig] for r in rows])
        for k, (a, m) in enumerate(zip(starts, n, strict=True)):
            seg = vals[a : a + m]
            assert full.column(sig)[k].as_py() == pytest.approx(seg.mean(), rel=1e-12, abs=1e-12)
            assert full.column(f"{sig}@min")[k].as_py() == seg.min()
            assert full.column(f"{sig}@max")[k].as_py() == seg.max()
    # the swing is in the interval's extremes, which no sample of the mean would show
    p = np.array([r["site.p_it_kw"] for r in rows[:10]])
    assert p.max() - p.min() > 100.0
    t = full.column("t_s").to_numpy()
    t0 = full.column("t_start_s").to_numpy()
    assert t[0] == pytest.approx(rows[9]["site.t_s"])
    assert t0[0] == pytest.approx(rows[0]["site.t_s"] - 0.1)
    assert np.allclose(t0[1:], t[:-1])


def test_with_a_long_run_trace_the_trace_keeps_the_single_valued_signals(tmp_path: Path) -> None:
    _run(tmp_path, 20, 10)
    main = read_trace(tmp_path)
    assert main.num_rows == 20
    assert "grid.p_import_kw" in main.column_names
    assert not any("[" in c for c in main.column_names)  # no per-unit column
    full = read_trace_full(tmp_path)
    assert len(full.column_names) > 3 * len(main.column_names)
    unit = {f.name: (f.metadata or {}).get(b"unit") for f in full.schema}
    assert unit["pcs[0].p_ac_kw@max"] == b"kW"
    assert unit["grid.f_hz@min"] == b"Hz"


def test_a_killed_run_keeps_every_completed_interval(tmp_path: Path) -> None:
    _, w = _run(tmp_path, 35, 10, close=False)  # the process "dies" before closing
    full = read_trace_full(tmp_path)  # recovered from the stream
    assert full.column("n_ticks").to_pylist() == [10, 10, 10]
    w.close()


def test_a_scenario_asks_for_it_and_the_report_says_so(tmp_path: Path) -> None:
    import asyncio
    import json

    from hil.report import build_report
    from hil.run.runner import run_scenario

    path = tmp_path / "long.yaml"
    path.write_text("scenario: long_run_trace\nsite: lab_rack\nduration: 5 s\ntrace: {full_every: 1 s}\n")
    out = tmp_path / "run"
    asyncio.run(run_scenario(path, out_dir=out, serve=False))
    full = read_trace_full(out)
    assert full.column("n_ticks").to_pylist() == [10] * 5
    assert not any("[" in c for c in read_trace(out).column_names)
    results = json.loads((out / "results.json").read_text())
    assert results["trace_full_every_s"] == pytest.approx(1.0)
    build_report(out)
    assert "trace_full.parquet" in (out / "summary.md").read_text()
    assert "trace_full.parquet" in (out / "report.html").read_text()


def test_a_misspelt_trace_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    from hil.scenario import ScenarioError, load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text("scenario: bad\nsite: lab_rack\nduration: 5 s\ntrace: {full_evry: 1 s}\n")
    with pytest.raises(
        ScenarioError, match=r"bad.yaml:4.*unknown key 'full_evry'; did you mean 'full_every'\?"
    ):
        load_scenario(path)
