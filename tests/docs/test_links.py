"""Every relative link in README.md and docs/ points at a file that exists (docs/index.md is
the map of the documentation; a page moved or renamed must not leave it pointing nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_relative_link_resolves() -> None:
    broken = []
    for page in _pages():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue  # a URL or an anchor in the same page
                path = (page.parent / target.split("#", 1)[0]).resolve()
                if not path.exists():
                    broken.append(f"{page.relative_to(ROOT)}:{n}: {target}")
    assert broken == []


def test_the_index_lists_every_page_of_the_docs() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    linked = {(ROOT / "docs" / t.split("#", 1)[0]).resolve() for t in LINK.findall(index)}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md") if p.name != "index.md"}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []
