"""Grid codes as data: the frozen parameter sets, the trip-function names and the sources.

Part of :mod:`twin.models.gridcode` (see its docstring).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from twin._interp import FloatArray
from twin.params import param

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
