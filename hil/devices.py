"""Device behaviours: what each kind of served device derives from the twin and how its
setpoint registers drive the twin's inputs.

A behaviour is vectorised over the instances of its kind (all battery PCS at once). It gives
the point maps three things by name: ratings (for ranges and scale factors), derived values
(``dev.*``) and the meaning of its controls (SunSpec 704/715/802 semantics, reversion timers,
heartbeats and the controller-heartbeat watchdog, ``shared/protocols.md`` §1.3).

One writer per tick boundary: a behaviour pushes a twin input only for the units whose
controls a client wrote since the last boundary, or whose reversion timer or comm-loss
watchdog fired at it (a reversion *is* a write of the reverted values). It never re-asserts
unchanged registers, so a scenario's ``set:`` of the same input holds until the next write
(``docs/design-decisions.md``, "The write path"). The registers' power-on state reaches the
twin once, from :meth:`Behaviour.start`, when the gateway is built. Every push is noted in
:attr:`Behaviour.pushed` (the gateway logs it; the trace shows it as an ``input`` event).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from twin import Site
from twin.params import suggest
from twin.site import Snapshot

__all__ = ["BEHAVIOURS", "Behaviour"]

SQRT3 = math.sqrt(3.0)
Arr = np.ndarray
Pushed = tuple[int, str, float, str]  # unit, twin input ("pcs[0].p_set_kw"), value, cause

#: Why a behaviour pushed an input (the ``detail`` of the trace's ``input`` events).
BY_WRITE = "register write"
BY_REVERSION = "reversion"
BY_WATCHDOG = "comm-loss watchdog"
AT_START = "power-on state"


class Behaviour:
    """Base: one device kind. Subclasses set ``kind``, ``area`` and the hooks."""

    kind: ClassVar[str] = ""
    area: ClassVar[str] = ""
    unit_base: ClassVar[int] = 1
    prefix: ClassVar[str] = ""
    derived_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        self.site = site
        self.watchdog_s = watchdog_s
        self.n = self.count(site)
        self.local = np.zeros(self.n, dtype=bool)
        self.ratings: dict[str, Arr] = {}
        self.commands: dict[str, tuple[str, float]] = {}
        self.pushed: list[Pushed] = []  # the twin inputs set since the gateway last collected them
        self._names = set(site.snapshot().keys()) if self.n else set()

    @staticmethod
    def count(site: Site) -> int:
        return 1

    def instance_name(self, i: int) -> str:
        return f"{self.prefix}{i + 1:02d}" if self.n > 1 or self.kind in ("bess", "genset") else self.prefix

    # -- sources -------------------------------------------------------------------------
    def knows(self, source: str) -> bool:
        if source.startswith("dev."):
            return source[4:] in self.derived_names
        dev, _, sig = source.partition(".")
        base = dev.split("[")[0]
        if "[" in dev:
            return f"{base}.{sig}" in self.site.snapshot().arrays
        return source in self.site.snapshot().scalars

    def unknown_source_message(self, source: str) -> str:
        snap = self.site.snapshot()
        names = [f"dev.{d}" for d in self.derived_names]
        names += [f"{k.split('.')[0]}[i].{k.split('.', 1)[1]}" for k in snap.arrays]
        names += list(snap.scalars)
        hint = suggest(source, names)
        return f"unknown source {source!r}" + (f"; did you mean {hint[0]!r}?" if hint else "")

    def resolve(self, source: str, snap: Snapshot, derived: dict[str, Any]) -> Any:
        if source.startswith("dev."):
            return derived[source[4:]]
        dev, _, sig = source.partition(".")
        if "[" in dev:
            return snap.arrays[f"{dev.split('[')[0]}.{sig}"]
        return snap.scalars[source]

    # -- hooks ---------------------------------------------------------------------------
    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        return {}

    def start(self, controls: dict[str, Arr]) -> None:
        """Push the registers' power-on state to the twin, once (the gateway calls it when built)."""
        return None

    def apply(self, controls: dict[str, Arr], written: dict[str, Arr], *, t: float, dt: float) -> None:
        """Turn the controls written since the last tick boundary (``written``: path -> a mask
        of the units written) into twin inputs; push nothing that was not written or reverted."""
        return None

    # -- pushing twin inputs ---------------------------------------------------------------
    def push(self, name: str, values: Arr, units: Arr, why: Arr | str) -> None:
        """Set the per-unit twin input ``name`` (``"pcs.p_set_kw"``) to ``values`` on the
        ``units`` (a mask) only; the other units keep whatever was last set, by anyone."""
        units = np.asarray(units, dtype=bool)
        if not units.any():
            return
        dev, _, sig = name.partition(".")
        if units.all():
            self.site.set_units(name, values)
        else:
            for i in np.flatnonzero(units):
                self.site.set(f"{dev}[{i}].{sig}", float(values[i]))
        for i in np.flatnonzero(units):
            cause = why if isinstance(why, str) else str(why[i])
            self.pushed.append((int(i), f"{dev}[{i}].{sig}", float(values[i]), cause))

    def push_scalar(self, name: str, value: float, why: str) -> None:
        """Set a site-wide twin input (``"pv.p_limit_pct"``) from this kind's single device."""
        self.site.set(name, value)
        self.pushed.append((0, name, float(value), why))


def _units(written: dict[str, Arr], paths: Iterable[str], n: int) -> Arr:
    """The units for which any of ``paths`` is in ``written``."""
    out = np.zeros(n, dtype=bool)
    for path in paths:
        w = written.get(path)
        if w is not None:
            out |= w
    return out


def _mark(written: dict[str, Arr], paths: Iterable[str], units: Arr) -> None:
    """Record a write of ``paths`` on ``units`` (a reversion writes the values it reverts to)."""
    for path in paths:
        prev = written.get(path)
        written[path] = units.copy() if prev is None else prev | units


def _c(controls: dict[str, Arr], path: str, default: float = 0.0, n: int = 1) -> Arr:
    a = controls.get(path)
    return a[:, 0] if a is not None else np.full(n, default)


class Reversion:
    """A SunSpec reversion timer (``*RvrtTms`` / ``*RvrtRem``) for one control function.

    Writing the setpoint, its enable or its timer while enabled and ``RvrtTms > 0`` (re)arms
    the countdown; at expiry the enable becomes ``EnaRvrt`` and the setpoints their ``Rvrt``
    values. ``RvrtTms = 0`` disables reversion."""

    def __init__(self, n: int, *, ena: str, tms: str, ena_rvrt: str, pairs: list[tuple[str, str]]) -> None:
        self.rem = np.zeros(n)
        self.ena, self.tms, self.ena_rvrt, self.pairs = ena, tms, ena_rvrt, pairs

    @property
    def paths(self) -> tuple[str, ...]:
        """The controls an expiry writes: the enable and the setpoints."""
        return (self.ena, *(sp for sp, _ in self.pairs))

    def step(self, c: dict[str, Arr], written: dict[str, Arr], dt: float, force: Arr) -> Arr:
        """Advance the countdown; revert the units whose timer expires now (or that ``force``
        names) and return them (a mask)."""
        if self.ena not in c or self.tms not in c:
            return np.zeros(self.rem.size, dtype=bool)
        ena = c[self.ena][:, 0] > 0
        expired = self.countdown(
            written, (self.ena, self.tms, *(s for s, _ in self.pairs)), ena, c[self.tms][:, 0], dt, force
        )
        if expired.any():
            if self.ena_rvrt in c:
                c[self.ena][expired, 0] = c[self.ena_rvrt][expired, 0]
            for sp, rv in self.pairs:
                if sp in c and rv in c:
                    c[sp][expired, 0] = c[rv][expired, 0]
            self.rem[expired] = 0.0
        return expired

    def countdown(
        self, written: dict[str, Arr], paths: tuple[str, ...], active: Arr, tms: Arr, dt: float, force: Arr
    ) -> Arr:
        """Advance the timer; returns the units whose reversion fires now (``force``: the
        controller-heartbeat watchdog fires every active one). A write to any of ``paths``
        while active and ``tms > 0`` re-arms it; ``tms <= 0`` disarms it."""
        touched = np.zeros(self.rem.size, dtype=bool)
        for path in paths:
            if path in written:
                touched |= written[path]
        arm = touched & active & (tms > 0)
        self.rem = np.where(arm, tms, self.rem)
        self.rem = np.where(tms <= 0, 0.0, self.rem)
        running = (self.rem > 0) & ~arm
        self.rem = np.where(running, self.rem - dt, self.rem)
        return np.asarray((running & (self.rem <= 1e-9)) | (force & active))

    @property
    def remaining(self) -> Arr:
        return np.ceil(np.maximum(self.rem, 0.0) - 1e-9)


#: The battery controls each twin input depends on (SunSpec 702/704, legacy 123/124). A write of
#: any of them, or a reversion of it, pushes that input for the unit; nothing else does.
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
        self.e = {k: np.zeros(n) for k in ("wh_inj", "wh_abs", "varh_inj", "varh_abs", "dc_inj", "dc_abs")}
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
        why_rv = np.where(newly_lost, BY_WATCHDOG, BY_REVERSION)
        # start / stop / standby (715 OpCtl, 802 SetInvState)
        if "715.OpCtl" in written:
            op = c["715.OpCtl"][:, 0]
            self.enable = np.where(written["715.OpCtl"], np.isin(op, (1, 3)).astype(float), self.enable)
        if "802.SetInvState" in written:
            s = c["802.SetInvState"][:, 0]
            self.enable = np.where(written["802.SetInvState"], (s == 3).astype(float), self.enable)
        if "802.SetOp" in written:
            s = c["802.SetOp"][:, 0]
            self.disconnect = np.where(written["802.SetOp"], (s == 2).astype(float), self.disconnect)
        if "123.Conn" in written:
            s = c["123.Conn"][:, 0]
            self.enable = np.where(written["123.Conn"], (s == 1).astype(float), self.enable)
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
        p_w, q_var, q_follows_p = self._commands(c)
        p_wr, p_rv = _units(written, _P_PATHS, n), _units(reverted, _P_PATHS, n)
        q_wr = _units(written, _Q_PATHS, n) | (p_wr & q_follows_p)
        q_rv = _units(reverted, _Q_PATHS, n) | (p_rv & q_follows_p)
        self.push("pcs.p_set_kw", p_w / 1000.0, p_wr | p_rv, np.where(p_wr, BY_WRITE, why_rv))
        self.push("pcs.q_set_kvar", q_var / 1000.0, q_wr | q_rv, np.where(q_wr, BY_WRITE, why_rv))

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
            watts = _c(c, "704.WSetMod", 1, n) == 1
            target = np.where(watts, _c(c, "704.WSet", 0, n), _c(c, "704.WSetPct", 0, n) / 100.0 * wmax)
            p = np.where(ena, target, 0.0)
            if "704.WMaxLimPctEna" in c:
                lim = _c(c, "704.WMaxLimPctEna", 0, n) > 0
                cap = np.where(lim, _c(c, "704.WMaxLimPct", 100, n) / 100.0 * wmax, np.inf)
                p = np.clip(p, -cap, cap)
            p = np.clip(p, -_c(c, "702.WChaRteMax", np.inf, n), _c(c, "702.WDisChaRteMax", np.inf, n))
            var_max = self.ratings["var_max"]
            if "704.VarSetEna" in c:
                vena = _c(c, "704.VarSetEna", 0, n) > 0
                vwatts = _c(c, "704.VarSetMod", 1, n) == 1
                vt = np.where(
                    vwatts, _c(c, "704.VarSet", 0, n), _c(c, "704.VarSetPct", 0, n) / 100.0 * var_max
                )
                q = np.where(vena, vt, 0.0)
            for grp, sign_p in (("PFWInj", 1.0), ("PFWAbs", -1.0)):
                q_follows_p |= (_c(c, f"704.{grp}Ena", 0, n) > 0) & ~(_c(c, "704.VarSetEna", 0, n) > 0)
                ena_pf = (_c(c, f"704.{grp}Ena", 0, n) > 0) & (np.sign(p) == sign_p)
                pf = np.clip(_c(c, f"704.{grp}.PF", 1.0, n), 0.01, 1.0)
                under = _c(c, f"704.{grp}.Ext", 0, n) == 1
                q_pf = np.abs(p) * np.tan(np.arccos(pf)) * np.where(under, -1.0, 1.0)
                q = np.where(ena_pf & ~(_c(c, "704.VarSetEna", 0, n) > 0), q_pf, q)
        elif "124.StorCtl_Mod" in c:  # legacy personality
            mod = _c(c, "124.StorCtl_Mod", 0, n).astype(int)
            wmax124 = np.minimum(_c(c, "124.WChaMax", np.nan, n), w_rtg)
            wmax124 = np.where(np.isnan(wmax124), w_rtg, wmax124)
            dis = np.where(mod & 2, _c(c, "124.OutWRte", 0, n) / 100.0 * wmax124, 0.0)
            ch = np.where(mod & 1, _c(c, "124.InWRte", 0, n) / 100.0 * wmax124, 0.0)
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

    # -- twin -> registers ----------------------------------------------------------------
    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        a = snap.arrays
        s = snap.scalars
        w = a["pcs.p_ac_kw"] * 1000.0
        var = a["pcs.q_ac_kvar"] * 1000.0
        va = np.hypot(w, var)
        v_ll = self.ratings["v_nom"] * s["grid.v_pu"]
        amps = va / (SQRT3 * np.maximum(v_ll, 1.0))
        h = dt / 3600.0
        e = self.e
        # the twin's books: each tick's mean AC power split by sign, times dt
        e["wh_inj"] = a["pcs.discharge_kwh"] * 1000.0
        e["wh_abs"] = a["pcs.charge_kwh"] * 1000.0
        e["varh_inj"] += np.maximum(var, 0) * h
        e["varh_abs"] += np.maximum(-var, 0) * h
        p_dc = a["bess.p_dc_kw"] * 1000.0
        e["dc_inj"] += np.maximum(-p_dc, 0) * h  # into the battery
        e["dc_abs"] += np.maximum(p_dc, 0) * h
        state = a["pcs.state"]
        running = np.isin(state, (3, 4))
        closed = a["bms.contactor"] == 2
        v_dc = a["bess.v_dc_v"]
        t = snap.t
        evt1 = a["bms.alarm_bits"].astype(np.int64) | np.where(self.comms_lost, 1, 0)
        bms_state = a["bms.state"]
        soc = a["bess.soc_pct"]
        soc_min = self.ratings["soc_min_pct"]
        wh_avail = np.maximum(soc - soc_min, 0.0) / 100.0 * self.ratings["wh_rtg"] * a["bms.soh_pct"] / 100.0
        n_str = self.ratings["n_strings"]
        throt = a["pcs.throttle_pct"]  # what a limit held back, % of rated; 0 unless THROTTLED
        legacy_state = np.select(
            [state == 0, state == 1, state == 2, state == 3, state == 4, state == 5, state == 6, state == 7],
            [1, 2, 3, 4, 5, 6, 7, 8],
            1,
        )
        return {
            "w": w,
            "var": var,
            "va": va,
            "pf": np.where(va > 1.0, np.abs(w) / np.maximum(va, 1e-9), 1.0),
            "a": amps,
            "v_ll": v_ll,
            "v_ln": v_ll / SQRT3,
            "hz": s["grid.f_hz"],
            "w_ph": w / 3.0,
            "var_ph": var / 3.0,
            "va_ph": va / 3.0,
            "tot_wh_inj": e["wh_inj"],
            "tot_wh_abs": e["wh_abs"],
            "tot_varh_inj": e["varh_inj"],
            "tot_varh_abs": e["varh_abs"],
            "st": running.astype(float),
            "conn_st": running.astype(float),
            # 701 DERMode: GRID_FORMING (2) only for a unit that forms the island, else GRID_FOLLOWING
            "der_mode": np.where((s["grid.breaker_closed"] <= 0) & self.site.pcs.gfm, 2.0, 1.0),
            "hb": np.full(self.n, float(int(t) % 65535)),
            "der_hb": np.full(self.n, float(int(t) % 4294967295)),
            "loc_rem": self.local.astype(float),
            "evt1": evt1.astype(float),
            "wh_avail": wh_avail,
            "sta": np.where(bms_state == 99, 2.0, np.where(a["bms.alarm_bits"] > 0, 1.0, 0.0)),
            "dc_wh_inj": e["dc_inj"],
            "dc_wh_abs": e["dc_abs"],
            "n_str_con": np.where(closed, n_str, 0.0),
            "str_a": a["bess.i_dc_a"] / n_str,
            "wcha_max": a["bms.ccl_a"] * v_dc,
            "wdischa_max": a["bms.dcl_a"] * v_dc,
            "throt_pct": throt,
            "wset_rvrt_rem": self.rvrt["wset"].remaining,
            "wmaxlimpct_rvrt_rem": self.rvrt["wmaxlimpct"].remaining,
            "varset_rvrt_rem": self.rvrt["varset"].remaining,
            "pfwinj_rvrt_rem": self.rvrt["pfwinj"].remaining,
            "pfwabs_rvrt_rem": self.rvrt["pfwabs"].remaining,
            "legacy_rvrt_rem": self.rvrt["legacy"].remaining,
            "inv_st_legacy": legacy_state.astype(float),
            "soc_stor_avail": wh_avail,
            "comms_lost": self.comms_lost.astype(float),
            "serial": [f"AIDC-PCS-{i + 1:04d}" for i in range(self.n)],
            "cell_v_avg": 0.5 * (a["bess.v_cell_max_v"] + a["bess.v_cell_min_v"]),
            "t_avg": 0.5 * (a["bess.t_cell_max_degc"] + a["bess.t_cell_min_degc"]),
        }


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
        self.e += max(w, 0.0) * dt / 3600.0
        tripped = s.get("pv.tripped", 0.0) > 0
        producing = w > 1.0
        lim = controls.get("704.WMaxLimPctEna")
        throttled = lim is not None and lim[0, 0] > 0
        inv = 6 if tripped else (4 if throttled and producing else (3 if producing else 1))
        return {
            "w": w,
            "a": w / (SQRT3 * max(v_ll, 1.0)),
            "v_ll": v_ll,
            "hz": s["grid.f_hz"],
            "st": float(producing),
            "inv_st": float(inv),
            "conn_st": float(not tripped),
            "tot_wh_inj": self.e,
            "dc_w": (s["pv.p_ac_kw"] + s.get("pv.loss_kw", 0.0)) * 1000.0,
            "wmaxlimpct_rvrt_rem": self.rvrt.remaining,
        }


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
        w = s["grid.p_import_kw"] * 1000.0
        var = s["grid.q_import_kvar"] * 1000.0
        va = math.hypot(w, var)
        v_ll = self.ratings["v_nom"][0] / 1.2 * s["grid.v_pu"]
        return {
            "w": w,
            "var": var,
            "va": va,
            "pf": abs(w) / va if va > 1.0 else 1.0,
            "a": va / (SQRT3 * max(v_ll, 1.0)),
            "v_ll": v_ll,
            "v_ln": v_ll / SQRT3,
            "hz": s["grid.f_hz"],
            "w_ph": w / 3.0,
            "var_ph": var / 3.0,
            "va_ph": va / 3.0,
            # the twin's accumulators: each tick's mean PCC power split by sign, times dt
            "wh_imp": s["grid.import_kwh"] * 1000.0,
            "wh_exp": s["grid.export_kwh"] * 1000.0,
        }


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
            run = np.isin(c["715.OpCtl"][:, 0], (1, 3)).astype(float)
            self.push("genset.start", run, written["715.OpCtl"], BY_WRITE)
        by_write = _units(written, self.rvrt.paths, self.n)
        self._push_p_set(c, by_write | fired, np.where(by_write, BY_WRITE, BY_REVERSION))

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
        self.e += np.maximum(w, 0.0) * dt / 3600.0
        state = a["genset.state"]
        return {
            "w": w,
            "a": w / (SQRT3 * np.maximum(v_ll, 1.0)),
            "v_ll": v_ll,
            "hz": snap.scalars["grid.f_hz"],
            "st": (w > 1.0).astype(float),
            "inv_st": np.select([state == 0, state == 1, state == 2, state == 3], [0, 2, 3, 5], 6).astype(
                float
            ),
            "tot_wh_inj": self.e,
            "wset_rvrt_rem": self.rvrt.remaining,
            "der_hb": np.full(self.n, float(int(snap.t) % 4294967295)),
        }


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

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        p = snap.arrays["gpu.p_kw"] * 1000.0
        return {
            "load_pct": 100.0 * p / self.rack_nominal_w,
            "racks_on": snap.arrays["gpu.powered"],
            "w_racks": float(p.sum()),
            "v_pct": 100.0 * snap.scalars["grid.v_pu"],
        }


class UtilityBehaviour(Behaviour):
    """The utility-signal device: grid status and demand-response events (vendor model 64902).

    The DR event is set through :meth:`set_event` (scenarios drive it); the EMS reads it and
    acknowledges by writing the event id to ``DRAck``."""

    kind = "utility"
    area = "Site"
    unit_base = 2
    prefix = "Utility"
    derived_names = ("dr_state", "dr_id", "dr_start_rem", "dr_dur_rem", "dr_limit_w", "v_pct")

    def __init__(self, site: Site, *, watchdog_s: float = 10.0) -> None:
        super().__init__(site, watchdog_s=watchdog_s)
        self.ratings = {
            "w_total": np.array([max(site.s_base_kva * 1000.0, 1e3) * 2.0]),
            "hz_max": np.array([70.0]),
            "pct": np.array([200.0]),
            "id_max": np.array([65534.0]),
        }
        self.event: tuple[int, float, float, float] | None = None  # id, start t, end t, limit W

    def set_event(self, event_id: int, *, start_s: float, duration_s: float, limit_w: float) -> None:
        """Announce a demand-response event (simulated times in seconds)."""
        self.event = (int(event_id), float(start_s), float(start_s + duration_s), float(limit_w))

    def clear_event(self) -> None:
        self.event = None

    def derive(self, snap: Snapshot, controls: dict[str, Arr], *, dt: float) -> dict[str, Any]:
        t = snap.t
        # with no event the import limit is the PCC's rating (no limit), served Good: a generic
        # SCADA client takes "no data" for a fault, and 0 would read as "import nothing"
        no_limit = float(self.ratings["w_total"][0])
        state, eid, start_rem, dur_rem, lim = 0.0, 0.0, 0.0, 0.0, no_limit
        if self.event is not None:
            eid_i, t0, t1, lim_w = self.event
            if t < t1:
                eid = float(eid_i)
                lim = lim_w
                if t < t0:
                    state, start_rem, dur_rem = 1.0, math.ceil(t0 - t), math.ceil(t1 - t0)
                else:
                    state, dur_rem = 2.0, math.ceil(t1 - t)
        return {
            "dr_state": state,
            "dr_id": eid,
            "dr_start_rem": start_rem,
            "dr_dur_rem": dur_rem,
            "dr_limit_w": lim,
            "v_pct": 100.0 * snap.scalars["grid.v_pu"],
        }


BEHAVIOURS: dict[str, type[Behaviour]] = {
    "meter": MeterBehaviour,
    "utility": UtilityBehaviour,
    "site": SiteBehaviour,
    "bess": BessBehaviour,
    "pv": PvBehaviour,
    "genset": GensetBehaviour,
}
