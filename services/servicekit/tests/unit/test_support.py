"""Small pieces: money column binding, correlation ids, PII masking, clocks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from servicekit.clock import FixedClock, SystemClock
from servicekit.context import clean_correlation_id, clean_traceparent, set_correlation_id
from servicekit.logs import JsonFormatter, mask_pii, mask_value
from servicekit.types import ExactDecimal, UTCDateTime

TWENTY_DIGITS = Decimal("12345678901234567.891")


def test_exact_decimal_binds_text_on_sqlite() -> None:
    col = ExactDecimal()
    bound = col.process_bind_param(TWENTY_DIGITS, sqlite.dialect())
    assert bound == "12345678901234567.891"
    assert col.process_result_value(bound, sqlite.dialect()) == TWENTY_DIGITS


def test_exact_decimal_keeps_decimal_on_postgresql() -> None:
    col = ExactDecimal()
    assert col.process_bind_param(TWENTY_DIGITS, postgresql.dialect()) == TWENTY_DIGITS


def test_exact_decimal_refuses_float() -> None:
    with pytest.raises(TypeError):
        ExactDecimal().process_bind_param(1.1, sqlite.dialect())


def test_exact_decimal_never_uses_exponent_notation_on_sqlite() -> None:
    assert ExactDecimal().process_bind_param(Decimal("1E+3"), sqlite.dialect()) == "1000"


def test_utc_datetime_refuses_naive_and_restores_utc() -> None:
    col = UTCDateTime()
    with pytest.raises(ValueError, match="timezone-aware"):
        col.process_bind_param(datetime(2026, 1, 1), sqlite.dialect())
    restored = col.process_result_value(datetime(2026, 1, 1, 12), sqlite.dialect())
    assert restored == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_correlation_ids() -> None:
    assert clean_correlation_id("abc-123") == "abc-123"
    generated = clean_correlation_id("bad value with spaces")
    assert generated != "bad value with spaces"
    assert len(generated) == 32
    assert clean_traceparent("00-" + "a" * 32 + "-" + "b" * 16 + "-01") is not None
    assert clean_traceparent("nonsense") is None


def test_mask_pii_recursively() -> None:
    masked = mask_pii(
        {"national_id": "123456789", "nested": [{"phone": "+15551234"}], "amount": "10"}
    )
    assert masked == {
        "national_id": "*******89",
        "nested": [{"phone": "*******34"}],
        "amount": "10",
    }
    assert mask_value("a") == "**"


def test_json_log_lines_carry_correlation_id_and_mask_extras() -> None:
    set_correlation_id("corr-1")
    record = logging.makeLogRecord(
        {
            "msg": "hello %s",
            "args": ("world",),
            "levelname": "INFO",
            "name": "t",
            "national_id": "987654321",
        }
    )
    line = json.loads(JsonFormatter("los").format(record))
    set_correlation_id(None)
    assert line["msg"] == "hello world"
    assert line["correlation_id"] == "corr-1"
    assert line["national_id"] == "*******21"
    assert "987654321" not in json.dumps(line)


def test_clocks() -> None:
    clock = FixedClock(datetime(2026, 3, 31, 10, tzinfo=UTC))
    clock.advance(timedelta(days=1))
    assert clock.today().isoformat() == "2026-04-01"
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1))
    assert SystemClock().now().tzinfo is UTC
