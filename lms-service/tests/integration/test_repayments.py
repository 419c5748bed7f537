"""Repayments, payoff, reversal and backdating through the API, on every backend.

Golden figures come from tests/conftest.py's independent annuity table (10000.00 USD at
12% over 12 months, 30/360, half-even): installment 888.49, first interest 100.00,
second interest round(9211.51 * 0.01) = 92.12.
"""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from servicekit.tables import OUTBOX

pytestmark = pytest.mark.integration
D = Decimal
AGENT = "servicing_agent"
CENT = D("0.01")


async def book(inbox, to_message, event):
    assert await inbox.process(to_message(event)) == "processed"


async def pay(client, token, amount, value_date, ref, loan="LN-1", currency="USD", **headers):
    return await client.post(
        f"/v1/loans/{loan}/repayments",
        json={
            "amount": amount,
            "currency": currency,
            "value_date": value_date,
            "external_ref": ref,
        },
        headers={**token(AGENT), **headers},
    )


async def count(app, table_or_column):
    async with app.state.uow_factory() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table_or_column)))


async def outbox_types(app):
    async with app.state.uow_factory() as uow:
        return list(
            (await uow.session.scalars(select(OUTBOX.c.event_type).order_by(OUTBOX.c.id))).all()
        )


async def ledger_state(client, token):
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    rec = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    return tb, rec


@pytest.fixture
async def loan(inbox, to_message, disbursed, clock):
    await book(inbox, to_message, disbursed())
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))


def alloc(body):
    return [(a["installment"], a["component"], a["amount"]) for a in body["allocation"]]


async def test_exact_installment_payment(client, token, loan, app, reference):
    table = reference(D("10000.00"), D("0.12"), 12)
    response = await pay(client, token, "888.49", "2024-06-01", "BANK-1")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("PAY-")
    assert body["status"] == "posted"
    # The waterfall: penalties, fees, interest, principal; nothing charged so only two lines.
    assert alloc(body) == [
        (1, "interest", str(table[0]["interest"])),
        (1, "principal", str(table[0]["principal"])),
    ]
    assert body["totals"] == {
        "principal": "788.49",
        "interest": "100.00",
        "fees": "0.00",
        "penalties": "0.00",
        "credit": "0.00",
    }
    schedule = (await client.get("/v1/loans/LN-1/schedule", headers=token(AGENT))).json()
    assert schedule["installments"][0]["status"] == "paid"
    assert schedule["installments"][0]["paid"] == "888.49"
    assert (await outbox_types(app))[-1] == "lending.RepaymentReceived.v1"
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_partial_payment_pays_interest_first(client, token, loan):
    body = (await pay(client, token, 50, "2024-06-01", "BANK-P")).json()
    assert alloc(body) == [(1, "interest", "50.00")]


async def test_overpayment_held_against_coming_installments(client, token, loan, reference):
    table = reference(D("10000.00"), D("0.12"), 12)
    body = (await pay(client, token, "1000.00", "2024-06-01", "BANK-O")).json()
    left = D("1000.00") - D("888.49")
    # Installment 2 is not due on 06-01: interest 92.12 first, then 19.39 of principal.
    assert alloc(body) == [
        (1, "interest", "100.00"),
        (1, "principal", "788.49"),
        (2, "interest", str(table[1]["interest"])),
        (2, "principal", str(left - table[1]["interest"])),
    ]
    assert body["totals"]["credit"] == "0.00"


async def test_payoff_quote_and_payoff_closes_the_loan(client, token, loan, app):
    response = await client.get("/v1/loans/LN-1/payoff-quote?date=2024-06-16", headers=token(AGENT))
    assert response.status_code == 200, response.text
    quote = response.json()
    # Independent: installment 1 interest 100.00 is due; 15 days (30/360) of the second period
    # accrue 10000 * 12% * 15/360 = 50.00 exactly.
    accrued = Fraction(10000) * Fraction(12, 100) * Fraction(15, 360)
    assert quote["interest"] == str(D("100.00") + D(accrued.numerator) / D(accrued.denominator))
    assert quote["principal"] == "10000.00"
    assert quote["total"] == "10150.00"
    body = (await pay(client, token, quote["total"], "2024-06-16", "PAYOFF")).json()
    assert body["closed_loan"] is True
    assert body["loan_status"] == "paid_off"
    assert body["totals"] == {
        "principal": "10000.00",
        "interest": "150.00",
        "fees": "0.00",
        "penalties": "0.00",
        "credit": "0.00",
    }
    loan_body = (await client.get("/v1/loans/LN-1", headers=token(AGENT))).json()
    assert loan_body["status"] == "paid_off"
    types = await outbox_types(app)
    assert "lending.LoanPaidOff.v1" in types
    assert "lending.LoanScheduleChanged.v1" in types
    again = await pay(client, token, "10.00", "2024-06-20", "LATE")
    assert again.status_code == 409
    assert again.json()["code"] == "loan_closed"
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_payoff_quote_after_a_payment_rounds_half_even(client, token, loan):
    await pay(client, token, "888.49", "2024-06-01", "BANK-1")
    quote = (
        await client.get("/v1/loans/LN-1/payoff-quote?date=2024-06-16", headers=token(AGENT))
    ).json()
    # 9211.51 * 0.12 * 15/360 = 46.0575 -> 46.06 (half-even on the cent, computed with Fraction).
    exact = Fraction("9211.51") * Fraction(12, 100) * Fraction(15, 360)
    accrued = (D(exact.numerator) / D(exact.denominator)).quantize(CENT, ROUND_HALF_EVEN)
    assert accrued == D("46.06")
    assert quote["interest"] == str(accrued)
    assert quote["total"] == str(D("9211.51") + accrued)


async def test_overpaying_the_payoff_leaves_a_credit(client, token, loan):
    body = (await pay(client, token, "10200.00", "2024-06-16", "BIG")).json()
    assert body["totals"]["credit"] == "50.00"
    assert body["loan_status"] == "paid_off"
    tb, rec = await ledger_state(client, token)
    liability = [a for a in tb["accounts"] if a["account"] == "overpayment_liability"]
    assert liability[0]["balance"] == "-50.00"
    assert rec["ok"], rec


async def test_payoff_gives_back_interest_paid_for_time_after_it(client, token, loan, app):
    """A payment ahead of time paid installment 1's interest (100.00) and installment 2's
    (92.12); the loan is paid off on 2024-05-20, 19 days (30/360) into the first period.

    Earned: round(9192.12 x 0.12 x 19/360) = round(58.2168...) = 58.22, on the principal
    then outstanding (10000.00 - 788.49 - 19.39). Everything else paid as interest
    (41.78 + 92.12 = 133.90) is the borrower's again: credit held for them.
    """
    first = (await pay(client, token, "1000.00", "2024-05-15", "AHEAD")).json()
    assert first["totals"]["interest"] == "192.12"
    quote = (
        await client.get(
            "/v1/loans/LN-1/payoff-quote", params={"date": "2024-05-20"}, headers=token(AGENT)
        )
    ).json()
    assert quote["principal"] == "9192.12"
    closing = await pay(client, token, quote["total"], "2024-05-20", "PAYOFF")
    assert closing.json()["loan_status"] == "paid_off"
    earned = D("9192.12") * D("0.12") * 19 / 360  # the golden figure above, written out
    assert earned.quantize(CENT, ROUND_HALF_EVEN) == D("58.22")
    ahead = (
        await client.get(f"/v1/loans/LN-1/repayments/{first['id']}", headers=token(AGENT))
    ).json()
    assert ahead["totals"]["interest"] == "58.22"
    assert ahead["totals"]["credit"] == "133.90"
    tb, rec = await ledger_state(client, token)
    balances = {a["account"]: D(a["balance"]) for a in tb["accounts"]}
    assert balances["overpayment_liability"] == D("-133.90")
    assert rec["ok"], rec
    assert tb["balanced"]
    # What the borrower paid, less what is held for them: principal and earned interest.
    paid = D("1000.00") + D(quote["total"])
    assert paid - D("133.90") == D("10000.00") + D("58.22")


async def test_same_external_ref(client, token, loan, app):
    first = await pay(client, token, "100.00", "2024-06-01", "DUP")
    again = await pay(client, token, 100, "2024-06-01", "DUP")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    entries = await count(app, OUTBOX)
    conflict = await pay(client, token, "100.01", "2024-06-01", "DUP")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "external_ref_conflict"
    assert await count(app, OUTBOX) == entries


@pytest.mark.parametrize(
    ("amount", "currency", "value_date", "status", "code"),
    [
        ("10.00", "EUR", "2024-06-01", 422, "currency_mismatch"),
        ("0", "USD", "2024-06-01", 422, "invalid_amount"),
        ("-5.00", "USD", "2024-06-01", 422, "invalid_amount"),
        ("1.005", "USD", "2024-06-01", 422, "invalid_amount"),
        ("10.00", "USD", "2024-04-30", 422, "invalid_value_date"),
        ("10.00", "USD", "2024-07-21", 422, "invalid_value_date"),
        ("ten", "USD", "2024-06-01", 422, "validation_error"),
    ],
)
async def test_bad_repayments_post_nothing(
    client, token, loan, app, amount, currency, value_date, status, code
):
    from lms.adapters.orm import JournalEntryRow, PaymentRow

    entries = await count(app, JournalEntryRow)
    response = await pay(client, token, amount, value_date, "BAD", currency=currency)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await count(app, JournalEntryRow) == entries
    assert await count(app, PaymentRow) == 0


async def test_unknown_loan_and_roles(client, token, loan):
    response = await pay(client, token, "10.00", "2024-06-01", "X", loan="NOPE")
    assert response.status_code == 404
    assert response.json()["code"] == "loan_not_found"
    denied = await client.post(
        "/v1/loans/LN-1/repayments",
        json={"amount": "1.00", "currency": "USD", "value_date": "2024-06-01", "external_ref": "R"},
        headers=token("auditor"),
    )
    assert denied.status_code == 403
    assert (await client.get("/v1/ledger/trial-balance", headers=token(AGENT))).status_code == 403


async def test_reversal_reapplies_later_payments(client, token, loan, app):
    first = (await pay(client, token, "888.49", "2024-06-01", "A")).json()
    second = (await pay(client, token, "888.49", "2024-07-01", "B")).json()
    assert [a[0] for a in alloc(second)] == [2, 2]
    denied = await client.post(
        f"/v1/loans/LN-1/repayments/{first['id']}/reversal", headers=token(AGENT)
    )
    assert denied.status_code == 403
    response = await client.post(
        f"/v1/loans/LN-1/repayments/{first['id']}/reversal", headers=token("finance")
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "reversed"
    moved = (
        await client.get(f"/v1/loans/LN-1/repayments/{second['id']}", headers=token(AGENT))
    ).json()
    # Without the first payment, the second one pays installment 1 (the oldest due).
    assert alloc(moved) == [(1, "interest", "100.00"), (1, "principal", "788.49")]
    twice = await client.post(
        f"/v1/loans/LN-1/repayments/{first['id']}/reversal", headers=token("finance")
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "payment_already_reversed"
    tx = (await client.get("/v1/loans/LN-1/transactions", headers=token("auditor"))).json()
    types = [item["entry_type"] for item in tx["items"]]
    assert types == ["disbursement", "repayment", "repayment", "repayment_reversal", "reallocation"]
    for item in tx["items"]:
        debits = sum(D(p["amount"]) for p in item["postings"] if p["side"] == "debit")
        credits = sum(D(p["amount"]) for p in item["postings"] if p["side"] == "credit")
        assert debits == credits
    assert "lending.RepaymentReversed.v1" in await outbox_types(app)
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_backdated_payment_equals_in_order(
    client, token, inbox, to_message, disbursed, clock
):
    await book(inbox, to_message, disbursed())
    await book(inbox, to_message, disbursed(loan_id="LN-2", application_id="APP-2"))
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))
    payments = [
        ("888.49", "2024-06-01", "P1"),
        ("500.00", "2024-07-01", "P2"),
        ("50.00", "2024-06-15", "P3"),
    ]
    for amount, when, ref in payments:
        assert (await pay(client, token, amount, when, ref, loan="LN-1")).status_code == 201
    for amount, when, ref in reversed(payments):
        assert (await pay(client, token, amount, when, ref, loan="LN-2")).status_code == 201

    async def state(loan_id):
        schedule = (await client.get(f"/v1/loans/{loan_id}/schedule", headers=token(AGENT))).json()
        tx = (await client.get(f"/v1/loans/{loan_id}/transactions", headers=token(AGENT))).json()
        balances: dict[str, Decimal] = {}
        for item in tx["items"]:
            for p in item["postings"]:
                sign = 1 if p["side"] == "debit" else -1
                balances[p["account"]] = balances.get(p["account"], D(0)) + sign * D(p["amount"])
        allocations = {}
        for item in tx["items"]:
            if item["payment"]:
                allocations[item["payment"]["external_ref"]] = alloc(item["payment"])
        return schedule["installments"], {k: v for k, v in balances.items() if v}, allocations

    assert await state("LN-1") == await state("LN-2")
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_charges_come_first_in_the_waterfall(client, token, loan):
    response = await client.post(
        "/v1/loans/LN-1/charges",
        json={
            "component": "penalties",
            "amount": "15.00",
            "currency": "USD",
            "installment_number": 1,
            "charge_date": "2024-06-10",
            "reason": "late fee",
        },
        headers=token(AGENT),
    )
    assert response.status_code == 201, response.text
    body = (await pay(client, token, "20.00", "2024-06-11", "C1")).json()
    assert alloc(body) == [(1, "penalties", "15.00"), (1, "interest", "5.00")]
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec
    bad = await client.post(
        "/v1/loans/LN-1/charges",
        json={
            "component": "principal",
            "amount": "1.00",
            "currency": "USD",
            "installment_number": 1,
            "charge_date": "2024-06-10",
            "reason": "x",
        },
        headers=token(AGENT),
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_charge"


async def test_idempotency_key_replay(client, token, loan, app):
    from lms.adapters.orm import PaymentRow

    headers = {"Idempotency-Key": "k-1"}
    first = await pay(client, token, "100.00", "2024-06-01", "IDEM", **headers)
    again = await pay(client, token, "100.00", "2024-06-01", "IDEM", **headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert await count(app, PaymentRow) == 1


async def test_allocation_order_from_the_event(client, token, inbox, to_message, disbursed, clock):
    order = ["principal", "interest", "fees", "penalties"]
    await book(inbox, to_message, disbursed(allocation_order=order))
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))
    body = (await pay(client, token, "800.00", "2024-06-01", "ORD")).json()
    assert alloc(body) == [(1, "principal", "788.49"), (1, "interest", "11.51")]
    assert date.fromisoformat(body["value_date"]) == date(2024, 6, 1)


@pytest.mark.parametrize("product", ["PERSONAL-36M", "AUTO-60M"])
async def test_prepayment_regenerates_the_schedule(
    client, token, inbox, to_message, disbursed, clock, app, product
):
    await book(inbox, to_message, disbursed(product_code=product))
    clock.set(datetime(2024, 7, 20, 9, tzinfo=UTC))
    body = (await pay(client, token, "2000.00", "2024-06-01", "PRE")).json()
    prepaid = D("2000.00") - D("888.49")
    assert alloc(body)[-1] == (0, "principal", str(prepaid))
    schedule = (await client.get("/v1/loans/LN-1/schedule", headers=token(AGENT))).json()
    assert schedule["schedule_version"] == 2
    rows = schedule["installments"]
    remaining = D("9211.51") - prepaid
    assert sum(D(r["principal"]) for r in rows[1:]) == remaining
    if product == "AUTO-60M":  # reduce_installment: same count, smaller level amount
        # Independent: annuity of 8100.00 at 1% a month over the 11 remaining months.
        r = D("0.01")
        level = (remaining * r / (1 - (1 + r) ** -11)).quantize(CENT, ROUND_HALF_EVEN)
        assert len(rows) == 12
        assert D(rows[1]["total"]) == level
    else:  # reduce_term: the 888.49 level is kept, the loan ends earlier
        assert len(rows) < 12
        assert D(rows[1]["total"]) == D("888.49")
    assert "lending.LoanScheduleChanged.v1" in await outbox_types(app)
    tb, rec = await ledger_state(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec
