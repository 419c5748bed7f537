"""Wire-level scalar types so money, currencies, dates and instants mean the same on both sides."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "DECIMAL_PATTERN",
    "CurrencyCode",
    "DecimalString",
    "IsoDate",
    "NonEmptyStr",
    "NonNegativeDecimalString",
    "PositiveDecimalString",
    "StrictCount",
    "UtcDatetime",
    "format_decimal",
    "format_rfc3339",
    "parse_rfc3339",
]

#: Published JSON Schema pattern for money and rates (ECMA-262 ``\d`` is ASCII-only).
DECIMAL_PATTERN = r"^-?\d+(\.\d+)?$"
_DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_RFC3339_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.(?P<frac>[0-9]+))?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def format_decimal(value: Decimal) -> str:
    """Render without exponent so ``1E-7`` never reaches the wire."""
    return format(value, "f")


def _parse_decimal_string(value: Any) -> Decimal:
    """Accept only decimal strings (or Decimals from Python producers), never floats or ints."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("decimal must be finite")
        text = format_decimal(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"money and rates travel as decimal strings, got {type(value).__name__}")
    if _DECIMAL_RE.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a plain decimal string like '1234.50'")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guards this
        raise ValueError(f"{text!r} is not a decimal") from exc


def _positive(value: Decimal) -> Decimal:
    """Reject zero and negative amounts where they make no business sense."""
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative(value: Decimal) -> Decimal:
    """Reject negative amounts while allowing zero (e.g. 0% rates, no penalty)."""
    if value < 0:
        raise ValueError("must be greater than or equal to 0")
    return value


DecimalString = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal_string),
    PlainSerializer(format_decimal, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN}),
]
"""Exact decimal carried as a JSON string, because JSON numbers lose precision in transit."""

PositiveDecimalString = Annotated[DecimalString, AfterValidator(_positive)]
"""Decimal string that must be > 0 (principal, instalment amounts)."""

NonNegativeDecimalString = Annotated[DecimalString, AfterValidator(_non_negative)]
"""Decimal string that must be >= 0 (rates, total interest, penalty amounts)."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", strict=True)]
"""ISO 4217 alphabetic code, so amounts are never read in the wrong currency."""

NonEmptyStr = Annotated[str, StringConstraints(min_length=1, strict=True)]
"""Identifier-like text that must not be blank."""

StrictCount = Annotated[int, Field(strict=True, ge=0)]
"""Non-negative integer that refuses ``"3"``, ``3.0`` and ``true`` from JSON."""


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with mandatory offset and return it in UTC."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp with an offset")
    frac = match["frac"]
    offset = match["offset"].upper()
    normalised = f"{match['date']}T{match['time']}"
    if frac:
        normalised += "." + frac[:6].ljust(6, "0")
    normalised += "+00:00" if offset == "Z" else offset
    return datetime.fromisoformat(normalised).astimezone(UTC)


def format_rfc3339(value: datetime) -> str:
    """Render an aware instant as RFC 3339 UTC with a ``Z`` suffix."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _coerce_datetime(value: Any) -> Any:
    """Refuse epoch numbers and non-RFC 3339 text that lax parsing would accept."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise ValueError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")


def _to_utc(value: datetime) -> datetime:
    """Normalise to UTC so equal instants compare and serialise identically."""
    return value.astimezone(UTC)


def _coerce_date(value: Any) -> Any:
    """Accept only ``YYYY-MM-DD`` text or a plain date, never a datetime or epoch number."""
    if isinstance(value, datetime):
        raise ValueError("expected a calendar date, got a datetime")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        return date.fromisoformat(value)
    raise ValueError(f"expected an ISO 8601 date 'YYYY-MM-DD', got {value!r}")


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_coerce_datetime), AfterValidator(_to_utc)]
"""Timezone-aware instant, normalised to UTC."""

IsoDate = Annotated[date, BeforeValidator(_coerce_date)]
"""Calendar date as ``YYYY-MM-DD``."""
