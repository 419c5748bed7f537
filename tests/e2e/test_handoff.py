"""The handoff across a real broker: LOS disbursement → LMS booking → LOS records it."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lending_schemas import from_kafka, make_event, parse_event, to_kafka
from lending_schemas.examples import example_loan_disbursed_v1
from tests.e2e.journey import APPLICANT, Tokens, principal_sum, run_journey
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
DISBURSED = "lending.loan-disbursed.v1"


def test_application_becomes_a_booked_loan(
    los: httpx.Client, lms: httpx.Client, tokens: Tokens
) -> None:
    result = run_journey(los, lms, tokens)
    offer, loan, schedule = result["offer"], result["loan"], result["schedule"]
    handoff = result["application"]["handoff"]
    assert result["application"]["status"] == "booked"
    assert handoff["booked_at"]
    assert handoff["schedule_matches_offer"] is True
    assert loan["status"] == "active"
    assert Decimal(loan["principal"]) == Decimal(offer["principal"]) == Decimal("12000.00")
    assert principal_sum(schedule) == Decimal(offer["principal"])
    installments = schedule["installments"]
    assert len(installments) == offer["term"] == 24
    assert Decimal(installments[0]["total"]) == Decimal(offer["installment_amount"])
    assert installments[0]["due_date"] == offer["first_due_date"]
    total = sum((Decimal(i["total"]) for i in installments), Decimal(0))
    assert total == Decimal(offer["total_repayable"])


def test_referred_application_is_booked_after_review(
    los: httpx.Client, lms: httpx.Client, tokens: Tokens
) -> None:
    # Obligations that push debt-to-income between the approve and refer limits.
    result = run_journey(
        los, lms, tokens, amount="20000.00", term=36, monthly_obligations="1950.00"
    )
    assert result["application"]["status"] == "booked"
    assert principal_sum(result["schedule"]) == Decimal("20000.00")


async def _produce(
    stack: Stack, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=stack.broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(DISBURSED, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _read_topic(stack: Stack, topic: str, wait_s: float = 3.0) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.broker.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    records: list = []
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records.extend(msgs)
    finally:
        await consumer.stop()
    return records


def _wait_for_loan(
    lms: httpx.Client, tokens: Tokens, loan_id: str, timeout_s: float = 20.0
) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    response = lms.get(
        f"/v1/loans/{loan_id}", headers={"Authorization": f"Bearer {tokens.servicing}"}
    )
    while response.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = lms.get(
            f"/v1/loans/{loan_id}", headers={"Authorization": f"Bearer {tokens.servicing}"}
        )
    return response


def _disbursed_record(
    loan_id: str, event_id: str | None = None
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    payload = example_loan_disbursed_v1(
        loan_id=loan_id,
        currency="USD",
        disbursement_date=date(2026, 5, 1),
        first_due_date=date(2026, 6, 1),
    )
    record = to_kafka(
        make_event(payload, source="/los", subject=loan_id, sequence=1, event_id=event_id)
    )
    return record.key, record.value, list(record.headers)


def test_duplicate_loan_disbursed_books_one_loan(
    stack: Stack, lms: httpx.Client, tokens: Tokens
) -> None:
    loan_id = f"LN-DUP-{uuid.uuid4().hex[:8]}"
    record = _disbursed_record(loan_id, event_id=str(uuid.uuid4()))
    asyncio.run(_produce(stack, [record, record, record]))
    assert _wait_for_loan(lms, tokens, loan_id).status_code == 200
    time.sleep(1.0)  # let the two redeliveries pass through the consumer
    listed = lms.get(
        "/v1/loans",
        params={"application_id": "APP-2024-004567", "limit": 200},
        headers={"Authorization": f"Bearer {tokens.servicing}"},
    ).json()
    assert [item["id"] for item in listed["items"]].count(loan_id) == 1
    booked = [
        r
        for r in asyncio.run(_read_topic(stack, "lending.loan-booked.v1"))
        if r.key == loan_id.encode()
    ]
    assert len(booked) == 1
    assert parse_event(from_kafka(booked[0].value, booked[0].headers)).loan_id == loan_id


def test_invalid_event_is_dead_lettered_and_the_next_is_booked(
    stack: Stack, lms: httpx.Client, tokens: Tokens
) -> None:
    loan_id = f"LN-DLT-{uuid.uuid4().hex[:8]}"
    key, value, headers = _disbursed_record(loan_id)
    poison_value = value.replace(b'"currency":"USD"', b'"currency":"DOLLARS"')
    assert poison_value != value
    poison_headers = [(k, b"poison-" + v if k == "ce_id" else v) for k, v in headers]
    asyncio.run(_produce(stack, [(key, poison_value, poison_headers), (key, value, headers)]))
    assert _wait_for_loan(lms, tokens, loan_id).status_code == 200
    dead = [
        r for r in asyncio.run(_read_topic(stack, "lending.loan-disbursed.v1.dlt")) if r.key == key
    ]
    assert len(dead) == 1
    dlt_headers = dict(dead[0].headers)
    assert dlt_headers["dlt_error_code"] == b"contract_violation"
    assert b"currency" in dlt_headers["dlt_reason"]
    assert dead[0].value == poison_value


def test_no_personal_data_in_logs_or_events(
    stack: Stack, los: httpx.Client, lms: httpx.Client, tokens: Tokens
) -> None:
    """A whole journey later, neither service's log nor any event carries the borrower's PII."""
    national_id = f"ZX{uuid.uuid4().int % 10**6:06d}A"
    result = run_journey(los, lms, tokens, national_id=national_id)
    assert result["application"]["status"] == "booked"
    secrets = [national_id, APPLICANT["phone"], APPLICANT["date_of_birth"], APPLICANT["email"]]
    logs = stack.logs()
    assert len(logs) > 1000  # the services did log this run
    assert [s for s in secrets if s in logs] == []
    values = b"".join(
        bytes(r.value or b"") + b"".join(v for _, v in r.headers)
        for topic in (
            "lending.loan-disbursed.v1",
            "lending.loan-booked.v1",
            "lending.application-events.v1",
        )
        for r in asyncio.run(_read_topic(stack, topic, wait_s=1.0))
    )
    assert values
    assert [s for s in secrets if s.encode() in values] == []


def test_health_metrics_and_docs(los: httpx.Client, lms: httpx.Client) -> None:
    for client in (los, lms):
        ready = client.get("/health/ready").json()
        assert ready["status"] == "ok"
        assert all(check["ok"] for check in ready["checks"].values())
        assert "outbox_pending" in client.get("/metrics").text
        assert client.get("/openapi.json").json()["openapi"].startswith("3.")
