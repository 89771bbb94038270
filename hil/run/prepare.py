"""Loading and checking everything a scenario run needs, starting nothing
(:func:`prepare_run`): the scenario, the site with its overrides, the gateway, the in-process
controller and the tariff. :func:`hil.run.runner.run_scenario` plays what this returns."""

from __future__ import annotations

from dataclasses import replace as dc_replace
from typing import Any, NamedTuple

from hil.config import load_bench
from hil.ems import CONTROLLERS
from hil.endpoints import EndpointConfig
from hil.errors import ConfigError, Problem, did_you_mean
from hil.scenario import ScenarioError, load_scenario
from hil.tariff import load_tariff
from hil.wire.gateway import Gateway
from twin import Site

__all__ = ["PreparedRun", "prepare_run"]


class PreparedRun(NamedTuple):
    """Everything a run needs, loaded and checked; :func:`run_scenario` plays it as it is."""

    scenario: Any
    site: Site
    endpoints: EndpointConfig
    gateway: Gateway
    controller: Any  # the in-process controller on ``gateway``, or None (external EMS)
    tariff: Any = None  # a twin.econ.Tariff: the run is billed into results.json


def prepare_run(
    scenario: Any,
    *,
    site: str | None = None,
    seed: int | None = None,
    controller: str | None = None,
    ports: tuple[int | None, int | None] | None = None,
    tariff: str | None = None,
) -> PreparedRun:
    """Load and check everything a run needs, starting nothing: a bad file fails here.

    Raises :class:`hil.scenario.ScenarioError` (or :class:`hil.config.ConfigError`) with every
    problem found. Building the controller is part of the check (its options are validated by
    its constructor, which only reads the gateway)."""
    sc = (
        scenario
        if not isinstance(scenario, (str, bytes)) and hasattr(scenario, "events")
        else load_scenario(scenario)
    )
    site_name = site or sc.site
    if site_name is None:
        raise ScenarioError(
            [sc.problem(("site",), "no site: name one in the scenario (site:) or with --site")]
        )
    overrides: dict[str, Any] = dict(sc.site_params)
    if seed is not None or sc.seed is not None:
        overrides["seed"] = seed if seed is not None else sc.seed
    if sc.tick_s is not None:
        overrides["tick_s"] = sc.tick_s
    if sc.start is not None:
        overrides["start"] = sc.start
    if sc.timezone is not None:
        overrides["timezone"] = sc.timezone
    tw, cfg = load_bench(site_name, overrides=overrides)
    if controller is not None:
        name, _, mode = controller.partition(":")
        known = ["external", *CONTROLLERS]
        if name not in known:
            tail = did_you_mean(name, known)
            raise ConfigError([Problem("--controller", None, "", f"unknown controller {name!r}{tail}")])
        sc.controller = dc_replace(sc.controller, name=name, mode=mode or "good")
    if ports is not None:
        cfg = cfg.with_ports(modbus=ports[0], opcua=ports[1])
    gw = Gateway.from_config(tw, cfg)
    sc.check(tw, gw.devices)
    spec = sc.controller
    ctl = None
    if not spec.external:
        try:
            ctl = CONTROLLERS[spec.name](gw, mode=spec.mode, period_s=spec.period_s, **spec.options)
        except (TypeError, ValueError) as exc:
            raise ScenarioError([sc.problem(("controller",), str(exc))]) from None
    tariff_name = tariff or sc.tariff
    bill_tariff = None
    if tariff_name is not None:
        bill_tariff = load_tariff(tariff_name)
    return PreparedRun(sc, tw, cfg, gw, ctl, bill_tariff)
