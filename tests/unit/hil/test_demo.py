"""The demo job bills what it ran: the bill's energy is the integral of the recorded import."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.config import load_site
from hil.demo import run_demo
from hil.tariff import load_tariff


def test_demo_bill_energy_is_the_integral_of_the_import() -> None:
    site = load_site("lab_rack")
    tariff = load_tariff("example_cn_north_2026")
    s = run_demo(site, duration_s=120.0, tariff=tariff)
    assert s.bill is not None
    # mean import × duration (kWh), the same tick means the bill integrates (rel 1e-9)
    expected = s.mean_import_kw * s.simulated_s / 3600.0
    assert s.bill.import_kwh == pytest.approx(max(expected, 0.0), rel=1e-9)
    assert s.bill.total > 0.0
    assert np.isfinite(s.bill.total)
    # the demo runs on the bench's Runner: the stand-in EMS drives the storage through the
    # gateway (it learned its limit over the first minute and wrote setpoints and heartbeats)
    assert s.ems_limit_kw is not None
    assert s.ems_writes > 60
    assert s.soc_min_pct < s.soc_max_pct  # and the storage moved


def test_hil_demo_prints_the_bill_and_rejects_an_unknown_tariff() -> None:
    res = CliRunner().invoke(main, ["demo", "--site", "lab_rack", "--hours", "0.02"])
    assert res.exit_code == 0, res.output
    assert "bill under example_cn_north_2026" in res.output
    bad = CliRunner().invoke(
        main, ["demo", "--site", "lab_rack", "--hours", "0.01", "--tariff", "example_cn_nrth"]
    )
    assert bad.exit_code == 2
    assert "example_cn_north_2026" in bad.output  # the did-you-mean
