"""W3C trace context propagation helpers: Kafka headers, HTTP headers, the current span."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from servicekit.context import set_traceparent
from servicekit.settings import ServiceSettings
from servicekit.testing import memory_span_exporter
from servicekit.tracing import (
    current_trace_headers,
    current_traceparent,
    extract_context,
    extract_http_context,
    format_traceparent,
    get_tracer,
    inject_headers,
    otlp_endpoint,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
PARENT = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"


def _remote(trace_id: int = TRACE_ID, span_id: int = SPAN_ID) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))


def _span_context_of(headers: list[tuple[str, bytes]]) -> SpanContext:
    return trace.get_current_span(extract_context(headers)).get_span_context()


def test_inject_then_extract_round_trips_the_context() -> None:
    context = set_span_in_context(NonRecordingSpan(_remote()))
    headers = inject_headers([("ce_id", b"e-1")], context)
    assert ("traceparent", PARENT.encode()) in headers
    assert ("ce_id", b"e-1") in headers
    found = _span_context_of(headers)
    assert (found.trace_id, found.span_id, found.is_remote) == (TRACE_ID, SPAN_ID, True)


def test_inject_replaces_a_stale_traceparent_and_keeps_one() -> None:
    stale = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), ("k", b"v")]
    headers = inject_headers(stale, set_span_in_context(NonRecordingSpan(_remote())))
    assert [v for k, v in headers if k == "traceparent"] == [PARENT.encode()]
    assert ("k", b"v") in headers


def test_traceparent_header_wins_over_the_cloudevents_attribute() -> None:
    other = f"00-{'a' * 32}-{'b' * 16}-01"
    headers = [("ce_traceparent", other.encode()), ("traceparent", PARENT.encode())]
    assert _span_context_of(headers).span_id == SPAN_ID


def test_cloudevents_attribute_is_the_fallback() -> None:
    assert _span_context_of([("ce_traceparent", PARENT.encode())]).trace_id == TRACE_ID


@pytest.mark.parametrize(
    "value",
    [b"nonsense", b"00-" + b"0" * 32 + b"-" + b"1" * 16 + b"-01", b""],
)
def test_invalid_or_missing_context_extracts_nothing(value: bytes) -> None:
    assert not _span_context_of([("traceparent", value)]).is_valid
    assert not _span_context_of([]).is_valid


def test_http_context_carries_tracestate() -> None:
    context = extract_http_context(PARENT, "vendor=1")
    span_context = trace.get_current_span(context).get_span_context()
    assert span_context.trace_id == TRACE_ID
    assert span_context.trace_state.get("vendor") == "1"


def test_format_traceparent_of_an_invalid_context_is_none() -> None:
    assert format_traceparent(trace.INVALID_SPAN_CONTEXT) is None
    assert format_traceparent(_remote()) == PARENT


def test_current_traceparent_prefers_the_active_span_then_the_bound_one() -> None:
    memory_span_exporter()
    set_traceparent(PARENT)
    try:
        assert current_traceparent() == PARENT
        assert current_trace_headers() == [("traceparent", PARENT)]
        with get_tracer("test").start_as_current_span("work") as span:
            own = span.get_span_context()
            assert current_traceparent() == format_traceparent(own)
            assert current_trace_headers()[0] == ("traceparent", format_traceparent(own))
    finally:
        set_traceparent(None)
    assert current_traceparent() is None
    assert current_trace_headers() == []


def test_a_child_span_under_an_extracted_context_joins_the_remote_trace() -> None:
    exporter = memory_span_exporter()
    parent = extract_context([("traceparent", PARENT.encode())])
    get_tracer("test").start_span("child", context=parent).end()
    (span,) = exporter.get_finished_spans()
    assert span.context is not None
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (TRACE_ID, SPAN_ID)


def test_otlp_endpoint_setting_then_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert otlp_endpoint(ServiceSettings()) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")
    assert otlp_endpoint(ServiceSettings()) == "http://127.0.0.1:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/t")
    assert otlp_endpoint(ServiceSettings()) == "http://127.0.0.1:9/t"
    explicit = ServiceSettings(otlp_endpoint="http://127.0.0.1:4318/v1/traces")
    assert otlp_endpoint(explicit) == "http://127.0.0.1:4318/v1/traces"
