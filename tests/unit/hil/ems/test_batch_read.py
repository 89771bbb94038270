"""The in-process EMS's batch read decodes exactly what a client decodes point by point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.config import load_bench
from hil.ems.batch_read import BatchReader
from hil.wire.gateway import Gateway
from hil.wire.sunspec import TYPES, decode_array, decode_words


def _one_by_one(dev, keys):  # type: ignore[no-untyped-def]
    out = {}
    for key in keys:
        p = dev.group.by_key.get(key)
        if p is None or p.pdef.type == "string":
            continue
        v = dev.value(p)
        if v is None and p.pdef.type.startswith("acc"):
            v = 0.0
        out[key] = float(v) if isinstance(v, int | float) else None
    return out


@pytest.mark.parametrize("site", ["aidc_10k", "lab_rack"])
def test_every_numeric_point_of_every_device_equals_the_one_by_one_decode(site: str) -> None:
    tw, cfg = load_bench(site)
    gw = Gateway.from_config(tw, cfg)
    tw.set("bess.p_set_kw", -1500.0)
    for _ in range(30):
        gw.advance()
    by_kind: dict[str, list] = {}
    for d in gw.devices:
        by_kind.setdefault(d.kind, []).append(d)
    compared = 0
    for devs in by_kind.values():
        keys = [p.key for p in devs[0].group.points if p.pdef.type != "string"]
        got = BatchReader(devs, keys).read()
        for dev, row in zip(devs, got, strict=True):
            want = _one_by_one(dev, keys)
            assert list(row) == list(want)
            for k, v in want.items():
                g = row[k]
                if v is None or g is None:
                    assert g is v, (dev.name, k, g, v)
                elif math.isnan(v):
                    assert math.isnan(g), (dev.name, k, g)
                else:
                    assert g == v, (dev.name, k, g, v)  # exactly: the same float operations
                compared += 1
    assert compared > 400


_NUMERIC = [t for t in TYPES if t not in ("string", "pad")]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_NUMERIC), st.data())
def test_decode_array_equals_decode_words(type_name: str, data: st.DataObject) -> None:
    words = TYPES[type_name].words
    regs = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=words, max_size=words))
    raw, ni = decode_array(np.array([regs], dtype=np.uint16), type_name)
    want = decode_words(tuple(regs), type_name, 0)
    if want is None:
        assert ni[0]
    else:
        assert not ni[0]
        v = float(want)
        assert (math.isnan(v) and math.isnan(raw[0])) or raw[0] == v
