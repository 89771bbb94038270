"""What the browser dashboard shows, read from a running :class:`hil.run.runner.Runner`.

The feed is a reader, like the protocol servers: it never writes into the twin or the
gateway, and it runs from the dashboard's own asyncio task a few times a second, never from
the clock's tick. :meth:`Feed.hello` is what a page gets when it connects (the site's layout,
its devices and points, the fault catalogue and the actions the page may send, the recent
history); :meth:`Feed.frame` is one update (the key signals, each device of the one-line
diagram, new events and writes, expectations, active faults, the clock). Both are plain
JSON-able dicts; ``docs/reference/ui-protocol.md`` describes every field.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

import numpy as np

from hil._render import num  # a JSON number: NaN and ±inf become null
from hil.faults import FAULTS
from hil.scenario import ACTIONS
from hil.scenario.names import KEY_SIGNAL_LABELS, state_enum
from hil.ui.control import SOURCE
from hil.wire.gateway import Device
from hil.wire.sunspec import BASE_ADDRESS
from twin.units import signal_unit

__all__ = ["EVENT_LEVELS", "Feed"]

#: how the page colours an event, by kind (anything else is "info")
EVENT_LEVELS = {
    "fault_inject": "fault", "fault_clear": "fault", "ui_action": "ui", "expectation": "check",
    "write_rejected": "warn", "alarm": "alarm", "alarm_raised": "alarm", "alarm_cleared": "info",
}  # fmt: skip

_HISTORY = 3000  # frames of key signals kept for a page that connects later (10 min at 5 Hz)
_EVENTS_KEPT = 500  # recent events kept for a page that connects later
_LATENESS_WINDOW = 600  # the clock's lateness percentiles over the last ticks


def _state_name(signal: str, code: float) -> str:
    enum = state_enum(signal)
    try:
        return enum(int(code)).name if enum is not None else f"{code:g}"
    except ValueError:
        return f"{code:g}"


class Feed:
    """The dashboard's view of one runner (see the module docstring)."""

    def __init__(self, runner: Any, *, read_only: bool = False) -> None:
        self.runner = runner
        self.read_only = read_only
        self.seq = 0  # events numbered as they are seen, so a page can tell new from old
        self._events: deque[dict[str, Any]] = deque(maxlen=_EVENTS_KEPT)
        self._pending: list[dict[str, Any]] = []  # the timeline's events since the last poll
        self._history: deque[tuple[float, list[float | None]]] = deque(maxlen=_HISTORY)
        self._cursors = {"twin": len(runner.site.events), "writes": len(runner.gateway.write_log)}
        self._wall0 = time.monotonic()
        snap = runner.gateway.snapshot
        self.key_signals = [n for n in KEY_SIGNAL_LABELS if n in snap.scalars]
        self._by_kind: dict[str, list[Device]] = {}
        for d in runner.gateway.devices:
            self._by_kind.setdefault(d.kind, []).append(d)
        self._t0 = runner.play.t0 if runner.play is not None else float(runner.site.t)
        if runner.play is not None:  # the timeline's events: actions, faults, expectations
            runner.play.listeners.append(self._on_play_event)
        # the fault catalogue and the actions with their parameters' schemas (pydantic builds
        # them in ≈ 5 ms): the same for the whole run
        self._catalogue: dict[str, list[dict[str, Any]]] = {
            "faults": [
                {
                    "type": ft.name,
                    "layer": ft.layer,
                    "kinds": list(ft.kinds),
                    "summary": ft.summary,
                    "params": ft.params.model_json_schema().get("properties", {}),
                }
                for ft in FAULTS.values()
            ],
            "actions": [
                {
                    "name": a.key,
                    "summary": a.summary,
                    "params": a.model.model_json_schema().get("properties", {})
                    if a.model is not None
                    else {},
                }
                for a in ACTIONS.values()
            ],
        }
        # every served point of every device (≈ 0.5 MB on aidc_10k): serialised once, here, before
        # the clock starts, so that a page opening mid-run does not hold the clock ≈ 15 ms
        self._devices_json = json.dumps(
            [self._device_info(d) for d in runner.gateway.devices], separators=(",", ":")
        )

    def _on_play_event(self, t: float, kind: str, source: str, target: str, detail: str) -> None:
        self._pending.append(self.add_event(t, kind, source, target, detail))

    # -- events ---------------------------------------------------------------------------
    def add_event(self, t: float, kind: str, source: str, target: str, detail: str) -> dict[str, Any]:
        """Record an event for the pages (the runner's own events are collected by :meth:`poll`)."""
        self.seq += 1
        ev = {
            "seq": self.seq,
            "t": round(t, 3),
            "kind": kind,
            "source": source,
            "target": target,
            "detail": detail,
            "level": EVENT_LEVELS.get(kind, "info"),
        }
        self._events.append(ev)
        return ev

    def poll(self) -> list[dict[str, Any]]:
        """Collect what happened since the last call: the twin's transitions (states, alarms,
        grid) and the EMS's writes, accepted and refused, with the reason."""
        r = self.runner
        new, self._pending = self._pending, []
        events = r.site.events
        for ev in events[self._cursors["twin"] :]:
            new.append(self.add_event(ev.t - self._t0, ev.kind, "twin", ev.device, ev.detail))
        self._cursors["twin"] = len(events)
        log = r.gateway.write_log
        for t, dev, point, value, status in log[self._cursors["writes"] :]:
            ok = status == "ok"
            new.append(
                self.add_event(
                    t - self._t0,
                    "write_accepted" if ok else "write_rejected",
                    "ems",
                    dev,
                    f"{point} = {value!r}" + ("" if ok else f" ({status})"),
                )
            )
        self._cursors["writes"] = len(log)
        return new

    # -- what a page gets first -----------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        r = self.runner
        site = r.site
        play = r.play
        scenario = play.scenario if play is not None and play.scenario.path.name != SOURCE else None
        return {
            "type": "hello",
            "site": site.params.name,
            "tick_s": site.dt,
            "mode": "serve" if scenario is None else "run",
            "scenario": None if scenario is None else scenario.name,
            "duration_s": None if scenario is None else scenario.duration_s,
            "realtime": r.clock.realtime,
            "read_only": self.read_only,
            "key_signals": [
                {"name": n, "label": KEY_SIGNAL_LABELS[n], "unit": signal_unit(n) or ""}
                for n in self.key_signals
            ],
            "diagram": self._diagram(),
            "faults": self._catalogue["faults"],
            "actions": self._catalogue["actions"],
            "inputs": list(site.input_names),
            "expectations": [self._check_info(c) for c in (play.checks if play is not None else [])],
            "history": {
                "t": [t for t, _ in self._history],
                "signals": {n: [row[k] for _, row in self._history] for k, n in enumerate(self.key_signals)},
            },
            "events": list(self._events),
        }

    def hello_json(self) -> str:
        """:meth:`hello` and the devices' points (``devices``), as the JSON text a page gets."""
        rest = json.dumps(self.hello(), separators=(",", ":"))
        return f'{{"devices":{self._devices_json},{rest[1:]}'

    def _diagram(self) -> dict[str, Any]:
        by_kind = {k: [d.name for d in ds] for k, ds in self._by_kind.items()}
        scalars = self.runner.gateway.snapshot.scalars
        return {
            "cabinets": by_kind.get("bess", []),
            "gensets": by_kind.get("genset", []),
            "pv": by_kind.get("pv", []),
            "meters": by_kind.get("meter", []),
            "ups": "ups.p_out_kw" in scalars,
            "cooling": "site.p_cooling_kw" in scalars,
            "racks": int(self.runner.site.unit_count("gpu")),
        }

    def _device_info(self, d: Device) -> dict[str, Any]:
        opcua = self.runner.opcua
        return {
            "name": d.name,
            "kind": d.kind,
            "area": d.area,
            "unit_id": d.unit_id,
            "port": d.port,
            "points": [
                {
                    "key": p.key,
                    "address": BASE_ADDRESS + p.offset,
                    "opcua": opcua.node_path(d, p) if opcua is not None else None,
                    "unit": p.unit or "",
                    "writable": p.writable,
                }
                for p in d.points
                if p.implemented and p.pdef.type not in ("sunssf", "pad")
            ],
        }

    @staticmethod
    def _check_info(c: Any) -> dict[str, Any]:
        return {"name": c.ex.name, "condition": c.ex.condition(), "t0": c.ex.t0, "t1": c.t_end}

    # -- one update -----------------------------------------------------------------------
    def frame(self) -> dict[str, Any]:
        """The state now, and what happened since the last frame."""
        r = self.runner
        snap = r.gateway.snapshot
        s, a = snap.scalars, snap.arrays
        t = snap.t - self._t0
        row = [num(s[n]) for n in self.key_signals]
        self._history.append((round(t, 3), row))
        new = self.poll()
        lat = r.lateness.samples[-_LATENESS_WINDOW:] * 1000.0
        play = r.play
        gw = r.gateway
        cabinets = [
            {
                "name": d.name,
                "p_kw": num(a["pcs.p_ac_kw"][i]),
                "soc_pct": num(a["bess.soc_pct"][i]),
                "state": _state_name("pcs.state", a["pcs.state"][i]),
                "bms_state": _state_name("bms.state", a["bms.state"][i]),
                "contactor": _state_name("bms.contactor", a["bms.contactor"][i]),
                "alarms": int(a["bms.alarm_bits"][i]) | int(a["pcs.alarm_bits"][i]),
            }
            for i, d in enumerate(self._by_kind.get("bess", []))
        ]
        gensets = [
            {
                "name": d.name,
                "p_kw": num(a["genset.p_kw"][i]),
                "state": _state_name("genset.state", a["genset.state"][i]),
            }
            for i, d in enumerate(self._by_kind.get("genset", []))
        ]
        return {
            "type": "frame",
            "t": round(t, 3),
            "ticks": r.ticks,
            "wall_s": round(time.monotonic() - self._wall0, 2),
            "speed": r.clock.speed,
            "paused": r.clock.paused,
            "lag_ms": round(r.lag_s * 1000.0, 2),
            "late_p99_ms": round(float(np.percentile(lat, 99)), 2) if lat.size else 0.0,
            "signals": dict(zip(self.key_signals, row, strict=True)),
            "grid": {
                "available": bool(s["grid.available"] > 0),
                "breaker_closed": bool(s["grid.breaker_closed"] > 0),
                "bus_dead": bool(s.get("grid.bus_dead", 0.0) > 0),
                "p_import_kw": num(s["grid.p_import_kw"]),
                "v_pu": num(s["grid.v_pu"]),
                "f_hz": num(s["grid.f_hz"]),
            },
            "cabinets": cabinets,
            "gensets": gensets,
            "pv": {"p_kw": num(s.get("pv.p_ac_kw", 0.0)), "tripped": bool(s.get("pv.tripped", 0.0) > 0)},
            "load": {
                "p_it_kw": num(s["site.p_it_kw"]),
                "p_cooling_kw": num(s.get("site.p_cooling_kw", 0.0)),
                "racks_dark": int(s.get("site.racks_dark", 0.0)),
                "ups_on_battery": bool(s.get("ups.on_battery", 0.0) > 0),
            },
            "events": new,
            "writes": {"accepted": gw.writes_accepted, "rejected": gw.writes_rejected},
            "faults": [
                {
                    "type": f.spec.type,
                    "target": f.spec.target,
                    "layer": f.ftype.layer,
                    "since": f.start_s - self._t0,
                }
                for f in (play.faults if play is not None else [])
                if not f.cleared
            ],
            "expectations": [self._check_state(c) for c in (play.checks if play is not None else [])],
        }

    @staticmethod
    def _check_state(c: Any) -> dict[str, Any]:
        if c.done:
            status = "passed" if c.passed else "failed"
        elif c.violations and c.ex.kind == "always":
            status = "failed"
        elif c.seen:
            status = "passing" if not c.violations else "violated"  # an eventually not met yet
        else:
            status = "pending"
        first = c.first_violation_s
        return {"name": c.ex.name, "status": status, "first_violation_s": first, "worst": c.worst}

    def device_values(self, name: str) -> dict[str, Any] | None:
        """Every served point of one device as a client reads it now, with its markers."""
        gw = self.runner.gateway
        d = gw.by_name.get(name)
        if d is None:
            return None
        faulted = set(gw.overrides(d))
        return {
            "name": d.name,
            "frozen": gw.frozen(d),
            "values": {
                p.key: self._value(d, p)
                for p in d.points
                if p.implemented and p.pdef.type not in ("sunssf", "pad")
            },
            "faulted": sorted(faulted),
        }

    @staticmethod
    def _value(d: Device, p: Any) -> Any:
        v = d.value(p)
        if isinstance(v, float):
            return num(v)
        return v
