"""The twin's layout stays easy to live in: no module over 600 lines, ``site.py`` under 300
(issue 12). A module that grows past the limit is split along its seams, not waved through."""

from __future__ import annotations

from pathlib import Path

TWIN = Path(__file__).resolve().parents[5] / "twin"


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_twin_module_is_over_600_lines() -> None:
    sizes = {str(p.relative_to(TWIN)): _lines(p) for p in TWIN.rglob("*.py")}
    assert len(sizes) > 30
    assert {k: v for k, v in sizes.items() if v > 600} == {}


def test_site_py_is_under_300_lines() -> None:
    assert _lines(TWIN / "site.py") < 300
