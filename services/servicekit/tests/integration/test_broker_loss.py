"""A broker that loses its data is noticed and healed: topics back, the outbox published again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from lending_schemas import LoanDisbursedV1, from_kafka, make_event, to_kafka
from lending_schemas.examples import example_loan_disbursed_v1
from servicekit.app import ConsumerSpec, _build_consumer
from servicekit.broker import TansuBroker
from servicekit.brokerwatch import BrokerLossWatch
from servicekit.db import UnitOfWorkFactory
from servicekit.inbox import KafkaInboxConsumer
from servicekit.kafka import ensure_topics, make_producer
from servicekit.outbox import OutboxRelay, outbox_status, stage_event
from servicekit.settings import ServiceSettings

TOPIC = "lending.loan-disbursed.v1"
NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)


async def stage_disbursed(uow_factory: UnitOfWorkFactory, loan_id: str, at: datetime) -> str:
    """Stage one LoanDisbursed created at `at`; returns its event id."""
    async with uow_factory() as uow:
        event = await stage_event(
            uow.session,
            example_loan_disbursed_v1(loan_id=loan_id),
            source="/los",
            subject=loan_id,
            now=at,
        )
        await uow.commit()
    return event.id


async def consume_event_ids(consume: Any, bootstrap: str, expected: int, **kw: Any) -> list[str]:
    """Event ids on the loan-disbursed topic from the beginning."""
    return [
        from_kafka(r.value, list(r.headers)).id for r in await consume(bootstrap, expected, **kw)
    ]


def _relay(uow_factory: UnitOfWorkFactory, broker: TansuBroker) -> OutboxRelay:
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    return OutboxRelay("test", uow_factory.session_factory, lambda: make_producer(settings))


def _watch(
    uow_factory: UnitOfWorkFactory,
    broker: TansuBroker,
    relay: OutboxRelay,
    *,
    window_s: float = 0,
    now: datetime = NOW,
) -> BrokerLossWatch:
    return BrokerLossWatch(
        "test",
        broker.bootstrap_servers,
        uow_factory.session_factory,
        relay,
        republish_window_s=window_s,
        now=lambda: now,
    )


async def _publish_all(relay: OutboxRelay, broker: TansuBroker) -> int:
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    producer = make_producer(settings)
    await producer.start()
    try:
        sent = 0
        while batch := await relay.publish_pending(producer):
            sent += batch
        return sent
    finally:
        await producer.stop()


async def test_a_wiped_broker_gets_its_topics_and_events_back(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker, consume: Any
) -> None:
    await ensure_topics(broker.bootstrap_servers)
    staged = [await stage_disbursed(uow_factory, f"BL{n}", NOW) for n in range(5)]
    relay = _relay(uow_factory, broker)
    assert await _publish_all(relay, broker) == 5
    assert sorted(await consume_event_ids(consume, broker.bootstrap_servers, 5)) == sorted(staged)

    watch = _watch(uow_factory, broker, relay)
    assert await watch.check_once() is False  # arms: creates the marker
    assert await watch.check_once() is False  # marker present: nothing lost

    broker.restart()  # memory-only: every topic, record and offset is gone
    assert await consume_event_ids(consume, broker.bootstrap_servers, 1, timeout_s=2) == []

    assert await watch.check_once() is True
    assert (watch.stats.losses, watch.stats.republished) == (1, 5)
    status = await outbox_status(uow_factory.session_factory)
    assert status["pending"] == 5
    assert await _publish_all(relay, broker) == 5
    assert sorted(await consume_event_ids(consume, broker.bootstrap_servers, 5)) == sorted(staged)
    # Healed: the marker is back and the next check finds nothing.
    assert await watch.check_once() is False
    assert watch.stats.losses == 1


async def test_only_the_window_is_published_again(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker, consume: Any
) -> None:
    await ensure_topics(broker.bootstrap_servers)
    await stage_disbursed(uow_factory, "OLD", NOW - timedelta(days=10))
    recent = await stage_disbursed(uow_factory, "NEW", NOW - timedelta(hours=1))
    relay = _relay(uow_factory, broker)
    assert await _publish_all(relay, broker) == 2
    watch = _watch(uow_factory, broker, relay, window_s=86_400)
    await watch.check_once()
    broker.restart()
    assert await watch.check_once() is True
    assert watch.stats.republished == 1
    assert await _publish_all(relay, broker) == 1
    assert await consume_event_ids(consume, broker.bootstrap_servers, 1) == [recent]


async def test_a_standby_replica_notices_but_leaves_healing_to_the_leader(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker, consume: Any
) -> None:
    await ensure_topics(broker.bootstrap_servers)
    await stage_disbursed(uow_factory, "SB1", NOW)
    relay = _relay(uow_factory, broker)
    assert await _publish_all(relay, broker) == 1
    relay.is_leader = False
    watch = _watch(uow_factory, broker, relay)
    await watch.check_once()
    broker.restart()
    assert await watch.check_once() is True
    assert await watch.check_once() is True  # still gone: the standby did not put it back
    assert (watch.stats.losses, watch.stats.republished) == (1, 0)
    assert (await outbox_status(uow_factory.session_factory))["pending"] == 0
    # Once this replica leads, the next check heals.
    relay.is_leader = True
    assert await watch.check_once() is True
    assert watch.stats.republished == 1
    assert await watch.check_once() is False


async def _send_disbursed(broker: TansuBroker, loan_ids: list[str]) -> None:
    """LoanDisbursed events for `loan_ids`, all to partition 0, in order."""
    settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap_servers)
    producer = make_producer(settings)
    await producer.start()
    try:
        for loan_id in loan_ids:
            record = to_kafka(
                make_event(
                    example_loan_disbursed_v1(loan_id=loan_id),
                    source="/los",
                    subject=loan_id,
                    sequence=1,
                )
            )
            await producer.send_and_wait(
                TOPIC, record.value, key=record.key, partition=0, headers=list(record.headers)
            )
    finally:
        await producer.stop()


async def _consume_until(
    inbox: KafkaInboxConsumer, seen: list[str], expected: set[str], timeout_s: float = 20
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(inbox.run(stop))
    try:
        for _ in range(int(timeout_s / 0.05)):
            if expected <= set(seen):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_consumers_read_again_from_the_beginning_after_a_loss(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """The new broker may hold a stale committed position (committed by a consumer that
    still read the lost log's offsets): after a loss the consumer must not trust it."""
    await ensure_topics(broker.bootstrap_servers)
    settings = ServiceSettings(
        service_name="test", kafka_bootstrap_servers=broker.bootstrap_servers
    )
    seen: list[str] = []

    async def record(session: Any, model: LoanDisbursedV1, envelope: Any) -> None:
        seen.append(model.loan_id)

    spec = ConsumerSpec(
        name="c", group_id="g-rewind", topics=[TOPIC], handlers={"LoanDisbursed": record}
    )
    inbox = _build_consumer(settings, uow_factory, spec)
    await _send_disbursed(broker, ["OLD1", "OLD2", "OLD3"])
    await _consume_until(inbox, seen, {"OLD1", "OLD2", "OLD3"})
    assert seen == ["OLD1", "OLD2", "OLD3"]

    relay = _relay(uow_factory, broker)
    watch = BrokerLossWatch(
        "test",
        broker.bootstrap_servers,
        uow_factory.session_factory,
        relay,
        on_loss=[inbox.rewind],
    )
    await watch.check_once()  # arms
    broker.restart()
    await ensure_topics(broker.bootstrap_servers)
    fresh = [f"NEW{n}" for n in range(5)]
    await _send_disbursed(broker, fresh)
    # The group's position on the new broker is the old log's: offset 3 of 5.
    partition = TopicPartition(TOPIC, 0)
    committer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, group_id="g-rewind", enable_auto_commit=False
    )
    await committer.start()
    try:
        committer.assign([partition])
        await committer.commit({partition: 3})
    finally:
        await committer.stop()

    assert await watch.check_once() is True
    await _consume_until(inbox, seen, set(fresh))
    assert seen[3:] == fresh, "every event of the new log, from its first offset"
    assert inbox.rewinds == 1
