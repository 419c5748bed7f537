"""A broker that loses its data is noticed and healed: topics back, the outbox published again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

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


async def _send_disbursed(
    broker: TansuBroker, loan_ids: list[str], partition: int | None = 0
) -> None:
    """LoanDisbursed events for `loan_ids`, in order, to `partition` (None: by key)."""
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
                TOPIC,
                record.value,
                key=record.key,
                partition=partition,
                headers=list(record.headers),
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


def _recording_inbox(
    uow_factory: UnitOfWorkFactory,
    broker: TansuBroker,
    group_id: str,
    then: Callable[[str], None] | None = None,
) -> tuple[KafkaInboxConsumer, list[str]]:
    """A loan-disbursed consumer that records every loan id it applies (then calls `then`)."""
    settings = ServiceSettings(
        service_name="test", kafka_bootstrap_servers=broker.bootstrap_servers
    )
    seen: list[str] = []

    async def record(session: Any, model: LoanDisbursedV1, envelope: Any) -> None:
        seen.append(model.loan_id)
        if then is not None:
            then(model.loan_id)

    spec = ConsumerSpec(
        name="c", group_id=group_id, topics=[TOPIC], handlers={"LoanDisbursed": record}
    )
    return _build_consumer(settings, uow_factory, spec), seen


def _consumer_watch(
    uow_factory: UnitOfWorkFactory,
    broker: TansuBroker,
    inbox: KafkaInboxConsumer,
    *,
    renew: bool = True,
    interval_s: float = 2.0,
) -> BrokerLossWatch:
    """A watch wired to the consumer as the services wire theirs (`renew=False`: rewind only)."""
    return BrokerLossWatch(
        "test",
        broker.bootstrap_servers,
        uow_factory.session_factory,
        _relay(uow_factory, broker),
        interval_s=interval_s,
        on_loss=[inbox.rewind],
        on_healed=[inbox.renew] if renew else [],
    )


async def _create_topic(broker: TansuBroker, partitions: int) -> None:
    """The loan-disbursed topic with `partitions`, as a client of the embedded broker makes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, partitions, 1)])
    finally:
        await admin.close()


async def _until(condition: Callable[[], bool], timeout_s: float = 60) -> None:
    """Wait for `condition` (a group join on the embedded broker takes 5 s or more)."""
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


async def test_consumers_read_again_from_the_beginning_after_a_loss(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """The new broker may hold a stale committed position (committed by a consumer that
    still read the lost log's offsets): after a loss the consumer must not trust it."""
    await ensure_topics(broker.bootstrap_servers)
    inbox, seen = _recording_inbox(uow_factory, broker, "g-rewind")
    await _send_disbursed(broker, ["OLD1", "OLD2", "OLD3"])
    await _consume_until(inbox, seen, {"OLD1", "OLD2", "OLD3"})
    assert seen == ["OLD1", "OLD2", "OLD3"]

    watch = _consumer_watch(uow_factory, broker, inbox, renew=False)
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


def _keys_beyond(partitions: int, count: int) -> list[str]:
    """Loan ids whose records the default partitioner puts at or beyond partition
    `partitions` of the registered six: no such partition exists once the topic shrinks."""
    choose = DefaultPartitioner()
    every = list(range(6))
    found = (f"FP{n}" for n in range(10_000))
    return [k for k in found if choose(k.encode(), every, every) >= partitions][:count]


async def test_events_reach_a_topic_that_came_back_with_fewer_partitions(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker, consume: Any
) -> None:
    """Before the heal, a client re-creates the topic with the broker's default of four
    partitions. A relay still partitioning by the lost topic's six (its metadata refresh ran
    while the broker was down) would put these keys into partitions 4 and 5, which the
    embedded broker accepts and no consumer is assigned."""
    await ensure_topics(broker.bootstrap_servers)
    before, after = _keys_beyond(4, 2), _keys_beyond(4, 4)[2:]
    staged = [await stage_disbursed(uow_factory, key, NOW) for key in before]
    relay = _relay(uow_factory, broker)
    relay.poll_interval_s = 0.05
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))

    async def all_published() -> None:
        for _ in range(400):
            if (await outbox_status(uow_factory.session_factory))["pending"] == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the relay did not publish every row within 20 s")

    try:
        await all_published()
        watch = _watch(uow_factory, broker, relay)
        await watch.check_once()  # arms
        # Down long enough for the producer's metadata refresh (on the broken connection)
        # to fail: it keeps the lost topic's six partitions.
        broker.stop()
        await asyncio.sleep(1.0)
        broker.start()
        await _create_topic(broker, 4)
        assert await watch.check_once() is True
        staged += [await stage_disbursed(uow_factory, key, NOW) for key in after]
        relay.wake()
        await all_published()
    finally:
        stop.set()
        await running
    found = await consume_event_ids(consume, broker.bootstrap_servers, len(staged))
    assert sorted(found) == sorted(staged), "every event where a consumer reads it"


async def test_consumers_get_every_partition_of_a_topic_that_came_back_larger(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """The lost topic had four partitions (a client created it); the heal brings it back
    with the registered six. A consumer whose metadata refresh failed while the broker was
    down knows four and is assigned four: once the watch sees the heal, the consumer starts
    over and reads partitions 4 and 5 too."""
    await _create_topic(broker, 4)
    inbox, seen = _recording_inbox(uow_factory, broker, "g-renew")
    watch = _consumer_watch(uow_factory, broker, inbox)
    await watch.check_once()  # arms
    fresh = _keys_beyond(4, 2)
    stop = asyncio.Event()
    running = asyncio.create_task(inbox.run(stop))
    try:
        await _send_disbursed(broker, ["OLD"])
        await _until(lambda: "OLD" in seen)
        broker.stop()
        await asyncio.sleep(1.0)
        broker.start()
        assert await watch.check_once() is True  # healed: the topic is back with six
        await _send_disbursed(broker, fresh, partition=None)
        await _until(lambda: set(fresh) <= set(seen))
    finally:
        stop.set()
        await running
    assert set(fresh) <= set(seen), f"consumed {sorted(set(seen))}"
    assert inbox.renewals == 1


async def test_a_broker_restart_mid_batch_neither_stops_the_consumer_nor_skips_the_new_log(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """The broker restarts while a batch is being processed: the commit that follows is
    refused (the new broker does not know the member) or lands on the new broker as a stale
    position. The batch is in the database; the consumer goes on, and with the watch's
    rewind (wired as in the services) reads the new log from its start."""
    await ensure_topics(broker.bootstrap_servers)

    def restart_on_first(loan_id: str) -> None:
        if loan_id == "FIRST":
            broker.restart()  # between this batch's fetch and its commit

    inbox, seen = _recording_inbox(uow_factory, broker, "g-refused", then=restart_on_first)
    watch = _consumer_watch(uow_factory, broker, inbox, interval_s=0.2)
    await watch.check_once()  # arms
    stop = asyncio.Event()
    running = asyncio.create_task(inbox.run(stop))
    watching = asyncio.create_task(watch.run(stop))
    try:
        await _send_disbursed(broker, ["FIRST"])
        await _until(lambda: bool(seen) and watch.stats.losses > 0, timeout_s=20)
        await _send_disbursed(broker, ["SECOND"])
        await _until(lambda: "SECOND" in seen or running.done())
    finally:
        stop.set()
        await watching
        await running  # raises if the refused commit ended the consumer
    assert seen == ["FIRST", "SECOND"]
