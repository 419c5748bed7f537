"""CloudEvents 1.0 envelope in Kafka binary mode: attributes in ``ce_`` headers, data as value."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from lending_schemas.errors import EnvelopeError
from lending_schemas.primitives import NonEmptyStr, UtcDatetime, format_rfc3339, parse_rfc3339

__all__ = [
    "CONTENT_TYPE",
    "MAX_SEQUENCE",
    "REQUIRED_HEADERS",
    "SPEC_VERSION",
    "CloudEvent",
    "EnvelopeError",
    "KafkaRecord",
    "from_kafka",
    "to_kafka",
]

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

#: Headers every record must carry; ``ce_traceparent``/``ce_correlationid`` are optional.
REQUIRED_HEADERS: tuple[str, ...] = (
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_specversion",
    "ce_time",
    "ce_subject",
    "ce_dataschema",
    "ce_sequence",
)
_OPTIONAL_HEADERS: tuple[str, ...] = ("ce_traceparent", "ce_correlationid")
_SEQUENCE_RE = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
#: Largest sequence a signed 64-bit consumer (e.g. a Java long) can hold.
MAX_SEQUENCE = 2**63 - 1
#: Validation context of a CloudEvent built from a record value `_decode_value` accepted.
_DECODED: dict[str, bool] = {"decoded_json": True}


class CloudEvent(BaseModel):
    """One event as both services see it, independent of the Kafka record layout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: NonEmptyStr
    source: NonEmptyStr
    type: NonEmptyStr
    specversion: str = SPEC_VERSION
    time: UtcDatetime
    subject: NonEmptyStr
    dataschema: NonEmptyStr
    datacontenttype: str = CONTENT_TYPE
    sequence: Annotated[int, Field(strict=True, ge=1, le=MAX_SEQUENCE)]
    traceparent: str | None = None
    correlationid: str | None = None
    data: dict[str, Any]

    @field_validator("specversion")
    @classmethod
    def _check_specversion(cls, value: str) -> str:
        """Only CloudEvents 1.0 is understood by both services."""
        if value != SPEC_VERSION:
            raise ValueError(f"specversion must be {SPEC_VERSION!r}")
        return value

    @field_validator("datacontenttype")
    @classmethod
    def _check_content_type(cls, value: str) -> str:
        """The contract only defines JSON bodies."""
        if value != CONTENT_TYPE:
            raise ValueError(f"datacontenttype must be {CONTENT_TYPE!r}")
        return value

    @field_validator("data")
    @classmethod
    def _check_json(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Fail at construction, not at publish time, if the body cannot become JSON.

        A body `from_kafka` has just decoded (strictly: no NaN, no infinities, no duplicate
        keys) is JSON already and is not encoded again to prove it.
        """
        if info.context is _DECODED:
            return value
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"data must be JSON-serialisable: {exc}") from exc
        return value


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """Transport-neutral Kafka record, so the schema package needs no Kafka client."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        """Return the first header with this name, for assertions and routing."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def to_kafka(event: CloudEvent) -> KafkaRecord:
    """Encode in binary mode: key is the subject so one loan stays on one partition."""
    headers: list[tuple[str, bytes]] = [
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_specversion", event.specversion.encode()),
        ("ce_time", format_rfc3339(event.time).encode()),
        ("ce_subject", event.subject.encode()),
        ("ce_dataschema", event.dataschema.encode()),
        ("ce_sequence", str(event.sequence).encode()),
    ]
    if event.traceparent is not None:
        headers.append(("ce_traceparent", event.traceparent.encode()))
    if event.correlationid is not None:
        headers.append(("ce_correlationid", event.correlationid.encode()))
    headers.append(("content-type", event.datacontenttype.encode()))
    value = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return KafkaRecord(key=event.subject.encode(), value=value.encode(), headers=headers)


def _decode_headers(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """Collect ``ce_*`` and ``content-type`` headers, refusing duplicates and bad UTF-8."""
    found: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if not (name.startswith("ce_") or name == "content-type"):
            continue
        if name in found:
            raise EnvelopeError(f"header {name!r} appears more than once", code="duplicate_header")
        try:
            found[name] = bytes(raw_value).decode("utf-8")
        except (UnicodeDecodeError, TypeError) as exc:
            raise EnvelopeError(f"header {name!r} is not UTF-8 text", code="bad_header") from exc
    return found


def _decode_value(value: bytes | None) -> dict[str, Any]:
    """Decode the record value into a JSON object, refusing anything ambiguous."""
    if value is None:
        raise EnvelopeError("record has no value (tombstone)", code="missing_value")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeError("record value is not UTF-8", code="bad_encoding") from exc

    def _no_constants(name: str) -> Any:
        """NaN and Infinity are not JSON and would corrupt amounts."""
        raise ValueError(f"{name} is not valid JSON")

    def _finite(text: str) -> float:
        """A number too large for a float (1e999) would decode to an infinity."""
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{text} is out of range")
        return number

    def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        """Duplicate keys make the body ambiguous between parsers."""
        result = dict(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise ValueError(f"duplicate key {key!r}")
                seen.add(key)
        return result

    try:
        data = json.loads(
            text,
            parse_constant=_no_constants,
            parse_float=_finite,
            object_pairs_hook=_no_duplicates,
        )
    except ValueError as exc:
        raise EnvelopeError(f"record value is not valid JSON: {exc}", code="bad_json") from exc
    if not isinstance(data, dict):
        raise EnvelopeError(
            f"record value must be a JSON object, got {type(data).__name__}",
            code="not_an_object",
        )
    return data


def from_kafka(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> CloudEvent:
    """Decode a binary-mode record, raising :class:`EnvelopeError` on anything malformed."""
    found = _decode_headers(headers)
    if "ce_specversion" not in found:
        raise EnvelopeError("missing header 'ce_specversion'", code="missing_header")
    if found["ce_specversion"] != SPEC_VERSION:
        raise EnvelopeError(
            f"unsupported ce_specversion {found['ce_specversion']!r}", code="bad_specversion"
        )
    missing = [name for name in REQUIRED_HEADERS if name not in found]
    if missing:
        raise EnvelopeError(f"missing header(s) {', '.join(missing)}", code="missing_header")
    content_type = found.get("content-type", CONTENT_TYPE)
    if content_type.split(";", 1)[0].strip().lower() != CONTENT_TYPE:
        raise EnvelopeError(f"unsupported content-type {content_type!r}", code="bad_content_type")
    try:
        time: datetime = parse_rfc3339(found["ce_time"])
    except ValueError as exc:
        raise EnvelopeError(str(exc), code="bad_time") from exc
    if (
        _SEQUENCE_RE.fullmatch(found["ce_sequence"]) is None
        or int(found["ce_sequence"]) > MAX_SEQUENCE
    ):
        raise EnvelopeError(
            f"ce_sequence {found['ce_sequence']!r} is not a positive integer", code="bad_sequence"
        )
    data = _decode_value(value)
    attributes: dict[str, Any] = {
        "id": found["ce_id"],
        "source": found["ce_source"],
        "type": found["ce_type"],
        "specversion": found["ce_specversion"],
        "time": time,
        "subject": found["ce_subject"],
        "dataschema": found["ce_dataschema"],
        "datacontenttype": CONTENT_TYPE,
        "sequence": int(found["ce_sequence"]),
        "traceparent": found.get("ce_traceparent"),
        "correlationid": found.get("ce_correlationid"),
        "data": data,
    }
    try:
        return CloudEvent.model_validate(attributes, context=_DECODED)
    except ValidationError as exc:
        raise EnvelopeError(
            f"invalid CloudEvent attributes: {_summarise(exc)}", code="invalid_envelope"
        ) from exc


def _summarise(exc: ValidationError) -> str:
    """One-line summary of pydantic errors for logs and dead-letter reasons."""
    parts = []
    for error in exc.errors():
        loc = ".".join(str(item) for item in error["loc"]) or "<root>"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)
