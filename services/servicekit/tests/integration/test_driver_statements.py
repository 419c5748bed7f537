"""Statements run on a pooled connection's own asyncpg connection (servicekit.db.DriverStatement).

They must store exactly what the same statement stores through SQLAlchemy, give their
connection back to the pool, and never hand out a connection left mid-statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

import servicekit.idempotency as idempotency
from servicekit.db import DriverStatement, create_engine, fetch_row_on_driver, is_transient_db_error
from servicekit.tables import IDEMPOTENCY_KEYS
from servicekit.testing import POSTGRES_ENV, postgres_admin_url

pytestmark = pytest.mark.skipif(postgres_admin_url() is None, reason=f"{POSTGRES_ENV} is not set")

NOW = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
_PID = text("SELECT pg_backend_pid() AS pid")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the driver path is asyncpg's")
    built = create_engine(database_url, pool_size=1)
    yield built
    await built.dispose()


def _claim_params(scope: str) -> dict[str, object]:
    return {
        "scope": scope,
        "request_hash": "ab" * 32,
        "now": NOW,
        "expires_at": NOW + timedelta(days=1),
        "stale_before": NOW - timedelta(minutes=1),
    }


def _complete_params(scope: str) -> dict[str, object]:
    return {
        "key": scope,
        "status": 201,
        "headers": [["content-type", "application/json"], ["location", "/v1/x/é"]],
        "body": b'{"amount":"12345678901234567.89"}\x00\xff',
    }


async def _row(engine: AsyncEngine, scope: str) -> dict[str, object]:
    async with engine.connect() as conn:
        found = await conn.execute(
            select(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope)
        )
        return dict(found.mappings().one())


async def test_a_driver_statement_stores_what_sqlalchemy_stores(engine: AsyncEngine) -> None:
    claim = idempotency._CLAIM["postgresql"]
    on_driver = DriverStatement(claim, engine.dialect)
    complete = DriverStatement(idempotency._COMPLETE, engine.dialect)
    assert (await fetch_row_on_driver(engine, on_driver, _claim_params("driver")))[0] == "driver"
    assert await fetch_row_on_driver(engine, complete, _complete_params("driver")) is None
    async with engine.connect() as conn:
        await conn.execute(claim, _claim_params("core"))
        await conn.execute(idempotency._COMPLETE, _complete_params("core"))
        await conn.commit()
    by_driver, by_core = await _row(engine, "driver"), await _row(engine, "core")
    assert by_driver.pop("scope") == "driver"
    assert by_core.pop("scope") == "core"
    assert by_driver == by_core
    assert by_driver["state"] == "completed"  # the statement's own fixed value
    assert by_driver["created_at"] == NOW  # through the UTC type's processor, to the microsecond
    assert by_driver["response_headers"] == _complete_params("x")["headers"]  # JSON
    # A second claim of a live key returns no row, as through SQLAlchemy.
    assert await fetch_row_on_driver(engine, on_driver, _claim_params("driver")) is None


async def test_parameters_go_through_their_types_bind_processors(engine: AsyncEngine) -> None:
    on_driver = DriverStatement(idempotency._CLAIM["postgresql"], engine.dialect)
    naive = {**_claim_params("naive"), "now": NOW.replace(tzinfo=None)}
    with pytest.raises(ValueError, match="timezone-aware"):
        await fetch_row_on_driver(engine, on_driver, naive)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_cancelled_statement_does_not_return_its_connection_to_use(
    engine: AsyncEngine,
) -> None:
    pid = DriverStatement(_PID, engine.dialect)
    first = (await fetch_row_on_driver(engine, pid, {}))["pid"]
    assert (await fetch_row_on_driver(engine, pid, {}))["pid"] == first  # pooled, reused
    sleep = DriverStatement(text("SELECT pg_sleep(:s)").bindparams(bindparam("s")), engine.dialect)
    task = asyncio.create_task(fetch_row_on_driver(engine, sleep, {"s": 5}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The connection left mid-statement was closed: the next one is a new backend.
    assert (await fetch_row_on_driver(engine, pid, {}))["pid"] != first


async def test_a_dead_connection_is_a_transient_error_and_is_replaced(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import servicekit.db

    pid = DriverStatement(_PID, engine.dialect)
    first = (await fetch_row_on_driver(engine, pid, {}))["pid"]
    # The checkout check cannot see it (a network path gone silent, say).
    monkeypatch.setattr(servicekit.db, "driver_connection_closed", lambda _record: False)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)
    # Refused at once (the driver saw the socket close) or by the server's side gone.
    with pytest.raises((asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError)) as failed:
        await fetch_row_on_driver(engine, pid, {})
    assert is_transient_db_error(failed.value)
    assert (await fetch_row_on_driver(engine, pid, {}))["pid"] != first
