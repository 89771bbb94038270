"""The runner: one async object that owns the clock, the gateway and the protocol servers.

``hil serve`` and the tests build a :class:`Runner`; nothing else runs the clock. Servers are
started (and asyncua's slow ``init()`` done) before the clock starts; ``gc.freeze()`` follows
once the address space is built, so the collector does not walk it on every tick.

Pacing:
- :class:`RealTime` sleeps to absolute deadlines (``t0 + k * tick / speed``), never cumulatively,
  so a late tick does not push the ones after it; the lateness of each tick is recorded.
- :class:`AsFastAsPossible` steps back to back, yielding to the servers between ticks.
- :class:`Manual` does nothing by itself: tests call :meth:`Runner.step`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin import Site

from .endpoints import EndpointConfig
from .gateway import Gateway

__all__ = ["AsFastAsPossible", "Endpoint", "Manual", "RealTime", "Runner"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealTime:
    """Simulated seconds per wall second (2.0 runs twice as fast as the wall clock)."""

    speed: float = 1.0
    overrun_warn_s: float = 0.05  # warn (rate-limited) when a tick starts this late


@dataclass(frozen=True)
class AsFastAsPossible:
    pass


@dataclass(frozen=True)
class Manual:
    pass


Pacer = RealTime | AsFastAsPossible | Manual


@dataclass(frozen=True)
class Endpoint:
    """One served endpoint, as ``hil serve`` prints it."""

    url: str
    name: str
    detail: str


@dataclass
class Lateness:
    """How late each tick started against its deadline, in seconds."""

    samples: list[float] = field(default_factory=list)

    def add(self, late: float) -> None:
        if len(self.samples) < 10_000_000:
            self.samples.append(late)

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
        a = np.asarray(self.samples) * 1000.0
        return {
            "n": float(a.size),
            "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max()),
        }


class Runner:
    """Clock + gateway + servers. Use as ``async with Runner(site, endpoints) as r: await r.run()``."""

    def __init__(
        self,
        site: Site,
        endpoints: EndpointConfig | None = None,
        *,
        pacer: Pacer | None = None,
        serve: bool = True,
        modbus: bool = True,
        opcua: bool = True,
    ) -> None:
        self.site = site
        self.config = endpoints or EndpointConfig()
        self.gateway = Gateway.from_config(site, self.config)
        self.pacer: Pacer = pacer or RealTime()
        self.serve = serve
        self.want_modbus = modbus
        self.want_opcua = opcua
        self.modbus: list[Any] = []
        self.opcua: Any = None
        self.endpoints: list[Endpoint] = []
        self.lateness = Lateness()
        self.lag_s = 0.0
        self.ticks = 0
        self.on_tick: list[Callable[[Runner], None]] = []
        self._stop = asyncio.Event()
        self._last_warn = -1e9

    # -- servers --------------------------------------------------------------------------
    async def __aenter__(self) -> Runner:
        if self.serve:
            await self._start_servers()
        gc.collect()
        gc.freeze()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start_servers(self) -> None:
        cfg = self.config
        gw = self.gateway
        try:
            if self.want_modbus:
                from .modbus import ModbusEndpoint

                if cfg.modbus_layout == "gateway":
                    groups = [(gw.devices, cfg.modbus_port)]
                else:
                    groups = [
                        ([d], cfg.modbus_port + k if cfg.modbus_port else 0) for k, d in enumerate(gw.devices)
                    ]
                for devices, port in groups:
                    ep = ModbusEndpoint(
                        gw,
                        devices,
                        host=cfg.host,
                        port=port,
                        layout="gateway" if cfg.modbus_layout == "gateway" else "per-device",
                        unknown_unit=cfg.unknown_unit,
                    )
                    await ep.start()
                    self.modbus.append(ep)
                    for d in devices:
                        unit = d.unit_id
                        models = " ".join(str(m) for m in _compact(d.models))
                        self.endpoints.append(
                            Endpoint(f"modbus://{cfg.host}:{ep.port}/{unit}", d.name, f"SunSpec {models}")
                        )
            if self.want_opcua:
                from .opcua import OpcUaEndpoint

                self.opcua = OpcUaEndpoint(gw, host=cfg.host, port=cfg.opcua_port)
                await self.opcua.start()
                n_vars = len(self.opcua.variables())
                self.endpoints.append(
                    Endpoint(self.opcua.url, f"Objects/{self.site.params.name}", f"{n_vars} variables")
                )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        gc.unfreeze()
        for ep in self.modbus:
            await ep.stop()
        self.modbus.clear()
        if self.opcua is not None:
            await self.opcua.stop()
            self.opcua = None

    # -- the clock ------------------------------------------------------------------------
    async def step(self, n: int = 1) -> None:
        """Advance ``n`` ticks and publish to the servers (manual pacing, tests)."""
        for _ in range(n):
            self.gateway.step()
            self.ticks += 1
            if self.opcua is not None:
                await self.opcua.publish()
            for cb in self.on_tick:
                cb(self)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, duration_s: float | None = None) -> None:
        """Run until ``duration_s`` of simulated time has passed, or :meth:`stop`."""
        dt = self.site.dt
        n_ticks = None if duration_s is None else round(duration_s / dt)
        pacer = self.pacer
        if isinstance(pacer, Manual):
            raise RuntimeError("a Manual runner is stepped with step(), not run()")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        k = 0
        while not self._stop.is_set() and (n_ticks is None or k < n_ticks):
            if isinstance(pacer, RealTime):
                deadline = t0 + k * dt / pacer.speed
                now = loop.time()
                if deadline > now:
                    await asyncio.sleep(deadline - now)
                late = loop.time() - deadline
                self.lag_s = max(late, 0.0)
                self.lateness.add(late)
                if late > pacer.overrun_warn_s and time.monotonic() - self._last_warn > 10.0:
                    self._last_warn = time.monotonic()
                    log.warning("tick %d started %.0f ms late", k, late * 1000.0)
            else:
                await asyncio.sleep(0)
            await self.step()
            k += 1


def _compact(models: list[int]) -> list[str]:
    """[1, 701, 804, 804, 804] -> ['1', '701', '804×3']."""
    out: list[str] = []
    for m in models:
        if out and out[-1].split("×")[0] == str(m):
            base, _, n = out[-1].partition("×")
            out[-1] = f"{base}×{int(n or 1) + 1}"
        else:
            out.append(str(m))
    return out
