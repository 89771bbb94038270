"""The ``hil`` command line: a thin shell over the library."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from hil.cli_common import err, ui_options
from hil.cli_common import fail as _fail
from hil.config import find_profile, load_bench
from hil.errors import ConfigError

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aidc-hil")
def main() -> None:
    """Digital-twin HIL bench for AI data centres with distributed battery storage."""


@main.command()
@click.option("--site", "site_name", default="aidc_10k", show_default=True, help="Shipped site or YAML path.")
@click.option("--hours", type=float, default=1.0, show_default=True, help="Simulated duration, hours.")
@click.option("--tick", type=float, default=None, help="Tick length in s (default: the site's).")
@click.option("--method", type=click.Choice(["fixed", "ivp"]), default=None, help="Integration path.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the site's).")
@click.option(
    "--tariff",
    "tariff_name",
    default="example_cn_north_2026",
    show_default=True,
    help="Bill the run's import under this tariff (a shipped name or a path); 'none' to skip.",
)
def demo(
    site_name: str, hours: float, tick: float | None, method: str | None, seed: int | None, tariff_name: str
) -> None:
    """Run a site under the stand-in EMS (through the gateway, as fast as it goes) and summarise it.

    \b
    Example:
      hil demo --site aidc_10k --hours 1
      hil demo --site lab_rack --hours 0.5 --tariff example_cn_jibei_2026
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.demo import run_demo
    from hil.tariff import load_tariff

    tariff = None
    if tariff_name.lower() != "none":
        try:
            tariff = load_tariff(tariff_name)
        except ConfigError as exc:
            _fail(exc)
    overrides: dict[str, object] = {}
    if tick is not None:
        overrides["tick_s"] = tick
    if method is not None:
        overrides["method"] = method
    if seed is not None:
        overrides["seed"] = seed
    try:
        site, endpoints = load_bench(site_name, overrides=overrides)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
    path = find_profile("sites", site_name)
    err.print(
        f"site [bold]{site.params.name}[/bold] ({path}), tick {site.dt} s, {site.method} path, {hours} h"
    )
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("sim", total=1.0)
        summary = run_demo(
            site,
            duration_s=hours * 3600.0,
            progress=lambda f: bar.update(task, completed=f),
            tariff=tariff,
            endpoints=endpoints,
        )
    _print_summary(summary)
    if summary.bill is not None and tariff is not None:
        # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
        from hil.trace.bill import bill_table

        Console().print(bill_table(summary.bill, tariff.tariff_id))


def _print_summary(s) -> None:  # type: ignore[no-untyped-def]
    out = Console()
    e = s.energy
    t = Table(
        title=f"{s.site}: {s.simulated_s / 3600:.2f} h simulated in {s.wall_s:.1f} s "
        f"({s.speedup:.0f}× faster than real time)"
    )
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [
        ("grid import (net)", f"{e['grid_kwh'] / 1000:.3f} MWh"),
        ("PV", f"{e['pv_kwh'] / 1000:.3f} MWh"),
        ("genset", f"{e['genset_kwh'] / 1000:.3f} MWh"),
        ("IT load", f"{e['it_kwh'] / 1000:.3f} MWh"),
        ("cooling", f"{e['cooling_kwh'] / 1000:.3f} MWh"),
        ("PCS losses + aux", f"{(e['pcs_loss_kwh'] + e['aux_kwh']) / 1000:.3f} MWh"),
        ("battery losses", f"{e['battery_loss_kwh'] / 1000:.3f} MWh"),
        ("battery net discharge (chemical)", f"{e['battery_chem_kwh'] / 1000:.3f} MWh"),
        ("peak import", f"{s.peak_import_kw / 1000:.2f} MW"),
        ("mean / min import", f"{s.mean_import_kw / 1000:.2f} / {s.min_import_kw / 1000:.2f} MW"),
        ("BESS SoC range", f"{s.soc_min_pct:.1f} – {s.soc_max_pct:.1f} %"),
        ("hottest cell", f"{s.t_cell_max_degc:.1f} °C"),
        ("frequency range", f"{s.f_min_hz:.3f} – {s.f_max_hz:.3f} Hz"),
        ("GPU-hours lost", f"{s.gpu_hours_lost:.1f}"),
        (
            "stand-in EMS: import limit, writes",
            f"{s.ems_limit_kw / 1000:.3f} MW, {s.ems_writes:,}"
            if s.ems_limit_kw is not None
            else f"-, {s.ems_writes:,}",
        ),
    ]
    for r in rows:
        t.add_row(*r)
    out.print(t)
    alarms = [ev for ev in s.events if ev.kind == "alarm" or "FAULT" in ev.detail]
    if alarms:
        out.print(f"[yellow]{len(alarms)} alarm / protection event(s):[/yellow]")
        for ev in alarms[:20]:
            out.print(f"  t={ev.t:9.1f} s  {ev.device:<10} {ev.kind:<8} {ev.detail}")
    else:
        out.print("[green]no alarms or protection events[/green]")
    other = [ev for ev in s.events if ev not in alarms]
    if other:
        out.print(
            f"{len(other)} other event(s), first: "
            + "; ".join(f"t={ev.t:.1f} {ev.device} {ev.detail}" for ev in other[:5])
        )


@main.command()
@click.argument("site_name", metavar="SITE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "csv"]),
    default="md",
    show_default=True,
    help="Output format.",
)
@click.option("--all", "show_all", is_flag=True, help="Also list not-implemented points.")
@click.option(
    "--legacy", is_flag=True, help="Battery PCS in the legacy personality (SunSpec 1, 103, 120-124)."
)
def points(site_name: str, fmt: str, show_all: bool, legacy: bool) -> None:
    """Print the point list an EMS integrates against (Markdown or CSV).

    \b
    Example:
      hil points lab_rack
      hil points aidc_10k --format csv > aidc_10k_points.csv
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.config import load_bench
    from hil.wire.gateway import Gateway
    from hil.wire.pointlist import to_csv, to_markdown

    try:
        site, endpoints = load_bench(site_name)
        if legacy:
            endpoints.personality = "legacy"
        gw = Gateway.from_config(site, endpoints)
    except ConfigError as exc:
        _fail(exc)
    text = (
        to_markdown(gw, implemented_only=not show_all)
        if fmt == "md"
        else to_csv(gw, implemented_only=not show_all)
    )
    click.echo(text, nl=False)


@main.command()
@click.argument("site_name", metavar="SITE")
@click.option("--host", default=None, help="Address to bind (default: the site's, else 127.0.0.1).")
@click.option("--modbus-port", type=int, default=None, help="Modbus TCP port (0 = any free port).")
@click.option("--opcua-port", type=int, default=None, help="OPC UA port (0 = any free port).")
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="Simulated seconds per wall second."
)
@click.option("--duration", type=float, default=None, help="Stop after this many simulated seconds.")
@click.option(
    "--legacy", is_flag=True, help="Battery PCS in the legacy personality (SunSpec 1, 103, 120-124)."
)
@click.option("--no-status", is_flag=True, help="No live status panel (it is drawn only on a terminal).")
@ui_options
def serve(
    site_name: str,
    host: str | None,
    modbus_port: int | None,
    opcua_port: int | None,
    speed: float,
    duration: float | None,
    legacy: bool,
    no_status: bool,
    ui: bool,
    ui_port: int | None,
    ui_read_only: bool,
) -> None:
    """Serve every device of SITE over Modbus TCP and OPC UA, in real time, until Ctrl-C.

    \b
    Example:
      hil serve lab_rack
      hil serve aidc_10k --modbus-port 15020 --opcua-port 0
      hil serve lab_rack --ui              # and watch and drive it from a browser
    Then point an EMS, mbpoll or a SunSpec scanner at the printed addresses.
    Exit status: 0 stopped, 2 bad input, 3 a port could not be bound, 4 another OS error.
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    import asyncio
    import contextlib
    import signal

    from hil.config import load_bench
    from hil.run.runner import RealTime, Runner

    try:
        site, endpoints = load_bench(site_name)
    except ConfigError as exc:
        _fail(exc)
    if host is not None:
        endpoints.host = host
    if legacy:
        endpoints.personality = "legacy"
    endpoints = endpoints.with_ports(modbus=modbus_port, opcua=opcua_port)
    warn_exposure(endpoints)
    out = Console(soft_wrap=True)
    dashboard = _dashboard(endpoints, ui, ui_port, ui_read_only)

    async def go() -> None:
        loop = asyncio.get_running_loop()
        name = site.params.name
        out.print(f"building the gateway and the OPC UA address space for {name}…", highlight=False)
        t0 = time.perf_counter()
        async with Runner(site, endpoints, pacer=RealTime(speed=speed)) as runner:
            out.print(f"ready in {time.perf_counter() - t0:.1f} s", highlight=False)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, runner.stop)
            for ep in runner.endpoints:
                out.print(f"{ep.url:<36} {ep.name:<14} {ep.detail}", highlight=False, markup=False)
            if dashboard is not None:
                await dashboard.attach(runner)
                out.print(f"{dashboard.url:<36} {'dashboard':<14} {dashboard.describe()}", highlight=False)
            out.print(
                f"serving {site.params.name} at tick {site.dt * 1000:g} ms, speed {speed:g}x; Ctrl-C stops",
                highlight=False,
            )
            panel = None
            if not no_status and out.is_terminal:
                # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
                from hil.run.status import live_panel

                panel = loop.create_task(live_panel(runner, out, title=f"serving {site.params.name}"))
            try:
                await runner.run(duration_s=duration)
            finally:
                if panel is not None:
                    panel.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await panel
                if dashboard is not None:
                    await dashboard.detach()
            lat = runner.lateness.summary()
            out.print(
                f"stopped at t = {site.t:.1f} s after {runner.ticks} ticks; tick lateness p50 "
                f"{lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms; "
                f"writes accepted {runner.gateway.writes_accepted}, "
                f"rejected {runner.gateway.writes_rejected}",
                highlight=False,
            )

    try:
        asyncio.run(go())
    except OSError as exc:
        _os_fail(exc)


def _dashboard(
    endpoints: Any, ui: bool, port: int | None, read_only: bool, scenario_ui: dict[str, Any] | None = None
) -> Any:
    """The dashboard asked for by --ui, the scenario's ``ui:`` or the site's ``endpoints: ui:``
    (each over the next), or None."""
    if scenario_ui:
        endpoints = replace(endpoints, **{f"ui_{k}": v for k, v in scenario_ui.items()})
    if not (ui or endpoints.ui_enabled):
        return None
    # imported here, not at the top: only --ui needs it (aiohttp; keeps `hil --help` quick)
    from hil.cli_ui import dashboard_for

    return dashboard_for(endpoints, port=port, read_only=read_only)


def _os_fail(exc: OSError, path: Path | None = None) -> None:
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.cli_os import describe_os_error

    message, status = describe_os_error(exc, path=path)
    err.print(f"error: {message}", highlight=False, markup=False)
    sys.exit(status)


# -- scenarios ------------------------------------------------------------------------------------
EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_BIND, EXIT_OS = 0, 1, 2, 3, 4
#: The twin's integration failed (NaN/inf or a raising model): the run stopped on the last
#: good state and its report names the device and the simulated time.
EXIT_SOLVER = 5


@main.command()
@click.argument("scenario", metavar="SCENARIO")
@click.option("--site", "site_name", default=None, help="Site to run on (default: the scenario's).")
@click.option(
    "--speed", type=float, default=None, help="Real time at this many simulated seconds per wall second."
)
@click.option("--fast", is_flag=True, help="As fast as possible (CI); the endpoints are still served.")
@click.option(
    "--seed", type=int, default=None, help="Random seed of the twin (default: scenario, then site)."
)
@click.option(
    "--controller",
    default=None,
    help="Override the scenario's controller: external, standin, or standin:MODE "
    "(ignore_dr, no_revert, over_discharge).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: runs/<scenario>).",
)
@click.option("--modbus-port", type=int, default=None, help="Modbus TCP port (default: the site's for an "
              "external EMS, any free port otherwise).")  # fmt: skip
@click.option("--opcua-port", type=int, default=None, help="OPC UA port (same default rule).")
@click.option(
    "--overrun",
    type=click.Choice(["catch_up", "rebase", "fail"]),
    default="catch_up",
    show_default=True,
    help="Real time: what to do when a tick starts more than --max-lag late.",
)
@click.option(
    "--max-lag", type=float, default=1.0, show_default=True, help="Real time: overrun threshold, s."
)
@click.option("--no-status", is_flag=True, help="No live status panel / progress bar (logs only).")
@click.option(
    "--no-serve",
    is_flag=True,
    help="Serve no Modbus or OPC UA endpoint (an in-process controller needs none; headless CI "
    "runs start sooner and run faster). Not with an external EMS.",
)
@click.option(
    "--tariff",
    "tariff_name",
    default=None,
    help="Bill the run under this tariff (shipped name or file) into results.json; overrides the scenario's.",
)
@ui_options
def run(
    scenario: str,
    site_name: str | None,
    speed: float | None,
    fast: bool,
    seed: int | None,
    controller: str | None,
    out_dir: Path | None,
    modbus_port: int | None,
    opcua_port: int | None,
    overrun: str,
    max_lag: float,
    no_status: bool,
    no_serve: bool,
    tariff_name: str | None,
    ui: bool,
    ui_port: int | None,
    ui_read_only: bool,
) -> None:
    """Play a scenario against the site and its EMS; exit 0 only if every expectation passed.

    Leaves in the output folder: trace.parquet, events.parquet, results.json, junit.xml,
    report.html, summary.md and plots/. Exit status: 0 all passed, 1 an expectation failed or
    the run was stopped early, 2 bad input (nothing was started), 3 a port could not be bound,
    4 the output folder could not be written (read-only, disk full, name too long; the folder
    is probed before anything starts; what was written before a full disk stays readable),
    5 the twin's solver failed (the report names the device and the simulated time).
    Ctrl-C or SIGTERM stops the run early with a final flush and a report (exit 1).

    \b
    Example:
      hil run grid_outage --fast --out runs/outage
      hil run dr_critical_peak --controller standin:ignore_dr --fast
      hil run tou_day_aidc --fast --no-serve                # headless CI: nothing served
      hil run comm_loss --controller external --speed 1     # your EMS connects to the printed URLs
      hil run grid_outage --speed 1 --ui                    # watch and drive it from a browser
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    import asyncio

    from hil.run.runner import AsFastAsPossible, RealTime, prepare_run, run_scenario
    from hil.scenario import load_scenario

    if fast and speed is not None:
        err.print("[red]error:[/] give --fast or --speed, not both")
        sys.exit(EXIT_BAD_INPUT)
    try:
        sc = load_scenario(scenario)
        external = (controller or sc.controller.name).split(":")[0] == "external"
        if no_serve and external:
            err.print(
                "[red]error:[/] --no-serve needs an in-process controller: an external EMS reaches "
                "the bench only through its endpoints (give --controller standin or reference)"
            )
            sys.exit(EXIT_BAD_INPUT)
        ports = None
        if not external or modbus_port is not None or opcua_port is not None:
            ports = (
                modbus_port if modbus_port is not None else (None if external else 0),
                opcua_port if opcua_port is not None else (None if external else 0),
            )
        prepared = prepare_run(
            sc, site=site_name, seed=seed, controller=controller, ports=ports, tariff=tariff_name
        )
    except ConfigError as exc:
        _fail(exc)
    if speed is not None and speed <= 0:
        err.print("[red]error:[/] --speed must be positive")
        sys.exit(EXIT_BAD_INPUT)
    pacer = AsFastAsPossible() if fast else RealTime(speed=speed or 1.0, max_lag_s=max_lag, overrun=overrun)
    out = out_dir or Path("runs") / sc.name
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.cli_os import OutputError, check_writable

    try:
        check_writable(out)  # before any server starts: a run that cannot keep its results never runs
    except OutputError as exc:
        _os_fail(exc, out)
    console = Console(stderr=True)
    show = not no_status and console.is_terminal
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.run.status import RunDisplay

    display = RunDisplay(console, sc, fast=fast, live=show)
    dashboard = _dashboard(prepared.endpoints, ui, ui_port, ui_read_only, prepared.scenario.ui)

    def on_start(runner: Any) -> None:
        if dashboard is not None:
            console.print(f"dashboard: {dashboard.url} ({dashboard.describe()})", highlight=False)
        display.start(runner)

    async def go() -> object:
        try:
            return await run_scenario(
                prepared,
                out_dir=out,
                pacer=pacer,
                serve=not no_serve,
                handle_signals=True,
                on_start=on_start,
                attachments=() if dashboard is None else (dashboard,),
            )
        finally:
            await display.aclose()

    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.run.runner import OverrunError
    from twin.errors import SolverError

    try:
        outcome = asyncio.run(go())
    except OSError as exc:
        _os_fail(exc, out)
    except SolverError as exc:  # results.json and the report were written first
        # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
        from hil.report import print_summary

        print_summary(out, Console())
        err.print(
            f"error: the twin's solver failed in {exc.device!r} at t = {exc.t:.3f} s (simulated): "
            f"{exc.reason}; the run stopped on the last good state; report: {out / 'report.html'}",
            highlight=False,
            markup=False,
        )
        sys.exit(EXIT_SOLVER)
    except OverrunError as exc:
        err.print(
            f"error: {exc} (overrun policy fail); the report was written", highlight=False, markup=False
        )
        sys.exit(EXIT_FAIL)
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.report import print_summary

    print_summary(out, Console())
    Console(stderr=True).print(f"report: {out / 'report.html'}   junit: {out / 'junit.xml'}", highlight=False)
    sys.exit(EXIT_PASS if outcome.passed else EXIT_FAIL)  # type: ignore[attr-defined]


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check site, point-map, scenario, tariff and study files without running anything.

    The kind of each file is told from its keys (scenario: → scenario, kind:/models: → point
    map, tick_s:/battery:/pcs: → site, tariff_id: or a URDB energyratestructure → tariff).
    Scenarios are also checked against their site (signals, inputs, devices, fault targets).
    Every problem is printed; the exit status is 2 if any.

    \b
    Example:
      hil validate profiles/scenarios/*.yaml profiles/sites/aidc_10k.yaml
      hil validate profiles/tariffs/*
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.validate import validate_file

    bad = 0
    out = Console(soft_wrap=True)
    for f in files:
        kind, problems = validate_file(f)
        if problems:
            bad += 1
            out.print(f"[red]✗[/] {f} ({kind}): {len(problems)} problem(s)", highlight=False)
            for p in problems:
                out.print(f"  - {p}", highlight=False, markup=False)
        else:
            out.print(f"[green]✓[/] {f} ({kind})", highlight=False)
    sys.exit(EXIT_BAD_INPUT if bad else EXIT_PASS)


@main.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report(out_dir: Path) -> None:
    """Rebuild junit.xml, report.html, summary.md and plots/ from a run folder's trace.

    Works on the folder of a run that was killed (the report says it is incomplete).

    \b
    Example:
      hil report runs/grid_outage
    """
    # imported here, not at the top: only this command needs it (keeps `hil --help` quick)
    from hil.report import build_report, print_summary

    files = build_report(out_dir)
    print_summary(out_dir, Console())
    Console(stderr=True).print(f"report: {files.html}", highlight=False)


from hil.cli_campaign import campaign  # noqa: E402
from hil.cli_cell import cell  # noqa: E402
from hil.cli_certs import certs, password_hash, warn_exposure  # noqa: E402
from hil.cli_docs import faults, schema  # noqa: E402  (the reference-printing commands)
from hil.cli_econ import bill, roi  # noqa: E402  (the money commands live beside, on this group)
from hil.cli_ems import ems  # noqa: E402

for _cmd in (cell, bill, roi, campaign, ems, certs, password_hash, faults, schema):
    main.add_command(_cmd)

if __name__ == "__main__":  # pragma: no cover
    main()
