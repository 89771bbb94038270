"""Every YAML example in the docs parses, and every scenario example passes ``hil validate``.

Blocks fenced as ``yaml`` in README.md and docs/**/*.md are found with their line. A block
with a ``scenario:`` key is checked as ``hil validate`` checks a file (parsed, then resolved
against its site). A fragment is wrapped so the same check applies: a list of events, or an
``events:`` / ``expect:`` mapping, becomes a minimal scenario on aidc_10k (the shipped site
with every device kind); a grid-code override (a mapping with ``base:``) goes through
``load_grid_code``; a site fragment (keys of a site file) is merged onto aidc_10k and
built; a tariff (a mapping with ``tariff_id:``), a study (``study:``) and a campaign
(``campaign:``, every value checked on its base) go through ``hil validate``; a
reference-EMS profile (a mapping with strategy sections) through
``hil.ems.profile.profile_from_dict``. A block of any other shape fails, so a new kind of
example gets a check before it ships.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from hil.config import load_site
from hil.ems.profile import EmsProfile, profile_from_dict
from hil.errors import ConfigError
from hil.validate import validate_file
from twin.errors import ParameterError
from twin.models.gridcode import load_grid_code
from twin.site import SiteParams

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
WRAP_SITE = "aidc_10k"  # every device kind the examples name: PCS, gensets, PV, utility
SITE_SECTIONS = {f.name for f in fields(SiteParams)} | {"endpoints"}
EMS_SECTIONS = {f.name for f in fields(EmsProfile)}
EMS_STRATEGIES = {"peak_shave", "tou", "no_export", "smoothing", "demand_response", "outage_prep", "alarms"}


@dataclass(frozen=True)
class Block:
    """One fenced YAML block: its file, the line of its first YAML line, its text (dedented)."""

    path: Path
    line: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def yaml_blocks(paths: list[Path]) -> list[Block]:
    """The ``yaml``/``yml`` fenced blocks of ``paths`` (indented fences, in lists, included)."""
    out: list[Block] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if m is None:
                i += 1
                continue
            fence, lang = m["fence"], m["lang"].lower()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence[0] * len(fence)):
                j += 1
            if lang in ("yaml", "yml"):
                out.append(Block(path, i + 2, textwrap.dedent("\n".join(lines[i + 1 : j]))))
            i = j + 1
    return out


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


BLOCKS = yaml_blocks(doc_files())


def _is_events(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(e, Mapping) and ("at" in e or "after" in e) for e in data)
    )


def _problems(path: Path) -> list[str]:
    _, problems = validate_file(path)
    return [f"{p.where}: {p.message}" if p.where else p.message for p in problems]


def check_block(block: Block, tmp: Path) -> list[str]:
    """Every problem with one example, each prefixed with the block's file:line."""
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = block.line + mark.line if mark is not None else block.line
        why = getattr(exc, "problem", None) or str(exc)
        return [f"{block.path.relative_to(ROOT)}:{line}: not valid YAML: {why}"]
    if isinstance(data, Mapping) and "scenario" in data:
        kind, scenario = "a scenario", data
    elif _is_events(data):
        kind, scenario = "a list of events", {"events": data}
    elif isinstance(data, Mapping) and data and set(data) <= {"events", "expect"}:
        kind, scenario = "a scenario fragment", dict(data)
    elif isinstance(data, Mapping) and "base" in data and "campaign" not in data:
        try:
            load_grid_code(data)
        except ParameterError as exc:
            return [f"{block.where}: a grid-code override: {exc}"]
        return []
    elif isinstance(data, Mapping) and ("tariff_id" in data or "campaign" in data):
        kind = "a campaign" if "campaign" in data else "a tariff"  # hil validate tells them apart
        path = tmp / "file.yaml"
        path.write_text(block.text, encoding="utf-8")
        return [f"{block.where}: {kind}: {p}" for p in _problems(path)]
    elif isinstance(data, Mapping) and "study" in data:
        path = tmp / "study.yaml"
        text = block.text
        load = data.get("load")
        if isinstance(load, Mapping) and isinstance(load.get("file"), str):  # run from the checkout
            text = text.replace(load["file"], str(ROOT / load["file"]))
        path.write_text(text, encoding="utf-8")
        return [f"{block.where}: a study: {p}" for p in _problems(path)]
    elif isinstance(data, Mapping) and data and set(data) & EMS_STRATEGIES and set(data) <= EMS_SECTIONS:
        try:
            profile_from_dict(data)
        except ParameterError as exc:
            return [f"{block.where}: a reference-EMS profile: {exc}"]
        return []
    elif isinstance(data, Mapping) and data and set(data) <= SITE_SECTIONS:
        try:
            load_site(WRAP_SITE, overrides=data)
        except ConfigError as exc:
            return [f"{block.where}: a site fragment on {WRAP_SITE}: {p.message}" for p in exc.problems]
        return []
    else:
        return [f"{block.where}: an example of a shape this test does not know; teach it how to check it"]
    if kind != "a scenario":
        scenario = {
            "scenario": "doc_example",
            "site": WRAP_SITE,
            "duration": "1 d",
            "controller": "standin",
            **scenario,
        }
        text = yaml.safe_dump(scenario, sort_keys=False)
    else:
        text = block.text
    path = tmp / "example.yaml"
    path.write_text(text, encoding="utf-8")
    return [f"{block.where}: {kind}: {p}" for p in _problems(path)]


def test_the_docs_have_yaml_examples_and_each_is_found_with_its_line() -> None:
    where = {b.where for b in BLOCKS}
    assert len(BLOCKS) >= 6, where
    howto = ROOT / "docs" / "howto-fault-script.md"
    first = next(b for b in BLOCKS if b.path == howto)
    assert howto.read_text().splitlines()[first.line - 1].startswith("# my_scenarios/pcs_trip.yaml")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_yaml_example(block: Block, tmp_path: Path) -> None:
    problems = check_block(block, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the how-to's old example: '[' opens a flow sequence inside a flow mapping
        ("events:\n  - at: 1 s\n    set: {pcs[0].q_set_kvar: 200 kvar}\n", "example.md:6: not valid YAML"),
        ('- at: 1 s\n  set: {"pcs[0].q_set_kvr": 200}\n', "unknown input 'pcs[0].q_set_kvr'"),
        ("- at: 1 s\n  fault: {type: pcs_trip, target: PCS99}\n", "no device 'PCS99'"),
        ("expect:\n  - name: x\n    signal: grid.p_imprt_kw\n    lt: 1\n", "unknown signal"),
        ("scenario: x\nsite: lab_rack\nduraton: 1 min\n", "unknown key 'duraton'"),
        ("base: no_such_code\n", "unknown grid code 'no_such_code'"),
        ("mystery: 1\n", "does not know"),
        ("tariff_id: x\nenergy: {prices: {peak: 1.0}, periods: {peek: [[0, 24]]}}\n", "did you mean 'peak'"),
        ("study: x\nload: {base_kw: 1, windws: []}\n", "did you mean 'windows'"),
    ],
)
def test_a_broken_example_is_reported_with_its_place(text: str, expected: str, tmp_path: Path) -> None:
    doc = tmp_path / "example.md"
    doc.write_text(f"Text.\n\n```yaml\n{text}```\n", encoding="utf-8")
    (block,) = yaml_blocks([doc])
    problems = check_block(Block(ROOT / "example.md", block.line, block.text), tmp_path)
    assert problems
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("example.md:") for p in problems), problems
