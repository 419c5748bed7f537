"""Restructuring behind maker-checker: reschedule, payment holiday and re-aging.

A `servicing_agent` asks (the terms are checked and a preview of the new schedule is
computed then); a `credit_manager` other than the requester approves. On approval, in one
transaction: the restructure is stored as an event of the loan's replay, effective on the
business date; the replay writes a new schedule version (the old one is kept); any
capitalised interest is posted; the interest accrued so far is re-based on the new
schedule (see `accrual_target`) and `LoanScheduleChanged` goes to the outbox.

The ledger:
- `interest_capitalisation`: principal receivable against interest income, the holiday's
  interest recognised when capitalised (kept equal to the replay's figure when a backdated
  payment changes it later, like every replayed amount);
- `interest_accrual_adjustment`: interest receivable against interest income (either way)
  so that what close of business accrued equals what it would have accrued had the new
  schedule always been in force. Close of business accrues each installment linearly from
  the previous due date, so after a holiday the first new installment accrues over the
  holiday too; the totals are exact either way.
Money a backdated payment put on the replaced installments (paid before the effective date,
recorded after the approval) is released as credit held for the borrower.

Refused: a loan that is not active, holds credit for the borrower, or has money paid on
installments that are not due yet (refund or apply it first: a restructure would release
it), and a flat-interest loan.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lms.adapters.cob import CobRepository
from lms.adapters.orm import InstallmentRow, LoanRestructureRow, LoanRow, ServicingRequestRow
from lms.adapters.repository import LoanRepository, PaymentRepository
from lms.domain.allocation import ZERO
from lms.domain.cob import AccrualPeriod, accrued_to
from lms.domain.errors import LoanClosedError, RequestPendingError, RestructureBlockedError
from lms.domain.ledger import interest_accrual_lines
from lms.domain.loan import LoanStatus
from lms.domain.restructure import RestructureEvent, RestructureOutcome, RestructureTerms
from lms.domain.writeoff import RESTRUCTURE_KINDS, RequestStatus
from lms.service.requests import RequestView, request_view
from lms.service.servicing import (
    booked_installments,
    loan_context,
    post_entry,
    replay_events,
    require_loan,
    resync,
    servicing_engine,
)
from loanmath import RoundingMode, round_money
from servicekit.db import UnitOfWork


def terms_params(terms: RestructureTerms) -> dict[str, Any]:
    """The terms as stored with the request (amounts as strings, exact)."""
    return {
        "kind": terms.kind.value,
        "extend_by": terms.extend_by,
        "annual_rate": None if terms.annual_rate is None else str(terms.annual_rate),
        "installment_amount": (
            None if terms.installment_amount is None else str(terms.installment_amount)
        ),
        "holiday_periods": terms.holiday_periods,
        "capitalise_interest": terms.capitalise_interest,
    }


def _check_can_restructure(loan: LoanRow, today: date) -> None:
    if loan.status != LoanStatus.ACTIVE.value:
        raise LoanClosedError(
            f"loan {loan.id} is {loan.status}; only an active loan is restructured"
        )
    if loan.credit_balance and loan.credit_balance > 0:
        raise RestructureBlockedError(
            f"loan {loan.id} holds {loan.credit_balance} {loan.currency} for the borrower; "
            "refund or apply it first"
        )
    ahead = [
        r.number
        for r in LoanRepository.current_installments(loan)
        if r.due_date > today
        and (r.paid_principal or r.paid_interest or r.paid_fees or r.paid_penalties)
    ]
    if ahead:
        raise RestructureBlockedError(
            f"loan {loan.id} has money paid ahead on installments {ahead}; "
            "a restructure would release it: refund or apply it first"
        )


async def _preview(
    session: AsyncSession, loan: LoanRow, terms: RestructureTerms, today: date
) -> RestructureOutcome:
    """The replay with the restructure added as the latest event of the business date."""
    repo = PaymentRepository(session)
    events = replay_events(
        await repo.for_loan(loan.id),
        await repo.charges_for_loan(loan.id),
        await repo.restructures_for_loan(loan.id),
    )
    event = RestructureEvent("preview", today, loan.event_seq + 1, terms)
    ctx = loan_context(loan)
    replay = servicing_engine(loan, ctx).replay(booked_installments(loan), [*events, event])
    return replay.restructures[event.id]


def _summary(outcome: RestructureOutcome, currency: str) -> dict[str, str]:
    summary = {
        "annual_rate": str(outcome.annual_rate),
        "new_installments": str(outcome.new_count),
        "first_new_installment": str(outcome.first_new),
        "installment_amount": str(outcome.installment_amount),
        "last_due_date": outcome.last_due_date.isoformat() if outcome.last_due_date else "",
        "capitalised_interest": str(round_money(outcome.capitalised, currency)),
        "deferred_interest": str(round_money(outcome.deferred_interest, currency)),
        "currency": currency,
    }
    summary |= {
        f"re_aged_{c.value}": str(round_money(v, currency)) for c, v in outcome.re_aged.items()
    }
    return summary


async def request_restructure(
    uow: UnitOfWork,
    loan_id: str,
    *,
    terms: RestructureTerms,
    reason: str,
    requested_by: str,
    now: datetime,
    today: date,
) -> RequestView:
    """Ask for a restructure; the terms are checked and previewed, nothing moves yet."""
    session = uow.session
    loan = await require_loan(session, loan_id)
    terms.validate(loan.currency)
    _check_can_restructure(loan, today)
    pending = await session.scalar(
        select(ServicingRequestRow.id).where(
            ServicingRequestRow.loan_id == loan.id,
            ServicingRequestRow.kind.in_(RESTRUCTURE_KINDS),
            ServicingRequestRow.status == RequestStatus.PENDING.value,
        )
    )
    if pending is not None:
        raise RequestPendingError(f"loan {loan.id} already has restructure request {pending}")
    preview = await _preview(session, loan, terms, today)
    row = ServicingRequestRow(
        id=f"SRQ-{uuid.uuid4().hex}",
        loan_id=loan.id,
        kind=terms.kind.value,
        status=RequestStatus.PENDING.value,
        reason=reason,
        params=terms_params(terms),
        requested_by=requested_by,
        requested_at=now,
        outcome={"preview_on": today.isoformat(), **_summary(preview, loan.currency)},
    )
    session.add(row)
    view = request_view(row)
    await uow.commit()
    return view


def accrual_target(
    rows: Sequence[InstallmentRow], disbursed: date, through: date, currency: str, mode: str
) -> Decimal:
    """What close of business would have accrued through `through` had the schedule always
    been `rows`: each period (previous due date to its due date, as close of business
    takes it) accrues linearly, so the total is the sum of `accrued_to` over the periods."""
    ordered = sorted(rows, key=lambda r: r.number)
    total = ZERO
    start = disbursed
    for row in ordered:
        period = AccrualPeriod(start, row.due_date, row.interest)
        total += accrued_to(period, through, currency, RoundingMode(mode))
        start = row.due_date
    return total


async def apply_restructure(
    session: AsyncSession, request: ServicingRequestRow, *, now: datetime, today: date
) -> None:
    """Approval: store the event, replay, re-base the accrual; the caller commits."""
    loan = await require_loan(session, request.loan_id, lock=True)
    _check_can_restructure(loan, today)
    loan.event_seq += 1
    restructure = LoanRestructureRow(
        id=f"RST-{uuid.uuid4().hex}",
        loan_id=loan.id,
        request_id=request.id,
        kind=request.kind,
        effective_date=today,
        seq=loan.event_seq,
        params=dict(request.params),
        currency=loan.currency,
        accrual_adjustment=ZERO,
        schedule_version_from=loan.schedule_version,
        schedule_version_to=loan.schedule_version,
        created_at=now,
    )
    session.add(restructure)
    await session.flush()
    sync = await resync(session, loan, now=now, effective_date=today)
    outcome = sync.replay.restructures.get(restructure.id)
    if outcome is None:
        raise LoanClosedError(f"loan {loan.id} was paid off before the restructure took effect")
    restructure.schedule_version_to = loan.schedule_version

    cob = CobRepository(session)
    closed = await cob.last_closed_date()
    if closed is not None:
        accrued = await cob.accrued_for_loan(loan.id)
        earlier = (await PaymentRepository(session).accrual_adjustments(loan.id)).get(loan.id, ZERO)
        target = accrual_target(
            LoanRepository.current_installments(loan),
            loan.disbursement_date,
            closed,
            loan.currency,
            loan.rounding_mode,
        )
        adjustment = target - accrued - earlier
        lines = interest_accrual_lines(loan.currency, adjustment)
        if lines is not None:
            entry = await post_entry(
                session,
                loan_id=loan.id,
                entry_type="interest_accrual_adjustment",
                lines=lines,
                effective_date=today,
                now=now,
                reference=restructure.id,
            )
            restructure.accrual_adjustment = adjustment
            restructure.entry_id = entry.id
            request.entry_id = entry.id
    request.outcome = {
        "restructure_id": restructure.id,
        "effective_date": today.isoformat(),
        "schedule_version": str(loan.schedule_version),
        "previous_version": str(restructure.schedule_version_from),
        "accrual_adjustment": str(round_money(restructure.accrual_adjustment, loan.currency)),
        **_summary(outcome, loan.currency),
    }
