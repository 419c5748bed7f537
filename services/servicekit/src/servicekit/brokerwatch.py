"""Notice a broker that lost its data and heal: topics back, recent events published again.

A broker that keeps topics in memory (the embedded Tansu) forgets everything when it
restarts; a rebuilt Kafka cluster does too. Events the relay had already published are then
gone, and consumers that lost their committed offsets read from the beginning of empty
topics. The outbox still holds every event, so the cure is to publish again what the
broker lost.

How loss is noticed: at start the watch creates a marker topic of its own that nothing
produces to or consumes from (so no client can re-create it by accident, as producers
re-create business topics on their first send). If the marker disappears later, the broker
lost its state. Healing, done by the replica holding the relay's leader lock only: the
registered topics are created again, and every outbox row created within
`broker_loss_republish_window_s` (0: all of them) is marked pending again, oldest first,
so the relay publishes it again in order, from a new producer (see `OutboxRelay`). That
is safe by construction: every consumer de-duplicates by event id (the inbox), which is
what at-least-once delivery asks of it.
Every replica that sees the loss also rewinds its own consumers to the beginning of their
partitions: their in-memory fetch positions point into the lost log, and a new log that
has grown past such a position would otherwise be read from the middle. Once the marker is
back (healed, here or by the leader), every replica renews its consumers and its relay's
producer: a client whose metadata refresh failed while the broker was down still holds the
lost topics' partition counts.

A business topic that a client re-created before the heal (a broker that creates topics
on first use does so with its own default count) may have fewer partitions than registered:
`ensure_topics` leaves an existing topic alone, so the watch logs which topics shrank
(ordering per key still holds; parallelism does not). Producers must then partition by the
new count, which is why the relay renews its producer on a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lending_schemas import TOPICS, Topic
from servicekit import metrics
from servicekit.kafka import ensure_topics
from servicekit.outbox import OutboxRelay, republish_from, utcnow

logger = logging.getLogger("servicekit.brokerwatch")
T = TypeVar("T")

MARKER_PREFIX = "lending.broker-marker."


@dataclass
class WatchStats:
    """What the watch has seen, for health and tests."""

    checks: int = 0
    losses: int = 0
    republished: int = 0
    last_loss_at: datetime | None = None


class BrokerLossWatch:
    """Checks the marker topic every `interval_s`; on loss, recreates topics and re-publishes."""

    def __init__(
        self,
        service: str,
        bootstrap_servers: str,
        session_factory: async_sessionmaker[AsyncSession],
        relay: OutboxRelay,
        *,
        interval_s: float = 2.0,
        republish_window_s: float = 7 * 86_400,
        replication_factor: int = 1,
        topics: Sequence[Topic] = TOPICS,
        now: Callable[[], datetime] = utcnow,
        on_loss: Sequence[Callable[[], None]] = (),
        on_healed: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.service = service
        self.bootstrap_servers = bootstrap_servers
        self.marker = f"{MARKER_PREFIX}{service}"
        self._session_factory = session_factory
        self.relay = relay
        self.interval_s = interval_s
        self.republish_window_s = republish_window_s
        self.replication_factor = replication_factor
        self.topics = tuple(topics)
        self._now = now
        self.on_loss = tuple(on_loss)
        self.on_healed = tuple(on_healed)
        self.armed = False
        self._loss_seen = False
        self.stats = WatchStats()

    async def _with_admin(self, work: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5_000
        )
        await admin.start()
        try:
            return await work(admin)
        finally:
            await admin.close()

    async def _create_marker(self, admin: AIOKafkaAdminClient) -> None:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(self.marker, 1, self.replication_factor)])

    async def _topic_names(self) -> set[str]:
        async def names(admin: AIOKafkaAdminClient) -> set[str]:
            return {str(name) for name in await admin.list_topics()}

        return await self._with_admin(names)

    async def _topics(self) -> dict[str, int]:
        """Topic names with their partition counts."""

        async def describe(admin: AIOKafkaAdminClient) -> dict[str, int]:
            names = list(await admin.list_topics())
            if not names:
                return {}
            found: dict[str, int] = {}
            for item in await admin.describe_topics(names):
                found[str(item["topic"])] = len(item.get("partitions") or ())
            return found

        return await self._with_admin(describe)

    async def check_once(self) -> bool:
        """One check; True when a loss was found (and healed, if this replica leads)."""
        self.stats.checks += 1
        if not self.armed:
            await self._with_admin(self._create_marker)
            self.armed = True
            return False
        if self.marker in await self._topic_names():
            if self._loss_seen:  # healed by the leader elsewhere
                self._healed()
            return False
        if not self._loss_seen:
            self._loss_seen = True
            self.stats.losses += 1
            self.stats.last_loss_at = self._now()
            metrics.BROKER_LOSSES.labels(self.service).inc()
            self.relay.renew_publisher()  # the lost broker's partition counts no longer hold
            for callback in self.on_loss:
                callback()  # e.g. consumers read their partitions again from the beginning
        if not self.relay.is_leader:
            # The leader heals and puts the marker back; until then every replica sees it gone.
            logger.warning("broker lost its topics; waiting for the relay leader to heal")
            return True
        await self.heal(await self._topics())
        self._healed()
        return True

    def _healed(self) -> None:
        """The topics are back for good: clients start over with fresh metadata."""
        self._loss_seen = False
        self.relay.renew_publisher()
        for callback in self.on_healed:
            callback()  # e.g. consumers renew, to be assigned every partition of the new topics

    async def heal(self, present: dict[str, int]) -> int:
        """Recreate topics, mark the window of the outbox pending again, wake the relay."""
        await ensure_topics(
            self.bootstrap_servers, self.topics, replication_factor=self.replication_factor
        )
        since = (
            None
            if self.republish_window_s <= 0
            else self._now() - timedelta(seconds=self.republish_window_s)
        )
        # Between two relay batches: a batch in flight marks its rows published after the
        # re-mark otherwise, and a batch sent before the topics came back may have gone to
        # partitions that no longer exist. The relay's next batch runs on a new producer.
        async with self.relay.paused():
            self.relay.renew_publisher()
            count = await republish_from(
                self._session_factory, from_id=None if since else 0, since=since
            )
        await self._with_admin(self._create_marker)
        self.stats.republished += count
        metrics.BROKER_LOSS_REPUBLISHED.labels(self.service).inc(count)
        shrunk = [
            f"{t.name} ({present[t.name]} of {t.partitions} partitions)"
            for t in self.topics
            if t.name in present and present[t.name] < t.partitions
        ]
        logger.warning(
            "broker lost its topics: recreated them and marked %d outbox events pending again%s",
            count,
            f"; re-created by a producer with fewer partitions: {', '.join(shrunk)}"
            if shrunk
            else "",
        )
        self.relay.wake()
        return count

    async def run(self, stop: asyncio.Event) -> None:
        """Check until stopped; an unreachable broker is simply checked again later."""
        while not stop.is_set():
            try:
                await self.check_once()
            except Exception as exc:
                logger.info("broker check failed (will retry): %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
