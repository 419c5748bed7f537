"""Booking loans from LoanDisbursed records through the inbox, on every backend."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from lending_schemas import LoanBookedV1, PromisedTermsV1, from_kafka, parse_event
from lms.adapters.orm import InstallmentRow, JournalEntryRow, LoanFeeRow, LoanRow, PostingRow
from servicekit.tables import DEAD_LETTERS, INBOX, OUTBOX

pytestmark = pytest.mark.integration
D = Decimal


async def count(uow_factory, table_or_entity, *where):
    async with uow_factory() as uow:
        stmt = select(func.count()).select_from(table_or_entity)
        if where:
            stmt = stmt.where(*where)
        return await uow.session.scalar(stmt)


async def outbox_rows(uow_factory):
    async with uow_factory() as uow:
        return (await uow.session.execute(select(OUTBOX).order_by(OUTBOX.c.id))).mappings().all()


async def dead_letters(uow_factory):
    async with uow_factory() as uow:
        rows = await uow.session.execute(select(DEAD_LETTERS).order_by(DEAD_LETTERS.c.id))
        return rows.mappings().all()


async def load_loan(uow_factory, loan_id):
    async with uow_factory() as uow:
        loan = await uow.session.get(LoanRow, loan_id)
        installments = (
            await uow.session.scalars(
                select(InstallmentRow)
                .where(InstallmentRow.loan_id == loan_id)
                .order_by(InstallmentRow.number)
            )
        ).all()
        uow.session.expunge_all()  # keep loaded values past the read-only rollback
        return loan, installments


async def test_booking_stores_loan_installments_and_stages_loan_booked(
    inbox, uow_factory, clock, disbursed, reference, to_message
):
    event = disbursed()
    message = to_message(event, event_id="evt-1")
    assert await inbox.process(message) == "processed"

    loan, installments = await load_loan(uow_factory, "LN-1")
    assert loan is not None
    assert (loan.status, loan.schedule_version, loan.currency) == ("active", 1, "USD")
    assert (loan.application_id, loan.party_ref, loan.product_code) == (
        "APP-1",
        "pty_1",
        "PERSONAL-12M",
    )
    assert loan.principal == D("10000.00")
    assert loan.net_disbursed == D("9800.00")
    assert loan.annual_rate == D("0.12")
    assert (loan.day_count, loan.amortization, loan.frequency) == ("30/360", "annuity", "monthly")
    assert loan.allocation_order == ["penalties", "fees", "interest", "principal"]
    assert loan.penalty_late_fee_flat == D("15.00")
    assert loan.booked_at == clock.now()
    assert loan.source_event_id == "evt-1"
    assert loan.schedule_matches_offer is True
    assert loan.mismatches == []

    # Golden figures from the independent reference table (tests/conftest.py).
    table = reference(D("10000.00"), D("0.12"), 12)
    assert len(installments) == 12
    assert sum(i.principal for i in installments) == D("10000.00")
    assert installments[0].total == D("888.49")
    assert [(i.principal, i.interest, i.total) for i in installments] == [
        (r["principal"], r["interest"], r["total"]) for r in table
    ]
    assert installments[0].due_date == date(2024, 6, 1)
    assert installments[-1].due_date == date(2025, 5, 1)
    assert {i.status for i in installments} == {"pending"}
    assert all(
        i.paid_principal == i.paid_interest == i.paid_fees == i.paid_penalties == 0
        for i in installments
    )
    assert await count(uow_factory, LoanFeeRow) == 1

    rows = await outbox_rows(uow_factory)
    assert len(rows) == 1
    row = rows[0]
    assert row["topic"] == "lending.loan-booked.v1"
    assert row["key"] == "LN-1"
    assert row["aggregate_id"] == "LN-1"
    envelope = from_kafka(row["payload"].encode(), [(k, v.encode()) for k, v in row["headers"]])
    assert envelope.source == "/lms"
    assert envelope.subject == "LN-1"
    booked = parse_event(envelope)
    assert isinstance(booked, LoanBookedV1)
    assert booked.loan_id == "LN-1"
    assert booked.application_id == "APP-1"
    assert booked.booked_at == clock.now()
    assert booked.matches_offer is True
    assert booked.mismatches == []
    assert booked.schedule.installment_amount == D("888.49")
    assert booked.schedule.total_repayable == sum(r["total"] for r in table)
    assert booked.schedule.total_interest == sum(r["interest"] for r in table)
    assert booked.schedule.installments == 12
    assert booked.schedule.first_due_date == date(2024, 6, 1)
    assert booked.schedule.last_due_date == date(2025, 5, 1)


async def test_disbursement_is_a_balanced_journal_entry(inbox, uow_factory, disbursed, to_message):
    assert await inbox.process(to_message(disbursed())) == "processed"
    async with uow_factory() as uow:
        entries = (await uow.session.scalars(select(JournalEntryRow))).all()
        postings = (await uow.session.scalars(select(PostingRow))).all()
        uow.session.expunge_all()
    assert len(entries) == 1
    assert entries[0].entry_type == "disbursement"
    assert entries[0].effective_date == date(2024, 5, 1)
    debits = sum(p.amount for p in postings if p.side == "debit")
    credits = sum(p.amount for p in postings if p.side == "credit")
    assert debits == credits == D("10000.00")
    amounts = {(p.account, p.side): p.amount for p in postings}
    assert amounts == {
        ("loans_receivable_principal", "debit"): D("10000.00"),
        ("cash_clearing", "credit"): D("9800.00"),
        ("fee_income", "credit"): D("200.00"),
    }


async def test_postings_are_never_updated(inbox, uow_factory, disbursed, to_message):
    from lms.adapters.orm import ImmutablePostingError

    await inbox.process(to_message(disbursed()))
    async with uow_factory() as uow:
        posting = (await uow.session.scalars(select(PostingRow))).first()
        posting.amount = D("1.00")
        with pytest.raises(ImmutablePostingError):
            await uow.session.flush()


async def test_a_redelivered_record_books_once(inbox, uow_factory, disbursed, to_message):
    message = to_message(disbursed(), event_id="evt-dup")
    assert await inbox.process(message) == "processed"
    assert await inbox.process(message) == "duplicate"
    assert await count(uow_factory, LoanRow) == 1
    assert await count(uow_factory, InstallmentRow) == 12
    assert len(await outbox_rows(uow_factory)) == 1
    assert await count(uow_factory, JournalEntryRow) == 1


async def test_same_loan_same_terms_under_a_new_event_id_is_a_no_op(
    inbox, uow_factory, disbursed, to_message
):
    assert await inbox.process(to_message(disbursed(), event_id="evt-a")) == "processed"
    assert await inbox.process(to_message(disbursed(), event_id="evt-b")) == "processed"
    assert await count(uow_factory, LoanRow) == 1
    assert await count(uow_factory, InstallmentRow) == 12
    assert len(await outbox_rows(uow_factory)) == 1
    assert await count(uow_factory, INBOX) == 2
    assert await dead_letters(uow_factory) == []


async def test_same_loan_with_different_terms_is_dead_lettered(
    inbox, uow_factory, disbursed, to_message, dlt_producer
):
    await inbox.process(to_message(disbursed(), event_id="evt-a"))
    changed = disbursed(annual_rate=D("0.15"))
    assert await inbox.process(to_message(changed, event_id="evt-b")) == "dead_lettered"
    letters = await dead_letters(uow_factory)
    assert [dl["error_code"] for dl in letters] == ["loan_conflict"]
    assert "different terms" in letters[0]["reason"]
    assert dlt_producer.sent[0]["topic"] == "lending.loan-disbursed.v1.dlt"
    assert dlt_producer.sent[0]["headers"]["dlt_error_code"] == b"loan_conflict"
    loan, _ = await load_loan(uow_factory, "LN-1")
    assert loan.annual_rate == D("0.12")
    assert len(await outbox_rows(uow_factory)) == 1


async def test_unsupported_currency_is_dead_lettered_and_the_next_loan_still_books(
    inbox, uow_factory, disbursed, to_message
):
    bad = disbursed(loan_id="LN-X", currency="XXX")
    assert await inbox.process(to_message(bad)) == "dead_lettered"
    assert await inbox.process(to_message(disbursed(loan_id="LN-2"))) == "processed"
    letters = await dead_letters(uow_factory)
    assert [dl["error_code"] for dl in letters] == ["unsupported_terms"]
    assert "XXX" in letters[0]["reason"]
    assert await count(uow_factory, LoanRow, LoanRow.id == "LN-X") == 0
    assert await count(uow_factory, LoanRow, LoanRow.id == "LN-2") == 1
    assert [r["key"] for r in await outbox_rows(uow_factory)] == ["LN-2"]


async def test_unknown_method_is_dead_lettered_with_the_reason(
    inbox, uow_factory, disbursed, to_message
):
    # The contract lists the methods it knows, so "balloon" fails on read as a contract violation.
    def balloon(body):
        body["amortization"] = "balloon"

    message = to_message(disbursed(loan_id="LN-B"), mutate=balloon)
    assert await inbox.process(message) == "dead_lettered"
    assert await inbox.process(to_message(disbursed(loan_id="LN-3"))) == "processed"
    letters = await dead_letters(uow_factory)
    assert [dl["error_code"] for dl in letters] == ["contract_violation"]
    assert "amortization" in letters[0]["reason"]
    assert await count(uow_factory, LoanRow) == 1


async def test_inconsistent_net_disbursed_is_dead_lettered(
    inbox, uow_factory, disbursed, to_message
):
    bad = disbursed(net_disbursed=D("9900.00"))
    assert await inbox.process(to_message(bad)) == "dead_lettered"
    assert [dl["error_code"] for dl in await dead_letters(uow_factory)] == ["inconsistent_terms"]


async def test_an_invalid_body_is_dead_lettered(inbox, uow_factory, disbursed, to_message):
    def float_principal(body):
        body["principal"] = 10000.0
        del body["promised"]

    assert await inbox.process(to_message(disbursed(), mutate=float_principal)) == "dead_lettered"
    letters = await dead_letters(uow_factory)
    assert letters[0]["error_code"] == "contract_violation"
    assert "principal" in letters[0]["reason"]
    assert "promised" in letters[0]["reason"]
    assert await count(uow_factory, LoanRow) == 0
    assert await outbox_rows(uow_factory) == []


async def test_a_different_promised_installment_is_reported_as_a_mismatch(
    inbox, uow_factory, disbursed, to_message
):
    good = disbursed()
    promised = PromisedTermsV1(
        installment_amount=D("888.50"),
        total_repayable=good.promised.total_repayable,
        total_interest=good.promised.total_interest,
    )
    assert await inbox.process(to_message(disbursed(promised=promised))) == "processed"
    loan, _ = await load_loan(uow_factory, "LN-1")
    assert loan.schedule_matches_offer is False
    assert loan.mismatches == ["installment_amount"]
    row = (await outbox_rows(uow_factory))[0]
    booked = parse_event(
        from_kafka(row["payload"].encode(), [(k, v.encode()) for k, v in row["headers"]])
    )
    assert booked.matches_offer is False
    assert booked.mismatches == ["installment_amount"]


async def test_twenty_digit_money_round_trips_exactly(inbox, uow_factory, disbursed, to_message):
    big = D("123456789012345678.91")  # 20 significant digits
    event = disbursed(loan_id="LN-BIG", principal=big, net_disbursed=big, fees=[])
    assert await inbox.process(to_message(event)) == "processed"
    loan, installments = await load_loan(uow_factory, "LN-BIG")
    assert loan.principal == big
    assert str(loan.principal) == "123456789012345678.91"
    assert sum(i.principal for i in installments) == big
    async with uow_factory() as uow:
        fee = LoanFeeRow(
            loan_id="LN-BIG", code="X", amount=D("98765432109876543.21"), treatment="upfront"
        )
        uow.session.add(fee)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.session.scalar(select(LoanFeeRow.amount).where(LoanFeeRow.code == "X"))
    assert str(stored) == "98765432109876543.21"


async def test_a_bullet_loan_books_one_installment(inbox, uow_factory, disbursed, to_message):
    """10000.00 at 12% over 30 days, ACT/360, paid at maturity.

    By hand: interest = 10000.00 x 0.12 x 30 / 360 = 100.00, so one installment of 10100.00.
    """
    event = disbursed(
        loan_id="LN-BULLET",
        amortization="bullet",
        frequency="whole_term",
        day_count="ACT/360",
        interest_basis="day_count",
        term=1,
        first_due_date=date(2024, 5, 31),
        promised=PromisedTermsV1(
            installment_amount=Decimal("10100.00"),
            total_repayable=Decimal("10100.00"),
            total_interest=Decimal("100.00"),
        ),
    )
    assert await inbox.process(to_message(event)) == "processed"
    async with uow_factory() as uow:
        loan = await uow.session.get(LoanRow, "LN-BULLET")
        assert loan is not None
        assert loan.schedule_matches_offer is True
        rows = (
            await uow.session.execute(
                select(InstallmentRow.principal, InstallmentRow.interest, InstallmentRow.total)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (Decimal("10000.00"), Decimal("100.00"), Decimal("10100.00"))
    ]


async def test_a_fetched_batch_books_in_one_transaction(inbox, uow_factory, disbursed, to_message):
    first = to_message(disbursed(loan_id="LN-BATCH-1"), event_id="evt-b1")
    batch = [first, to_message(disbursed(loan_id="LN-BATCH-2")), first]
    assert await inbox.process_batch(batch) == ["processed", "processed", "duplicate"]
    assert await count(uow_factory, LoanRow) == 2
    assert await count(uow_factory, InstallmentRow) == 24
    assert await count(uow_factory, JournalEntryRow) == 2
    assert len(await outbox_rows(uow_factory)) == 2


async def test_a_batch_with_a_conflict_books_the_others_and_dead_letters_it(
    inbox, uow_factory, disbursed, to_message
):
    assert await inbox.process(to_message(disbursed(loan_id="LN-C"))) == "processed"
    conflicting = to_message(disbursed(loan_id="LN-C", party_ref="pty_other"))
    outcomes = await inbox.process_batch([to_message(disbursed(loan_id="LN-D")), conflicting])
    assert outcomes == ["processed", "dead_lettered"]
    assert await count(uow_factory, LoanRow) == 2


async def test_a_batch_of_currencies_stores_each_currencys_own_zeros(
    inbox, uow_factory, disbursed, to_message
):
    """Two-decimal currencies take the database's 0.00 defaults; yen and dinar loans are
    written with explicit zeros at their own scale, in the same batch."""
    from lending_schemas import FeeV1

    def loan(loan_id, currency, principal, fee):
        return disbursed(
            loan_id=loan_id,
            currency=currency,
            principal=D(principal),
            net_disbursed=D(principal) - D(fee),
            fees=[FeeV1(code="ORIGINATION", amount=D(fee), treatment="deducted")],
        )

    batch = [
        to_message(loan("LN-USD", "USD", "10000.00", "200.00")),
        to_message(loan("LN-JPY", "JPY", "1000000", "20000")),
        to_message(loan("LN-KWD", "KWD", "3000.000", "60.000")),
    ]
    assert await inbox.process_batch(batch) == ["processed"] * 3
    for loan_id, zero in (("LN-USD", "0.00"), ("LN-JPY", "0"), ("LN-KWD", "0.000")):
        _, installments = await load_loan(uow_factory, loan_id)
        assert len(installments) == 12
        for row in installments:
            stored = (
                row.penalties,
                row.paid_principal,
                row.paid_interest,
                row.paid_fees,
                row.paid_penalties,
            )
            assert {str(v) for v in stored} == {zero}, (loan_id, stored)
        assert sum((r.principal for r in installments), D(0)) == D(
            {"LN-USD": "10000.00", "LN-JPY": "1000000", "LN-KWD": "3000.000"}[loan_id]
        )
