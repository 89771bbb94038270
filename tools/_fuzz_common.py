"""What the fuzz tools share: the twin's state to compare, and how a report is printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hil.wire.gateway import Gateway


def twin_state(gw: Gateway) -> tuple[dict[str, Any], list[bytes]]:
    """Every signal of the twin and every device's registers: equal means untouched."""
    return gw.snapshot.to_dict(), [np.asarray(d.regs).tobytes() for d in gw.devices]


def emit(report: dict[str, Any], json_path: Path | None, problems: list[str]) -> int:
    """Print the report as JSON (and write it to ``json_path``), OK or FAILED on stderr; the exit code."""
    text = json.dumps(report, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")
    print("OK" if not problems else f"FAILED: {len(problems)} problem(s)", file=sys.stderr)
    return 0 if not problems else 1
