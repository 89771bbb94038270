"""Running a bench: the :class:`~hil.run.runner.Runner` and its pacers, the scenario player
(:mod:`hil.run.play`, :mod:`hil.run.play_actions`), the trace (:mod:`hil.trace.store` and its
sinks) and the live status panel. Imports point down: this wing uses the scenario model, the
gateway, the protocols and the faults; nothing below it imports it."""
