"""Calendar time: the site clock (twin.clock), the PV sun from it, the trace's local column."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hil.config import load_site
from hil.scenario import ScenarioError, load_scenario
from hil.trace.store import LOCAL_TIME, TraceWriter, read_trace, trace_meta
from twin.clock import Clock
from twin.errors import ParameterError
from twin.models.pv import Pv, PvParams
from twin.params import from_dict
from twin.site import SiteParams

GUANGZHOU_LAT = 23.1  # aidc_10k's pv.latitude_deg


def test_month_boundary_at_the_right_tick() -> None:
    clock = Clock("2026-01-31T23:00", "Asia/Shanghai")
    tick_s = 0.1
    first_feb = next(k for k in range(0, 40000) if clock.local_datetime(k * tick_s).month == 2)
    assert first_feb == 36000  # one hour of 0.1 s ticks
    assert clock.local_datetime(first_feb * tick_s) == datetime(2026, 2, 1, 0, 0)
    assert clock.local_datetime((first_feb - 1) * tick_s).day == 31
    t = np.arange(0.0, 7200.0, 900.0)
    np.testing.assert_array_equal(
        clock.local_datetime64(t),
        np.datetime64("2026-01-31T23:00") + t.astype("timedelta64[s]"),
    )
    # UTC+8, no DST: local seconds are UTC seconds + 8 h
    assert clock.local_time_s(0.0) - clock.utc0_s == 8 * 3600


def test_pv_zenith_at_solar_noon_on_the_june_solstice() -> None:
    clock = Clock("2026-06-21T00:00", longitude_deg=113.3)
    pv = Pv(PvParams(latitude_deg=GUANGZHOU_LAT), seed=0, clock=clock)
    t = np.arange(8 * 3600.0, 16 * 3600.0, 10.0)
    hours = np.array([pv.sun(x)[1] for x in t])
    t_noon = float(t[np.argmin(np.abs(hours - 12.0))])
    assert pv.sun(t_noon)[0] == 172
    assert pv.zenith_deg(t_noon) == pytest.approx(abs(GUANGZHOU_LAT - 23.44), abs=0.5)
    # solar noon at 113.3° E in UTC+8 is ≈ 12:27 + 1.5 min (equation of time) local
    assert 12 * 3600 + 25 * 60 < t_noon < 12 * 3600 + 31 * 60
    zen = [pv.zenith_deg(x) for x in t]
    assert min(zen) == pytest.approx(pv.zenith_deg(t_noon), abs=0.05)


def _day_length_h(pv: Pv, day_start_s: float) -> float:
    t = day_start_s + np.arange(0.0, 86400.0, 900.0)
    pv.cloud_override = 1.0
    lit = [pv.irradiance(x) > 0.0 for x in t]
    return 0.25 * sum(lit)


def test_day_length_changes_over_a_60_day_run() -> None:
    """60 days at a 15-min tick from the winter solstice: the days lengthen."""
    pv = Pv(PvParams(), seed=3, clock=Clock("2026-12-21T00:00"))
    energy = []
    lengths = []
    for day in range(60):
        lengths.append(_day_length_h(pv, day * 86400.0))
        e = 0.0
        for k in range(96):
            pv.step(day * 86400.0 + k * 900.0, 900.0)
            e += pv.p_ac * 0.25
        energy.append(e)
    assert lengths[-1] > lengths[0] + 0.4  # ≈ 10.5 h → ≈ 11.1 h of cos z > 0.01 at 23° N
    assert energy[-1] > 1.05 * energy[0]
    assert pv.sun(59 * 86400.0 + 43200.0)[0] == 49  # 18 Feb 2027 (wrapped into the new year)
    # the same run on the old fixed clock has a fixed day length only if the date is fixed
    assert len(set(np.round(lengths, 2))) > 3


def test_site_trace_has_the_local_timestamp_column(tmp_path: Path) -> None:
    site = load_site("lab_rack", overrides={"start": "2026-01-31T23:59:58", "tick_s": 0.5})
    meta = {"start": site.params.start, "timezone": site.params.timezone}
    with TraceWriter(tmp_path, row_group_rows=3, meta=meta) as w:
        for _ in range(10):
            w.append(site.step(), {"runner.lag_s": 0.0})
    table = read_trace(tmp_path)
    assert table.column_names[-1] == LOCAL_TIME
    assert str(table.schema.field(LOCAL_TIME).type) == "timestamp[s]"
    t = table["t_s"].to_numpy()
    local = table[LOCAL_TIME].to_numpy()
    expected = np.datetime64("2026-01-31T23:59:58") + np.floor(t).astype("timedelta64[s]")
    np.testing.assert_array_equal(local, expected)
    assert local[-1] >= np.datetime64("2026-02-01T00:00:00")
    np.testing.assert_allclose(
        table["site.local_time_s"].to_numpy(),
        np.datetime64("2026-01-31T23:59:58").astype(np.int64) + t,
    )
    assert trace_meta(table) == meta


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("start", "2026-02-30T10:00", "not an ISO local date-time"),
        ("start", "2026-06-21T10:00+08:00", "timezone"),
        ("timezone", "Asia/Shanghia", "did you mean 'Asia/Shanghai'"),
        ("timezone", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_start_or_timezone_names_the_key(key: str, value: str, needle: str) -> None:
    with pytest.raises(ParameterError) as err:
        from_dict(SiteParams, {key: value})
    assert [i.path for i in err.value.issues] == [(key,)]
    assert needle in err.value.issues[0].message


def test_scenario_start_and_timezone(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("scenario: g\nduration: 1 min\nstart: '2026-01-31T23:00'\ntimezone: Asia/Shanghai\n")
    sc = load_scenario(good)
    assert (sc.start, sc.timezone) == ("2026-01-31T23:00", "Asia/Shanghai")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: b\nduration: 1 min\nstart: 2026-13-01T00:00\ntimezone: Asia/Shangai\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    text = str(err.value)
    lines = text.splitlines()
    assert any(":3" in ln and "start" in ln for ln in lines), text
    assert any(":4" in ln and "did you mean 'Asia/Shanghai'" in ln for ln in lines), text


def test_deprecated_day_of_year_keeps_the_old_clock() -> None:
    old = Pv(PvParams(day_of_year=172, t_start_s=36000.0), seed=5)
    new = Pv(PvParams(), seed=5, clock=Clock("2026-06-21T10:28"))
    assert old.sun(0.0) == (172, 10.0)
    assert new.sun(0.0)[0] == 172
    assert new.sun(0.0)[1] == pytest.approx(10.0, abs=2 / 60)
    # the same clouds (minute 600 at t = 0), the sun within 0.5 min
    for t in (0.0, 600.0, 3600.0, 7200.0):
        assert new.irradiance(t) == pytest.approx(old.irradiance(t), rel=3e-3)
    assert math.isclose(new._minute0, 600.0)
