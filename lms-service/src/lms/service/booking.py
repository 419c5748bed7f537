"""Booking a disbursed loan: schedule, installments, journal entry and LoanBooked, in one go."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import LoanBookedV1, LoanDisbursedV1, ScheduleSummaryV1
from lms.adapters.orm import InstallmentRow, JournalEntryRow, LoanFeeRow, LoanRow, PostingRow
from lms.adapters.repository import JournalRepository, LoanRepository
from lms.domain.errors import LoanConflictError
from lms.domain.ledger import disbursement_lines
from lms.domain.loan import InstallmentStatus, LoanStatus
from lms.domain.offer import PromisedFigures, compare_with_offer, summarise
from lms.domain.terms import LoanTerms, build_loan_schedule, terms_fingerprint, terms_from_event
from loanmath import Schedule, round_money
from servicekit.outbox import stage_event

EVENT_SOURCE = "/lms"
FIRST_SCHEDULE_VERSION = 1


@dataclass(frozen=True, slots=True)
class BookingResult:
    """What booking did: booked now, or found the same loan already booked."""

    loan_id: str
    booked: bool
    matches_offer: bool
    mismatches: list[str] = field(default_factory=list)


async def book_loan(
    session: AsyncSession, event: LoanDisbursedV1, *, now: datetime, event_id: str | None = None
) -> BookingResult:
    """Book a disbursed loan in the caller's transaction (the inbox commits it with its record).

    The same loan with the same terms is a no-op; with other terms it is a conflict.
    Raises a domain error (with a stable code) when the terms cannot be serviced.
    """
    loans = LoanRepository(session)
    fingerprint = terms_fingerprint(event)
    existing = await loans.get(event.loan_id)
    if existing is not None:
        if existing.terms_fingerprint != fingerprint:
            raise LoanConflictError(f"loan {event.loan_id} is already booked with different terms")
        return BookingResult(
            existing.id, False, existing.schedule_matches_offer, list(existing.mismatches)
        )
    terms = terms_from_event(event)
    schedule = build_loan_schedule(terms)
    summary = summarise(schedule)
    promised = PromisedFigures(
        installment_amount=event.promised.installment_amount,
        total_repayable=event.promised.total_repayable,
        total_interest=event.promised.total_interest,
    )
    mismatches = compare_with_offer(summary, promised)
    loan = _loan_row(event, terms, schedule, mismatches, fingerprint, now, event_id)
    loans.add(loan)
    await session.flush()
    JournalRepository(session).add(_disbursement_entry(event, terms, now, event_id))
    await session.flush()
    booked = LoanBookedV1(
        loan_id=loan.id,
        application_id=loan.application_id,
        booked_at=now,
        schedule=ScheduleSummaryV1(
            installment_amount=summary.installment_amount,
            total_repayable=summary.total_repayable,
            total_interest=summary.total_interest,
            installments=summary.installments,
            first_due_date=summary.first_due_date,
            last_due_date=summary.last_due_date,
        ),
        matches_offer=not mismatches,
        mismatches=mismatches,
    )
    await stage_event(session, booked, source=EVENT_SOURCE, subject=loan.id, now=now)
    return BookingResult(loan.id, True, not mismatches, mismatches)


def _loan_row(
    event: LoanDisbursedV1,
    terms: LoanTerms,
    schedule: Schedule,
    mismatches: list[str],
    fingerprint: str,
    now: datetime,
    event_id: str | None,
) -> LoanRow:
    zero = round_money(Decimal(0), terms.currency)  # stored as 0.00 in a 2-decimal currency
    loan = LoanRow(
        id=event.loan_id,
        application_id=event.application_id,
        party_ref=event.party_ref,
        product_code=event.product_code,
        currency=terms.currency,
        principal=terms.principal,
        net_disbursed=terms.net_disbursed,
        annual_rate=terms.annual_rate,
        day_count=terms.day_count.value,
        interest_basis=terms.interest_basis.value,
        amortization=terms.method.value,
        frequency=terms.frequency.value,
        rounding_mode=terms.rounding_mode.value,
        term=terms.term,
        disbursement_date=terms.disbursement_date,
        first_due_date=terms.first_due_date,
        grace_principal_periods=event.grace_principal_periods,
        grace_interest_periods=event.grace_interest_periods,
        allocation_order=list(event.allocation_order),
        penalty_late_fee_flat=event.penalty.late_fee_flat,
        penalty_rate_annual=event.penalty.penalty_rate_annual,
        penalty_grace_days=event.penalty.grace_days,
        promised_installment_amount=event.promised.installment_amount,
        promised_total_repayable=event.promised.total_repayable,
        promised_total_interest=event.promised.total_interest,
        promised_apr=event.promised.apr,
        schedule_installment_amount=schedule.installment_amount,
        schedule_total_repayable=schedule.total_repayable,
        schedule_total_interest=schedule.total_interest,
        schedule_matches_offer=not mismatches,
        mismatches=mismatches,
        status=LoanStatus.ACTIVE.value,
        schedule_version=FIRST_SCHEDULE_VERSION,
        terms_fingerprint=fingerprint,
        source_event_id=event_id or "",
        disbursed_at=event.disbursed_at,
        booked_at=now,
    )
    loan.fees = [
        LoanFeeRow(code=f.code, amount=f.amount, treatment=f.treatment) for f in terms.fees
    ]
    loan.installments = [
        InstallmentRow(
            schedule_version=FIRST_SCHEDULE_VERSION,
            number=i.number,
            due_date=i.due_date,
            principal=i.principal,
            interest=i.interest,
            fees=i.fees,
            penalties=zero,
            total=i.total,
            paid_principal=zero,
            paid_interest=zero,
            paid_fees=zero,
            paid_penalties=zero,
            status=InstallmentStatus.PENDING.value,
        )
        for i in schedule.installments
    ]
    return loan


def _disbursement_entry(
    event: LoanDisbursedV1, terms: LoanTerms, now: datetime, event_id: str | None
) -> JournalEntryRow:
    """The disbursement as a balanced entry (checked in the domain before it is staged)."""
    lines = disbursement_lines(
        terms.currency,
        terms.principal,
        terms.net_disbursed,
        [f.amount for f in terms.fees if f.treatment == "deducted"],
    )
    entry = JournalEntryRow(
        loan_id=event.loan_id,
        entry_type="disbursement",
        currency=lines.currency,
        effective_date=terms.disbursement_date,
        created_at=now,
        source_event_id=event_id,
    )
    entry.postings = [
        PostingRow(
            account=p.account.value, side=p.side.value, amount=p.amount, currency=lines.currency
        )
        for p in lines.postings
    ]
    return entry
