"""Renewals and top-ups: booking a LoanDisbursed that names `settles_loan_id` pays the old
loan off out of the new one, in one balanced entry across both loans, on every backend.

Golden figures, by hand (tests/conftest.py's loan LN-1: 10000.00 USD at 12 % over 12 months,
30/360, half-even, disbursed 2024-05-01, installment 888.49, first interest 100.00):

- LN-1 pays installment 1 (888.49 = 100.00 interest + 788.49 principal) on 2024-06-01;
  principal left 10000.00 - 788.49 = 9211.51.
- LN-2 (15000.00, 2 % fee 300.00 deducted, net 14700.00) is disbursed on 2024-06-16 and
  settles LN-1. LN-1's payoff that day: 9211.51 principal + 15 days (30/360) of interest on
  it, 9211.51 x 0.12 x 15/360 = 46.0575 -> 46.06 (half-even) = 9257.57.
- The borrower receives 14700.00 - 9257.57 = 5442.43.
- The entry: Dr principal (LN-2) 15000.00 = Cr cash 5442.43 + Cr fee income 300.00
  + Cr principal (LN-1) 9211.51 + Cr interest receivable (LN-1) 46.06.
- LN-1 earned 100.00 + 46.06 = 146.06 of interest in all (accrual plus closing true-up).
- Cash: +888.49 - 9800.00 (LN-1 paid out) - 5442.43 (LN-2 paid out) = -14353.94.
- LN-1 received 888.49 + 9257.57 = 10146.06 in all (the loan tape's paid_to_date).
"""

import csv
import io
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from sqlalchemy import func, select

from lending_schemas import FeeV1, PromisedTermsV1, from_kafka, parse_event
from lms.adapters.orm import (
    JournalEntryRow,
    LoanRow,
    PaymentAllocationRow,
    PaymentRow,
    PostingRow,
)
from servicekit.tables import DEAD_LETTERS, OUTBOX

pytestmark = pytest.mark.integration
D = Decimal
CENT = D("0.01")
RENEWAL_DAY = date(2024, 6, 16)
PAYOFF = D("9257.57")


def test_the_golden_figures_add_up():
    accrued = (D("9211.51") * D("0.12") * 15 / 360).quantize(CENT, ROUND_HALF_EVEN)
    assert accrued == D("46.06")
    assert D("10000.00") - D("788.49") + accrued == PAYOFF
    assert D("14700.00") - PAYOFF == D("5442.43")
    assert D("5442.43") + D("300.00") + D("9211.51") + D("46.06") == D("15000.00")


def renewal_event(disbursed, reference, **overrides):
    """LN-2: 15000.00 at 12 % over 12 months from 2024-06-16, settling LN-1."""
    table = reference(D("15000.00"), D("0.12"), 12)
    fields = {
        "loan_id": "LN-2",
        "application_id": "APP-2",
        "principal": D("15000.00"),
        "net_disbursed": D("14700.00"),
        "fees": [FeeV1(code="ORIGINATION", amount=D("300.00"), treatment="deducted")],
        "disbursement_date": RENEWAL_DAY,
        "first_due_date": date(2024, 7, 16),
        "disbursed_at": datetime(2024, 6, 16, 9, 30, tzinfo=UTC),
        "promised": PromisedTermsV1(
            installment_amount=table[0]["total"],
            total_repayable=sum((r["total"] for r in table), D(0)),
            total_interest=sum((r["interest"] for r in table), D(0)),
        ),
        "settles_loan_id": "LN-1",
    }
    fields.update(overrides)
    return disbursed(**fields)


async def rows(uow_factory, stmt):
    async with uow_factory() as uow:
        result = (await uow.session.execute(stmt)).all()
        uow.session.expunge_all()
        return result


async def counts(uow_factory):
    """How many rows every table a booking or a payment writes holds."""
    tables = {
        "loans": LoanRow,
        "entries": JournalEntryRow,
        "postings": PostingRow,
        "payments": PaymentRow,
        "allocations": PaymentAllocationRow,
        "outbox": OUTBOX,
    }
    out = {}
    async with uow_factory() as uow:
        for name, table in tables.items():
            out[name] = await uow.session.scalar(select(func.count()).select_from(table))
    return out


async def dead_letter_codes(uow_factory):
    found = await rows(uow_factory, select(DEAD_LETTERS.c.error_code).order_by(DEAD_LETTERS.c.id))
    return [code for (code,) in found]


async def outbox_events(uow_factory, loan_id):
    found = await rows(
        uow_factory,
        select(OUTBOX.c.payload, OUTBOX.c.headers)
        .where(OUTBOX.c.key == loan_id)
        .order_by(OUTBOX.c.id),
    )
    return [
        parse_event(from_kafka(payload.encode(), [(k, v.encode()) for k, v in headers]))
        for payload, headers in found
    ]


async def ledger(client, token):
    tb = (await client.get("/v1/ledger/trial-balance", headers=token("auditor"))).json()
    rec = (await client.get("/v1/ledger/reconciliation", headers=token("finance"))).json()
    return tb, rec


@pytest.fixture
async def old_loan(inbox, to_message, disbursed, days, clock):
    """LN-1 booked on 2024-05-01, installment 1 paid on its due date, no close of business."""
    assert await inbox.process(to_message(disbursed())) == "processed"
    await days.pay("LN-1", "888.49", date(2024, 6, 1))
    clock.set(datetime(2024, 6, 16, 10, tzinfo=UTC))


async def test_a_renewal_pays_the_old_loan_off_in_one_entry_across_both_loans(
    inbox, to_message, disbursed, reference, days, clock, client, token, uow_factory
):
    # LN-1 lives through close of business every day, so its interest is accrued daily.
    assert await inbox.process(to_message(disbursed())) == "processed"
    await days.run(
        date(2024, 5, 1), date(2024, 6, 15), payments={date(2024, 6, 1): [("LN-1", "888.49")]}
    )
    clock.set(datetime(2024, 6, 16, 10, tzinfo=UTC))
    quote = (
        await client.get(
            "/v1/loans/LN-1/payoff-quote",
            params={"date": "2024-06-16"},
            headers=token("servicing_agent"),
        )
    ).json()
    assert (quote["principal"], quote["interest"], quote["total"]) == (
        "9211.51",
        "46.06",
        str(PAYOFF),
    )
    before = await counts(uow_factory)

    message = to_message(renewal_event(disbursed, reference), event_id="evt-renewal")
    assert await inbox.process(message) == "processed"
    assert await dead_letter_codes(uow_factory) == []

    # The old loan: paid off by one payment of exactly its payoff, valued that day.
    old = (await client.get("/v1/loans/LN-1", headers=token("servicing_agent"))).json()
    assert old["status"] == "paid_off"
    assert old["outstanding"]["total"] == "0.00"
    payments = await rows(
        uow_factory, select(PaymentRow).where(PaymentRow.loan_id == "LN-1").order_by(PaymentRow.seq)
    )
    settling = payments[-1][0]
    assert len(payments) == 2
    assert settling.external_ref == "renewal:LN-2"
    assert (settling.amount, settling.value_date, settling.status) == (
        PAYOFF,
        RENEWAL_DAY,
        "posted",
    )
    assert settling.closed_loan is True
    shown = (
        await client.get(
            f"/v1/loans/LN-1/repayments/{settling.id}", headers=token("servicing_agent")
        )
    ).json()
    assert shown["totals"] == {
        "principal": "9211.51",
        "interest": "46.06",
        "fees": "0.00",
        "penalties": "0.00",
        "credit": "0.00",
    }

    # One entry moves the money: the new loan's disbursement, with postings on both loans.
    entry = (
        await rows(
            uow_factory,
            select(JournalEntryRow).where(JournalEntryRow.id == settling.entry_id),
        )
    )[0][0]
    assert (entry.loan_id, entry.entry_type, entry.effective_date) == (
        "LN-2",
        "disbursement",
        RENEWAL_DAY,
    )
    assert entry.reference == settling.id
    assert entry.source_event_id == "evt-renewal"
    postings = await rows(
        uow_factory,
        select(PostingRow.account, PostingRow.side, PostingRow.amount, PostingRow.loan_id).where(
            PostingRow.entry_id == entry.id
        ),
    )
    assert sorted(tuple(p) for p in postings) == sorted(
        [
            ("loans_receivable_principal", "debit", D("15000.00"), None),
            ("cash_clearing", "credit", D("5442.43"), None),
            ("fee_income", "credit", D("300.00"), None),
            ("loans_receivable_principal", "credit", D("9211.51"), "LN-1"),
            ("interest_receivable", "credit", D("46.06"), "LN-1"),
        ]
    )
    # No other entry of this booking moves cash or touches LN-2, and the settling payment
    # has no "repayment" entry of its own: the cash is posted once.
    new_entries = await rows(
        uow_factory,
        select(JournalEntryRow.entry_type, JournalEntryRow.loan_id).where(
            JournalEntryRow.created_at >= datetime(2024, 6, 16, 10, tzinfo=UTC)
        ),
    )
    assert sorted(tuple(e) for e in new_entries) == [
        ("accrual_true_up", "LN-1"),  # the payoff's closing interest true-up
        ("disbursement", "LN-2"),
    ]
    assert (
        await rows(
            uow_factory,
            select(JournalEntryRow.id).where(
                JournalEntryRow.entry_type == "repayment",
                JournalEntryRow.reference == settling.id,
            ),
        )
        == []
    )
    after = await counts(uow_factory)
    assert after["loans"] == before["loans"] + 1
    assert after["payments"] == before["payments"] + 1
    assert after["entries"] == before["entries"] + 2

    # Both loans reconcile and the books balance.
    tb, rec = await ledger(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec
    assert rec["loans_checked"] == 2
    balances = {a["account"]: D(a["balance"]) for a in tb["accounts"]}
    assert balances["cash_clearing"] == D("-14353.94")
    assert balances["loans_receivable_principal"] == D("15000.00")
    assert balances["fee_income"] == D("-500.00")
    assert balances["interest_income"] == D("-146.06")
    assert balances["interest_receivable"] == D("0.00")
    assert sum(balances.values()) == 0

    # Events: LN-1 received a payment and was paid off; LN-2 was booked as promised.
    old_types = [type(e).__name__ for e in await outbox_events(uow_factory, "LN-1")]
    # (in the order a repayment that pays a loan off stages them)
    assert old_types[-3:] == ["LoanScheduleChangedV1", "RepaymentReceivedV1", "LoanPaidOffV1"]
    _, received, paid_off = (await outbox_events(uow_factory, "LN-1"))[-3:]
    assert received.external_ref == "renewal:LN-2"
    assert received.amount == PAYOFF
    assert received.allocation.principal == D("9211.51")
    assert received.allocation.interest == D("46.06")
    assert paid_off.paid_off_on == RENEWAL_DAY
    assert paid_off.closing_payment_id == settling.id
    assert paid_off.total_paid == D("888.49") + PAYOFF
    [booked] = await outbox_events(uow_factory, "LN-2")
    assert type(booked).__name__ == "LoanBookedV1"
    assert booked.matches_offer, booked.mismatches

    # Each loan's transactions show the entry, with each posting's loan.
    for loan_id in ("LN-1", "LN-2"):
        page = (
            await client.get(f"/v1/loans/{loan_id}/transactions", headers=token("finance"))
        ).json()
        shared = [m for m in page["items"] if m["entry_id"] == entry.id]
        assert len(shared) == 1, loan_id
        assert {p["loan_id"] for p in shared[0]["postings"]} == {"LN-1", "LN-2"}
    old_page = (await client.get("/v1/loans/LN-1/transactions", headers=token("finance"))).json()
    shared = next(m for m in old_page["items"] if m["entry_id"] == entry.id)
    assert shared["payment"]["id"] == settling.id

    # The portfolio counts LN-2's principal as disbursed in June, not less LN-1's settlement,
    # and nothing outstanding on LN-1.
    report = (
        await client.get(
            "/v1/reports/portfolio", params={"as_of": "2024-06-16"}, headers=token("finance")
        )
    ).json()
    [usd] = report["currencies"]
    assert usd["disbursed"] == "15000.00"
    assert usd["outstanding"]["principal"] == "15000.00"
    assert usd["collected"] == "888.49"  # cash only: the settlement brought no cash in
    # The loan tape: LN-1 received its payment and the settlement, 888.49 + 9257.57.
    tape = await client.get(
        "/v1/reports/loan-tape", params={"as_of": "2024-06-16"}, headers=token("finance")
    )
    lines = {row["loan_id"]: row for row in csv.DictReader(io.StringIO(tape.text))}
    assert lines["LN-1"]["status"] == "paid_off"
    assert lines["LN-1"]["outstanding_total"] == "0.00"
    assert lines["LN-1"]["paid_to_date"] == "10146.06"
    assert lines["LN-1"]["last_payment_date"] == "2024-06-16"
    assert lines["LN-2"]["outstanding_principal"] == "15000.00"
    assert lines["LN-2"]["paid_to_date"] == "0.00"

    # The settlement brought no cash: it is not reversed on its own.
    reversal = await client.post(
        f"/v1/loans/LN-1/repayments/{settling.id}/reversal", headers=token("finance")
    )
    assert reversal.status_code == 409, reversal.text
    assert reversal.json()["code"] == "settlement_not_reversible"
    assert await counts(uow_factory) == after

    # Redelivery and a re-send under a new event id change nothing.
    assert await inbox.process(message) == "duplicate"
    again = to_message(renewal_event(disbursed, reference), event_id="evt-renewal-2")
    assert await inbox.process(again) == "processed"
    assert await counts(uow_factory) == after
    assert await ledger(client, token) == (tb, rec)


async def test_a_payoff_equal_to_the_payout_leaves_no_cash_posting(
    inbox, to_message, disbursed, reference, old_loan, client, token, uow_factory
):
    """A renewal for exactly the payoff: net 9257.57 (principal 9446.50 less a 188.93 fee)."""
    event = renewal_event(
        disbursed,
        reference,
        principal=D("9446.50"),
        net_disbursed=PAYOFF,
        fees=[FeeV1(code="ORIGINATION", amount=D("188.93"), treatment="deducted")],
    )
    assert await inbox.process(to_message(event)) == "processed"
    [(entry_id,)] = await rows(
        uow_factory, select(PaymentRow.entry_id).where(PaymentRow.external_ref == "renewal:LN-2")
    )
    accounts = await rows(
        uow_factory, select(PostingRow.account).where(PostingRow.entry_id == entry_id)
    )
    assert "cash_clearing" not in {a for (a,) in accounts}
    tb, rec = await ledger(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_the_same_loan_with_another_loan_to_settle_is_a_conflict(
    inbox, to_message, disbursed, reference, old_loan, uow_factory
):
    assert await inbox.process(to_message(renewal_event(disbursed, reference))) == "processed"
    before = await counts(uow_factory)
    plain = renewal_event(disbursed, reference, settles_loan_id=None)
    assert await inbox.process(to_message(plain)) == "dead_lettered"
    assert await dead_letter_codes(uow_factory) == ["loan_conflict"]
    assert await counts(uow_factory) == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"settles_loan_id": "LN-UNKNOWN"}, "refinanced_loan_not_found"),
        (  # 5000.00 pays out 4900.00, less than the 9257.57 LN-1 owes
            {
                "principal": D("5000.00"),
                "net_disbursed": D("4900.00"),
                "fees": [FeeV1(code="ORIGINATION", amount=D("100.00"), treatment="deducted")],
            },
            "payoff_exceeds_disbursement",
        ),
        (  # disbursed before LN-1 was
            {
                "disbursement_date": date(2024, 4, 20),
                "first_due_date": date(2024, 5, 20),
                "disbursed_at": datetime(2024, 4, 20, 9, tzinfo=UTC),
            },
            "refinance_date_invalid",
        ),
    ],
)
async def test_a_renewal_that_cannot_settle_is_dead_lettered_with_nothing_posted(
    inbox, to_message, disbursed, reference, old_loan, client, token, uow_factory, overrides, code
):
    before = await counts(uow_factory)
    old_before = (await client.get("/v1/loans/LN-1", headers=token("servicing_agent"))).json()
    event = renewal_event(disbursed, reference, **overrides)
    assert await inbox.process(to_message(event)) == "dead_lettered"
    assert await dead_letter_codes(uow_factory) == [code]
    assert await counts(uow_factory) == before
    old_after = (await client.get("/v1/loans/LN-1", headers=token("servicing_agent"))).json()
    assert old_after == old_before
    assert old_after["status"] == "active"
    tb, rec = await ledger(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_a_loan_already_paid_off_cannot_be_settled_again(
    inbox, to_message, disbursed, reference, old_loan, uow_factory
):
    assert await inbox.process(to_message(renewal_event(disbursed, reference))) == "processed"
    before = await counts(uow_factory)
    twice = renewal_event(disbursed, reference, loan_id="LN-3", application_id="APP-3")
    assert await inbox.process(to_message(twice)) == "dead_lettered"
    assert await dead_letter_codes(uow_factory) == ["refinanced_loan_not_active"]
    assert await counts(uow_factory) == before


async def test_a_loan_in_another_currency_cannot_be_settled(
    inbox, to_message, disbursed, reference, uow_factory, clock
):
    assert await inbox.process(to_message(disbursed(currency="EUR"))) == "processed"
    clock.set(datetime(2024, 6, 16, 10, tzinfo=UTC))
    before = await counts(uow_factory)
    assert await inbox.process(to_message(renewal_event(disbursed, reference))) == "dead_lettered"
    assert await dead_letter_codes(uow_factory) == ["refinance_currency_mismatch"]
    assert await counts(uow_factory) == before


async def test_in_a_fetched_batch_the_refused_renewal_is_dead_lettered_and_the_rest_book(
    inbox, to_message, disbursed, reference, old_loan, client, token, uow_factory
):
    good = renewal_event(disbursed, reference)
    plain = disbursed(loan_id="LN-4", application_id="APP-4")
    bad = renewal_event(disbursed, reference, loan_id="LN-5", settles_loan_id="LN-UNKNOWN")
    outcomes = await inbox.process_batch([to_message(plain), to_message(good), to_message(bad)])
    assert outcomes == ["processed", "processed", "dead_lettered"]
    assert await dead_letter_codes(uow_factory) == ["refinanced_loan_not_found"]
    statuses = dict(await rows(uow_factory, select(LoanRow.id, LoanRow.status)))
    assert statuses == {"LN-1": "paid_off", "LN-2": "active", "LN-4": "active"}
    tb, rec = await ledger(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec


async def test_a_batch_of_plain_loans_and_a_renewal_books_in_one_transaction(
    inbox, to_message, disbursed, reference, old_loan, client, token, uow_factory
):
    batch = [
        to_message(disbursed(loan_id="LN-6", application_id="APP-6")),
        to_message(renewal_event(disbursed, reference)),
        to_message(disbursed(loan_id="LN-7", application_id="APP-7")),
    ]
    assert await inbox.process_batch(batch) == ["processed"] * 3
    postings = await rows(
        uow_factory,
        select(JournalEntryRow.loan_id, PostingRow.loan_id)
        .join(PostingRow, PostingRow.entry_id == JournalEntryRow.id)
        .where(JournalEntryRow.entry_type == "disbursement"),
    )
    # Only the renewal's entry tags postings with another loan; plain ones stay NULL.
    tagged = {(entry_loan, own) for entry_loan, own in postings if own is not None}
    assert tagged == {("LN-2", "LN-1")}
    assert {e for e, _ in postings} == {"LN-1", "LN-2", "LN-6", "LN-7"}
    tb, rec = await ledger(client, token)
    assert tb["balanced"], tb
    assert rec["ok"], rec
    assert rec["loans_checked"] == 4
