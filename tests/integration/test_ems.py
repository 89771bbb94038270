"""The reference EMS on the wire: aidc_10k (GPU training swings on) served on loopback, paced
at 10× real time, controlled by the reference EMS as a Modbus TCP client (ModbusIO), over 18
simulated minutes around the evening peak (16:44-17:02 local, the 15-min target set under the
load so shaving is needed). The same window is run in process (GatewayIO, same seed, site and
start) in a second process at the same time: the two runs' energy costs must agree, and the
perfect-foresight optimum of the window (results.json) must save at least what the EMS saved.

Wall time ≈ 110 s (the paced run) on a 2-core machine; every server binds 127.0.0.1 on a free
port and everything stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hil.ems.check import demand_windows, energy_cost
from hil.ems.session import ModbusSession
from hil.run.ems_bench import run_paced_with_ems
from hil.run.runner import prepare_run
from hil.tariff import load_tariff
from hil.trace.store import read_events, read_trace

START = "2026-06-21T16:44"
TARGET_KW = 9500.0
SPEED = 10.0
PERIOD_S = 2.0  # both runs; 1 s works too, but the paced bench shares two cores with both EMSs
SCENARIO = f"""\
scenario: ems_evening_wire
title: reference EMS over Modbus TCP, evening peak (test)
site: aidc_10k
start: "{START}"
duration: 18 min
controller:
  name: reference
  period: {PERIOD_S:g} s
  options: {{profile: aidc_peak_shave, peak_shave: {{target_kw: {TARGET_KW:g} kW}}}}
tariff: example_cn_north_2026
trace:
  signals: [grid.p_import_kw, bess.p_ac_kw, bess.soc_pct, grid.demand_15min_max_kw, site.local_time_s,
            grid.import_kwh, grid.export_kwh, bess.discharge_kwh, bess.charge_kwh, bess.aux_kwh,
            pv.energy_kwh, bess.energy_kwh]
"""
IN_PROCESS = (  # niced: the paced bench and the wire EMS come first
    "import asyncio, os, sys\n"
    "os.nice(10)\n"
    "from hil.run.runner import AsFastAsPossible, run_scenario\n"
    "asyncio.run(run_scenario(sys.argv[1], out_dir=sys.argv[2], pacer=AsFastAsPossible(), serve=False))\n"
)
UNITS = {"meter": [1], "utility": [2], "site": [3], "bess": list(range(10, 26))}


async def _wire_run(scenario: Path, out: Path) -> tuple[Any, ModbusSession]:
    prep = prepare_run(str(scenario), controller="external", ports=(0, 0))
    return await run_paced_with_ems(
        prep,
        out,
        speed=SPEED,
        clock_start=START,
        profile="aidc_peak_shave",
        overrides={"peak_shave": {"target_kw": TARGET_KW}},
        unit_map=UNITS,
        period_s=PERIOD_S,
        timeout_s=0.5,  # 5 s simulated: a lost answer must not outlast the watchdog
    )


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.timeout(280)
async def test_reference_ems_over_modbus_matches_in_process(tmp_path: Path) -> None:
    scenario = tmp_path / "ems_evening_wire.yaml"
    scenario.write_text(SCENARIO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", IN_PROCESS, str(scenario), str(tmp_path / "inproc")
    )
    try:
        outcome, session = await _wire_run(scenario, tmp_path / "wire")
        assert await asyncio.wait_for(proc.wait(), 200) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not outcome.interrupted

    # the 15-min mean import is under the target in every complete window (one here)
    wire = demand_windows(tmp_path / "wire")
    assert wire.complete.sum() >= 1
    assert np.all(wire.complete_means() < TARGET_KW), wire.complete_means()
    demand = read_trace(tmp_path / "wire", ["grid.demand_15min_max_kw"]).column(0).to_numpy()
    assert demand[-1] < TARGET_KW  # the twin's own clock-aligned demand register agrees
    # no export: the EMS holds its *filtered* import (filter_s = 5 s) over the floor, so every
    # 5-s mean import is positive. Single 100 ms ticks dip to -5 MW with the swings and 1-s means
    # to +750 kW in a quiet run; a busy machine delays the wire reads and has taken a 1-s mean
    # to -499 kW (about 1 run in 10, 2026-12-06), which the 5-s rule allows. Measured 5-s minimum
    # on a loaded 2-core machine: 2.4-3.3 MW; a wrong sign or scale takes it far below zero.
    p = read_trace(tmp_path / "wire", ["grid.p_import_kw"]).column(0).to_numpy()
    m5 = p[: p.size // 50 * 50].reshape(-1, 50).mean(axis=1)
    i = int(m5.argmin())
    assert m5[i] > 0.0, (i * 5, m5[i], np.round(p[i * 50 : i * 50 + 50]).tolist())

    # the EMS kept its watchdogs: a heartbeat to every PCS every period, none refused or late
    assert session.units == {"meter": 1, "utility": 1, "site": 1, "bess": 16}
    assert session.writes_refused == 0
    # a timeout on a loaded machine, at most: it drops the link, the period is skipped or cut
    # short and the next read reconnects (a link drop is not a refused write)
    assert session.log.skipped + session.log.cut_short <= 0.01 * session.log.periods
    assert session.heartbeats >= 16 * session.log.periods
    assert session.log.periods >= 0.95 * (18 * 60 - 10) / PERIOD_S
    ev = read_events(tmp_path / "wire").to_pylist()
    hb_t = sorted(
        e["t_s"] for e in ev if e["kind"] == "write_accepted" and "802.CtrlHb" in (e["detail"] or "")
    )
    assert len(hb_t) >= 16 * 500
    assert np.diff(np.unique(np.round(hb_t, 1))).max() < 10.0  # the site's watchdog_s

    # the in-process run (GatewayIO) decides the same way. Both are feedback loops on a load
    # that swings ±5 MW within a 1.5 s iteration, sampled at different instants (ticks in
    # process, wall-clock reads on the wire), so over 18 minutes their storage throughput
    # differs by a few percent, more the busier the machine: measured 0.4-1.1 % apart in
    # energy cost alone on 2-core machines, 1.2 % beside a scenario run and 2.7 % in a full
    # `make test` (2026-12-06, the in-process cost identical to the bit across that day's
    # changes). The window is held to 4 %, which a wrong sign, unit or scale misses by far;
    # the full TOU day (benchmarks/ems_tou_day.py, where the arbitrage blocks fix the
    # energy) is held to the 1 % of the acceptance.
    inproc = demand_windows(tmp_path / "inproc")
    assert np.all(inproc.complete_means() < TARGET_KW)
    tariff = load_tariff("example_cn_north_2026")
    cost_wire = energy_cost(tmp_path / "wire", tariff)
    cost_in = energy_cost(tmp_path / "inproc", tariff)
    assert cost_wire == pytest.approx(cost_in, rel=0.04)
    bills = {k: json.loads((tmp_path / k / "results.json").read_text())["bill"] for k in ("wire", "inproc")}
    for k, bill in bills.items():
        # results.json bills the meter's exact books; energy_cost() holds each 100 ms sample of
        # grid.p_import_kw: the two agree to the sampling error (measured 0.005 %)
        assert bill["energy_cost"] == pytest.approx(cost_wire if k == "wire" else cost_in, rel=1e-3)
        # storage saved money, and the perfect-foresight optimum of the same window saved more
        assert bill["savings"]["total"] > 0.0, k
        assert bill["optimum"]["savings"] >= bill["savings"]["total"] - 1e-6, (k, bill["optimum"])
        assert 0.0 < bill["optimum_share"] <= 1.0 + 1e-9
