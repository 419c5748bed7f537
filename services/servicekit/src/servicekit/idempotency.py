"""Idempotency-Key on POST: a replay returns the first response, a reused key with another body is 422.

Scope is (caller, method, path, key). The record is written before the handler runs
(`in_flight`) and completed with the response after. A replay that arrives while the first
request is still in flight polls the record for up to `idempotency_in_flight_wait_s` and
then answers the first request's stored response, so N parallel identical requests get N
identical responses and one effect; only a replay still in flight after the wait gets 409
`idempotency_in_flight`. Responses to unauthenticated calls and server errors are not kept,
so a retry (or a waiting replay) runs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.db import UnitOfWorkFactory
from servicekit.errors import problem_response
from servicekit.outbox import utcnow
from servicekit.tables import IDEMPOTENCY_KEYS

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
        caller = _caller(headers.get(b"authorization"), state.settings)
        if caller is None:
            # Let the route refuse the call; nothing is remembered for it.
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request_hash = hashlib.sha256(body).hexdigest()
        scope_key = f"{caller}|{scope['path']}|{key}"[:300]
        uow_factory: UnitOfWorkFactory = state.uow_factory
        ttl = timedelta(seconds=state.settings.idempotency_ttl_s)
        stale_after = timedelta(seconds=state.settings.idempotency_in_flight_timeout_s)

        wait_s = float(state.settings.idempotency_in_flight_wait_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        poll_s = _POLL_FIRST_S
        while True:
            existing = await _claim(uow_factory, scope_key, request_hash, ttl, stale_after)
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
            await _forget(uow_factory, scope_key)
            raise
        status = int(captured["status"])
        if status >= 500 or status in _NOT_KEPT:
            await _forget(uow_factory, scope_key)
        else:
            await _complete(
                uow_factory, scope_key, status, captured["headers"], bytes(captured["body"])
            )


def _caller(authorization: bytes | None, settings: Any) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = jwt.decode(
            token.strip(),
            settings.jwt_secret.get_secret_value(),
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


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


async def _claim(
    uow_factory: UnitOfWorkFactory,
    scope_key: str,
    request_hash: str,
    ttl: timedelta,
    stale_after: timedelta,
) -> dict[str, Any] | None:
    """Record the key as in flight; return the existing record if someone holds it."""
    now = utcnow()
    async with uow_factory() as uow:
        row = (
            (
                await uow.session.execute(
                    select(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope_key)
                )
            )
            .mappings()
            .first()
        )
        if row is not None:
            expired = row["expires_at"] <= now
            abandoned = row["state"] == "in_flight" and row["created_at"] <= now - stale_after
            if not (expired or abandoned):
                return dict(row)
            await uow.session.execute(
                delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope_key)
            )
        try:
            await uow.session.execute(
                insert(IDEMPOTENCY_KEYS).values(
                    scope=scope_key,
                    request_hash=request_hash,
                    state="in_flight",
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            await uow.commit()
        except IntegrityError:
            await uow.rollback()
        else:
            return None
    async with uow_factory() as uow:
        row = (
            (
                await uow.session.execute(
                    select(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope_key)
                )
            )
            .mappings()
            .first()
        )
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


async def _forget(uow_factory: UnitOfWorkFactory, scope_key: str) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(
            delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope_key)
        )
        await uow.commit()


async def _complete(
    uow_factory: UnitOfWorkFactory,
    scope_key: str,
    status: int,
    headers: list[list[str]],
    body: bytes,
) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(
            update(IDEMPOTENCY_KEYS)
            .where(IDEMPOTENCY_KEYS.c.scope == scope_key)
            .values(
                state="completed",
                status_code=status,
                response_headers=json.loads(json.dumps(headers)),
                response_body=body,
            )
        )
        await uow.commit()
