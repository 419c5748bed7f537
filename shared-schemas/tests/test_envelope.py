"""CloudEvents binary-mode encoding and every way decoding can refuse a record."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lending_schemas import envelope
from lending_schemas.envelope import REQUIRED_HEADERS, CloudEvent, KafkaRecord, from_kafka, to_kafka
from lending_schemas.errors import ENVELOPE_ERROR_CODES, ContractError, EnvelopeError


def _replace(headers, name, value):
    return [(k, value if k == name else v) for k, v in headers]


def _drop(headers, name):
    return [(k, v) for k, v in headers if k != name]


def test_to_kafka_layout(disbursed_event):
    record = to_kafka(disbursed_event)
    assert isinstance(record, KafkaRecord)
    assert record.key == b"LN-2024-000123"
    assert [name for name, _ in record.headers] == [
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_sequence",
        "ce_traceparent",
        "ce_correlationid",
        "content-type",
    ]
    assert record.header("ce_type") == b"lending.LoanDisbursed.v1"
    assert record.header("ce_time") == b"2024-05-01T09:30:05.123456Z"
    assert record.header("ce_sequence") == b"7"
    assert record.header("ce_dataschema") == b"urn:lending:schema:LoanDisbursed:1.2"
    assert record.header("content-type") == b"application/json"
    assert record.header("nope") is None
    assert b" " not in record.value.replace(b"\\u0020", b"")  # compact separators
    assert json.loads(record.value) == disbursed_event.data


def test_optional_headers_omitted_when_unset(disbursed_event):
    event = disbursed_event.model_copy(update={"traceparent": None, "correlationid": None})
    names = [name for name, _ in to_kafka(event).headers]
    assert "ce_traceparent" not in names
    assert "ce_correlationid" not in names
    back = from_kafka(to_kafka(event).value, to_kafka(event).headers)
    assert back.traceparent is None
    assert back.correlationid is None


def test_round_trip(disbursed_event):
    record = to_kafka(disbursed_event)
    assert from_kafka(record.value, record.headers) == disbursed_event


def test_record_is_frozen(disbursed_event):
    record = to_kafka(disbursed_event)
    with pytest.raises(AttributeError):
        record.key = b"x"  # type: ignore[misc]


def test_non_utc_time_normalised():
    event = CloudEvent(
        id="1",
        source="/los",
        type="t",
        time=datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        subject="s",
        dataschema="d",
        sequence=1,
        data={},
    )
    assert event.time == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert event.time.utcoffset() == timedelta(0)
    assert to_kafka(event).header("ce_time") == b"2024-05-01T10:00:00Z"


@pytest.mark.parametrize(
    "changes",
    [
        {"time": datetime(2024, 5, 1)},
        {"sequence": 0},
        {"sequence": "3"},
        {"specversion": "0.3"},
        {"id": ""},
        {"datacontenttype": "text/plain"},
        {"data": {"amount": float("nan")}},
        {"data": {"when": datetime(2024, 5, 1, tzinfo=UTC)}},
    ],
)
def test_cloud_event_rejects_bad_attributes(changes):
    fields = {
        "id": "1",
        "source": "/los",
        "type": "t",
        "time": datetime(2024, 5, 1, tzinfo=UTC),
        "subject": "s",
        "dataschema": "d",
        "sequence": 1,
        "data": {},
    } | changes
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic ValidationError is a ValueError
        CloudEvent(**fields)


def test_cloud_event_is_frozen(disbursed_event):
    with pytest.raises(ValueError):  # noqa: PT011
        disbursed_event.id = "other"


def test_duplicate_key_is_named(disbursed_event):
    headers = to_kafka(disbursed_event).headers
    with pytest.raises(EnvelopeError, match="duplicate key 'amount'"):
        from_kafka(b'{"x": 1, "amount": "1.00", "y": 2, "amount": "2.00"}', headers)


@pytest.mark.parametrize("missing", REQUIRED_HEADERS)
def test_missing_required_header(disbursed_event, missing):
    record = to_kafka(disbursed_event)
    with pytest.raises(EnvelopeError) as info:
        from_kafka(record.value, _drop(record.headers, missing))
    assert info.value.code == "missing_header"
    assert missing in str(info.value)


@pytest.mark.parametrize(
    ("value", "header", "header_value", "code"),
    [
        (None, None, None, "missing_value"),
        (b"\xff\xfe{}", None, None, "bad_encoding"),
        (b"{not json", None, None, "bad_json"),
        (b'{"a": NaN}', None, None, "bad_json"),
        (b'{"a": -Infinity}', None, None, "bad_json"),
        (b'{"a": [1.5, 1e999]}', None, None, "bad_json"),
        (b'{"a": {"b": -2E+400}}', None, None, "bad_json"),
        (b'{"a": 1, "a": 2}', None, None, "bad_json"),
        (b'{"a": {"b": 1, "c": 2, "b": 1}}', None, None, "bad_json"),
        (b"[1, 2]", None, None, "not_an_object"),
        (b'"text"', None, None, "not_an_object"),
        (b"null", None, None, "not_an_object"),
        (b"{}", "ce_specversion", b"0.3", "bad_specversion"),
        (b"{}", "ce_time", b"yesterday", "bad_time"),
        (b"{}", "ce_time", b"2024-05-01T10:00:00", "bad_time"),
        (b"{}", "ce_time", b"2024-13-01T10:00:00Z", "bad_time"),
        (b"{}", "ce_time", b"1714557600", "bad_time"),
        (b"{}", "ce_sequence", b"0", "bad_sequence"),
        (b"{}", "ce_sequence", b"-1", "bad_sequence"),
        (b"{}", "ce_sequence", b"01", "bad_sequence"),
        (b"{}", "ce_sequence", b"1.5", "bad_sequence"),
        (b"{}", "ce_sequence", b"", "bad_sequence"),
        (b"{}", "ce_sequence", b"99999999999999999999", "bad_sequence"),
        (b"{}", "ce_id", b"\xc3\x28", "bad_header"),
        (b"{}", "content-type", b"application/avro", "bad_content_type"),
        (b"{}", "ce_id", b"", "invalid_envelope"),
    ],
)
def test_envelope_error_cases(disbursed_event, value, header, header_value, code):
    headers = to_kafka(disbursed_event).headers
    if header is not None:
        headers = _replace(headers, header, header_value)
    with pytest.raises(EnvelopeError) as info:
        from_kafka(value, headers)
    assert info.value.code == code
    assert isinstance(info.value, ContractError)


def test_duplicate_header(disbursed_event):
    record = to_kafka(disbursed_event)
    with pytest.raises(EnvelopeError) as info:
        from_kafka(record.value, [*record.headers, ("ce_type", b"lending.Other.v1")])
    assert info.value.code == "duplicate_header"


def test_every_envelope_code_is_exercised():
    # Keep this list in step with the parametrised cases above.
    exercised = {
        "missing_header",
        "duplicate_header",
        "bad_header",
        "missing_value",
        "bad_encoding",
        "bad_json",
        "not_an_object",
        "bad_specversion",
        "bad_time",
        "bad_sequence",
        "bad_content_type",
        "invalid_envelope",
    }
    assert exercised == ENVELOPE_ERROR_CODES


def test_unknown_code_refused():
    with pytest.raises(ValueError, match="unknown envelope error code"):
        EnvelopeError("x", code="whatever")


def test_lenient_but_safe_reading(disbursed_event):
    record = to_kafka(disbursed_event)
    headers = [(k.upper(), v) for k, v in record.headers if k != "content-type"]
    headers.append(("content-type", b"application/json; charset=utf-8"))
    headers.append(("x-other", b"\xff"))  # foreign headers are ignored
    headers.append(("ce_unknownext", b"kept-out"))
    headers = _replace(headers, "CE_TIME", b"2024-05-01t11:30:05.1234567+02:00")
    event = from_kafka(record.value, headers)
    assert event.time == datetime(2024, 5, 1, 9, 30, 5, 123456, tzinfo=UTC)
    assert event.data == disbursed_event.data


_text = st.text(min_size=1, max_size=40)


@settings(max_examples=75, deadline=None)
@given(
    event_id=_text,
    source=_text,
    subject=_text,
    sequence=st.integers(min_value=1, max_value=2**62),
    time=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    traceparent=st.none() | _text,
    data=st.dictionaries(
        st.text(max_size=10),
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        max_size=5,
    ),
)
def test_round_trip_property(event_id, source, subject, sequence, time, traceparent, data):
    event = CloudEvent(
        id=event_id,
        source=source,
        type="lending.LoanDisbursed.v1",
        time=time,
        subject=subject,
        dataschema="urn:lending:schema:LoanDisbursed:1.0",
        sequence=sequence,
        traceparent=traceparent,
        data=data,
    )
    record = to_kafka(event)
    assert record.key == subject.encode()
    assert from_kafka(record.value, record.headers) == event


def test_a_decoded_body_is_not_encoded_again_but_a_built_one_is(disbursed_event, monkeypatch):
    """from_kafka's body is JSON by construction (the cases above); an event built in code
    is still proven serialisable when it is made."""
    record = to_kafka(disbursed_event)
    encoded: list[object] = []
    real_dumps = envelope.json.dumps

    def counting_dumps(value, *args, **kwargs):
        encoded.append(value)
        return real_dumps(value, *args, **kwargs)

    monkeypatch.setattr(envelope.json, "dumps", counting_dumps)
    assert from_kafka(record.value, record.headers) == disbursed_event
    assert encoded == []
    with pytest.raises(ValidationError, match="JSON-serialisable"):
        CloudEvent.model_validate(disbursed_event.model_dump() | {"data": {"a": float("inf")}})
    assert len(encoded) == 1
