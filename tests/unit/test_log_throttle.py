"""asyncua's per-request errors are throttled: a hostile peer cannot flood the log."""

from __future__ import annotations

import logging

import pytest

from hil.opcua_guard import LogThrottle, throttle_asyncua_logs


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
