"""SQL-injection strings in every LMS text field, filter and path id are data: refused by
validation or stored verbatim, never executed; the tables stay intact and the ledger balances.

Mirrors the LOS's test_injection.py, on every backend the fixtures give."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from lms.adapters.orm import (
    ChargeRow,
    JournalEntryRow,
    LoanRow,
    PaymentRow,
    PostingRow,
    ServicingRequestRow,
    StatementLineRow,
)

pytestmark = pytest.mark.integration

PAYLOADS = [
    "'; DROP TABLE loans; --",
    "Robert'); DELETE FROM postings WHERE ('1'='1",
    '" OR 1=1 --',
    "x' UNION SELECT id FROM loans --",
    "1; UPDATE payments SET amount = 0",
]


@pytest.fixture
async def loan(inbox, to_message, disbursed, clock):
    assert await inbox.process(to_message(disbursed())) == "processed"
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))
    return "LN-1"


async def _count(app, model) -> int:
    async with app.state.uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)))


async def _intact(client, token, app) -> None:
    """The loan is still there, the ledger still balances, nothing was dropped or emptied."""
    admin = token("admin")
    loans = await client.get("/v1/loans", headers=admin)
    assert loans.status_code == 200
    assert loans.json()["total"] == 1
    assert (await client.get("/v1/loans/LN-1", headers=admin)).status_code == 200
    tb = (await client.get("/v1/ledger/trial-balance", headers=admin)).json()
    assert tb["balanced"] is True
    assert await _count(app, LoanRow) == 1
    assert await _count(app, PostingRow) >= 3
    assert await _count(app, JournalEntryRow) >= 1


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        ["statement_line_id", "value_date", "amount", "currency", "reference", "counterparty"],
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_repayment_external_ref_and_charge_reason_are_inert(
    client, token, app, loan, payload
):
    admin = token("admin")
    paid = await client.post(
        "/v1/loans/LN-1/repayments",
        json={
            "amount": "100.00",
            "currency": "USD",
            "value_date": "2024-06-01",
            "external_ref": payload,
        },
        headers=admin,
    )
    # Every payload is a well-formed reference: it must be accepted and kept as it is.
    assert paid.status_code == 201, paid.text
    if paid.status_code == 201:
        stored = await client.get(f"/v1/loans/LN-1/repayments/{paid.json()['id']}", headers=admin)
        assert stored.status_code == 200
        assert stored.json()["external_ref"] == payload
        async with app.state.uow_factory() as uow:
            refs = (await uow.session.scalars(select(PaymentRow.external_ref))).all()
        assert refs == [payload]
        # The same reference again is recognised as the same payment, by value.
        again = await client.post(
            "/v1/loans/LN-1/repayments",
            json={
                "amount": "100.00",
                "currency": "USD",
                "value_date": "2024-06-01",
                "external_ref": payload,
            },
            headers=admin,
        )
        assert again.status_code == 200, again.text
        assert again.json()["id"] == paid.json()["id"]

    charged = await client.post(
        "/v1/loans/LN-1/charges",
        json={
            "component": "fees",
            "amount": "5.00",
            "currency": "USD",
            "installment_number": 2,
            "charge_date": "2024-06-15",
            "reason": payload,
        },
        headers=admin,
    )
    assert charged.status_code == 201, charged.text
    if charged.status_code == 201:
        assert charged.json()["reason"] == payload
        async with app.state.uow_factory() as uow:
            reasons = (await uow.session.scalars(select(ChargeRow.reason))).all()
        assert reasons == [payload]
    transactions = await client.get("/v1/loans/LN-1/transactions", headers=admin)
    assert transactions.status_code == 200
    await _intact(client, token, app)


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_servicing_request_reasons_and_comments_are_inert(client, token, app, loan, payload):
    asks = [
        ("/v1/loans/LN-1/restructure", {"kind": "reschedule", "extend_by": 2, "reason": payload}),
        ("/v1/loans/LN-1/write-off", {"reason": payload}),
    ]
    for path, body in asks:
        asked = await client.post(path, json=body, headers=token("servicing_agent", sub="maker"))
        assert asked.status_code == 201, asked.text
        assert asked.json()["reason"] == payload
        rejected = await client.post(
            f"/v1/servicing-requests/{asked.json()['id']}/reject",
            json={"comment": payload},
            headers=token("credit_manager", sub="checker"),
        )
        assert rejected.status_code == 200, rejected.text
        stored = await client.get(
            f"/v1/servicing-requests/{asked.json()['id']}", headers=token("credit_manager")
        )
        assert (stored.json()["reason"], stored.json()["decision_comment"]) == (payload, payload)
    async with app.state.uow_factory() as uow:
        reasons = (await uow.session.scalars(select(ServicingRequestRow.reason))).all()
    assert reasons == [payload, payload]
    await _intact(client, token, app)


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_statement_reference_and_counterparty_are_inert(client, token, app, loan, payload):
    admin = token("admin")
    paid = await client.post(
        "/v1/loans/LN-1/repayments",
        json={
            "amount": "100.00",
            "currency": "USD",
            "value_date": "2024-06-01",
            "external_ref": payload,
        },
        headers=admin,
    )
    assert paid.status_code == 201, paid.text
    content = _csv(
        [
            # Matches the payment above by its (hostile) reference, compared as a value.
            {
                "statement_line_id": "S1",
                "value_date": "2024-06-01",
                "amount": "100.00",
                "currency": "USD",
                "reference": payload,
                "counterparty": payload,
            },
            # Matches nothing: goes to suspense, with the hostile strings stored verbatim.
            {
                "statement_line_id": payload[:60],
                "value_date": "2024-06-02",
                "amount": "12.34",
                "currency": "USD",
                "reference": payload + " (2)",
                "counterparty": payload,
            },
        ]
    )
    response = await client.post(
        "/v1/reconciliation/statements",
        content=content,
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    lines = {line["statement_line_id"]: line for line in response.json()["lines"]}
    assert lines["S1"]["status"] == "matched"
    assert lines["S1"]["payment_id"] == paid.json()["id"]
    assert lines[payload[:60]]["status"] == "unmatched"
    assert payload not in {line.get("counterparty") for line in lines.values()}
    async with app.state.uow_factory() as uow:
        stored = (
            await uow.session.execute(
                select(
                    StatementLineRow.line_id,
                    StatementLineRow.reference,
                    StatementLineRow.counterparty,
                ).order_by(StatementLineRow.line_id)
            )
        ).all()
    assert sorted(tuple(r) for r in stored) == sorted(
        [("S1", payload, payload), (payload[:60], payload + " (2)", payload)]
    )
    await _intact(client, token, app)


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_filters_and_path_ids_are_inert(client, token, app, loan, payload):
    admin = token("admin")
    listed = await client.get(
        "/v1/loans",
        params={"status": payload, "product_code": payload, "application_id": payload},
        headers=admin,
    )
    assert listed.status_code in (200, 422), listed.text
    if listed.status_code == 200:
        assert listed.json()["total"] == 0
        assert listed.json()["items"] == []
    for name in ("status", "product_code", "application_id"):
        one = await client.get("/v1/loans", params={name: payload}, headers=admin)
        assert one.status_code in (200, 422), one.text
        if one.status_code == 200:
            assert one.json()["total"] == 0

    hostile = quote(payload, safe="")
    for path in (
        f"/v1/loans/{hostile}",
        f"/v1/loans/{hostile}/schedule",
        f"/v1/loans/{hostile}/transactions",
        f"/v1/loans/{hostile}/payoff-quote",
        f"/v1/loans/LN-1/repayments/{hostile}",
    ):
        response = await client.get(path, headers=admin)
        assert response.status_code in (404, 422), (path, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    for path, body in (
        (
            f"/v1/loans/{hostile}/repayments",
            {
                "amount": "1.00",
                "currency": "USD",
                "value_date": "2024-06-01",
                "external_ref": "R-1",
            },
        ),
        (f"/v1/loans/LN-1/repayments/{hostile}/reversal", None),
    ):
        response = await client.post(path, json=body, headers=admin)
        assert response.status_code in (404, 422), (path, response.status_code, response.text)
    assert await _count(app, PaymentRow) == 0
    await _intact(client, token, app)


async def test_nul_characters_are_refused_in_filters_bodies_and_statements(
    client, token, app, loan
):
    admin = token("admin")
    listed = await client.get("/v1/loans", params={"status": "a\x00b"}, headers=admin)
    assert listed.status_code == 422
    assert listed.json()["code"] == "invalid_character"
    paid = await client.post(
        "/v1/loans/LN-1/repayments",
        json={
            "amount": "1.00",
            "currency": "USD",
            "value_date": "2024-06-01",
            "external_ref": "R\x00-1",
        },
        headers=admin,
    )
    assert paid.status_code == 422
    assert paid.json()["code"] == "invalid_character"
    content = _csv(
        [
            {
                "statement_line_id": "N1",
                "value_date": "2024-06-01",
                "amount": "1.00",
                "currency": "USD",
                "reference": "R-1",
                "counterparty": "a\x00b",
            }
        ]
    )
    statement = await client.post(
        "/v1/reconciliation/statements",
        content=content,
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert statement.status_code == 422, statement.text
    assert statement.json()["code"] == "statement_rejected"
    assert "NUL" in statement.json()["errors"][0]["reason"]
    assert await _count(app, PaymentRow) == 0
    assert await _count(app, StatementLineRow) == 0
    await _intact(client, token, app)
