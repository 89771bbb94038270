"""What the EMS sees on the wire: the SunSpec model definitions and layouts
(:mod:`hil.wire.sunspec`, with the vendor models in ``sunspec_models/``), the point maps
(:mod:`hil.wire.points`, :mod:`hil.wire.pointlist`), the gateway that encodes the twin's
snapshot into registers and turns writes into twin inputs (:mod:`hil.wire.gateway`), and one
behaviour per device kind (:mod:`hil.wire.devices`). The protocol adapters
(:mod:`hil.protocols`) serve it; it imports neither them nor the run wing."""
