"""The OPC UA publish inside a `hil run --fast`: one-by-one decode against the batch decode.

    .venv/bin/python benchmarks/bench_publish.py [--scenario demo_aidc]    # ~2.5 min

Runs the scenario twice in this process through the CLI (the same Runner as `hil run`): once
with every changed variable decoded one by one through ``Device.value`` (the batch decode
switched off for this benchmark only), once as shipped (:mod:`hil.protocols.opcua.values`). Reports the
wall time of the run, the time spent in ``OpcUaEndpoint.publish`` and the variables it wrote.
Faster than real time the runner publishes at ≤ 10 Hz of wall time, so the variable counts
differ between the runs; compare µs per variable. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from typing import Any

from click.testing import CliRunner

import hil.protocols.opcua.endpoint as opcua_mod
from hil.cli import main as cli
from hil.protocols.opcua.values import BatchValues


def run(scenario: str, *, batch: bool) -> tuple[float, float, int]:
    orig_publish = opcua_mod.OpcUaEndpoint.publish
    orig_values = BatchValues.values
    spent = [0.0, 0]

    async def publish(self: Any) -> int:
        t0 = time.perf_counter()
        n = await orig_publish(self)
        spent[0] += time.perf_counter() - t0
        spent[1] += n
        return n

    opcua_mod.OpcUaEndpoint.publish = publish  # type: ignore[method-assign]
    if not batch:
        BatchValues.values = lambda self, changed: {}  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            res = CliRunner().invoke(cli, ["run", scenario, "--fast", "--out", out])
            wall = time.perf_counter() - t0
        if res.exit_code != 0:
            raise SystemExit(f"hil run {scenario} exited {res.exit_code}: {res.output[-500:]}")
    finally:
        opcua_mod.OpcUaEndpoint.publish = orig_publish  # type: ignore[method-assign]
        BatchValues.values = orig_values  # type: ignore[method-assign]
    return wall, spent[0], int(spent[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="demo_aidc")
    args = ap.parse_args()
    print(f"`hil run {args.scenario} --fast`")
    print()
    print("| decode | run wall s | publish s | variables written | µs per variable |")
    print("|---|---|---|---|---|")
    for batch in (False, True):
        wall, pub, n = run(args.scenario, batch=batch)
        name = "batch (hil.protocols.opcua.values)" if batch else "one by one (Device.value)"
        print(f"| {name} | {wall:.1f} | {pub:.1f} | {n:,} | {pub / max(n, 1) * 1e6:.1f} |")


if __name__ == "__main__":
    main()
