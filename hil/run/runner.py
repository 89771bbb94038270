"""The runner: one async object that owns the clock, the gateway and the protocol servers.

``hil serve`` and the tests build a :class:`Runner`; nothing else runs the clock. Servers are
started (and asyncua's slow ``init()`` done) before the clock starts; ``gc.freeze()`` follows
once the address space is built, so the collector does not walk it on every tick (not under
:class:`Manual` pacing: a test stepping a few hundred ticks by hand gains nothing from it, and
the collection before it costs ≈ 0.3 s a runner).

Pacing:
- :class:`RealTime` sleeps to absolute deadlines (``t0 + k * tick / speed``), never cumulatively,
  so a late tick does not push the ones after it; the lateness of each tick is recorded.
- :class:`AsFastAsPossible` steps back to back, yielding to the servers between ticks.
- :class:`Manual` does nothing by itself: tests call :meth:`Runner.step`.

Chunks: as fast as possible, a stretch of ticks in which nobody acts (the in-process
controller's next decision is later and it only observes in between, no write is queued and
no device timer fires, no scenario action, ramp or self-updating fault is due) is advanced in
one call (:meth:`Runner.advance_quiet`): the twin's :meth:`twin.Site.advance`, the gateway's
timers counted down as the boundaries would, the registers encoded once. Where the trace, an
expectation or the controller's observation needs the ticks inside the stretch, the twin
hands over every tick's snapshot (``each=``) and they see each, as tick by tick; else the
stretch ends at the next trace row. Servers may be up while an in-process controller bounds
the stretches: their clients' writes wait for the stretch's end, as they wait for a tick's
(their arrival against simulated time is arbitrary as fast as possible); with the EMS on the
wire (none in process, or it is silenced) every tick is stepped. The run is the same to the
bit as tick by tick (``tests/unit/hil/run/test_chunked_run.py``); ``chunked=False`` steps
every tick.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hil.ems import ScheduledController
from hil.endpoints import EndpointConfig
from hil.protocols import PROTOCOLS, Endpoint, Served, build_servers, check_protocols
from hil.protocols.modbus import ModbusServers
from hil.protocols.modbus.endpoint import ModbusEndpoint
from hil.protocols.opcua import OpcUaServer
from hil.protocols.opcua.endpoint import OpcUaEndpoint
from hil.report import build_report
from hil.run.ending import describe_error, fresh_out_dir, solver_failure, stop_on_signals
from hil.run.pacing import (
    AsFastAsPossible,
    ClockControl,
    Lateness,
    Manual,
    OverrunError,
    Pacer,
    RealTime,
    SimTimeoutError,
)
from hil.run.play import Play
from hil.run.prepare import PreparedRun, prepare_run
from hil.trace.bill import run_bill, site_storage
from hil.trace.store import TraceWriter
from hil.wire.gateway import Gateway
from twin import Site, Snapshot
from twin.warm import warm_kernels

#: The longest stretch advanced in one call (the event loop runs between stretches).
CHUNK_MAX_TICKS = 1024

__all__ = [
    "CHUNK_MAX_TICKS",
    "AsFastAsPossible",
    "Attachment",
    "Endpoint",
    "Lateness",
    "Manual",
    "OverrunError",
    "PreparedRun",
    "RealTime",
    "RunOutcome",
    "Runner",
    "SimTimeoutError",
    "prepare_run",
    "run_scenario",
]

log = logging.getLogger(__name__)


class Attachment(Protocol):
    """Something that runs beside a run on its event loop (the browser dashboard): attached
    once the servers are up, before the clock starts; detached when the run is over."""

    async def attach(self, runner: Runner) -> None: ...

    async def detach(self) -> None: ...


class Runner:
    """Clock + gateway + servers. Use as ``async with Runner(site, endpoints) as r: await r.run()``."""

    def __init__(
        self,
        site: Site,
        endpoints: EndpointConfig | None = None,
        *,
        pacer: Pacer | None = None,
        serve: bool = True,
        protocols: Sequence[str] | None = None,
        controller: Any = None,
        play: Any = None,
        trace: Any = None,
        gateway: Gateway | None = None,
        chunked: bool = True,
    ) -> None:
        self.site = site
        self.chunked = chunked  # advance quiet stretches in one call (see the module docstring)
        self.chunks = 0  # stretches advanced in one call each (advance_quiet) ...
        self.chunked_ticks = 0  # ... and the ticks they held
        self.config = endpoints or EndpointConfig()
        self.gateway = gateway if gateway is not None else Gateway.from_config(site, self.config)
        self.pacer: Pacer = pacer or RealTime()
        self.serve = serve
        # the protocols served (hil.protocols.PROTOCOLS; default every one), in registry order
        self.protocols = check_protocols(tuple(PROTOCOLS) if protocols is None else protocols)
        self.servers: list[Served] = []
        self.lateness = Lateness()
        self.lag_s = 0.0
        self.ticks = 0
        self.on_tick: list[Callable[[Runner], None]] = []
        self.controller = controller  # an in-process controller (hil.ems), or None
        self._scheduled = isinstance(controller, ScheduledController)  # says when it acts next
        self.play = play  # a hil.run.play.Play, or None
        self.trace = trace  # a hil.trace.store.TraceWriter, or None
        self.rebased_s = 0.0  # wall time dropped by the "rebase" overrun policy
        self.sim_timeout_s: float | None = None  # raise SimTimeoutError past this much simulated time
        self._writes_seen = 0
        self._inputs_seen = 0
        self._published = -1e9
        self._events_seen = len(site.events)  # the twin's transitions already in the trace
        self._stop = asyncio.Event()
        self.clock = ClockControl(self.pacer)  # pause and speed, from the dashboard
        # the loop time the clock's next tick is due at, while it waits for it in real time
        # (else None): a reader beside the clock (the dashboard) keeps its work clear of it
        self.next_deadline: float | None = None
        self._last_warn = -1e9
        self._gc_frozen = False  # gc.freeze() done by __aenter__, undone by close()

    # -- servers --------------------------------------------------------------------------
    async def __aenter__(self) -> Runner:
        if self.serve:
            await self._start_servers()
        if not isinstance(self.pacer, Manual):
            try:  # the kernels loaded now, not on the first tick, chunk or islanded tick
                warm_kernels(self.site)
            except Exception:  # an optimisation only: a site it cannot copy loads them lazily
                log.debug("kernels not warmed: they load on first use", exc_info=True)
            gc.collect()
            gc.freeze()
            self._gc_frozen = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _start_servers(self) -> None:
        cfg = self.config
        for name in self.protocols:
            for text in PROTOCOLS[name].exposure(cfg):
                log.warning("%s (docs/security.md)", text)
        try:
            for server in build_servers(self.protocols, self.gateway, cfg):
                self.servers.append(server)  # before start: close() stops a half-started one
                await server.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._gc_frozen:
            gc.unfreeze()
            self._gc_frozen = False
        servers, self.servers = self.servers, []
        for server in servers:
            await server.stop()

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every served endpoint, as ``hil serve`` prints it."""
        return [e for server in self.servers for e in server.listing()]

    @property
    def modbus(self) -> list[ModbusEndpoint]:
        """The Modbus endpoints being served (for faults and tools about Modbus itself)."""
        return [ep for s in self.servers if isinstance(s, ModbusServers) for ep in s.endpoints]

    @property
    def opcua(self) -> OpcUaEndpoint | None:
        """The OPC UA endpoint being served, or None (for faults and tools about OPC UA itself)."""
        return next((s.endpoint for s in self.servers if isinstance(s, OpcUaServer)), None)

    # -- the clock ------------------------------------------------------------------------
    async def step(self, n: int = 1) -> None:
        """Advance ``n`` ticks and publish to the servers (manual pacing, tests).

        Order within a tick, at its boundary t:

        1. the in-process controller (reads the registers the last tick encoded, as a wire
           client does, and writes through the gateway: its writes are queued like theirs);
        2. the gateway applies every write queued since the last boundary, in the order
           received (wire clients', then the controller's), and the devices push the twin
           inputs written, reverted or forced by the comm-loss watchdog;
        3. the scenario's actions due at t (``set:``, faults, grid events, in file order);
        4. the twin steps to t + dt, the registers are re-encoded; expectations, trace, OPC UA.

        So at one boundary the scenario's action is the last write and wins; a write of either
        kind at a later boundary takes over. The events table lists both in this order."""
        for _ in range(n):
            self._boundary()
            await self._finish_tick(self.gateway.advance())

    def _boundary(self) -> None:
        """Steps 1–3 of :meth:`step`: the controller, the queued writes, the scenario's actions."""
        c = self.controller
        if c is not None and not c.silenced:
            c.on_tick(self.site.t)
        self.gateway.apply_writes()
        if self.trace is not None:
            self.trace_writes()
        if self.play is not None:
            self.play.before_tick()

    async def _finish_tick(self, snap: Snapshot) -> None:
        self.ticks += 1
        if self.sim_timeout_s is not None and self.ticks * self.site.dt > self.sim_timeout_s + 1e-9:
            raise SimTimeoutError(
                f"stepped {self.ticks * self.site.dt:g} s of simulated time, "
                f"over the {self.sim_timeout_s:g} s budget"
            )
        self._after_tick(snap)
        await self._publish()
        for cb in self.on_tick:
            cb(self)

    async def _publish(self) -> None:
        """Send the servers' subscribers what changed; faster than real time, clients cannot
        use every tick: at ≤ 10 Hz of wall time (the last tick is published when the run ends)."""
        if self.servers:
            now = time.monotonic()
            if not isinstance(self.pacer, AsFastAsPossible) or now - self._published >= 0.1:
                self._published = now
                for server in self.servers:
                    await server.publish()

    def quiet_ticks(self, limit: int, *, acted: bool = False) -> tuple[int, bool]:
        """How many of the coming ticks (``limit`` at most) nobody acts in, so that
        :meth:`advance_quiet` may take them in one call, and whether it must hand every tick's
        snapshot over (the trace or an expectation takes one inside, or the controller
        observes); (0, False) unless the run is chunked, as fast as possible, with no tick
        callback and no simulated-time budget. ``acted``: this boundary's work is done
        (:meth:`_boundary`), the stretch starts with its tick and is quiet after it."""
        limit = min(limit, CHUNK_MAX_TICKS)
        if (
            not self.chunked
            or limit < 2
            or self.on_tick
            or self.sim_timeout_s is not None
            or not isinstance(self.pacer, AsFastAsPossible)
        ):
            return 0, False
        site = self.site
        until = math.inf  # the controller acts at no boundary before this time
        c = self.controller
        rows = False
        if self.servers and (c is None or c.silenced):
            return 0, False  # the EMS is on the wire: its writes are taken at the next tick
        if c is not None and not c.silenced:
            if not self._scheduled:  # it may act at any tick
                return 0, False
            until = c.quiet_until()
            if site.t >= until and not acted:  # it acts now (a period at or under the tick: every boundary)
                return 0, False
            rows = bool(c.observes)
        times = self.gateway.boundary_times(limit + 1)  # the boundaries, then the last one's end
        first = int(acted)  # the first boundary to ask about
        k = limit
        late = times[first:k] >= until
        if late.any():
            k = first + int(np.argmax(late))
        if self.play is not None and k > 1:
            k = min(k, first + self.play.quiet_ticks(times[first : k + 1]))
        if k > 1:
            k = min(k, first + self.gateway.idle_horizon(times[first:k], ahead=acted))
        if k < 2:
            return 0, False
        # the ticks up to the first snapshot someone looks at (the last one is always seen)
        seen = k
        if self.play is not None:
            seen = min(seen, self.play.unseen_ticks(times[: k + 1]))
        if self.trace is not None:
            seen = min(seen, self.trace.quiet_ticks(site.tick, k))
        if rows or seen < 2:
            return k, True
        return seen, False

    def advance_quiet(self, k: int, rows: bool = False) -> None:
        """Advance ``k`` ticks that :meth:`quiet_ticks` found quiet, in one call: the same
        state, trace rows, events and results as ``k`` calls of :meth:`step` (``rows``: the
        play, the trace and the controller's ``observe`` see every tick). If this boundary's
        work was done (:meth:`_boundary`), the stretch starts with its tick."""
        self.chunks += 1
        self.chunked_ticks += k
        acted = self.gateway.boundary_done
        if not rows:
            snap = self.gateway.advance_idle(k)
            self.ticks += k
            self._after_tick(snap)
            return
        c = self.controller
        watch = c if c is not None and not c.silenced else None
        left = k

        def each(snap: Snapshot) -> None:
            nonlocal left
            self.ticks += 1
            left -= 1
            self._after_tick(snap)
            if watch is not None and left:
                watch.observe(self.site.t)  # the next boundary, quiet too

        if watch is not None and not acted:
            watch.observe(self.site.t)
        self.gateway.advance_idle(k, each, watch.observes if watch is not None else frozenset())

    def _after_tick(self, snap: Snapshot) -> None:
        if self.play is not None:
            self.play.after_tick(snap)
        if self.trace is not None:
            self._trace_tick(snap)

    def trace_writes(self) -> None:
        """Put the EMS writes (accepted and refused) and the twin inputs the devices pushed since
        the last call into the trace's events, each at the boundary where it was applied."""
        tr = self.trace
        t0 = self.play.t0 if self.play is not None else 0.0
        log_ = self.gateway.write_log
        if len(log_) > self._writes_seen:
            for t, dev, point, value, status in log_[self._writes_seen :]:
                ok = status == "ok"
                tr.event(
                    t - t0,
                    "write_accepted" if ok else "write_rejected",
                    source="ems",
                    target=dev,
                    detail=f"{point} = {value!r}" + ("" if ok else f" ({status})"),
                    value=float(value) if isinstance(value, (int, float)) else None,
                )
            self._writes_seen = len(log_)
        pushed = self.gateway.input_log
        if len(pushed) > self._inputs_seen:
            for t, dev, name, value, why in pushed[self._inputs_seen :]:
                tr.event(t - t0, "input", source=dev, target=name, detail=why, value=value)
            self._inputs_seen = len(pushed)

    def _trace_tick(self, snap: Any) -> None:
        tr = self.trace
        tr.append(snap, {"runner.lag_s": self.lag_s})
        events = self.site.events  # the twin detects transitions once (twin.transitions)
        if len(events) > self._events_seen:
            t0 = self.play.t0 if self.play is not None else 0.0
            for ev in events[self._events_seen :]:
                value = None if math.isnan(ev.value) else ev.value
                tr.event(ev.t - t0, ev.kind, source="twin", target=ev.device, detail=ev.detail, value=value)
            self._events_seen = len(events)

    def stop(self) -> None:
        self._stop.set()
        self.clock.resume()  # a paused run stops too

    async def run(self, *, duration_s: float | None = None) -> None:
        """Run until ``duration_s`` of simulated time has passed, or :meth:`stop`."""
        dt = self.site.dt
        n_ticks = None if duration_s is None else round(duration_s / dt)
        pacer = self.pacer
        if isinstance(pacer, Manual):
            raise RuntimeError("a Manual runner is stepped with step(), not run()")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        k = k0 = 0  # deadlines count from tick k0 at t0 (moved on by pause, speed and rebase)
        while not self._stop.is_set() and (n_ticks is None or k < n_ticks):
            clock = self.clock
            if clock.paused:  # held from the dashboard: the servers still answer
                self.next_deadline = None
                await clock.wait()
                t0, k0 = loop.time(), k
                continue
            if isinstance(pacer, RealTime):
                if clock.changed:  # a new speed: the deadlines count from now
                    clock.changed = False
                    t0, k0 = loop.time(), k
                deadline = t0 + (k - k0) * dt / clock.speed
                self.next_deadline = deadline
                now = loop.time()
                # behind, yield all the same: the servers must answer while the clock catches up
                await asyncio.sleep(max(deadline - now, 0.0))
                late = loop.time() - deadline
                self.lag_s = max(late, 0.0)
                self.lateness.add(late)
                if late > pacer.overrun_warn_s and time.monotonic() - self._last_warn > 10.0:
                    self._last_warn = time.monotonic()
                    log.warning("tick %d started %.0f ms late", k, late * 1000.0)
                if late > pacer.max_lag_s:
                    if pacer.overrun == "fail":
                        raise OverrunError(
                            f"tick {k} started {late:.2f} s late (max_lag_s {pacer.max_lag_s:g} s)"
                        )
                    if pacer.overrun == "rebase":
                        t0 += late
                        self.rebased_s += late
                        log.warning("%.2f s behind: dropping the backlog (overrun policy rebase)", late)
            else:
                await asyncio.sleep(0)
                left = n_ticks - k if n_ticks is not None else CHUNK_MAX_TICKS
                quiet, rows = self.quiet_ticks(left)
                if not quiet:  # someone acts at this boundary: act, then the quiet ticks after it
                    self._boundary()
                    quiet, rows = self.quiet_ticks(left, acted=True)
                    if not quiet:
                        await self._finish_tick(self.gateway.advance())
                        k += 1
                        continue
                self.advance_quiet(quiet, rows)
                k += quiet
                await self._publish()
                continue
            await self.step()
            k += 1
        self.next_deadline = None


# -- playing a scenario ---------------------------------------------------------------------------
@dataclass
class RunOutcome:
    """What :func:`run_scenario` leaves: the folder, the verdict and the results it wrote."""

    out_dir: Any
    passed: bool
    interrupted: bool
    results: dict[str, Any]


async def run_scenario(
    scenario: Any,
    *,
    out_dir: Any,
    site: str | None = None,
    pacer: Pacer | None = None,
    seed: int | None = None,
    controller: str | None = None,
    serve: bool = True,
    protocols: Sequence[str] | None = None,
    ports: tuple[int | None, int | None] | None = None,
    handle_signals: bool = False,
    on_start: Callable[[Runner], None] | None = None,
    report: bool = True,
    chunked: bool = True,
    attachments: Sequence[Attachment] = (),
) -> RunOutcome:
    """Play a scenario to its end (or until stopped) and leave trace, events, results, junit and report.

    ``scenario`` is a name, a path, a :class:`hil.scenario.Scenario` or a :class:`PreparedRun`
    (then ``site``, ``seed``, ``controller`` and ``ports`` were applied when it was prepared).
    Checks everything before a server starts. Ctrl-C / SIGTERM (``handle_signals``) or
    :meth:`Runner.stop` end the run early: the trace is flushed and the report still written,
    with the expectations whose windows had not closed marked as not evaluated. ``protocols``
    names the protocols served (default every one: ``hil.protocols.PROTOCOLS``);
    ``report=False`` skips report.html (chaos runs check the trace); ``chunked=False`` steps
    every tick (the same results, slower: for comparisons); ``attachments`` run beside it
    (the dashboard, :class:`hil.ui.Dashboard`). Any other error (a full
    disk, a :class:`twin.errors.SolverError`) is raised after the trace is closed and
    results.json and the report are written (a solver failure under ``"solver_failure"``:
    device, simulated time, reason)."""
    prepared = (
        scenario
        if isinstance(scenario, PreparedRun)
        else prepare_run(scenario, site=site, seed=seed, controller=controller, ports=ports)
    )
    sc, tw, cfg, gw, ctl, tariff = prepared
    pacer = pacer or AsFastAsPossible()
    out = fresh_out_dir(Path(out_dir))
    spec = sc.controller
    runner = Runner(
        tw, cfg, pacer=pacer, serve=serve, protocols=protocols, gateway=gw, controller=ctl, chunked=chunked
    )
    every = 1 if sc.trace_every_s is None else max(1, round(sc.trace_every_s / tw.dt))
    pacing = "fast" if isinstance(pacer, AsFastAsPossible) else f"real time ×{getattr(pacer, 'speed', 1.0):g}"
    full = None if sc.trace_full_every_s is None else max(1, round(sc.trace_full_every_s / tw.dt))
    meta = {
        "scenario": sc.name,
        "title": sc.title,
        "file": str(sc.path),
        "site": tw.params.name,
        "seed": tw.params.seed,
        "controller": spec.label(),
        "pacing": pacing,
        "tick_s": tw.dt,
        "start": tw.params.start,
        "timezone": tw.params.timezone,
        "duration_s": sc.duration_s,
        "t0_s": tw.t,
        "key_signals": sc.key_signals,
        "trace_full_every_s": None if full is None else full * tw.dt,
        "tags": sc.tags,
        "python": platform.python_version(),
    }
    trace = TraceWriter(out, every_ticks=every, signals=sc.trace_signals, meta=meta, full_every_ticks=full)
    runner.trace = trace
    play = Play(sc, runner, trace=trace)
    runner.play = play
    interrupted = False
    error: BaseException | None = None
    wall0 = time.perf_counter()
    try:
        trace.event(0.0, "run", source="runner", detail=f"start: {sc.name} on {tw.params.name}, {pacing}")
        runner.trace_writes()  # the devices' power-on state, pushed when the gateway was built
        for key, value in sc.initial.items():  # then the scenario's initial inputs over it
            tw.set(key, value)
            trace.event(0.0, "event", source="initial", target=key, detail=f"{key} = {value:g}", value=value)
        async with runner:
            with stop_on_signals(runner, handle_signals):
                for a in attachments:
                    await a.attach(runner)
                if on_start is not None:
                    on_start(runner)
                await runner.run(duration_s=sc.duration_s)
    except BaseException as exc:
        error = exc
    finally:
        n_target = round(sc.duration_s / tw.dt)
        complete = runner.ticks >= n_target and error is None
        interrupted = not complete
        play.finish(complete=complete)
        wall = time.perf_counter() - wall0
        why = "completed" if complete else "stopped early"
        if not complete and error is not None:
            why = "error: " + describe_error(error)
        solver = solver_failure(error)
        if solver is not None:
            log.error("%s; the run stopped with the last good state", error)
            why = f"solver failure: {error}"
        try:
            trace.event(runner.ticks * tw.dt, "run", source="runner", detail=why)
            trace.close()
        except OSError as exc:  # disk full while flushing: keep what is on disk, report the error
            error = error if error is not None else exc
            interrupted = True
        results = {
            **meta,
            "simulated_s": runner.ticks * tw.dt,
            "wall_s": wall,
            "interrupted": interrupted,
            "error": None if error is None else describe_error(error),
            "solver_failure": solver,
            "passed": play.passed and not interrupted,
            "lateness": runner.lateness.summary(),
            "rebased_s": runner.rebased_s,
            "chunks": {"stretches": runner.chunks, "ticks": runner.chunked_ticks},
            "key_signals": sc.key_signals,
            "expectations": play.results(),
            "faults": play.fault_rows(),
            "writes": {
                "accepted": runner.gateway.writes_accepted,
                "rejected": runner.gateway.writes_rejected,
            },
        }
        if tariff is not None:
            results["bill"] = run_bill(out, tariff, start=str(tw.params.start), storage=site_storage(tw))
        (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
        if report:
            build_report(out)
        for a in attachments:  # after the verdict, so that a page sees the run's end
            await a.detach()
    # a SolverError is raised too, after results.json and the report: a study or a plugin
    # must not take a run cut short for a finished one (``hil run`` exits 5 on it)
    if error is not None and not isinstance(error, (KeyboardInterrupt, asyncio.CancelledError)):
        raise error
    return RunOutcome(out, bool(results["passed"]), interrupted, results)
