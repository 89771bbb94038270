"""Ratchets on the bench's structure (issue 13): no import cycle in ``hil/``, imports at the
top of a module (the command line and the pytest plugin excepted, for start-up cost, each
with its reason in a comment), and modules under 600 lines.

Read from the sources with :mod:`ast`, so the checks see every import, including those
under ``if TYPE_CHECKING:`` (an import cycle hidden from the interpreter is still a cycle
for a reader). Each allow-list below names what is left to do and may only shrink: a test
fails when an entry is no longer needed, so the list cannot go stale.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HIL = ROOT / "hil"

#: Where a function-local import is allowed: the command line (each sub-command loads only
#: what it uses, so ``hil --help`` stays quick) and the pytest plugin (loaded by every pytest
#: session in the environment).
LOCAL_IMPORTS_ALLOWED = ("hil/cli.py", "hil/cli_", "hil/pytest_plugin.py")

#: Modules still over the line limit, to be split (issue 13's wings). May only shrink.
OVER_600: frozenset[str] = frozenset()

MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """``hil.x.y`` -> its file, for every module of the bench."""
    out: dict[str, Path] = {}
    for path in sorted(HIL.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` in ``module`` names."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    is_pkg = _modules()[module].name == "__init__.py"
    keep = len(base) - node.level + (1 if is_pkg else 0)
    return ".".join(base[:keep] + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> set[str]:
    """The hil modules that ``module`` imports anywhere in its file."""
    mods = _modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            # ``from . import faults`` names a module; ``from .x import y`` names x (or x.y)
            names = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]
        else:
            continue
        found |= {n for n in names if n in mods and n != module}
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _graph() -> dict[str, set[str]]:
    # a package's __init__ that re-exports its modules is its face, not a room: leave out the
    # arrows from a package to what it contains (they cannot form a cycle a reader follows)
    mods = _modules()
    graph = {}
    for m, p in mods.items():
        deps = _imports(m, p)
        if p.name == "__init__.py":
            deps = {d for d in deps if not d.startswith(m + ".")} if m != "hil" else set()
        graph[m] = deps
    return graph


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_hil() -> None:
    assert _cycles(_graph()) == []


def _local_imports(path: Path) -> list[tuple[int, str]]:
    """Imports inside a function body: (line, source line)."""
    tree = ast.parse(path.read_text(), str(path))
    lines = path.read_text().splitlines()
    return sorted(
        {
            (node.lineno, lines[node.lineno - 1].strip())
            for fn in ast.walk(tree)
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for node in ast.walk(fn)
            if isinstance(node, (ast.Import, ast.ImportFrom))
        }
    )


def test_imports_are_at_the_top_outside_the_command_line_and_the_plugin() -> None:
    offenders = [
        f"{_rel(p)}:{line}: {src}"
        for p in _modules().values()
        if not _rel(p).startswith(LOCAL_IMPORTS_ALLOWED)
        for line, src in _local_imports(p)
    ]
    assert offenders == [], "function-local imports:\n" + "\n".join(offenders)


def test_each_local_import_of_the_command_line_says_why() -> None:
    """A local import in the command line or the plugin carries a comment on its line or on
    the line above it (the start-up cost it saves, or the cycle it avoids)."""
    missing = []
    for p in _modules().values():
        if not _rel(p).startswith(LOCAL_IMPORTS_ALLOWED):
            continue
        lines = p.read_text().splitlines()
        for line, src in _local_imports(p):
            above = lines[line - 2].strip() if line >= 2 else ""
            if "#" not in src and not above.startswith("#") and not _in_commented_block(lines, line):
                missing.append(f"{_rel(p)}:{line}: {src}")
    assert missing == [], "local imports without a reason:\n" + "\n".join(missing)


def _in_commented_block(lines: list[str], line: int) -> bool:
    """The import is one of a run of imports (and blank lines) headed by a comment line."""
    i = line - 2
    while i >= 0 and (lines[i].strip().startswith(("from ", "import ")) or not lines[i].strip()):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#")


def test_no_module_over_600_lines() -> None:
    sizes = {_rel(p): len(p.read_text().splitlines()) for p in _modules().values()}
    sizes |= {_rel(p): len(p.read_text().splitlines()) for p in (ROOT / "twin").rglob("*.py")}
    over = {name for name, n in sizes.items() if n > MAX_LINES}
    assert over - OVER_600 == set(), f"over {MAX_LINES} lines: {sorted(over - OVER_600)}"
    assert OVER_600 - over == set(), f"split now, take off the list: {sorted(OVER_600 - over)}"


def test_the_package_face_reexports_its_public_names_lazily() -> None:
    """``import hil`` loads none of the bench; each public name resolves to the object its
    module defines, and the names imported for type checkers are exactly ``__all__``."""
    import subprocess
    import sys

    code = "import sys, hil; print(sorted(m for m in sys.modules if m.startswith('hil.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

    import importlib

    import hil

    tree = ast.parse((HIL / "__init__.py").read_text())
    typed = {
        a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        for stmt in node.body
        if isinstance(stmt, ast.ImportFrom)
        for a in stmt.names
    }
    assert typed == set(hil.__all__)
    for name in hil.__all__:
        obj = getattr(hil, name)
        assert getattr(importlib.import_module(obj.__module__), name) is obj


def test_the_leak_check_sees_a_socket_and_a_thread_left_open() -> None:
    """The autouse leak check (tests/conftest.py) is not a check that cannot fail."""
    import socket
    import threading

    from tests.conftest import _open_sockets, leaks_since

    threads, sockets = set(threading.enumerate()), _open_sockets()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="left-running", daemon=True)
    s = socket.socket()
    t.start()
    try:
        found = leaks_since(threads, sockets, grace_s=0.1)
        assert any("left-running" in p for p in found)
        assert any(p.startswith("open socket:") for p in found)
    finally:
        stop.set()
        t.join()
        s.close()
    assert leaks_since(threads, sockets, grace_s=1.0) == []


def test_every_code_package_is_in_the_wheel() -> None:
    """``pyproject.toml`` lists the packages a wheel carries; an editable install finds a
    new subpackage without it, a user's ``pip install`` would not."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("twin", "hil")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set()


def test_every_data_folder_is_a_listed_package() -> None:
    """A folder of data (cells, grid codes, SunSpec models, the shipped profiles) is listed as
    a package in ``pyproject.toml``: setuptools prints a 40-line warning for each one it finds
    otherwise (≈ 560 lines of every install), and its files travel by the package-data
    patterns."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    data = {".json", ".csv", ".md", ".yaml", ".yml", ".parquet"}
    folders = {
        ".".join(d.relative_to(ROOT).parts)
        for top in ("twin", "hil")
        for d in (ROOT / top).rglob("*")
        if d.is_dir() and "__pycache__" not in d.parts and any(f.suffix in data for f in d.iterdir())
    }
    folders |= {f"hil._profiles.{d.name}" for d in (ROOT / "profiles").iterdir() if d.is_dir()}
    assert folders - listed == set()


def test_unit_tests_mirror_the_packages() -> None:
    """``tests/unit/`` has a folder per package it tests (``tests/unit/hil/wire/gateway/`` tests
    ``hil/wire/gateway/``): every folder there names a package of the tree, and only the tests about
    the whole tree (this file, the purity check) sit at its top."""
    unit = ROOT / "tests" / "unit"
    folders = {p.parent for p in unit.rglob("test_*.py")} - {unit}
    assert folders, "no test under a package folder"
    for folder in folders:
        package = ROOT / folder.relative_to(unit)
        assert (package / "__init__.py").is_file(), f"{folder.relative_to(ROOT)}: no package {package.name}"
    at_top = sorted(p.name for p in unit.glob("test_*.py"))
    assert at_top == ["test_architecture.py", "test_purity.py"], at_top
