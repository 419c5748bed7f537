"""The pool without a pre-ping: dead connections are replaced, outages are a clean 503.

There is no pre-ping (three round trips per checkout on asyncpg). A pooled connection the
server has closed is swapped for a fresh one when it is checked out, which the driver knows
without a round trip; one that died unnoticed fails its first statement, SQLAlchemy then
invalidates the pool, and the request gets a 503 problem that the client may retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import column, func, insert, select, table, text
from sqlalchemy.exc import DBAPIError, IntegrityError

import servicekit.db
from servicekit.app import build_runtime, create_app
from servicekit.auth import issue_token
from servicekit.db import create_engine, is_transient_db_error
from servicekit.deps import UowDep
from servicekit.outbox import utcnow
from servicekit.routing import api_router
from servicekit.settings import DEVELOPMENT_SECRET, ServiceSettings
from servicekit.tables import IDEMPOTENCY_KEYS
from servicekit.testing import POSTGRES_ENV, postgres_admin_url, with_database
from servicekit.types import UTCDateTime

PROBE = table(
    "probe", column("id"), column("label"), column("amount"), column("created_at", UTCDateTime())
)
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
needs_postgres = pytest.mark.skipif(
    postgres_admin_url() is None, reason=f"{POSTGRES_ENV} is not set"
)


def _router() -> APIRouter:
    router = api_router()

    @router.post("/v1/labels", status_code=201)
    async def create_label(uow: UowDep) -> dict[str, str]:
        await uow.session.execute(insert(PROBE).values(label="x", amount="1", created_at=utcnow()))
        await uow.commit()
        return {"ok": "yes"}

    @router.post("/v1/duplicates", status_code=201)
    async def duplicate(uow: UowDep) -> dict[str, str]:
        await uow.session.execute(insert(IDEMPOTENCY_KEYS).values(scope="dup", state="x"))
        return {"never": "here"}

    @router.get("/v1/backend")
    async def backend(uow: UowDep) -> dict[str, int]:
        return {"pid": int((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar())}

    return router


def _app(database_url: str) -> httpx.AsyncClient:
    settings = ServiceSettings(
        service_name="probe",
        database_url=database_url,
        run_workers=False,
        kafka_bootstrap_servers="127.0.0.1:1",
    )
    app = create_app(
        build_runtime(settings), title="probe", version="0", description="p", routers=[_router()]
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
    )


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _app(database_url) as http:
        yield http
        await http._transport.app.state.engine.dispose()  # type: ignore[attr-defined]


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEVELOPMENT_SECRET, 'fin-1', ['finance'])}"}


async def _terminate(database_url: str, pid: int) -> None:
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


def _assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["code"] == "database_unavailable"


async def test_unreachable_database_is_a_503_with_or_without_a_key() -> None:
    async with _app(UNREACHABLE) as http:
        with_key = await http.post("/v1/labels", headers={**_auth(), "Idempotency-Key": "k1"})
        _assert_503(with_key)  # the claim could not be written: nothing is remembered
        without_key = await http.post("/v1/labels", headers=_auth())
        _assert_503(without_key)  # the route's own unit of work could not connect
        await http._transport.app.state.engine.dispose()  # type: ignore[attr-defined]


async def test_other_database_errors_stay_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/duplicates", headers=_auth())
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"


def test_driver_errors_behind_sqlalchemy_wrappers_are_transient() -> None:
    class CannotConnectNowError(Exception):  # asyncpg's name, 57P03
        pass

    class DriverError(Exception):
        pass

    cause = DriverError("the database system is starting up")
    cause.__cause__ = CannotConnectNowError()
    assert is_transient_db_error(DBAPIError("SELECT 1", {}, cause))
    assert not is_transient_db_error(DBAPIError("SELECT 1", {}, DriverError("syntax")))
    assert not is_transient_db_error(IntegrityError("INSERT", {}, DriverError("duplicate")))


@needs_postgres
async def test_pool_keeps_every_connection_it_opened() -> None:
    engine = create_engine(with_database(str(postgres_admin_url()), "postgres"), pool_size=2)
    try:
        connections = [await engine.connect() for _ in range(4)]  # the ceiling: 2 x pool_size
        for conn in connections:
            await conn.execute(text("SELECT 1"))
        for conn in connections:
            await conn.close()
        # All four stay open for the next requests (not two kept and two closed).
        assert engine.pool.checkedin() == 4  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


@needs_postgres
async def test_a_connection_the_server_closed_is_replaced_without_an_error(
    database_url: str, client: httpx.AsyncClient
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("server-side connections are PostgreSQL's")
    first = await client.get("/v1/backend")
    pid = first.json()["pid"]
    await _terminate(database_url, pid)  # an idle pooled connection, as on a server restart
    await asyncio.sleep(0.2)  # the driver sees the socket close
    again = await client.get("/v1/backend")
    assert again.status_code == 200, again.text
    assert again.json()["pid"] != pid
    created = await client.post("/v1/labels", headers={**_auth(), "Idempotency-Key": "k2"})
    assert created.status_code == 201, created.text


@needs_postgres
async def test_a_connection_that_died_unnoticed_is_a_503_then_recovers(
    database_url: str, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("server-side connections are PostgreSQL's")
    pid = (await client.get("/v1/backend")).json()["pid"]
    # The checkout check cannot see it (a network path gone silent, say).
    monkeypatch.setattr(servicekit.db, "driver_connection_closed", lambda _record: False)
    await _terminate(database_url, pid)
    await asyncio.sleep(0.2)
    failed = await client.post("/v1/labels", headers=_auth())
    _assert_503(failed)
    recovered = await client.post("/v1/labels", headers={**_auth(), "Idempotency-Key": "k3"})
    assert recovered.status_code == 201, recovered.text
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        labels = (await conn.execute(select(func.count()).select_from(PROBE))).scalar_one()
        keys = (await conn.execute(select(func.count()).select_from(IDEMPOTENCY_KEYS))).scalar_one()
    assert (labels, keys) == (1, 1)
