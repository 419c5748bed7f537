"""W3C trace context propagation helpers: Kafka headers, HTTP headers, the current span."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

from servicekit.context import set_traceparent
from servicekit.settings import ServiceSettings
from servicekit.testing import memory_span_exporter
from servicekit.tracing import (
    build_tracer_provider,
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


class _CountingIds(IdGenerator):
    """Deterministic ids, so two providers can be compared span for span."""

    def __init__(self) -> None:
        self.next = 0

    def generate_span_id(self) -> int:
        self.next += 1
        return self.next

    def generate_trace_id(self) -> int:
        self.next += 1
        return (0xABC << 64) | self.next


def _contexts(provider: TracerProvider, parent: Context | None) -> list[SpanContext]:
    tracer = provider.get_tracer("test")
    found = []
    for name in ("first", "second"):
        with tracer.start_as_current_span(name, context=parent) as span:
            found.append(span.get_span_context())
            found.append(trace.get_current_span().get_span_context())
    return found


@pytest.mark.parametrize("ratio", [0.0, 1.0])
@pytest.mark.parametrize("remote_flags", [None, 0, 1])
def test_a_provider_nobody_reads_gives_the_sdks_ids_and_flags_without_recording(
    ratio: float, remote_flags: int | None
) -> None:
    """Against the plain SDK provider with the same sampler and ids: the same trace ids,
    span ids, flags and trace state, for root spans and children of a remote parent."""
    settings = ServiceSettings(trace_sample_ratio=ratio, otlp_endpoint=None)
    lean = build_tracer_provider(settings)
    sdk = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    lean.id_generator, sdk.id_generator = _CountingIds(), _CountingIds()
    parent = (
        None
        if remote_flags is None
        else set_span_in_context(
            NonRecordingSpan(
                SpanContext(TRACE_ID, SPAN_ID, is_remote=True, trace_flags=TraceFlags(remote_flags))
            )
        )
    )
    ours, theirs = _contexts(lean, parent), _contexts(sdk, parent)
    assert ours == theirs
    assert ours[0].trace_id == (TRACE_ID if parent else (0xABC << 64) | 1)
    sampled = ratio == 1.0 if remote_flags is None else remote_flags == 1
    assert ours[0].trace_flags.sampled is sampled
    span = lean.get_tracer("test").start_span("x", context=parent)
    assert not span.is_recording()


def test_spans_record_once_a_processor_is_added_even_on_tracers_taken_before() -> None:
    provider = build_tracer_provider(ServiceSettings(otlp_endpoint=None))
    tracer = provider.get_tracer("early")
    tracer.start_span("unseen").end()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer.start_as_current_span("seen", attributes={"k": "v"}) as span:
        assert span.is_recording()
        tracer.start_span("child").end()
    assert [s.name for s in exporter.get_finished_spans()] == ["child", "seen"]
    child, seen = exporter.get_finished_spans()
    assert child.parent is not None
    assert child.parent.span_id == seen.context.span_id
    assert seen.attributes == {"k": "v"}
