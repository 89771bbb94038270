"""The site controller: the facility's aggregates as one device."""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.wire.devices.base import BY_WRITE, Arr, Behaviour
from twin import Site
from twin.site import Snapshot


class SiteBehaviour(Behaviour):
    """Site totals and the GPU racks (vendor models 64900/64901)."""

    kind = "site"
    area = "Site"
    unit_base = 3
    prefix = "Totals"
    derived_names = ("load_pct", "racks_on", "w_racks", "v_pct")

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        rack = site.gpu_rack_nominal_kw() * 1000.0
        total = max(site.s_base_kva * 1000.0, rack) * 2.0
        self.ratings = {
            "w_total": np.array([total]),
            "w_rack": np.array([rack * 1.6]),
            "hz_max": np.array([70.0]),
            "pct": np.array([200.0]),
            "tmp": np.array([100.0]),
            "n_racks": np.array([float(site.params.gpu.n_racks)]),
        }
        self.rack_nominal_w = rack * 1.35  # DGX nodes' max over typical ([C] physics.md §3)
        self.commands = {}

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        # no start(): until 64901 Smth is written the racks keep the twin's own setting
        if "64901.Smth" in written:
            self.push_scalar("gpu.smoothing", float(controls["64901.Smth"][0, 0]), BY_WRITE)

    def idle_horizon(self, controls: dict[str, Arr], times: Arr, dt: float) -> int:
        return len(times)  # acts on a write of 64901 Smth alone

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        p = snap.arrays["gpu.p_kw"] * 1000.0
        return {
            "load_pct": 100.0 * p / self.rack_nominal_w,
            "racks_on": snap.arrays["gpu.powered"],
            "w_racks": float(p.sum()),
            "v_pct": 100.0 * snap.scalars["grid.v_pu"],
        }
