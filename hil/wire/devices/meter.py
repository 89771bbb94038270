"""The grid meter at the PCC."""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.wire.devices.ac import ac_block
from hil.wire.devices.base import SQRT3, Arr, Behaviour
from twin import Site
from twin.site import Snapshot


class MeterBehaviour(Behaviour):
    """The site's revenue meter at the point of common coupling (SunSpec 203)."""

    kind = "meter"
    area = "Site"
    unit_base = 1
    prefix = "GridMeter"
    derived_names = (
        "w",
        "var",
        "va",
        "pf",
        "a",
        "v_ln",
        "v_ll",
        "hz",
        "w_ph",
        "var_ph",
        "va_ph",
        "wh_imp",
        "wh_exp",
    )

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        p = site.params
        v_nom = p.grid.v_nom_kv * 1000.0
        peak = max(site.s_base_kva * 1000.0, 1e3) * 1.5
        self.ratings = {
            "w_max": np.array([peak]),
            "v_nom": np.array([v_nom * 1.2]),
            "a_max": np.array([peak / (SQRT3 * v_nom)]),
            "hz_max": np.array([70.0]),
            "wh_max": np.array([1e12]),
        }

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        s = snap.scalars
        v_ll = self.ratings["v_nom"][0] / 1.2 * s["grid.v_pu"]
        out = ac_block(s["grid.p_import_kw"] * 1000.0, s["grid.q_import_kvar"] * 1000.0, v_ll)
        out["hz"] = s["grid.f_hz"]
        # the twin's accumulators: each tick's mean PCC power split by sign, times dt
        out["wh_imp"] = s["grid.import_kwh"] * 1000.0
        out["wh_exp"] = s["grid.export_kwh"] * 1000.0
        return out
