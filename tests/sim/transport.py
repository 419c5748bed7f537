"""An in-process stand-in for the Kafka transport, for the seeded handoff simulation only.

It speaks the part of aiokafka's producer and consumer interface that servicekit uses
(`send`, `send_and_wait`, `getmany`, `commit`, `assignment`, `position`, `end_offsets`),
keeps one append-only log per partition, partitions by key and remembers each consumer
group's committed offsets. With `Faults.none()` it is faithful: the same contract suite
(`test_transport_contract.py`) runs against it and against aiokafka on a real broker.

With faults switched on, driven by one seeded `random.Random`, it does what a real
deployment can do to the handoff, and a little more:

- drop: a send fails and nothing reaches the log (the relay keeps the row pending);
- ack lost: the record reaches the log but the send fails (the relay publishes it again);
- duplicate: the record reaches the log twice;
- delay: a record becomes visible to consumers only some virtual time later, holding back
  everything behind it on its partition (as a slow replica would);
- reorder: a fetched batch is handed over shuffled (beyond Kafka's per-partition promise,
  to show the inbox does not depend on it);
- partial fetch: a fetch returns only a prefix of what is available.

Consumer crashes (a fetched batch lost, or processed and not committed) are the
harness's business: it simply restarts a consumer, which resumes from the committed
offsets as a new member of the group would.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.structs import OffsetAndMetadata, TopicPartition

from lending_schemas import TOPICS


class TransportError(Exception):
    """A send the fake transport refused or whose acknowledgement it lost."""


@dataclass(frozen=True)
class Faults:
    """Probabilities of each fault per send or per fetch; all zero is the faithful mode."""

    drop: float = 0.0
    ack_lost: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    max_delay_s: float = 0.0
    reorder: float = 0.0
    partial_fetch: float = 0.0

    @classmethod
    def none(cls) -> Faults:
        """No faults: the transport keeps every promise Kafka makes."""
        return cls()

    @classmethod
    def random(cls, rng: random.Random) -> Faults:
        """A fault mix drawn from the seed, so seeds differ in how hostile they are."""
        return cls(
            drop=rng.choice([0.0, 0.1, 0.3]),
            ack_lost=rng.choice([0.0, 0.1, 0.3]),
            duplicate=rng.choice([0.0, 0.1, 0.3]),
            delay=rng.choice([0.0, 0.2, 0.5]),
            max_delay_s=rng.choice([1.0, 10.0, 120.0]),
            reorder=rng.choice([0.0, 0.5]),
            partial_fetch=rng.choice([0.0, 0.3]),
        )


@dataclass(frozen=True)
class Record:
    """One record on a partition, shaped like aiokafka's ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    visible_at: float = 0.0


@dataclass
class SimBroker:
    """Partitioned logs and committed offsets; time is the caller's virtual clock."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    faults: Faults = field(default_factory=Faults.none)
    partitions: dict[str, int] = field(
        default_factory=lambda: {
            name: t.partitions for t in TOPICS for name in (t.name, t.dead_letter)
        }
    )
    now: float = 0.0
    logs: dict[TopicPartition, list[Record]] = field(default_factory=dict)
    committed: dict[tuple[str, TopicPartition], int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def create_topic(self, name: str, partitions: int) -> None:
        """Add a topic (the registry's topics exist from the start)."""
        self.partitions.setdefault(name, partitions)

    def partition_for(self, topic: str, key: bytes | None) -> int:
        """Same key, same partition; keyless records go round the partitions."""
        n = self.partitions[topic]
        if key is None:
            return self.rng.randrange(n)
        return zlib.crc32(key) % n

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def append(
        self, topic: str, value: bytes | None, key: bytes | None, headers: Sequence[Any]
    ) -> Record:
        """Write a record to its partition, applying send-side faults; raises on drop/ack loss."""
        if topic not in self.partitions:
            raise TransportError(f"unknown topic {topic}")
        if self._chance(self.faults.drop):
            self._count("dropped")
            raise TransportError("send dropped")
        tp = TopicPartition(topic, self.partition_for(topic, key))
        log = self.logs.setdefault(tp, [])
        visible_at = self.now
        if self._chance(self.faults.delay):
            self._count("delayed")
            visible_at += self.rng.uniform(0, self.faults.max_delay_s)
        copies = 2 if self._chance(self.faults.duplicate) else 1
        if copies == 2:
            self._count("duplicated")
        record = None
        for _ in range(copies):
            record = Record(
                topic,
                tp.partition,
                len(log),
                key,
                value,
                tuple((str(k), bytes(v)) for k, v in headers),
                visible_at,
            )
            log.append(record)
        assert record is not None
        if self._chance(self.faults.ack_lost):
            self._count("acks_lost")
            raise TransportError("acknowledgement lost")
        return record

    def visible(self, tp: TopicPartition, position: int) -> list[Record]:
        """Records from `position` on, up to the first one not yet visible."""
        out = []
        for record in self.logs.get(tp, [])[position:]:
            if record.visible_at > self.now:
                break
            out.append(record)
        return out

    def end_offset(self, tp: TopicPartition) -> int:
        """The offset the next record on this partition will get."""
        return len(self.logs.get(tp, []))

    def topic_partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Every partition of the given topics."""
        return [TopicPartition(t, p) for t in topics for p in range(self.partitions[t])]

    def producer(self) -> SimProducer:
        """A producer on this broker."""
        return SimProducer(self)

    def consumer(self, group_id: str, topics: Sequence[str]) -> SimConsumer:
        """A consumer in `group_id`, starting from the group's committed offsets (or earliest)."""
        return SimConsumer(self, group_id, list(topics))


class SimProducer:
    """aiokafka's producer interface, as the outbox relay and dead-letter sink use it."""

    def __init__(self, broker: SimBroker) -> None:
        self.broker = broker

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to flush: every send is settled when it returns."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Sequence[Any] | None = None,
    ) -> asyncio.Future[Record]:
        """Append now; the returned future carries the outcome, as aiokafka's does."""
        future: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self.broker.append(topic, value, key, headers or ()))
        except TransportError as exc:
            future.set_exception(exc)
        return future

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: Sequence[Any] | None = None,
    ) -> Record:
        """Append and return the record, or raise."""
        return await (await self.send(topic, value, key=key, headers=headers))


class SimConsumer:
    """aiokafka's consumer interface with manual commits, for one member of a group."""

    def __init__(self, broker: SimBroker, group_id: str, topics: list[str]) -> None:
        self.broker = broker
        self.group_id = group_id
        self.topics = topics
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        """Join: every partition of the topics, from the committed offsets."""
        for tp in self.broker.topic_partitions(self.topics):
            self._positions[tp] = self.broker.committed.get((self.group_id, tp), 0)

    async def stop(self) -> None:
        """Leave the group; uncommitted progress is forgotten."""
        self._positions.clear()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member reads."""
        return set(self._positions)

    async def position(self, tp: TopicPartition) -> int:
        """The next offset this member will fetch from `tp`."""
        return self._positions[tp]

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The log end of each partition."""
        return {tp: self.broker.end_offset(tp) for tp in partitions}

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        """What is visible past each position, in partition order, with fetch-side faults."""
        broker = self.broker
        out: dict[TopicPartition, list[Record]] = {}
        for tp in sorted(self._positions, key=lambda t: (t.topic, t.partition)):
            records = broker.visible(tp, self._positions[tp])
            if max_records is not None:
                records = records[:max_records]
            if records and broker._chance(broker.faults.partial_fetch):
                broker._count("partial_fetches")
                records = records[: broker.rng.randint(1, len(records))]
            if not records:
                continue
            self._positions[tp] = records[-1].offset + 1
            if len(records) > 1 and broker._chance(broker.faults.reorder):
                broker._count("reordered")
                records = list(records)
                broker.rng.shuffle(records)
            out[tp] = records
        if len(out) > 1 and broker.faults.reorder > 0:
            items = list(out.items())
            broker.rng.shuffle(items)
            out = dict(items)
        return out

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Record the group's progress."""
        for tp, meta in offsets.items():
            self.broker.committed[(self.group_id, tp)] = meta.offset

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Move this member's position on one partition."""
        self._positions[tp] = offset
