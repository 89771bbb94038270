"""Scenarios as data: a YAML file parsed once into typed events and expectations.

A scenario names its site, its controller, a duration, a timeline of events and a list of
structured expectations. Nothing in it is ever evaluated as code. ::

    scenario: grid_outage
    title: Grid outage, islanding and genset start
    site: aidc_10k
    duration: 10 min
    controller: standin          # or external (an EMS on the wire), or {name: standin, mode: ...}
    events:
      - at: 1 min
        grid_outage: {duration: 5 min}
      - at: 2 min
        fault: {type: pcs_trip, target: PCS03, duration: 30 s}
    expect:
      - name: the GPU racks stay powered
        signal: site.racks_dark
        lt: 1
        always: {from: 1 min, to: 7 min}

Durations take ``ms``, ``s``, ``min``, ``h`` or ``d`` and nothing else. Values may carry a unit
(``25 MW``, ``500 kW``, ``59.3 Hz``); bare numbers are in the signal's own unit (the suffix of
its name: ``_kw`` is kW, ``_pct`` is %). :func:`load_scenario` reports every problem in a file at
once, each with its line and a did-you-mean; :meth:`Scenario.check` does the same for the names
that need a site (signals, inputs, devices, fault targets).
"""

from __future__ import annotations

from twin.units import parse_duration, parse_quantity, signal_unit

from ..errors import ScenarioError
from .model import (
    ACTIONS,
    Action,
    Always,
    ControllerSpec,
    Event,
    Eventually,
    Expectation,
    Scenario,
)
from .names import DEFAULT_KEY_SIGNALS, alarm_table, split_name, state_enum
from .parse import TOP_KEYS, load_scenario, parse_scenario

__all__ = [
    "ACTIONS",
    "DEFAULT_KEY_SIGNALS",
    "TOP_KEYS",
    "Action",
    "Always",
    "ControllerSpec",
    "Event",
    "Eventually",
    "Expectation",
    "Scenario",
    "ScenarioError",
    "alarm_table",
    "load_scenario",
    "parse_duration",
    "parse_quantity",
    "parse_scenario",
    "signal_unit",
    "split_name",
    "state_enum",
]
