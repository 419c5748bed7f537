"""Fixtures for servicekit's integration tier: fresh migrated databases and a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from servicekit.broker import TansuBroker
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.testing import DatabaseFactory, backends, database_factories

MIGRATIONS = str(Path(__file__).parent / "sk_migrations")
TOPIC = "lending.loan-disbursed.v1"


@pytest.fixture(scope="session")
def db_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    yield from database_factories(MIGRATIONS, tmp_path_factory.mktemp("db"))


@pytest.fixture(params=backends())
def database_url(
    request: pytest.FixtureRequest, db_factories: dict[str, DatabaseFactory]
) -> Iterator[str]:
    factory = db_factories[request.param]
    url = factory.new_database()
    yield url
    factory.drop(url)


@pytest.fixture
async def uow_factory(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    engine = create_engine(database_url)
    yield UnitOfWorkFactory(engine)
    await engine.dispose()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    with TansuBroker(log_file=tmp_path / "broker.log") as running:
        yield running


async def consume_all(
    bootstrap: str, expected: int, timeout_s: float = 15.0, topic: str = TOPIC
) -> list[Any]:
    """Records on the topic from the beginning, until `expected` arrived or time is up."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
def consume() -> Callable[..., Awaitable[list[Any]]]:
    """`await consume(bootstrap, expected)`: what the loan-disbursed topic holds."""
    return consume_all
