"""Fresh migrated databases per test on every backend, the inbox, the app and tokens."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lending_schemas import LoanDisbursedV1, make_event, to_kafka
from lms.bootstrap import build_app, loan_disbursed_consumer
from lms.settings import LmsSettings
from servicekit.auth import issue_token
from servicekit.clock import FixedClock
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.inbox import DeadLetterSink, InboxProcessor, Message
from servicekit.testing import backends, database_factories

TOPIC = "lending.loan-disbursed.v1"


@pytest.fixture(scope="session")
def db_factories(tmp_path_factory):
    yield from database_factories("lms:migrations", tmp_path_factory.mktemp("db"))


@pytest.fixture(params=backends())
def database_url(request, db_factories):
    factory = db_factories[request.param]
    url = factory.new_database()
    yield url
    factory.drop(url)


@pytest.fixture
def clock():
    return FixedClock(datetime(2024, 5, 1, 10, 0, tzinfo=UTC))


@pytest.fixture
async def uow_factory(database_url):
    engine = create_engine(database_url)
    yield UnitOfWorkFactory(engine)
    await engine.dispose()


class FakeDeadLetterProducer:
    """Stands in for Kafka on the dead-letter side only; nothing here crosses a broker."""

    def __init__(self):
        self.sent = []

    async def send_and_wait(self, topic, value, key=None, headers=None):
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})


@pytest.fixture
def dlt_producer():
    return FakeDeadLetterProducer()


@pytest.fixture
def inbox(uow_factory, clock, dlt_producer):
    """The processor wired with the handlers bootstrap registers."""
    spec = loan_disbursed_consumer(clock)
    sink = DeadLetterSink(spec.name, uow_factory, dlt_producer)
    return InboxProcessor(
        "lms",
        uow_factory,
        spec.handlers,
        dead_letter=sink,
        batch_handlers=spec.batch_handlers,
        max_attempts=2,
        backoff_initial_s=0,
    )


_offsets = itertools.count()


def message_for(event: LoanDisbursedV1, *, event_id: str | None = None, mutate=None) -> Message:
    """A Kafka record as the LOS relay would write it; `mutate` edits the JSON body."""
    envelope = make_event(
        event, source="/los", subject=event.loan_id, sequence=1, event_id=event_id
    )
    record = to_kafka(envelope)
    value = record.value
    if mutate is not None:
        import json

        body = json.loads(value)
        mutate(body)
        value = json.dumps(body).encode()
    return Message(TOPIC, 0, next(_offsets), record.key, value, record.headers)


@pytest.fixture
def to_message():
    return message_for


@pytest.fixture
async def app(database_url, clock):
    settings = LmsSettings(database_url=database_url, run_workers=False, environment="test")
    application = build_app(settings, clock=clock)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        yield http


@pytest.fixture
def token(app):
    def _token(*roles: str, sub: str = "tester") -> dict[str, str]:
        secret = app.state.settings.jwt_secret.get_secret_value()
        return {"Authorization": f"Bearer {issue_token(secret, sub, roles)}"}

    return _token


class BusinessDays:
    """Drives the LMS through business dates over its API with the frozen clock: payments
    at noon, close of business at 22:00, as a servicing back office would."""

    def __init__(self, client, token, clock):
        self.client, self.token, self.clock = client, token, clock

    def at(self, day, hour):
        self.clock.set(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))

    async def pay(self, loan_id, amount, day, *, currency="USD", ref=None):
        self.at(day, 12)
        response = await self.client.post(
            f"/v1/loans/{loan_id}/repayments",
            json={
                "amount": str(amount),
                "currency": currency,
                "value_date": day.isoformat(),
                "external_ref": ref or f"{loan_id}-{day}",
            },
            headers=self.token("servicing_agent"),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def close(self, day):
        self.at(day, 22)
        response = await self.client.post(
            "/v1/cob/runs",
            json={"business_date": day.isoformat()},
            headers={**self.token("finance"), "Idempotency-Key": f"cob-{day}"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def run(self, start, end, payments=None, after_close=None):
        """Each day from `start` to `end`: its payments (loan, amount[, currency]), then close
        of business, then `after_close(day)` if given."""
        day = start
        while day <= end:
            for loan_id, amount, *currency in (payments or {}).get(day, []):
                await self.pay(loan_id, amount, day, currency=currency[0] if currency else "USD")
            await self.close(day)
            if after_close is not None:
                await after_close(day)
            day += timedelta(days=1)


@pytest.fixture
def days(client, token, clock):
    return BusinessDays(client, token, clock)
