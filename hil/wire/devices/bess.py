"""The battery cabinet (PCS + BMS): SunSpec 701/704/713/715/802 and the vendor models."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import numpy as np

from hil.wire.devices.base import (
    AT_START,
    BY_REVERSION,
    BY_WATCHDOG,
    BY_WRITE,
    SQRT3,
    Arr,
    Behaviour,
    Reversion,
    _c,
    _mark,
    _units,
)
from hil.wire.devices.bess_derive import CODES as DERIVE_CODE_NAMES
from hil.wire.devices.bess_derive import ROWS as DERIVED_ROWS
from hil.wire.devices.bess_derive import derive_into
from hil.wire.devices.codes import CONTACTOR_CLOSED, LEGACY_OF_INV
from hil.wire.sunspec import symbol_bits, symbols
from hil.wire.sunspec_codes import (
    BMS_FAULT,
    CONN_ST,
    DER_MODE,
    EVT1_BMS,
    INV_RUNNING_CODES,
    OP_CTL_RUN,
    STA_713,
)
from twin import Site
from twin.site import Snapshot

_W_MODE = symbols(704, "WSetMod")
_VAR_MODE = symbols(704, "VarSetMod")
_EXT = symbols(704, "PFWInj.Ext")
_SET_INV_STATE = symbols(802, "SetInvState")
_SET_OP = symbols(802, "SetOp")
_CONN_123 = symbols(123, "Conn")
_STOR_CHARGE = symbol_bits(124, "StorCtl_Mod", ("CHARGE",))  # a bitfield
_STOR_DISCHARGE = symbol_bits(124, "StorCtl_Mod", ("DiSCHARGE",))  # so spelled in model 124
_RUNNING, _THROTTLED = (float(c) for c in INV_RUNNING_CODES)
_GFM_MODE = float(1 << DER_MODE["GRID_FORMING"])  # 701 DERMode bits
_GFL_MODE = float(1 << DER_MODE["GRID_FOLLOWING"])
# the codes the compiled derive compares with and writes, by name (bess_derive.CODES's order)
_CODE_OF = {
    "running": _RUNNING, "throttled": _THROTTLED, "contactor_closed": CONTACTOR_CLOSED,
    "bms_fault": BMS_FAULT, "sta_error": STA_713["ERROR"], "sta_warning": STA_713["WARNING"],
    "sta_ok": STA_713["OK"], "connected": CONN_ST["CONNECTED"], "disconnected": CONN_ST["DISCONNECTED"],
    "gfm_mode": _GFM_MODE, "gfl_mode": _GFL_MODE, "comm_bit": 1 << EVT1_BMS["COMMUNICATION_ERROR"],
}  # fmt: skip
_DERIVE_CODES = np.array([_CODE_OF[name] for name in DERIVE_CODE_NAMES], dtype=np.float64)
_BOOKS = ("pcs.discharge_kwh", "pcs.charge_kwh", "pcs.kvarh_inj", "pcs.kvarh_abs",
          "pcs.dc_charge_kwh", "pcs.dc_discharge_kwh")  # fmt: skip
_CELL = ("bess.v_cell_max_v", "bess.v_cell_min_v", "bess.t_cell_max_degc", "bess.t_cell_min_degc")
_ENABLE_PATHS = ("715.OpCtl", "802.SetInvState", "123.Conn")
_P_PATHS = (
    "702.WMax", "702.WChaRteMax", "702.WDisChaRteMax",
    "704.WSetEna", "704.WSetMod", "704.WSet", "704.WSetPct", "704.WMaxLimPctEna", "704.WMaxLimPct",
    "124.StorCtl_Mod", "124.WChaMax", "124.OutWRte", "124.InWRte", "123.WMaxLim_Ena", "123.WMaxLimPct",
)  # fmt: skip
_Q_PATHS = (
    "704.VarSetEna", "704.VarSetMod", "704.VarSet", "704.VarSetPct",
    "704.PFWInjEna", "704.PFWInj.PF", "704.PFWInj.Ext", "704.PFWAbsEna", "704.PFWAbs.PF", "704.PFWAbs.Ext",
    "123.OutPFSet_Ena", "123.OutPFSet",
)  # fmt: skip


class BessBehaviour(Behaviour):
    """A battery cabinet: PCS (SunSpec 701–715) and BMS (802–804), one device per cabinet."""

    kind = "bess"
    area = "BESS"
    unit_base = 10
    prefix = "PCS"
    derived_names = (
        "w", "var", "va", "pf", "a", "v_ll", "v_ln", "hz", "w_ph", "var_ph", "va_ph",
        "tot_wh_inj", "tot_wh_abs", "tot_varh_inj", "tot_varh_abs", "st", "conn_st", "der_mode",
        "hb", "der_hb", "loc_rem", "evt1", "wh_avail", "sta", "dc_wh_inj", "dc_wh_abs",
        "n_str_con", "str_a", "wcha_max", "wdischa_max", "throt_pct",
        "wset_rvrt_rem", "wmaxlimpct_rvrt_rem", "varset_rvrt_rem", "pfwinj_rvrt_rem", "pfwabs_rvrt_rem",
        "inv_st_legacy", "soc_stor_avail", "legacy_rvrt_rem", "comms_lost", "serial", "cell_v_avg", "t_avg",
    )  # fmt: skip

    @staticmethod
    def count(site: Site) -> int:
        return int(site.n_cab)

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        p = site.params
        n = self.n
        self.serials = [f"AIDC-PCS-{i + 1:04d}" for i in range(n)]
        v_nom = p.grid.v_nom_kv * 1000.0
        va = p.pcs.s_rated_kva * 1000.0
        e_nom = site.battery.capacity_kwh_nominal() * 1000.0
        cell = site.battery.cell
        v_dc_nom = cell.params.v_nom_v * p.battery.n_series
        one = np.ones(n)
        self.ratings = {
            "w_max": one * p.pcs.p_rated_kw * 1000.0,
            "va_max": one * va,
            "var_max": one * va * p.pcs.q_inject_max_pu,
            "v_nom": one * v_nom,
            "v_max": one * v_nom * 1.2,
            "a_max": one * va / (SQRT3 * v_nom),
            "wh_rtg": one * e_nom,
            "ah_rtg": one * cell.params.capacity_ah * p.battery.n_parallel,
            "v_dc_max": one * cell.params.v_max_v * p.battery.n_series,
            "v_dc_nom": one * v_dc_nom,
            "a_dc_max": one * cell.params.i_max_discharge_a * p.battery.n_parallel,
            "cell_v": one * 5.0,
            "hz_max": one * 70.0,
            "pct": one * 100.0,
            "pf": one * 1.0,
            "tmp": one * 200.0,
            "n_strings": one * p.battery.n_parallel,
            "soc_max_pct": one * 100.0 * p.bms.soc_max,
            "soc_min_pct": one * 100.0 * p.bms.soc_min,
            "rvrt_s_max": one * 86400.0,
        }  # fmt: skip
        self.commands = {
            "start": ("715.OpCtl", 1),
            "stop": ("715.OpCtl", 0),
            "alarm_reset": ("715.AlarmReset", 1),
        }
        self.enable = np.ones(n)
        self.disconnect = np.zeros(n)
        self._out = np.zeros((len(DERIVED_ROWS), n))  # the compiled derive's rows (views below)
        self._rows = {name: self._out[k] for k, name in enumerate(DERIVED_ROWS)}
        self.last_hb_t = np.full(n, -np.inf)
        self.comms_lost = np.zeros(n, dtype=bool)
        self.t = 0.0
        rv = Reversion
        self.rvrt = {
            "wset": rv(n, ena="704.WSetEna", tms="704.WSetRvrtTms", ena_rvrt="704.WSetEnaRvrt",
                       pairs=[("704.WSet", "704.WSetRvrt"), ("704.WSetPct", "704.WSetPctRvrt")]),
            "wmaxlimpct": rv(n, ena="704.WMaxLimPctEna", tms="704.WMaxLimPctRvrtTms",
                             ena_rvrt="704.WMaxLimPctEnaRvrt",
                             pairs=[("704.WMaxLimPct", "704.WMaxLimPctRvrt")]),
            "varset": rv(n, ena="704.VarSetEna", tms="704.VarSetRvrtTms", ena_rvrt="704.VarSetEnaRvrt",
                         pairs=[("704.VarSet", "704.VarSetRvrt"), ("704.VarSetPct", "704.VarSetPctRvrt")]),
            "pfwinj": rv(n, ena="704.PFWInjEna", tms="704.PFWInjRvrtTms", ena_rvrt="704.PFWInjEnaRvrt",
                         pairs=[("704.PFWInj.PF", "704.PFWInjRvrt.PF"),
                                ("704.PFWInj.Ext", "704.PFWInjRvrt.Ext")]),
            "pfwabs": rv(n, ena="704.PFWAbsEna", tms="704.PFWAbsRvrtTms", ena_rvrt="704.PFWAbsEnaRvrt",
                         pairs=[("704.PFWAbs.PF", "704.PFWAbsRvrt.PF"),
                                ("704.PFWAbs.Ext", "704.PFWAbsRvrt.Ext")]),
            # legacy model 124: InOutWRte reverts to 0 % (idle) after InOutWRte_RvrtTms
            "legacy": rv(n, ena="124.StorCtl_Mod", tms="124.InOutWRte_RvrtTms", ena_rvrt="",
                         pairs=[]),
        }  # fmt: skip

    # -- controls -> twin -----------------------------------------------------------------
    def start(self, controls: dict[str, Arr]) -> None:
        everyone = np.ones(self.n, dtype=bool)
        p_w, q_var, _ = self._commands(controls)
        self.push("pcs.enable", self.enable, everyone, AT_START)
        self.push("bms.disconnect", self.disconnect, everyone, AT_START)
        self.push("pcs.p_set_kw", p_w / 1000.0, everyone, AT_START)
        self.push("pcs.q_set_kvar", q_var / 1000.0, everyone, AT_START)

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        c, n = controls, self.n
        self.t = t
        for hb in ("802.CtrlHb", "715.ControllerHb"):
            if hb in written:
                self.last_hb_t = np.where(written[hb], t, self.last_hb_t)
        lost = np.isfinite(self.last_hb_t) & (t - self.last_hb_t > self.watchdog_s)
        newly_lost = lost & ~self.comms_lost
        self.comms_lost = lost
        reverted: dict[str, Arr] = {}  # what the reversions and the watchdog wrote this boundary
        for key, r in self.rvrt.items():
            if key == "legacy":
                fired, paths = self._legacy_reversion(c, written, dt, newly_lost)
            else:
                fired, paths = r.step(c, written, dt, newly_lost), r.paths
            if fired.any():
                _mark(reverted, paths, fired)
        # start / stop / standby (715 OpCtl, 802 SetInvState)
        if "715.OpCtl" in written:
            op = c["715.OpCtl"][:, 0]
            self.enable = np.where(written["715.OpCtl"], np.isin(op, OP_CTL_RUN).astype(float), self.enable)
        if "802.SetInvState" in written:
            s = c["802.SetInvState"][:, 0]
            started = s == _SET_INV_STATE["INVERTER_STARTED"]
            self.enable = np.where(written["802.SetInvState"], started.astype(float), self.enable)
        if "802.SetOp" in written:
            s = c["802.SetOp"][:, 0]
            off = s == _SET_OP["DISCONNECT"]
            self.disconnect = np.where(written["802.SetOp"], off.astype(float), self.disconnect)
        if "123.Conn" in written:
            s = c["123.Conn"][:, 0]
            conn = s == _CONN_123["CONNECT"]
            self.enable = np.where(written["123.Conn"], conn.astype(float), self.enable)
        self.push("pcs.enable", self.enable, _units(written, _ENABLE_PATHS, n), BY_WRITE)
        self.push("bms.disconnect", self.disconnect, _units(written, ("802.SetOp",), n), BY_WRITE)
        # alarm reset: write 1, the device clears it when done
        reset = np.zeros(n, dtype=bool)
        for path in ("802.AlmRst", "715.AlarmReset"):
            if path in c:
                hit = c[path][:, 0] > 0
                reset |= hit
                c[path][hit, 0] = 0.0
        self.push("bms.alarm_reset", np.ones(n), reset, BY_WRITE)
        # the setpoints: only for the units whose setpoint controls were written or reverted
        p_wr, p_rv = _units(written, _P_PATHS, n), _units(reverted, _P_PATHS, n)
        q_wr, q_rv = _units(written, _Q_PATHS, n), _units(reverted, _Q_PATHS, n)
        if not (p_wr.any() or p_rv.any() or q_wr.any() or q_rv.any()):
            return  # the usual tick: no setpoint touched, nothing to compute or push
        p_w, q_var, q_follows_p = self._commands(c)
        q_wr |= p_wr & q_follows_p
        q_rv |= p_rv & q_follows_p
        self.push("pcs.p_set_kw", p_w / 1000.0, p_wr | p_rv, _cause(p_wr, newly_lost))
        self.push("pcs.q_set_kvar", q_var / 1000.0, q_wr | q_rv, _cause(q_wr, newly_lost))

    def idle_horizon(self, controls: dict[str, Arr], times: Arr, dt: float) -> int:
        c = controls
        if any(path in c and bool(np.any(c[path][:, 0] > 0)) for path in ("802.AlmRst", "715.AlarmReset")):
            return 0  # an alarm reset written and not yet pushed
        k = len(times)
        watched = np.isfinite(self.last_hb_t) & ~self.comms_lost
        # the first boundary at which the heartbeat watchdog fires (none if even the last
        # boundary is within the watchdog of the oldest heartbeat: the largest difference)
        if watched.any() and len(times) and times[-1] - self.last_hb_t[watched].min() > self.watchdog_s:
            late = (times[:, None] - self.last_hb_t[None, watched]) > self.watchdog_s
            hit = late.any(axis=1)
            if hit.any():
                k = int(np.argmax(hit))
        for r in self.rvrt.values():
            k = min(k, r.idle_horizon(c, dt, k))
        return k

    def idle(self, controls: dict[str, Arr], times: Arr, dt: float, k: int) -> None:
        if k <= 0:
            return
        self.t = float(times[k - 1])
        for r in self.rvrt.values():
            r.idle(controls, dt, k)

    def _legacy_reversion(
        self, c: dict[str, Arr], written: dict[str, Arr], dt: float, force: Arr
    ) -> tuple[Arr, tuple[str, ...]]:
        paths = ("124.StorCtl_Mod", "124.OutWRte", "124.InWRte")
        if "124.InOutWRte_RvrtTms" not in c:
            return np.zeros(self.n, dtype=bool), paths
        r = self.rvrt["legacy"]
        active = c["124.StorCtl_Mod"][:, 0] > 0
        tms = c["124.InOutWRte_RvrtTms"][:, 0]
        expired = r.countdown(written, (*paths, "124.InOutWRte_RvrtTms"), active, tms, dt, force)
        if expired.any():
            for path in paths:
                c[path][expired, 0] = 0
            r.rem[expired] = 0.0
        return expired, paths

    def _commands(self, c: dict[str, Arr]) -> tuple[Arr, Arr, Arr]:
        """Active and reactive power commands (W, var) from the registers, and the units whose
        reactive command follows the active one (a power-factor mode)."""
        n = self.n
        w_rtg = self.ratings["w_max"]
        wmax = np.minimum(_c(c, "702.WMax", np.nan, n), w_rtg)
        wmax = np.where(np.isnan(wmax), w_rtg, wmax)
        p = np.zeros(n)
        q = np.zeros(n)
        q_follows_p = np.zeros(n, dtype=bool)
        if "704.WSetEna" in c:
            ena = _c(c, "704.WSetEna", 0, n) > 0
            watts = _c(c, "704.WSetMod", _W_MODE["WATTS"], n) == _W_MODE["WATTS"]
            target = np.where(watts, _c(c, "704.WSet", 0, n), _c(c, "704.WSetPct", 0, n) / 100.0 * wmax)
            p = np.where(ena, target, 0.0)
            if "704.WMaxLimPctEna" in c:
                lim = _c(c, "704.WMaxLimPctEna", 0, n) > 0
                cap = np.where(lim, _c(c, "704.WMaxLimPct", 100, n) / 100.0 * wmax, np.inf)
                p = np.clip(p, -cap, cap)
            p = np.clip(p, -_c(c, "702.WChaRteMax", np.inf, n), _c(c, "702.WDisChaRteMax", np.inf, n))
            var_max = self.ratings["var_max"]
            vena = _c(c, "704.VarSetEna", 0, n) > 0
            if vena.any():  # (a function no unit enables changes nothing: skipped, exactly)
                vt = self._var_target(c, p, wmax, var_max)
                q = np.where(vena, vt, 0.0)
            for grp, sign_p in (("PFWInj", 1.0), ("PFWAbs", -1.0)):
                pf_ena = _c(c, f"704.{grp}Ena", 0, n) > 0
                if not pf_ena.any():
                    continue
                q_follows_p |= pf_ena & ~vena
                ena_pf = pf_ena & (np.sign(p) == sign_p)
                pf = np.clip(_c(c, f"704.{grp}.PF", 1.0, n), 0.01, 1.0)
                under = _c(c, f"704.{grp}.Ext", 0, n) == _EXT["UNDER_EXCITED"]
                q_pf = np.abs(p) * np.tan(np.arccos(pf)) * np.where(under, -1.0, 1.0)
                q = np.where(ena_pf & ~vena, q_pf, q)
        elif "124.StorCtl_Mod" in c:  # legacy personality
            mod = _c(c, "124.StorCtl_Mod", 0, n).astype(int)
            wmax124 = np.minimum(_c(c, "124.WChaMax", np.nan, n), w_rtg)
            wmax124 = np.where(np.isnan(wmax124), w_rtg, wmax124)
            dis = np.where(mod & _STOR_DISCHARGE, _c(c, "124.OutWRte", 0, n) / 100.0 * wmax124, 0.0)
            ch = np.where(mod & _STOR_CHARGE, _c(c, "124.InWRte", 0, n) / 100.0 * wmax124, 0.0)
            p = dis - ch
            if "123.WMaxLim_Ena" in c:
                lim = _c(c, "123.WMaxLim_Ena", 0, n) > 0
                cap = np.where(lim, _c(c, "123.WMaxLimPct", 100, n) / 100.0 * wmax124, np.inf)
                p = np.clip(p, -cap, cap)
            if "123.OutPFSet_Ena" in c:
                pf = _c(c, "123.OutPFSet", 1.0, n)
                mag = np.clip(np.abs(pf), 0.01, 1.0)
                q_pf = np.abs(p) * np.tan(np.arccos(mag)) * np.sign(pf)
                q_follows_p = _c(c, "123.OutPFSet_Ena", 0, n) > 0
                q = np.where(q_follows_p, q_pf, q)
        return p, q, q_follows_p

    def _var_target(self, c: dict[str, Arr], p: Arr, wmax: Arr, var_max: Arr) -> Arr:
        """704 ``VarSet`` (var) or ``VarSetPct`` of the base ``VarSetMod`` names: ``WMax``,
        the var rating, the vars available at ``p`` within the VA rating, or the VA rating."""
        n = self.n
        mode = _c(c, "704.VarSetMod", _VAR_MODE["VARS"], n)
        pct = _c(c, "704.VarSetPct", 0, n) / 100.0
        va_max = self.ratings["va_max"]
        var_avail = np.minimum(np.sqrt(np.maximum(va_max * va_max - p * p, 0.0)), var_max)
        return np.select(
            [
                mode == _VAR_MODE["VARS"],
                mode == _VAR_MODE["W_MAX_PCT"],
                mode == _VAR_MODE["VAR_MAX_PCT"],
                mode == _VAR_MODE["VAR_AVAIL_PCT"],
                mode == _VAR_MODE["VA_MAX_PCT"],
            ],
            [_c(c, "704.VarSet", 0, n), pct * wmax, pct * var_max, pct * var_avail, pct * va_max],
            0.0,
        )

    # -- twin -> registers ----------------------------------------------------------------
    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        """The registers' derived values: one compiled call (:mod:`hil.wire.devices.bess_derive`)
        fills the per-unit rows; the rows are views, filled again next tick."""
        a = snap.arrays
        s = snap.scalars
        r = self.ratings
        derive_into(
            self._out, _DERIVE_CODES, bool(s["grid.breaker_closed"] <= 0), r["v_nom"], float(s["grid.v_pu"]),
            a["pcs.p_ac_kw"], a["pcs.q_ac_kvar"], itemgetter(*_BOOKS)(a),
            a["pcs.state"], a["bms.contactor"], a["bess.v_dc_v"], a["bms.alarm_bits"], a["bms.state"],
            self.comms_lost, self.local, self.site.pcs.gfm,
            a["bess.soc_pct"], r["soc_min_pct"], r["wh_rtg"], a["bms.soh_pct"], r["n_strings"],
            a["bess.i_dc_a"], a["bms.ccl_a"], a["bms.dcl_a"], itemgetter(*_CELL)(a), LEGACY_OF_INV,
        )  # fmt: skip
        t = snap.t
        rv = self.rvrt
        return {
            **self._rows,
            "hz": s["grid.f_hz"],
            "hb": float(int(t) % 65535),  # the same for every unit
            "der_hb": float(int(t) % 4294967295),
            "soc_stor_avail": self._rows["wh_avail"],
            "throt_pct": a["pcs.throttle_pct"],  # what a limit held back, % of rated; 0 unless THROTTLED
            "wset_rvrt_rem": rv["wset"].remaining,
            "wmaxlimpct_rvrt_rem": rv["wmaxlimpct"].remaining,
            "varset_rvrt_rem": rv["varset"].remaining,
            "pfwinj_rvrt_rem": rv["pfwinj"].remaining,
            "pfwabs_rvrt_rem": rv["pfwabs"].remaining,
            "legacy_rvrt_rem": rv["legacy"].remaining,
            "serial": self.serials,
        }


def _cause(written: Arr, lost: Arr) -> Arr | str:
    """Why each unit's setpoint is pushed: a write, else the heartbeat watchdog or a reversion
    (the one string when every unit was written, the usual period)."""
    if written.all():
        return BY_WRITE
    return np.where(written, BY_WRITE, np.where(lost, BY_WATCHDOG, BY_REVERSION))
