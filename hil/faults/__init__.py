"""The fault catalogue: every fault a scenario can inject, with its layer, parameters and effect.

A fault is data in a scenario (``fault: {type: pcs_trip, target: PCS03, duration: 30 s}``) and a
:class:`FaultType` here. Each declares:

* its **layer**: ``physics`` (the twin misbehaves: a trip, a derate, a hot cell), ``sensor``
  (the twin is right but a measurement the EMS reads is wrong) or ``protocol`` (the device is
  fine but its communication is not: exceptions, delays, stale values, dropped links);
* the **device kinds** it may target (gateway device names such as ``PCS03``, a kind such as
  ``bess`` for every unit of it, ``all``, or ``ems`` for the controller link);
* its **parameters**, a pydantic model validated when the scenario loads;
* **what a real device shows** when it happens: the reason it is in the catalogue.

Injection and clearing go through a :class:`Bench` (the runner): the twin's inputs, the gateway's
observation layer, the protocol endpoints and the controller. Faults never reach into the
servers' internals; the endpoints expose fault hooks (``set_unit_fault``, ``set_status``, ...).
``docs/faults.md`` is generated from this package (``hil faults --format md``).
"""

from __future__ import annotations

# isort: off
# the layers register their faults in FAULTS when imported: in this order, the catalogue's
from . import physics  # noqa: F401
from . import sensor  # noqa: F401
from . import protocol  # noqa: F401

# isort: on
from .catalogue import (
    FAULTS,
    Bench,
    FaultSpec,
    FaultType,
    Layer,
    NoParams,
    Params,
    catalogue_markdown,
    check_target,
    fault,
    parse_fault,
    resolve_targets,
)

__all__ = [
    "FAULTS",
    "Bench",
    "FaultSpec",
    "FaultType",
    "Layer",
    "NoParams",
    "Params",
    "catalogue_markdown",
    "check_target",
    "fault",
    "parse_fault",
    "resolve_targets",
]
