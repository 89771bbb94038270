"""The reference EMS's decision core on synthetic readings: a small plant model (load, PV,
PCSs that follow their setpoints, a meter that integrates import) closes the loop, so each
rule is checked on what the grid would see, not on the command alone."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from hil.ems import ReferenceEMS, load_profile
from hil.ems.profile import profile_from_dict
from hil.ems.readings import Commands, PcsReading, Readings
from hil.errors import ConfigError

T0 = 1782000000.0 - 1782000000.0 % 900.0  # a local time on a 15-min boundary (00:00 local)


class Plant:
    """n PCSs of ``rating_kw`` / ``wh_kwh`` that reach their setpoint within a period."""

    def __init__(
        self,
        load_kw: Callable[[float], float],
        *,
        n: int = 4,
        rating_kw: float = 1250.0,
        wh_kwh: float = 2000.0,
        soc: float = 60.0,
        local0: float = T0,
    ) -> None:
        self.load_kw = load_kw
        self.n, self.rating_kw, self.wh_kwh = n, rating_kw, wh_kwh
        self.soc = [soc] * n
        self.p_kw = [0.0] * n
        self.wh_imp = 0.0
        self.t = 0.0
        self.local0 = local0
        self.state = [3.0] * n  # 802.State CONNECTED
        self.inv = [3.0] * n  # 701.InvSt RUNNING
        self.evt = [0.0] * n
        self.cfg = {"704.WSetRvrtTms": 0.0, "704.WSetEna": 0.0, "704.WSetMod": 1.0}
        self.site: dict[str, float | None] = {"64902.GridAvail": 1.0, "64902.DRSt": 0.0}
        self.imports: list[float] = []

    def import_kw(self) -> float:
        return self.load_kw(self.t) - sum(self.p_kw)

    def readings(self) -> Readings:
        pcs = tuple(
            PcsReading(
                f"PCS{i + 1:02d}",
                {
                    "702.WMaxRtg": self.rating_kw * 1000,
                    "701.InvSt": self.inv[i],
                    "701.Alrm": 0.0,
                    "701.W": self.p_kw[i] * 1000,
                    "713.SoC": self.soc[i],
                    "713.WHRtg": self.wh_kwh * 1000,
                    "802.SoC": self.soc[i],
                    "802.State": self.state[i],
                    "802.Evt1": self.evt[i],
                    "715.OpCtl": 1.0,
                    "715.LocRemCtl": 0.0,
                    "704.WSetRvrt": 0.0,
                    "704.WSetEnaRvrt": 0.0,
                    **self.cfg,
                },
            )
            for i in range(self.n)
        )
        site = {**self.site, "203.W": self.import_kw() * 1000, "203.TotWhImp": self.wh_imp}
        return Readings(t_s=self.t, local_s=self.local0 + self.t, site=site, pcs=pcs)

    def apply(self, cmds: Commands, dt: float = 1.0) -> None:
        for i, c in enumerate(cmds.pcs):
            if c.wset_w is not None:
                run = self.inv[i] == 3.0 and self.state[i] == 3.0
                self.p_kw[i] = max(-self.rating_kw, min(self.rating_kw, c.wset_w / 1000)) if run else 0.0
            if c.op == "stop":
                self.inv[i] = 0.0
        self.t += dt
        imp = self.import_kw()
        self.imports.append(imp)
        self.wh_imp += max(imp, 0.0) * 1000 * dt / 3600
        for i in range(self.n):
            self.soc[i] -= self.p_kw[i] * dt / 3600 / self.wh_kwh * 100

    def run(self, ems: ReferenceEMS, seconds: int) -> list[Commands]:
        out = []
        for _ in range(seconds):
            cmds = ems.decide(self.readings())
            self.apply(cmds)
            out.append(cmds)
        return out

    def window_means(self, span: int = 900) -> list[float]:
        n = len(self.imports) // span
        return [sum(max(x, 0) for x in self.imports[k * span : (k + 1) * span]) / span for k in range(n)]


def profile(**sections: object) -> object:
    base: dict[str, object] = {"soc": {"reserve_pct": 10, "max_pct": 95, "target_pct": 10}}
    base.update(sections)
    return profile_from_dict(base)


def swinging(mean: float, amp: float, period: float = 1.5) -> Callable[[float], float]:
    return lambda t: mean + amp * math.sin(2 * math.pi * t / period + 0.3)


# -- peak shaving on the 15-minute window ----------------------------------------------------------


def test_window_average_stays_under_target() -> None:
    ems = ReferenceEMS(profile(peak_shave={"target_kw": 9000, "margin_frac": 0.01}, filter_s=5))
    plant = Plant(swinging(11000, 3000))
    plant.run(ems, 3 * 900)
    means = plant.window_means()
    assert len(means) == 3
    assert max(means) < 9000.0, means
    assert min(means) > 8000.0, means  # it shaves, it does not discharge everything


def test_window_that_started_over_is_pulled_back_by_discharging_harder() -> None:
    """The fleet is unavailable for the first 5 minutes of a window (import 11 MW against a
    9 MW target); once back, it discharges more than 2 MW so the window still averages under."""
    ems = ReferenceEMS(profile(peak_shave={"target_kw": 9000, "margin_frac": 0.01}))
    plant = Plant(lambda t: 11000.0)
    plant.inv = [0.0] * plant.n  # not running
    plant.run(ems, 300)
    plant.inv = [3.0] * plant.n
    cmds = plant.run(ems, 600)
    assert max(c.figures["command_kw"] for c in cmds) > 2500.0  # harder than 11 - 9 MW
    (mean,) = plant.window_means()
    assert mean < 9000.0


def test_charging_never_sets_a_new_peak() -> None:
    """In the TOU valley the fleet wants to charge 2.5 MW on a 8.5 MW load against a 10 MW
    target: it charges only up to the target less the charge margin."""
    prof = profile(
        peak_shave={"target_kw": 10000, "charge_margin_frac": 0.05},
        tou={"charge_hours": [[0, 1]], "discharge_hours": [[17, 22]], "charge_max_frac": 1.0},
    )
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 8500.0, soc=20.0)
    cmds = plant.run(ems, 600)
    charging = [c for c in cmds if c.figures["command_kw"] < -1.0]
    assert charging, "it should charge in the valley"
    assert max(plant.imports) <= 10000 * 0.95 + 1.0
    assert max(plant.imports) > 10000 * 0.95 - 50.0  # and it uses the headroom


def test_no_charging_before_a_target_is_known() -> None:
    prof = profile(peak_shave={"learn_s": 120}, tou={"charge_hours": [[0, 7]]})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 8000.0, soc=20.0)
    plant.run(ems, 100)
    assert max(plant.imports) <= 8000.0 + 1e-6
    plant.run(ems, 60)
    assert ems.target_kw == pytest.approx(0.9 * 8000.0, rel=1e-6)


def test_no_export_when_the_load_falls_under_the_discharge() -> None:
    """TOU discharge with PV pushing the net load to 1 MW: never below min_import."""
    prof = profile(
        tou={"charge_hours": [[20, 21]], "discharge_hours": [[0, 7]]},
        no_export={"min_import_kw": 200},
    )
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 6000.0 if t < 120 else 1000.0, soc=90.0)
    plant.run(ems, 400)
    settled = plant.imports[150:]
    assert min(settled) >= 200.0 - 1.0
    assert min(plant.imports) >= 0.0  # the filter snaps down when the load falls away


def test_demand_response_limit_is_held_and_acknowledged() -> None:
    prof = profile(demand_response={"margin_frac": 0.03})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 9000.0)
    plant.site.update({"64902.DRSt": 1.0, "64902.DRId": 7.0, "64902.DRAck": 0.0, "64902.DRLimW": 6e6})
    plant.site["64902.DRStrRem"] = 60.0
    cmds = plant.run(ems, 5)
    assert cmds[0].dr_ack == 7
    assert max(plant.imports) > 8900.0  # not yet: the event starts in a minute
    plant.site.update({"64902.DRSt": 2.0, "64902.DRAck": 7.0})
    cmds = plant.run(ems, 60)
    assert all(c.dr_ack is None for c in cmds)  # acknowledged once
    assert max(plant.imports[-50:]) < 6000.0
    assert all(c.figures["command_kw"] >= 0 for c in cmds)


def test_outage_prep_raises_the_reserve_when_dr_is_announced() -> None:
    prof = profile(outage_prep={"reserve_pct": 40}, demand_response={})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 9000.0)
    plant.site.update({"64902.DRSt": 1.0, "64902.DRId": 3.0, "64902.DRStrRem": 600.0, "64902.DRLimW": 6e6})
    cmds = plant.run(ems, 3)
    assert cmds[-1].figures["reserve_pct"] == 40.0
    plant.site["64902.DRSt"] = 0.0
    assert plant.run(ems, 1)[0].figures["reserve_pct"] == 10.0


# -- alarms, watchdogs --------------------------------------------------------------------------


def test_bms_fault_stops_the_unit_then_resets_it_at_most_n_times() -> None:
    prof = profile(alarms={"reset_holdoff_s": 10, "max_resets": 2})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 9000.0)
    plant.state[1] = 99.0  # BMS FAULT on PCS02
    cmds = plant.run(ems, 1)
    c = cmds[0].pcs[1]
    assert c.op == "stop"
    assert c.wset_w == 0.0
    resets = []
    for _ in range(60):
        (cmd,) = plant.run(ems, 1)
        if cmd.pcs[1].alarm_reset:
            assert cmd.pcs[1].bms_alarm_reset
            assert cmd.pcs[1].op == "start"
            resets.append(plant.t)
    assert len(resets) == 2  # max_resets, then left for service
    assert resets[1] - resets[0] >= 10.0 - 1e-9
    assert ems.units["PCS02"].gave_up


def test_warning_derates_the_unit() -> None:
    prof = profile(peak_shave={"target_kw": 4000}, alarms={"derate_frac": 0.5})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 9000.0)
    plant.evt[0] = float(1 << 2)  # OVER_TEMP_WARNING
    (cmds,) = plant.run(ems, 1)
    assert abs(cmds.pcs[0].wset_w or 0.0) <= 625_000 + 1
    assert abs(cmds.pcs[1].wset_w or 0.0) == pytest.approx(1_250_000, abs=1)


def test_heartbeat_and_reversion_are_rearmed_every_period() -> None:
    prof = profile(alarms={"revert_s": 30})
    ems = ReferenceEMS(prof)
    plant = Plant(lambda t: 9000.0)
    first = plant.run(ems, 1)[0]
    assert first.pcs[0].config == {"704.WSetEna": 1.0, "704.WSetRvrtTms": 30.0}
    plant.cfg.update({"704.WSetEna": 1.0, "704.WSetRvrtTms": 30.0})
    hbs = []
    for _ in range(5):
        (c,) = plant.run(ems, 1)
        assert all(p.config == {} for p in c.pcs)  # in place: not rewritten
        assert all(p.wset_w is not None for p in c.pcs)  # WSet every period rearms the timer
        hbs.append(c.pcs[0].heartbeat)
    assert hbs == sorted(hbs)
    assert len(set(hbs)) == 5
    plant.cfg["704.WSetRvrtTms"] = 0.0  # the device reverted it
    (c,) = plant.run(ems, 1)
    assert c.pcs[0].config == {"704.WSetRvrtTms": 30.0}


def test_islanded_dispatches_nothing() -> None:
    ems = ReferenceEMS(profile(peak_shave={"target_kw": 5000}))
    plant = Plant(lambda t: 9000.0)
    plant.site["64902.GridAvail"] = 0.0
    (c,) = plant.run(ems, 1)
    assert all(p.wset_w == 0.0 and p.heartbeat is not None for p in c.pcs)


# -- profiles ------------------------------------------------------------------------------------


def test_shipped_profiles_load() -> None:
    for name in ("aidc_peak_shave", "lab_peak_shave"):
        p = load_profile(name)
        assert {"peak_shave", "tou", "no_export", "smoothing"} <= set(p.strategies)


def test_profile_errors_name_file_line_and_suggest(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\npeak_shave:\n  target_kv: 5\nsoc: {reserve_pct: 95}\n")
    with pytest.raises(ConfigError) as exc:
        load_profile(f)
    text = str(exc.value)
    assert f"{f}:3" in text
    assert "did you mean 'target_kw'" in text
    f.write_text("tou:\n  tariff: example_cn_north_2026\n  charge_periods: [valey]\n")
    with pytest.raises(ConfigError, match="did you mean 'valley'"):
        load_profile(f)
