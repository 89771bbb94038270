"""The pytest plugin (entry point ``pytest11: hil``): scenario files as tests, and bench fixtures.

Scenario files as test items::

    pytest profiles/scenarios/                     # every shipped scenario, as fast as possible
    pytest my_scenarios/ --hil-controller standin:ignore_dr --hil-out runs/

Every ``*.yaml`` with a ``scenario:`` key under a folder named ``scenarios`` (or any YAML given
on the command line) is collected; each of its expectations is one test item, so pytest's own
reporting (``-v``, ``--junitxml``) lists them by name. The scenario runs once, on its first
item, with :func:`hil.run.runner.run_scenario` (as fast as possible, the site's endpoints served on
free ports, none with ``--hil-no-serve``); its output folder (trace, report, junit) is kept
under ``--hil-out`` or pytest's temporary directory. A scenario whose controller is
``external`` needs an EMS on the wire and is skipped, with that reason, unless
``--hil-controller`` names an in-process one.

Fixtures (for tests written in Python):

* ``hil_site`` — a :class:`twin.Site` (``lab_rack``, or the name given by
  ``@pytest.mark.hil_site("aidc_10k")``);
* ``hil_runner`` — an entered :class:`hil.run.runner.Runner` over that site with manual pacing and
  its Modbus and OPC UA endpoints on free loopback ports (needs pytest-asyncio);
* ``hil_modbus`` / ``hil_opcua`` — a connected pymodbus ``AsyncModbusTcpClient`` / asyncua
  ``Client`` for that runner.

Marker ``@pytest.mark.hil_timeout(seconds)``: a timeout in *simulated* time. The runner raises
:class:`hil.run.runner.SimTimeoutError` once a test has stepped it further than that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ScenarioFile", "ScenarioItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hil", "digital-twin HIL bench")
    g.addoption("--hil-out", default=None, help="keep each scenario's output folder under this directory")
    g.addoption(
        "--hil-controller",
        default=None,
        help="run every scenario with this controller (standin, standin:ignore_dr, ...)",
    )
    g.addoption("--hil-seed", type=int, default=None, help="random seed for every scenario")
    g.addoption(
        "--hil-no-serve",
        action="store_true",
        default=False,
        help="serve no endpoints while a scenario runs (its controller is in process): faster",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_site(name): the site the hil_site / hil_runner fixtures build")
    config.addinivalue_line(
        "markers", "hil_timeout(seconds): fail once the hil_runner has stepped this many simulated seconds"
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    given = any(Path(a).resolve() == file_path.resolve() for a in parent.config.args)
    if file_path.parent.name != "scenarios" and not given:
        return None
    try:
        head = file_path.read_text(encoding="utf-8")
    except OSError:
        return None
    if not any(line.startswith("scenario:") for line in head.splitlines()):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One scenario file: its expectations are the items; it runs once for all of them."""

    outcome: Any = None
    error: BaseException | None = None

    def collect(self) -> Iterator[pytest.Item]:
        # imported here, not at the top: the plugin loads in every pytest session
        from hil.scenario import load_scenario

        try:
            sc = load_scenario(self.path)
        except Exception as exc:
            yield ScenarioItem.from_parent(self, name="(scenario file)", index=-1, problem=exc)
            return
        self.scenario = sc
        if not sc.expectations:
            yield ScenarioItem.from_parent(self, name="(no expectations)", index=-1, problem=None)
            return
        for i, ex in enumerate(sc.expectations):
            yield ScenarioItem.from_parent(self, name=ex.name, index=i, problem=None)

    def play(self) -> Any:
        if self.outcome is None and self.error is None:
            # imported here, not at the top: the plugin loads in every pytest session
            from hil.run.runner import AsFastAsPossible, run_scenario

            cfg = self.config
            base = cfg.getoption("--hil-out")
            if base:
                out = Path(base) / self.scenario.name
            else:
                factory = getattr(cfg, "_tmp_path_factory", None)  # pytest's tmp_path plugin
                if factory is not None:
                    out = factory.mktemp(f"hil-{self.scenario.name}")
                else:  # pragma: no cover - tmp_path plugin disabled (-p no:tmpdir)
                    # imported here, not at the top: the plugin loads in every pytest session
                    import tempfile

                    out = Path(tempfile.mkdtemp(prefix=f"hil-{self.scenario.name}-"))
            try:
                self.outcome = asyncio.run(
                    run_scenario(
                        self.scenario,
                        out_dir=out,
                        pacer=AsFastAsPossible(),
                        controller=cfg.getoption("--hil-controller"),
                        seed=cfg.getoption("--hil-seed"),
                        ports=(0, 0),
                        serve=not cfg.getoption("--hil-no-serve"),
                    )
                )
            except BaseException as exc:
                self.error = exc
        if self.error is not None:
            raise self.error
        return self.outcome


class ScenarioFailure(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, index: int, problem: BaseException | None, **kw: Any) -> None:
        super().__init__(**kw)
        self.index = index
        self.problem = problem

    def runtest(self) -> None:
        if self.problem is not None:
            raise self.problem
        parent: ScenarioFile = self.parent  # type: ignore[assignment]
        sc = parent.scenario
        ctl = self.config.getoption("--hil-controller") or sc.controller.name
        if ctl.split(":")[0] == "external":
            pytest.skip(
                "controller: external — needs an EMS on the wire (use --hil-controller standin to stand in)"
            )
        outcome = parent.play()
        if self.index < 0:
            return
        r = outcome.results["expectations"][self.index]
        self.user_properties.append(("hil_out", str(outcome.out_dir)))
        if r["passed"] is not True:
            raise ScenarioFailure(r)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        exc = excinfo.value
        if isinstance(exc, ScenarioFailure):
            r = exc.args[0]
            status = "not evaluated" if r["passed"] is None else "FAILED"
            return f"{status}: {r['condition']}\n  {r['detail']}\n  window {r['window']} s, line {r['line']}"
        # imported here, not at the top: the plugin loads in every pytest session
        from hil.errors import ConfigError

        if isinstance(exc, ConfigError):
            return str(exc)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = None
        sc = getattr(self.parent, "scenario", None)
        if sc is not None and self.index >= 0:
            line = sc.line_of(sc.expectations[self.index].where)
        return self.path, None if line is None else line - 1, f"{self.path.name}::{self.name}"


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def hil_site(request: pytest.FixtureRequest) -> Any:
    # imported here, not at the top: the plugin loads in every pytest session
    from hil.config import load_site

    m = request.node.get_closest_marker("hil_site")
    return load_site(m.args[0] if m else "lab_rack")


try:  # the runner and client fixtures are async: they need pytest-asyncio
    import pytest_asyncio
except ImportError:  # pragma: no cover
    pytest_asyncio = None  # type: ignore[assignment]

if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def hil_runner(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
        # imported here, not at the top: the plugin loads in every pytest session
        from hil.config import load_bench
        from hil.run.runner import Manual, Runner

        m = request.node.get_closest_marker("hil_site")
        site, cfg = load_bench(m.args[0] if m else "lab_rack")
        runner = Runner(site, cfg.with_ports(modbus=0, opcua=0), pacer=Manual())
        t = request.node.get_closest_marker("hil_timeout")
        if t is not None:
            runner.sim_timeout_s = float(t.args[0])
        async with runner:
            yield runner

    @pytest_asyncio.fixture
    async def hil_modbus(hil_runner: Any) -> AsyncIterator[Any]:
        # imported here, not at the top: the plugin loads in every pytest session
        from pymodbus.client import AsyncModbusTcpClient

        ep = hil_runner.modbus[0]
        client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2, retries=0)
        await client.connect()
        try:
            yield client
        finally:
            client.close()

    @pytest_asyncio.fixture
    async def hil_opcua(hil_runner: Any) -> AsyncIterator[Any]:
        # imported here, not at the top: the plugin loads in every pytest session
        from asyncua import Client

        client = Client(hil_runner.opcua.url, timeout=10)
        async with client:
            yield client
