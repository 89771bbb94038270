"""The OPC UA publish's batch decode (hil/protocols/opcua/values.py) against ``Device.value``,
point by point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from asyncua import ua

from hil.config import load_bench
from hil.protocols.opcua.endpoint import variant_type
from hil.protocols.opcua.values import BatchValues, batchable
from hil.wire.gateway import Gateway

FLOAT_TYPES = (ua.VariantType.Double, ua.VariantType.Float)
STATUSES = (ua.StatusCode(ua.StatusCodes.Good), ua.StatusCode(ua.StatusCodes.BadDeviceFailure))


@pytest.mark.parametrize("site", ["aidc_10k", "lab_rack"])
def test_batch_values_equal_the_one_by_one_decode_on_every_served_point(site: str) -> None:
    """Every variable the OPC UA endpoint serves as Double/Float, after charging, an outage
    (scale factors and states move) and its return: the batch gives the very same float (or
    None) as ``Device.value``; a variable not flagged changed is not decoded. A healthy site
    serves no not-implemented value, so one point is made to (a sensor stuck at NaN)."""
    tw, cfg = load_bench(site)
    gw = Gateway.from_config(tw, cfg)
    served = [
        (dev, p)
        for dev in gw.devices
        for p in dev.points
        if p.implemented and p.pdef.type != "sunssf"  # what the address space holds
    ]
    variables = [
        (k, dev, p) for k, (dev, p) in enumerate(served) if batchable(p, variant_type(p) in FLOAT_TYPES)
    ]
    assert len(variables) > 100
    batch = BatchValues(variables)
    tw.set("bess.p_set_kw", -1500.0)
    _, dev0, p0 = next(v for v in variables if v[0] % 2 == 0)  # one the test flags changed
    compared = nones = 0
    for tick in range(60):
        if tick == 10:
            gw.set_override(dev0, p0.key, value=math.nan)  # reads as SunSpec not-implemented
        if tick == 20:
            tw.set("grid.available", 0)
        if tick == 40:
            tw.set("grid.available", 1)
        gw.advance()
        changed = np.zeros(len(served), dtype=bool)
        changed[::2] = True  # half flagged: only those come back
        got = batch.values(changed)
        want_ids = {k for k, _, _ in variables if changed[k]}
        assert set(got) == want_ids
        for k, dev, p in variables:
            if not changed[k]:
                continue
            want = dev.value(p)
            g = got[k]
            if want is None:
                assert g is None, (dev.name, p.key)
                nones += 1
            elif isinstance(want, float) and math.isnan(want):
                assert g is not None, (dev.name, p.key)
                assert math.isnan(g), (dev.name, p.key)
            else:
                assert g is not None, (dev.name, p.key)
                assert g == float(want), (dev.name, p.key, g, want)  # to the last bit
            compared += 1
    assert compared > 1000
    assert nones > 0  # not-implemented values are among them


@pytest.mark.parametrize("site", ["aidc_10k", "lab_rack"])
def test_scalar_value_equals_the_dataclass_construction(site: str) -> None:
    """``hil.protocols.opcua.endpoint.scalar_value`` (no dataclass __init__) gives the DataValue asyncua's own
    constructors give, slot by slot and byte by byte on the wire, for every point the address
    space serves (every variant type it uses, Good and a fault status)."""
    from datetime import UTC, datetime

    from asyncua.ua.ua_binary import struct_to_binary

    from hil.protocols.opcua.endpoint import _Value, scalar_value

    tw, cfg = load_bench(site)
    gw = Gateway.from_config(tw, cfg)
    gw.advance()
    src = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)
    now = datetime.now(UTC)
    seen: set[ua.VariantType] = set()
    for dev in gw.devices:
        for p in dev.points:
            if not p.implemented or p.pdef.type == "sunssf":
                continue
            value = dev.value(p)
            if value is None:
                continue
            vt = variant_type(p)
            v = (
                float(value)
                if vt in FLOAT_TYPES
                else (str(value) if vt is ua.VariantType.String else int(value))
            )
            for status in (
                ua.StatusCode(ua.StatusCodes.Good),
                ua.StatusCode(ua.StatusCodes.BadDeviceFailure),
            ):
                want = _Value(ua.Variant(v, vt), StatusCode=status, SourceTimestamp=src, ServerTimestamp=now)
                got = scalar_value(v, vt, status, src, now)
                assert type(got) is type(want)
                assert got == want
                for slot in ("Value", "VariantType", "Dimensions", "is_array"):
                    assert getattr(got.Value, slot) == getattr(want.Value, slot), slot
                assert struct_to_binary(got) == struct_to_binary(want)
            seen.add(vt)
    assert {ua.VariantType.Double, ua.VariantType.String} <= seen
    assert len(seen) >= 4


def test_mark_changes_equals_the_image_diff() -> None:
    """The compiled change marks (hil.protocols.opcua.values.mark_changes) against the numpy diff they
    replaced: the same variables marked at the same time, the same alarm variables, and the
    last-seen image equal to the new one afterwards; unchanged variables keep their marks."""
    from hil.protocols.opcua.values import mark_changes

    rng = np.random.default_rng(7)
    checked_alarms = 0
    for _ in range(200):
        rows, cols, n_points = int(rng.integers(1, 6)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
        n_vars = rows * n_points + 5
        owner = np.where(rng.random(cols) < 0.2, -1, rng.integers(0, n_points, cols)).astype(np.int64)
        var_of = rng.permutation(n_vars)[: rows * n_points].reshape(rows, n_points).astype(np.int64)
        var_of[rng.random(var_of.shape) < 0.1] = -1
        is_alarm = rng.random(n_vars) < 0.3
        prev = rng.integers(0, 4, (rows, cols)).astype(np.uint16)
        image = prev.copy()
        image[rng.random(image.shape) < 0.3] = rng.integers(0, 4).astype(np.uint16)
        dirty = np.where(rng.random(n_vars) < 0.5, np.nan, 1.0)
        # the numpy diff (hil/protocols/opcua/endpoint.py before this kernel)
        want_dirty = dirty.copy()
        ii, oo = np.nonzero(image != prev)
        c = owner[oo]
        keep = c >= 0
        vids = var_of[ii[keep], c[keep]]
        vids = vids[vids >= 0]
        want_dirty[vids] = 2.5
        want_alarms = np.intersect1d(vids, np.flatnonzero(is_alarm))
        out = np.empty(rows * cols + 1, dtype=np.int64)
        k = mark_changes(image, prev, owner, var_of, is_alarm, dirty, 2.5, out)
        np.testing.assert_array_equal(dirty, want_dirty)  # NaN where NaN, 1.0 kept, 2.5 marked
        np.testing.assert_array_equal(prev, image)
        np.testing.assert_array_equal(np.unique(out[:k]), want_alarms)
        checked_alarms += want_alarms.size
    assert checked_alarms > 100  # the alarm branch was exercised
