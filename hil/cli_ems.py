"""``hil ems``: the reference EMS against a bench (or real hardware) over Modbus TCP.

Registered on the ``hil`` group by :mod:`hil.cli`; the controller is :mod:`hil.ems`.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console

from hil.cli_common import err
from hil.cli_common import fail as _fail
from hil.errors import ConfigError

__all__ = ["ems"]


@click.command()
@click.option(
    "--connect",
    "connect",
    required=True,
    metavar="HOST:PORT",
    help="The bench's (or site's) Modbus TCP gateway.",
)
@click.option(
    "--profile",
    default="aidc_peak_shave",
    show_default=True,
    help="EMS profile: a name under profiles/ems/ or a YAML path.",
)
@click.option(
    "--unit-map",
    default=None,
    metavar="MAP",
    help="Unit ids by kind, e.g. 'meter=1,utility=2,site=3,bess=10-25' (default: scan 1-247).",
)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds of EMS time.")
@click.option("--period", type=float, default=None, help="Decision period, s (default: the profile's).")
@click.option(
    "--clock-start",
    default=None,
    metavar="ISO",
    help="Local time the EMS clock starts at (default: now); give the bench's start against a bench.",
)
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="EMS clock speed (the bench's pacing)."
)
@click.option(
    "--sync-clock", is_flag=True, help="Set the EMS clock's elapsed time from 715.DERHb at start (benches)."
)
@click.option(
    "--log-every", type=float, default=10.0, show_default=True, help="Log a line every this many s."
)
@click.option("--timeout", type=float, default=2.0, show_default=True, help="Modbus request timeout, s.")
def ems(
    connect: str,
    profile: str,
    unit_map: str | None,
    duration: float | None,
    period: float | None,
    clock_start: str | None,
    speed: float,
    sync_clock: bool,
    log_every: float,
    timeout: float,
) -> None:
    """Run the reference EMS against a bench (or hardware) over Modbus TCP, until --duration or Ctrl-C.

    \b
    Example:
      hil serve aidc_10k --modbus-port 15020 --speed 10 &
      hil ems --connect 127.0.0.1:15020 --profile aidc_peak_shave --speed 10 --sync-clock \\
              --clock-start 2026-06-21T10:28 --duration 600
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    import asyncio
    import logging
    import signal

    from hil.ems.io import TransportError
    from hil.ems.modbus_io import parse_unit_map
    from hil.ems.profile import load_profile
    from hil.ems.session import describe_period, parse_connect, run_over_modbus

    try:
        host, port = parse_connect(connect)
        units = parse_unit_map(unit_map)
        prof = load_profile(profile)
    except ValueError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(2)
    except ConfigError as exc:
        _fail(exc)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    out = Console(soft_wrap=True)
    last = [-1e18]

    def on_period(cmds) -> None:  # type: ignore[no-untyped-def]
        t = cmds.figures.get("t_s", 0.0)
        if t - last[0] >= log_every:
            last[0] = t
            out.print(describe_period(cmds.figures), highlight=False, markup=False)

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        out.print(
            f"reference EMS, profile {prof.name} ({', '.join(prof.strategies)}), {host}:{port}",
            highlight=False,
        )
        s = await run_over_modbus(
            host,
            port,
            profile=prof,
            unit_map=units,
            duration_s=duration,
            period_s=period,
            clock_start=clock_start,
            speed=speed,
            sync_clock=sync_clock,
            timeout_s=timeout,
            stop=stop,
            on_period=on_period,
        )
        out.print(
            f"stopped after {s.ems_s:.1f} s of EMS time ({s.wall_s:.1f} s wall): {s.log.periods} periods, "
            f"{s.log.skipped} skipped, {s.log.cut_short} cut short, {s.log.overruns} late; "
            f"units {s.units}; writes {s.writes_ok} "
            f"(refused {s.writes_refused}), heartbeats {s.heartbeats}, requests {s.requests}",
            highlight=False,
        )

    try:
        asyncio.run(go())
    except TransportError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(3)
