"""What the handoff relies on from its transport, checked against the fake and the real one.

The simulation's fake transport (`tests.sim.transport`, faithful mode) and aiokafka on a
Tansu broker (servicekit's own producer and consumer settings) must both pass every case
here; the simulation may rely on nothing the real adapter does not also do.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from servicekit.broker import TansuBroker
from servicekit.kafka import make_consumer, make_producer
from servicekit.settings import ServiceSettings
from tests.sim.transport import Faults, SimBroker

PARTITIONS = 3
Sent = tuple[bytes, bytes, list[tuple[str, bytes]]]
# A bound on polling, not a timing assertion: a real consumer needs a few polls to join.
MAX_POLLS = 300


class Transport(Protocol):
    """Makes topics, producers and consumers on one transport."""

    async def new_topic(self, partitions: int) -> str: ...

    def producer(self) -> Any: ...

    def consumer(self, group_id: str, topics: list[str]) -> Any: ...


class FakeTransport:
    """The simulation's transport with every fault switched off."""

    def __init__(self) -> None:
        self.broker = SimBroker(faults=Faults.none())

    async def new_topic(self, partitions: int) -> str:
        name = f"contract-{uuid.uuid4().hex[:8]}"
        self.broker.create_topic(name, partitions)
        return name

    def producer(self) -> Any:
        return self.broker.producer()

    def consumer(self, group_id: str, topics: list[str]) -> Any:
        return self.broker.consumer(group_id, topics)


class KafkaTransport:
    """aiokafka, configured exactly as the services configure it, on a real broker."""

    def __init__(self, bootstrap: str) -> None:
        self.settings = ServiceSettings(
            service_name="contract", kafka_bootstrap_servers=bootstrap, environment="test"
        )

    async def new_topic(self, partitions: int) -> str:
        name = f"contract-{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, partitions, 1)])
        finally:
            await admin.close()
        return name

    def producer(self) -> Any:
        return make_producer(self.settings)

    def consumer(self, group_id: str, topics: list[str]) -> Any:
        return make_consumer(self.settings, group_id, topics)


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


@pytest.fixture(params=["fake", "kafka"])
def transport(request: pytest.FixtureRequest) -> Transport:
    if request.param == "fake":
        return FakeTransport()
    broker: TansuBroker = request.getfixturevalue("tansu")
    return KafkaTransport(broker.bootstrap_servers)


@pytest.fixture
async def producer(transport: Transport) -> AsyncIterator[Any]:
    p = transport.producer()
    await p.start()
    yield p
    await p.stop()


async def _consume(consumer: Any, expected: int) -> list[Any]:
    """Poll until `expected` records arrived (bounded by MAX_POLLS), without committing."""
    records: list[Any] = []
    for _ in range(MAX_POLLS):
        batches = await consumer.getmany(timeout_ms=50)
        for batch in batches.values():
            records.extend(batch)
        if len(records) >= expected:
            break
        if not batches:
            await asyncio.sleep(0.01)
    return records


async def _consume_then_quiet(consumer: Any, expected: int, quiet_polls: int = 5) -> list[Any]:
    """Like `_consume`, then a few more polls to show nothing beyond `expected` arrives."""
    records = await _consume(consumer, expected)
    for _ in range(quiet_polls):
        for batch in (await consumer.getmany(timeout_ms=50)).values():
            records.extend(batch)
    return records


async def _send_all(producer: Any, topic: str, items: list[Sent]) -> None:
    for key, value, headers in items:
        await producer.send_and_wait(topic, value, key=key, headers=headers)


def _group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


async def test_keys_values_and_headers_arrive_unchanged(transport: Transport, producer: Any):
    topic = await transport.new_topic(PARTITIONS)
    sent: list[Sent] = [
        (
            f"loan-{i}".encode(),
            f'{{"amount": "10.00", "n": {i}}}'.encode(),
            [("ce_id", f"id-{i}".encode()), ("ce_type", b"lending.T.v1"), ("bin", b"\x00\xff")],
        )
        for i in range(12)
    ]
    await _send_all(producer, topic, sent)
    consumer = transport.consumer(_group(), [topic])
    await consumer.start()
    try:
        got = await _consume_then_quiet(consumer, len(sent))
    finally:
        await consumer.stop()
    received = sorted((r.key, r.value, [(k, bytes(v)) for k, v in r.headers]) for r in got)
    assert received == sorted(sent)
    assert all(r.topic == topic for r in got)


async def test_records_of_one_key_keep_their_order_on_one_partition(
    transport: Transport, producer: Any
):
    topic = await transport.new_topic(PARTITIONS)
    keys = [b"loan-a", b"loan-b", b"loan-c", b"loan-d"]
    sent: list[Sent] = [(keys[i % len(keys)], str(i).encode(), []) for i in range(40)]
    # Sent without waiting for each acknowledgement, as the relay does.
    futures = [await producer.send(topic, v, key=k, headers=h) for k, v, h in sent]
    await asyncio.gather(*futures)
    consumer = transport.consumer(_group(), [topic])
    await consumer.start()
    try:
        got = await _consume(consumer, len(sent))
    finally:
        await consumer.stop()
    assert len(got) == len(sent)
    for key in keys:
        mine = [r for r in got if r.key == key]
        assert [r.value for r in mine] == [v for k, v, _ in sent if k == key]
        assert len({r.partition for r in mine}) == 1
        offsets = [r.offset for r in mine]
        assert offsets == sorted(offsets)


async def test_uncommitted_records_are_delivered_again_and_committed_ones_are_not(
    transport: Transport, producer: Any
):
    topic = await transport.new_topic(1)
    sent: list[Sent] = [(b"loan-x", str(i).encode(), []) for i in range(10)]
    await _send_all(producer, topic, sent)
    group = _group()

    first = transport.consumer(group, [topic])
    await first.start()
    try:
        seen = await _consume(first, 10)
    finally:
        await first.stop()  # nothing committed: a crash before the commit
    assert [r.value for r in seen] == [v for _, v, _ in sent]

    second = transport.consumer(group, [topic])
    await second.start()
    try:
        again = await _consume(second, 10)
        assert [r.value for r in again] == [v for _, v, _ in sent]
        tp = TopicPartition(topic, 0)
        await second.commit({tp: OffsetAndMetadata(again[5].offset + 1, "")})
    finally:
        await second.stop()

    third = transport.consumer(group, [topic])
    await third.start()
    try:
        rest = await _consume_then_quiet(third, 4)
    finally:
        await third.stop()
    assert [r.value for r in rest] == [v for _, v, _ in sent[6:]]


async def test_each_group_reads_everything_whatever_the_others_committed(
    transport: Transport, producer: Any
):
    topic = await transport.new_topic(PARTITIONS)
    sent: list[Sent] = [(f"k{i}".encode(), str(i).encode(), []) for i in range(9)]
    await _send_all(producer, topic, sent)
    a = transport.consumer(_group(), [topic])
    await a.start()
    try:
        got_a = await _consume(a, 9)
        await a.commit(
            {
                TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.offset + 1, "")
                for r in got_a
            }
        )
    finally:
        await a.stop()
    b = transport.consumer(_group(), [topic])
    await b.start()
    try:
        got_b = await _consume_then_quiet(b, 9)
    finally:
        await b.stop()
    assert sorted(r.value for r in got_a) == sorted(r.value for r in got_b)
    assert len(got_b) == 9


async def test_positions_reach_the_end_offsets_after_everything_is_read(
    transport: Transport, producer: Any
):
    topic = await transport.new_topic(PARTITIONS)
    await _send_all(producer, topic, [(f"k{i}".encode(), b"v", []) for i in range(15)])
    consumer = transport.consumer(_group(), [topic])
    await consumer.start()
    try:
        got = await _consume(consumer, 15)
        assert len(got) == 15
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        assert [tp.partition for tp in partitions] == list(range(PARTITIONS))
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            assert await consumer.position(tp) == ends[tp]
        assert sum(ends.values()) == 15
    finally:
        await consumer.stop()
