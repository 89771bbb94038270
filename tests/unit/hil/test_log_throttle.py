"""asyncua's per-request errors are throttled: a hostile peer cannot flood the log."""

from __future__ import annotations

import logging

import pytest

from hil.protocols.opcua.guard import LogThrottle, throttle_asyncua_logs


def _record(
    msg: str, level: int = logging.ERROR, name: str = "asyncua.server.uaprocessor"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_one_record_per_message_per_period_then_the_count() -> None:
    now = [0.0]
    f = LogThrottle(period_s=10.0, clock=lambda: now[0])
    assert f.filter(_record("Error while processing message"))
    for k in range(500):  # a flood within the period: none gets through
        now[0] = 0.01 * k
        assert not f.filter(_record("Error while processing message"))
    assert f.filter(_record("another message"))  # other messages are their own
    assert f.filter(_record("debug chatter", level=logging.DEBUG))  # below WARNING: untouched
    now[0] = 10.5
    rec = _record("Error while processing message")
    assert f.filter(rec)
    assert "[500 alike" in rec.getMessage()


def test_every_asyncua_logger_gets_it_once(caplog: pytest.LogCaptureFixture) -> None:
    import asyncua.server.uaprocessor  # noqa: F401  (the loggers exist once asyncua is imported)

    throttle_asyncua_logs()
    throttle_asyncua_logs()
    lg = logging.getLogger("asyncua.server.uaprocessor")
    assert sum(isinstance(f, LogThrottle) for f in lg.filters) == 1
    with caplog.at_level(logging.ERROR, logger="asyncua"):
        for _ in range(100):
            lg.error("Error while processing message")
    assert len([r for r in caplog.records if r.name == lg.name]) == 1


def test_an_opcua_write_takes_any_numeric_type_that_converts_exactly() -> None:
    from asyncua import ua

    from hil.protocols.opcua.endpoint import exact_value

    vt = ua.VariantType
    ok = [
        (ua.Variant(1000, vt.Int32), vt.Double, 1000.0),
        (ua.Variant(2**53, vt.Int64), vt.Double, float(2**53)),
        (ua.Variant(1.0, vt.Double), vt.UInt16, 1),
        (ua.Variant(65535, vt.UInt32), vt.UInt16, 65535),
        (ua.Variant(0.5, vt.Float), vt.Double, 0.5),
        (ua.Variant(7, vt.UInt16), vt.UInt16, 7),
    ]
    for variant, target, want in ok:
        got = exact_value(variant, target)
        assert got == want, (variant, target, got)
        assert type(got) is type(want)
    refused = [
        (ua.Variant(2**53 + 1, vt.Int64), vt.Double),  # no exact double
        (ua.Variant(1.5, vt.Double), vt.UInt16),
        (ua.Variant(-1, vt.Int32), vt.UInt16),
        (ua.Variant(65536, vt.UInt32), vt.UInt16),
        (ua.Variant(float("nan"), vt.Double), vt.Int32),
        (ua.Variant(True, vt.Boolean), vt.Double),
        (ua.Variant("1", vt.String), vt.Double),
        (ua.Variant(0.1, vt.Double), vt.Float),
    ]
    for variant, target in refused:
        assert exact_value(variant, target) is None, (variant, target)
