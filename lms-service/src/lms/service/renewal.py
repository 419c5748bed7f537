"""Renewals and top-ups at booking: the old loan is paid off out of the new loan's payout.

`book_loans` calls `settle_refinanced_loan` for an event that names `settles_loan_id`, after
the new loan's rows are written and in the same transaction, instead of posting the plain
disbursement entry. It reuses the servicing building blocks a repayment goes through
(`quote_payoff` for the amount; the replay, `_resync` and the paid-off event for the old
loan) with one difference: the payment on the old loan gets no "repayment" entry of its own.
Its allocation is posted inside the new loan's disbursement entry, so the whole movement is
one balanced entry across both loans (see lms.domain.refinance) and no cash is posted twice.

The payoff's own non-cash adjustments on the old loan stay what any payoff posts: a
reallocation when interest paid ahead for time after the payoff becomes credit, and the
closing interest true-up.

Any refusal raises a RefinanceRefusedError (an LmsError): the consumer dead-letters the
event and the transaction rolls back, so nothing of it is booked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import LoanDisbursedV1
from lms.adapters.orm import PaymentRow
from lms.adapters.repository import (
    JournalRepository,
    LoanRepository,
    NewJournalEntry,
    PaymentRepository,
)
from lms.domain.errors import ExternalRefConflictError
from lms.domain.ledger import payment_split
from lms.domain.loan import LoanStatus
from lms.domain.refinance import (
    ENTRY_TYPE,
    RefinanceNotSettledError,
    SettledLoan,
    check_payoff,
    check_settleable,
    settlement_lines,
    settlement_ref,
)
from lms.domain.servicing import LoanState
from lms.domain.terms import LoanTerms
from lms.service.servicing import (
    POSTED,
    _money,
    announce_payment,
    booked_installments,
    component_totals,
    loan_context,
    quote_payoff,
    replay_events,
    resync,
    servicing_engine,
)
from servicekit.db import UnitOfWork

__all__ = ["RECEIVED_BY", "Settlement", "is_settlement", "settle_refinanced_loan"]

RECEIVED_BY = "lms:renewal"
"""Who recorded the settling payment: the booking itself, not a person."""


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a renewal did to the old loan."""

    loan_id: str
    payment_id: str
    payoff: Decimal
    entry_id: int


class _InTransaction:
    """The booking's open transaction, lent to a read-only servicing use case (the quote)
    that only reads through `session` and never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session


async def settle_refinanced_loan(
    session: AsyncSession,
    event: LoanDisbursedV1,
    terms: LoanTerms,
    *,
    now: datetime,
    event_id: str | None,
) -> Settlement:
    """Pay the old loan off on the new loan's disbursement date and post the new loan's
    disbursement with that payoff inside it, as one entry; the new loan is already written.
    """
    assert event.settles_loan_id is not None
    on = terms.disbursement_date
    old = await LoanRepository(session).get(event.settles_loan_id, lock=True)
    check_settleable(
        None
        if old is None
        else SettledLoan(old.id, old.status, old.currency, old.disbursement_date),
        loan_id=event.settles_loan_id,
        currency=terms.currency,
        disbursement_date=on,
    )
    assert old is not None
    # The amount: the servicing payoff quote, as the API gives it for that date.
    quote = await quote_payoff(cast(UnitOfWork, _InTransaction(session)), old.id, on=on)
    payoff = quote.quote.total
    check_payoff(old.id, payoff, terms.net_disbursed, terms.currency)

    payments = PaymentRepository(session)
    external_ref = settlement_ref(event.loan_id)
    if await payments.by_external_ref(old.id, external_ref) is not None:
        raise ExternalRefConflictError(
            f"loan {old.id} already has a payment under {external_ref!r}"
        )
    old.event_seq += 1
    payment = PaymentRow(
        id=f"PAY-{uuid.uuid4().hex}",
        loan_id=old.id,
        external_ref=external_ref,
        amount=payoff,
        currency=old.currency,
        value_date=on,
        seq=old.event_seq,
        status=POSTED,
        credit=_money(old, Decimal(0)),
        closed_loan=False,
        received_at=now,
        received_by=RECEIVED_BY,
        statement_line_id=None,
    )
    payment.allocations = []

    # The allocation the payment gets (the replay _resync runs below, previewed).
    earlier = await payments.for_loan(old.id)
    events = replay_events(
        [*earlier, payment],
        await payments.charges_for_loan(old.id),
        await payments.restructures_for_loan(old.id),
    )
    preview = servicing_engine(old, loan_context(old)).replay(booked_installments(old), events)
    if preview.state is not LoanState.PAID_OFF:
        raise RefinanceNotSettledError(
            f"paying {payoff} {old.currency} on {on} does not leave loan {old.id} paid off "
            "(an event after that date reopens it)"
        )
    applied = preview.payments[payment.id]
    split = payment_split(component_totals(applied.lines), applied.credit)

    settlement = settlement_lines(
        terms.currency,
        principal=terms.principal,
        net_disbursed=terms.net_disbursed,
        deducted_fees=[f.amount for f in terms.fees if f.treatment == "deducted"],
        settled_loan_id=old.id,
        settled_split=split,
    )
    entry = NewJournalEntry(
        {
            "loan_id": event.loan_id,
            "entry_type": ENTRY_TYPE,
            "currency": terms.currency,
            "effective_date": on,
            "created_at": now,
            "source_event_id": event_id,
            "reference": payment.id,
        },
        [
            {
                "account": p.account.value,
                "side": p.side.value,
                "amount": p.amount,
                "currency": terms.currency,
                "loan_id": loan,
            }
            for p, loan in zip(settlement.lines.postings, settlement.loans, strict=True)
        ],
    )
    (entry_id,) = await JournalRepository(session).insert_entries([entry])
    payment.entry_id = entry_id
    payments.add(payment)
    await session.flush()

    sync = await resync(session, old, now=now, effective_date=on, new_payment_id=payment.id)
    if old.status != LoanStatus.PAID_OFF.value:  # pragma: no cover - the preview said so
        raise RefinanceNotSettledError(f"loan {old.id} is {old.status} after its payoff")
    await announce_payment(session, old, payment, sync, now=now)
    return Settlement(old.id, payment.id, payoff, entry_id)


async def is_settlement(uow: UnitOfWork, loan_id: str, payment_id: str) -> bool:
    """Whether the payment settled the loan out of a renewal's disbursement. Such a payment
    brought no cash: reversing it on its own would post a refund that never happened."""
    payment = await PaymentRepository(uow.session).get(loan_id, payment_id)
    return payment is not None and payment.received_by == RECEIVED_BY
