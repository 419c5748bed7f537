"""Transactional outbox: events are written with the state change and published by a relay."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from lending_schemas import CloudEvent, EventModel, make_event, to_kafka, topic_for_event
from servicekit import metrics
from servicekit.context import get_correlation_id, get_subject_context
from servicekit.db import OUTBOX_WRITTEN, is_transient_db_error, one_of
from servicekit.faults import RELAY_AFTER_PUBLISH, RELAY_BEFORE_PUBLISH, crash_point
from servicekit.tables import OUTBOX
from servicekit.tracing import (
    TRACEPARENT,
    current_trace_headers,
    extract_context,
    get_tracer,
    inject_headers,
)

logger = logging.getLogger("servicekit.outbox")
#: Shortest time between two refreshes of the outbox gauges while the relay is busy.
GAUGE_INTERVAL_S = 1.0


_GAUGES = select(func.count(), func.min(OUTBOX.c.created_at)).where(OUTBOX.c.published_at.is_(None))


def utcnow() -> datetime:
    """The wall clock in UTC; infrastructure only, the domain gets time passed in."""
    return datetime.now(UTC)


async def stage_event(
    session: AsyncSession,
    payload: EventModel,
    *,
    source: str,
    subject: str,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    now: datetime | None = None,
    first_events: bool = False,
) -> CloudEvent:
    """Validate an event and write it to the outbox in the caller's transaction.

    The event is checked against its contract first, so an invalid event can
    never be published. The per-aggregate sequence continues from the last one.
    The current trace context is stored with the row (`traceparent` in its headers and
    the CloudEvents `traceparent` attribute), so the relay continues the same trace.
    """
    staged = await stage_events(
        session,
        [(payload, subject)],
        source=source,
        correlation_id=correlation_id,
        traceparent=traceparent,
        now=now,
        first_events=first_events,
    )
    return staged[0]


async def stage_events(
    session: AsyncSession,
    items: Sequence[tuple[EventModel, str]],
    *,
    source: str,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    now: datetime | None = None,
    first_events: bool = False,
) -> list[CloudEvent]:
    """Stage several (payload, subject) events with one sequence query and one insert.

    `first_events`: the caller knows these are the first events ever about each subject
    (an aggregate this transaction created, or one whose first events these are by its
    life cycle), so sequences start at 1 without the query. A wrong claim cannot publish
    a repeated sequence: (aggregate, sequence) is unique, the insert fails and the
    transaction rolls back.
    """
    if not items:
        return []
    last: dict[str, int] = {}
    if not first_events:
        subjects = sorted({subject for _, subject in items})
        result = await session.execute(
            select(OUTBOX.c.aggregate_id, func.max(OUTBOX.c.sequence))
            .where(one_of(OUTBOX.c.aggregate_id, subjects, session.get_bind().dialect.name))
            .group_by(OUTBOX.c.aggregate_id)
        )
        last = {str(row[0]): int(row[1]) for row in result.all()}
    at = now or utcnow()
    default_correlation = correlation_id or get_correlation_id()
    trace_headers = [(TRACEPARENT, traceparent)] if traceparent else current_trace_headers()
    default_traceparent = trace_headers[0][1] if trace_headers else None
    events: list[CloudEvent] = []
    rows: list[dict[str, Any]] = []
    for payload, subject in items:
        sequence = int(last.get(subject) or 0) + 1
        last[subject] = sequence
        item_traceparent, item_correlation = default_traceparent, default_correlation
        item_trace_headers = trace_headers
        bound = None if traceparent else get_subject_context(subject)
        if bound is not None:
            # A batch applied the event about this aggregate in a span of its own.
            item_traceparent = bound[0] or default_traceparent
            item_correlation = correlation_id or bound[1] or default_correlation
            if bound[0]:
                item_trace_headers = [(TRACEPARENT, bound[0])]
        event = make_event(
            payload,
            source=source,
            subject=subject,
            sequence=sequence,
            time=at,
            correlation_id=item_correlation,
            traceparent=item_traceparent,
        )
        major = int(type(payload).version.split(".")[0])
        record = to_kafka(event)
        rows.append(
            {
                "event_id": event.id,
                "topic": topic_for_event(type(payload).event_type, major).name,
                "event_type": event.type,
                "aggregate_id": subject,
                "sequence": sequence,
                "key": record.key.decode(),
                "headers": [[k, v.decode()] for k, v in record.headers]
                + [[k, v] for k, v in item_trace_headers],
                "payload": record.value.decode(),
                "created_at": event.time,
            }
        )
        events.append(event)
    await session.execute(insert(OUTBOX), rows)
    session.info[OUTBOX_WRITTEN] = True
    return events


@dataclass
class RelayStats:
    """Counters a relay keeps for health and tests."""

    published: int = 0
    batches: int = 0
    errors: int = 0
    last_success: datetime | None = None


class RelayLeaderLock:
    """One active relay per service database, so events leave in commit order.

    On PostgreSQL the relay holds a session advisory lock on a connection of its own;
    a standby relay (another replica) publishes nothing until the lock is free. If the
    lock connection dies (database restart) leadership is dropped and re-contested.
    SQLite is a single-host database: the relay there is always the leader.
    """

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        digest = hashlib.sha256(f"outbox-relay:{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        """Whether this relay is (still) the leader; tries to become it if not."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                await self._drop()
        conn = await self.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
        except Exception:
            await conn.close()
            raise
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        """Give up leadership."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


class OutboxRelay:
    """Publishes pending outbox rows in id order, keyed by aggregate, then marks them sent.

    Wakes when a commit staged events (in process) or every `poll_interval_s`.
    A crash between publish and mark re-sends on restart; consumers de-duplicate.

    After a broker loss the relay starts its next batch on a new producer: a topic may have
    come back with fewer partitions, and a producer still partitioning by the lost topic's
    count writes to partitions no consumer is assigned (the embedded broker accepts such
    records). `paused()` lets the broker watch mark rows pending again between two batches,
    never while a batch is in flight (its late "published" mark would undo the re-mark).
    """

    def __init__(
        self,
        service: str,
        session_factory: async_sessionmaker[AsyncSession],
        publisher_factory: Callable[[], Any],
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.5,
        leader_lock: RelayLeaderLock | None = None,
    ) -> None:
        self.service = service
        self.leader_lock = leader_lock
        self.is_leader = leader_lock is None
        # Each of the relay's statements stands alone (a read of pending rows, the mark of
        # a published batch, the gauges' count): one round trip each, no BEGIN and
        # ROLLBACK or COMMIT around it.
        self._engine: AsyncEngine = session_factory.kw["bind"].execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self._pending = (
            select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.headers, OUTBOX.c.payload)
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.id)
            .limit(batch_size)
        )
        self._publisher_factory = publisher_factory
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._publishing = asyncio.Lock()
        self._renew_publisher = False
        self._tracer = get_tracer(service)
        self.stats = RelayStats()

    def wake(self) -> None:
        """Ask the relay to look for new rows now."""
        self._wake.set()

    def renew_publisher(self) -> None:
        """Publish the next batch with a new producer, which reads the topics' metadata afresh."""
        self._renew_publisher = True

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold the relay between two batches while the caller works on the outbox."""
        async with self._publishing:
            yield

    async def _publisher(self, current: Any) -> Any:
        """The producer for the next batch: `current`, or a new one when asked to renew."""
        if current is not None and not self._renew_publisher:
            return current
        if current is not None:
            with contextlib.suppress(Exception):
                await current.stop()
        self._renew_publisher = True  # until a new one has started
        publisher = self._publisher_factory()
        try:
            await publisher.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await publisher.stop()
            raise
        self._renew_publisher = False
        return publisher

    async def publish_pending(self, publisher: Any) -> int:
        """Publish one batch of pending rows; returns how many were sent."""
        async with self._engine.connect() as conn:
            rows = (await conn.execute(self._pending)).all()
        if not rows:
            return 0
        crash_point(RELAY_BEFORE_PUBLISH)
        futures = []
        spans = []
        try:
            for row in rows:
                stored = [(str(k), str(v).encode()) for k, v in row.headers]
                # A producer span per event, the child of the work that staged it; the
                # record carries this span's context so the consumer's span is its child.
                span = self._tracer.start_span(
                    f"{row.topic} publish",
                    context=extract_context(stored),
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.operation.type": "publish",
                        "messaging.destination.name": row.topic,
                        "messaging.kafka.message.key": row.key,
                        "outbox.id": row.id,
                    },
                )
                spans.append(span)
                headers = inject_headers(stored, set_span_in_context(span))
                futures.append(
                    await publisher.send(
                        row.topic, row.payload.encode(), key=row.key.encode(), headers=headers
                    )
                )
            await asyncio.gather(*futures)
        except Exception as exc:
            for span in spans:
                span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            for span in spans:
                span.end()
        crash_point(RELAY_AFTER_PUBLISH)
        ids = [row.id for row in rows]
        async with self._engine.connect() as conn:
            await conn.execute(
                update(OUTBOX)
                .where(one_of(OUTBOX.c.id, ids, self._engine.dialect.name))
                .values(published_at=utcnow())
            )
        for row in rows:
            metrics.OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
        self.stats.published += len(rows)
        self.stats.batches += 1
        self.stats.last_success = utcnow()
        return len(rows)

    async def refresh_gauges(self) -> None:
        """Outbox depth and age of the oldest pending row, for alerts."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_GAUGES)).one()
        metrics.OUTBOX_PENDING.labels(self.service).set(row[0])
        oldest = row[1]
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.OUTBOX_OLDEST_AGE.labels(self.service).set(max(age, 0.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, backing off while the broker or database is down."""
        publisher: Any = None
        backoff = 0.2
        refreshed = float("-inf")
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    if self.leader_lock is not None:
                        self.is_leader = await self.leader_lock.acquire()
                        if not self.is_leader:
                            await _sleep_or_stop(stop, max(self.poll_interval_s, 1.0))
                            continue
                    async with self._publishing:
                        publisher = await self._publisher(publisher)
                        sent = await self.publish_pending(publisher)
                    # The gauges cost a count over the pending rows: at most once a
                    # second under load, and whenever the relay goes idle.
                    now = asyncio.get_running_loop().time()
                    if sent < self.batch_size and (
                        sent == 0 or now - refreshed >= GAUGE_INTERVAL_S
                    ):
                        await self.refresh_gauges()
                        refreshed = now
                    backoff = 0.2
                except Exception as exc:
                    self.stats.errors += 1
                    metrics.RELAY_ERRORS.labels(self.service).inc()
                    transient = is_transient_db_error(exc) or "Kafka" in type(exc).__name__
                    logger.warning(
                        "outbox relay failed (%s), retrying in %.1fs: %s",
                        "transient" if transient else "unexpected",
                        backoff,
                        exc,
                    )
                    await _sleep_or_stop(stop, backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if sent >= self.batch_size:
                    continue
                await _wait_any(stop, self._wake, self.poll_interval_s)
        finally:
            if self.leader_lock is not None:
                await self.leader_lock.release()
            if publisher is not None:
                await publisher.stop()


async def republish_from(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    from_id: int | None = None,
    since: datetime | None = None,
) -> int:
    """Mark published rows pending again from a watermark (after a broker loss, or a backfill)."""
    if from_id is None and since is None:
        raise ValueError("give a watermark: from_id or since")
    stmt = update(OUTBOX).where(OUTBOX.c.published_at.is_not(None))
    if from_id is not None:
        stmt = stmt.where(OUTBOX.c.id >= from_id)
    if since is not None:
        stmt = stmt.where(OUTBOX.c.created_at >= since)
    async with session_factory() as session:
        result = await session.execute(stmt.values(published_at=None))
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def outbox_status(session_factory: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Counts and watermarks of the outbox, for operators."""
    async with session_factory() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.count(OUTBOX.c.published_at),
                    func.max(OUTBOX.c.id).filter(OUTBOX.c.published_at.is_not(None)),
                    func.min(OUTBOX.c.id).filter(OUTBOX.c.published_at.is_(None)),
                )
            )
        ).one()
        await session.rollback()
    return {
        "total": row[0],
        "published": row[1],
        "pending": row[0] - row[1],
        "last_published_id": row[2],
        "first_pending_id": row[3],
    }


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, within_s: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
