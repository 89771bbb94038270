"""Tariffs: period tables, prices, critical peak, parsing errors with key paths, file errors
with file:line and did-you-mean, URDB reading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hil.errors import ConfigError
from hil.tariff import find_tariff, load_tariff, shipped_tariffs
from hil.validate import validate_file
from twin.econ import Tariff, parse_tariff, tariff_from_urdb
from twin.errors import ParameterError

ROOT = Path(__file__).resolve().parents[4]


def simple(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "tariff_id": "t",
        "energy": {
            "prices": {"peak": 1.0, "flat": 0.5, "valley": 0.2},
            "periods": {"valley": [[0, 8]], "flat": [[8, 18], [22, 24]], "peak": [[18, 22]]},
        },
        "demand": {"rate_per_kw_month": 40.0},
    }
    d.update(over)
    return d


def hours(day: str) -> np.ndarray:
    return np.datetime64(f"{day}T00:00") + np.arange(24) * np.timedelta64(1, "h")


def test_shipped_north_prices_and_hours() -> None:
    t = load_tariff("example_cn_north_2026")
    assert t.period_names == ("peak", "flat", "valley")
    np.testing.assert_allclose(t.period_prices, (1.04, 0.65, 0.26))
    price = t.energy_price(hours("2026-07-15"))
    expect = [0.26] * 7 + [0.65] * 3 + [1.04] * 3 + [0.65] * 4 + [1.04] * 5 + [0.65] + [0.26]
    np.testing.assert_allclose(price, expect)
    assert t.export_price(hours("2026-07-15")) is None
    assert "ILLUSTRATIVE" in t.label
    assert t.source


def test_jibei_is_month_indexed_with_a_midday_deep_valley() -> None:
    t = load_tariff("example_cn_jibei_2026")
    names = t.period_names
    march = [names[i] for i in t.period_index(hours("2026-03-10"))]
    july = [names[i] for i in t.period_index(hours("2026-07-10"))]
    assert march[12:15] == ["deep_valley"] * 3
    assert july[12:15] == ["flat"] * 3
    dv = names.index("deep_valley")
    assert t.period_prices[dv] == pytest.approx(0.65 * 0.3 * 0.8)
    assert t.period_prices[names.index("peak")] == pytest.approx(0.65 * 1.7)


def test_every_shipped_tariff_validates() -> None:
    assert {"example_cn_north_2026", "example_cn_jibei_2026", "example_urdb_cn_north_2026"} <= set(
        shipped_tariffs()
    )
    for name in shipped_tariffs():
        kind, problems = validate_file(find_tariff(name))
        assert (kind, problems) == ("tariff", [])


def test_weekend_table_and_critical_peak_adder() -> None:
    d = simple()
    d["energy"]["weekend_periods"] = {"valley": [[0, 24]]}
    d["energy"]["critical_peak"] = {
        "months": [7],
        "days": ["2026-08-03"],
        "windows": [[19, 21]],
        "adder": 0.3,
    }
    t = parse_tariff(d)
    sat = t.energy_price(hours("2026-07-18"))  # a Saturday
    np.testing.assert_allclose(sat[:19], 0.2)
    np.testing.assert_allclose(sat[19:21], 0.5)  # valley + CPP adder
    wed = t.energy_price(hours("2026-07-15"))
    np.testing.assert_allclose(wed[18:22], [1.0, 1.3, 1.3, 1.0])
    np.testing.assert_allclose(t.energy_price(hours("2026-08-03"))[19:21], 1.3)  # a listed day
    np.testing.assert_allclose(t.energy_price(hours("2026-08-04"))[19:21], 1.0)


def test_ratio_critical_gives_an_absolute_price() -> None:
    d = yaml.safe_load((ROOT / "profiles/tariffs/example_cn_north_2026.yaml").read_text())
    d["energy"]["critical_peak"]["enabled"] = True
    t = parse_tariff(d)
    p = t.energy_price(hours("2026-07-15"))
    assert p[11] == pytest.approx(0.65 * 1.92)
    assert p[16] == pytest.approx(0.65 * 1.92)
    assert p[10] == pytest.approx(1.04)


def test_demand_windows_flat_and_tou() -> None:
    d = simple()
    d["demand"]["tou_rates"] = {"peak": 10.0}
    t = parse_tariff(d)
    ts = np.arange(
        np.datetime64("2026-06-30T00:00"), np.datetime64("2026-07-02T00:00"), np.timedelta64(15, "m")
    )
    ws = t.demand_windows(ts)
    assert [(w.month, w.name, w.rate_per_kw) for w in ws] == [
        ("2026-06", "flat", 40.0),
        ("2026-06", "peak", 10.0),
        ("2026-07", "flat", 40.0),
        ("2026-07", "peak", 10.0),
    ]
    assert ws[1].mask.sum() == 16
    assert ws[0].mask.sum() == 96


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (lambda d: d.update(enrgy=d.pop("energy")), "enrgy", "did you mean 'energy'"),
        (
            lambda d: d["energy"]["periods"].update(peek=[[18, 22]]),
            "energy.periods.peek",
            "did you mean 'peak'",
        ),
        (lambda d: d["energy"]["periods"].update(valley=[[0, 7]]), "energy.periods", "7:00 are in no period"),
        (
            lambda d: d["energy"]["periods"].update(valley=[[0, 9]]),
            "energy.periods.flat",
            "already in period",
        ),
        (lambda d: d["demand"].update(basis="capacity"), "demand.basis", "did you mean 'capacity_kva'"),
        (lambda d: d["demand"].update(rate_per_kw_month="forty"), "demand.rate_per_kw_month", "a number"),
        (lambda d: d.pop("tariff_id"), "tariff_id", "required"),
        (
            lambda d: d["demand"].update(ratchet={"percent": 150, "lookback_months": 11}),
            "demand.ratchet.percent",
            "0–100",
        ),
        (lambda d: d["demand"].update(basis="capacity_kva"), "capacity.contract_kva", "required"),
    ],
)
def test_parse_errors_carry_key_paths(change: Any, where: str, message: str) -> None:
    d = simple()
    change(d)
    with pytest.raises(ParameterError) as exc:
        parse_tariff(d)
    assert any(i.where() == where and message in i.message for i in exc.value.issues), exc.value.issues


def test_every_problem_is_reported_at_once() -> None:
    d = simple(fixed_monthly=-1, exprot={})
    d["demand"]["rate_per_kw_month"] = "x"
    with pytest.raises(ParameterError) as exc:
        parse_tariff(d)
    assert {i.where() for i in exc.value.issues} >= {"fixed_monthly", "exprot", "demand.rate_per_kw_month"}


def test_a_misspelt_key_in_a_file_names_file_line_and_suggestion(tmp_path: Path) -> None:
    text = (ROOT / "profiles/tariffs/example_cn_north_2026.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("rate_per_kw_month: 40.0", "rate_per_kw_mnth: 40.0"))
    line = 1 + bad.read_text().splitlines().index(
        next(x for x in bad.read_text().splitlines() if "rate_per_kw_mnth" in x)
    )
    with pytest.raises(ConfigError) as exc:
        load_tariff(bad)
    (p,) = exc.value.problems
    assert p.file == str(bad)
    assert p.line == line
    assert "did you mean 'rate_per_kw_month'" in p.message
    kind, problems = validate_file(bad)
    assert kind == "tariff"
    assert problems == exc.value.problems


def test_malformed_yaml_and_unknown_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tariff_id: x\nenergy: {prices: {peak: 1.0}\n")
    with pytest.raises(ConfigError) as exc:
        load_tariff(bad)
    assert "malformed YAML" in str(exc.value)
    with pytest.raises(ConfigError, match="did you mean 'example_cn_north_2026'"):
        load_tariff("example_cn_nort_2026")


def test_urdb_errors_have_json_lines(tmp_path: Path) -> None:
    src = json.loads((ROOT / "profiles/tariffs/example_urdb_cn_north_2026.json").read_text())
    src["items"][0]["energyweekdayschedule"][3][5] = 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(src, indent=1))
    with pytest.raises(ConfigError) as exc:
        load_tariff(bad)
    (p,) = exc.value.problems
    assert "period 7 does not exist" in p.message
    assert p.line is not None
    assert p.line > 1
    assert "items[0].energyweekdayschedule[3][5]" in p.where


def test_urdb_reads_the_same_tariff_as_the_yaml() -> None:
    a = load_tariff("example_urdb_cn_north_2026")
    b = load_tariff("example_cn_north_2026")
    assert a.period_prices == b.period_prices
    assert a.weekday_schedule == b.weekday_schedule
    assert a.flat_demand == b.flat_demand


def test_urdb_fields() -> None:
    sched = [[0] * 12 + [1] * 12 for _ in range(12)]
    t = tariff_from_urdb(
        {
            "energyratestructure": [[{"rate": 0.1, "adj": 0.02}], [{"rate": 0.3}]],
            "energyweekdayschedule": sched,
            "energyweekendschedule": [[0] * 24 for _ in range(12)],
            "flatdemandstructure": [[{"rate": 5.0}], [{"rate": 8.0, "max": 100}, {"rate": 6.0}]],
            "flatdemandmonths": [0] * 5 + [1] * 3 + [0] * 4,
            "fixedchargefirstmeter": 2.0,
            "fixedchargeunits": "$/day",
            "lookbackpercent": 0.8,
            "lookbackrange": 11,
        }
    )
    assert isinstance(t, Tariff)
    assert t.period_prices == pytest.approx((0.12, 0.3))
    assert t.flat_demand[6] == ((100.0, 8.0), (float("inf"), 6.0))
    assert t.fixed_daily == 2.0
    assert t.ratchet is not None
    assert t.ratchet.percent == pytest.approx(80.0)
    with pytest.raises(ParameterError, match="tiered energy"):
        tariff_from_urdb(
            {
                "energyratestructure": [[{"rate": 0.1, "max": 100}, {"rate": 0.2}]],
                "energyweekdayschedule": [[0] * 24 for _ in range(12)],
            }
        )


def test_the_tariff_and_study_schema_docs_are_generated_from_the_code() -> None:
    from hil.schema_doc import study_schema_markdown, tariff_schema_markdown

    docs = Path(__file__).resolve().parents[4] / "docs"
    assert (docs / "tariff-schema.md").read_text() == tariff_schema_markdown()
    assert (docs / "study-schema.md").read_text() == study_schema_markdown()
