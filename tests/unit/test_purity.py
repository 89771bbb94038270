"""twin/ stays pure: importing it loads no protocol, YAML or terminal library."""

from __future__ import annotations

import subprocess
import sys


def test_import_twin_loads_no_io_libraries() -> None:
    code = (
        "import sys, twin, twin.site, twin.experiment\n"
        "mods = ('pymodbus', 'asyncua', 'yaml', 'rich', 'hil', 'click', 'pyarrow')\n"
        "bad = [m for m in mods if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"twin imported: {out.stdout.strip()}"


def test_twin_sources_do_not_import_io_libraries() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "twin"
    offenders = []
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import ", "from ")) and any(
                f" {m}" in s.split(" import")[0] + " " or s.startswith(f"import {m}")
                for m in ("hil", "pymodbus", "asyncua", "yaml", "rich", "click")
            ):
                offenders.append(f"{path.name}: {s}")
    assert offenders == []
