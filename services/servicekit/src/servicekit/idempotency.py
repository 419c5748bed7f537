"""Idempotency-Key on POST: a replay returns the first response, a reused key with another body is 422.

Scope is (caller, method, path, key). The record is written before the handler runs
(`in_flight`) and completed with the response after. A replay that arrives while the first
request is still in flight polls the record for up to `idempotency_in_flight_wait_s` and
then answers the first request's stored response, so N parallel identical requests get N
identical responses and one effect; only a replay still in flight after the wait gets 409
`idempotency_in_flight`. Responses to unauthenticated calls and server errors are not kept,
so a retry (or a waiting replay) runs again.

Each step is one statement in autocommit mode (one round trip, no BEGIN and COMMIT): the
claim is an insert that takes the key when it is free, expired or abandoned in flight
(`INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`, atomic on PostgreSQL and
SQLite), and only when someone else holds the key is the record read; completing is one
update, forgetting one delete. On asyncpg the claim and the completion, which every POST
with a key makes, run on the pooled connection's own driver connection
(servicekit.db.DriverStatement), at about a third of their cost through SQLAlchemy. A
database that cannot be reached for the claim is a 503 `database_unavailable`, and nothing
is remembered.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.auth import bearer_token, verified_principal
from servicekit.db import (
    DriverStatement,
    UnitOfWorkFactory,
    fetch_row_on_driver,
    is_transient_db_error,
)
from servicekit.errors import ProblemError, database_unavailable, problem_response
from servicekit.outbox import utcnow
from servicekit.tables import IDEMPOTENCY_KEYS
from servicekit.types import UTCDateTime

logger = logging.getLogger("servicekit.idempotency")
HEADER = b"idempotency-key"
_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,200}$")
_NOT_KEPT = {401, 403, 413}
# A waiting replay reads the record after 20 ms, then backs off to every 250 ms.
_POLL_FIRST_S = 0.02
_POLL_MAX_S = 0.25


class IdempotencyMiddleware:
    """ASGI middleware honouring Idempotency-Key on every POST."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        if not _KEY_PATTERN.match(key):
            await problem_response(
                422,
                "idempotency_key_invalid",
                "Idempotency-Key must be 1-200 characters of letters, digits and ._:-",
            )(scope, receive, send)
            return
        state = scope["app"].state
        caller = _caller(scope, headers.get(b"authorization"), state.settings)
        if caller is None:
            # Let the route refuse the call; nothing is remembered for it.
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request_hash = hashlib.sha256(body).hexdigest()
        scope_key = f"{caller}|{scope['path']}|{key}"[:300]
        uow_factory: UnitOfWorkFactory = state.uow_factory
        engine = uow_factory.autocommit_engine
        ttl = timedelta(seconds=state.settings.idempotency_ttl_s)
        stale_after = timedelta(seconds=state.settings.idempotency_in_flight_timeout_s)

        wait_s = float(state.settings.idempotency_in_flight_wait_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        poll_s = _POLL_FIRST_S
        while True:
            try:
                existing = await _claim(engine, scope_key, request_hash, ttl, stale_after)
            except Exception as exc:
                if not is_transient_db_error(exc):
                    raise
                await database_unavailable(scope["path"])(scope, receive, send)
                return
            if existing is None:
                break  # this request holds the key: run it
            remaining = deadline - loop.time()
            if (
                existing["state"] == "completed"
                or existing["request_hash"] != request_hash
                or remaining <= 0
            ):
                await _answer_existing(existing, request_hash, scope, receive, send)
                return
            # The first request is still running: wait for its stored response. If it
            # fails and its record is forgotten, the next claim makes this request run.
            await asyncio.sleep(min(poll_s, remaining))
            poll_s = min(poll_s * 2, _POLL_MAX_S)

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def replay_receive() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [k.decode("latin-1"), v.decode("latin-1")]
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await _forget(engine, scope_key)
            raise
        status = int(captured["status"])
        if status >= 500 or status in _NOT_KEPT:
            await _forget(engine, scope_key)
        else:
            await _complete(engine, scope_key, status, captured["headers"], bytes(captured["body"]))


def _caller(scope: Scope, authorization: bytes | None, settings: Any) -> str | None:
    """Who is calling, if the token is valid (verified once: the route reuses the result)."""
    try:
        token = bearer_token(None if authorization is None else authorization.decode("latin-1"))
        return verified_principal(scope, token, settings).sub
    except ProblemError:
        return None


async def _read_body(receive: Receive) -> bytes:
    chunks = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.extend(message.get("body", b""))
            if not message.get("more_body", False):
                return bytes(chunks)
        elif message["type"] == "http.disconnect":
            return bytes(chunks)


def _claim_statement(dialect_name: str) -> Any:
    """The claim, built once per dialect: insert, or take over an expired or stale record."""
    keys = IDEMPOTENCY_KEYS.c
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    claim = dialect.insert(IDEMPOTENCY_KEYS).values(
        scope=bindparam("scope"),
        request_hash=bindparam("request_hash"),
        state="in_flight",
        created_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
    )
    return claim.on_conflict_do_update(
        index_elements=[keys.scope],
        set_={
            "request_hash": claim.excluded.request_hash,
            "state": claim.excluded.state,
            "status_code": null(),
            "response_headers": null(),
            "response_body": null(),
            "created_at": claim.excluded.created_at,
            "expires_at": claim.excluded.expires_at,
        },
        where=or_(
            keys.expires_at <= bindparam("now", type_=UTCDateTime()),
            and_(
                keys.state == "in_flight",
                keys.created_at <= bindparam("stale_before", type_=UTCDateTime()),
            ),
        ),
    ).returning(keys.scope)


_CLAIM = {name: _claim_statement(name) for name in ("postgresql", "sqlite")}
_READ = select(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == bindparam("scope"))
_COMPLETE = (
    update(IDEMPOTENCY_KEYS)
    .where(IDEMPOTENCY_KEYS.c.scope == bindparam("key"))
    .values(
        state="completed",
        status_code=bindparam("status"),
        response_headers=bindparam("headers"),
        response_body=bindparam("body"),
    )
)
_FORGET = delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == bindparam("scope"))
#: The claim and the completion compiled for asyncpg, built on first use.
_ON_DRIVER: dict[str, DriverStatement] = {}


async def _run(engine: AsyncEngine, name: str, statement: Any, params: dict[str, Any]) -> bool:
    """Run one statement in autocommit mode; whether it returned a row."""
    if engine.dialect.driver == "asyncpg":
        compiled = _ON_DRIVER.get(name)
        if compiled is None:
            compiled = _ON_DRIVER[name] = DriverStatement(statement, engine.dialect)
        return await fetch_row_on_driver(engine, compiled, params) is not None
    async with engine.connect() as conn:
        result = await conn.execute(statement, params)
        return result.returns_rows and result.first() is not None


async def _claim(
    engine: AsyncEngine,
    scope_key: str,
    request_hash: str,
    ttl: timedelta,
    stale_after: timedelta,
) -> dict[str, Any] | None:
    """Record the key as in flight; return the existing record if someone holds it.

    One statement takes the key when it is free, expired, or held in flight for longer than
    `stale_after` (its holder is taken to be gone); otherwise the record is read.
    """
    now = utcnow()
    claim = _CLAIM["postgresql" if engine.dialect.name == "postgresql" else "sqlite"]
    params = {
        "scope": scope_key,
        "request_hash": request_hash,
        "now": now,
        "expires_at": now + ttl,
        "stale_before": now - stale_after,
    }
    if await _run(engine, "claim", claim, params):
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(_READ, {"scope": scope_key})).mappings().first()
    # Gone in between (its request failed and was forgotten): the next claim may take it.
    return dict(row) if row is not None else {"state": "in_flight", "request_hash": request_hash}


async def _answer_existing(
    row: dict[str, Any], request_hash: str, scope: Scope, receive: Receive, send: Send
) -> None:
    if row["request_hash"] != request_hash:
        response = problem_response(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request body.",
        )
    elif row["state"] != "completed":
        response = problem_response(
            409,
            "idempotency_in_flight",
            "A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": "1"},
        )
    else:
        headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in row["response_headers"] or []
        ]
        headers = [h for h in headers if h[0].lower() not in (b"content-length",)]
        body = row["response_body"] or b""
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"idempotent-replayed", b"true"))
        await send(
            {"type": "http.response.start", "status": row["status_code"], "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})
        return
    await response(scope, receive, send)


async def _forget(engine: AsyncEngine, scope_key: str) -> None:
    try:
        async with engine.connect() as conn:
            await conn.execute(_FORGET, {"scope": scope_key})
    except Exception as exc:
        if not is_transient_db_error(exc):
            raise
        # The response (or the error) stands; the record stays in flight until it is stale.
        logger.warning("idempotency key not released, database unavailable: %r", exc)


async def _complete(
    engine: AsyncEngine,
    scope_key: str,
    status: int,
    headers: list[list[str]],
    body: bytes,
) -> None:
    await _run(
        engine,
        "complete",
        _COMPLETE,
        {"key": scope_key, "status": status, "headers": headers, "body": body},
    )
