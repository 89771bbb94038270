"""Adding a device is local: a chiller declared in this file alone joins the site's
snapshot, inputs, trace and energy balance, with no change anywhere in twin/ or hil/."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from twin import Signal, Site
from twin._interp import FloatArray


class Chiller:
    """A toy chiller plant: two units of ``p_unit_kw`` each, enabled per unit, with a
    first-order start (time constant ``tau_s``); on a dead bus it draws nothing."""

    name: ClassVar[str] = "chiller"
    inputs: ClassVar[tuple[Signal, ...]] = (Signal("enable", "1", "1 runs the unit, 0 stops it"),)
    outputs: ClassVar[tuple[Signal, ...]] = (
        Signal("p_kw", "kW", "electrical draw of each unit, mean over the tick"),
        Signal("p_total_kw", "kW", "electrical draw of the plant", per_unit=False),
    )

    def __init__(self, p_unit_kw: float = 150.0, tau_s: float = 5.0) -> None:
        self.p_unit_kw, self.tau_s = p_unit_kw, tau_s
        self.enable = np.ones(2)
        self.p = np.zeros(2)  # end-of-tick draw
        self.p_mean = np.zeros(2)

    def set_input(self, name: str, value: float, idx: int | None) -> None:
        assert name == "enable"
        if idx is None:
            self.enable[:] = value
        else:
            self.enable[idx] = value

    def advance(self, t0: float, dt: float, *, live: bool) -> float:
        target = self.p_unit_kw * (self.enable > 0) * live
        e = np.exp(-dt / self.tau_s)
        self.p_mean = target + (self.p - target) * self.tau_s / dt * (1.0 - e)
        self.p = target + (self.p - target) * e
        return float(self.p_mean.sum())

    def outputs_now(self) -> Mapping[str, float | FloatArray]:
        return {"p_kw": self.p_mean.copy(), "p_total_kw": float(self.p_mean.sum())}


def test_a_device_declared_outside_twin_is_in_the_snapshot_with_its_units() -> None:
    site = Site(devices=[Chiller()])
    snap = site.step(20)
    assert snap["chiller[1].p_kw"] > 0.0
    assert snap.unit("chiller[0].p_kw") == "kW"
    assert snap.unit("chiller.p_total_kw") == "kW"
    assert snap["chiller.p_total_kw"] == pytest.approx(snap["chiller[0].p_kw"] + snap["chiller[1].p_kw"])
    assert "chiller.enable" in site.input_names
    assert site.unit_count("chiller") == 2
    # its inputs work like any other: unit 1 stopped, its draw decays with the device's own lag
    site.set("chiller[1].enable", 0)
    snap = site.step(300)  # 30 s, six time constants
    assert snap["chiller[1].p_kw"] < 0.01 * snap["chiller[0].p_kw"]


def test_its_draw_is_part_of_the_bus_load_and_the_energy_balance() -> None:
    plain, chilled = Site(), Site(devices=[Chiller()])
    for _ in range(50):
        a, b = plain.step(), chilled.step()
        extra = b["chiller.p_total_kw"]
        # the same seed gives the same IT and cooling: the difference is the chiller
        assert b["site.p_facility_kw"] - a["site.p_facility_kw"] == pytest.approx(extra, rel=1e-9, abs=1e-9)
        assert b["grid.p_import_kw"] - a["grid.p_import_kw"] == pytest.approx(extra, rel=1e-6, abs=1e-6)
    bal = chilled.energy_balance()
    assert abs(bal["residual_kwh"]) <= 1e-9 * bal["supplied_kwh"] + 1e-9
    assert bal["base_kwh"] > plain.energy_balance()["base_kwh"]


def test_its_signals_reach_the_trace(tmp_path: Path) -> None:
    from hil.trace.store import TraceWriter, read_trace, read_trace_schema

    site = Site(devices=[Chiller()])
    with TraceWriter(tmp_path) as w:
        for _ in range(5):
            w.append(site.step())
    cols = read_trace(tmp_path, ["chiller[0].p_kw", "chiller.p_total_kw"])
    assert cols.num_rows == 5
    assert np.all(np.asarray(cols.column("chiller.p_total_kw")) > 0)
    unit = {f.name: (f.metadata or {}).get(b"unit") for f in read_trace_schema(tmp_path)}
    assert unit["chiller[1].p_kw"] == b"kW"


def test_a_device_that_clashes_with_a_declared_signal_is_refused() -> None:
    class Clash(Chiller):
        name: ClassVar[str] = "grid"
        outputs: ClassVar[tuple[Signal, ...]] = (Signal("p_import_kw", "kW", per_unit=False),)

    with pytest.raises(ValueError, match="declared twice"):
        Site(devices=[Clash()])
