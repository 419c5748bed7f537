"""Fixtures: a fresh migrated database per test on every backend, the app, tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from los.bootstrap import build_app
from los.settings import LosSettings
from servicekit.auth import issue_token
from servicekit.clock import FixedClock
from servicekit.testing import DatabaseFactory, backends, database_factories

# A Monday in mid-month, so one month later is an ordinary date.
START = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def db_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    yield from database_factories("los:migrations", tmp_path_factory.mktemp("db"))


@pytest.fixture(params=backends())
def database_url(
    request: pytest.FixtureRequest, db_factories: dict[str, DatabaseFactory]
) -> Iterator[str]:
    factory = db_factories[request.param]
    url = factory.new_database()
    yield url
    factory.drop(url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(database_url: str, tmp_path: Any) -> LosSettings:
    return LosSettings(
        database_url=database_url,
        run_workers=False,
        environment="test",
        document_dir=tmp_path / "documents",
    )


@pytest.fixture
async def app(settings: LosSettings, clock: FixedClock) -> AsyncIterator[Any]:
    application = build_app(settings, clock=clock)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


class Tokens:
    """Bearer headers for any role and subject."""

    def __init__(self, settings: LosSettings) -> None:
        self.secret = settings.jwt_secret.get_secret_value()

    def __call__(self, *roles: str, sub: str | None = None) -> dict[str, str]:
        token = issue_token(self.secret, sub or f"user-{'-'.join(roles)}", roles)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(settings: LosSettings) -> Tokens:
    return Tokens(settings)
