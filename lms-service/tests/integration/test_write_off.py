"""Write-off behind maker-checker, recoveries and closure, through the API on every backend.

Loans of 10000.00 USD at 12% over 12 months (30/360), disbursed 2024-05-01, first due
2024-06-01. DEBTOR pays nothing; close of business runs daily to 2024-07-15, then DEBTOR is
written off. Golden figures: principal 10000.00 (nothing repaid); interest as accrued by
the rule written out in Fraction arithmetic below (whole periods, then the linear share of
the running period, rounded half-even once); penalties from the charges table, a record
separate from the ledger the write-off reads.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from lending_schemas import LoanWrittenOffV1, from_kafka, parse_event
from lms.adapters.orm import ChargeRow, InterestAccrualRow
from servicekit.tables import OUTBOX

pytestmark = pytest.mark.integration
D = Decimal
DUE = [date(2024 + (5 + k) // 12, (5 + k) % 12 + 1, 1) for k in range(12)]
WRITE_OFF_DAY = date(2024, 7, 15)


def accrued_by(table, on: date) -> Decimal:
    total, start = D("0.00"), date(2024, 5, 1)
    for row, due in zip(table, DUE, strict=True):
        if on >= due:
            total += row["interest"]
            start = due
            continue
        share = Fraction(row["interest"]) * (on - start).days / (due - start).days
        total += (D(share.numerator) / D(share.denominator)).quantize(D("0.01"), ROUND_HALF_EVEN)
        break
    return total


async def _book(inbox, to_message, disbursed, *loan_ids):
    for loan_id in loan_ids:
        event = disbursed(loan_id=loan_id, application_id=f"APP-{loan_id}")
        assert await inbox.process(to_message(event)) == "processed"


async def _ledger(client, token) -> dict[str, Decimal]:
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    rec = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    assert tb["balanced"], tb
    assert rec["ok"], rec
    return {a["account"]: D(a["balance"]) for a in tb["accounts"]}


async def test_write_off_needs_a_second_person_and_takes_everything_off_the_books(
    inbox, to_message, disbursed, days, client, token, clock, app, reference
):
    table = reference(D("10000.00"), D("0.12"), 12)
    await _book(inbox, to_message, disbursed, "DEBTOR", "OTHER")
    await days.run(date(2024, 5, 1), WRITE_OFF_DAY)
    clock.set(datetime(2024, 7, 16, 9, tzinfo=UTC))
    before = await _ledger(client, token)

    maker = token("servicing_agent", "credit_manager", sub="agent-ann")
    asked = await client.post(
        "/v1/loans/DEBTOR/write-off", json={"reason": "no contact for 45 days"}, headers=maker
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["requested_by"]) == ("pending", "agent-ann")
    again = await client.post("/v1/loans/DEBTOR/write-off", json={"reason": "x"}, headers=maker)
    assert (again.status_code, again.json()["code"]) == (409, "request_pending")
    # Nothing moved yet; the requester cannot approve, whatever roles they hold.
    assert await _ledger(client, token) == before
    own = await client.post(
        f"/v1/servicing-requests/{request['id']}/approve", json={"comment": "ok"}, headers=maker
    )
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes_violation")
    wrong_role = await client.post(
        f"/v1/servicing-requests/{request['id']}/approve",
        json={},
        headers=token("servicing_agent", sub="agent-bob"),
    )
    assert wrong_role.status_code == 403
    assert await _ledger(client, token) == before

    queue = await client.get(
        "/v1/servicing-requests", params={"status": "pending"}, headers=token("credit_manager")
    )
    assert [r["id"] for r in queue.json()] == [request["id"]]
    approved = await client.post(
        f"/v1/servicing-requests/{request['id']}/approve",
        json={"comment": "agreed"},
        headers=token("credit_manager", sub="cm-carol"),
    )
    assert approved.status_code == 200, approved.text
    outcome = approved.json()["outcome"]

    async with app.state.uow_factory() as uow:
        charges = (
            await uow.session.scalars(select(ChargeRow.amount).where(ChargeRow.loan_id == "DEBTOR"))
        ).all()
    penalties = sum(charges, D(0))
    interest = accrued_by(table, WRITE_OFF_DAY)
    assert penalties > 0
    assert D(outcome["principal"]) == D("10000.00")
    assert D(outcome["interest"]) == interest
    assert D(outcome["penalties"]) == penalties
    assert D(outcome["total"]) == D("10000.00") + interest + penalties

    after = await _ledger(client, token)
    assert after["write_off_expense"] - before.get("write_off_expense", D(0)) == D("10000.00")
    assert after["loans_receivable_principal"] == before["loans_receivable_principal"] - D(
        "10000.00"
    )
    # Interest and penalties recognised but never paid come back out of income.
    assert after["interest_income"] - before["interest_income"] == interest
    assert after["penalty_income"] - before["penalty_income"] == penalties
    loan = (await client.get("/v1/loans/DEBTOR", headers=token("servicing_agent"))).json()
    assert loan["status"] == "written_off"
    async with app.state.uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(OUTBOX.c.payload, OUTBOX.c.headers).where(
                    OUTBOX.c.event_type == "lending.LoanWrittenOff.v1"
                )
            )
        ).all()
    assert len(rows) == 1
    event = parse_event(from_kafka(rows[0][0].encode(), [(k, v.encode()) for k, v in rows[0][1]]))
    assert isinstance(event, LoanWrittenOffV1)
    assert (event.loan_id, event.total, event.request_id) == (
        "DEBTOR",
        D(outcome["total"]),
        request["id"],
    )

    # Close of business leaves it alone from now on.
    await days.run(date(2024, 7, 16), date(2024, 7, 17))
    async with app.state.uow_factory() as uow:
        late_accruals = (
            await uow.session.scalars(
                select(InterestAccrualRow.amount).where(
                    InterestAccrualRow.loan_id == "DEBTOR",
                    InterestAccrualRow.business_date > WRITE_OFF_DAY,
                )
            )
        ).all()
    assert sum(late_accruals, D(0)) == 0
    assert await _ledger(client, token)

    # Money later is a recovery; a repayment is refused.
    clock.set(datetime(2024, 7, 18, 10, tzinfo=UTC))
    body = {
        "amount": "300.00",
        "currency": "USD",
        "value_date": "2024-07-18",
        "external_ref": "REC-1",
    }
    paid = await client.post(
        "/v1/loans/DEBTOR/repayments", json=body, headers=token("servicing_agent")
    )
    assert (paid.status_code, paid.json()["code"]) == (409, "loan_closed")
    first = await client.post("/v1/loans/DEBTOR/recoveries", json=body, headers=token("finance"))
    assert first.status_code == 201, first.text
    replay = await client.post("/v1/loans/DEBTOR/recoveries", json=body, headers=token("finance"))
    assert (replay.status_code, replay.json()["id"]) == (200, first.json()["id"])
    clash = await client.post(
        "/v1/loans/DEBTOR/recoveries", json={**body, "amount": "301.00"}, headers=token("finance")
    )
    assert (clash.status_code, clash.json()["code"]) == (409, "external_ref_conflict")
    active = await client.post("/v1/loans/OTHER/recoveries", json=body, headers=token("finance"))
    assert (active.status_code, active.json()["code"]) == (409, "loan_not_written_off")
    final = await _ledger(client, token)
    assert final["recovery_income"] == D("-300.00")  # a credit balance: income
    assert final["cash_clearing"] - after["cash_clearing"] == D("300.00")

    # The loan tape shows the status each date had.
    for as_of, status in (("2024-07-15", "active"), ("2024-07-16", "written_off")):
        tape = await client.get(
            "/v1/reports/loan-tape", params={"as_of": as_of}, headers=token("auditor")
        )
        row = next(r for r in tape.text.splitlines()[1:] if r.split(",")[1] == "DEBTOR")
        assert f",{status}," in row, (as_of, row)

    # A written-off loan cannot be written off again.
    twice = await client.post("/v1/loans/DEBTOR/write-off", json={"reason": "x"}, headers=maker)
    assert (twice.status_code, twice.json()["code"]) == (409, "loan_closed")


async def test_rejection_changes_nothing_and_closure_needs_a_settled_loan(
    inbox, to_message, disbursed, client, token, clock
):
    await _book(inbox, to_message, disbursed, "KEEP", "PAYOFF")
    clock.set(datetime(2024, 5, 20, 10, tzinfo=UTC))
    before = await _ledger(client, token)
    asked = await client.post(
        "/v1/loans/KEEP/write-off",
        json={"reason": "test"},
        headers=token("collections_agent", sub="col-dan"),
    )
    assert asked.status_code == 201
    denied = await client.post(
        "/v1/loans/KEEP/write-off", json={"reason": "test"}, headers=token("finance")
    )
    assert denied.status_code == 403
    rejected = await client.post(
        f"/v1/servicing-requests/{asked.json()['id']}/reject",
        json={"comment": "keep collecting"},
        headers=token("credit_manager", sub="cm-eve"),
    )
    assert rejected.json()["status"] == "rejected"
    decided = await client.post(
        f"/v1/servicing-requests/{asked.json()['id']}/approve",
        json={},
        headers=token("credit_manager", sub="cm-eve"),
    )
    assert (decided.status_code, decided.json()["code"]) == (409, "request_decided")
    assert await _ledger(client, token) == before
    loan = (await client.get("/v1/loans/KEEP", headers=token("servicing_agent"))).json()
    assert loan["status"] == "active"
    missing = await client.post(
        "/v1/servicing-requests/SRQ-nope/approve", json={}, headers=token("credit_manager")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "request_not_found")

    not_yet = await client.post("/v1/loans/PAYOFF/close", headers=token("servicing_agent"))
    assert (not_yet.status_code, not_yet.json()["code"]) == (409, "loan_not_settled")
    quote = (
        await client.get(
            "/v1/loans/PAYOFF/payoff-quote",
            params={"date": "2024-05-20"},
            headers=token("servicing_agent"),
        )
    ).json()
    paid = await client.post(
        "/v1/loans/PAYOFF/repayments",
        json={
            "amount": quote["total"],
            "currency": "USD",
            "value_date": "2024-05-20",
            "external_ref": "PAYOFF-1",
        },
        headers=token("servicing_agent"),
    )
    assert paid.status_code == 201, paid.text
    closed = await client.post("/v1/loans/PAYOFF/close", headers=token("servicing_agent"))
    assert closed.status_code == 200, closed.text
    assert closed.json() == {"loan_id": "PAYOFF", "status": "closed", "closed_on": "2024-05-20"}
    again = await client.post("/v1/loans/PAYOFF/close", headers=token("servicing_agent"))
    assert (again.status_code, again.json()["code"]) == (409, "loan_not_settled")
    await _ledger(client, token)
