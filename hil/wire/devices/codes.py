"""The twin's state enumerations mapped onto the SunSpec codes the devices serve, by name.

The twin's PCS and BMS states are the SunSpec 701 ``InvSt`` and 802 ``State`` codes
themselves (``tests/unit/hil/test_sunspec_codes.py`` holds them equal, name by name); the genset's
states and the legacy 103 ``St`` are mapped here through lookup tables indexed by the twin's
code, built from names so that nothing here is a bare number."""

from __future__ import annotations

import numpy as np

from hil.wire.sunspec_codes import INV_ST, LEGACY_ST
from twin.models.bms import Contactor
from twin.models.genset import GensetState

__all__ = ["CONTACTOR_CLOSED", "GENSET_INV_ST", "LEGACY_OF_INV", "lookup"]

CONTACTOR_CLOSED = float(Contactor.CLOSED)

#: 701 ``InvSt`` names -> 103 ``St`` names (the legacy model calls running ``MPPT``)
_LEGACY_NAME = {
    "OFF": "OFF",
    "SLEEPING": "SLEEPING",
    "STARTING": "STARTING",
    "RUNNING": "MPPT",
    "THROTTLED": "THROTTLED",
    "SHUTTING_DOWN": "SHUTTING_DOWN",
    "FAULT": "FAULT",
    "STANDBY": "STANDBY",
}
#: the genset's states -> 701 ``InvSt`` names
_GENSET_NAME = {
    GensetState.OFF: "OFF",
    GensetState.CRANKING: "STARTING",
    GensetState.RUNNING: "RUNNING",
    GensetState.COOLDOWN: "SHUTTING_DOWN",
    GensetState.FAIL_TO_START: "FAULT",
}


def _table(pairs: dict[int, int], default: int) -> np.ndarray:
    """A lookup table from a code (0..max) to another; its last entry, ``default``, is what
    a code not listed reads as."""
    out = np.full(max(pairs) + 2, float(default))
    for k, v in pairs.items():
        out[k] = float(v)
    return out


#: 103 ``St`` by 701 ``InvSt`` code (a PCS served with the legacy personality)
LEGACY_OF_INV = _table({INV_ST[k]: LEGACY_ST[v] for k, v in _LEGACY_NAME.items()}, LEGACY_ST["OFF"])
#: 701 ``InvSt`` by genset state
GENSET_INV_ST = _table({int(k): INV_ST[v] for k, v in _GENSET_NAME.items()}, INV_ST["FAULT"])


def lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``table[codes]`` (float); a code not in the table reads as the table's default."""
    idx = np.asarray(codes).astype(np.int64)
    last = table.size - 1
    return table[np.where((idx >= 0) & (idx < last), idx, last)]
