"""The declarations are the one source of the site's signals: every declared output is in
the snapshot with its unit, nothing undeclared is, every declared input is settable, the
units agree with the names' suffixes, and the signal reference is generated from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil.config import load_site
from twin import Site
from twin.bus import INPUTS, OUTPUTS
from twin.signals import SUFFIX_UNITS, Signal, SignalTable, parse_name, split_name
from twin.signals_doc import DEVICE_CLASSES, signals_markdown

ROOT = Path(__file__).resolve().parents[3]
SITES = sorted(p.stem for p in (ROOT / "profiles" / "sites").glob("*.yaml"))


def _all_declarations() -> list[tuple[str, Signal]]:
    out = [(dev, s) for dev, sigs in OUTPUTS.items() for s in sigs]
    out += [(dev, s) for dev, sigs in INPUTS.items() for s in sigs]
    for cls in DEVICE_CLASSES:
        out += [(cls.name, s) for s in (*cls.outputs, *cls.inputs)]
    return out


@pytest.fixture(scope="module", params=[*SITES, "default"])
def site(request: pytest.FixtureRequest) -> Site:
    return Site() if request.param == "default" else load_site(request.param)


def test_every_declared_output_is_in_the_snapshot_and_nothing_else(site: Site) -> None:
    table = site.signals
    for snap in (site.snapshot(), site.step(3)):
        assert set(snap.arrays) == set(table.arrays)
        assert set(snap.scalars) == set(table.scalars)
        for key, arr in snap.arrays.items():
            dev = key.partition(".")[0]
            # every per-unit output of a device has one value per unit
            sizes = {a.shape[0] for k, a in snap.arrays.items() if k.partition(".")[0] == dev}
            assert sizes == {arr.shape[0]}, key
    # and each name, as the snapshot spells it, has its declared unit
    snap = site.snapshot()
    for name in snap:
        sig = table.output(name)
        assert sig is not None, name
        assert sig.unit, name
        assert snap.unit(name) == sig.unit


def test_every_declared_input_is_settable_and_addressed_per_unit(site: Site) -> None:
    assert set(site.input_names) == set(site.signals.inputs)
    for key, sig in site.signals.inputs.items():
        dev = key.partition(".")[0]
        if sig.per_unit:
            outs = [k for k in site.signals.arrays if k.partition(".")[0] == dev]
            n = site.snapshot().arrays[outs[0]].shape[0]
            assert site.unit_count(dev) == n, key
    assert site.snapshot().unit("pcs[0].p_set_kw") == "kW"
    assert site.snapshot().unit("grid.breaker_close") == "1"  # an input only
    assert site.snapshot().unit("pcs.nonsense") is None


def test_units_agree_with_the_names_suffixes() -> None:
    suffixes = sorted(SUFFIX_UNITS, key=len, reverse=True)
    checked = 0
    for dev, s in _all_declarations():
        assert s.unit, f"{dev}.{s.name} has no unit"
        hit = next((x for x in suffixes if s.name.endswith(x)), None)
        if hit is not None:
            assert s.unit == SUFFIX_UNITS[hit], (
                f"{dev}.{s.name}: {s.unit!r}, its suffix says {SUFFIX_UNITS[hit]!r}"
            )
            checked += 1
        if s.unit == "enum":
            assert s.enum is not None, f"{dev}.{s.name} is an enum without its values"
    assert checked > 80  # most names carry their unit


def test_enum_outputs_take_only_their_declared_values(site: Site) -> None:
    snap = site.step(5)
    for key, sig in [*site.signals.arrays.items(), *site.signals.scalars.items()]:
        if sig.enum is None:
            continue
        vals = snap.arrays[key] if key in snap.arrays and sig.per_unit else np.array([snap.scalars[key]])
        allowed = {int(m) for m in sig.enum}
        assert set(vals.astype(int).tolist()) <= allowed, (key, vals)


def test_a_signal_declared_twice_is_refused() -> None:
    s = Signal("p_kw", "kW")
    with pytest.raises(ValueError, match="declared twice"):
        SignalTable.build([("a", "gen", (), (s,)), ("b", "gen", (), (s,))])
    with pytest.raises(ValueError, match="unit"):
        SignalTable.build([("a", "gen", (), (s,)), ("b", "gen", (), (Signal("p_kw", "W", per_unit=False),))])


def test_the_one_name_parser() -> None:
    assert split_name("pcs[12].p_ac_kw") == ("pcs", 12, "p_ac_kw")
    assert split_name("grid.f_hz") == ("grid", None, "f_hz")
    assert split_name("pcs[x].p_ac_kw") == ("pcs[x]", None, "p_ac_kw")
    # the strict form for names users write: every unit with [*], nothing malformed passes
    assert parse_name("pcs[*].p_ac_kw") == ("pcs", "*", "p_ac_kw")
    assert parse_name("bess[3].soc_pct") == ("bess", 3, "soc_pct")
    assert parse_name("grid.f_hz") == ("grid", None, "f_hz")
    for bad in ("pcs[x].p_ac_kw", "Grid.f_hz", "grid", "pcs[1]p_kw", "pcs[-1].p_kw", "grid.f_hz "):
        assert parse_name(bad) is None, bad


def test_the_signal_reference_is_generated_from_the_declarations() -> None:
    text = signals_markdown()
    assert (ROOT / "docs" / "reference" / "signals.md").read_text() == text, (
        "docs/reference/signals.md is stale: hil schema signals > docs/reference/signals.md"
    )
    for dev, s in _all_declarations():
        assert (f"`{dev}[i].{s.name}`" if s.per_unit else f"`{dev}.{s.name}`") in text


def test_the_trace_schema_carries_the_declared_units(tmp_path: Path) -> None:
    from hil.trace.store import LOCAL_TIME, TraceWriter, read_trace_schema

    site = Site()
    with TraceWriter(tmp_path) as w:
        for _ in range(3):
            w.append(site.step(), {"runner.lag_s": 0.0})
    schema = read_trace_schema(tmp_path)
    unit = {f.name: (f.metadata or {}).get(b"unit", b"").decode() for f in schema}
    assert unit["grid.p_import_kw"] == "kW"
    assert unit["pcs[0].state"] == "enum"
    assert unit["bess[0].t_cell_max_degc"] == "°C"
    # only the row keys, the runner's diagnostics and the derived timestamp have no unit
    undeclared = [n for n in schema.names if not unit.get(n)]
    assert undeclared == ["t_s", "tick", "runner.lag_s", LOCAL_TIME]


def test_site_schema_doc_is_the_generator_output_and_covers_every_key() -> None:
    """docs/site-schema.md is `hil schema site`, and every key of every shipped site file
    (sections included) has a row in it."""
    from pathlib import Path

    import yaml

    from hil.site_schema import site_schema_markdown

    root = Path(__file__).resolve().parents[3]
    text = site_schema_markdown()
    assert (root / "docs" / "site-schema.md").read_text() == text
    sections = {"": text.split("## `")[0]}
    for chunk in text.split("## `")[1:]:
        name, _, body = chunk.partition("`")
        sections[name.rstrip(":")] = body
    for site in sorted((root / "profiles" / "sites").glob("*.yaml")):
        data = yaml.safe_load(site.read_text())
        for key, value in data.items():
            if key == "endpoints":
                assert "## `endpoints:`" in text
                continue
            assert f"| `{key}` |" in sections[""], (site.name, key)
            if isinstance(value, dict) and key in sections:
                for sub in value:
                    assert f"| `{sub}` |" in sections[key], (site.name, f"{key}.{sub}")
