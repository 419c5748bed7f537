"""Booking a disbursed loan: schedule, installments, journal entry and LoanBooked, in one go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import LoanBookedV1, LoanDisbursedV1, ScheduleSummaryV1
from lms.adapters.orm import ZERO_DEFAULT
from lms.adapters.repository import (
    INSTALLMENT_COLUMNS,
    LEAN_INSTALLMENT_COLUMNS,
    BookedRows,
    JournalRepository,
    LoanRepository,
    NewJournalEntry,
)
from lms.domain.errors import LoanConflictError
from lms.domain.ledger import disbursement_lines
from lms.domain.loan import InstallmentStatus, LoanStatus
from lms.domain.offer import PromisedFigures, ScheduleSummary, compare_with_offer, summarise
from lms.domain.terms import LoanTerms, build_loan_schedule, terms_fingerprint, terms_from_event
from lms.service.renewal import settle_refinanced_loan
from loanmath import Schedule, get_currency, round_money
from servicekit.outbox import stage_events

EVENT_SOURCE = "/lms"
# Enough digits that turning minor units into an amount never rounds.
_EXACT = Context(prec=60)
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
    """Book one disbursed loan in the caller's transaction (the inbox commits it with its record).

    The same loan with the same terms is a no-op; with other terms it is a conflict.
    Raises a domain error (with a stable code) when the terms cannot be serviced.
    """
    return (await book_loans(session, [(event, event_id)], now=now))[0]


async def book_loans(
    session: AsyncSession,
    items: Sequence[tuple[LoanDisbursedV1, str | None]],
    *,
    now: datetime,
) -> list[BookingResult]:
    """Book a batch of disbursed loans with a handful of statements, whatever the batch size.

    One query finds loans already booked, the new loans, their installments, journal
    entries and postings are written with one statement per table, and the LoanBooked
    events are staged with one insert. A refusal of any
    loan raises, so the caller's transaction (the whole batch) rolls back.

    A renewal or top-up (`settles_loan_id`) pays the old loan off out of its payout: its
    disbursement entry, with the old loan's payoff inside it, is posted by
    `settle_refinanced_loan` after the new loans are written (lms.service.renewal).
    """
    ids = [event.loan_id for event, _ in items]
    known: dict[str, BookingResult] = {}
    fingerprints: dict[str, str] = {}
    for row in await LoanRepository(session).booking_facts(ids):
        known[row.id] = BookingResult(
            row.id, False, row.schedule_matches_offer, list(row.mismatches)
        )
        fingerprints[row.id] = row.terms_fingerprint
    results: list[BookingResult] = []
    new_loans: list[BookedRows] = []
    entries: list[NewJournalEntry] = []
    renewals: list[tuple[LoanDisbursedV1, LoanTerms, str | None]] = []
    answers: list[tuple[LoanBookedV1, str]] = []
    for event, event_id in items:
        fingerprint = terms_fingerprint(event)
        existing = known.get(event.loan_id)
        if existing is not None:
            if fingerprints[event.loan_id] != fingerprint:
                raise LoanConflictError(
                    f"loan {event.loan_id} is already booked with different terms"
                )
            results.append(
                BookingResult(
                    existing.loan_id, False, existing.matches_offer, list(existing.mismatches)
                )
            )
            continue
        terms = terms_from_event(event)
        schedule = build_loan_schedule(terms)
        summary = summarise(schedule)
        promised = PromisedFigures(
            installment_amount=event.promised.installment_amount,
            total_repayable=event.promised.total_repayable,
            total_interest=event.promised.total_interest,
        )
        mismatches = compare_with_offer(summary, promised)
        new_loans.append(_loan_rows(event, terms, schedule, mismatches, fingerprint, now, event_id))
        if event.settles_loan_id is None:
            entries.append(_disbursement_entry(event, terms, now, event_id))
        else:
            # A renewal or top-up: its disbursement entry also pays the old loan off.
            renewals.append((event, terms, event_id))
        answers.append((_loan_booked(event, summary, mismatches, now), event.loan_id))
        result = BookingResult(event.loan_id, True, not mismatches, mismatches)
        known[event.loan_id] = BookingResult(event.loan_id, False, result.matches_offer, mismatches)
        fingerprints[event.loan_id] = fingerprint
        results.append(result)
    if new_loans:
        await LoanRepository(session).insert_booked(new_loans)
        await JournalRepository(session).insert_entries(entries)
        for event, terms, event_id in renewals:
            await settle_refinanced_loan(session, event, terms, now=now, event_id=event_id)
        # Loans booked in this transaction: LoanBooked is the first event about each.
        await stage_events(session, answers, source=EVENT_SOURCE, now=now, first_events=True)
    return results


def _loan_booked(
    event: LoanDisbursedV1, summary: ScheduleSummary, mismatches: list[str], now: datetime
) -> LoanBookedV1:
    """The answer to the LOS: what was booked and whether it matches the offer."""
    return LoanBookedV1(
        loan_id=event.loan_id,
        application_id=event.application_id,
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


def _loan_rows(
    event: LoanDisbursedV1,
    terms: LoanTerms,
    schedule: Schedule,
    mismatches: list[str],
    fingerprint: str,
    now: datetime,
    event_id: str | None,
) -> BookedRows:
    """The loan, its fees and its installments as rows, written in bulk by the repository."""
    zero = round_money(Decimal(0), terms.currency)  # stored as 0.00 in a 2-decimal currency
    loan = {
        "id": event.loan_id,
        "application_id": event.application_id,
        "party_ref": event.party_ref,
        "product_code": event.product_code,
        "currency": terms.currency,
        "principal": terms.principal,
        "net_disbursed": terms.net_disbursed,
        "annual_rate": terms.annual_rate,
        "day_count": terms.day_count.value,
        "interest_basis": terms.interest_basis.value,
        "amortization": terms.method.value,
        "frequency": terms.frequency.value,
        "rounding_mode": terms.rounding_mode.value,
        "term": terms.term,
        "disbursement_date": terms.disbursement_date,
        "first_due_date": terms.first_due_date,
        "grace_principal_periods": event.grace_principal_periods,
        "grace_interest_periods": event.grace_interest_periods,
        "allocation_order": list(event.allocation_order),
        "penalty_late_fee_flat": event.penalty.late_fee_flat,
        "penalty_rate_annual": event.penalty.penalty_rate_annual,
        "penalty_grace_days": event.penalty.grace_days,
        "promised_installment_amount": event.promised.installment_amount,
        "promised_total_repayable": event.promised.total_repayable,
        "promised_total_interest": event.promised.total_interest,
        "promised_apr": event.promised.apr,
        "schedule_installment_amount": schedule.installment_amount,
        "schedule_total_repayable": schedule.total_repayable,
        "schedule_total_interest": schedule.total_interest,
        "schedule_matches_offer": not mismatches,
        "mismatches": mismatches,
        "status": LoanStatus.ACTIVE.value,
        "schedule_version": FIRST_SCHEDULE_VERSION,
        "terms_fingerprint": fingerprint,
        "source_event_id": event_id or "",
        "disbursed_at": event.disbursed_at,
        "booked_at": now,
    }
    fees = [
        {"loan_id": event.loan_id, "code": f.code, "amount": f.amount, "treatment": f.treatment}
        for f in terms.fees
    ]
    pending = InstallmentStatus.PENDING.value
    places = -get_currency(terms.currency).minor_units
    loan_id = event.loan_id

    def amount(minor: int) -> Decimal:
        return zero if not minor else Decimal(minor).scaleb(places, _EXACT)

    # Straight from the schedule's integer columns: no Installment rows are built.
    installments: list[tuple[Any, ...]]
    if str(zero) == ZERO_DEFAULT:
        # The database's zero defaults are this currency's zeros: send the figures only,
        # in LEAN_INSTALLMENT_COLUMNS order.
        columns = LEAN_INSTALLMENT_COLUMNS
        installments = [
            (
                loan_id,
                FIRST_SCHEDULE_VERSION,
                row.number,
                row.due_date,
                amount(row.principal),
                amount(row.interest),
                amount(row.fees),
                amount(row.total),
                pending,
            )
            for row in schedule.minor_rows()
        ]
    else:
        # In INSTALLMENT_COLUMNS order, zeros at the currency's own scale.
        columns = INSTALLMENT_COLUMNS
        installments = [
            (
                loan_id,
                FIRST_SCHEDULE_VERSION,
                row.number,
                row.due_date,
                amount(row.principal),
                amount(row.interest),
                amount(row.fees),
                zero,
                amount(row.total),
                zero,
                zero,
                zero,
                zero,
                pending,
            )
            for row in schedule.minor_rows()
        ]
    return BookedRows(loan, fees, installments, columns)


def _disbursement_entry(
    event: LoanDisbursedV1, terms: LoanTerms, now: datetime, event_id: str | None
) -> NewJournalEntry:
    """The disbursement as a balanced entry (checked in the domain before it is staged)."""
    lines = disbursement_lines(
        terms.currency,
        terms.principal,
        terms.net_disbursed,
        [f.amount for f in terms.fees if f.treatment == "deducted"],
    )
    entry = {
        "loan_id": event.loan_id,
        "entry_type": "disbursement",
        "currency": lines.currency,
        "effective_date": terms.disbursement_date,
        "created_at": now,
        "source_event_id": event_id,
    }
    postings = [
        {
            "account": p.account.value,
            "side": p.side.value,
            "amount": p.amount,
            "currency": lines.currency,
        }
        for p in lines.postings
    ]
    return NewJournalEntry(entry, postings)
