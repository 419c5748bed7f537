"""Trace context through the outbox, the relay and the inbox; the handoff-lag histogram."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import CloudEvent, LoanDisbursedV1, make_event, to_kafka
from lending_schemas.examples import example_loan_disbursed_v1
from servicekit.broker import TansuBroker
from servicekit.db import UnitOfWorkFactory
from servicekit.inbox import InboxProcessor, Message, PermanentError
from servicekit.kafka import ensure_topics, make_producer
from servicekit.metrics import REGISTRY
from servicekit.outbox import OutboxRelay, stage_event, stage_events, utcnow
from servicekit.settings import ServiceSettings
from servicekit.tables import OUTBOX
from servicekit.testing import memory_span_exporter
from servicekit.tracing import format_traceparent, get_tracer

TOPIC = "lending.loan-disbursed.v1"


def _caller(n: int) -> tuple[int, int, str]:
    trace_id, span_id = 0xABC0 + n, 0x1230 + n
    return trace_id, span_id, f"00-{trace_id:032x}-{span_id:016x}-01"


def _message(loan_id: str, offset: int, traceparent: str | None = None, **kw: Any) -> Message:
    event = make_event(
        example_loan_disbursed_v1(loan_id=loan_id),
        source="/los",
        subject=loan_id,
        sequence=1,
        **kw,
    )
    record = to_kafka(event)
    headers = list(record.headers)
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return Message(TOPIC, 0, offset, record.key, record.value, headers)


async def _ignore(session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent) -> None:
    return None


async def _no_dead_letters(message: Message, code: str, reason: str, attempts: int) -> None:
    return None


def _lag(service: str, stat: str) -> float:
    labels = {"service": service, "topic": TOPIC, "event_type": "lending.LoanDisbursed.v1"}
    return REGISTRY.get_sample_value(f"event_handoff_lag_seconds_{stat}", labels) or 0.0


async def test_handoff_lag_is_observed_once_per_applied_event(
    uow_factory: UnitOfWorkFactory,
) -> None:
    processor = InboxProcessor(
        "lag-probe", uow_factory, {"LoanDisbursed": _ignore}, dead_letter=_no_dead_letters
    )
    message = _message("LAG-1", 0, time=utcnow() - timedelta(seconds=30))
    count, total = _lag("lag-probe", "count"), _lag("lag-probe", "sum")
    assert await processor.process(message) == "processed"
    assert await processor.process(message) == "duplicate"
    assert _lag("lag-probe", "count") == count + 1
    assert _lag("lag-probe", "sum") - total >= 30
    # A batch observes each event it applies.
    batch = [_message(f"LAG-B{i}", 10 + i, time=utcnow() - timedelta(seconds=60)) for i in (1, 2)]
    assert await processor.process_batch(batch) == ["processed", "processed"]
    assert _lag("lag-probe", "count") == count + 3
    assert _lag("lag-probe", "sum") - total >= 150


async def test_retries_and_dead_letters_are_counted(uow_factory: UnitOfWorkFactory) -> None:
    failures = [RuntimeError("flaky"), PermanentError("loan_conflict", "no")]

    async def flaky(session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent) -> None:
        raise failures.pop(0)

    service = f"count-probe-{uuid.uuid4().hex[:8]}"
    processor = InboxProcessor(
        service,
        uow_factory,
        {"LoanDisbursed": flaky},
        dead_letter=_no_dead_letters,
        backoff_initial_s=0.0,
    )

    def sample(name: str, **labels: str) -> float:
        found = REGISTRY.get_sample_value(name, {"service": service, "topic": TOPIC, **labels})
        return found or 0.0

    assert await processor.process(_message("CNT-1", 0)) == "dead_lettered"
    assert sample("events_retried_total") == 1
    assert (
        sample(
            "events_consumed_total", event_type="lending.LoanDisbursed.v1", outcome="dead_lettered"
        )
        == 1
    )


async def test_consumer_span_is_a_child_of_the_record_context(
    uow_factory: UnitOfWorkFactory,
) -> None:
    exporter = memory_span_exporter()
    trace_id, span_id, parent = _caller(1)
    processor = InboxProcessor(
        "span-probe", uow_factory, {"LoanDisbursed": _ignore}, dead_letter=_no_dead_letters
    )
    assert await processor.process(_message("SPAN-1", 5, parent)) == "processed"
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert span.context is not None
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == (trace_id, span_id)
    assert span.attributes is not None
    assert span.attributes["outcome"] == "processed"
    assert span.attributes["messaging.kafka.offset"] == 5


async def test_dead_lettered_record_ends_its_span_in_error(uow_factory: UnitOfWorkFactory) -> None:
    exporter = memory_span_exporter()

    async def refuse(session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent) -> None:
        raise PermanentError("loan_conflict", "different terms")

    processor = InboxProcessor(
        "span-probe", uow_factory, {"LoanDisbursed": refuse}, dead_letter=_no_dead_letters
    )
    assert await processor.process(_message("SPAN-2", 6, _caller(2)[2])) == "dead_lettered"
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert span.status.status_code is StatusCode.ERROR


async def test_a_batch_stages_each_answer_in_its_own_events_trace(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """What a batch handler stages per aggregate continues that aggregate's trace."""
    exporter = memory_span_exporter()

    async def answer_each(
        session: AsyncSession, items: Sequence[tuple[LoanDisbursedV1, CloudEvent]]
    ) -> None:
        await stage_events(
            session,
            [(example_loan_disbursed_v1(loan_id=m.loan_id), m.loan_id) for m, _ in items],
            source="/probe",
        )

    processor = InboxProcessor(
        "batch-probe",
        uow_factory,
        {"LoanDisbursed": _ignore},
        dead_letter=_no_dead_letters,
        batch_handlers={"LoanDisbursed": answer_each},
    )
    callers = {f"BATCH-{n}": _caller(10 + n) for n in range(3)}
    messages = [_message(loan, 20 + n, tp) for n, (loan, (_, _, tp)) in enumerate(callers.items())]
    assert await processor.process_batch(messages) == ["processed"] * 3

    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    by_trace = {s.context.trace_id: s for s in spans if s.context is not None}
    assert set(by_trace) == {trace_id for trace_id, _, _ in callers.values()}
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(OUTBOX.c.aggregate_id, OUTBOX.c.headers, OUTBOX.c.payload).where(
                    OUTBOX.c.aggregate_id.in_(list(callers))
                )
            )
        ).all()
    assert len(rows) == 3
    for loan_id, headers, _ in rows:
        trace_id, span_id, _ = callers[loan_id]
        consumer_span = by_trace[trace_id]
        assert consumer_span.parent is not None
        assert consumer_span.parent.span_id == span_id
        stored = dict((k, v) for k, v in headers)
        assert consumer_span.context is not None
        expected = format_traceparent(consumer_span.context)
        assert stored["traceparent"] == expected
        assert stored["ce_traceparent"] == expected


async def test_relay_publishes_in_the_staging_trace_and_carries_its_own_span(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    exporter = memory_span_exporter()
    await ensure_topics(broker.bootstrap_servers)
    with get_tracer("probe").start_as_current_span("disburse") as request_span:
        async with uow_factory() as uow:
            await stage_event(
                uow.session,
                example_loan_disbursed_v1(loan_id="REL-1"),
                source="/los",
                subject="REL-1",
            )
            await uow.commit()
    staged = request_span.get_span_context()

    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    relay = OutboxRelay("relay-probe", uow_factory.session_factory, lambda: make_producer(settings))
    producer = make_producer(settings)
    await producer.start()
    try:
        assert await relay.publish_pending(producer) == 1
    finally:
        await producer.stop()

    (publish,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert publish.context is not None
    assert publish.parent is not None
    assert publish.context.trace_id == staged.trace_id
    assert publish.parent.span_id == staged.span_id

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    try:
        record = None
        for _ in range(50):
            batch = await consumer.getmany(timeout_ms=200)
            found = [r for records in batch.values() for r in records]
            if found:
                record = found[0]
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    assert record is not None
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["traceparent"] == format_traceparent(publish.context)
    assert headers["ce_traceparent"] == format_traceparent(staged)
