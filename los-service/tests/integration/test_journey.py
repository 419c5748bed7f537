"""The whole origination journey through the API, and the outbox row it leaves."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest
from sqlalchemy import select

from lending_schemas import LoanDisbursedV1, from_kafka, parse_event
from los.adapters.orm import ApplicationRow
from servicekit.tables import OUTBOX
from tests.integration.helpers import AGENT_SUB, create_application

pytestmark = pytest.mark.integration


async def _outbox_rows(app):
    async with app.state.uow_factory() as uow:
        return (await uow.session.execute(select(OUTBOX).order_by(OUTBOX.c.id))).mappings().all()


async def test_approve_offer_accept_disburse(client, auth, app, clock):
    agent = auth("applicant_agent", sub=AGENT_SUB)
    app_id = await create_application(client, agent)

    r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved"
    decision = body["decision"]
    assert decision["outcome"] == "approve"
    assert decision["grade"] == "A"
    assert 300 <= decision["score"] <= 850
    assert decision["rule_set_version"] == "policy-2025.2"

    r = await client.get(f"/v1/applications/{app_id}/offer", headers=auth("auditor"))
    assert r.status_code == 200, r.text
    offer = r.json()
    assert offer["principal"] == "10000.00"
    assert offer["currency"] == "USD"
    assert offer["annual_rate"] == "0.0899"
    assert offer["term"] == 36
    # Independent figure: numpy-financial's pmt for 10000 at 8.99 %/12 over 36 months,
    # rounded half-even to cents, is 317.95 (317.9507873...).
    expected = Decimal(str(round(-npf.pmt(0.0899 / 12, 36, 10000), 2)))
    assert Decimal(offer["installment_amount"]) == expected == Decimal("317.95")
    totals = [Decimal(s["total"]) for s in offer["schedule"]]
    assert len(totals) == 36
    assert sum(totals) == Decimal(offer["total_repayable"])
    assert sum(Decimal(s["principal"]) for s in offer["schedule"]) == Decimal("10000.00")
    assert Decimal(offer["total_interest"]) == Decimal(offer["total_repayable"]) - Decimal(
        "10000.00"
    )
    # 2 % origination fee of 10000 = 200.00, deducted from the payout.
    assert offer["fees"] == [{"code": "ORIGINATION", "amount": "200.00", "treatment": "deducted"}]
    assert offer["net_disbursed"] == "9800.00"
    # APR cross-check: numpy-financial's rate() on the amount financed (9800) with the level
    # installment gives the periodic rate; the last installment differs by a few cents, so
    # compare to 4 decimals of the annual fraction.
    periodic = npf.rate(36, float(expected), -9800.0, 0.0)
    assert abs(Decimal(offer["apr"]) - Decimal(str(periodic * 12))) < Decimal("0.0001")
    assert Decimal(offer["apr"]) > Decimal("0.0899")
    assert offer["first_due_date"] == "2025-04-10"
    assert offer["expires_at"].startswith("2025-03-24T09:30:00")

    r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"

    clock.advance(timedelta(days=2))
    r = await client.post(f"/v1/applications/{app_id}/disburse", headers=auth("finance"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "disbursed"
    loan_id = body["loan_id"]
    assert loan_id

    rows = await _outbox_rows(app)
    # Submission staged ApplicationSubmitted and ApplicationDecided, keyed by application id.
    assert [r["event_type"] for r in rows] == [
        "lending.ApplicationSubmitted.v1",
        "lending.ApplicationDecided.v1",
        "lending.LoanDisbursed.v1",
    ]
    assert {r["key"] for r in rows[:2]} == {app_id}
    assert [r["sequence"] for r in rows[:2]] == [1, 2]  # the application's own sequence
    assert {r["topic"] for r in rows[:2]} == {"lending.application-events.v1"}
    row = rows[2]
    assert row["topic"] == "lending.loan-disbursed.v1"
    assert row["key"] == loan_id
    headers = {k: v for k, v in row["headers"]}
    assert headers["ce_type"] == "lending.LoanDisbursed.v1"
    assert headers["ce_dataschema"] == "urn:lending:schema:LoanDisbursed:1.2"
    assert headers["ce_subject"] == loan_id
    assert headers["ce_source"] == "/los"
    envelope = from_kafka(row["payload"].encode(), [(k, v.encode()) for k, v in row["headers"]])
    event = parse_event(envelope)
    assert isinstance(event, LoanDisbursedV1)
    assert event.promised.installment_amount == Decimal(offer["installment_amount"])
    assert event.promised.total_repayable == Decimal(offer["total_repayable"])
    assert event.promised.apr == Decimal(offer["apr"])
    assert event.net_disbursed == Decimal("9800.00")
    assert event.disbursement_date.isoformat() == "2025-03-12"
    assert event.first_due_date.isoformat() == "2025-04-10"
    assert event.application_id == app_id
    assert event.party_ref.startswith("PTY-")
    # No personal data travels: neither the name, national id, email nor phone.
    payload = json.loads(row["payload"])
    flat = json.dumps(payload)
    for pii in ("Ada", "Lovelace", "ada@example.com", "+15551234567", "1985-06-15"):
        assert pii not in flat

    r = await client.get(f"/v1/applications/{app_id}", headers=agent)
    body = r.json()
    assert body["status"] == "disbursed"
    assert body["loan_id"] == loan_id
    assert body["handoff"] == {
        "disbursed_at": body["handoff"]["disbursed_at"],
        "booked_at": None,
        "schedule_matches_offer": None,
        "mismatches": [],
    }
    assert body["handoff"]["disbursed_at"] is not None
    assert body["version"] == 4  # created, decided, accepted, disbursed: one bump per change
    async with app.state.uow_factory() as uow:
        stored = await uow.session.get(ApplicationRow, app_id)
        assert stored is not None
        assert stored.version == body["version"]
