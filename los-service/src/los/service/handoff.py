"""The LOS side of the handoff: record LoanBooked, and report what servicing has not booked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import LoanBookedV1
from los import metrics
from los.adapters.orm import ApplicationRow
from los.adapters.repository import ApplicationRepository, offer_from_row
from los.domain.applications import ApplicationStatus, can_transition
from los.domain.handoff import booking_mismatches
from los.service.audit import application_stream, record
from servicekit.clock import Clock
from servicekit.db import UnitOfWork
from servicekit.inbox import PermanentError


async def record_loan_booked(session: AsyncSession, event: LoanBookedV1) -> ApplicationRow:
    """Mark the application booked and whether servicing matches the offer (idempotent)."""
    repo = ApplicationRepository(session)
    found = await repo.get_by_loan_id_with_offer(event.loan_id)
    if found is None:
        raise PermanentError("unknown_loan", f"No application disbursed loan {event.loan_id}.")
    row, offer_row, audit_head = found
    if row.status == ApplicationStatus.BOOKED.value:
        return row
    if not can_transition(ApplicationStatus(row.status), ApplicationStatus.BOOKED):
        raise PermanentError(
            "illegal_transition", f"Loan {event.loan_id} is {row.status}, it cannot be booked."
        )
    if offer_row is None:  # pragma: no cover - a disbursed application always has an offer
        raise PermanentError("offer_not_found", f"Application {row.id} has no offer.")
    matches, mismatches = booking_mismatches(offer_from_row(offer_row), event)
    before = {"status": row.status, "loan_id": row.loan_id}
    row.status = ApplicationStatus.BOOKED.value
    row.booked_at = event.booked_at
    row.schedule_matches_offer = matches
    row.mismatches = mismatches
    row.updated_at = event.booked_at
    await session.flush()
    await record(
        session,
        application_stream(row.id),
        actor="lms",
        action="loan_booked",
        at=event.booked_at,
        head=audit_head,
        before=before,
        after={
            "status": row.status,
            "loan_id": row.loan_id,
            "schedule_matches_offer": matches,
            "mismatches": mismatches,
        },
    )
    return row


@dataclass(frozen=True, slots=True)
class HandoffItem:
    """One loan needing attention."""

    application_id: str
    loan_id: str | None
    status: str
    disbursed_at: datetime | None
    booked_at: datetime | None
    age_s: int | None
    mismatches: list[str]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Loans disbursed but not booked past the threshold, and booked ones that disagree."""

    as_of: datetime
    older_than_s: int
    unbooked: list[HandoffItem]
    mismatched: list[HandoffItem]


async def reconcile_handoff(uow: UnitOfWork, *, clock: Clock, older_than_s: int) -> Reconciliation:
    """What the LMS has not booked in time or booked differently; refreshes the gauges."""
    now = clock.now()
    repo = ApplicationRepository(uow.session)
    unbooked = [
        HandoffItem(
            application_id=r.id,
            loan_id=r.loan_id,
            status=r.status,
            disbursed_at=r.disbursed_at,
            booked_at=None,
            age_s=int((now - r.disbursed_at).total_seconds()) if r.disbursed_at else None,
            mismatches=[],
        )
        for r in await repo.list_unbooked(now - timedelta(seconds=older_than_s))
    ]
    mismatched = [
        HandoffItem(
            application_id=r.id,
            loan_id=r.loan_id,
            status=r.status,
            disbursed_at=r.disbursed_at,
            booked_at=r.booked_at,
            age_s=int((now - r.disbursed_at).total_seconds()) if r.disbursed_at else None,
            mismatches=list(r.mismatches or []),
        )
        for r in await repo.list_mismatched()
    ]
    metrics.HANDOFF_UNBOOKED.set(len(unbooked))
    metrics.HANDOFF_MISMATCHED.set(len(mismatched))
    return Reconciliation(now, older_than_s, unbooked, mismatched)
