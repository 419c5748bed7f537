"""Kafka wiring: producers, consumers and topics, tuned per broker by settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from lending_schemas import TOPICS, Topic
from servicekit.settings import ServiceSettings

logger = logging.getLogger("servicekit.kafka")


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """A producer that waits for all replicas; idempotence only where the broker supports it."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.kafka_client_id or f"{settings.service_name}-producer",
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        linger_ms=1,
        request_timeout_ms=15_000,
    )


def make_consumer(
    settings: ServiceSettings, group_id: str, topics: Iterable[str]
) -> AIOKafkaConsumer:
    """A consumer that commits by hand, after the database transaction."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=settings.kafka_client_id or f"{settings.service_name}-consumer",
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        max_poll_records=500,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[Topic] = TOPICS,
    *,
    timeout_s: float = 30.0,
    replication_factor: int = 1,
) -> list[str]:
    """Create every registered topic and its dead-letter topic if missing; returns those created."""
    wanted: dict[str, int] = {}
    for topic in topics:
        wanted[topic.name] = topic.partitions
        wanted[topic.dead_letter] = 1
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, n, replication_factor)
            for name, n in wanted.items()
            if name not in existing
        ]
        for new_topic in missing:
            try:
                await admin.create_topics([new_topic])
                created.append(new_topic.name)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()
    if created:
        logger.info("created topics: %s", ", ".join(created))
    return created


async def broker_reachable(bootstrap_servers: str, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connection to the first bootstrap server opens in time."""
    host, _, port = bootstrap_servers.split(",")[0].rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True
