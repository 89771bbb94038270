"""The reference EMS's decisions: readings + time in, setpoints out, no I/O.

:class:`ReferenceEMS` is fed one :class:`~hil.ems.readings.Readings` per period (from the
gateway in process, or from Modbus TCP) and returns :class:`~hil.ems.readings.Commands`. The
same object makes the same decisions whichever transport fed it. The strategies of its
:class:`~hil.ems.profile.EmsProfile` combine into one fleet active-power command (kW,
+ discharge), which is then spread over the running PCSs in proportion to what each can give:

* **peak shaving** on the 15-minute mean import (the billed demand): the energy imported
  since the window started (203 ``TotWhImp``; integrated samples if the meter has none) leaves
  a budget for the rest of the window, ``P_allow = (D·T − E) / (T − τ)``; the import reference
  is ``min(D, P_allow)`` minus a margin, so a window that started over the target is pulled
  back by discharging harder late in it. Charging keeps the import under the target minus a
  larger margin, so it never sets a new peak;
* **TOU arbitrage**: in a charge period (tariff periods, or hours) the fleet charges what it
  needs to reach ``tou.soc_max_pct`` spread over what is left of the block; in a discharge
  period it discharges what it holds above the reserve spread the same way;
* **no export**: discharging never takes the import below ``no_export.min_import_kw``; when
  the load falls away (a failed job) the net-load filter snaps down at once;
* **smoothing**: the import follows a first-order filtered, ramp-limited reference of the net
  load; storage gives or takes the difference (bounded by the no-export and no-new-peak rules);
* **demand response** (64902): acknowledge an announced event, hold import under its limit
  (less a margin) from ``lead_s`` before the start, no charging meanwhile;
* **outage preparation**: the reserve is raised while a DR event is announced or active, for
  ``hold_s`` after a grid outage, or in given hours; the fleet recharges to it with headroom;
* **alarms**: a BMS warning derates the unit, a BMS fault stops it; a latched fault is reset
  after a hold-off and the unit restarted, at most ``max_resets`` times; the controller
  heartbeat and the 704 reversion timer (``WSetRvrtTms``, rearmed by the ``WSet`` write) are
  rewritten every period; grid-protection trips clear themselves and are left alone.

Islanded (grid unavailable or PCC breaker open) the EMS dispatches nothing (setpoint 0) and
keeps its watchdogs alive; the site's own transfer logic runs the island.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from twin.econ import Tariff

from ._common import (
    BMS_CONNECTED,
    BMS_FAULT,
    BMS_WARNING_BITS,
    DR_ACTIVE,
    DR_PENDING,
    GRID_ALARM_BITS,
    INV_FAULT,
    INV_RUNNING,
    INV_STANDBY,
    INV_THROTTLED,
    HourRanges,
    in_hours,
)
from .profile import EmsProfile
from .readings import Commands, PcsCommand, Readings

__all__ = ["ReferenceEMS"]

log = logging.getLogger(__name__)

_QUARTER_S = 900.0
_ETA = 0.95  # one-way efficiency assumed when planning energy (economics.md §5.1)


@dataclass
class _Unit:
    """What the EMS remembers about one PCS between periods."""

    name: str
    running: bool = False
    faulted: bool = False
    grid_trip_only: bool = False
    bms_fault: bool = False
    warning: bool = False
    local: bool = False
    soc: float = 50.0
    wh_rtg: float = 0.0
    cap_dis_w: float = 0.0
    cap_ch_w: float = 0.0
    fault_since: float | None = None
    last_reset: float = -math.inf
    resets: int = 0
    running_since: float | None = None
    gave_up: bool = False
    stopped_by_us: bool = False


class ReferenceEMS:
    """The reference EMS's decision core (see the module docstring)."""

    def __init__(
        self,
        profile: EmsProfile,
        *,
        tariff: Tariff | None = None,
        charge_hours: HourRanges | None = None,
        discharge_hours: HourRanges | None = None,
    ) -> None:
        self.profile = profile
        ch, dis, tar = profile.resolve_tou()
        self.tariff = tariff if tariff is not None else tar
        self.charge_hours = ch if charge_hours is None else charge_hours
        self.discharge_hours = dis if discharge_hours is None else discharge_hours
        ps = profile.peak_shave
        self.target_kw: float | None = ps.target_kw if ps is not None else None
        self.units: dict[str, _Unit] = {}
        self.hb = 0
        self.net_f: float | None = None
        self.net_slow: float | None = None
        self._drops = 0
        self._t_prev: float | None = None
        self._learn: list[float] = []
        self._learn_t0: float | None = None
        self._win: int | None = None
        self._wh0 = 0.0
        self._e_int = 0.0
        self._last_wh: tuple[float, float] | None = None
        self._outage_t: float | None = None
        self._acked: set[int] = set()
        self._tou_cache: dict[int, tuple[str | None, float]] = {}
        self.window_max_kw = 0.0  # highest completed 15-min mean import seen
        self._win_e_prev: tuple[int, float] | None = None

    # -- the period ---------------------------------------------------------------------
    def decide(self, r: Readings) -> Commands:
        p = self.profile
        out = Commands()
        dt = p.period_s if self._t_prev is None else max(r.t_s - self._t_prev, 1e-6)
        self._t_prev = r.t_s
        imp_w = r.get("203.W")
        if imp_w is None:
            imp_w = r.get("64900.GridW")
        imp = (imp_w or 0.0) / 1000.0
        bess = sum((u.get("701.W") or 0.0) for u in r.pcs) / 1000.0
        if not r.pcs and r.get("64900.BessW") is not None:
            bess = (r.get("64900.BessW") or 0.0) / 1000.0
        net = imp + bess
        islanded = self._islanded(r)
        self.hb = (self.hb + 1) % 65535
        self._refresh_units(r)
        self._faults(r.t_s, out, islanded)
        dr_lim = self._demand_response(r, out)
        if islanded:
            self._outage_t = r.t_s
            fleet, floor = 0.0, p.soc.reserve_pct
        else:
            self._filter(net, imp, dt)
            self._learn_target(r.t_s)
            fleet, floor = self._fleet(r, imp, dt, dr_lim, out)
        self._dispatch(r, fleet, floor, out)
        out.figures.update(
            {
                "t_s": r.t_s,
                "import_kw": imp,
                "net_kw": net,
                "net_filtered_kw": self.net_f if self.net_f is not None else math.nan,
                "target_kw": self.target_kw if self.target_kw is not None else math.nan,
                "dr_limit_kw": dr_lim if dr_lim is not None else math.nan,
                "command_kw": fleet,
                "islanded": float(islanded),
                "soc_pct": self._fleet_soc(),
            }
        )
        return out

    # -- inputs ------------------------------------------------------------------------------
    @staticmethod
    def _islanded(r: Readings) -> bool:
        avail = r.get("64902.GridAvail")
        if avail is None:
            avail = r.get("64900.GridAvail")
        brk = r.get("64900.BrkSt")
        return (avail is not None and avail < 0.5) or (brk is not None and brk < 0.5)

    def _filter(self, net: float, imp: float, dt: float) -> None:
        p = self.profile
        alpha = min(1.0, dt / p.filter_s)
        self.net_f = net if self.net_f is None else self.net_f + alpha * (net - self.net_f)
        ne = p.no_export
        if ne is not None:
            dropped = net < self.net_f - ne.guard_drop_frac * abs(self.net_f)
            self._drops = self._drops + 1 if (imp < ne.min_import_kw and dropped) else 0
            if self._drops >= ne.guard_confirm_n:
                self.net_f = net  # the load fell away (a failed job): stop discharging into the grid
        sm = p.smoothing
        if sm is not None:
            if self.net_slow is None:
                self.net_slow = self.net_f
            step = (self.net_f - self.net_slow) * min(1.0, dt / sm.tau_s)
            if sm.ramp_kw_per_s is not None:
                lim = sm.ramp_kw_per_s * dt
                step = min(max(step, -lim), lim)
            self.net_slow += step

    def _learn_target(self, t: float) -> None:
        ps = self.profile.peak_shave
        if ps is None or self.target_kw is not None or self.net_f is None:
            return
        self._learn_t0 = t if self._learn_t0 is None else self._learn_t0
        self._learn.append(self.net_f)
        if t - self._learn_t0 >= ps.learn_s - 1e-9:
            self.target_kw = ps.learn_frac * float(np.percentile(self._learn, ps.learn_percentile))
            self._learn.clear()
            log.info("reference EMS: learned 15-min demand target %.1f kW", self.target_kw)

    def _window(self, r: Readings, imp: float, dt: float) -> tuple[float, float]:
        """(energy imported so far in this demand window in kWh, seconds into it)."""
        ps = self.profile.peak_shave
        span = ps.window_s if ps is not None else _QUARTER_S
        w = math.floor(r.local_s / span)
        tau = r.local_s - w * span
        wh = r.get("203.TotWhImp")
        if wh is not None:
            if w != self._win:
                last = self._last_wh
                if last is not None and math.floor(last[0] / span) == w - 1 and r.local_s > last[0]:
                    f = (w * span - last[0]) / (r.local_s - last[0])
                    self._wh0 = last[1] + f * (wh - last[1])
                else:  # started mid-window: take the unseen part as on target
                    seen = max(imp, 0.0) if self.target_kw is None else self.target_kw
                    self._wh0 = wh - seen * 1000.0 * tau / 3600.0
            self._last_wh = (r.local_s, wh)
            e = (wh - self._wh0) / 1000.0
        else:
            if w != self._win:
                seen = max(imp, 0.0) if self.target_kw is None else self.target_kw
                self._e_int = seen * tau / 3600.0
            else:
                self._e_int += max(imp, 0.0) * dt / 3600.0
            e = self._e_int
        if w != self._win and self._win_e_prev is not None and self._win is not None:
            self.window_max_kw = max(self.window_max_kw, self._win_e_prev[1] * 3600.0 / span)
        self._win = w
        self._win_e_prev = (w, e)
        return e, tau

    # -- units, faults, demand response ---------------------------------------------------
    def _refresh_units(self, r: Readings) -> None:
        a = self.profile.alarms
        for pr in r.pcs:
            u = self.units.get(pr.name)
            if u is None:
                u = self.units[pr.name] = _Unit(pr.name)
            inv = pr.get("701.InvSt")
            alrm = int(pr.get("701.Alrm") or 0)
            bms = pr.get("802.State")
            evt = int(pr.get("802.Evt1") or 0)
            u.local = (pr.get("715.LocRemCtl") or 0.0) > 0.5
            u.running = inv in (INV_RUNNING, INV_THROTTLED, INV_STANDBY) and bms in (None, BMS_CONNECTED)
            u.bms_fault = bms == BMS_FAULT
            u.faulted = inv == INV_FAULT or u.bms_fault
            u.grid_trip_only = inv == INV_FAULT and not u.bms_fault and (alrm & ~GRID_ALARM_BITS) == 0
            u.warning = bool(evt & BMS_WARNING_BITS)
            socs = [s for s in (pr.get("713.SoC"), pr.get("802.SoC")) if s is not None]
            u.soc = min(socs) if socs else 50.0  # the lower of the PCS's and the BMS's view
            u.wh_rtg = pr.get("713.WHRtg") or pr.get("802.WHRtg") or 0.0
            rtg = pr.get("702.WMaxRtg")
            lim_dis = [rtg, pr.get("702.WDisChaRteMax"), pr.get("702.WMax")]
            lim_ch = [rtg, pr.get("702.WChaRteMax"), pr.get("702.WMax")]
            bms_dis, bms_ch = pr.get("802.WDisChaRteMax"), pr.get("802.WChaRteMax")
            if bms_dis is not None:
                lim_dis.append(0.97 * bms_dis)  # DC-side BMS limit; a little AC-side headroom
            if bms_ch is not None:
                lim_ch.append(0.97 * bms_ch)
            k = a.derate_frac if u.warning else 1.0
            dis = [v for v in lim_dis if v is not None]
            ch = [v for v in lim_ch if v is not None]
            u.cap_dis_w = k * max(0.0, min(dis)) if (u.running and dis) else 0.0
            u.cap_ch_w = k * max(0.0, min(ch)) if (u.running and ch) else 0.0
            if u.running:
                u.running_since = r.t_s if u.running_since is None else u.running_since
                if r.t_s - u.running_since >= a.reset_window_s and (u.resets or u.gave_up):
                    u.resets, u.gave_up = 0, False
            else:
                u.running_since = None

    def _faults(self, t: float, out: Commands, islanded: bool) -> None:
        """Stop a unit whose BMS faulted; reset latched faults after a hold-off, at most
        ``max_resets`` times, and restart; leave grid-protection trips to clear themselves."""
        a = self.profile.alarms
        for u in self.units.values():
            cmd = PcsCommand(u.name)
            out.pcs.append(cmd)
            if u.local:
                continue
            if not u.faulted:
                u.fault_since = None
                continue
            if u.bms_fault and a.stop_on_bms_fault and not u.stopped_by_us:
                cmd.op = "stop"
                u.stopped_by_us = True
                out.notes.append(f"{u.name}: BMS fault, stop")
            if u.grid_trip_only or islanded:
                u.fault_since = None
                continue
            u.fault_since = t if u.fault_since is None else u.fault_since
            hold = a.reset_holdoff_s - 1e-9
            if t - u.fault_since < hold or t - u.last_reset < hold:
                continue
            if u.resets >= a.max_resets:
                if not u.gave_up:
                    u.gave_up = True
                    out.notes.append(f"{u.name}: fault persists after {u.resets} resets; left for service")
                continue
            cmd.alarm_reset = True
            cmd.bms_alarm_reset = u.bms_fault
            cmd.op = "start"
            u.stopped_by_us = False
            u.resets += 1
            u.last_reset = t
            out.notes.append(f"{u.name}: alarm reset {u.resets}/{a.max_resets} and start")

    def _demand_response(self, r: Readings, out: Commands) -> float | None:
        """Acknowledge an announced event; its import limit (kW) while it applies."""
        dr = self.profile.demand_response
        state = r.get("64902.DRSt")
        if dr is None or state not in (DR_PENDING, DR_ACTIVE):
            return None
        eid = int(r.get("64902.DRId") or 0)
        if eid > 0 and (r.get("64902.DRAck") or 0) != eid:
            out.dr_ack = eid
            if eid not in self._acked:
                self._acked.add(eid)
                out.notes.append(f"DR event {eid} acknowledged")
        lim_w = r.get("64902.DRLimW")
        if lim_w is None:
            return None
        if state == DR_ACTIVE:
            return lim_w / 1000.0
        start_in = r.get("64902.DRStrRem")
        if start_in is not None and start_in <= dr.lead_s:
            return lim_w / 1000.0
        return None

    # -- the fleet command ------------------------------------------------------------------
    def _reserve(self, r: Readings) -> tuple[float, bool]:
        """The reserve SoC now, and whether outage preparation raised it."""
        p = self.profile
        base = p.soc.reserve_pct
        op = p.outage_prep
        if op is None:
            return base, False
        hour = (r.local_s / 3600.0) % 24.0
        dr_on = op.on_dr and r.get("64902.DRSt") in (DR_PENDING, DR_ACTIVE)
        recent = self._outage_t is not None and r.t_s - self._outage_t <= op.hold_s
        raised = dr_on or recent or in_hours(hour, op.hours)
        return (max(base, op.reserve_pct) if raised else base), raised

    def _tou_mode(self, local_s: float) -> tuple[str | None, float]:
        """("charge" | "discharge" | None, local time the block ends)."""
        q = math.floor(local_s / _QUARTER_S)
        hit = self._tou_cache.get(q)
        if hit is None:
            mode = self._tou_at(q)
            end = q + 1
            while mode is not None and end < q + 96 and self._tou_at(end) == mode:
                end += 1
            hit = (mode, end * _QUARTER_S)
            if len(self._tou_cache) > 10_000:
                self._tou_cache.clear()
            self._tou_cache[q] = hit
        return hit

    def _tou_at(self, q: int) -> str | None:
        t = self.profile.tou
        if t is None:
            return None
        hour = (q * _QUARTER_S / 3600.0) % 24.0
        if self.tariff is not None:
            ts = np.array([int(q * _QUARTER_S)], dtype="datetime64[s]")
            name = self.tariff.period_names[int(self.tariff.period_index(ts)[0])]
            if name in t.discharge_periods or in_hours(hour, self.discharge_hours):
                return "discharge"
            if name in t.charge_periods or in_hours(hour, self.charge_hours):
                return "charge"
            return None
        if in_hours(hour, self.discharge_hours):
            return "discharge"
        if in_hours(hour, self.charge_hours):
            return "charge"
        return None

    def _fleet(  # noqa: C901 - over 15 branches before the gate; to split
        self, r: Readings, imp: float, dt: float, dr_lim: float | None, out: Commands
    ) -> tuple[float, float]:
        """Fleet active power (kW, + discharge) and the SoC floor for discharging."""
        p = self.profile
        net = self.net_f if self.net_f is not None else 0.0
        running = [u for u in self.units.values() if u.running and not u.local]
        cap_dis = sum(u.cap_dis_w for u in running) / 1000.0
        cap_ch = sum(u.cap_ch_w for u in running) / 1000.0
        soc = self._fleet_soc()
        wh = sum(u.wh_rtg for u in running) / 1000.0  # kWh
        reserve, raised = self._reserve(r)
        floor = reserve
        # import references: discharge down to imp_ref, charge only under imp_ch
        imp_ref, imp_ch = math.inf, math.inf
        ps = p.peak_shave
        if ps is not None:
            e, tau = self._window(r, imp, dt)
            if self.target_kw is not None:
                d = self.target_kw
                rem = max(ps.window_s - tau, ps.min_rem_s)
                p_allow = (d * ps.window_s / 3600.0 - e) * 3600.0 / rem
                margin = ps.margin_kw + ps.margin_frac * d
                ch_margin = ps.charge_margin_kw + ps.charge_margin_frac * d
                imp_ref = min(d, p_allow) - margin
                imp_ch = min(d, p_allow) - ch_margin
                out.figures["window_mean_kw"] = e * 3600.0 / tau if tau > 1.0 else math.nan
                out.figures["window_allow_kw"] = p_allow
            else:
                imp_ch = -math.inf  # no target yet: no charging that could set one
        dr = p.demand_response
        if dr_lim is not None and dr is not None:
            imp_ref = min(imp_ref, dr_lim - dr.margin_frac * abs(dr_lim))
            imp_ch = -math.inf  # an event is no time to add load
            if dr.soc_floor_pct is not None:
                floor = dr.soc_floor_pct
            elif raised:
                floor = p.soc.reserve_pct  # the event may use what outage prep holds back
        min_imp = p.no_export.min_import_kw if p.no_export is not None else -math.inf
        imp_ref = max(imp_ref, min_imp)
        out.figures["import_ref_kw"] = imp_ref if math.isfinite(imp_ref) else math.nan

        cmd = 0.0
        if p.smoothing is not None and self.net_slow is not None:
            sm = self.net_f - self.net_slow if self.net_f is not None else 0.0
            if p.smoothing.max_kw is not None:
                sm = min(max(sm, -p.smoothing.max_kw), p.smoothing.max_kw)
            cmd += sm
        mode, block_end = self._tou_mode(r.local_s) if p.tou is not None else (None, 0.0)
        if p.tou is not None and mode is not None:
            hours = max((block_end - r.local_s) / 3600.0 - p.tou.plan_margin_h, p.period_s / 3600.0)
            if mode == "discharge":
                e_avail = max(soc - floor, 0.0) / 100.0 * wh * _ETA
                cmd += min(p.tou.discharge_max_frac * cap_dis, e_avail / hours)
            elif soc < p.tou.soc_max_pct:
                e_need = (p.tou.soc_max_pct - soc) / 100.0 * wh / _ETA
                cmd -= min(p.tou.charge_max_frac * cap_ch, e_need / hours)
        if mode != "discharge" and cmd <= 0.0:
            top = max(p.soc.target_pct, reserve)
            if soc < top:
                frac = p.soc.recharge_frac
                if raised and soc < reserve and p.outage_prep is not None:
                    frac = max(frac, p.outage_prep.charge_frac)
                cmd = min(cmd, -frac * cap_ch)
        # the rules: charging only under imp_ch; discharge down to imp_ref; no export
        if cmd < 0.0:
            cmd = min(0.0, max(cmd, net - imp_ch))
        if math.isfinite(imp_ref):
            cmd = max(cmd, net - imp_ref)
        if math.isfinite(min_imp):
            cmd = min(cmd, net - min_imp)
        out.figures["tou_mode"] = {"charge": -1.0, "discharge": 1.0}.get(mode or "", 0.0)
        out.figures["reserve_pct"] = reserve
        return cmd, floor

    def _fleet_soc(self) -> float:
        run = [u for u in self.units.values() if u.running]
        return sum(u.soc for u in run) / len(run) if run else 100.0

    # -- spreading it over the units --------------------------------------------------------
    def _dispatch(self, r: Readings, p_kw: float, floor: float, out: Commands) -> None:
        """Spread the fleet command over the running units in proportion to what each can do,
        tapered at the SoC bounds; every unit gets its configuration, heartbeat and WSet."""
        p = self.profile
        taper = p.soc.taper_pct
        top = p.soc.max_pct
        caps: dict[str, float] = {}
        for u in self.units.values():
            if p_kw >= 0:
                caps[u.name] = u.cap_dis_w * min(max((u.soc - floor) / taper, 0.0), 1.0)
            else:
                caps[u.name] = u.cap_ch_w * min(max((top - u.soc) / taper, 0.0), 1.0)
        total = sum(caps.values())
        p_w = min(abs(p_kw) * 1000.0, total)
        sign = 1.0 if p_kw >= 0 else -1.0
        cfg = {
            "704.WSetMod": 1.0,
            "704.WSetEna": 1.0,
            "704.WSetRvrt": 0.0,
            "704.WSetEnaRvrt": 0.0,
            "704.WSetRvrtTms": p.alarms.revert_s,
        }
        readings = {pr.name: pr for pr in r.pcs}
        for cmd in out.pcs:
            u = self.units[cmd.name]
            if u.local:
                continue
            pr = readings[cmd.name]
            for key, value in cfg.items():
                cur = pr.get(key)
                if cur is None or abs(cur - value) > 1e-6:
                    cmd.config[key] = value
            if (
                cmd.op is None
                and not u.faulted
                and not u.stopped_by_us
                and (pr.get("715.OpCtl") or 0.0) != 1.0
            ):
                cmd.op = "start"
                out.notes.append(f"{u.name}: start")
            cmd.heartbeat = self.hb
            sp = 0.0 if total <= 0 or not u.running else sign * p_w * caps[u.name] / total
            cmd.wset_w = float(round(sp))
