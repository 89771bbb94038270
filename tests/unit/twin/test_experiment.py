"""Cell experiments: step parsing, cut-offs located exactly, CSV layout."""

from __future__ import annotations

import numpy as np
import pytest

from twin import ParameterError, load_cell, parse_duration, parse_step, run_cell_experiment


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250 ms", 0.25), ("30 s", 30), ("15 min", 900), ("1.5 h", 5400), ("2 d", 172800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10", "5 sec", "1 hour", "-3 s", "h"])
def test_bad_durations_raise(bad: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(bad)


def test_steps_parse() -> None:
    s = parse_step("discharge 100 A until 3.2 V")
    assert (s.current_a, s.until_v, s.duration_s) == (100.0, 3.2, None)
    s = parse_step("charge 50 A for 30 min")
    assert (s.current_a, s.duration_s) == (-50.0, 1800.0)
    s = parse_step("rest 1 h")
    assert (s.current_a, s.duration_s) == (0.0, 3600.0)


def test_bad_steps_are_all_reported() -> None:
    with pytest.raises(ParameterError) as info:
        run_cell_experiment(
            load_cell("ecm_example_100ah"),
            ["dance 5 A", "rest 1 hour"],
            soc0=0.5,
            temp_degc=25,
            dt=1,
        )
    assert len(info.value.issues) == 2


def test_cutoff_is_located_and_rows_are_on_the_dt_grid() -> None:
    res = run_cell_experiment(
        load_cell("ecm_example_100ah"),
        ["discharge 100 A until 3.6 V", "rest 10 min"],
        soc0=0.9,
        temp_degc=25,
        dt=1.0,
    )
    c = res.columns
    assert res.end_reasons == ["cut-off", "duration"]
    step0 = c["step"] == 0
    # the last row of step 0 sits exactly on the cut-off voltage (1 µV)
    assert c["voltage_v"][step0][-1] == pytest.approx(3.6, abs=1e-6)
    t_cut = c["t_s"][step0][-1]
    assert not float(t_cut).is_integer()
    # rows inside step 0 are every dt from 0; the rest step ends 600 s after the cut-off
    np.testing.assert_allclose(np.diff(c["t_s"][step0][:-1]), 1.0, atol=1e-9)
    assert c["t_s"][-1] == pytest.approx(t_cut + 600.0, abs=1e-9)
    # current positive on discharge, zero at rest; SoC follows coulomb counting exactly
    assert np.all(c["current_a"][step0] == 100.0)
    assert np.all(c["current_a"][c["step"] == 1] == 0.0)
    assert c["soc"][step0][-1] == pytest.approx(0.9 - 100 * t_cut / 3600 / 100, rel=1e-12)
    # at rest the voltage relaxes upward
    assert c["voltage_v"][-1] > c["voltage_v"][step0][-1]
    header = res.to_csv().splitlines()[0].split(",")
    assert header[:5] == ["t_s", "step", "current_a", "voltage_v", "soc"]
    assert {"t_cell_degc"} <= set(header)


def test_hil_cell_bad_params_give_clear_errors(tmp_path) -> None:
    """A missing file, a misspelt name and a bad key each exit 2 with a message, no traceback."""
    from click.testing import CliRunner

    from hil.cli import main

    runner = CliRunner()
    args = ["--soc0", "0.5", "--dt", "1", "--step", "rest 1 s"]
    res = runner.invoke(main, ["cell", "--params", str(tmp_path / "missing.yaml"), *args])
    assert res.exit_code == 2
    assert "file not found" in res.output
    res = runner.invoke(main, ["cell", "--params", "lfp_280", *args])
    assert res.exit_code == 2
    assert "did you mean 'lfp_280ah'" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: lfp_280ah\ncapacity_a: 100\n")
    res = runner.invoke(main, ["cell", "--params", str(bad), *args])
    assert res.exit_code == 2
    assert f"{bad}:2" in res.output
    assert "did you mean 'capacity_ah'" in res.output
    res = runner.invoke(main, ["cell", "--params", "example_2rc", *args])
    assert res.exit_code == 0, res.output
