"""The PV inverter."""

from __future__ import annotations

from typing import Any

import numpy as np

from hil.wire.devices.ac import ac_block
from hil.wire.devices.base import AT_START, BY_REVERSION, BY_WRITE, SQRT3, Arr, Behaviour, Reversion, _units
from hil.wire.sunspec_codes import CONN_ST, INV_FAULT, INV_RUNNING, INV_ST, INV_THROTTLED
from twin import Site
from twin.site import Snapshot


class PvBehaviour(Behaviour):
    """The PV plant's inverter (one device), curtailed by 704 WMaxLimPct."""

    kind = "pv"
    area = "PV"
    unit_base = 100
    prefix = "PV01"
    derived_names = (
        "w",
        "a",
        "v_ll",
        "hz",
        "st",
        "inv_st",
        "tot_wh_inj",
        "dc_w",
        "wmaxlimpct_rvrt_rem",
        "conn_st",
    )

    @staticmethod
    def count(site: Site) -> int:
        return 1 if site.pv is not None else 0

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        if not self.n:
            return
        p = site.params
        pv = p.pv
        assert pv is not None  # n is 1 only with a PV plant
        va = pv.s_inverter_kva * 1000.0
        v_nom = p.grid.v_nom_kv * 1000.0
        self.ratings = {
            "w_max": np.array([min(pv.p_dc_stc_kw * 1000.0, va)]),
            "va_max": np.array([va]),
            "v_nom": np.array([v_nom]),
            "a_max": np.array([va / (SQRT3 * v_nom)]),
            "w_dc_max": np.array([pv.p_dc_stc_kw * 1000.0 * 1.2]),
            "hz_max": np.array([70.0]),
            "pct": np.array([100.0]),
            "rvrt_s_max": np.array([86400.0]),
        }
        self.e = np.zeros(1)
        self.rvrt = Reversion(
            1, ena="704.WMaxLimPctEna", tms="704.WMaxLimPctRvrtTms", ena_rvrt="704.WMaxLimPctEnaRvrt",
            pairs=[("704.WMaxLimPct", "704.WMaxLimPctRvrt")],
        )  # fmt: skip

    def start(self, controls: dict[str, Arr]) -> None:
        self.push_scalar("pv.p_limit_pct", self._limit(controls), AT_START)

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        fired = self.rvrt.step(controls, written, dt, np.zeros(1, dtype=bool))
        if _units(written, self.rvrt.paths, 1)[0]:
            self.push_scalar("pv.p_limit_pct", self._limit(controls), BY_WRITE)
        elif fired[0]:
            self.push_scalar("pv.p_limit_pct", self._limit(controls), BY_REVERSION)

    def idle_horizon(self, controls: dict[str, Arr], times: Arr, dt: float) -> int:
        return self.rvrt.idle_horizon(controls, dt, len(times))

    def idle(self, controls: dict[str, Arr], times: Arr, dt: float, k: int) -> None:
        self.rvrt.idle(controls, dt, k)

    @staticmethod
    def _limit(controls: dict[str, Arr]) -> float:
        """The curtailment 704 WMaxLimPct commands (100 % while it is not enabled)."""
        if "704.WMaxLimPctEna" in controls and controls["704.WMaxLimPctEna"][0, 0] > 0:
            return float(controls["704.WMaxLimPct"][0, 0])
        return 100.0

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        s = snap.scalars
        w = s["pv.p_ac_kw"] * 1000.0
        v_ll = self.ratings["v_nom"][0] * s["grid.v_pu"]
        self.e[0] = s["pv.energy_kwh"] * 1000.0  # the twin's book: each tick's mean AC power, times dt
        tripped = s.get("pv.tripped", 0.0) > 0
        producing = w > 1.0
        lim = controls.get("704.WMaxLimPctEna")
        throttled = lim is not None and lim[0, 0] > 0
        if tripped:
            inv = INV_FAULT
        elif producing:
            inv = INV_THROTTLED if throttled else INV_RUNNING
        else:
            inv = INV_ST["SLEEPING"]
        out = ac_block(w, None, v_ll)  # the PV inverter runs at unity power factor
        out.update(
            hz=s["grid.f_hz"],
            st=float(producing),
            inv_st=float(inv),
            conn_st=float(CONN_ST["DISCONNECTED"] if tripped else CONN_ST["CONNECTED"]),
            tot_wh_inj=self.e,
            dc_w=(s["pv.p_ac_kw"] + s.get("pv.loss_kw", 0.0)) * 1000.0,
            wmaxlimpct_rvrt_rem=self.rvrt.remaining,
        )
        return out
