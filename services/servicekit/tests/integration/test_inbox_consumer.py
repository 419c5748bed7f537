"""The inbox applies each event once, retries transient failures, dead-letters the rest."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import CloudEvent, LoanDisbursedV1, make_event, to_kafka
from lending_schemas.examples import example_loan_disbursed_v1
from servicekit.app import ConsumerSpec, _build_consumer
from servicekit.broker import TansuBroker
from servicekit.db import UnitOfWorkFactory
from servicekit.inbox import (
    InboxProcessor,
    Message,
    PermanentError,
    list_dead_letters,
    redrive_dead_letters,
)
from servicekit.kafka import ensure_topics, make_producer
from servicekit.outbox import stage_event, utcnow
from servicekit.settings import ServiceSettings
from servicekit.tables import DEAD_LETTERS, INBOX, OUTBOX
from servicekit.types import ExactDecimal, UTCDateTime

TOPIC = "lending.loan-disbursed.v1"


def _message(
    loan_id: str = "L1", offset: int = 0, event_id: str | None = None, **overrides: Any
) -> Message:
    event = make_event(
        example_loan_disbursed_v1(loan_id=loan_id, **overrides),
        source="/los",
        subject=loan_id,
        sequence=1,
        event_id=event_id,
    )
    record = to_kafka(event)
    return Message(TOPIC, 0, offset, record.key, record.value, record.headers)


def _with_body(message: Message, **changes: Any) -> Message:
    """The same envelope with fields of the JSON body replaced (bypassing the model)."""
    import json

    body = json.loads(message.value or b"{}")
    body.update(changes)
    return Message(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        json.dumps(body).encode(),
        message.headers,
    )


class Recorder:
    """A handler that books a probe row and can be told to fail."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.calls: list[str] = []
        self.failures = list(failures or [])

    async def __call__(
        self, session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent
    ) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.calls.append(model.loan_id)
        from sqlalchemy import column, table

        probe = table(
            "probe",
            column("label"),
            column("amount", ExactDecimal()),
            column("created_at", UTCDateTime()),
        )
        await session.execute(
            insert(probe).values(label=model.loan_id, amount=model.principal, created_at=utcnow())
        )


class DeadLetters:
    def __init__(self) -> None:
        self.items: list[tuple[int, str, str, int]] = []

    async def __call__(self, message: Message, code: str, reason: str, attempts: int) -> None:
        self.items.append((message.offset, code, reason, attempts))


def _processor(
    uow_factory: UnitOfWorkFactory, handler: Recorder, dlq: DeadLetters, **kw: Any
) -> InboxProcessor:
    return InboxProcessor(
        "test",
        uow_factory,
        {"LoanDisbursed": handler},
        dead_letter=dlq,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
        **kw,
    )


async def _count(uow_factory: UnitOfWorkFactory, table_name: str) -> int:
    from sqlalchemy import table

    async with uow_factory() as uow:
        return int(
            await uow.session.scalar(select(func.count()).select_from(table(table_name))) or 0
        )


async def test_duplicate_event_is_applied_once(uow_factory: UnitOfWorkFactory) -> None:
    handler, dlq = Recorder(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    message = _message()
    assert await processor.process(message) == "processed"
    assert await processor.process(message) == "duplicate"
    assert handler.calls == ["L1"]
    assert await _count(uow_factory, "probe") == 1
    assert await _count(uow_factory, "inbox") == 1


async def test_transient_failure_is_retried_not_dead_lettered(
    uow_factory: UnitOfWorkFactory,
) -> None:
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))
    handler, dlq = Recorder([down, down, down, down, down, down]), DeadLetters()
    processor = _processor(uow_factory, handler, dlq, max_attempts=2)
    assert await processor.process(_message()) == "processed"
    assert processor.stats.retries == 6
    assert dlq.items == []


async def test_failed_attempt_leaves_no_partial_effect(uow_factory: UnitOfWorkFactory) -> None:
    class FailsAfterWrite(Recorder):
        async def __call__(
            self, session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent
        ) -> None:
            await super().__call__(session, model, envelope)
            if len(self.calls) == 1:
                raise RuntimeError("crash after the write")

    handler, dlq = FailsAfterWrite(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq, max_attempts=3)
    assert await processor.process(_message()) == "processed"
    assert await _count(uow_factory, "probe") == 1


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (Message(TOPIC, 0, 7, b"k", b"\xff\xfe not json", [("ce_id", b"x")]), "missing_header"),
        (_with_body(_message(offset=7), currency="EURO"), "contract_violation"),
    ],
    ids=["garbage", "invalid-body"],
)
async def test_poison_is_dead_lettered_with_reason(
    uow_factory: UnitOfWorkFactory, message: Message, code: str
) -> None:
    handler, dlq = Recorder(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    assert await processor.process(message) == "dead_lettered"
    assert dlq.items[0][:2] == (7, code)
    assert handler.calls == []


async def test_permanent_business_error_and_exhausted_retries(
    uow_factory: UnitOfWorkFactory,
) -> None:
    handler, dlq = Recorder([PermanentError("loan_conflict", "different terms")]), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    assert await processor.process(_message(offset=1)) == "dead_lettered"
    assert dlq.items[-1][1:] == ("loan_conflict", "different terms", 1)

    handler.failures = [ValueError("bug")] * 3
    processor = _processor(uow_factory, handler, dlq, max_attempts=3)
    assert await processor.process(_message(offset=2)) == "dead_lettered"
    assert dlq.items[-1][1] == "handler_failed"
    assert dlq.items[-1][3] == 3


async def test_unknown_major_version_is_dead_lettered(uow_factory: UnitOfWorkFactory) -> None:
    message = _message()
    headers = [
        (k, b"lending.LoanDisbursed.v9" if k == "ce_type" else v) for k, v in message.headers
    ]
    handler, dlq = Recorder(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    outcome = await processor.process(Message(TOPIC, 0, 3, message.key, message.value, headers))
    assert outcome == "dead_lettered"
    assert dlq.items[0][1] in {"unknown_version", "unknown_event_type"}


async def test_consumer_loop_over_real_broker(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """Valid, poison, valid, duplicate: two applied, one dead-lettered (topic and table), offsets committed."""
    await ensure_topics(broker.bootstrap_servers)
    settings = ServiceSettings(
        service_name="test",
        kafka_bootstrap_servers=broker.bootstrap_servers,
        consumer_backoff_initial_s=0.01,
    )
    handler = Recorder()
    consumer = _build_consumer(
        settings,
        uow_factory,
        ConsumerSpec(
            name="c", group_id="g-test", topics=[TOPIC], handlers={"LoanDisbursed": handler}
        ),
    )
    producer = make_producer(settings)
    await producer.start()
    first = _message("L1")
    try:
        for message in [
            first,
            Message(TOPIC, 0, 0, b"L9", b"{not json", []),
            _message("L2"),
            first,
        ]:
            await producer.send_and_wait(
                TOPIC, message.value, key=message.key, headers=list(message.headers)
            )
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        stats = consumer.processor.stats
        for _ in range(200):
            if stats.processed + stats.duplicates + stats.dead_lettered >= 4:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 15)
        assert (stats.processed, stats.duplicates, stats.dead_lettered) == (2, 1, 1)
        assert sorted(handler.calls) == ["L1", "L2"]

        dead = await list_dead_letters(uow_factory)
        assert len(dead) == 1
        assert dead[0]["error_code"] == "missing_header"

        dlt = AIOKafkaConsumer(
            "lending.loan-disbursed.v1.dlt",
            bootstrap_servers=broker.bootstrap_servers,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=5,
        )
        await dlt.start()
        try:
            batch = await dlt.getmany(timeout_ms=3000)
            records = [r for msgs in batch.values() for r in msgs]
        finally:
            await dlt.stop()
        assert len(records) == 1
        headers = dict(records[0].headers)
        assert headers["dlt_error_code"] == b"missing_header"
        assert headers["dlt_original_topic"] == TOPIC.encode()

        check = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id="g-test")
        await check.start()
        try:
            committed = {}
            for p in range(6):
                tp = TopicPartition(TOPIC, p)
                committed[p] = await check.committed(tp)
            ends = await check.end_offsets([TopicPartition(TOPIC, p) for p in range(6)])
        finally:
            await check.stop()
        for tp, end in ends.items():
            assert (committed[tp.partition] or 0) == end

        # After a fix the dead letter is re-driven to its original topic.
        assert await redrive_dead_letters(uow_factory, producer) == 1
        assert await list_dead_letters(uow_factory) == []
        assert len(await list_dead_letters(uow_factory, status="redriven")) == 1
    finally:
        await producer.stop()


async def test_a_fetch_across_partitions_applies_in_order_and_commits_every_partition(
    uow_factory: UnitOfWorkFactory, broker: TansuBroker
) -> None:
    """A backlog over all six partitions: every record once, each key's records in order,
    fetches applied as batches that span partitions, every partition committed to its end."""
    await ensure_topics(broker.bootstrap_servers)
    settings = ServiceSettings(
        service_name="test",
        kafka_bootstrap_servers=broker.bootstrap_servers,
        kafka_fetch_max_wait_ms=20,
    )
    group = f"g-span-{uuid.uuid4().hex[:8]}"
    applied: list[tuple[str, int]] = []
    batch_partitions: list[set[int]] = []

    async def batch(session: AsyncSession, items: list[tuple[LoanDisbursedV1, CloudEvent]]) -> None:
        applied.extend((model.loan_id, envelope.sequence) for model, envelope in items)

    async def one(session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent) -> None:
        applied.append((model.loan_id, envelope.sequence))

    consumer = _build_consumer(
        settings,
        uow_factory,
        ConsumerSpec(
            name="c",
            group_id=group,
            topics=[TOPIC],
            handlers={"LoanDisbursed": one},
            batch_handlers={"LoanDisbursed": batch},
        ),
    )
    original = consumer.processor.process_batch

    async def spy(messages: Any, stop: Any = None) -> list[str]:
        batch_partitions.append({m.partition for m in messages})
        return await original(messages, stop)

    consumer.processor.process_batch = spy  # type: ignore[method-assign]
    producer = make_producer(settings)
    await producer.start()
    keys = [f"LS{n:03d}" for n in range(40)]
    try:
        sends = []
        for sequence in (1, 2, 3):
            for key in keys:
                event = make_event(
                    example_loan_disbursed_v1(loan_id=key),
                    source="/los",
                    subject=key,
                    sequence=sequence,
                )
                record = to_kafka(event)
                sends.append(
                    await producer.send(
                        TOPIC, record.value, key=record.key, headers=list(record.headers)
                    )
                )
        produced = await asyncio.gather(*sends)
        # The next offset per partition, from the broker's own answers to the sends.
        next_offsets: dict[int, int] = {}
        for meta in produced:
            next_offsets[meta.partition] = max(next_offsets.get(meta.partition, 0), meta.offset + 1)
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        for _ in range(300):
            if len(applied) >= len(keys) * 3:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 15)
    finally:
        await producer.stop()

    assert sorted(applied) == sorted((k, s) for k in keys for s in (1, 2, 3))
    for key in keys:
        assert [s for k, s in applied if k == key] == [1, 2, 3]
    assert len(next_offsets) > 1
    assert any(len(parts) > 1 for parts in batch_partitions)
    assert await _count(uow_factory, "inbox") == len(keys) * 3
    check = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=group)
    await check.start()
    try:
        for partition, expected in next_offsets.items():
            assert await check.committed(TopicPartition(TOPIC, partition)) == expected
    finally:
        await check.stop()


async def test_handler_effect_and_outbox_commit_together(uow_factory: UnitOfWorkFactory) -> None:
    """A handler that stages an answer event and then fails leaves neither behind."""

    async def answer_then_fail(
        session: AsyncSession, model: LoanDisbursedV1, envelope: CloudEvent
    ) -> None:
        await stage_event(
            session, example_loan_disbursed_v1(loan_id="ANS"), source="/lms", subject="ANS"
        )
        raise PermanentError("nope", "refused after staging")

    dlq = DeadLetters()
    processor = InboxProcessor(
        "test", uow_factory, {"LoanDisbursed": answer_then_fail}, dead_letter=dlq
    )
    assert await processor.process(_message()) == "dead_lettered"
    async with uow_factory() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OUTBOX)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(INBOX)) == 0
        assert await uow.session.scalar(select(func.count()).select_from(DEAD_LETTERS)) == 0


async def test_batch_applies_in_one_transaction_with_the_same_outcomes(
    uow_factory: UnitOfWorkFactory,
) -> None:
    handler, dlq = Recorder(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    first = _message("B1", offset=0)
    assert await processor.process(first) == "processed"
    batch = [first, _message("B2", offset=1), _message("B3", offset=2)]
    batch.append(batch[1])  # the same event twice in one fetch
    outcomes = await processor.process_batch(batch)
    assert outcomes == ["duplicate", "processed", "processed", "duplicate"]
    assert handler.calls == ["B1", "B2", "B3"]
    assert await _count(uow_factory, "inbox") == 3


async def test_batch_with_poison_falls_back_to_one_by_one(uow_factory: UnitOfWorkFactory) -> None:
    handler, dlq = Recorder(), DeadLetters()
    processor = _processor(uow_factory, handler, dlq)
    poison = _with_body(_message("P1", offset=1), currency="EURO")
    outcomes = await processor.process_batch(
        [_message("G1", offset=0), poison, _message("G2", offset=2)]
    )
    assert outcomes == ["processed", "dead_lettered", "processed"]
    assert handler.calls == ["G1", "G2"]  # parsing refused the batch before any handler ran
    assert await _count(uow_factory, "probe") == 2
    assert [item[:2] for item in dlq.items] == [(1, "contract_violation")]
