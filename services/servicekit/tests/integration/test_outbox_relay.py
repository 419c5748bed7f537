"""The outbox commits with the state change; the relay publishes in order to a real broker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from lending_schemas import from_kafka, parse_event
from lending_schemas.examples import example_loan_disbursed_v1
from servicekit.broker import TansuBroker
from servicekit.db import UnitOfWorkFactory
from servicekit.kafka import ensure_topics, make_producer
from servicekit.outbox import (
    OutboxRelay,
    outbox_status,
    republish_from,
    stage_event,
    stage_events,
)
from servicekit.settings import ServiceSettings
from servicekit.tables import OUTBOX

TOPIC = "lending.loan-disbursed.v1"
NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)


async def _stage(uow_factory: UnitOfWorkFactory, loan_id: str) -> None:
    async with uow_factory() as uow:
        await stage_event(
            uow.session,
            example_loan_disbursed_v1(loan_id=loan_id),
            source="/los",
            subject=loan_id,
            now=NOW,
        )
        await uow.commit()


async def test_sequence_is_per_aggregate_and_rollback_leaves_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await _stage(uow_factory, "L1")
    await _stage(uow_factory, "L1")
    await _stage(uow_factory, "L2")
    async with uow_factory() as uow:
        await stage_event(
            uow.session, example_loan_disbursed_v1(loan_id="L3"), source="/los", subject="L3"
        )
        await uow.rollback()
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(OUTBOX.c.aggregate_id, OUTBOX.c.sequence).order_by(OUTBOX.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("L1", 1), ("L1", 2), ("L2", 1)]


async def test_first_events_start_at_one_unread_and_a_wrong_claim_is_refused(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        staged = await stage_events(
            uow.session,
            [
                (example_loan_disbursed_v1(loan_id="N1"), "N1"),
                (example_loan_disbursed_v1(loan_id="N1"), "N1"),
                (example_loan_disbursed_v1(loan_id="N2"), "N2"),
            ],
            source="/los",
            now=NOW,
            first_events=True,
        )
        await uow.commit()
    assert [(e.subject, e.sequence) for e in staged] == [("N1", 1), ("N1", 2), ("N2", 1)]
    # N1 has events: claiming a first one again cannot publish sequence 1 twice.
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await stage_events(
                uow.session,
                [(example_loan_disbursed_v1(loan_id="N1"), "N1")],
                source="/los",
                now=NOW,
                first_events=True,
            )
    await _stage(uow_factory, "N1")  # without the claim: read, and continue at 3
    async with uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(OUTBOX.c.aggregate_id, OUTBOX.c.sequence).order_by(OUTBOX.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("N1", 1), ("N1", 2), ("N2", 1), ("N1", 3)]


async def test_commit_wakes_the_relay(uow_factory: UnitOfWorkFactory) -> None:
    woken: list[int] = []
    uow_factory.on_outbox_commit(lambda: woken.append(1))
    async with uow_factory() as uow:
        await uow.session.execute(text("SELECT 1"))
        await uow.commit()
    assert woken == []
    await _stage(uow_factory, "L1")
    assert woken == [1]


async def test_relay_publishes_in_order_and_republishes_from_watermark(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker, consume: Any
) -> None:
    await ensure_topics(broker.bootstrap_servers)
    for loan in ["A", "B", "A", "C", "A"]:
        await _stage(uow_factory, loan)
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    relay = OutboxRelay("test", uow_factory.session_factory, lambda: make_producer(settings))
    producer = make_producer(settings)
    await producer.start()
    try:
        assert await relay.publish_pending(producer) == 5
        assert await relay.publish_pending(producer) == 0
        status = await outbox_status(uow_factory.session_factory)
        assert status["pending"] == 0
        assert status["published"] == 5

        records = await consume(broker.bootstrap_servers, 5)
        assert len(records) == 5
        by_key: dict[bytes, list[int]] = {}
        for record in records:
            event = from_kafka(record.value, record.headers)
            assert record.key == event.subject.encode()
            by_key.setdefault(record.key, []).append(event.sequence)
            assert parse_event(event).principal == Decimal("10000.00")
        assert by_key[b"A"] == [1, 2, 3]

        # After a broker loss the relay re-sends from a watermark; consumers de-duplicate by id.
        assert await republish_from(uow_factory.session_factory, from_id=4) == 2
        assert await relay.publish_pending(producer) == 2
        assert len(await consume(broker.bootstrap_servers, 7)) == 7
    finally:
        await producer.stop()


async def test_relay_run_loop_publishes_promptly_after_wake(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    await ensure_topics(broker.bootstrap_servers)
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    # A long poll interval: only the wake-up can make it publish within the test.
    relay = OutboxRelay(
        "test", uow_factory.session_factory, lambda: make_producer(settings), poll_interval_s=60
    )
    uow_factory.on_outbox_commit(relay.wake)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)
        await _stage(uow_factory, "W")
        for _ in range(100):
            if relay.stats.published == 1:
                break
            await asyncio.sleep(0.05)
        assert relay.stats.published == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_republish_needs_a_watermark(uow_factory: UnitOfWorkFactory) -> None:
    with pytest.raises(ValueError, match="watermark"):
        await republish_from(uow_factory.session_factory)


async def test_invalid_event_is_never_staged(uow_factory: UnitOfWorkFactory) -> None:
    bad = example_loan_disbursed_v1().model_copy(update={"term": 0})
    async with uow_factory() as uow:
        with pytest.raises(Exception, match="term"):
            await stage_event(uow.session, bad, source="/los", subject="X")
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OUTBOX)) == 0


async def test_only_one_relay_leads_per_database(uow_factory: UnitOfWorkFactory) -> None:
    from servicekit.outbox import RelayLeaderLock

    first = RelayLeaderLock(uow_factory.engine, "svc")
    second = RelayLeaderLock(uow_factory.engine, "svc")
    other_service = RelayLeaderLock(uow_factory.engine, "other")
    try:
        assert await first.acquire() is True
        if uow_factory.engine.dialect.name == "postgresql":
            assert await second.acquire() is False
            assert await other_service.acquire() is True
            assert await first.acquire() is True  # still held
            await first.release()
            assert await second.acquire() is True
        else:
            # One host, one file: every relay may publish.
            assert await second.acquire() is True
    finally:
        for lock in (first, second, other_service):
            await lock.release()
