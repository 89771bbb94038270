"""Point maps and the endpoints section: generated layouts, and bad input named at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil.cli import main
from hil.config import load_bench
from hil.errors import ConfigError
from hil.wire.gateway import Gateway
from hil.wire.pointlist import to_markdown
from hil.wire.points import load_point_map
from hil.wire.sunspec import decode_words, encode_value, model_def, models_dir

ROOT = Path(__file__).resolve().parents[4]


def _fixed_len(g: dict) -> int:  # type: ignore[type-arg]
    return sum(p["size"] for p in g.get("points", []))


@pytest.mark.parametrize(
    "mid", [1, 701, 702, 703, 704, 713, 715, 802, 203, 103, 120, 121, 122, 123, 124, 64900, 64902]
)
def test_fixed_model_lengths_match_the_json(mid: int) -> None:
    data = json.loads((models_dir() / f"model_{mid}.json").read_text())

    def total(g: dict) -> int:  # type: ignore[type-arg]
        return _fixed_len(g) + sum(total(s) for s in g.get("groups", []) if "count" not in s)

    site, ep = load_bench("lab_rack")
    gw = Gateway.from_config(site, ep)
    gw_legacy = Gateway(site, legacy=True)
    for g in (gw, gw_legacy):
        for d in g.devices:
            for m, start in d.group.model_starts:
                if m == mid:
                    assert int(d.regs[start + 1]) == total(data["group"]) - 2
                    assert model_def(mid).id == mid


@pytest.mark.parametrize(
    ("type_name", "value", "sf"),
    [("int16", -1234, 0), ("uint16", 65534, 0), ("int32", -50000, 0), ("uint32", 4_000_000_000, 0),
     ("int16", -12.34, -2), ("uint64", 2**63, 0), ("acc32", 123456, 0), ("sunssf", -3, 0)],
)  # fmt: skip
def test_encode_decode_round_trip(type_name: str, value: float, sf: int) -> None:
    words = encode_value(value, type_name, 1, sf)
    assert decode_words(tuple(words), type_name, sf) == pytest.approx(value, abs=10.0**sf / 2)


def test_not_implemented_values() -> None:
    assert encode_value(None, "int16", 1) == [0x8000]
    assert encode_value(None, "uint32", 2) == [0xFFFF, 0xFFFF]
    assert encode_value(None, "int32", 2) == [0x8000, 0x0000]
    assert encode_value(None, "acc32", 2) == [0, 0]
    assert decode_words((0x8000,), "int16") is None


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_point_map_errors_name_file_line_and_suggestion(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "bad.yaml",
        "kind: meter\nmodels: [1, 203]\npoints:\n  1.Mn: {const: x}\n  1.Md: {const: y}\n  1.SN: {const: z}\n"
        "  203.WphAA: {source: dev.w}\n  203.Hz: {sorce: dev.hz}\n  203.W: {source: dev.w}\n",
    )
    with pytest.raises(ConfigError) as e:
        load_point_map(str(p))
    text = str(e.value)
    assert f"{p}:7" in text
    assert "did you mean 'WphA'" in text
    assert f"{p}:8" in text
    assert "did you mean 'source'" in text
    assert "203.W uses scale factor W_SF, which is not bound" in text


def test_unknown_source_is_reported_at_its_line(tmp_path: Path) -> None:
    text = (
        (ROOT / "profiles/points/meter.yaml")
        .read_text()
        .replace("203.Hz: {source: dev.hz}", "203.Hz: {source: dev.hzz}")
    )
    p = _write(tmp_path, "meter2.yaml", text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "dev.hzz" in s)
    site, _ = load_bench("lab_rack")
    with pytest.raises(ConfigError) as e:
        Gateway(site, point_maps={"meter": str(p)})
    assert f"{p}:{line}" in str(e.value)
    assert "did you mean 'dev.hz'" in str(e.value)


def test_endpoint_errors_name_file_line_and_suggestion(tmp_path: Path) -> None:
    text = (ROOT / "profiles/sites/lab_rack.yaml").read_text()
    text = text.replace("modbus: {port: 1502, layout: gateway}", "modbus: {prot: 1502, layout: gatway}")
    p = _write(tmp_path, "site.yaml", text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "prot:" in s)
    with pytest.raises(ConfigError) as e:
        load_bench(str(p))
    msg = str(e.value)
    assert f"{p}:{line}" in msg
    assert "did you mean 'port'" in msg
    assert "did you mean 'gateway'" in msg


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("site", ["lab_rack", "aidc_10k"])
def test_point_reference_in_docs_is_generated_from_the_maps(site: str, legacy: bool) -> None:
    """The shipped point lists, the legacy personality's (SunSpec 1, 103, 120-124) included."""
    s, ep = load_bench(site)
    if legacy:
        ep.personality = "legacy"
    gw = Gateway.from_config(s, ep)
    if legacy:
        assert gw.groups["bess"].point_map.models[1].id == 103
    expected = to_markdown(gw)
    name, flag = (f"points-{site}-legacy.md", " --legacy") if legacy else (f"points-{site}.md", "")
    assert (ROOT / "docs/reference" / name).read_text() == expected, (
        f"regenerate: hil points {site}{flag} > docs/reference/{name}"
    )


def test_hil_points_csv_lists_every_point() -> None:
    res = CliRunner().invoke(main, ["points", "lab_rack", "--format", "csv", "--all"])
    assert res.exit_code == 0, res.output
    site, ep = load_bench("lab_rack")
    gw = Gateway.from_config(site, ep)
    n_points = sum(len(g.points) for g in gw.groups.values())
    assert len(res.output.strip().splitlines()) == n_points + 1
    assert "704.WSet" in res.output


def test_hil_points_bad_site_exits_2() -> None:
    res = CliRunner().invoke(main, ["points", "lab_rak"])
    assert res.exit_code == 2
    assert "did you mean 'lab_rack'" in res.output
