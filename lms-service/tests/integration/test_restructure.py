"""Restructuring behind maker-checker, through the API on every backend, with close of
business running before and after.

Loans of 10000.00 USD at 12% over 12 months (30/360, equal periods), disbursed 2024-05-01,
first due 2024-06-01. Golden figures come from `reference_annuity` (tests/conftest.py), an
amortisation table written out independently of loanmath: a rescheduled or re-aged loan
is a fresh annuity on the principal it still carries from the start of the period in
progress, so the new installments are that table for the new principal, rate and count.
Accrual re-basing is the linear rule written out in Fraction arithmetic below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import select

from lending_schemas import LoanScheduleChangedV1, from_kafka, parse_event
from lms.adapters.orm import ChargeRow
from servicekit.tables import OUTBOX

pytestmark = pytest.mark.integration
D = Decimal
CENT = D("0.01")
DUE = [date(2024 + (5 + k) // 12, (5 + k) % 12 + 1, 1) for k in range(12)]


def linear(interest: Decimal, start: date, due: date, on: date) -> Decimal:
    """Interest of a period accrued by the end of `on`, rounded half-even once."""
    share = Fraction(interest) * (on - start).days / (due - start).days
    return (D(share.numerator) / D(share.denominator)).quantize(CENT, ROUND_HALF_EVEN)


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


async def _schedule(client, token, loan_id, version=None):
    params = {"version": version} if version else {}
    response = await client.get(
        f"/v1/loans/{loan_id}/schedule", params=params, headers=token("servicing_agent")
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _ask(client, token, loan_id, body, sub="agent-ann"):
    return await client.post(
        f"/v1/loans/{loan_id}/restructure",
        json={"reason": "hardship: income fell", **body},
        headers=token("servicing_agent", sub=sub),
    )


async def _approve(client, token, request_id, sub="cm-carol"):
    response = await client.post(
        f"/v1/servicing-requests/{request_id}/approve",
        json={"comment": "agreed"},
        headers=token("credit_manager", sub=sub),
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _schedule_events(app, loan_id) -> list[LoanScheduleChangedV1]:
    async with app.state.uow_factory() as uow:
        rows = (
            await uow.session.execute(
                select(OUTBOX.c.payload, OUTBOX.c.headers)
                .where(
                    OUTBOX.c.aggregate_id == loan_id,
                    OUTBOX.c.event_type == "lending.LoanScheduleChanged.v1",
                )
                .order_by(OUTBOX.c.sequence)
            )
        ).all()
    events = [
        parse_event(from_kafka(payload.encode(), [(k, v.encode()) for k, v in headers]))
        for payload, headers in rows
    ]
    assert all(isinstance(e, LoanScheduleChangedV1) for e in events)
    return events


async def test_reschedule_needs_a_second_person_and_rebases_the_accrual(
    inbox, to_message, disbursed, days, client, token, clock, app, reference
):
    table = reference(D("10000.00"), D("0.12"), 12)
    await _book(inbox, to_message, disbursed, "RS")
    paid_on = {DUE[0]: [("RS", table[0]["total"])], DUE[1]: [("RS", table[1]["total"])]}
    await days.run(date(2024, 5, 1), date(2024, 7, 15), payments=paid_on)
    clock.set(datetime(2024, 7, 16, 9, tzinfo=UTC))
    before = await _ledger(client, token)

    carried = D("10000.00") - table[0]["principal"] - table[1]["principal"]
    golden = reference(carried, D("0.09"), 16)
    asked = await _ask(
        client, token, "RS", {"kind": "reschedule", "extend_by": 6, "annual_rate": "0.09"}
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["kind"], request["status"]) == ("reschedule", "pending")
    preview = request["outcome"]
    assert preview["new_installments"] == "16"
    assert D(preview["installment_amount"]) == golden[0]["total"]

    # Nothing moves until a credit manager other than the requester approves.
    again = await _ask(client, token, "RS", {"kind": "re_age"})
    assert (again.status_code, again.json()["code"]) == (409, "request_pending")
    own = await client.post(
        f"/v1/servicing-requests/{request['id']}/approve",
        json={},
        headers=token("servicing_agent", "credit_manager", sub="agent-ann"),
    )
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes_violation")
    collector = await client.post(
        "/v1/loans/RS/restructure",
        json={"kind": "re_age", "reason": "x"},
        headers=token("collections_agent"),
    )
    assert collector.status_code == 403
    assert await _ledger(client, token) == before
    assert (await _schedule(client, token, "RS"))["schedule_version"] == 1

    decided = await _approve(client, token, request["id"])
    assert decided["status"] == "approved"
    outcome = decided["outcome"]
    assert (outcome["schedule_version"], outcome["previous_version"]) == ("2", "1")
    # Amounts at the currency's minor unit, as everywhere in the API.
    assert (outcome["capitalised_interest"], outcome["deferred_interest"]) == ("0.00", "0.00")

    schedule = await _schedule(client, token, "RS")
    rows = schedule["installments"]
    assert schedule["schedule_version"] == 2
    assert [r["number"] for r in rows] == list(range(1, 19))
    assert [r["status"] for r in rows[:2]] == ["paid", "paid"]
    new = rows[2:]
    assert [(D(r["principal"]), D(r["interest"])) for r in new] == [
        (g["principal"], g["interest"]) for g in golden
    ]
    assert new[0]["due_date"] == "2024-08-01"
    assert new[-1]["due_date"] == "2025-11-01"
    assert sum(D(r["principal"]) for r in new) == carried
    assert len((await _schedule(client, token, "RS", version=1))["installments"]) == 12
    missing = await client.get(
        "/v1/loans/RS/schedule", params={"version": 9}, headers=token("servicing_agent")
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "schedule_version_not_found")

    # Close of business accrued installment 3's old interest up to 15 July; the period now
    # earns the new interest, so what was accrued is re-based to the new figure.
    old_share = linear(table[2]["interest"], DUE[1], DUE[2], date(2024, 7, 15))
    new_share = linear(golden[0]["interest"], DUE[1], DUE[2], date(2024, 7, 15))
    assert D(outcome["accrual_adjustment"]) == new_share - old_share
    after = await _ledger(client, token)
    # Income accounts carry credit balances: income earned is the fall of the balance.
    assert before["interest_income"] - after["interest_income"] == new_share - old_share
    assert after["loans_receivable_principal"] == before["loans_receivable_principal"]

    (changed,) = await _schedule_events(app, "RS")
    assert (changed.reason, changed.schedule_version, changed.previous_version) == (
        "reschedule",
        2,
        1,
    )
    assert (changed.installments, changed.installment_amount) == (18, golden[0]["total"])
    assert changed.principal_outstanding == carried

    # The new installment, paid on its due date, settles it exactly; accrual over the
    # period adds up to the new interest.
    await days.run(
        date(2024, 7, 16), date(2024, 8, 2), payments={DUE[2]: [("RS", golden[0]["total"])]}
    )
    rows = (await _schedule(client, token, "RS"))["installments"]
    assert rows[2]["status"] == "paid"
    assert D(rows[2]["paid"]) == golden[0]["total"]
    final = await _ledger(client, token)
    # Since 15 July: the re-basing plus the daily accruals make period 3 earn exactly its
    # new interest (its old share up to 15 July was in `before`); 2 August starts period 4.
    assert before["interest_income"] - final["interest_income"] == (
        golden[0]["interest"]
        - old_share
        + linear(golden[1]["interest"], DUE[2], DUE[3], date(2024, 8, 2))
    )


async def test_payment_holiday_with_capitalised_interest(
    inbox, to_message, disbursed, days, client, token, clock, reference
):
    table = reference(D("10000.00"), D("0.12"), 12)
    await _book(inbox, to_message, disbursed, "PH")
    await days.run(
        date(2024, 5, 1), date(2024, 6, 15), payments={DUE[0]: [("PH", table[0]["total"])]}
    )
    clock.set(datetime(2024, 6, 16, 9, tzinfo=UTC))
    before = await _ledger(client, token)

    carried = D("10000.00") - table[0]["principal"]
    # 30/360 from 1 June (the period start) to 1 August (the holiday's end): 60 days.
    holiday_interest = (carried * D("0.12") * 60 / 360).quantize(CENT, ROUND_HALF_EVEN)
    golden = reference(carried + holiday_interest, D("0.12"), 11)
    asked = await _ask(
        client,
        token,
        "PH",
        {"kind": "payment_holiday", "holiday_periods": 2, "capitalise_interest": True},
    )
    assert asked.status_code == 201, asked.text
    outcome = (await _approve(client, token, asked.json()["id"]))["outcome"]
    assert D(outcome["capitalised_interest"]) == holiday_interest

    rows = (await _schedule(client, token, "PH"))["installments"]
    new = rows[1:]
    assert [r["due_date"] for r in new[:2]] == ["2024-09-01", "2024-10-01"]
    assert [(D(r["principal"]), D(r["interest"])) for r in new] == [
        (g["principal"], g["interest"]) for g in golden
    ]
    after = await _ledger(client, token)
    assert after["loans_receivable_principal"] - before["loans_receivable_principal"] == (
        holiday_interest
    )
    # Close of business accrues an installment from the previous due date: installment 2
    # is now due 1 September, so its period runs from 1 June. What was accrued since then
    # (on the old installment 2) is re-based to that; the capitalised interest is income
    # when capitalised.
    accrued_june = linear(table[1]["interest"], DUE[0], DUE[1], date(2024, 6, 15))
    rebased = linear(golden[0]["interest"], DUE[0], date(2024, 9, 1), date(2024, 6, 15))
    assert D(outcome["accrual_adjustment"]) == rebased - accrued_june
    assert before["interest_income"] - after["interest_income"] == (
        holiday_interest + rebased - accrued_june
    )

    # Through the holiday nothing falls due: the loan stays current, and the first
    # installment after it is paid on its date.
    await days.run(
        date(2024, 6, 16),
        date(2024, 9, 3),
        payments={date(2024, 9, 1): [("PH", golden[0]["total"])]},
    )
    loan = (await client.get("/v1/loans/PH", headers=token("servicing_agent"))).json()
    assert (loan["days_past_due"], loan["delinquency_bucket"]) == (0, "current")
    await _ledger(client, token)


async def test_payment_holiday_without_capitalisation_spreads_the_interest(
    inbox, to_message, disbursed, days, client, token, clock, reference
):
    table = reference(D("10000.00"), D("0.12"), 12)
    await _book(inbox, to_message, disbursed, "PD")
    await days.run(
        date(2024, 5, 1), date(2024, 6, 15), payments={DUE[0]: [("PD", table[0]["total"])]}
    )
    clock.set(datetime(2024, 6, 16, 9, tzinfo=UTC))
    carried = D("10000.00") - table[0]["principal"]
    holiday_interest = (carried * D("0.12") * 60 / 360).quantize(CENT, ROUND_HALF_EVEN)
    golden = reference(carried, D("0.12"), 11)
    asked = await _ask(client, token, "PD", {"kind": "payment_holiday", "holiday_periods": 2})
    outcome = (await _approve(client, token, asked.json()["id"]))["outcome"]
    assert D(outcome["deferred_interest"]) == holiday_interest
    new = (await _schedule(client, token, "PD"))["installments"][1:]
    part = (holiday_interest / 11).quantize(CENT, rounding="ROUND_DOWN")
    parts = [part] * 10 + [holiday_interest - part * 10]
    assert [D(r["interest"]) for r in new] == [
        g["interest"] + p for g, p in zip(golden, parts, strict=True)
    ]
    assert [D(r["principal"]) for r in new] == [g["principal"] for g in golden]
    await days.run(date(2024, 6, 16), date(2024, 6, 20))
    await _ledger(client, token)


async def test_re_aging_clears_the_arrears_and_brings_the_loan_current(
    inbox, to_message, disbursed, days, client, token, clock, app, reference
):
    await _book(inbox, to_message, disbursed, "RA")
    await days.run(date(2024, 5, 1), date(2024, 7, 20))
    loan = (await client.get("/v1/loans/RA", headers=token("servicing_agent"))).json()
    assert loan["days_past_due"] == 49  # installment 1 unpaid since 1 June
    async with app.state.uow_factory() as uow:
        penalties = sum(
            (
                await uow.session.scalars(select(ChargeRow.amount).where(ChargeRow.loan_id == "RA"))
            ).all(),
            D(0),
        )
    assert penalties > 0
    table = D("10000.00"), D("0.12")
    clock.set(datetime(2024, 7, 21, 9, tzinfo=UTC))
    before_rows = (await _schedule(client, token, "RA"))["installments"]
    arrears_interest = sum(D(r["interest"]) for r in before_rows[:2])

    asked = await _ask(client, token, "RA", {"kind": "re_age"})
    assert asked.status_code == 201, asked.text
    outcome = (await _approve(client, token, asked.json()["id"]))["outcome"]
    assert D(outcome["re_aged_principal"]) == sum(D(r["principal"]) for r in before_rows[:2])
    assert D(outcome["re_aged_interest"]) == arrears_interest
    assert D(outcome["re_aged_penalties"]) == penalties

    rows = (await _schedule(client, token, "RA"))["installments"]
    assert [r["status"] for r in rows[:2]] == ["paid", "paid"]
    new = rows[2:]
    golden = reference(*table, 10)  # all 10000.00 re-amortised over the 10 installments left
    assert [D(r["principal"]) for r in new] == [g["principal"] for g in golden]
    assert (
        sum(D(r["interest"]) for r in new) == sum(g["interest"] for g in golden) + arrears_interest
    )
    assert sum(D(r["penalties"]) for r in new) == penalties

    await days.run(date(2024, 7, 21), date(2024, 7, 22))
    loan = (await client.get("/v1/loans/RA", headers=token("servicing_agent"))).json()
    assert (loan["days_past_due"], loan["delinquency_bucket"]) == (0, "current")
    await _ledger(client, token)


async def test_bad_restructures_are_refused_and_change_nothing(
    inbox, to_message, disbursed, days, client, token, clock, reference
):
    table = reference(D("10000.00"), D("0.12"), 12)
    await _book(inbox, to_message, disbursed, "BAD", "AHEAD")
    await days.run(
        date(2024, 5, 1),
        date(2024, 5, 10),
        payments={date(2024, 5, 10): [("AHEAD", table[0]["total"] + D("100.00"))]},
    )
    clock.set(datetime(2024, 5, 11, 9, tzinfo=UTC))
    before = await _ledger(client, token)
    cases = [
        ({"kind": "reschedule"}, 422, "invalid_restructure"),
        (
            {"kind": "reschedule", "extend_by": 2, "installment_amount": "500.00"},
            422,
            "invalid_restructure",
        ),
        (
            {"kind": "payment_holiday", "holiday_periods": 2, "annual_rate": "0.05"},
            422,
            "invalid_restructure",
        ),
        ({"kind": "payment_holiday", "holiday_periods": 0}, 422, "invalid_restructure"),
        ({"kind": "re_age"}, 422, "invalid_restructure"),  # nothing is in arrears
        ({"kind": "reschedule", "installment_amount": "0.50"}, 422, "invalid_restructure"),
        ({"kind": "reschedule", "installment_amount": "500.001"}, 422, "invalid_restructure"),
        ({"kind": "write_off"}, 422, "validation_error"),
        ({"kind": "reschedule", "extend_by": 500}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = await _ask(client, token, "BAD", body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    ahead = await _ask(client, token, "AHEAD", {"kind": "reschedule", "extend_by": 2})
    assert (ahead.status_code, ahead.json()["code"]) == (409, "restructure_blocked")
    unknown = await _ask(client, token, "NOPE", {"kind": "reschedule", "extend_by": 2})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "loan_not_found")

    asked = await _ask(client, token, "BAD", {"kind": "reschedule", "extend_by": 2})
    rejected = await client.post(
        f"/v1/servicing-requests/{asked.json()['id']}/reject",
        json={"comment": "income not verified"},
        headers=token("credit_manager", sub="cm-dan"),
    )
    assert rejected.json()["status"] == "rejected"
    assert (await _schedule(client, token, "BAD"))["schedule_version"] == 1
    assert await _ledger(client, token) == before

    # A paid-off loan is not restructured.
    quote = (
        await client.get(
            "/v1/loans/BAD/payoff-quote",
            params={"date": "2024-05-11"},
            headers=token("servicing_agent"),
        )
    ).json()
    await days.pay("BAD", D(quote["total"]), date(2024, 5, 11))
    closed = await _ask(client, token, "BAD", {"kind": "reschedule", "extend_by": 2})
    assert (closed.status_code, closed.json()["code"]) == (409, "loan_closed")
