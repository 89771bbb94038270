"""Grid-code protection, ride-through and enter service for a fleet of inverters.

Three parts:

* **Grid codes as data.** :class:`GridCode` is a frozen parameter set loaded from JSON under
  ``twin/data/gridcodes/`` by :func:`load_grid_code`: IEEE 1547-2018 Categories I, II and
  III (60 Hz) and a 50 Hz profile. A site file can pass a dict instead, optionally naming a
  shipped ``base`` that it overrides key by key.
* **A vectorised protection state machine.** :class:`GridCodeMonitor` holds one trip timer
  per function (OV2, OV1, UV1, UV2, OF2, OF1, UF1, UF2, RoCoF, anti-islanding, LVRT) for each
  of ``n`` units and is updated once per tick. Inputs are held constant over a tick, so a
  timer that reaches its clearing time inside a tick trips at that exact instant
  (``t + clearing − elapsed``), whatever the tick length. After a trip a unit re-enters
  service only when voltage and frequency have stayed inside the enter-service window for the
  enter-service delay, and then ramps its output limit from 0 to 1 over the ramp time.
* **Pure functions** for the steady-state control curves: :func:`volt_var_q_pu`,
  :func:`freq_watt_dp_pu`, :func:`volt_watt_p_pu`, and :func:`response_tau_s` (IEEE 1547
  open-loop response time → first-order lag time constant) with :func:`lag_step`.

Comparisons follow IEEE 1547 wording: over-functions trip when the quantity is *strictly
above* the threshold (``V > 1.20 pu``), under-functions when *strictly below*. Q is positive
when the inverter injects reactive power. Sources are tagged [S]/[C]/[K] as in physics.md.
"""

from __future__ import annotations

from twin.models.gridcode.curves import (
    fault_reactive_current_pu,
    freq_watt_dp_pu,
    lag_step,
    response_tau_s,
    volt_var_q_pu,
    volt_watt_p_pu,
)
from twin.models.gridcode.loading import (
    available_grid_codes,
    grid_code_issues,
    load_grid_code,
)
from twin.models.gridcode.monitor import (
    GridCodeMonitor,
    GridCodeStatus,
)
from twin.models.gridcode.settings import (
    RIDE_THROUGH_MODES,
    TIME_TOLERANCE_S,
    TRIP_FUNCTIONS,
    TRIP_REASONS,
    VOLT_VAR_CAT_A,
    VOLT_VAR_CAT_B,
    VOLT_WATT_CAT_B,
    EnterService,
    FrequencyRegion,
    FrequencyTrip,
    FreqWatt,
    GridCode,
    IslandTrip,
    LvrtCurve,
    ReactiveCurrent,
    RideThrough,
    RocofTrip,
    TripSettings,
    VoltageRegion,
    VoltageTrip,
    VoltVarCurve,
    VoltWattCurve,
)

__all__ = [
    "RIDE_THROUGH_MODES",
    "TIME_TOLERANCE_S",
    "TRIP_FUNCTIONS",
    "TRIP_REASONS",
    "VOLT_VAR_CAT_A",
    "VOLT_VAR_CAT_B",
    "VOLT_WATT_CAT_B",
    "EnterService",
    "FreqWatt",
    "FrequencyRegion",
    "FrequencyTrip",
    "GridCode",
    "GridCodeMonitor",
    "GridCodeStatus",
    "IslandTrip",
    "LvrtCurve",
    "ReactiveCurrent",
    "RideThrough",
    "RocofTrip",
    "TripSettings",
    "VoltVarCurve",
    "VoltWattCurve",
    "VoltageRegion",
    "VoltageTrip",
    "available_grid_codes",
    "fault_reactive_current_pu",
    "freq_watt_dp_pu",
    "grid_code_issues",
    "lag_step",
    "load_grid_code",
    "response_tau_s",
    "volt_var_q_pu",
    "volt_watt_p_pu",
]
