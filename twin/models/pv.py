"""PV park: irradiance (clear sky plus seeded clouds, or a profile) to AC power.

Clear sky: Haurwitz GHI = 1098 cos z · exp(−0.057 / cos z) W/m² with the solar zenith from
the day of year, latitude and apparent solar time [K], both read from the site clock
(:mod:`twin.clock`: local start date-time, zone, longitude), so a run spanning months sees
the days lengthen or shorten. The deprecated ``day_of_year``/``t_start_s`` still work: set
either and the PV keeps the old fixed solar clock (day ``day_of_year`` at ``t_start_s`` solar
time at t = 0, ignoring the site clock). Clouds: a clear-sky index drawn per simulated
minute from a counter-based seeded generator and interpolated, so the same seed gives the
same sky whatever the tick. DC power: P = P_stc · G/1000 · (1 + γ (T_cell − 25)), with
T_cell from NOCT. AC: Notton inverter efficiency, clipped at the inverter rating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from twin.clock import Clock
from twin.params import param
from twin.signals import Signal

__all__ = ["Pv", "PvParams", "clear_sky_ghi", "cloud_blend", "cos_zenith", "haurwitz_ghi", "inverter_ac"]


@dataclass(frozen=True)
class PvParams:
    p_dc_stc_kw: float = param(5000.0, unit="kWp", ge=0, limit="pv.p_dc_stc_kw", source="site layout")
    s_inverter_kva: float = param(
        4500.0, unit="kVA", gt=0, limit="pv.s_inverter_kva", source="[K] DC/AC ratio ≈ 1.1"
    )
    latitude_deg: float = param(23.1, unit="deg", ge=-90, le=90, source="site (default Guangzhou)")
    longitude_deg: float = param(
        113.3, unit="deg", ge=-180, le=180, source="site (default Guangzhou, 113.3° E); east positive"
    )
    day_of_year: int | None = param(
        None,
        ge=1,
        le=366,
        source="deprecated: the site clock (site.start) sets the date",
        doc="set (with or without t_start_s) to keep the old fixed solar clock",
    )
    gamma_per_k: float = param(-0.0035, unit="1/K", source="[K] mono-Si power temperature coefficient")
    noct_degc: float = param(45.0, unit="°C", source="[K] typical module NOCT")
    t_ambient_degc: float = param(30.0, unit="°C", source="scenario")
    cloud_cover: float = param(0.3, ge=0, le=1, source="scenario: mean fraction of cloudy minutes")
    cloud_depth: float = param(0.6, ge=0, le=1, source="[K] clear-sky index drop under a cloud")
    eff_p0: float = param(0.0072, ge=0, source="[K] Notton fit of a string inverter")
    eff_k: float = param(0.0345, ge=0, source="[K] Notton fit of a string inverter")
    t_start_s: float | None = param(
        None,
        unit="s",
        source="deprecated: the site clock (site.start) sets the time of day",
        doc="solar time of day at t = 0 (0 = midnight) in the old fixed solar clock",
    )


def cos_zenith(hour_solar: float, latitude_deg: float, day_of_year: int) -> float:
    """Cosine of the solar zenith (Cooper's declination [K]) at a solar hour of a day."""
    decl = math.radians(23.45) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    lat = math.radians(latitude_deg)
    hour_angle = math.radians(15.0 * (hour_solar - 12.0))
    return math.sin(lat) * math.sin(decl) + math.cos(lat) * math.cos(decl) * math.cos(hour_angle)


def clear_sky_ghi(hour_solar: float, latitude_deg: float, day_of_year: int) -> float:
    """Haurwitz clear-sky global horizontal irradiance (W/m²)."""
    return haurwitz_ghi(cos_zenith(hour_solar, latitude_deg, day_of_year))


def haurwitz_ghi(cos_z: float) -> float:
    """Haurwitz's clear-sky GHI (W/m²) at a cosine of the zenith (0 with the sun this low)."""
    if cos_z <= 0.01:
        return 0.0
    return 1098.0 * cos_z * math.exp(-0.057 / cos_z)


def cloud_blend(w: float, k0: float, k1: float) -> float:
    """The clear-sky index between two minutes' draws, ``w`` of the way to the second."""
    return (1 - w) * k0 + w * k1


def inverter_ac(
    g: float, t_ambient: float, noct: float, p_stc: float, gamma: float, s_kva: float, limit_pct: float,
    eff_p0: float, eff_k: float, on: bool,
) -> tuple[float, float]:  # fmt: skip
    """(AC, DC) power in kW of the park at irradiance ``g``: cell temperature by NOCT, the
    inverter's Notton efficiency and its limit; (0, 0) when ``on`` is false."""
    t_cell = t_ambient + g / 800.0 * (noct - 20.0)
    p_dc = p_stc * g / 1000.0 * (1.0 + gamma * (t_cell - 25.0))
    cap = s_kva * limit_pct / 100.0
    x = max(p_dc, 0.0) / s_kva
    eta = x / (x + eff_p0 + eff_k * x * x) if x > 0 else 0.0
    p_ac = min(p_dc * eta, cap)
    if not on:
        return 0.0, 0.0
    return p_ac, min(p_dc, p_ac / eta if eta > 0 else 0.0)


class Pv:
    """PV park as one aggregate inverter: irradiance to AC power, limit and trips."""

    name: ClassVar[str] = "pv"
    outputs: ClassVar[tuple[Signal, ...]] = (
        # pv.p_ac_kw and pv.energy_kwh are the bus's (twin.bus): reported as 0 without PV
        Signal("ghi_w_m2", "W/m²", "irradiance in use", per_unit=False),
        Signal("loss_kw", "kW", "inverter loss", per_unit=False),
        Signal(
            "tripped",
            "1",
            "1 while the inverters are tripped (grid code, dead bus or pv.trip)",
            per_unit=False,
        ),
    )
    inputs: ClassVar[tuple[Signal, ...]] = (
        Signal(
            "irradiance_w_m2", "W/m²", "overrides the irradiance (NaN returns to the model)", per_unit=False
        ),
        Signal(
            "cloud_index",
            "1",
            "overrides the clear-sky index 0..1 (NaN returns to the model)",
            per_unit=False,
        ),
        Signal("p_limit_pct", "%", "active power limit, % of rating", per_unit=False),
        Signal(
            "trip", "1", "1 trips the inverters and holds them off until 0 (fault injection)", per_unit=False
        ),
    )

    def __init__(self, params: PvParams, *, seed: int, clock: Clock | None = None) -> None:
        self.params = params
        self.seed = seed
        self.legacy_clock = params.day_of_year is not None or params.t_start_s is not None
        self.clock = clock if clock is not None else Clock(longitude_deg=params.longitude_deg)
        # clouds are drawn per minute from the solar minute of day at the start, rounded, on:
        # the same sky as the old fixed clock for the same start (aidc_10k: minute 600)
        if self.legacy_clock:
            self._minute0 = (params.t_start_s or 0.0) / 60.0
        else:
            self._minute0 = float(round(self.clock.solar_day_and_hour(0.0)[1] * 60.0) % 1440)
        self.irradiance_override: float | None = None  # W/m², from a profile or a test
        self.cloud_override: float | None = None  # clear-sky index 0..1
        self.limit_pct = 100.0
        self._minute_cache: dict[int, float] = {}
        self.p_ac = 0.0
        self.p_dc = 0.0
        self.ghi = 0.0
        self.loss = 0.0
        self.tripped = False
        self.forced_trip = False  # the pv.trip input (fault injection), held until cleared
        self.enabled = True

    def _cloud_index(self, minute: int) -> float:
        k = self._minute_cache.get(minute)
        if k is None:
            if len(self._minute_cache) > 4096:
                self._minute_cache.clear()
            rng = np.random.default_rng([self.seed, 0x5057, minute])
            p = self.params
            cloudy = rng.random() < p.cloud_cover
            k = 1.0 - p.cloud_depth * (0.6 + 0.4 * rng.random()) if cloudy else 1.0 - 0.03 * rng.random()
            self._minute_cache[minute] = k
        return k

    def sun(self, t: float) -> tuple[int, float]:
        """(day of year, apparent solar hour) at run time ``t``."""
        p = self.params
        if not self.legacy_clock:
            return self.clock.solar_day_and_hour(t)
        t0 = p.t_start_s or 0.0
        day = (p.day_of_year or 172) + int((t0 + t) // 86400.0)
        return (day - 1) % 365 + 1, ((t0 + t) % 86400.0) / 3600.0

    def zenith_deg(self, t: float) -> float:
        day, hour = self.sun(t)
        return math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith(hour, self.params.latitude_deg, day)))))

    def irradiance(self, t: float) -> float:
        if self.irradiance_override is not None:
            return self.irradiance_override
        p = self.params
        day, hour = self.sun(t)
        ghi = clear_sky_ghi(hour, p.latitude_deg, day)
        if self.cloud_override is not None:
            return ghi * self.cloud_override
        m = self._minute0 + t / 60.0
        m0 = math.floor(m)
        return ghi * cloud_blend(m - m0, self._cloud_index(m0), self._cloud_index(m0 + 1))

    def step(self, t: float, dt: float) -> None:
        """Mean output over [t, t+dt): irradiance at the tick's midpoint (held)."""
        g = self.irradiance(t + 0.5 * dt)
        self.ghi = g
        self.p_ac, self.p_dc = inverter_ac(g, *self.inverter_params(), self.enabled and not self.tripped)
        self.loss = self.p_dc - self.p_ac

    def inverter_params(self) -> tuple[float, float, float, float, float, float, float, float]:
        """What :func:`inverter_ac` takes after the irradiance: ambient, NOCT, rating at STC,
        temperature coefficient, inverter rating, limit (%), Notton's P0 and K."""
        p = self.params
        return (
            p.t_ambient_degc, p.noct_degc, p.p_dc_stc_kw, p.gamma_per_k, p.s_inverter_kva, self.limit_pct,
            p.eff_p0, p.eff_k,
        )  # fmt: skip
