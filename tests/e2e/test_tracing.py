"""One trace follows an application from the LOS HTTP request to the LMS booking and back.

Both services run in this process (their apps, relays and consumers, on fresh migrated
databases) so that one in-memory span exporter sees every span; the broker between them is
a real one. The trace is read off the exported spans: the disbursement's HTTP span, the LOS
relay's publish span, the LMS consumer's span that books the loan, the LMS relay's publish
of LoanBooked and the LOS consumer's span that records it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from lms.bootstrap import build_app as build_lms
from lms.settings import LmsSettings
from los.bootstrap import build_app as build_los
from los.settings import LosSettings
from servicekit.auth import issue_token
from servicekit.broker import TansuBroker
from servicekit.settings import DEVELOPMENT_SECRET
from servicekit.testing import DatabaseFactory, backends, database_factories, memory_span_exporter
from tests.e2e.journey import APPLICANT

DISBURSED = "lending.loan-disbursed.v1"
BOOKED = "lending.loan-booked.v1"


@pytest.fixture(scope="module")
def factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("trace-db")
    (workdir / "los").mkdir()
    (workdir / "lms").mkdir()
    los = database_factories("los:migrations", workdir / "los")
    lms = database_factories("lms:migrations", workdir / "lms")
    yield {"los": next(los), "lms": next(lms)}
    for gen in (los, lms):
        for _ in gen:
            pass


@pytest.fixture(params=backends())
def urls(request: pytest.FixtureRequest, factories: dict[str, Any]) -> Iterator[dict[str, str]]:
    made: dict[str, tuple[DatabaseFactory, str]] = {}
    for service in ("los", "lms"):
        factory = factories[service][request.param]
        made[service] = (factory, factory.new_database())
    yield {service: url for service, (_, url) in made.items()}
    for factory, url in made.values():
        factory.drop(url)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log_file=tmp_path / "broker.log") as running:
        yield running


@pytest.fixture
async def platform(
    urls: dict[str, str], broker: TansuBroker, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    common: dict[str, Any] = {
        "run_workers": False,
        "environment": "test",
        "kafka_bootstrap_servers": broker.bootstrap_servers,
        "relay_poll_interval_s": 0.2,
        "log_json": False,
    }
    los = build_los(LosSettings(database_url=urls["los"], document_dir=tmp_path / "docs", **common))
    lms = build_lms(LmsSettings(database_url=urls["lms"], **common))
    runtimes = [lms.state.runtime, los.state.runtime]
    for runtime in runtimes:
        await runtime.start_workers()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=los), base_url="http://los"
        ) as client:
            yield client
    finally:
        for runtime in runtimes:
            await runtime.close()


def _headers(role: str, sub: str) -> dict[str, str]:
    token = issue_token(DEVELOPMENT_SECRET, sub, [role])
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}


async def _post(client: httpx.AsyncClient, path: str, role: str, sub: str, **kw: Any) -> Any:
    response = await client.post(path, headers=_headers(role, sub), **kw)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def _disburse_one(client: httpx.AsyncClient) -> tuple[str, str]:
    agent = ("applicant_agent", "agent-ann")
    applicant = await _post(
        client,
        "/v1/applicants",
        *agent,
        json={**APPLICANT, "national_id": f"AB{uuid.uuid4().int % 10**6:06d}C"},
    )
    application = await _post(
        client,
        "/v1/applications",
        *agent,
        json={
            "applicant_id": applicant["id"],
            "product_code": "PL-STD",
            "requested_amount": "12000.00",
            "currency": "USD",
            "term": 24,
            "purpose": "home improvement",
            "monthly_income": APPLICANT["monthly_income"],
            "monthly_obligations": "300.00",
        },
    )
    app_id = application["id"]
    decided = await _post(client, f"/v1/applications/{app_id}/submit", *agent)
    assert decided["status"] == "approved", decided
    await _post(client, f"/v1/applications/{app_id}/offer/accept", *agent)
    disbursed = await _post(
        client, f"/v1/applications/{app_id}/disburse", "credit_manager", "cm-cleo"
    )
    return app_id, disbursed["loan_id"]


async def _wait_booked(client: httpx.AsyncClient, app_id: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        response = await client.get(
            f"/v1/applications/{app_id}", headers=_headers("credit_manager", "cm-cleo")
        )
        if (response.json().get("handoff") or {}).get("booked_at"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"application {app_id} was not booked within {timeout_s}s")


async def _wait_span(exporter: Any, predicate: Any, timeout_s: float = 10.0) -> ReadableSpan:
    """Spans end a moment after the state they describe commits; wait for the one wanted."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = [s for s in exporter.get_finished_spans() if predicate(s)]
        if found:
            span: ReadableSpan = found[0]
            return span
        if asyncio.get_running_loop().time() > deadline:
            seen = [
                (s.name, s.kind, hex(_ids(s)[0]), _parent_of(s))
                for s in exporter.get_finished_spans()
            ]
            raise AssertionError(f"span not exported in time: {seen}")
        await asyncio.sleep(0.05)


def _attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def _scope(span: ReadableSpan) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope else None


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _ids(span: ReadableSpan) -> tuple[int, int]:
    assert span.context is not None
    return span.context.trace_id, span.context.span_id


async def test_one_trace_from_http_disbursement_to_booking_and_back(
    platform: httpx.AsyncClient,
) -> None:
    exporter = memory_span_exporter()
    app_id, loan_id = await _disburse_one(platform)
    await _wait_booked(platform, app_id)

    http = await _wait_span(
        exporter,
        lambda s: (
            s.kind is SpanKind.SERVER
            and _attr(s, "http.route") == "/v1/applications/{application_id}/disburse"
        ),
    )
    trace_id, http_span_id = _ids(http)

    def in_trace(kind: SpanKind, name: str) -> Any:
        return lambda s: s.kind is kind and s.name == name and _ids(s)[0] == trace_id

    published = await _wait_span(exporter, in_trace(SpanKind.PRODUCER, f"{DISBURSED} publish"))
    booked = await _wait_span(exporter, in_trace(SpanKind.CONSUMER, f"{DISBURSED} process"))
    answered = await _wait_span(exporter, in_trace(SpanKind.PRODUCER, f"{BOOKED} publish"))
    recorded = await _wait_span(exporter, in_trace(SpanKind.CONSUMER, f"{BOOKED} process"))

    # The relay publishes in the trace of the request that staged the event...
    assert _parent_of(published) == http_span_id
    assert _attr(published, "messaging.kafka.message.key") == loan_id
    # ...the LMS books the loan in a child of that publish span...
    assert _parent_of(booked) == _ids(published)[1]
    assert _attr(booked, "outcome") == "processed"
    # ...its LoanBooked answer leaves in a child of the booking span...
    assert _parent_of(answered) == _ids(booked)[1]
    assert _attr(answered, "messaging.kafka.message.key") == loan_id
    # ...and the LOS records it in the same trace.
    assert _parent_of(recorded) == _ids(answered)[1]
    assert _attr(recorded, "outcome") == "processed"
    # Each service recorded its own part.
    assert {_scope(s) for s in (published, recorded)} == {"servicekit.los"}
    assert {_scope(s) for s in (booked, answered)} == {"servicekit.lms"}


async def test_metrics_show_the_handoff(platform: httpx.AsyncClient) -> None:
    """/metrics: handoff lag, relay publishes, outbox gauges, lag per partition, outcomes."""
    await _wait_booked(platform, (await _disburse_one(platform))[0])
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families((await platform.get("/metrics")).text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def value(name: str, **labels: str) -> float:
        return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())

    handoff = {"service": "lms", "topic": DISBURSED, "event_type": "lending.LoanDisbursed.v1"}
    assert value("event_handoff_lag_seconds_count", **handoff) >= 1
    assert value("outbox_published_total", service="los", topic=DISBURSED) >= 1
    assert value("outbox_published_total", service="lms", topic=BOOKED) >= 1
    assert value("events_consumed_total", service="lms", outcome="processed") >= 1
    assert "outbox_pending" in samples
    assert "outbox_oldest_pending_age_seconds" in samples
    partitions = {
        labels["partition"]
        for labels, _ in samples.get("consumer_lag", [])
        if labels["service"] == "lms" and labels["topic"] == DISBURSED
    }
    assert partitions


async def test_a_caller_traceparent_is_continued(platform: httpx.AsyncClient) -> None:
    exporter = memory_span_exporter()
    caller_trace = uuid.uuid4().int & ((1 << 128) - 1) or 1
    caller = f"00-{caller_trace:032x}-{'1' * 16}-01"
    response = await platform.get(
        "/v1/products", headers={**_headers("applicant_agent", "a"), "traceparent": caller}
    )
    assert response.status_code == 200
    span = await _wait_span(
        exporter, lambda s: s.kind is SpanKind.SERVER and _attr(s, "http.route")
    )
    assert _ids(span)[0] == caller_trace
    assert _parent_of(span) == int("1" * 16, 16)
