"""The loan endpoints through the ASGI app, against a migrated database on every backend."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration
D = Decimal
READER = "servicing_agent"


async def book(inbox, to_message, event):
    assert await inbox.process(to_message(event)) == "processed"


async def test_get_loan_right_after_booking(client, token, inbox, to_message, disbursed, clock):
    await book(inbox, to_message, disbursed())
    response = await client.get("/v1/loans/LN-1", headers=token(READER))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "LN-1"
    assert body["status"] == "active"
    assert body["application_id"] == "APP-1"
    assert body["product_code"] == "PERSONAL-12M"
    assert body["principal"] == "10000.00"
    assert body["currency"] == "USD"
    assert body["annual_rate"] == "0.12"
    assert body["term"] == 12
    assert body["disbursement_date"] == "2024-05-01"
    assert datetime.fromisoformat(body["booked_at"].replace("Z", "+00:00")) == clock.now()
    # Nothing is due yet: only principal is outstanding (accrual comes with close of business).
    assert body["outstanding"] == {
        "principal": "10000.00",
        "interest": "0.00",
        "fees": "0.00",
        "penalties": "0.00",
        "total": "10000.00",
    }
    # 888.49: 10000 at 1% a month over 12 months, P*r/(1-(1+r)^-n) (see tests/conftest.py).
    assert body["next_due"] == {"date": "2024-06-01", "amount": "888.49"}
    assert body["days_past_due"] == 0
    assert body["delinquency_bucket"] == "current"
    assert body["schedule_matches_offer"] is True
    assert body["mismatches"] == []


async def close(client, token, clock, day):
    """Close of business for `day` (skipped dates first), run on the evening of that day."""
    clock.set(datetime(day.year, day.month, day.day, 22, tzinfo=UTC))
    response = await client.post(
        "/v1/cob/runs", json={"business_date": day.isoformat()}, headers=token("admin")
    )
    assert response.status_code in (200, 201), response.text


async def test_days_past_due_and_bucket_as_close_of_business_stores_them(
    client, token, inbox, to_message, disbursed, clock, reference
):
    await book(inbox, to_message, disbursed())
    table = reference(D("10000.00"), D("0.12"), 12)

    await close(client, token, clock, date(2024, 6, 1))
    body = (await client.get("/v1/loans/LN-1", headers=token(READER))).json()
    assert (body["days_past_due"], body["delinquency_bucket"]) == (0, "current")
    assert body["outstanding"]["interest"] == str(table[0]["interest"])

    # The clock alone changes nothing: the stored figures are the last closed date's.
    clock.set(datetime(2024, 6, 2, 12, tzinfo=UTC))
    body = (await client.get("/v1/loans/LN-1", headers=token(READER))).json()
    assert (body["days_past_due"], body["delinquency_bucket"]) == (0, "current")
    await close(client, token, clock, date(2024, 6, 2))
    body = (await client.get("/v1/loans/LN-1", headers=token(READER))).json()
    assert (body["days_past_due"], body["delinquency_bucket"]) == (1, "1-30")

    await close(client, token, clock, date(2024, 7, 15))
    body = (await client.get("/v1/loans/LN-1", headers=token(READER))).json()
    assert body["days_past_due"] == (date(2024, 7, 15) - date(2024, 6, 1)).days == 44
    assert body["delinquency_bucket"] == "31-60"
    interest_due = table[0]["interest"] + table[1]["interest"]
    assert D(body["outstanding"]["interest"]) == interest_due
    # Installment 1 now carries the penalties close of business charged (see test_cob.py).
    assert body["next_due"]["date"] == "2024-06-01"
    assert D(body["outstanding"]["penalties"]) > 0

    await close(client, token, clock, date(2024, 9, 1))
    body = (await client.get("/v1/loans/LN-1", headers=token(READER))).json()
    assert (body["days_past_due"], body["delinquency_bucket"]) == (92, "90+")


async def test_schedule(client, token, inbox, to_message, disbursed, clock, reference):
    await book(inbox, to_message, disbursed())
    clock.set(datetime(2024, 7, 1, 8, tzinfo=UTC))
    response = await client.get("/v1/loans/LN-1/schedule", headers=token("auditor"))
    assert response.status_code == 200
    body = response.json()
    assert (body["loan_id"], body["currency"], body["schedule_version"]) == ("LN-1", "USD", 1)
    rows = body["installments"]
    table = reference(D("10000.00"), D("0.12"), 12)
    assert [(D(r["principal"]), D(r["interest"]), D(r["total"])) for r in rows] == [
        (t["principal"], t["interest"], t["total"]) for t in table
    ]
    assert [r["number"] for r in rows] == list(range(1, 13))
    assert rows[0]["due_date"] == "2024-06-01"
    assert [r["status"] for r in rows[:3]] == ["overdue", "due", "pending"]
    assert {r["paid"] for r in rows} == {"0.00"}
    assert body["totals"]["principal"] == "10000.00"
    assert D(body["totals"]["interest"]) == sum(t["interest"] for t in table)
    assert D(body["totals"]["total"]) == sum(t["total"] for t in table)
    assert body["totals"]["paid"] == "0.00"


async def test_unknown_loan_is_a_404_problem(client, token):
    for path in ("/v1/loans/NOPE", "/v1/loans/NOPE/schedule"):
        response = await client.get(path, headers=token(READER))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "loan_not_found"


async def test_auth(client, token, inbox, to_message, disbursed):
    await book(inbox, to_message, disbursed())
    response = await client.get("/v1/loans/LN-1")
    assert response.status_code == 401
    assert response.json()["code"] == "token_missing"
    response = await client.get("/v1/loans/LN-1", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 401
    response = await client.get("/v1/loans/LN-1", headers=token("applicant_agent"))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden_role"
    response = await client.get("/v1/loans", headers=token("underwriter"))
    assert response.status_code == 403
    for role in (
        "servicing_agent",
        "collections_agent",
        "finance",
        "auditor",
        "credit_manager",
        "admin",
    ):
        assert (await client.get("/v1/loans/LN-1", headers=token(role))).status_code == 200


async def test_list_is_paginated_and_filterable(client, token, inbox, to_message, disbursed, clock):
    for n, product in ((1, "A"), (2, "B"), (3, "A")):
        await book(
            inbox,
            to_message,
            disbursed(loan_id=f"LN-{n}", application_id=f"APP-{n}", product_code=product),
        )
        clock.advance(timedelta(minutes=1))
    headers = token("finance")
    page = (await client.get("/v1/loans?limit=2&offset=0", headers=headers)).json()
    assert page["total"] == 3
    assert (page["limit"], page["offset"]) == (2, 0)
    assert [i["id"] for i in page["items"]] == ["LN-3", "LN-2"]  # newest booking first
    page = (await client.get("/v1/loans?limit=2&offset=2", headers=headers)).json()
    assert [i["id"] for i in page["items"]] == ["LN-1"]
    assert page["total"] == 3
    page = (await client.get("/v1/loans?product_code=A", headers=headers)).json()
    assert page["total"] == 2
    assert {i["id"] for i in page["items"]} == {"LN-1", "LN-3"}
    page = (await client.get("/v1/loans?application_id=APP-2", headers=headers)).json()
    assert [i["id"] for i in page["items"]] == ["LN-2"]
    page = (await client.get("/v1/loans?status=active", headers=headers)).json()
    assert page["total"] == 3
    page = (await client.get("/v1/loans?status=closed", headers=headers)).json()
    assert (page["total"], page["items"]) == (0, [])
    response = await client.get("/v1/loans?limit=0", headers=headers)
    assert response.status_code == 422


async def test_health_needs_no_token(client):
    assert (await client.get("/health/live")).status_code == 200
