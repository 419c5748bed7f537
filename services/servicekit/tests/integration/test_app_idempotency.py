"""The app shell: problem+json, auth, Idempotency-Key, body limits, health and metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import column, func, insert, select, table

from servicekit.app import build_runtime, create_app
from servicekit.auth import issue_token, require_roles
from servicekit.deps import UowDep
from servicekit.errors import ProblemError
from servicekit.outbox import utcnow
from servicekit.routing import api_router
from servicekit.settings import DEVELOPMENT_SECRET, ServiceSettings
from servicekit.tables import IDEMPOTENCY_KEYS
from servicekit.types import ExactDecimal, UTCDateTime

PROBE = table(
    "probe",
    column("id"),
    column("label"),
    column("amount", ExactDecimal()),
    column("created_at", UTCDateTime()),
)
TWENTY_DIGITS = "12345678901234567.891"


class ProbeIn(BaseModel):
    label: str
    amount: Decimal


class Nope(Exception):
    code = "nope_rule"


def _router() -> APIRouter:
    router = api_router()

    @router.post("/v1/probes", status_code=201)
    async def create_probe(
        body: ProbeIn,
        uow: UowDep,
        _: object = pytest.importorskip("fastapi").Depends(require_roles("finance")),
    ) -> dict[str, str]:
        await asyncio.sleep(0.05)  # widen the window for concurrent replays
        result = await uow.session.execute(
            insert(PROBE)
            .values(label=body.label, amount=body.amount, created_at=utcnow())
            .returning(PROBE.c.id)
        )
        new_id = result.scalar_one()
        await uow.commit()
        row = (await uow.session.execute(select(PROBE.c.amount).where(PROBE.c.id == new_id))).one()
        return {"id": str(new_id), "amount": str(row.amount)}

    @router.post("/v1/slow-probes", status_code=201)
    async def create_slow_probe(
        body: ProbeIn,
        uow: UowDep,
        _: object = pytest.importorskip("fastapi").Depends(require_roles("finance")),
    ) -> dict[str, str]:
        # Long enough that every parallel replay arrives while this one is in flight.
        await asyncio.sleep(0.5)
        result = await uow.session.execute(
            insert(PROBE)
            .values(label=body.label, amount=body.amount, created_at=utcnow())
            .returning(PROBE.c.id)
        )
        new_id = result.scalar_one()
        await uow.commit()
        return {"id": str(new_id), "label": body.label}

    flaky_calls: list[int] = []

    @router.post("/v1/flaky-probes", status_code=201)
    async def create_flaky_probe(
        body: ProbeIn,
        uow: UowDep,
        _: object = pytest.importorskip("fastapi").Depends(require_roles("finance")),
    ) -> dict[str, str]:
        flaky_calls.append(1)
        await asyncio.sleep(0.3)
        if len(flaky_calls) == 1:
            raise RuntimeError("the first attempt fails after a while")
        result = await uow.session.execute(
            insert(PROBE)
            .values(label=body.label, amount=body.amount, created_at=utcnow())
            .returning(PROBE.c.id)
        )
        new_id = result.scalar_one()
        await uow.commit()
        return {"id": str(new_id), "label": body.label}

    @router.get("/v1/boom")
    async def boom() -> None:
        raise Nope("the rule says no")

    @router.get("/v1/stale")
    async def stale() -> None:
        from sqlalchemy.orm.exc import StaleDataError

        raise StaleDataError("version mismatch")

    @router.get("/v1/conflict")
    async def conflict() -> None:
        raise ProblemError(409, "illegal_transition", "cannot go from a to b")

    return router


@pytest.fixture
def in_flight_wait_s() -> float:
    """How long a replay waits for the first request; tests override it."""
    return 5.0


@pytest.fixture
async def client(database_url: str, in_flight_wait_s: float) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="probe",
        database_url=database_url,
        run_workers=False,
        kafka_bootstrap_servers="127.0.0.1:1",
        max_request_bytes=2048,
        idempotency_in_flight_wait_s=in_flight_wait_s,
    )
    runtime = build_runtime(settings)
    app = create_app(
        runtime,
        title="probe",
        version="0",
        description="probe",
        routers=[_router()],
        domain_errors={Nope: 422},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http
    await runtime.engine.dispose()


def _auth(role: str = "finance", sub: str = "fin-1") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEVELOPMENT_SECRET, sub, [role])}"}


async def _count(client: httpx.AsyncClient) -> int:
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(PROBE))).scalar_one())


async def test_money_round_trips_exactly_with_twenty_digits(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/probes", json={"label": "x", "amount": TWENTY_DIGITS}, headers=_auth()
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == TWENTY_DIGITS


async def test_money_sent_as_a_json_number_keeps_every_digit(client: httpx.AsyncClient) -> None:
    body = b'{"label": "n", "amount": 12345678901234567.891}'
    response = await client.post(
        "/v1/probes", content=body, headers={**_auth(), "content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == TWENTY_DIGITS


async def test_body_bytes_that_are_not_utf8_are_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/probes",
        content=b'{"label": "\xff\xfe", "amount": 1}',
        headers={**_auth(), "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_json"
    assert await _count(client) == 0


async def test_nul_characters_are_refused_at_the_edge(client: httpx.AsyncClient) -> None:
    in_body = await client.post(
        "/v1/probes", json={"label": "a\u0000b", "amount": "1"}, headers=_auth()
    )
    in_query = await client.get("/v1/conflict?x=a%00b", headers=_auth())
    in_path = await client.get("/v1/con%00flict", headers=_auth())
    for response in (in_body, in_query, in_path):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_character"
    assert await _count(client) == 0
    # Escaped text that merely looks like a NUL is ordinary data.
    fine = await client.post(
        "/v1/probes", json={"label": "a\\u0000b", "amount": "1"}, headers=_auth()
    )
    assert fine.status_code == 201, fine.text


async def test_replay_returns_first_response_and_one_effect(client: httpx.AsyncClient) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-1"}
    first = await client.post("/v1/probes", json={"label": "a", "amount": "1.10"}, headers=headers)
    second = await client.post("/v1/probes", json={"label": "a", "amount": "1.10"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await _count(client) == 1


async def test_same_key_other_body_is_422(client: httpx.AsyncClient) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-2"}
    await client.post("/v1/probes", json={"label": "a", "amount": "1"}, headers=headers)
    response = await client.post("/v1/probes", json={"label": "a", "amount": "2"}, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_reused"
    assert await _count(client) == 1


async def test_keys_are_scoped_per_caller(client: httpx.AsyncClient) -> None:
    body = {"label": "a", "amount": "1"}
    await client.post("/v1/probes", json=body, headers={**_auth(sub="u1"), "Idempotency-Key": "k"})
    await client.post("/v1/probes", json=body, headers={**_auth(sub="u2"), "Idempotency-Key": "k"})
    assert await _count(client) == 2


@pytest.mark.parametrize("in_flight_wait_s", [0.0])
async def test_without_waiting_concurrent_replays_get_409_and_one_effect(
    client: httpx.AsyncClient,
) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-par"}
    body = {"label": "p", "amount": "5.00"}
    responses = await asyncio.gather(
        *(client.post("/v1/slow-probes", json=body, headers=headers) for _ in range(20))
    )
    created = [r for r in responses if r.status_code == 201]
    in_flight = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_flight) == 20
    assert len(in_flight) >= 1  # the slow first request is still running for the others
    assert len({r.text for r in created}) == 1
    assert all(r.json()["code"] == "idempotency_in_flight" for r in in_flight)
    assert all(r.headers["retry-after"] == "1" for r in in_flight)
    assert await _count(client) == 1


async def test_fifty_parallel_identical_posts_get_fifty_identical_responses(
    client: httpx.AsyncClient,
) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-fifty"}
    body = {"label": "fifty", "amount": "7.00"}
    responses = await asyncio.gather(
        *(client.post("/v1/slow-probes", json=body, headers=headers) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [201] * 50
    assert len({r.content for r in responses}) == 1
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 49  # one ran, every other one waited for it and got its answer
    assert await _count(client) == 1


async def test_a_waiting_replay_runs_itself_when_the_first_request_fails(
    client: httpx.AsyncClient,
) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-flaky"}
    body = {"label": "flaky", "amount": "2.00"}
    app = client._transport.app  # type: ignore[attr-defined]
    # The first request's unhandled error reaches the caller as a 500, as over a socket.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
        first = asyncio.ensure_future(raw.post("/v1/flaky-probes", json=body, headers=headers))
        await _until_key_held(client)
        replay = await raw.post("/v1/flaky-probes", json=body, headers=headers)
        assert (await first).status_code == 500
    assert replay.status_code == 201, replay.text
    assert "idempotent-replayed" not in replay.headers  # it ran, it did not replay the 500
    assert await _count(client) == 1


async def _until_key_held(client: httpx.AsyncClient) -> None:
    """Wait (bounded) until a request holds an Idempotency-Key."""
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    for _ in range(500):  # until the first request holds the key
        await asyncio.sleep(0.005)
        async with engine.connect() as conn:
            held = (
                await conn.execute(select(func.count()).select_from(IDEMPOTENCY_KEYS))
            ).scalar_one()
        if held:
            return


@pytest.mark.parametrize("in_flight_wait_s", [0.1])
async def test_replay_still_in_flight_after_the_wait_is_409(client: httpx.AsyncClient) -> None:
    headers = {**_auth(), "Idempotency-Key": "key-late"}
    body = {"label": "late", "amount": "1.00"}
    first = asyncio.ensure_future(client.post("/v1/slow-probes", json=body, headers=headers))
    await _until_key_held(client)  # the first request then runs for 0.5 s more
    replay = await client.post("/v1/slow-probes", json=body, headers=headers)
    assert replay.status_code == 409
    assert replay.json()["code"] == "idempotency_in_flight"
    assert (await first).status_code == 201
    after = await client.post("/v1/slow-probes", json=body, headers=headers)
    assert after.status_code == 201
    assert after.content == (await first).content
    assert await _count(client) == 1


async def test_unauthenticated_response_is_not_remembered(client: httpx.AsyncClient) -> None:
    body = {"label": "a", "amount": "1"}
    refused = await client.post("/v1/probes", json=body, headers={"Idempotency-Key": "key-3"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_missing"
    accepted = await client.post(
        "/v1/probes", json=body, headers={**_auth(), "Idempotency-Key": "key-3"}
    )
    assert accepted.status_code == 201


async def test_bad_key_wrong_role_and_problem_shapes(client: httpx.AsyncClient) -> None:
    bad_key = await client.post(
        "/v1/probes", json={}, headers={**_auth(), "Idempotency-Key": "x" * 201}
    )
    assert bad_key.json()["code"] == "idempotency_key_invalid"
    forbidden = await client.post(
        "/v1/probes", json={"label": "a", "amount": "1"}, headers=_auth("auditor")
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "forbidden_role"
    malformed = await client.post(
        "/v1/probes", content=b"{not json", headers={**_auth(), "content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "malformed_json"
    invalid = await client.post(
        "/v1/probes", json={"label": "a", "amount": "lots"}, headers=_auth()
    )
    assert invalid.json()["code"] == "validation_error"
    assert invalid.json()["errors"][0]["field"] == "body.amount"
    too_big = await client.post(
        "/v1/probes", json={"label": "a" * 5000, "amount": "1"}, headers=_auth()
    )
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "payload_too_large"
    domain = await client.get("/v1/boom")
    assert (domain.status_code, domain.json()["code"]) == (422, "nope_rule")
    conflict = await client.get("/v1/conflict")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "illegal_transition")
    stale = await client.get("/v1/stale")
    assert (stale.status_code, stale.json()["code"]) == (409, "concurrent_update")
    missing = await client.get("/v1/nowhere")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.headers["x-correlation-id"]
    assert await _count(client) == 0


async def test_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 503  # no broker on port 1
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["broker"]["ok"] is False
    await client.get("/health/live")
    metrics = (await client.get("/metrics")).text
    assert (
        'http_requests_total{method="GET",route="/health/live",service="probe",status="200"}'
        in metrics
    )


async def test_worker_mode_serves_operations_only(database_url: str) -> None:
    settings = ServiceSettings(
        service_name="probe-worker", database_url=database_url, run_workers=False, serve_api=False
    )
    runtime = build_runtime(settings)
    app = create_app(runtime, title="probe", version="0", description="probe", routers=[_router()])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
        missing = await http.post("/v1/probes", json={"label": "a", "amount": "1"}, headers=_auth())
        assert missing.status_code == 404
    await runtime.engine.dispose()


async def _put_record(client: httpx.AsyncClient, **values: object) -> None:
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        await conn.execute(insert(IDEMPOTENCY_KEYS).values(**values))


async def _put_in_flight(client: httpx.AsyncClient, scope: str, claimed_ago: timedelta) -> datetime:
    """A key claimed `claimed_ago` by a request that never completed; returns the time now."""
    now = utcnow()
    await _put_record(
        client,
        scope=scope,
        request_hash="0" * 64,
        state="in_flight",
        created_at=now - claimed_ago,
        expires_at=now + timedelta(days=1),
    )
    return now


async def _record(client: httpx.AsyncClient, scope: str) -> dict[str, object]:
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.scope == scope)))
            .mappings()
            .one()
        )
    return dict(row)


@pytest.mark.parametrize("in_flight_wait_s", [0.0])
async def test_a_stale_in_flight_record_is_taken_over(client: httpx.AsyncClient) -> None:
    # A request that claimed the key and died (its process crashed) 2 minutes ago, past the
    # 60 s in-flight timeout: the retry runs and its response is what the key keeps.
    scope = "fin-1|/v1/probes|key-stale"
    now = await _put_in_flight(client, scope, timedelta(minutes=2))
    headers = {**_auth(), "Idempotency-Key": "key-stale"}
    body = {"label": "retry", "amount": "3.00"}
    taken = await client.post("/v1/probes", json=body, headers=headers)
    assert taken.status_code == 201, taken.text
    assert "idempotent-replayed" not in taken.headers
    record = await _record(client, scope)
    assert (record["state"], record["status_code"]) == ("completed", 201)
    assert record["created_at"] > now - timedelta(seconds=30)  # the new claim's time
    replay = await client.post("/v1/probes", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == taken.content
    assert await _count(client) == 1


@pytest.mark.parametrize("in_flight_wait_s", [0.0])
async def test_a_fresh_in_flight_record_is_not_taken_over(client: httpx.AsyncClient) -> None:
    scope = "fin-1|/v1/probes|key-fresh"
    await _put_in_flight(client, scope, timedelta(seconds=5))
    headers = {**_auth(), "Idempotency-Key": "key-fresh"}
    response = await client.post("/v1/probes", json={"label": "x", "amount": "1"}, headers=headers)
    assert response.status_code == 422  # another body holds this key
    assert response.json()["code"] == "idempotency_key_reused"
    assert (await _record(client, scope))["state"] == "in_flight"
    assert await _count(client) == 0


async def test_an_expired_record_is_forgotten_and_the_request_runs_again(
    client: httpx.AsyncClient,
) -> None:
    scope = "fin-1|/v1/probes|key-expired"
    then = utcnow() - timedelta(days=2)
    await _put_record(
        client,
        scope=scope,
        request_hash="0" * 64,
        state="completed",
        status_code=201,
        response_headers=[["content-type", "application/json"]],
        response_body=b'{"id": "old"}',
        created_at=then,
        expires_at=then + timedelta(days=1),
    )
    headers = {**_auth(), "Idempotency-Key": "key-expired"}
    response = await client.post("/v1/probes", json={"label": "x", "amount": "1"}, headers=headers)
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    assert response.json()["id"] != "old"
    record = await _record(client, scope)
    assert (record["state"], record["status_code"]) == ("completed", 201)
    assert record["response_body"] == response.content
    assert await _count(client) == 1


async def test_a_bearer_token_is_verified_once_for_all_its_requests(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The idempotency middleware's check serves the route's role check, and a token that
    passed is not checked again on later requests; another token is checked on its own."""
    import servicekit.auth

    calls: list[str] = []
    real_decode = servicekit.auth.jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        calls.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(servicekit.auth.jwt, "decode", counting)
    unique = uuid.uuid4().hex  # a token no earlier test has presented
    headers = _auth(sub=f"fin-{unique}")
    for n in range(2):
        response = await client.post(
            "/v1/probes",
            json={"label": "x", "amount": "1"},
            headers={**headers, "Idempotency-Key": f"key-once-{unique}-{n}"},
        )
        assert response.status_code == 201, response.text
    assert len(calls) == 1
    forbidden = await client.post(
        "/v1/probes",
        json={"label": "x", "amount": "1"},
        headers={**_auth("auditor", sub=f"aud-{unique}"), "Idempotency-Key": f"k2-{unique}"},
    )
    assert forbidden.status_code == 403
    assert len(calls) == 2
