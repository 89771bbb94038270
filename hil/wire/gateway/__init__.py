"""The gateway between the protocol servers and the twin.

Servers read only what the last tick encoded; writes are validated (access, type, range, enum,
local/remote), held as the device's setpoint registers and queued, and the device behaviours
apply them to the twin at the next tick boundary. A rejected write changes nothing.

The write path: :meth:`Gateway.apply_writes` applies the queued writes in the order received
and each behaviour pushes the twin inputs of the units written (or reverted) — never the
unchanged registers of the others — so a scenario's ``set:`` of the same input holds until
the next write; :meth:`Gateway.advance` steps the twin. The runner puts the scenario's
actions between the two (:meth:`hil.run.runner.Runner.step`); :meth:`Gateway.step` does both.
The registers' power-on state is pushed once, when the gateway is built. Writes are logged in
:attr:`Gateway.write_log`, the inputs they pushed in :attr:`Gateway.input_log`.

Everything here is protocol-neutral: :mod:`hil.protocols.modbus`, :mod:`hil.protocols.opcua` are adapters
over :meth:`Gateway.read_registers`, :meth:`Gateway.write_registers`, :meth:`Gateway.write_value`
and the per-tick :attr:`Gateway.on_tick` callbacks.

Observation faults (what every protocol sees; the twin never does). Both are applied at the end
of each encode, after the normal encoding, so they cost nothing while none is active:

* :meth:`Gateway.freeze` / :meth:`Gateway.unfreeze`: a device's registers stop updating (stale
  values, heartbeats included) while the twin runs on; unfreezing serves current values again
  from the next encode (the next tick).
* :meth:`Gateway.set_override` / :meth:`Gateway.clear_override`: one point stuck (at a given
  value, or at what it reads now) or biased (``value * gain + offset``), in engineering units
  with the point's scale factor; a not-implemented value stays not implemented. A stuck
  register is the same fault at point granularity: override the point that owns it.

Writes to a faulted device still take the normal write path (validated, held, queued, applied
to the twin); only what is read back is faulted.
"""

from __future__ import annotations

from hil.wire.gateway.encode import EncodePlan
from hil.wire.gateway.layout import Device, KindGroup, PointInstance, WriteStatus
from hil.wire.gateway.observation import ObservationFaults
from hil.wire.gateway.runtime import Gateway, Pending

__all__ = [
    "Device",
    "EncodePlan",
    "Gateway",
    "KindGroup",
    "ObservationFaults",
    "Pending",
    "PointInstance",
    "WriteStatus",
]
