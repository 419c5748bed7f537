"""Inbox consumer: apply each event once, commit offsets after, dead-letter what cannot apply."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import (
    CloudEvent,
    ContractError,
    EventModel,
    from_kafka,
    get_topic,
    parse_event,
)
from servicekit import metrics
from servicekit.context import (
    bind_subject_contexts,
    set_correlation_id,
    set_traceparent,
    unbind_subject_contexts,
)
from servicekit.db import UnitOfWork, UnitOfWorkFactory, is_transient_db_error, one_of
from servicekit.faults import CONSUMER_AFTER_COMMIT, crash_point
from servicekit.outbox import utcnow
from servicekit.tables import DEAD_LETTERS, INBOX
from servicekit.tracing import extract_context, get_tracer, span_traceparent

logger = logging.getLogger("servicekit.inbox")
REWIND_WINDOW_S = 60.0
"""After a broker loss, partitions assigned within this many seconds are read from the start."""

# How often the consumer loop refreshes its lag gauge, and how long it may wait for it
# (the broker may be gone: consuming goes on without the gauge).
LAG_REFRESH_S = 1.0
LAG_TIMEOUT_S = 5.0

Handler = Callable[[AsyncSession, Any, CloudEvent], Awaitable[None]]
# Applies several events of one type in the caller's transaction (a fetched batch).
BatchHandler = Callable[[AsyncSession, Sequence[tuple[Any, CloudEvent]]], Awaitable[None]]


class PermanentError(Exception):
    """An event that can never be applied as it is (a business rule says no)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Message:
    """What the consumer needs of one Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class ConsumerStats:
    """Counts a consumer keeps for health checks and tests."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    last_message_at: datetime | None = None


class InboxProcessor:
    """Applies one record: parse, de-duplicate, handle and record it in one transaction.

    Transient failures (database unreachable) are retried with backoff for as long
    as it takes; anything else is retried `max_attempts` times, then dead-lettered.
    """

    def __init__(
        self,
        service: str,
        uow_factory: UnitOfWorkFactory,
        handlers: Mapping[str, Handler],
        *,
        dead_letter: Callable[[Message, str, str, int], Awaitable[None]],
        permanent_errors: tuple[type[Exception], ...] = (),
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.service = service
        self.uow_factory = uow_factory
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        self.dead_letter = dead_letter
        self.permanent_errors: tuple[type[Exception], ...] = (
            ContractError,
            PermanentError,
            *permanent_errors,
        )
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = ConsumerStats()
        self.tracer = get_tracer(service)

    def _start_span(self, message: Message, links: Sequence[Link] = ()) -> Span:
        """A consumer span for one record, the child of the context its headers carry."""
        return self.tracer.start_span(
            f"{message.topic} process",
            context=extract_context(message.headers),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": message.topic,
                "messaging.destination.partition.id": str(message.partition),
                "messaging.kafka.offset": message.offset,
            },
        )

    async def process(self, message: Message, stop: asyncio.Event | None = None) -> str:
        """Apply one record in a consumer span; returns processed, duplicate or dead_lettered."""
        span = self._start_span(message)
        with trace.use_span(span, end_on_exit=True):
            outcome = await self._process(message, stop, span)
            span.set_attribute("outcome", outcome)
            if outcome == "dead_lettered":
                span.set_status(Status(StatusCode.ERROR, "dead-lettered"))
            return outcome

    async def _process(self, message: Message, stop: asyncio.Event | None, span: Span) -> str:
        attempts = 0
        backoff = self.backoff_initial_s
        event_type = "unknown"
        while True:
            attempts += 1
            try:
                envelope = from_kafka(message.value, message.headers)
                event_type = envelope.type
                span.set_attribute("messaging.message.id", envelope.id)
                span.set_attribute("cloudevents.event_type", envelope.type)
                set_correlation_id(envelope.correlationid)
                set_traceparent(span_traceparent(span) or envelope.traceparent)
                model = parse_event(envelope)
                handler = self.handlers.get(type(model).event_type)
                if handler is None:
                    raise PermanentError("no_handler", f"no handler for {envelope.type}")
                outcome = await self._apply(message, envelope, model, handler)
            except self.permanent_errors as exc:
                code = str(getattr(exc, "code", "permanent_error"))
                await self._dead_letter(message, code, str(exc), attempts, event_type)
                return "dead_lettered"
            except Exception as exc:
                if stop is not None and stop.is_set():
                    raise
                transient = is_transient_db_error(exc)
                if not transient and attempts >= self.max_attempts:
                    reason = "".join(traceback.format_exception_only(exc)).strip()
                    await self._dead_letter(message, "handler_failed", reason, attempts, event_type)
                    return "dead_lettered"
                self.stats.retries += 1
                metrics.EVENTS_RETRIED.labels(self.service, message.topic).inc()
                logger.warning(
                    "event at %s[%d]@%d failed (%s, attempt %d), retrying in %.1fs: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    "transient" if transient else "error",
                    attempts,
                    backoff,
                    exc,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            self.stats.last_message_at = utcnow()
            metrics.EVENTS_CONSUMED.labels(self.service, message.topic, event_type, outcome).inc()
            return outcome

    async def process_batch(
        self, messages: Sequence[Message], stop: asyncio.Event | None = None
    ) -> list[str]:
        """Apply records in one transaction; if anything in it fails, fall back to one by one.

        A fetched batch usually applies cleanly, and one commit for it instead of one per
        record is where the throughput is. Any failure (a poison record, a business rule, the
        database) rolls the whole batch back and `process` then handles each record with its
        own retries and dead-lettering, so the outcome per record is the same either way.
        """
        if len(messages) <= 1:
            return [await self.process(m, stop) for m in messages]
        # One consumer span per record (each in its own trace), ended when the batch is.
        spans = [self._start_span(m) for m in messages]
        try:
            outcomes = await self._apply_batch(messages, spans)
        except Exception as exc:
            for span in spans:
                span.set_attribute("outcome", "batch_rolled_back")
                span.set_status(Status(StatusCode.ERROR, "batch rolled back; retried alone"))
                span.end()
            logger.info("batch of %d fell back to one by one: %s", len(messages), exc)
            return [await self.process(m, stop) for m in messages]
        for span, (_, outcome) in zip(spans, outcomes, strict=True):
            span.set_attribute("outcome", outcome)
            span.end()
        now = utcnow()
        for message, (event_type, outcome) in zip(messages, outcomes, strict=True):
            self.stats.last_message_at = now
            metrics.EVENTS_CONSUMED.labels(self.service, message.topic, event_type, outcome).inc()
        return [outcome for _, outcome in outcomes]

    async def _apply_batch(
        self, messages: Sequence[Message], spans: Sequence[Span]
    ) -> list[tuple[str, str]]:
        parsed = []
        contexts: dict[str, tuple[str | None, str | None]] = {}
        for message, span in zip(messages, spans, strict=True):
            envelope = from_kafka(message.value, message.headers)
            span.set_attribute("messaging.message.id", envelope.id)
            span.set_attribute("cloudevents.event_type", envelope.type)
            contexts[envelope.subject] = (span_traceparent(span), envelope.correlationid)
            model = parse_event(envelope)
            handler = self.handlers.get(type(model).event_type)
            if handler is None:
                raise PermanentError("no_handler", f"no handler for {envelope.type}")
            parsed.append((message, envelope, model, handler))
        outcomes: list[tuple[str, str]] = []
        processed = duplicates = 0
        async with self.uow_factory() as uow:
            ids = [envelope.id for _, envelope, _, _ in parsed]
            seen = set(
                (
                    await uow.session.execute(
                        select(INBOX.c.event_id).where(
                            one_of(INBOX.c.event_id, ids, uow.session.get_bind().dialect.name)
                        )
                    )
                )
                .scalars()
                .all()
            )
            rows = []
            fresh = []
            for item in parsed:
                envelope = item[1]
                if envelope.id in seen:
                    duplicates += 1
                    outcomes.append((envelope.type, "duplicate"))
                    continue
                seen.add(envelope.id)
                fresh.append(item)
                outcomes.append((envelope.type, "processed"))
            types = {type(model).event_type for _, _, model, _ in fresh}
            batch_handler = self.batch_handlers.get(types.pop()) if len(types) == 1 else None
            if batch_handler is not None:
                # What the handler stages for an aggregate carries that event's span.
                token = bind_subject_contexts(contexts)
                try:
                    await batch_handler(uow.session, [(model, env) for _, env, model, _ in fresh])
                finally:
                    unbind_subject_contexts(token)
            span_of = {id(message): span for message, span in zip(messages, spans, strict=True)}
            for message, envelope, model, handler in fresh:
                if batch_handler is None:
                    span = span_of[id(message)]
                    set_correlation_id(envelope.correlationid)
                    set_traceparent(span_traceparent(span) or envelope.traceparent)
                    with trace.use_span(span, end_on_exit=False):
                        await handler(uow.session, model, envelope)
                rows.append(
                    {
                        "event_id": envelope.id,
                        "event_type": envelope.type,
                        "topic": message.topic,
                        "partition": message.partition,
                        "offset": message.offset,
                        "subject": envelope.subject,
                        "processed_at": utcnow(),
                    }
                )
                processed += 1
            if rows:
                await uow.session.execute(insert(INBOX), rows)
            await uow.commit()
        committed = utcnow()
        for message, envelope, _, _ in fresh:
            self._observe_lag(message, envelope, committed)
        self.stats.processed += processed
        self.stats.duplicates += duplicates
        return outcomes

    async def _apply(
        self, message: Message, envelope: CloudEvent, model: EventModel, handler: Handler
    ) -> str:
        uow: UnitOfWork
        async with self.uow_factory() as uow:
            seen = await uow.session.scalar(
                select(INBOX.c.event_id).where(INBOX.c.event_id == envelope.id)
            )
            if seen is not None:
                self.stats.duplicates += 1
                return "duplicate"
            await handler(uow.session, model, envelope)
            try:
                await uow.session.execute(
                    insert(INBOX).values(
                        event_id=envelope.id,
                        event_type=envelope.type,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        subject=envelope.subject,
                        processed_at=utcnow(),
                    )
                )
                await uow.commit()
            except IntegrityError:
                await uow.rollback()
                if not await self._seen(envelope.id):
                    raise
                # Another consumer recorded the same event first: nothing to do.
                self.stats.duplicates += 1
                return "duplicate"
        self._observe_lag(message, envelope, utcnow())
        self.stats.processed += 1
        return "processed"

    def _observe_lag(self, message: Message, envelope: CloudEvent, committed: datetime) -> None:
        lag = (committed - envelope.time).total_seconds()
        metrics.HANDOFF_LAG.labels(self.service, message.topic, envelope.type).observe(
            max(lag, 0.0)
        )

    async def _seen(self, event_id: str) -> bool:
        async with self.uow_factory() as uow:
            found = await uow.session.scalar(
                select(INBOX.c.event_id).where(INBOX.c.event_id == event_id)
            )
        return found is not None

    async def _dead_letter(
        self, message: Message, code: str, reason: str, attempts: int, event_type: str
    ) -> None:
        logger.error(
            "dead-lettering %s[%d]@%d: %s: %s",
            message.topic,
            message.partition,
            message.offset,
            code,
            reason,
        )
        await self.dead_letter(message, code, reason, attempts)
        self.stats.dead_lettered += 1
        metrics.EVENTS_CONSUMED.labels(
            self.service, message.topic, event_type, "dead_lettered"
        ).inc()


def dead_letter_headers(
    message: Message, consumer: str, code: str, reason: str, attempts: int, failed_at: datetime
) -> list[tuple[str, bytes]]:
    """The original headers plus the reason, in `dlt_*` headers."""
    extra = {
        "dlt_error_code": code,
        "dlt_reason": reason[:2000],
        "dlt_original_topic": message.topic,
        "dlt_original_partition": str(message.partition),
        "dlt_original_offset": str(message.offset),
        "dlt_consumer": consumer,
        "dlt_attempts": str(attempts),
        "dlt_failed_at": failed_at.isoformat(),
    }
    kept = [(k, v) for k, v in message.headers if not k.startswith("dlt_")]
    return kept + [(k, v.encode()) for k, v in extra.items()]


class DeadLetterSink:
    """Writes a failed record to the dead-letter topic and to the service's own table."""

    def __init__(self, consumer: str, uow_factory: UnitOfWorkFactory, producer: Any) -> None:
        self.consumer = consumer
        self.uow_factory = uow_factory
        self.producer = producer

    async def __call__(self, message: Message, code: str, reason: str, attempts: int) -> None:
        failed_at = utcnow()
        headers = dead_letter_headers(message, self.consumer, code, reason, attempts, failed_at)
        topic = get_topic(message.topic)
        await self.producer.send_and_wait(
            topic.dead_letter, message.value, key=message.key, headers=headers
        )
        async with self.uow_factory() as uow:
            exists = await uow.session.scalar(
                select(DEAD_LETTERS.c.id).where(
                    DEAD_LETTERS.c.topic == message.topic,
                    DEAD_LETTERS.c.partition == message.partition,
                    DEAD_LETTERS.c.offset == message.offset,
                    DEAD_LETTERS.c.consumer == self.consumer,
                )
            )
            if exists is None:
                await uow.session.execute(
                    insert(DEAD_LETTERS).values(
                        consumer=self.consumer,
                        topic=message.topic,
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        value=message.value,
                        headers=[[k, v.decode(errors="replace")] for k, v in message.headers],
                        error_code=code,
                        reason=reason,
                        attempts=attempts,
                        failed_at=failed_at,
                    )
                )
                await uow.commit()


class _RewindListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Passes newly assigned partitions to the consumer loop (nothing to do on revoke:
    offsets are committed right after each database commit)."""

    def __init__(self, on_assigned: Callable[[Any], None]) -> None:
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._on_assigned(assigned)


class KafkaInboxConsumer:
    """The consumer loop: fetch, process each record in order, commit offsets after."""

    def __init__(
        self,
        name: str,
        consumer_factory: Callable[[], Any],
        processor: InboxProcessor,
        *,
        dead_letter_sink: DeadLetterSink | None = None,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self._consumer_factory = consumer_factory
        self.processor = processor
        self._sink = dead_letter_sink
        self._producer_factory = producer_factory
        self.consumer: Any = None
        self.lag: dict[tuple[str, int], int] = {}
        self._rewind = False
        self._rewind_until = 0.0
        self._to_rewind: set[Any] = set()
        self._renew = False
        self.rewinds = 0
        self.renewals = 0

    def rewind(self) -> None:
        """Read every assigned partition again from its beginning (the broker lost its data).

        A consumer keeps its fetch position in memory across a broker that restarted empty:
        left alone it would skip the records the new log holds below that position, and may
        even commit that stale position to the new broker, where the group's next rebalance
        would pick it up. So the consumer seeks to the beginning now, and again for every
        partition assigned to it within `REWIND_WINDOW_S` after. Re-reading is safe: the
        inbox de-duplicates by event id.
        """
        self._rewind = True

    def renew(self) -> None:
        """Start over on a new Kafka consumer, reading from the beginning (the broker healed).

        The topics are back with their partition counts, which may differ from the lost
        broker's; a consumer whose metadata refresh failed while the broker was down keeps
        the old counts and would not be assigned the partitions it does not know. A new
        consumer reads the metadata afresh and joins the group again; the rewind covers
        whatever partitions it is assigned.
        """
        self._renew = True
        self._rewind = True

    def _assigned(self, partitions: Any) -> None:
        """Rebalance hook: within the rewind window, new partitions start from the beginning
        (the group's committed offset may be a stale position committed after the loss)."""
        if asyncio.get_running_loop().time() < self._rewind_until:
            self._to_rewind.update(partitions)

    async def _apply_rewind(self, consumer: Any) -> None:
        if self._rewind:
            self._rewind = False
            self.rewinds += 1
            self._rewind_until = asyncio.get_running_loop().time() + REWIND_WINDOW_S
            self._to_rewind.update(consumer.assignment())
            logger.warning("%s: the broker lost its data; reading from the beginning", self.name)
        if self._to_rewind:
            partitions = [tp for tp in self._to_rewind if tp in consumer.assignment()]
            self._to_rewind.clear()
            if partitions:
                await consumer.seek_to_beginning(*partitions)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set."""
        while not stop.is_set():
            if self._renew:
                self._renew = False
                self.renewals += 1
                logger.warning("%s: the broker healed; consuming on a new consumer", self.name)
            await self._consume(stop)

    async def _consume(self, stop: asyncio.Event) -> None:
        """One consumer's life: until `stop`, or until asked to renew."""
        producer = self._producer_factory() if self._producer_factory else None
        if producer is not None:
            await producer.start()
            if self._sink is not None:
                self._sink.producer = producer
        consumer = self._consumer_factory()
        self.consumer = consumer
        # A group consumer gets the rewind hook; a hand-made test double may have no group.
        topics = consumer.subscription() if hasattr(consumer, "subscription") else None
        if topics:
            consumer.subscribe(topics=sorted(topics), listener=_RewindListener(self._assigned))
        try:
            await consumer.start()
            lag_due = 0.0
            while not stop.is_set() and not self._renew:
                await self._apply_rewind(consumer)
                batches = await consumer.getmany(timeout_ms=200)
                if self._rewind:
                    # Fetched from the lost log's positions, or a renewal is due: this batch
                    # is read again after the seek.
                    continue
                # One transaction for the whole fetch, whatever partitions it spans: records
                # keep their order within each partition, and every offset is committed
                # after the database commit.
                messages = [
                    Message(
                        record.topic,
                        record.partition,
                        record.offset,
                        record.key,
                        record.value,
                        list(record.headers or ()),
                    )
                    for records in batches.values()
                    for record in records
                ]
                if messages and not stop.is_set():
                    await self.processor.process_batch(messages, stop)
                    crash_point(CONSUMER_AFTER_COMMIT)
                    try:
                        await consumer.commit(
                            {
                                tp: OffsetAndMetadata(records[-1].offset + 1, "")
                                for tp, records in batches.items()
                                if records
                            }
                        )
                    except CommitFailedError:
                        # The group rebalanced (or the broker forgot this member) between
                        # fetch and commit. The batch is in the database: whoever reads
                        # these records again finds them in the inbox and skips them.
                        logger.warning(
                            "%s: offsets not committed, the group rebalanced; the records "
                            "will be read again and skipped",
                            self.name,
                        )
                now = asyncio.get_running_loop().time()
                if (batches or any(self.lag.values())) and now >= lag_due:
                    # Lag costs a broker round trip: at most once a second.
                    lag_due = now + LAG_REFRESH_S
                    try:
                        await asyncio.wait_for(self._update_lag(consumer), LAG_TIMEOUT_S)
                    except Exception as exc:  # a gauge: never worth stopping the consumer
                        logger.info("%s: lag not measured: %r", self.name, exc)
        finally:
            self.consumer = None
            await consumer.stop()
            if producer is not None:
                await producer.stop()

    async def _update_lag(self, consumer: Any) -> None:
        partitions = list(consumer.assignment())
        if not partitions:
            return
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            position = await consumer.position(tp)
            lag = max(int(ends.get(tp, 0)) - int(position), 0)
            self.lag[(tp.topic, tp.partition)] = lag
            metrics.CONSUMER_LAG.labels(self.processor.service, tp.topic, str(tp.partition)).set(
                lag
            )


async def list_dead_letters(
    uow_factory: UnitOfWorkFactory, status: str | None = "pending", limit: int = 100
) -> list[dict[str, Any]]:
    """Dead letters recorded by this service's consumers, newest last."""
    async with uow_factory() as uow:
        stmt = select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.id).limit(limit)
        if status:
            stmt = stmt.where(DEAD_LETTERS.c.status == status)
        rows = (await uow.session.execute(stmt)).mappings().all()
    return [
        {
            "id": r["id"],
            "consumer": r["consumer"],
            "topic": r["topic"],
            "partition": r["partition"],
            "offset": r["offset"],
            "error_code": r["error_code"],
            "reason": r["reason"],
            "attempts": r["attempts"],
            "failed_at": r["failed_at"].isoformat(),
            "status": r["status"],
        }
        for r in rows
    ]


async def redrive_dead_letters(
    uow_factory: UnitOfWorkFactory, producer: Any, ids: Sequence[int] | None = None
) -> int:
    """Publish pending dead letters back to their original topic, after a fix."""
    async with uow_factory() as uow:
        stmt = (
            select(DEAD_LETTERS)
            .where(DEAD_LETTERS.c.status == "pending")
            .order_by(DEAD_LETTERS.c.id)
        )
        if ids:
            stmt = stmt.where(DEAD_LETTERS.c.id.in_(list(ids)))
        rows = (await uow.session.execute(stmt)).mappings().all()
        for row in rows:
            headers = [
                (str(k), str(v).encode())
                for k, v in row["headers"]
                if not str(k).startswith("dlt_")
            ]
            await producer.send_and_wait(
                row["topic"], row["value"], key=row["key"], headers=headers
            )
            await uow.session.execute(
                update(DEAD_LETTERS)
                .where(DEAD_LETTERS.c.id == row["id"])
                .values(status="redriven", redriven_at=utcnow())
            )
        await uow.commit()
    return len(rows)
