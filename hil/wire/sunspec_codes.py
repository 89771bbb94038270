"""The SunSpec codes the bench serves and its controllers read, by name, from the shipped
model definitions (``hil/wire/sunspec_models``): no state code or alarm bit is a bare number in
the code. :mod:`hil.wire.devices.codes` maps the twin's own state enumerations onto these."""

from __future__ import annotations

from hil.wire.sunspec import symbol_bits, symbols

__all__ = [
    "BMS_CONNECTED",
    "BMS_FAULT",
    "BMS_STATE",
    "BMS_WARNING_BITS",
    "CONN_ST",
    "DER_MODE",
    "DR_ACTIVE",
    "DR_PENDING",
    "EVT1_BMS",
    "GRID_ALARM_BITS",
    "INV_FAULT",
    "INV_OFF",
    "INV_RUNNING",
    "INV_RUNNING_CODES",
    "INV_ST",
    "INV_STANDBY",
    "INV_STARTING",
    "INV_THROTTLED",
    "LEGACY_ST",
    "OP_CTL",
    "OP_CTL_RUN",
    "STA_713",
]

#: 701 ``InvSt``: the inverter's state (a PCS, a PV inverter, a genset served as a DER).
INV_ST = symbols(701, "InvSt")
INV_OFF = INV_ST["OFF"]
INV_STARTING = INV_ST["STARTING"]
INV_RUNNING = INV_ST["RUNNING"]
INV_THROTTLED = INV_ST["THROTTLED"]
INV_FAULT = INV_ST["FAULT"]
INV_STANDBY = INV_ST["STANDBY"]
#: the states in which an inverter is connected and delivering what it is asked
INV_RUNNING_CODES = (INV_RUNNING, INV_THROTTLED)
#: 701 ``ConnSt``
CONN_ST = symbols(701, "ConnSt")
#: 701 ``DERMode`` bits (``GRID_FOLLOWING``, ``GRID_FORMING``)
DER_MODE = symbols(701, "DERMode")
#: 701 ``Alrm`` bits a grid-code trip sets (the PCS clears them itself once it may re-enter)
GRID_ALARM_BITS = symbol_bits(
    701, "Alrm", ("GRID_DISCONNECT", "OVER_FREQUENCY", "UNDER_FREQUENCY", "AC_OVER_VOLT", "AC_UNDER_VOLT")
)
#: 715 ``OpCtl``; the commands that leave the unit running
OP_CTL = symbols(715, "OpCtl")
OP_CTL_RUN = (OP_CTL["START"], OP_CTL["EXIT_STANDBY"])
#: 713 ``Sta``: the storage's status (OK, WARNING, ERROR)
STA_713 = symbols(713, "Sta")
#: 802 ``State``: the battery's state
BMS_STATE = symbols(802, "State")
BMS_CONNECTED = BMS_STATE["CONNECTED"]
BMS_FAULT = BMS_STATE["FAULT"]
#: 802 ``Evt1`` bits
EVT1_BMS = symbols(802, "Evt1")
#: 802 ``Evt1`` bits that are warnings, not alarms (every ``*_WARNING`` symbol)
BMS_WARNING_BITS = symbol_bits(802, "Evt1", (n for n in EVT1_BMS if n.endswith("_WARNING")))
#: 103 ``St``: the legacy inverter model's state
LEGACY_ST = symbols(103, "St")
#: 64902 ``DRSt``: the utility's demand-response event
_DR_ST = symbols(64902, "DRSt")
DR_PENDING = _DR_ST["NOTIFIED"]
DR_ACTIVE = _DR_ST["ACTIVE"]
