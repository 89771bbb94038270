"""Hostile and absurd input: every bad file gets a file:line error from ``hil validate`` before
anything large is allocated, and OS errors of a run name their path and exit code.

Each case is small and bounded: the alias bomb runs in a subprocess with an address-space
cap and a timeout, so a regression fails the test instead of the machine."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil import cli
from hil.cli_os import EXIT_BIND, EXIT_OS, describe_os_error
from hil.limits import FILE_LIMITS, RUN_LIMITS, limits_markdown
from twin.limits import SIZE_LIMITS

ROOT = Path(__file__).resolve().parents[3]
LAB = (ROOT / "profiles" / "sites" / "lab_rack.yaml").read_text(encoding="utf-8")

BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
        "tick_s: 0.1",
    ]
)


def validate(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, ["validate", str(path)])
    return result.exit_code, result.output


def site_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in LAB
    p = tmp_path / "site.yaml"
    p.write_text(LAB.replace(old, new), encoding="utf-8")
    return p


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


# -- the YAML loader -----------------------------------------------------------------------------
def test_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    probe = textwrap.dedent(
        f"""
        import resource, time, tracemalloc
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from pathlib import Path
        from hil.config import load_yaml
        from hil.errors import ConfigError
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            load_yaml(Path({str(bomb)!r}))
        except ConfigError as exc:
            print(exc.problems[0])
        print(time.perf_counter() - t0, tracemalloc.get_traced_memory()[1])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    ).stdout.splitlines()
    assert out[0].startswith(f"{bomb}:"), out
    assert "alias *" in out[0], out
    seconds, peak = map(float, out[1].split())
    assert seconds < 1.0
    assert peak < 20e6  # bytes


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        pytest.param("tick_s: 0.1\nx: " + "[" * 100 + "]" * 100 + "\n", 2, "nested deeper", id="deep"),
        pytest.param("tick_s: 0.1\nx: !!python/object/apply:os.system [echo]\n", 2, "not allowed", id="tag"),
        pytest.param("tick_s: 0.1\nname: " + "x" * 50_000 + "\n", 2, "50,000 characters", id="long-string"),
        pytest.param("tick_s: 0.1\n" + "k" * 1000 + ": 1\n", 2, "a key of 1,000", id="long-key"),
        pytest.param("tick_s: 0.1\nx: " + "9" * 5000 + "\n", 2, "a number of 5,000", id="huge-number"),
        pytest.param("tick_s: 0.1\na: &a [*a]\n", 2, "recursive alias", id="recursive-alias"),
        pytest.param("tick_s: 0.1\nx: !!int abc\n", 2, "cannot read this value", id="bad-int"),
        pytest.param("tick_s: 0.1\n? [a, b]\n: 1\n", 2, "plain name", id="list-key"),
        pytest.param("tick_s: 0.1\nx: [" + "1," * 100_001 + "1]\n", 2, "too many keys", id="many-values"),
    ],
)
def test_hostile_yaml_gets_file_line(tmp_path: Path, content: str, line: int, words: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(content, encoding="utf-8")
    code, out = validate(p)
    assert code == 2
    assert f"{p}:{line}:" in out, out
    assert words in out, out
    assert "Traceback" not in out


def test_binary_utf16_and_oversized_files(tmp_path: Path) -> None:
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"tick_s: 0.1\n\x89PNG\r\n\x1a\n\xff\xd8\xff")
    utf16 = tmp_path / "u16.yaml"
    utf16.write_text("scenario: x\n", encoding="utf-16")
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"tick_s: 0.1\nx: 1\x00\x00\n")
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (int(FILE_LIMITS["file_bytes"].value) + 1))
    for path, words in (
        (binary, f"{binary}:2: not UTF-8 text"),
        (utf16, f"{utf16}:1: the file is UTF-16 text"),
        (nul, f"{nul}:2: binary data"),
        (huge, f"{huge}: file too large"),
    ):
        code, out = validate(path)
        assert code == 2, out
        assert words in out, out


# -- site parameters -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("f_nom_hz: 50.0", "f_nom_hz: .nan", "grid.f_nom_hz", "finite"),
        ("f_nom_hz: 50.0", "f_nom_hz: 0", "grid.f_nom_hz", ">= 40"),
        ("f_nom_hz: 50.0", "f_nom_hz: -50", "grid.f_nom_hz", ">= 40"),
        ("p_rated_kw: 50.0", "p_rated_kw: .inf", "pcs.p_rated_kw", "finite"),
        ("p_rated_kw: 50.0", "p_rated_kw: 1.0e+300", "pcs.p_rated_kw", "size limit"),
        ("connection_kva: 500.0", "connection_kva: .inf", "grid.connection_kva", "finite"),
        ("cooling_tau_s: 120.0", "cooling_tau_s: .inf", "facility.cooling_tau_s", "finite"),
        ("n_cabinets: 1", "n_cabinets: 1.0e+8", "battery.n_cabinets", "size limit"),
        ("n_cabinets: 1", "n_cabinets: 100000000", "battery.n_cabinets", "size limit"),
        ("gpus_per_node: 8", "gpus_per_node: 1000000000000", "gpu.gpus_per_node", "size limit"),
        ("n_racks: 1", "n_racks: 1.0e+400", "gpu.n_racks", "finite"),
    ],
)
def test_absurd_site_numbers_refused(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    p = site_with(tmp_path, old, new)
    code, out = validate(p)
    assert code == 2
    assert f"{p}:{line_of(p, new)}: {key}:" in out, out
    assert words in out, out


def test_size_products_refused_before_allocation(tmp_path: Path) -> None:
    # each factor is within its own limit; the product is not
    p = site_with(tmp_path, "n_cabinets: 1", "n_cabinets: 5000")
    p.write_text(
        p.read_text(encoding="utf-8")
        .replace("n_series: 52", "n_series: 2000")
        .replace("cells_modelled: 8", "cells_modelled: 2000"),
        encoding="utf-8",
    )
    code, out = validate(p)
    assert code == 2, out
    assert "modelled cells" in out, out
    assert f"{p}:" in out, out


# -- scenarios -----------------------------------------------------------------------------------
SCENARIO = """\
scenario: {name}
site: lab_rack
duration: {duration}
controller: standin
initial:
  bms[7].soc_sensor_gain: 1.0
events:
  - at: 30 s
    set:
      pcs[99999].p_set_kw: 10
  - at: 31 s
    set:
      pcs[0].p_set_kw: 10
"""


def test_scenario_unit_index_out_of_range(tmp_path: Path) -> None:
    p = tmp_path / "sc.yaml"
    p.write_text(SCENARIO.format(name="idx", duration="1 min"), encoding="utf-8")
    code, out = validate(p)
    assert code == 2
    assert f"{p}:10: events.0.set.pcs[99999].p_set_kw:" in out, out
    assert "out of range 0..0" in out, out
    assert f"{p}:6: initial.bms[7].soc_sensor_gain:" in out, out
    assert "pcs[0]" not in out


def test_scenario_name_and_duration_limits(tmp_path: Path) -> None:
    p = tmp_path / "sc.yaml"
    p.write_text(SCENARIO.format(name="n" * 300, duration="10000 d"), encoding="utf-8")
    code, out = validate(p)
    assert code == 2
    assert f"{p}:1: scenario:" in out, out
    assert f"{p}:3: duration:" in out, out


# -- OS errors of a run --------------------------------------------------------------------------
def _no_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the run started")


def _run(out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    import hil.run.runner

    monkeypatch.setattr(hil.run.runner, "run_scenario", _no_run)
    result = CliRunner().invoke(
        cli.main, ["run", "pcs_trip_recovery", "--fast", "--no-status", "--out", str(out)]
    )
    return result.exit_code, result.output


def test_out_under_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    code, out = _run(tmp_path / "afile" / "run", monkeypatch)
    assert code == EXIT_OS, out
    assert "cannot write the output folder" in out, out
    assert str(tmp_path / "afile") in out, out
    assert "cannot bind" not in out


def test_out_name_too_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _run(tmp_path / ("n" * 300), monkeypatch)
    assert code == EXIT_OS, out
    assert "too long" in out, out


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes through chmod")
def test_out_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, out = _run(ro / "run", monkeypatch)
    finally:
        ro.chmod(0o700)
    assert code == EXIT_OS, out
    assert "permission" in out.lower(), out
    assert str(ro) in out, out


def test_os_errors_told_apart() -> None:
    bind = OSError(errno.EADDRINUSE, "error while attempting to bind on address ('127.0.0.1', 502)")
    assert describe_os_error(bind)[1] == EXIT_BIND
    full = OSError(errno.ENOSPC, "No space left on device", "/runs/x/trace.parquet")
    message, code = describe_os_error(full, path=Path("/runs/x"))
    assert code == EXIT_OS
    assert "/runs/x/trace.parquet" in message
    assert "disk is full" in message
    ro = OSError(errno.EROFS, "Read-only file system")
    message, code = describe_os_error(ro, path=Path("/mnt/ro"))
    assert code == EXIT_OS
    assert "/mnt/ro" in message
    assert "read-only" in message


# -- the limits are documented -------------------------------------------------------------------
def test_limits_doc_is_current() -> None:
    doc = (ROOT / "docs" / "limits.md").read_text(encoding="utf-8")
    assert doc == limits_markdown(), "regenerate docs/limits.md: hil schema limits > docs/limits.md"
    for table in (FILE_LIMITS, RUN_LIMITS, SIZE_LIMITS):
        assert all(lim.reason for lim in table.values())
        assert all(lim.value > 0 for lim in table.values())


def test_validate_reports_file_and_site_problems_at_once(tmp_path: Path) -> None:
    """A scenario with file-level errors (an unknown fault type, an unknown unit) and a
    site-level one (an unknown signal): `hil validate` names all three, each with its line,
    in one pass (the site check used to wait until the file errors were fixed)."""
    from hil.validate import validate_file

    f = tmp_path / "bad.yaml"
    f.write_text(
        "scenario: bad\n"
        "site: lab_rack\n"
        "tick: 1 s\n"
        "duration: 10 min\n"
        "events:\n"
        "  - at: 1 min\n"
        "    set: {bess.p_set_kww: 10}\n"
        "  - at: 2 min\n"
        "    fault: not_a_fault\n"
        "expect:\n"
        "  - name: x\n"
        "    signal: grid.p_import_kww\n"
        "    lt: 5 kW\n"
        "  - name: y\n"
        "    signal: bess.soc_pct\n"
        "    gt: 5 parsecs\n"
    )
    kind, problems = validate_file(f)
    assert kind == "scenario"
    got = {(p.line, p.message.split(";")[0]) for p in problems}
    assert (7, "unknown input 'bess.p_set_kww'") in got
    assert (9, "unknown fault type 'not_a_fault'") in got
    assert (12, "unknown signal 'grid.p_import_kww'") in got
    assert (16, "unknown unit 'parsecs'") in got
    assert len(problems) == 4
    assert [p.line for p in problems] == sorted(p.line or 0 for p in problems)
