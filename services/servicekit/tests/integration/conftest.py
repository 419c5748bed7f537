"""Fixtures for servicekit's integration tier: fresh migrated databases and a real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from servicekit.broker import TansuBroker
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.testing import DatabaseFactory, backends, database_factories

MIGRATIONS = str(Path(__file__).parent / "sk_migrations")


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
