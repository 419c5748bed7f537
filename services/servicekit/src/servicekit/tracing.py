"""OpenTelemetry tracing: one trace from an HTTP request through the outbox and Kafka.

The W3C trace context travels three ways:

- over HTTP in the `traceparent`/`tracestate` request headers, which FastAPI's own
  OpenTelemetry support extracts, running each request in a server span (the services turn
  off its per-dependency operation spans and leave out health probes and metric scrapes);
- in the outbox row's `headers`, captured when the event is staged, so the relay, which
  publishes later and in another task, continues the trace of the work that wrote it;
- on Kafka as `traceparent`/`tracestate` record headers that the relay sets from its
  publish span; the consumer extracts them and applies the event in a child span. The
  CloudEvents `ce_traceparent` attribute keeps the context in which the event was created.

Spans are recorded by the OpenTelemetry SDK; they are exported over OTLP/HTTP only when an
endpoint is configured (`<SERVICE>_OTLP_ENDPOINT`, or the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). Until something
consumes spans (an exporter, or a processor a test adds) the provider hands out spans that
carry the same trace and span ids and the same sampling flags but record nothing, so the
trace context still travels and logs still name it, without the cost of building spans
nobody reads.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Span, SpanContext, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit.context import get_traceparent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from servicekit.settings import ServiceSettings

logger = logging.getLogger("servicekit.tracing")

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
#: The CloudEvents distributed-tracing attribute, as a Kafka header (binary mode).
CE_TRACEPARENT = "ce_traceparent"
_TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})
_PROPAGATOR = TraceContextTextMapPropagator()
INSTRUMENTATION = "servicekit"

HeaderValue = bytes | str


class _HeaderGetter(Getter[Sequence[tuple[str, HeaderValue]]]):
    """Reads W3C fields from Kafka-style (name, value) header pairs.

    `traceparent` wins; without it the CloudEvents `ce_traceparent` attribute is used, so
    a record written by a producer that set only the CloudEvents attribute still joins.
    """

    def get(self, carrier: Sequence[tuple[str, HeaderValue]], key: str) -> list[str] | None:
        values = [_text(v) for k, v in carrier if k.lower() == key]
        if not values and key == TRACEPARENT:
            values = [_text(v) for k, v in carrier if k.lower() == CE_TRACEPARENT]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, HeaderValue]]) -> list[str]:
        return [k for k, _ in carrier]


class _HeaderSetter(Setter[list[tuple[str, bytes]]]):
    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier.append((key, value.encode("latin-1")))


class _MappingGetter(Getter[dict[str, str]]):
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if value else None

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()
_SETTER = _HeaderSetter()


def _text(value: HeaderValue) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


def get_tracer(service: str) -> Tracer:
    """The tracer a service's infrastructure records its spans with."""
    return trace.get_tracer(f"{INSTRUMENTATION}.{service}")


def extract_context(headers: Sequence[tuple[str, HeaderValue]]) -> Context:
    """The remote trace context carried by Kafka (or outbox) headers; empty if none or invalid."""
    return _PROPAGATOR.extract(headers, getter=_GETTER)


def extract_http_context(traceparent: str | None, tracestate: str | None = None) -> Context:
    """The remote trace context of an HTTP request's W3C headers."""
    carrier = {k: v for k, v in ((TRACEPARENT, traceparent), (TRACESTATE, tracestate)) if v}
    return _PROPAGATOR.extract(carrier, getter=_MappingGetter())


def inject_headers(
    headers: Iterable[tuple[str, bytes]], context: Context | None = None
) -> list[tuple[str, bytes]]:
    """The headers with `traceparent`/`tracestate` replaced by `context` (default: current)."""
    kept = [(k, v) for k, v in headers if k.lower() not in _TRACE_HEADERS]
    _PROPAGATOR.inject(kept, context=context, setter=_SETTER)
    return kept


def format_traceparent(span_context: SpanContext) -> str | None:
    """A W3C traceparent for a span context, or None if it is not valid."""
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def span_traceparent(span: Span) -> str | None:
    """The traceparent that makes a span the parent of remote work."""
    return format_traceparent(span.get_span_context())


def current_span_traceparent() -> str | None:
    """The active span's traceparent, if a span is active."""
    return format_traceparent(trace.get_current_span().get_span_context())


def tag_current_span(key: str, value: str | int) -> None:
    """Set an attribute on the active span, if it records."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute(key, value)


def current_traceparent() -> str | None:
    """The active span's traceparent; else the one bound to the task (a remote caller's)."""
    return format_traceparent(trace.get_current_span().get_span_context()) or get_traceparent()


def current_trace_headers() -> list[tuple[str, str]]:
    """The current W3C fields as text header pairs (what the outbox stores at stage time)."""
    carrier: list[tuple[str, bytes]] = []
    _PROPAGATOR.inject(carrier, setter=_SETTER)
    if not carrier:
        fallback = get_traceparent()
        return [(TRACEPARENT, fallback)] if fallback else []
    return [(k, v.decode("latin-1")) for k, v in carrier]


@functools.cache
def _lean_provider_class() -> type[TracerProvider]:
    """The SDK provider that records spans only once a span processor is added (built lazily,
    like the SDK import in `configure_tracing`)."""
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    class LeanTracerProvider(SdkTracerProvider):
        """Records spans once a processor consumes them; until then hands out propagating,
        non-recording spans with the ids and sampling flags the SDK would have given."""

        recording = False

        def add_span_processor(self, span_processor: SpanProcessor) -> None:
            super().add_span_processor(span_processor)
            self.recording = True

        def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
            return _LeanTracer(self, super().get_tracer(*args, **kwargs))

    return LeanTracerProvider


class _LeanTracer(Tracer):
    """The SDK tracer while its provider records; a context-only span maker before."""

    def __init__(self, provider: Any, inner: Tracer) -> None:
        self._provider = provider
        self._inner = inner

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        provider = self._provider
        if provider.recording:
            return self._inner.start_span(
                name,
                context,
                kind,
                attributes,
                links,
                start_time,
                record_exception,
                set_status_on_exception,
            )
        parent = trace.get_current_span(context).get_span_context()
        ids = provider.id_generator
        if parent.is_valid:
            trace_id, random_id = parent.trace_id, parent.trace_flags.random_trace_id
        else:
            trace_id, random_id = ids.generate_trace_id(), ids.is_trace_id_random()
        decided = provider.sampler.should_sample(context, trace_id, name, kind, attributes, links)
        flags = trace.TraceFlags.SAMPLED if decided.decision.is_sampled() else 0
        if random_id:
            flags |= trace.TraceFlags.RANDOM_TRACE_ID
        span_context = SpanContext(
            trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=trace.TraceFlags(flags),
            trace_state=decided.trace_state,
        )
        return trace.NonRecordingSpan(span_context)

    # The API declares its own context-manager type here (OpenTelemetry's private
    # `_agnosticcontextmanager`); a standard one behaves the same for `with` and decorators.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(
            name,
            context,
            kind,
            attributes,
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


def otlp_endpoint(settings: ServiceSettings) -> str | None:
    """Where spans go: the service setting, else the standard OpenTelemetry variables."""
    return (
        settings.otlp_endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or _with_traces_path(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    )


def _with_traces_path(base: str | None) -> str | None:
    if not base:
        return None
    return base if base.rstrip("/").endswith("/v1/traces") else base.rstrip("/") + "/v1/traces"


def configure_tracing(settings: ServiceSettings) -> TracerProvider | None:
    """Install the SDK tracer provider for this process, once; exporter only if configured.

    A provider already installed (by a test, or by `opentelemetry-instrument`) is kept.
    With tracing off the API's no-op tracer is used: incoming trace contexts still pass
    through to events, but no spans are recorded.
    """
    from opentelemetry.sdk.trace import TracerProvider

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    if not settings.tracing_enabled:
        return None
    provider = build_tracer_provider(settings)
    trace.set_tracer_provider(provider)
    return provider


def build_tracer_provider(settings: ServiceSettings) -> TracerProvider:
    """The service's provider: sampled by `trace_sample_ratio` (a parent's decision wins),
    exporting over OTLP when an endpoint is configured, recording nothing until then."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = _lean_provider_class()(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
    )
    endpoint = otlp_endpoint(settings)
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        logger.info("exporting traces to %s", endpoint)
    return provider
