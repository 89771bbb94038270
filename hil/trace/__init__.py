"""The run's record on disk: the columnar trace and the event log (:mod:`hil.trace.store`,
written as the run goes and readable after a kill), the full-width trace at a coarser
interval (:mod:`hil.trace.full`), the writer's sinks and disk budget (:mod:`hil.trace.sink`,
:mod:`hil.trace.disk`) and a run folder's bill (:mod:`hil.trace.bill`). The runner writes it,
the reports, the EMS checks and ``hil bill`` read it; it imports none of them. Nothing is
re-exported here, so importing one of its light modules does not load pyarrow."""
