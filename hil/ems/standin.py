"""A scripted stand-in EMS that drives the site through the gateway, as a wire client would.

Every shipped scenario needs *some* controller on the other side of the protocol servers until
a reference EMS exists, and the scenario expectations need to be shown to catch a bad one. This
stand-in is deliberately simple but competent: it reads decoded point values from the devices'
registers and writes with :meth:`Gateway.write_value` / :meth:`Gateway.command` only
(:class:`~hil.ems.standin_io.PointClient`), so
everything it does is visible in the gateway's write log and would work unchanged over Modbus
or OPC UA. It never touches the twin.

What "good" does, every ``period_s`` (default 1 s):

* controller heartbeat (``802.CtrlHb``) and 704 ``WSet`` reversion armed (``WSetRvrtTms``,
  safe setpoint 0), ``WSet`` rewritten every period so the timer never fires while it lives;
* peak shaving: grid import is held at ``limit_kw`` (given, or learned as ``learn_frac`` of the
  mean net load over the first ``learn_s``), spread over the running PCSs in proportion to
  what each can give (rating, 702 settings, BMS limits from 802), never below the SoC reserve;
* gentle recharge below ``soc_target_pct`` while import is under the limit; the net load is
  filtered over ``filter_s``, except that it snaps down when the load falls away and the site
  starts exporting (a failed training job), so storage does not export for the filter's length;
* demand response (64902): acknowledge the event, keep import under its limit while it lasts;
* optional TOU arbitrage (``charge_hours`` / ``discharge_hours``);
* faults: alarm reset after a hold-off and re-start, at most ``max_resets`` times per unit;
  grid-protection trips clear themselves and are left alone;
* grid outage (64902 ``GridAvail`` = 0 or 64900 ``BrkSt`` open): no dispatch, the PCSs that
  still run are grid-forming and follow the load by droop. Gensets that did not start by
  themselves are started; the running gensets' setpoints (or, with none, the grid-forming
  PCSs') are trimmed slowly to bring the island back to nominal frequency. Once the breaker
  has closed again, normal operation resumes and the gensets it started are stopped. SoC may go
  below the reserve in the island: that is what the reserve is for.

The misbehaving modes exist to prove that scenario expectations catch bad EMSs:
``ignore_dr`` (never acks nor limits for demand response), ``no_revert`` (no heartbeat, no
reversion timers: a silent EMS leaves the PCS at its last setpoint) and ``over_discharge``
(shaves all import and ignores its SoC reserve).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from hil.ems._common import (
    BMS_CONNECTED,
    BMS_FAULT,
    DR_ACTIVE,
    DR_PENDING,
    GRID_ALARM_BITS,
    INV_FAULT,
    INV_OFF,
    INV_RUNNING,
    INV_STANDBY,
    INV_THROTTLED,
    in_hours,
    parse_hours,
)
from hil.wire.gateway import Device, Gateway

from ..errors import did_you_mean
from .batch_read import BatchReader
from .standin_io import PointClient
from .standin_options import MODES, StandInOptions

__all__ = ["MODES", "StandIn", "StandInOptions", "in_hours", "parse_hours"]

log = logging.getLogger(__name__)

#: the PCS points a period reads, in one batch (the configuration points with them: a period
#: reads each before it would rewrite it)
_PCS_READS = (
    "701.InvSt", "701.Alrm", "701.W", "802.State", "715.LocRemCtl", "715.OpCtl", "713.SoC", "802.SoC",
    "702.WMax", "702.WDisChaRteMax", "702.WChaRteMax", "802.WDisChaRteMax", "802.WChaRteMax",
    "704.WSetMod", "704.WSetEna", "704.WSetRvrt", "704.WSetEnaRvrt", "704.WSetRvrtTms",
)  # fmt: skip
#: the genset points a period reads, in one batch
_GENSET_READS = ("701.InvSt", "704.WSetEna", "704.WSet")


@dataclass
class _Pcs:
    """What the stand-in knows about one battery PCS, refreshed from its registers."""

    dev: Device
    w_rtg: float = 0.0
    running: bool = False
    faulted: bool = False
    grid_trip_only: bool = False
    local: bool = False
    soc: float = 0.0
    cap_dis_w: float = 0.0
    cap_ch_w: float = 0.0
    fault_since: float | None = None
    last_reset: float = -math.inf
    resets: int = 0
    running_since: float | None = None
    gave_up: bool = False
    setpoint_w: float = 0.0
    trim_w: float = 0.0  # islanded: setpoint that brings the island back to nominal frequency


@dataclass
class _Genset:
    dev: Device
    w_rtg: float = 0.0
    started_by_us: bool = False
    p_set_w: float = 0.0


class StandIn(PointClient):
    """The scripted stand-in EMS (see the module docstring for what each mode does)."""

    name = "standin"

    def __init__(
        self, gateway: Gateway, *, mode: str = "good", period_s: float = 1.0, **options: Any
    ) -> None:
        if mode not in MODES:
            tail = did_you_mean(mode, list(MODES))
            raise ValueError(f"StandIn: unknown mode {mode!r}{tail} (modes: {', '.join(MODES)})")
        if not period_s > 0:
            raise ValueError(f"StandIn: period_s must be > 0, got {period_s!r}")
        super().__init__(gateway)
        self.mode = mode
        self.period_s = float(period_s)
        self.opt = StandInOptions.from_kwargs(options)
        self.silenced = False
        self.actions: list[tuple[float, str, str]] = []  # t, device, what (acks, resets, starts)
        self.limit_kw: float | None = self.opt.limit_kw
        by_kind: dict[str, list[Device]] = {}
        for d in gateway.devices:
            by_kind.setdefault(d.kind, []).append(d)
        pcs = by_kind.get("bess", [])
        if pcs and "704.WSet" not in pcs[0].group.by_key:
            raise ValueError(
                "StandIn drives battery PCSs through SunSpec 704; the legacy personality "
                "(models 120-124) is not supported"
            )
        self.pcs = [_Pcs(d) for d in pcs]
        self.gensets = [_Genset(d) for d in by_kind.get("genset", [])]
        self.totals = next(iter(by_kind.get("site", [])), None)
        self.meter = next(iter(by_kind.get("meter", [])), None)
        self.utility = next(iter(by_kind.get("utility", [])), None)
        self._pcs_reader = BatchReader([u.dev for u in self.pcs], _PCS_READS) if self.pcs else None
        self._gen_reader = BatchReader([g.dev for g in self.gensets], _GENSET_READS) if self.gensets else None
        for u in self.pcs:
            u.w_rtg = self._read(u.dev, "702.WMaxRtg") or 0.0
        for g in self.gensets:
            g.w_rtg = self._read(g.dev, "702.WMaxRtg") or 0.0
        self.f_nom = self.opt.f_nom_hz
        self._next_act: float | None = None
        self._hb = 0
        self._imp_sum = 0.0
        self._bess_sum = 0.0
        self._n_samples = 0
        self._net_f: float | None = None
        self._learn_sum = 0.0
        self._learn_n = 0
        self._learn_t = 0.0
        self._outage_since: float | None = None
        self._acked: set[int] = set()
        self.last: dict[str, float] = {}  # the last period's decision figures, for traces
        # what the per-tick sample reads (_instant), in the order it falls back; a chunked run
        # keeps the first of each fresh every tick (observes): a mapped point is encoded from a
        # finite twin value clipped to its type, so it never reads as not implemented and the
        # fallbacks after it are not taken at run time
        self._imp_reads = self._mapped([(self.totals, "64900.GridW"), (self.meter, "203.W")])
        self._bess_reads = self._mapped([(self.totals, "64900.BessW")])
        self._pcs_w_reads = self._mapped([(u.dev, "701.W") for u in self.pcs])
        reads = [*self._imp_reads[:1], *(self._bess_reads[:1] or self._pcs_w_reads)]
        self.observes = frozenset((d.kind, key) for d, key in reads)

    # -- the runner's hooks ---------------------------------------------------------------
    def on_tick(self, t_s: float) -> None:
        """Sample import every tick (a demand meter integrates; one sample a second aliases the
        1.5 s training iteration) and act every ``period_s``."""
        if self.silenced:
            self._reset_samples()
            return
        self._sample()
        if self._next_act is None or t_s >= self._next_act - 1e-9:
            self._next_act = t_s + self.period_s
            self._act(t_s)
            self._reset_samples()

    def quiet_until(self) -> float:
        """At a boundary before this time (the next period's) :meth:`on_tick` only samples
        (:meth:`observe`), so a run may advance to it in one chunk."""
        return -math.inf if self._next_act is None else self._next_act - 1e-9

    def _mapped(self, reads: list[tuple[Device | None, str]]) -> list[tuple[Device, str]]:
        return [(d, key) for d, key in reads if d is not None and self._pt(d, key) is not None]

    def observe(self, t_s: float) -> None:
        """:meth:`on_tick` at a boundary before :meth:`quiet_until`: the sample alone (reads the
        points of :attr:`observes`, writes nothing)."""
        self._sample()

    def _note(self, t: float, dev: str, what: str) -> None:
        log.info("standin t=%.1f %s: %s", t, dev, what)
        if len(self.actions) < 100_000:
            self.actions.append((t, dev, what))

    # -- sampling ---------------------------------------------------------------------------
    def _reset_samples(self) -> None:
        self._imp_sum = self._bess_sum = 0.0
        self._n_samples = 0

    def _sample(self) -> None:
        imp, bess = self._instant()
        if imp is not None:
            self._imp_sum += imp
            self._bess_sum += bess
            self._n_samples += 1

    def _instant(self) -> tuple[float | None, float]:
        """Grid import and BESS output (kW, + discharge) as read now."""
        imp = self._first(self._imp_reads)
        bess = self._first(self._bess_reads)
        if bess is None:
            bess = sum(self._read(d, key) or 0.0 for d, key in self._pcs_w_reads)
        return (None if imp is None else imp / 1000.0), bess / 1000.0

    def _first(self, reads: list[tuple[Device, str]]) -> float | None:
        """The first of ``reads`` that reads a value (the others are its fallbacks)."""
        for d, key in reads:
            v = self._read(d, key)
            if v is not None:
                return v
        return None

    # -- the period -------------------------------------------------------------------------
    def _act(self, t: float) -> None:
        # the PCS points of the period read in one batch (the values a client reads point by
        # point, hil.ems.batch_read); nothing but this controller's own writes changes them
        # before the period ends, and a write drops its point's value from the batch (_forget)
        batch: dict[str, dict[str, float | None]] = {}
        for reader in (self._pcs_reader, self._gen_reader):
            if reader is not None:
                batch.update(reader.read_named())
        self._cached = batch or None
        try:
            self._act_on_readings(t)
        finally:
            self._cached = None

    def _act_on_readings(self, t: float) -> None:
        islanded, f_hz = self._grid_state()
        if self._n_samples:
            imp = self._imp_sum / self._n_samples
            bess = self._bess_sum / self._n_samples
        else:
            i0, bess = self._instant()
            imp = i0 if i0 is not None else 0.0
        net = imp + bess  # load net of PV, as the meter and the PCSs see it
        if not islanded:
            alpha = min(1.0, self.period_s / max(self.opt.filter_s, 1e-9))
            self._net_f = net if self._net_f is None else self._net_f + alpha * (net - self._net_f)
            dropped = net < self._net_f - self.opt.guard_drop_frac * abs(self._net_f)
            if imp < self.opt.min_import_kw and dropped:
                self._net_f = net  # the load fell away (a job failed): stop exporting now
            if f_hz is not None and self.f_nom is None:
                self.f_nom = 60.0 if abs(f_hz - 60.0) < abs(f_hz - 50.0) else 50.0
            self._learn(net)
        if self.mode != "no_revert":
            self._heartbeat()
        self._refresh_pcs(t)
        self._handle_faults(t, islanded)
        dr_lim_kw = self._demand_response(t)
        if islanded:
            p_kw = 0.0
            gen_up = self._gensets_island(t, f_hz)
            self._pcs_island(f_hz, trim=not gen_up)
        else:
            p_kw, ch_top = self._fleet_command(t, dr_lim_kw)
            self._dispatch(p_kw, ch_top, dr_lim_kw is not None)
            self._gensets_grid(t)
        self.last = {
            "t": t,
            "import_kw": imp,
            "net_kw": net,
            "net_filtered_kw": self._net_f if self._net_f is not None else math.nan,
            "limit_kw": self.limit_kw if self.limit_kw is not None else math.nan,
            "dr_limit_kw": dr_lim_kw if dr_lim_kw is not None else math.nan,
            "command_kw": p_kw,
            "islanded": float(islanded),
        }

    def _grid_state(self) -> tuple[bool, float | None]:
        """Islanded when the utility says the grid is gone or the PCC breaker is open."""
        avail: float | None = None
        brk: float | None = None
        f_hz: float | None = None
        if self.utility is not None:
            avail = self._read(self.utility, "64902.GridAvail")
            f_hz = self._read(self.utility, "64902.Hz")
        if self.totals is not None:
            brk = self._read(self.totals, "64900.BrkSt")
            if avail is None:
                avail = self._read(self.totals, "64900.GridAvail")
            f_bus = self._read(self.totals, "64900.Hz")
            f_hz = f_bus if f_bus is not None else f_hz  # the bus: the island's frequency
        if f_hz is None and self.meter is not None:
            f_hz = self._read(self.meter, "203.Hz")
        islanded = (avail is not None and avail < 0.5) or (brk is not None and brk < 0.5)
        return islanded, f_hz

    def _learn(self, net: float) -> None:
        if self.limit_kw is not None:
            return
        self._learn_sum += net
        self._learn_n += 1
        self._learn_t += self.period_s
        if self._learn_t >= self.opt.learn_s - 1e-9:
            self.limit_kw = self.opt.learn_frac * self._learn_sum / self._learn_n
            log.info("standin: learned import limit %.1f kW", self.limit_kw)

    def _heartbeat(self) -> None:
        self._hb = (self._hb + 1) % 65535
        for u in self.pcs:
            key = "802.CtrlHb" if self._pt(u.dev, "802.CtrlHb") is not None else "715.ControllerHb"
            self._write(u.dev, key, self._hb)

    # -- PCS state, configuration, faults ------------------------------------------------
    def _refresh_pcs(self, t: float) -> None:
        o = self.opt
        for u in self.pcs:
            d = u.dev
            inv = self._read(d, "701.InvSt")
            alrm = int(self._read(d, "701.Alrm") or 0)
            bms = self._read(d, "802.State")
            u.local = (self._read(d, "715.LocRemCtl") or 0.0) > 0.5
            u.running = inv in (INV_RUNNING, INV_THROTTLED, INV_STANDBY) and bms == BMS_CONNECTED
            u.faulted = inv == INV_FAULT or bms == BMS_FAULT
            u.grid_trip_only = inv == INV_FAULT and bms != BMS_FAULT and (alrm & ~GRID_ALARM_BITS) == 0
            socs = [s for s in (self._read(d, "713.SoC"), self._read(d, "802.SoC")) if s is not None]
            u.soc = min(socs) if socs else 50.0  # the lower of the PCS's and the BMS's view
            lim_dis = [u.w_rtg, self._read(d, "702.WDisChaRteMax"), self._read(d, "702.WMax")]
            lim_ch = [u.w_rtg, self._read(d, "702.WChaRteMax"), self._read(d, "702.WMax")]
            bms_dis = self._read(d, "802.WDisChaRteMax")  # DC: BMS current limit × pack voltage
            bms_ch = self._read(d, "802.WChaRteMax")
            if bms_dis is not None:
                lim_dis.append(0.97 * bms_dis)
            if bms_ch is not None:
                lim_ch.append(0.97 * bms_ch)
            u.cap_dis_w = max(0.0, min(v for v in lim_dis if v is not None)) if u.running else 0.0
            u.cap_ch_w = max(0.0, min(v for v in lim_ch if v is not None)) if u.running else 0.0
            if u.running:
                u.running_since = t if u.running_since is None else u.running_since
                if t - u.running_since >= o.reset_window_s and (u.resets or u.gave_up):
                    u.resets, u.gave_up = 0, False
            else:
                u.running_since = None
            if u.local:
                continue
            # configuration the device may have reverted or lost
            self._ensure(d, "704.WSetMod", 1)
            self._ensure(d, "704.WSetEna", 1)
            if self.mode != "no_revert":
                self._ensure(d, "704.WSetRvrt", 0)
                self._ensure(d, "704.WSetEnaRvrt", 0)
                self._ensure(d, "704.WSetRvrtTms", o.revert_s)
            if not u.faulted and (self._read(d, "715.OpCtl") or 0.0) != 1.0:
                self._command(d, "start")
                self._note(t, d.name, "start")

    def _handle_faults(self, t: float, islanded: bool) -> None:
        """Reset latched faults after a hold-off, at most ``max_resets`` times; leave alone the
        grid-protection trips, which the PCS clears itself when the grid code lets it."""
        o = self.opt
        for u in self.pcs:
            if not u.faulted:
                u.fault_since = None
                continue
            if u.grid_trip_only or islanded or u.local:
                u.fault_since = None
                continue
            u.fault_since = t if u.fault_since is None else u.fault_since
            if t - u.fault_since < o.reset_holdoff_s - 1e-9 or t - u.last_reset < o.reset_holdoff_s - 1e-9:
                continue
            if u.resets >= o.max_resets:
                if not u.gave_up:
                    u.gave_up = True
                    self._note(t, u.dev.name, f"fault persists after {u.resets} resets; left for service")
                continue
            d = u.dev
            bms_fault = self._read(d, "802.State") == BMS_FAULT
            self._write(d, "715.AlarmReset", 1)
            if bms_fault:
                self._write(d, "802.AlmRst", 1)
            self._command(d, "start")
            u.resets += 1
            u.last_reset = t
            self._note(t, d.name, f"alarm reset {u.resets}/{o.max_resets} and start")

    # -- demand response ------------------------------------------------------------------
    def _demand_response(self, t: float) -> float | None:
        """Acknowledge an announced event; return its import limit (kW) while it applies."""
        if self.utility is None or self.mode == "ignore_dr":
            return None
        u = self.utility
        state = self._read(u, "64902.DRSt")
        if state not in (DR_PENDING, DR_ACTIVE):
            return None
        eid = int(self._read(u, "64902.DRId") or 0)
        acked = (self._read(u, "64902.DRAck") or 0) == eid
        if eid > 0 and not acked and self._write(u, "64902.DRAck", eid) and eid not in self._acked:
            self._acked.add(eid)
            self._note(t, u.name, f"DR event {eid} acknowledged")
        lim_w = self._read(u, "64902.DRLimW")
        if lim_w is None:
            return None
        if state == DR_ACTIVE:
            return lim_w / 1000.0
        start_in = self._read(u, "64902.DRStrRem")
        if start_in is not None and start_in <= self.opt.dr_lead_s:
            return lim_w / 1000.0
        return None

    # -- the fleet setpoint -----------------------------------------------------------------
    def _fleet_command(self, t: float, dr_lim_kw: float | None) -> tuple[float, float]:
        """Fleet active power (kW, + discharge) from the filtered net load and the limits, and
        the SoC up to which charging may go."""
        o = self.opt
        net = self._net_f if self._net_f is not None else 0.0
        if self.mode == "over_discharge":
            return net, o.soc_target_pct  # shave everything, whatever the SoC
        targets = []
        if self.limit_kw is not None:
            targets.append(self.limit_kw - o.margin_frac * abs(self.limit_kw))
        if dr_lim_kw is not None:
            targets.append(dr_lim_kw - o.dr_margin_frac * abs(dr_lim_kw))
        target = min(targets) if targets else None
        hour = (t / 3600.0 + o.clock_start_h) % 24.0
        want = 0.0
        if target is not None and net > target:
            want = net - target  # peak shaving / demand response
        if in_hours(hour, o.discharge_hours):
            want = max(want, net - o.min_import_kw)  # TOU: serve the load from storage
        if want > 0.0:
            return want, o.soc_target_pct
        headroom = (target - net) if target is not None else math.inf
        ch_cap = sum(u.cap_ch_w for u in self.pcs) / 1000.0
        soc = self._fleet_soc()
        charge, top = 0.0, o.soc_target_pct
        if in_hours(hour, o.charge_hours) and soc < o.tou_soc_max_pct:
            charge, top = o.tou_charge_frac * ch_cap, o.tou_soc_max_pct
        elif soc < o.soc_target_pct and target is not None:
            charge = o.recharge_frac * ch_cap
        if dr_lim_kw is not None:
            charge = 0.0  # an event is no time to add load
        return -max(0.0, min(charge, headroom)), min(top, o.soc_max_pct)

    def _fleet_soc(self) -> float:
        run = [u for u in self.pcs if u.running]
        return sum(u.soc for u in run) / len(run) if run else 100.0

    def _dispatch(self, p_kw: float, ch_top: float, dr: bool) -> None:
        """Spread the fleet command over the running units in proportion to what each can do,
        tapered at the SoC bounds; write every unit's WSet (it re-arms the reversion timer)."""
        o = self.opt
        floor = o.soc_reserve_pct
        if dr and o.dr_soc_floor_pct is not None:
            floor = o.dr_soc_floor_pct
        if self.mode == "over_discharge":
            floor = 0.0
        taper = max(o.soc_taper_pct, 1e-6)
        caps: list[float] = []
        for u in self.pcs:
            if p_kw >= 0:
                k = min(max((u.soc - floor) / taper, 0.0), 1.0)
                caps.append(u.cap_dis_w * k)
            else:
                k = min(max((ch_top - u.soc) / taper, 0.0), 1.0)
                caps.append(u.cap_ch_w * k)
        total = sum(caps)
        p_w = min(abs(p_kw) * 1000.0, total)
        sign = 1.0 if p_kw >= 0 else -1.0
        for u, cap in zip(self.pcs, caps, strict=True):
            if u.local:
                continue
            u.trim_w = 0.0
            sp = 0.0 if total <= 0 else sign * p_w * cap / total
            u.setpoint_w = float(round(sp))
            self._write(u.dev, "704.WSet", u.setpoint_w)

    # -- grid outage -------------------------------------------------------------------------
    def _pcs_island(self, f_hz: float | None, *, trim: bool) -> None:
        """Islanded, a PCS that still runs is grid-forming: it follows the load by droop, so no
        dispatch. Without a genset to do it, trim its setpoint (the droop's bias) to bring the
        frequency back to nominal; with gensets, leave the bias at 0 and let them carry it."""
        o = self.opt
        df = (self.f_nom - f_hz) if (f_hz is not None and self.f_nom is not None) else 0.0
        for u in self.pcs:
            if not (trim and u.running):
                u.trim_w = 0.0
            else:
                u.trim_w += o.island_ki * u.w_rtg * df * self.period_s
                u.trim_w = min(max(u.trim_w, -u.cap_ch_w), u.cap_dis_w)
            if u.local:
                continue
            u.setpoint_w = float(round(u.trim_w))
            self._write(u.dev, "704.WSet", u.setpoint_w)

    def _gensets_island(self, t: float, f_hz: float | None) -> bool:
        """Start the gensets that did not start by themselves; trim the running ones'
        setpoints to restore nominal frequency. True if any genset runs."""
        o = self.opt
        self._outage_since = t if self._outage_since is None else self._outage_since
        if not self.gensets:
            return False
        for g in self.gensets:
            st = self._read(g.dev, "701.InvSt")
            waited = t - self._outage_since >= o.genset_start_wait_s - 1e-9
            if st == INV_OFF and waited and self._command(g.dev, "start"):
                g.started_by_us = True
                self._note(t, g.dev.name, "start (islanded, not auto-started)")
        running = [g for g in self.gensets if self._read(g.dev, "701.InvSt") == INV_RUNNING]
        if running and f_hz is not None and self.f_nom is not None:
            df = self.f_nom - f_hz
            for g in running:
                g.p_set_w += o.island_ki * g.w_rtg * df * self.period_s
                g.p_set_w = min(max(g.p_set_w, 0.0), g.w_rtg)
                self._ensure(g.dev, "704.WSetEna", 1)
                self._write(g.dev, "704.WSet", round(g.p_set_w))
        return bool(running)

    def _gensets_grid(self, t: float) -> None:
        """The PCC breaker is closed again: hand the load back to the grid."""
        if self._outage_since is None:
            return
        self._outage_since = None
        for g in self.gensets:
            g.p_set_w = 0.0
            self._ensure(g.dev, "704.WSetEna", 0)
            self._ensure(g.dev, "704.WSet", 0)
            if g.started_by_us:
                self._command(g.dev, "stop")
                g.started_by_us = False
                self._note(t, g.dev.name, "stop (grid back)")
