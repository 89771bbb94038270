"""Device behaviours: what each kind of served device derives from the twin and how its
setpoint registers drive the twin's inputs.

A behaviour is vectorised over the instances of its kind (all battery PCS at once). It gives
the point maps three things by name: ratings (for ranges and scale factors), derived values
(``dev.*``) and the meaning of its controls (SunSpec 704/715/802 semantics, reversion timers,
heartbeats and the controller-heartbeat watchdog, ``shared/protocols.md`` §1.3).

One writer per tick boundary: a behaviour pushes a twin input only for the units whose
controls a client wrote since the last boundary, or whose reversion timer or comm-loss
watchdog fired at it (a reversion *is* a write of the reverted values). It never re-asserts
unchanged registers, so a scenario's ``set:`` of the same input holds until the next write
(``docs/design-decisions.md``, "The write path"). The registers' power-on state reaches the
twin once, from :meth:`Behaviour.start`, when the gateway is built. Every push is noted in
:attr:`Behaviour.pushed` (the gateway logs it; the trace shows it as an ``input`` event).
"""

from __future__ import annotations

from hil.wire.devices.base import AT_START, BY_REVERSION, BY_WATCHDOG, BY_WRITE, Behaviour, Reversion
from hil.wire.devices.bess import BessBehaviour
from hil.wire.devices.genset import GensetBehaviour
from hil.wire.devices.meter import MeterBehaviour
from hil.wire.devices.pv import PvBehaviour
from hil.wire.devices.site import SiteBehaviour
from hil.wire.devices.utility import UtilityBehaviour

__all__ = [
    "AT_START",
    "BEHAVIOURS",
    "BY_REVERSION",
    "BY_WATCHDOG",
    "BY_WRITE",
    "Behaviour",
    "BessBehaviour",
    "GensetBehaviour",
    "MeterBehaviour",
    "PvBehaviour",
    "Reversion",
    "SiteBehaviour",
    "UtilityBehaviour",
]

BEHAVIOURS: dict[str, type[Behaviour]] = {
    "meter": MeterBehaviour,
    "utility": UtilityBehaviour,
    "site": SiteBehaviour,
    "bess": BessBehaviour,
    "pv": PvBehaviour,
    "genset": GensetBehaviour,
}
