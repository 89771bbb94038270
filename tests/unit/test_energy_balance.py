"""24-hour energy balance of aidc_10k: grid + PV + genset = IT + cooling + losses + Δstored.

Every term is accumulated from its own device's signals; the stored energy is computed
from the cells' SoC through ∫ OCV dQ, independently of the power flows. The balance must
close within 0.1 % of the energy supplied.
"""

from __future__ import annotations

import numpy as np
import pytest

from hil.config import load_site


@pytest.mark.slow
def test_aidc_10k_24h_energy_balance() -> None:
    # aging off: capacity fade shrinks the stored A·h at constant SoC, a real loss that is
    # no power flow, and would blur this conservation check (it is tested in test_aging)
    site = load_site("aidc_10k", overrides={"tick_s": 1.0, "aging": {"model": "none"}})
    e0 = float(site.snapshot()["bess.energy_kwh"])
    site.set("pcs.enable", 1)
    # a TOU-like day: charge at night, discharge in the evening peak, rest otherwise,
    # with a short islanding-free genset test run at noon
    schedule = {0: -6000.0, 6 * 3600: 0.0, 18 * 3600: 8000.0, 22 * 3600: 0.0}
    for k in range(86400):
        if k in schedule:
            site.set("bess.p_set_kw", schedule[k])
        if k == 12 * 3600:
            site.set("genset.start", 1)
            site.set("genset.p_set_kw", 1500.0)
        if k == 12 * 3600 + 1800:
            site.set("genset.start", 0)
        site.step()
    snap = site.snapshot()
    e1 = float(snap["bess.energy_kwh"])
    b = site.energy_balance()
    sources = b["grid_kwh"] + b["pv_kwh"] + b["genset_kwh"]
    sinks = (
        b["it_kwh"]
        + b["cooling_kwh"]
        + b["base_kwh"]
        + b["aux_kwh"]
        + b["pcs_loss_kwh"]
        + b["battery_loss_kwh"]
    )
    delta_stored = e1 - e0
    residual = sources - (sinks + delta_stored)
    # the storage did real work and every source took part
    assert b["battery_chem_kwh"] != 0.0
    assert abs(delta_stored) > 1000.0
    assert b["pv_kwh"] > 1000.0
    assert b["genset_kwh"] > 100.0
    assert abs(residual) <= 1e-3 * sources, (residual, sources)
    print(f"residual {residual:.3f} kWh of {sources:.1f} kWh supplied ({residual / sources:.2e})")
    # the chemical energy the cells gave up equals the drop in stored energy (state vs flow)
    np.testing.assert_allclose(b["battery_chem_kwh"], -delta_stored, rtol=1e-3)
