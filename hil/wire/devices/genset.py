"""The standby gensets."""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.wire.devices.ac import ac_block
from hil.wire.devices.base import AT_START, BY_REVERSION, BY_WRITE, SQRT3, Arr, Behaviour, Reversion, _units
from hil.wire.devices.codes import GENSET_INV_ST, lookup
from hil.wire.sunspec_codes import OP_CTL_RUN
from twin import Site
from twin.site import Snapshot


class GensetBehaviour(Behaviour):
    """Standby gensets (SunSpec 701/702/704 as a DER), one device per unit."""

    kind = "genset"
    area = "Genset"
    unit_base = 110
    prefix = "Genset"
    derived_names = ("w", "a", "v_ll", "hz", "st", "inv_st", "tot_wh_inj", "wset_rvrt_rem", "der_hb")

    @staticmethod
    def count(site: Site) -> int:
        return int(site.genset.p.size) if site.genset is not None else 0

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        if not self.n:
            return
        p = site.params
        v_nom = p.grid.v_nom_kv * 1000.0
        w = p.genset.p_rated_kw * 1000.0  # type: ignore[union-attr]
        one = np.ones(self.n)
        self.ratings = {
            "w_max": one * w,
            "va_max": one * w / 0.8,
            "v_nom": one * v_nom,
            "a_max": one * w / 0.8 / (SQRT3 * v_nom),
            "hz_max": one * 70.0,
            "rvrt_s_max": one * 86400.0,
        }
        self.commands = {"start": ("715.OpCtl", 1), "stop": ("715.OpCtl", 0)}
        self.e = np.zeros(self.n)
        self.rvrt = Reversion(
            self.n, ena="704.WSetEna", tms="704.WSetRvrtTms", ena_rvrt="704.WSetEnaRvrt",
            pairs=[("704.WSet", "704.WSetRvrt")],
        )  # fmt: skip

    def start(self, controls: dict[str, Arr]) -> None:
        # the run command is not pushed: a genset is stopped at power-on, and its auto-start
        # (the twin's) must not be overridden by a register nobody wrote
        self._push_p_set(controls, np.ones(self.n, dtype=bool), AT_START)

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        c = controls
        fired = self.rvrt.step(c, written, dt, np.zeros(self.n, dtype=bool))
        if "715.OpCtl" in written:
            run = np.isin(c["715.OpCtl"][:, 0], OP_CTL_RUN).astype(float)
            self.push("genset.start", run, written["715.OpCtl"], BY_WRITE)
        by_write = _units(written, self.rvrt.paths, self.n)
        self._push_p_set(c, by_write | fired, np.where(by_write, BY_WRITE, BY_REVERSION))

    def idle_horizon(self, controls: dict[str, Arr], times: Arr, dt: float) -> int:
        return self.rvrt.idle_horizon(controls, dt, len(times))

    def idle(self, controls: dict[str, Arr], times: Arr, dt: float, k: int) -> None:
        self.rvrt.idle(controls, dt, k)

    def _push_p_set(self, c: dict[str, Arr], units: Arr, why: Arr | str) -> None:
        """704 WSet while WSetEna is on; with it off the genset keeps its last setpoint."""
        if "704.WSetEna" not in c:
            return
        ena = c["704.WSetEna"][:, 0] > 0
        self.push("genset.p_set_kw", c["704.WSet"][:, 0] / 1000.0, units & ena, why)

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        a = snap.arrays
        w = a["genset.p_kw"] * 1000.0
        v_ll = self.ratings["v_nom"] * snap.scalars["grid.v_pu"]
        self.e = a["genset.energy_kwh"] * 1000.0  # the twin's book: each tick's mean power, times dt
        out = ac_block(w, None, v_ll)  # served at unity power factor
        out.update(
            hz=snap.scalars["grid.f_hz"],
            st=(w > 1.0).astype(float),
            inv_st=lookup(GENSET_INV_ST, a["genset.state"]),
            tot_wh_inj=self.e,
            wset_rvrt_rem=self.rvrt.remaining,
            der_hb=float(int(snap.t) % 4294967295),  # the same for every unit
        )
        return out
