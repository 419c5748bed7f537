"""Request context, size limit and HTTP metrics as plain ASGI middleware."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import metrics
from servicekit.context import (
    clean_correlation_id,
    clean_traceparent,
    set_correlation_id,
    set_traceparent,
)
from servicekit.errors import problem_response
from servicekit.tracing import current_span_traceparent, tag_current_span


class RequestContextMiddleware:
    """Binds a correlation id and traceparent, limits body size, records metrics."""

    def __init__(self, app: ASGIApp, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        correlation_id = clean_correlation_id(
            (headers.get(b"x-correlation-id") or b"").decode("latin-1") or None
        )
        set_correlation_id(correlation_id)
        # FastAPI's own OpenTelemetry support has already opened the request's server span
        # (the child of the caller's `traceparent`); what the request stages carries it.
        incoming = clean_traceparent((headers.get(b"traceparent") or b"").decode("latin-1"))
        set_traceparent(current_span_traceparent() or incoming)
        tag_current_span("correlation_id", correlation_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await problem_response(
                413,
                "payload_too_large",
                f"Request bodies are limited to {self.max_body_bytes} bytes.",
            )(scope, receive, send)
            self._record(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _TooLarge
            return message

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-correlation-id", correlation_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, limited_receive, tagged_send)
        except _TooLarge:
            status_holder["status"] = 413
            await problem_response(
                413,
                "payload_too_large",
                f"Request bodies are limited to {self.max_body_bytes} bytes.",
            )(scope, receive, send)
        finally:
            self._record(scope, status_holder["status"], started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        metrics.HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
        metrics.HTTP_LATENCY.labels(self.service, method, template).observe(
            time.perf_counter() - started
        )


class _TooLarge(Exception):
    """The body grew past the limit while streaming."""
