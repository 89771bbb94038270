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

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Final, overload

import numpy as np
import numpy.typing as npt

from twin.errors import ParameterError, ParameterIssue, SimulationError
from twin.params import deep_merge, from_dict, param, suggest, to_dict

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

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]

#: Trip functions evaluated by :class:`GridCodeMonitor`, in tie-break order.
TRIP_FUNCTIONS: Final = (
    "OV2",
    "OV1",
    "UV1",
    "UV2",
    "OF2",
    "OF1",
    "UF1",
    "UF2",
    "ROCOF",
    "ISLAND",
    "LVRT",
)
#: Every ``trip_reason`` code: "" (not tripped), the trip functions, then external trips.
TRIP_REASONS: Final = ("", *TRIP_FUNCTIONS, "MANUAL", "PERMIT")
#: Voltage ride-through operating modes; "may_trip" is every voltage no region covers.
RIDE_THROUGH_MODES: Final = ("continuous", "mandatory", "permissive", "cessation", "may_trip")
#: A timer within this much of its clearing time at the end of a tick trips in that tick
#: (absorbs the rounding of summed tick lengths; 1 ns).
TIME_TOLERANCE_S: Final = 1e-9

_REGION_MODES = RIDE_THROUGH_MODES[:4]
_MAY_TRIP = RIDE_THROUGH_MODES.index("may_trip")
_REASON_NAMES = np.array(TRIP_REASONS)
_MODE_NAMES = np.array(RIDE_THROUGH_MODES)

_SRC_TRIP_II = "[S] IEEE 1547-2018 Table 12 (Cat II) via github.com/ua-kxie/UL1741SB pyUL1741SB/eut.py"
_SRC_FREQ = "[S] IEEE 1547-2018 Table 18 via github.com/ua-kxie/UL1741SB pyUL1741SB/eut.py"
_SRC_RT_II = "[S, partly K] physics.md §2 Cat II ride-through; 1.15/1.175 pu steps from NREL/PyDSS"
_SRC_FRT = "[S] physics.md §2: continuous 58.8–61.2 Hz, mandatory 299 s in 57.0–58.8 / 61.2–61.8"
_SRC_ROCOF = "[K] IEEE 1547-2018 RoCoF ride-through 0.5/2.0/3.0 Hz/s (Cat I/II/III)"
_SRC_ROCOF_TRIP = (
    "[K] twin assumption: 1547 only requires ride-through up to the limit; beyond it a DER "
    "may trip; 0.5 s relay delay is typical"
)
_SRC_ISLAND = "[K] IEEE 1547-2018: cease to energize and trip within 2 s of islanding"
_SRC_ES = (
    "[S] IEEE 1547.1-2020 Table 11 case 1 (default) via github.com/ua-kxie/UL1741SB "
    "pyUL1741SB/IEEE1547/EnterService (physics.md §2 lists it as [K])"
)
_SRC_VV = "[S] IEEE 1547-2018 volt-var defaults (physics.md §2)"
_SRC_VW = "[S] IEEE 1547-2018 volt-watt Cat B default (physics.md §2)"
_SRC_FW = "[S] IEEE 1547-2018 freq-droop default, every category (physics.md §2)"
_SRC_IQ_1547 = (
    "[K] IEEE 1547-2018 requires no dynamic reactive-current injection in a sag: the DER rides "
    "through (permissive operation or momentary cessation, by category)"
)


def _check_range(name: str, value: tuple[float, ...]) -> None:
    if len(value) not in (0, 2):
        raise ValueError(f"{name} must be [] or [min, max], got {list(value)}")
    if len(value) == 2 and value[0] > value[1]:
        raise ValueError(f"{name} must be [min, max] with min <= max, got {list(value)}")


# --------------------------------------------------------------------------------------
# Parameter sets
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoltageTrip:
    """A voltage shall-trip setting. OV functions trip when V > ``v_pu`` and UV functions
    when V < ``v_pu``, once the condition has held for ``clearing_time_s``."""

    v_pu: float = param(1.10, unit="pu", ge=0.0, le=3.0, source=_SRC_TRIP_II)
    clearing_time_s: float = param(2.0, unit="s", ge=0.0, source=_SRC_TRIP_II)
    enabled: bool = param(True, source="setting")
    v_range_pu: tuple[float, ...] = param(
        (),
        unit="pu",
        ge=0.0,
        source="[S] IEEE 1547-2018 Tables 11-13",
        doc="allowed adjustment range [min, max]; [] = not checked",
    )
    clearing_time_range_s: tuple[float, ...] = param(
        (),
        unit="s",
        ge=0.0,
        source="[S] IEEE 1547-2018 Tables 11-13",
        doc="allowed adjustment range [min, max]; [] = not checked",
    )
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        _check_range("v_range_pu", self.v_range_pu)
        _check_range("clearing_time_range_s", self.clearing_time_range_s)


@dataclass(frozen=True, slots=True)
class FrequencyTrip:
    """A frequency shall-trip setting. OF functions trip when f > ``f_hz`` and UF functions
    when f < ``f_hz``, once the condition has held for ``clearing_time_s``."""

    f_hz: float = param(61.2, unit="Hz", gt=0.0, le=100.0, source=_SRC_FREQ)
    clearing_time_s: float = param(300.0, unit="s", ge=0.0, source=_SRC_FREQ)
    enabled: bool = param(True, source="setting")
    f_range_hz: tuple[float, ...] = param(
        (),
        unit="Hz",
        ge=0.0,
        source=_SRC_FREQ,
        doc="allowed adjustment range [min, max]; [] = not checked",
    )
    clearing_time_range_s: tuple[float, ...] = param(
        (),
        unit="s",
        ge=0.0,
        source=_SRC_FREQ,
        doc="allowed adjustment range [min, max]; [] = not checked",
    )
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        _check_range("f_range_hz", self.f_range_hz)
        _check_range("clearing_time_range_s", self.clearing_time_range_s)


@dataclass(frozen=True, slots=True)
class RocofTrip:
    """Trip when |df/dt| > ``rocof_hz_per_s`` for ``clearing_time_s``."""

    rocof_hz_per_s: float = param(2.0, unit="Hz/s", gt=0.0, source=_SRC_ROCOF)
    clearing_time_s: float = param(0.5, unit="s", ge=0.0, source=_SRC_ROCOF_TRIP)
    enabled: bool = param(True, source=_SRC_ROCOF_TRIP)
    source: str = param("", source="-", doc="provenance of this entry")


@dataclass(frozen=True, slots=True)
class IslandTrip:
    """Anti-islanding: trip when the ``islanded`` input has held for ``clearing_time_s``.
    Disable it for grid-forming units that are meant to carry an island."""

    clearing_time_s: float = param(2.0, unit="s", ge=0.0, source=_SRC_ISLAND)
    enabled: bool = param(True, source=_SRC_ISLAND)
    source: str = param("", source="-", doc="provenance of this entry")


def _meta(source: str, doc: str = "") -> dict[str, Any]:
    """Field metadata in the shape :func:`twin.params.param` writes, for nested parameter
    sets declared with ``dataclasses.field(default_factory=...)``."""
    keys = ("ge", "gt", "le", "lt", "choices")
    return {"unit": "", "source": source, "doc": doc} | dict.fromkeys(keys)


_OV2_II: Final = VoltageTrip(1.20, 0.16, True, (1.20, 1.20), (0.16, 0.16), _SRC_TRIP_II)
_OV1_II: Final = VoltageTrip(1.10, 2.0, True, (1.10, 1.20), (1.0, 13.0), _SRC_TRIP_II)
_UV1_II: Final = VoltageTrip(0.70, 10.0, True, (0.0, 0.88), (2.0, 21.0), _SRC_TRIP_II)
_UV2_II: Final = VoltageTrip(0.45, 0.16, True, (0.0, 0.50), (0.16, 2.0), _SRC_TRIP_II)
_OF2: Final = FrequencyTrip(62.0, 0.16, True, (61.8, 66.0), (0.16, 1000.0), _SRC_FREQ)
_OF1: Final = FrequencyTrip(61.2, 300.0, True, (61.0, 66.0), (180.0, 1000.0), _SRC_FREQ)
_UF1: Final = FrequencyTrip(58.5, 300.0, True, (50.0, 59.0), (180.0, 1000.0), _SRC_FREQ)
_UF2: Final = FrequencyTrip(56.5, 0.16, True, (50.0, 57.0), (0.16, 1000.0), _SRC_FREQ)


@dataclass(frozen=True, slots=True)
class TripSettings:
    """The shall-trip table (IEEE 1547-2018 Tables 11-13 and 18), IEEE 1547 Cat II defaults."""

    ov2: VoltageTrip = field(default_factory=lambda: _OV2_II, metadata=_meta(_SRC_TRIP_II))
    ov1: VoltageTrip = field(default_factory=lambda: _OV1_II, metadata=_meta(_SRC_TRIP_II))
    uv1: VoltageTrip = field(default_factory=lambda: _UV1_II, metadata=_meta(_SRC_TRIP_II))
    uv2: VoltageTrip = field(default_factory=lambda: _UV2_II, metadata=_meta(_SRC_TRIP_II))
    of2: FrequencyTrip = field(default_factory=lambda: _OF2, metadata=_meta(_SRC_FREQ))
    of1: FrequencyTrip = field(default_factory=lambda: _OF1, metadata=_meta(_SRC_FREQ))
    uf1: FrequencyTrip = field(default_factory=lambda: _UF1, metadata=_meta(_SRC_FREQ))
    uf2: FrequencyTrip = field(default_factory=lambda: _UF2, metadata=_meta(_SRC_FREQ))
    rocof: RocofTrip = field(
        default_factory=lambda: RocofTrip(source=_SRC_ROCOF_TRIP), metadata=_meta(_SRC_ROCOF_TRIP)
    )
    island: IslandTrip = field(
        default_factory=lambda: IslandTrip(source=_SRC_ISLAND), metadata=_meta(_SRC_ISLAND)
    )


@dataclass(frozen=True, slots=True)
class LvrtCurve:
    """A low-voltage ride-through curve (GB/T 19964 style): points (``t_s``, ``v_pu``) with
    both non-decreasing, time measured from the moment V fell below the last point's
    voltage. The unit may trip (and here does) when V falls below the curve."""

    enabled: bool = param(False, source="off for IEEE 1547, which uses the UV trip table")
    t_s: tuple[float, ...] = param((), unit="s", ge=0.0, source="-")
    v_pu: tuple[float, ...] = param((), unit="pu", ge=0.0, le=2.0, source="-")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if len(self.t_s) != len(self.v_pu):
            raise ValueError(
                f"lvrt t_s and v_pu need the same length, got {len(self.t_s)} and {len(self.v_pu)}"
            )
        if self.enabled and len(self.t_s) < 2:
            raise ValueError("an enabled lvrt curve needs at least two points")
        if any(b < a for a, b in itertools.pairwise(self.t_s)):
            raise ValueError(f"lvrt t_s must be non-decreasing, got {list(self.t_s)}")
        if any(b < a for a, b in itertools.pairwise(self.v_pu)):
            raise ValueError(f"lvrt v_pu must be non-decreasing, got {list(self.v_pu)}")

    def time_to_trip_s(self, v_pu: FloatArray) -> FloatArray:
        """For V held from the start of a dip: the time at which the curve rises above V
        (∞ when V ≥ the last point)."""
        return _LvrtTable(self).time_to_trip_s(np.asarray(v_pu, dtype=float))


@dataclass(frozen=True, slots=True)
class VoltageRegion:
    """A voltage ride-through region. Regions are closed on the side away from nominal and
    open toward it (1547 wording: ``1.10 < V ≤ 1.15``, ``0.65 ≤ V < 0.88``); the region
    holding 1.0 pu is closed on both sides. The required ride-through time at V is
    ``min_time_s + slope_s_per_pu·(V − v_min_pu)``; ``min_time_s`` null = unlimited."""

    v_min_pu: float = param(0.0, unit="pu", ge=0.0, source="-")
    v_max_pu: float | None = param(None, unit="pu", ge=0.0, source="-", doc="null: unbounded")
    mode: str = param("continuous", choices=_REGION_MODES, source="-")
    min_time_s: float | None = param(None, unit="s", ge=0.0, source="-", doc="null: unlimited")
    slope_s_per_pu: float = param(0.0, unit="s/pu", source="-")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if self.v_max_pu is not None and self.v_max_pu <= self.v_min_pu:
            raise ValueError(f"v_max_pu {self.v_max_pu} must exceed v_min_pu {self.v_min_pu}")


@dataclass(frozen=True, slots=True)
class FrequencyRegion:
    """A frequency ride-through region (same conventions as :class:`VoltageRegion`)."""

    f_min_hz: float = param(0.0, unit="Hz", ge=0.0, source="-")
    f_max_hz: float | None = param(None, unit="Hz", ge=0.0, source="-", doc="null: unbounded")
    mode: str = param("continuous", choices=_REGION_MODES, source="-")
    min_time_s: float | None = param(None, unit="s", ge=0.0, source="-", doc="null: unlimited")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if self.f_max_hz is not None and self.f_max_hz <= self.f_min_hz:
            raise ValueError(f"f_max_hz {self.f_max_hz} must exceed f_min_hz {self.f_min_hz}")


_CAT_II_VRT = (
    VoltageRegion(1.175, 1.20, "permissive", 0.2, 0.0, _SRC_RT_II),
    VoltageRegion(1.15, 1.175, "permissive", 0.5, 0.0, _SRC_RT_II),
    VoltageRegion(1.10, 1.15, "permissive", 1.0, 0.0, _SRC_RT_II),
    VoltageRegion(0.88, 1.10, "continuous", None, 0.0, _SRC_RT_II),
    VoltageRegion(0.65, 0.88, "mandatory", 3.0, 8.7, _SRC_RT_II),
    VoltageRegion(0.45, 0.65, "permissive", 0.32, 0.0, _SRC_RT_II),
    VoltageRegion(0.30, 0.45, "permissive", 0.16, 0.0, _SRC_RT_II),
)
_FRT_60 = (
    FrequencyRegion(61.2, 61.8, "mandatory", 299.0, _SRC_FRT),
    FrequencyRegion(58.8, 61.2, "continuous", None, _SRC_FRT),
    FrequencyRegion(57.0, 58.8, "mandatory", 299.0, _SRC_FRT),
)


def _no_overlap(name: str, spans: list[tuple[float, float]]) -> None:
    spans = sorted(spans)
    for (lo_a, hi_a), (lo_b, _) in itertools.pairwise(spans):
        if lo_b < hi_a:
            raise ValueError(f"{name} regions overlap: [{lo_a}, {hi_a}] and from {lo_b}")


@dataclass(frozen=True, slots=True)
class RideThrough:
    """Ride-through regions. At run time only the voltage modes matter (they decide
    momentary cessation); durations are checked against the trip table at load time."""

    voltage: tuple[VoltageRegion, ...] = param(_CAT_II_VRT, source=_SRC_RT_II)
    frequency: tuple[FrequencyRegion, ...] = param(_FRT_60, source=_SRC_FRT)
    rocof_hz_per_s: float = param(2.0, unit="Hz/s", gt=0.0, source=_SRC_ROCOF)
    permissive_ceases: bool = param(
        False,
        source="[S] IEEE 1547.1-2020 5.4: permissive operation may cease or continue",
        doc="true: cease to energize in permissive and may-trip zones (else keep current)",
    )
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        inf = math.inf
        _no_overlap(
            "voltage",
            [(r.v_min_pu, inf if r.v_max_pu is None else r.v_max_pu) for r in self.voltage],
        )
        _no_overlap(
            "frequency",
            [(r.f_min_hz, inf if r.f_max_hz is None else r.f_max_hz) for r in self.frequency],
        )


@dataclass(frozen=True, slots=True)
class EnterService:
    """Enter-service (and return-to-service after a trip) criteria: V and f inside the
    window continuously for ``delay_s``, then output limited by a ramp over ``ramp_s``."""

    v_min_pu: float = param(0.917, unit="pu", ge=0.0, source=_SRC_ES)
    v_max_pu: float = param(1.05, unit="pu", ge=0.0, source=_SRC_ES)
    f_min_hz: float = param(59.5, unit="Hz", gt=0.0, source=_SRC_ES)
    f_max_hz: float = param(60.1, unit="Hz", gt=0.0, source=_SRC_ES)
    delay_s: float = param(300.0, unit="s", ge=0.0, source=_SRC_ES)
    ramp_s: float = param(300.0, unit="s", ge=0.0, source=_SRC_ES, doc="0: step")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if self.v_max_pu <= self.v_min_pu:
            raise ValueError(f"v_max_pu {self.v_max_pu} must exceed v_min_pu {self.v_min_pu}")
        if self.f_max_hz <= self.f_min_hz:
            raise ValueError(f"f_max_hz {self.f_max_hz} must exceed f_min_hz {self.f_min_hz}")


@dataclass(frozen=True, slots=True)
class VoltVarCurve:
    """Piecewise-linear Q(V) in pu of S_rated (+ = inject), flat beyond the end points."""

    v_pu: tuple[float, ...] = param((0.92, 0.98, 1.02, 1.08), unit="pu", gt=0.0, source=_SRC_VV)
    q_pu: tuple[float, ...] = param((0.44, 0.0, 0.0, -0.44), unit="pu", ge=-1.0, le=1.0, source=_SRC_VV)
    t_r_s: float = param(5.0, unit="s", gt=0.0, source=_SRC_VV, doc="open-loop response time")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if len(self.v_pu) != len(self.q_pu) or len(self.v_pu) < 2:
            raise ValueError("volt-var v_pu and q_pu need the same length, at least 2")
        if any(b < a for a, b in itertools.pairwise(self.v_pu)):
            raise ValueError(f"volt-var v_pu must be non-decreasing, got {list(self.v_pu)}")


@dataclass(frozen=True, slots=True)
class VoltWattCurve:
    """Active-power limit P(V) in pu of P_rated: 1 up to ``v1_pu``, linear to ``p2_pu``
    at ``v2_pu`` and flat beyond (``p2_absorbing_pu`` for units that can absorb, e.g. BESS)."""

    v1_pu: float = param(1.06, unit="pu", gt=0.0, source=_SRC_VW)
    v2_pu: float = param(1.10, unit="pu", gt=0.0, source=_SRC_VW)
    p2_pu: float = param(0.2, unit="pu", ge=0.0, le=1.0, source=_SRC_VW)
    p2_absorbing_pu: float = param(0.0, unit="pu", ge=-1.0, le=1.0, source=_SRC_VW)
    t_r_s: float = param(10.0, unit="s", gt=0.0, source=_SRC_VW, doc="open-loop response time")
    source: str = param("", source="-", doc="provenance of this entry")

    def __post_init__(self) -> None:
        if self.v2_pu <= self.v1_pu:
            raise ValueError(f"v2_pu {self.v2_pu} must exceed v1_pu {self.v1_pu}")


@dataclass(frozen=True, slots=True)
class FreqWatt:
    """Frequency droop (freq-watt), symmetric over and under frequency."""

    deadband_hz: float = param(0.036, unit="Hz", ge=0.0, source=_SRC_FW)
    droop: float = param(0.05, gt=0.0, le=1.0, source=_SRC_FW, doc="per unit, 0.05 = 5 %")
    t_r_s: float = param(5.0, unit="s", gt=0.0, source=_SRC_FW, doc="open-loop response time")
    source: str = param("", source="-", doc="provenance of this entry")


@dataclass(frozen=True, slots=True)
class ReactiveCurrent:
    """Dynamic reactive-current injection in a voltage sag (GB/T 19964 style): below
    ``v_threshold_pu`` the unit injects ΔI_q = ``k_factor``·(``v_threshold_pu`` − V)·I_n,
    limited by its current limit. With ``q_priority`` the reactive current is served first
    and active power gets what is left of the current limit."""

    enabled: bool = param(False, source=_SRC_IQ_1547)
    v_threshold_pu: float = param(0.9, unit="pu", gt=0.0, le=1.0, source=_SRC_IQ_1547)
    k_factor: float = param(1.5, ge=0.0, le=10.0, source=_SRC_IQ_1547, doc="ΔI_q/I_n per pu of sag")
    q_priority: bool = param(True, source=_SRC_IQ_1547, doc="true: reactive current first")
    source: str = param("", source="-", doc="provenance of this entry")


VOLT_VAR_CAT_B: Final = VoltVarCurve(source=_SRC_VV)
VOLT_VAR_CAT_A: Final = VoltVarCurve((0.90, 1.00, 1.10), (0.25, 0.0, -0.25), 10.0, _SRC_VV)
VOLT_WATT_CAT_B: Final = VoltWattCurve(source=_SRC_VW)


@dataclass(frozen=True, slots=True)
class GridCode:
    """A complete grid code: trip table, ride-through, enter service and control curves.
    The defaults are IEEE 1547-2018 Category II at 60 Hz (``ieee1547_2018_cat_ii.json``)."""

    name: str = param("ieee1547_2018_cat_ii", source="-")
    title: str = param("IEEE 1547-2018 Category II defaults, 60 Hz", source="-")
    source: str = param(_SRC_TRIP_II, source="-", doc="provenance of the whole set")
    f_nom_hz: float = param(60.0, unit="Hz", ge=40.0, le=70.0, source="[S] 60 Hz for 1547")
    trip: TripSettings = field(default_factory=TripSettings, metadata=_meta(_SRC_TRIP_II))
    lvrt: LvrtCurve = field(default_factory=LvrtCurve, metadata=_meta("disabled for IEEE 1547"))
    ride_through: RideThrough = field(default_factory=RideThrough, metadata=_meta(_SRC_RT_II))
    enter_service: EnterService = field(
        default_factory=lambda: EnterService(source=_SRC_ES), metadata=_meta(_SRC_ES)
    )
    volt_var: VoltVarCurve = field(default_factory=lambda: VOLT_VAR_CAT_B, metadata=_meta(_SRC_VV))
    volt_watt: VoltWattCurve = field(default_factory=lambda: VOLT_WATT_CAT_B, metadata=_meta(_SRC_VW))
    freq_watt: FreqWatt = field(default_factory=lambda: FreqWatt(source=_SRC_FW), metadata=_meta(_SRC_FW))
    reactive_current: ReactiveCurrent = field(
        default_factory=lambda: ReactiveCurrent(source=_SRC_IQ_1547), metadata=_meta(_SRC_IQ_1547)
    )


# --------------------------------------------------------------------------------------
# Loading and cross-checks
# --------------------------------------------------------------------------------------

_Path = tuple[str | int, ...]


def _data_dir() -> Traversable:
    return resources.files("twin").joinpath("data").joinpath("gridcodes")


def available_grid_codes() -> tuple[str, ...]:
    """Names of the grid codes shipped in ``twin/data/gridcodes/``."""
    names = [p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json")]
    return tuple(sorted(names))


def _read_shipped(name: str, path: _Path) -> dict[str, Any]:
    names = available_grid_codes()
    if name not in names:
        hint = suggest(name, names)
        tail = f"; did you mean {hint[0]!r}?" if hint else f"; shipped: {', '.join(names)}"
        raise ParameterError([ParameterIssue(path, f"unknown grid code {name!r}{tail}")])
    text = _data_dir().joinpath(f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ParameterError([ParameterIssue(path, f"{name}.json does not hold an object")])
    return data


def load_grid_code(spec: str | Mapping[str, Any], *, path: _Path = ()) -> GridCode:
    """A :class:`GridCode` from a shipped name (``"ieee1547_2018_cat_iii"``) or a dict.

    A dict may name a shipped ``"base"``; its other keys override the base key by key
    (nested objects merge, lists replace). Without ``base`` the dict overrides the built-in
    defaults (IEEE 1547 Cat II, 60 Hz). Every problem is reported at once as a
    :class:`~twin.errors.ParameterError` whose issue paths start with ``path``.
    """
    if isinstance(spec, str):
        data = _read_shipped(spec, path)
    elif isinstance(spec, Mapping):
        over = dict(spec)
        base_name = over.pop("base", None)
        if base_name is None:
            base: dict[str, Any] = to_dict(GridCode())
        elif isinstance(base_name, str):
            base = _read_shipped(base_name, (*path, "base"))
        else:
            raise ParameterError(
                [ParameterIssue((*path, "base"), f"expected a grid-code name, got {base_name!r}")]
            )
        data = deep_merge(base, over)
    else:
        raise ParameterError(
            [ParameterIssue(path, f"expected a name or a mapping, got {type(spec).__name__}")]
        )
    code = from_dict(GridCode, data, path=path)
    issues = grid_code_issues(code, path=path)
    if issues:
        raise ParameterError(issues)
    return code


def _voltage_trips(code: GridCode) -> list[tuple[str, VoltageTrip, bool]]:
    t = code.trip
    return [
        ("ov2", t.ov2, True),
        ("ov1", t.ov1, True),
        ("uv1", t.uv1, False),
        ("uv2", t.uv2, False),
    ]


def _frequency_trips(code: GridCode) -> list[tuple[str, FrequencyTrip, bool]]:
    t = code.trip
    return [
        ("of2", t.of2, True),
        ("of1", t.of1, True),
        ("uf1", t.uf1, False),
        ("uf2", t.uf2, False),
    ]


def _required_time(
    thr: float, over: bool, lo: float, hi: float | None, t0: float | None, slope: float
) -> float | None:
    """Longest ride-through a region demands at voltages (or frequencies) where a trip
    function with threshold ``thr`` is picked up; ``None`` when they do not overlap."""
    top = math.inf if hi is None else hi
    if over:
        if thr >= top:
            return None
        a, b = max(thr, lo), top
    else:
        if thr <= lo:
            return None
        a, b = lo, min(thr, top)
    if t0 is None:
        return math.inf
    ends = [t0 + slope * (x - lo) for x in (a, b) if math.isfinite(x)]
    return max(ends)


def grid_code_issues(code: GridCode, *, path: _Path = ()) -> list[ParameterIssue]:
    """Cross-field checks that a single field cannot make: thresholds on the right side of
    nominal and inside their adjustment ranges, trip settings that do not cut into a
    continuous or mandatory ride-through region, a RoCoF trip not below the RoCoF
    ride-through, and an enter-service window around nominal."""
    issues: list[ParameterIssue] = []
    f_nom = code.f_nom_hz
    rt = code.ride_through
    trips: list[tuple[str, float, float, bool, bool, tuple[float, ...], tuple[float, ...]]] = []
    trips += [
        (n, s.v_pu, s.clearing_time_s, o, s.enabled, s.v_range_pu, s.clearing_time_range_s)
        for n, s, o in _voltage_trips(code)
    ]
    trips += [
        (n, s.f_hz, s.clearing_time_s, o, s.enabled, s.f_range_hz, s.clearing_time_range_s)
        for n, s, o in _frequency_trips(code)
    ]
    for name, thr, clear, over, enabled, thr_range, t_range in trips:
        if not enabled:
            continue
        is_v = name[1] == "v"
        key, unit, nominal = ("v_pu", "pu", 1.0) if is_v else ("f_hz", "Hz", f_nom)
        where = (*path, "trip", name)
        if over and thr <= nominal:
            issues.append(ParameterIssue((*where, key), f"{thr} {unit} must be above {nominal}"))
        if not over and thr >= nominal:
            issues.append(ParameterIssue((*where, key), f"{thr} {unit} must be below {nominal}"))
        if thr_range and not thr_range[0] <= thr <= thr_range[1]:
            issues.append(
                ParameterIssue(
                    (*where, key),
                    f"{thr} {unit} is outside the allowed range {thr_range[0]}–{thr_range[1]}",
                )
            )
        if t_range and not t_range[0] <= clear <= t_range[1]:
            issues.append(
                ParameterIssue(
                    (*where, "clearing_time_s"),
                    f"{clear} s is outside the allowed range {t_range[0]}–{t_range[1]} s",
                )
            )
        regions: Sequence[VoltageRegion | FrequencyRegion] = rt.voltage if is_v else rt.frequency
        group = "voltage" if is_v else "frequency"
        for i, r in enumerate(regions):
            if r.mode not in ("continuous", "mandatory"):
                continue
            if isinstance(r, VoltageRegion):
                lo, hi, slope = r.v_min_pu, r.v_max_pu, r.slope_s_per_pu
            else:
                lo, hi, slope = r.f_min_hz, r.f_max_hz, 0.0
            need = _required_time(thr, over, lo, hi, r.min_time_s, slope)
            if need is not None and clear < need - TIME_TOLERANCE_S:
                issues.append(
                    ParameterIssue(
                        (*where, "clearing_time_s"),
                        f"{clear} s trips inside the {r.mode} ride-through region "
                        f"ride_through.{group}[{i}] (needs ≥ {need:.4g} s)",
                    )
                )
    if code.trip.rocof.enabled and code.trip.rocof.rocof_hz_per_s < rt.rocof_hz_per_s:
        issues.append(
            ParameterIssue(
                (*path, "trip", "rocof", "rocof_hz_per_s"),
                f"{code.trip.rocof.rocof_hz_per_s} Hz/s is below the RoCoF ride-through "
                f"{rt.rocof_hz_per_s} Hz/s",
            )
        )
    es = code.enter_service
    if not es.v_min_pu <= 1.0 <= es.v_max_pu:
        issues.append(ParameterIssue((*path, "enter_service"), "the voltage window must contain 1.0 pu"))
    if not es.f_min_hz <= f_nom <= es.f_max_hz:
        issues.append(
            ParameterIssue((*path, "enter_service"), f"the frequency window must contain {f_nom} Hz")
        )
    for group, nominal, spans in (
        ("voltage", 1.0, [(r.v_min_pu, r.v_max_pu, r.mode) for r in rt.voltage]),
        ("frequency", f_nom, [(r.f_min_hz, r.f_max_hz, r.mode) for r in rt.frequency]),
    ):
        if spans and not any(
            m == "continuous" and lo <= nominal <= (math.inf if hi is None else hi) for lo, hi, m in spans
        ):
            issues.append(
                ParameterIssue(
                    (*path, "ride_through", group),
                    f"no continuous region contains nominal ({nominal})",
                )
            )
    return issues


# --------------------------------------------------------------------------------------
# Control curves (pure, vectorised)
# --------------------------------------------------------------------------------------


def volt_var_q_pu(v_pu: npt.ArrayLike, curve: VoltVarCurve = VOLT_VAR_CAT_B) -> FloatArray:
    """Reactive power (pu of S_rated, + = inject) from the volt-var curve, flat outside
    the end points. Cat B default: (0.92, +0.44), (0.98, 0), (1.02, 0), (1.08, −0.44)."""
    v = np.asarray(v_pu, dtype=np.float64)
    return np.asarray(np.interp(v, curve.v_pu, curve.q_pu), dtype=np.float64)


def volt_watt_p_pu(
    v_pu: npt.ArrayLike, curve: VoltWattCurve = VOLT_WATT_CAT_B, *, absorbing: bool = False
) -> FloatArray:
    """Active-power limit (pu of P_rated) from the volt-watt curve: 1 up to V1, linear to P2
    at V2, P2 beyond. ``absorbing=True`` uses ``p2_absorbing_pu`` (0 by default: a BESS
    can go to zero export)."""
    p2 = curve.p2_absorbing_pu if absorbing else curve.p2_pu
    v = np.asarray(v_pu, dtype=np.float64)
    return np.asarray(np.interp(v, (curve.v1_pu, curve.v2_pu), (1.0, p2)), dtype=np.float64)


def freq_watt_dp_pu(
    f_hz: npt.ArrayLike, f_nom: float, deadband_hz: float = 0.036, droop: float = 0.05
) -> FloatArray:
    """Active-power change (pu of P_rated) from frequency droop, over and under frequency:

    ΔP = −(f − f_nom − db)/(f_nom·droop) for f > f_nom + db,
    ΔP = +(f_nom − db − f)/(f_nom·droop) for f < f_nom − db, 0 inside the deadband.

    Not clipped: the caller limits P_pre + ΔP to the unit's available range.
    """
    dev = np.asarray(f_hz, dtype=float) - f_nom
    excess = np.sign(dev) * np.maximum(np.abs(dev) - deadband_hz, 0.0)
    return np.asarray(-excess / (f_nom * droop), dtype=float)


def fault_reactive_current_pu(v_pu: npt.ArrayLike, spec: ReactiveCurrent) -> FloatArray:
    """Reactive current (pu of rated current, + = inject) the grid code asks for in a sag:
    k·(V_th − V) below V_th, 0 above it or when injection is disabled. Not limited: the
    caller caps it at the unit's current limit."""
    v = np.asarray(v_pu, dtype=np.float64)
    if not spec.enabled:
        return np.zeros_like(v)
    return np.asarray(spec.k_factor * np.maximum(spec.v_threshold_pu - v, 0.0), dtype=np.float64)


@overload
def response_tau_s(t_r_s: float) -> float: ...
@overload
def response_tau_s(t_r_s: FloatArray) -> FloatArray: ...
def response_tau_s(t_r_s: float | FloatArray) -> float | FloatArray:
    """First-order lag time constant τ = T_r/ln 10 for an IEEE 1547 open-loop response time
    T_r (the time to 90 % of a step): T_r = 5 s → τ = 2.17 s."""
    if isinstance(t_r_s, np.ndarray):
        return np.asarray(t_r_s / math.log(10.0), dtype=float)
    return float(t_r_s) / math.log(10.0)


def lag_step(y: npt.ArrayLike, target: npt.ArrayLike, dt: float, tau: npt.ArrayLike) -> FloatArray:
    """Exact zero-order-hold step of the lag τ·y' = target − y over ``dt``: y + (target −
    y)·(1 − e^(−dt/τ)). τ = 0 jumps to the target."""
    y_arr = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", over="ignore"):
        alpha = -np.expm1(-dt / np.asarray(tau, dtype=float))
    return np.asarray(y_arr + (np.asarray(target, dtype=float) - y_arr) * alpha, dtype=float)


# --------------------------------------------------------------------------------------
# Protection / ride-through state machine
# --------------------------------------------------------------------------------------


class _LvrtTable:
    """Pre-computed segments of an LVRT curve for a vectorised time-to-trip."""

    def __init__(self, curve: LvrtCurve) -> None:
        t = np.asarray(curve.t_s, dtype=float)
        v = np.asarray(curve.v_pu, dtype=float)
        self.t0, self.t1 = t[:-1], t[1:]
        self.v0, self.v1 = v[:-1], v[1:]
        dv = self.v1 - self.v0
        safe = np.where(dv > 0, dv, 1.0)
        self.k = np.where(dv > 0, (self.t1 - self.t0) / safe, 0.0)
        self.v_end = float(v[-1]) if v.size else 0.0

    def time_to_trip_s(self, v: FloatArray) -> FloatArray:
        if self.t0.size == 0:
            return np.full(np.shape(v), np.inf)
        # sup{τ : curve(τ) ≤ V}: whole segments below V count to their end, the segment
        # that crosses V counts to the crossing; V below the first point → 0.
        vv = v[..., None]
        inside = self.t0 + (vv - self.v0) * self.k
        cand = np.where(self.v1 <= vv, self.t1, np.where(self.v0 <= vv, inside, 0.0))
        out = cand.max(axis=-1)
        return np.asarray(np.where(v >= self.v_end, np.inf, out), dtype=float)


@dataclass(frozen=True, slots=True)
class GridCodeStatus:
    """Per-unit protection state at the end of a tick (``t_s``); arrays are read-only.

    * ``tripped``: out of service after a trip, waiting for the enter-service conditions.
    * ``trip_time_s``: instant of the trip that holds the unit out (exact within its tick);
      NaN while the unit is in service.
    * ``trip_reason``: code from :data:`TRIP_REASONS` ("" while in service).
    * ``new_trip``: the unit tripped during this tick.
    * ``cessation``: momentary cessation (in service, but no current) for this tick.
    * ``may_energize``: in service: never tripped, or re-entered after the enter-service delay.
    * ``ramp_limit_pu``: enter-service ramp 0..1 on the output (0 while out of service).
    * ``ride_through_mode``: voltage ride-through mode from :data:`RIDE_THROUGH_MODES`.
    """

    t_s: float
    tripped: BoolArray
    trip_time_s: FloatArray
    trip_reason: StrArray
    new_trip: BoolArray
    cessation: BoolArray
    may_energize: BoolArray
    ramp_limit_pu: FloatArray
    ride_through_mode: StrArray

    @property
    def output_limit_pu(self) -> FloatArray:
        """The limit on |current| or |P| in pu: the ramp, zeroed during cessation."""
        return np.asarray(np.where(self.cessation, 0.0, self.ramp_limit_pu), dtype=float)


def _frozen(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = a.copy()
    out.flags.writeable = False
    return out


class GridCodeMonitor:
    """Trip timers, momentary cessation and enter service for ``n`` units under one code.

    Call :meth:`update` once per tick with the inputs held over ``[t, t + dt)``. A timer
    accumulates while its condition holds, resets when it clears, and trips at the exact
    instant it reaches the clearing time. The earliest function to expire names the trip;
    ties go to the order of :data:`TRIP_FUNCTIONS`. While out of service no trip timer runs.
    """

    def __init__(self, n: int, code: GridCode, *, in_service: bool | npt.ArrayLike = True) -> None:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        issues = grid_code_issues(code)
        if issues:
            raise ParameterError(issues)
        self.n = n
        self.code = code
        tr = code.trip
        # column: (measurement row, +1 over / −1 under, threshold, clearing time, enabled)
        # measurement rows: 0 V, 1 f, 2 |RoCoF|, 3 islanded (0/1)
        cols: list[tuple[int, float, float, float, bool]] = [
            (0, 1.0, tr.ov2.v_pu, tr.ov2.clearing_time_s, tr.ov2.enabled),
            (0, 1.0, tr.ov1.v_pu, tr.ov1.clearing_time_s, tr.ov1.enabled),
            (0, -1.0, tr.uv1.v_pu, tr.uv1.clearing_time_s, tr.uv1.enabled),
            (0, -1.0, tr.uv2.v_pu, tr.uv2.clearing_time_s, tr.uv2.enabled),
            (1, 1.0, tr.of2.f_hz, tr.of2.clearing_time_s, tr.of2.enabled),
            (1, 1.0, tr.of1.f_hz, tr.of1.clearing_time_s, tr.of1.enabled),
            (1, -1.0, tr.uf1.f_hz, tr.uf1.clearing_time_s, tr.uf1.enabled),
            (1, -1.0, tr.uf2.f_hz, tr.uf2.clearing_time_s, tr.uf2.enabled),
            (2, 1.0, tr.rocof.rocof_hz_per_s, tr.rocof.clearing_time_s, tr.rocof.enabled),
            (3, 1.0, 0.5, tr.island.clearing_time_s, tr.island.enabled),
        ]
        self._lvrt = _LvrtTable(code.lvrt) if code.lvrt.enabled else None
        lv_end = self._lvrt.v_end if self._lvrt is not None else 0.0
        cols.append((0, -1.0, lv_end, math.inf, self._lvrt is not None))
        self._k = len(cols)
        self._lvrt_col = self._k - 1
        self._src = np.array([c[0] for c in cols], dtype=np.intp)
        sign = np.array([c[1] for c in cols])
        self._sign = sign
        self._thr_signed = sign * np.array([c[2] for c in cols])
        enabled = np.array([c[4] for c in cols], dtype=bool)
        # a disabled function never picks up: its signed threshold is +∞
        self._thr_signed = np.where(enabled, self._thr_signed, np.inf)
        self._clear = np.array([c[3] for c in cols])

        # voltage ride-through regions → open/closed comparisons via nextafter
        regs = code.ride_through.voltage
        lo = np.array([r.v_min_pu for r in regs], dtype=float)
        hi = np.array([math.inf if r.v_max_pu is None else r.v_max_pu for r in regs])
        above = lo >= 1.0  # wholly above nominal: (lo, hi]
        below = hi <= 1.0  # wholly below nominal: [lo, hi)
        self._reg_lo = np.where(above, lo, np.nextafter(lo, -np.inf))  # test v > _reg_lo
        self._reg_hi = np.where(below, hi, np.nextafter(hi, np.inf))  # test v < _reg_hi
        self._reg_mode = np.array([RIDE_THROUGH_MODES.index(r.mode) for r in regs], dtype=np.intp)
        pc = code.ride_through.permissive_ceases
        self._mode_ceases = np.array([False, False, pc, True, pc])

        es = code.enter_service
        self._es = (es.v_min_pu, es.v_max_pu, es.f_min_hz, es.f_max_hz)
        self._es_delay = es.delay_s
        self._ramp_s = es.ramp_s
        self._rows = np.arange(n)
        self._meas = np.empty((n, 4))
        self.reset(in_service=in_service)

    # ---- state management ------------------------------------------------------------

    def reset(self, *, in_service: bool | npt.ArrayLike = True) -> None:
        """Clear every timer, trip and permit-service block. Units with ``in_service``
        false start out of service and must meet the enter-service conditions first (a cold
        start)."""
        n = self.n
        ins = np.broadcast_to(np.asarray(in_service, dtype=bool), (n,)).copy()
        self._timers = np.zeros((n, self._k))
        self._in_service = ins
        self._tripped = np.zeros(n, dtype=bool)
        self._trip_time = np.full(n, np.nan)
        self._reason = np.zeros(n, dtype=np.intp)
        self._es_timer = np.zeros(n)
        # instant the unit (re-)entered service: −∞ = since the start, +∞ = not in service
        self._entered = np.where(ins, -np.inf, np.inf)
        self._permit = np.ones(n, dtype=bool)
        self._t_end = 0.0
        self._last_new = np.zeros(n, dtype=bool)
        self._last_mode = np.full(n, RIDE_THROUGH_MODES.index("continuous"), dtype=np.intp)

    def _select(self, units: npt.ArrayLike | None) -> BoolArray:
        mask = np.zeros(self.n, dtype=bool)
        if units is None:
            mask[:] = True
        else:
            mask[np.asarray(units)] = True
        return mask

    def trip(self, t_s: float, units: npt.ArrayLike | None = None, *, reason: str = "MANUAL") -> None:
        """Trip ``units`` (indices or a bool mask; all when None) at ``t_s``. Units already
        out of service keep their reason but restart their enter-service delay."""
        if reason not in TRIP_REASONS[1:]:
            raise ValueError(f"unknown trip reason {reason!r}; one of {TRIP_REASONS[1:]}")
        sel = self._select(units)
        hit = sel & self._in_service
        self._trip_units(hit, np.full(self.n, float(t_s)), TRIP_REASONS.index(reason))
        self._es_timer[sel] = 0.0

    def set_permit_service(self, enabled: bool, t_s: float, units: npt.ArrayLike | None = None) -> None:
        """IEEE 1547 "permit service": disabling trips the units (reason PERMIT) and keeps
        them out; enabling lets the enter-service delay start counting again."""
        sel = self._select(units)
        self._permit[sel] = enabled
        if not enabled:
            self.trip(t_s, sel, reason="PERMIT")

    def _trip_units(self, hit: BoolArray, t_trip: FloatArray, reason: int | npt.NDArray[Any]) -> None:
        self._tripped |= hit
        self._in_service &= ~hit
        self._trip_time = np.where(hit, t_trip, self._trip_time)
        self._reason = np.where(hit, reason, self._reason)
        self._entered = np.where(hit, np.inf, self._entered)
        self._timers[hit] = 0.0

    # ---- the tick --------------------------------------------------------------------

    def _per_unit(self, x: float | npt.ArrayLike, name: str) -> FloatArray | float:
        a = np.asarray(x, dtype=float)
        if a.ndim == 0:
            return float(a)
        if a.shape != (self.n,):
            raise ValueError(f"{name} must be a scalar or have shape ({self.n},), got {a.shape}")
        return a

    def update(
        self,
        t: float,
        dt: float,
        v_pu: npt.ArrayLike,
        f_hz: float | npt.ArrayLike,
        rocof_hz_per_s: float | npt.ArrayLike = 0.0,
        *,
        islanded: bool | npt.ArrayLike = False,
    ) -> GridCodeStatus:
        """Advance every unit over the tick ``[t, t + dt)`` with the inputs held constant
        and return the status at ``t + dt``. ``v_pu`` is per unit (or one value for all);
        ``f_hz``, ``rocof_hz_per_s`` and ``islanded`` may be scalars or per unit."""
        if not (dt > 0.0 and math.isfinite(dt) and math.isfinite(t)):
            raise SimulationError(f"grid-code monitor needs finite t and dt > 0, got {t}, {dt}")
        m = self._meas
        m[:, 0] = self._per_unit(v_pu, "v_pu")
        m[:, 1] = self._per_unit(f_hz, "f_hz")
        m[:, 2] = np.abs(self._per_unit(rocof_hz_per_s, "rocof_hz_per_s"))
        m[:, 3] = self._per_unit(islanded, "islanded")
        if not np.isfinite(m).all():
            raise SimulationError(f"grid-code monitor got a non-finite input at t={t}")
        v = m[:, 0]
        f = m[:, 1]
        t_end = t + dt
        was_in = self._in_service.copy()

        # trip timers: (n, K) condition, elapsed time, time left to the clearing time
        x = m[:, self._src] * self._sign
        cond = (x > self._thr_signed) & was_in[:, None]
        before = self._timers
        self._timers = np.where(cond, before + dt, 0.0)
        remaining = self._clear - before
        if self._lvrt is not None:
            remaining[:, self._lvrt_col] = self._lvrt.time_to_trip_s(v) - before[:, self._lvrt_col]
        fire = cond & (remaining <= dt + TIME_TOLERANCE_S)
        new = np.zeros(self.n, dtype=bool)
        t_trip = np.full(self.n, np.inf)
        if fire.any():
            t_fire = np.where(fire, np.clip(remaining, 0.0, dt), np.inf)
            col = np.argmin(t_fire, axis=1)
            first = t_fire[self._rows, col]
            new = np.isfinite(first)
            t_trip = t + first
            self._trip_units(new, t_trip, col + 1)

        # enter service: the window must hold continuously for the delay
        if not self._in_service.all():
            v_lo, v_hi, f_lo, f_hi = self._es
            window = (v >= v_lo) & (v <= v_hi) & (f >= f_lo) & (f <= f_hi) & self._permit
            waiting = ~was_in
            es_before = self._es_timer
            credit = np.where(waiting, dt, np.where(new, t_end - t_trip, 0.0))
            es_after = np.where(window & (waiting | new), es_before + credit, 0.0)
            enter = waiting & window & (es_before + dt >= self._es_delay - TIME_TOLERANCE_S)
            if enter.any():
                t_enter = t + np.clip(self._es_delay - es_before, 0.0, dt)
                self._in_service |= enter
                self._tripped &= ~enter
                self._entered = np.where(enter, t_enter, self._entered)
                self._trip_time = np.where(enter, np.nan, self._trip_time)
                self._reason = np.where(enter, 0, self._reason)
                es_after = np.where(enter, 0.0, es_after)
            self._es_timer = es_after

        # voltage ride-through mode (first matching region; none → may_trip)
        if self._reg_mode.size:
            match = (v[:, None] > self._reg_lo) & (v[:, None] < self._reg_hi)
            mode = self._reg_mode[np.argmax(match, axis=1)]
            self._last_mode = np.where(match.any(axis=1), mode, _MAY_TRIP)
        else:
            self._last_mode = np.full(self.n, _MAY_TRIP, dtype=np.intp)
        self._last_new = new
        self._t_end = t_end
        return self.status

    @property
    def status(self) -> GridCodeStatus:
        """The state at the end of the last tick (reflects :meth:`trip` calls since)."""
        ins = self._in_service
        if self._ramp_s > 0.0:
            ramp = np.clip((self._t_end - self._entered) / self._ramp_s, 0.0, 1.0)
        else:
            ramp = np.ones(self.n)
        ramp = np.where(ins, ramp, 0.0)
        cess = self._mode_ceases[self._last_mode] & ins
        return GridCodeStatus(
            t_s=self._t_end,
            tripped=_frozen(self._tripped),
            trip_time_s=_frozen(self._trip_time),
            trip_reason=_frozen(_REASON_NAMES[self._reason]),
            new_trip=_frozen(self._last_new),
            cessation=_frozen(cess),
            may_energize=_frozen(ins),
            ramp_limit_pu=_frozen(ramp),
            ride_through_mode=_frozen(_MODE_NAMES[self._last_mode]),
        )
