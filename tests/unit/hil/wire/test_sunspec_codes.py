"""SunSpec codes come from the model definitions, and the twin's states map onto them by name.

Also the reactive-power modes of 704 ``VarSetMod``, which the battery behaviour once read
with the wrong numbers (mode 1, ``VAR_MAX_PCT``, was taken for ``VARS``)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hil.config import load_site
from hil.wire.devices.codes import GENSET_INV_ST, LEGACY_OF_INV, lookup
from hil.wire.gateway import Gateway, WriteStatus
from hil.wire.sunspec import models_dir, symbol_bits, symbols
from hil.wire.sunspec_codes import BMS_WARNING_BITS, GRID_ALARM_BITS, INV_ST, LEGACY_ST
from twin.models.bms import BmsState, ChaSt
from twin.models.genset import GensetState
from twin.models.pcs_params import PcsState


def _json_symbols(model: int, point: str) -> dict[str, int]:
    """The symbols read straight from the model's JSON (not through hil.wire.sunspec)."""
    data = json.loads((models_dir() / f"model_{model}.json").read_text(encoding="utf-8"))
    found: dict[str, int] = {}

    def walk(g: dict) -> None:  # type: ignore[type-arg]
        for p in g.get("points", []):
            if p["name"] == point.split(".")[-1]:
                found.update({s["name"]: int(s["value"]) for s in p.get("symbols", [])})
        for sub in g.get("groups", []):
            walk(sub)

    walk(data["group"])
    return found


@pytest.mark.parametrize(
    ("enum", "model", "point"),
    [(PcsState, 701, "InvSt"), (BmsState, 802, "State"), (ChaSt, 802, "ChaSt")],
)
def test_the_twins_states_are_the_sunspec_codes(enum: type, model: int, point: str) -> None:
    table = {name.replace(" ", "_"): v for name, v in _json_symbols(model, point).items()}
    for member in enum:  # type: ignore[attr-defined]
        assert table.get(member.name) == int(member), f"{enum.__name__}.{member.name} vs {model} {point}"


def test_symbols_read_the_definitions() -> None:
    assert symbols(701, "InvSt") == _json_symbols(701, "InvSt")
    assert symbols(704, "PFWInj.Ext") == _json_symbols(704, "Ext")
    with pytest.raises(KeyError):
        symbols(701, "NoSuchPoint")
    with pytest.raises(KeyError):
        symbols(704, "NoGroup.Ext")
    alrm = _json_symbols(701, "Alrm")
    assert (
        sum(
            1 << alrm[n]
            for n in ("GRID_DISCONNECT", "OVER_FREQUENCY", "UNDER_FREQUENCY", "AC_OVER_VOLT", "AC_UNDER_VOLT")
        )
        == GRID_ALARM_BITS
    )
    evt1 = _json_symbols(802, "Evt1")
    assert sum(1 << b for n, b in evt1.items() if "WARNING" in n) == BMS_WARNING_BITS
    assert symbol_bits(802, "Evt1", ()) == 0


def test_every_twin_state_maps_to_a_named_code() -> None:
    inv_names = {v: k for k, v in INV_ST.items()}
    served = {
        GensetState(int(s)).name: inv_names[int(v)]
        for s, v in zip(range(5), lookup(GENSET_INV_ST, np.arange(5.0)), strict=True)
    }
    assert served == {
        "OFF": "OFF",
        "CRANKING": "STARTING",
        "RUNNING": "RUNNING",
        "COOLDOWN": "SHUTTING_DOWN",
        "FAIL_TO_START": "FAULT",
    }
    legacy_names = {v: k for k, v in LEGACY_ST.items()}
    legacy = {s.name: legacy_names[int(lookup(LEGACY_OF_INV, np.array([float(s)]))[0])] for s in PcsState}
    assert legacy == {
        "OFF": "OFF",
        "STARTING": "STARTING",
        "RUNNING": "MPPT",
        "THROTTLED": "THROTTLED",
        "FAULT": "FAULT",
        "STANDBY": "STANDBY",
    }
    # a code the table does not know reads as its default, as the np.select it replaced did
    assert lookup(LEGACY_OF_INV, np.array([42.0, -1.0])).tolist() == [LEGACY_ST["OFF"]] * 2
    assert lookup(GENSET_INV_ST, np.array([42.0])).tolist() == [INV_ST["FAULT"]]


VAR_MODE = _json_symbols(704, "VarSetMod")


@pytest.mark.parametrize("mode", sorted(VAR_MODE))
def test_var_set_mode_names_the_base_of_the_setpoint(mode: str) -> None:
    """704 VarSetMod: VARS takes VarSet in var, the others VarSetPct of the base they name."""
    gw = Gateway(load_site("lab_rack"))
    dev = next(d for d in gw.devices if d.kind == "bess")
    beh = dev.group.behaviour
    r = beh.ratings
    w_max, var_max, va_max = float(r["w_max"][0]), float(r["var_max"][0]), float(r["va_max"][0])
    p_w, pct, var_abs = 0.6 * w_max, 25.0, -0.2 * var_max
    for key, v in (
        ("704.WSetEna", 1),
        ("704.WSet", p_w),
        ("704.VarSetMod", VAR_MODE[mode]),
        ("704.VarSetPct", pct),
        ("704.VarSet", var_abs),
        ("704.VarSetEna", 1),
    ):
        assert gw.write_value(dev, key, v) is WriteStatus.OK, key
    gw.step()
    q_kvar = [v for _, _, name, v, _ in gw.input_log if name == "pcs[0].q_set_kvar"][-1]
    expected = {
        "VARS": var_abs,
        "W_MAX_PCT": pct / 100.0 * w_max,
        "VAR_MAX_PCT": pct / 100.0 * var_max,
        "VAR_AVAIL_PCT": pct / 100.0 * min(math.sqrt(va_max**2 - p_w**2), var_max),
        "VA_MAX_PCT": pct / 100.0 * va_max,
    }[mode]
    assert q_kvar * 1000.0 == pytest.approx(expected, rel=1e-12)
