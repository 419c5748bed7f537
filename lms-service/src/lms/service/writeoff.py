"""Write-off behind maker-checker, recoveries on written-off loans, and closure.

A write-off is requested by one person and approved by another (`credit_manager`); the
approval takes what the loan owes by the ledger on the business date off the books in one
balanced entry, marks the loan written off (close of business leaves it alone from then
on) and announces `LoanWrittenOff`. Money received later is a recovery. A paid-off loan
with nothing left either way is closed (`LoanClosed`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import LoanClosedV1, LoanWrittenOffV1
from lms.adapters.orm import LoanRow, RecoveryRow, ServicingRequestRow
from lms.adapters.reports import Cutoff, ReportRepository
from lms.domain.errors import (
    CreditBalanceHeldError,
    CurrencyMismatchError,
    ExternalRefConflictError,
    InvalidAmountError,
    InvalidValueDateError,
    LoanClosedError,
    LoanNotFoundError,
    LoanNotSettledError,
    LoanNotWrittenOffError,
    RequestDecidedError,
    RequestNotFoundError,
    RequestPendingError,
)
from lms.domain.loan import LoanStatus
from lms.domain.writeoff import (
    RequestKind,
    RequestStatus,
    check_four_eyes,
    recovery_lines,
    write_off_lines,
)
from lms.service.requests import RequestView, request_view
from lms.service.restructure import apply_restructure
from lms.service.servicing import post_entry
from loanmath import round_money
from servicekit.db import UnitOfWork
from servicekit.outbox import stage_event

EVENT_SOURCE = "/lms"
COMPONENTS = ("principal", "interest", "fees", "penalties")


async def _loan(session: AsyncSession, loan_id: str, *, lock: bool = False) -> LoanRow:
    """The loan; locked (FOR UPDATE on PostgreSQL) when the caller changes it, so close of
    business and the change take turns."""
    loan = await session.get(LoanRow, loan_id, with_for_update=lock, populate_existing=lock)
    if loan is None:
        raise LoanNotFoundError(f"no loan {loan_id!r} is booked")
    return loan


async def request_write_off(
    uow: UnitOfWork, loan_id: str, *, reason: str, requested_by: str, now: datetime
) -> RequestView:
    """Ask for a loan to be written off; nothing moves until someone else approves."""
    session = uow.session
    loan = await _loan(session, loan_id)
    if loan.status != LoanStatus.ACTIVE.value:
        raise LoanClosedError(
            f"loan {loan.id} is {loan.status}; only an active loan is written off"
        )
    pending = await session.scalar(
        select(ServicingRequestRow.id).where(
            ServicingRequestRow.loan_id == loan.id,
            ServicingRequestRow.kind == RequestKind.WRITE_OFF.value,
            ServicingRequestRow.status == RequestStatus.PENDING.value,
        )
    )
    if pending is not None:
        raise RequestPendingError(f"loan {loan.id} already has write-off request {pending}")
    row = ServicingRequestRow(
        id=f"SRQ-{uuid.uuid4().hex}",
        loan_id=loan.id,
        kind=RequestKind.WRITE_OFF.value,
        status=RequestStatus.PENDING.value,
        reason=reason,
        params={},
        requested_by=requested_by,
        requested_at=now,
    )
    session.add(row)
    view = request_view(row)
    await uow.commit()
    return view


async def _require_request(session: AsyncSession, request_id: str) -> ServicingRequestRow:
    row = await session.get(ServicingRequestRow, request_id)
    if row is None:
        raise RequestNotFoundError(f"no servicing request {request_id!r}")
    return row


async def decide_request(
    uow: UnitOfWork,
    request_id: str,
    *,
    approve: bool,
    comment: str,
    decided_by: str,
    now: datetime,
    today: date,
) -> RequestView:
    """Approve (and apply) or reject a pending request; never by the person who asked."""
    session = uow.session
    row = await _require_request(session, request_id)
    if row.status != RequestStatus.PENDING.value:
        raise RequestDecidedError(f"request {row.id} is already {row.status}")
    check_four_eyes(row.requested_by, decided_by)
    row.decided_by = decided_by
    row.decided_at = now
    row.decision_comment = comment
    if not approve:
        row.status = RequestStatus.REJECTED.value
    elif row.kind == RequestKind.WRITE_OFF.value:
        row.status = RequestStatus.APPROVED.value
        await _apply_write_off(session, row, now=now, today=today)
    else:
        row.status = RequestStatus.APPROVED.value
        await apply_restructure(session, row, now=now, today=today)
    view = request_view(row)
    await uow.commit()
    return view


async def _apply_write_off(
    session: AsyncSession, row: ServicingRequestRow, *, now: datetime, today: date
) -> None:
    loan = await _loan(session, row.loan_id, lock=True)
    if loan.status != LoanStatus.ACTIVE.value:
        raise LoanClosedError(
            f"loan {loan.id} is {loan.status}; only an active loan is written off"
        )
    if loan.credit_balance and loan.credit_balance > 0:
        raise CreditBalanceHeldError(
            f"loan {loan.id} holds {loan.credit_balance} {loan.currency} for the borrower; "
            "refund it first"
        )
    balances = (await ReportRepository(session).receivables(Cutoff(today), [loan.id])).get(
        loan.id, {}
    )
    lines = write_off_lines(loan.currency, balances)
    entry = await post_entry(
        session,
        loan_id=loan.id,
        entry_type="write_off",
        lines=lines,
        effective_date=today,
        now=now,
        reference=row.id,
    )
    owed = {
        c: round_money(max(balances.get(c, Decimal(0)), Decimal(0)), loan.currency)
        for c in COMPONENTS
    }
    total = sum(owed.values(), Decimal(0))
    row.entry_id = entry.id
    row.outcome = {**{c: str(v) for c, v in owed.items()}, "total": str(total)}
    loan.status = LoanStatus.WRITTEN_OFF.value
    loan.written_off_on = today
    await stage_event(
        session,
        LoanWrittenOffV1(
            loan_id=loan.id,
            written_off_on=today,
            request_id=row.id,
            currency=loan.currency,
            total=total,
            **owed,
        ),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )


async def get_request(uow: UnitOfWork, request_id: str) -> RequestView:
    """One servicing request."""
    return request_view(await _require_request(uow.session, request_id))


async def list_requests(
    uow: UnitOfWork,
    *,
    status: str | None,
    loan_id: str | None,
    limit: int,
    offset: int,
) -> list[RequestView]:
    """Servicing requests, oldest first (a checker's queue), filtered by status and loan."""
    stmt = select(ServicingRequestRow)
    if status is not None:
        stmt = stmt.where(ServicingRequestRow.status == status)
    if loan_id is not None:
        stmt = stmt.where(ServicingRequestRow.loan_id == loan_id)
    stmt = stmt.order_by(ServicingRequestRow.requested_at, ServicingRequestRow.id)
    rows: Sequence[ServicingRequestRow] = (
        await uow.session.scalars(stmt.limit(limit).offset(offset))
    ).all()
    return [request_view(r) for r in rows]


@dataclass(frozen=True, slots=True)
class RecoveryView:
    """A recovery as the API shows it."""

    id: str
    loan_id: str
    external_ref: str
    amount: Decimal
    currency: str
    value_date: date
    received_at: datetime


def _recovery_view(row: RecoveryRow) -> RecoveryView:
    return RecoveryView(
        row.id,
        row.loan_id,
        row.external_ref,
        row.amount,
        row.currency,
        row.value_date,
        row.received_at,
    )


async def record_recovery(
    uow: UnitOfWork,
    loan_id: str,
    *,
    amount: Decimal,
    currency: str,
    value_date: date,
    external_ref: str,
    received_by: str,
    now: datetime,
    today: date,
) -> tuple[RecoveryView, bool]:
    """Money received on a written-off loan; the same external_ref again is a replay."""
    session = uow.session
    loan = await _loan(session, loan_id, lock=True)
    existing = await session.scalar(
        select(RecoveryRow).where(
            RecoveryRow.loan_id == loan.id, RecoveryRow.external_ref == external_ref
        )
    )
    if existing is not None:
        if existing.amount != amount or existing.currency != currency:
            raise ExternalRefConflictError(
                f"external_ref {external_ref!r} was already used on loan {loan.id} "
                f"for {existing.amount} {existing.currency}"
            )
        return _recovery_view(existing), False
    if loan.status != LoanStatus.WRITTEN_OFF.value:
        raise LoanNotWrittenOffError(
            f"loan {loan.id} is {loan.status}; money for it is a repayment, not a recovery"
        )
    if currency != loan.currency:
        raise CurrencyMismatchError(f"loan {loan.id} is in {loan.currency}, not {currency}")
    if not amount.is_finite() or amount <= 0 or round_money(amount, currency) != amount:
        raise InvalidAmountError(
            f"amount must be a positive amount in {currency}'s minor units, got {amount}"
        )
    written_off_on = loan.written_off_on or loan.disbursement_date
    if value_date < written_off_on or value_date > today:
        raise InvalidValueDateError(
            f"value_date {value_date} must fall between the write-off ({written_off_on}) "
            f"and the business date ({today})"
        )
    amount = round_money(amount, currency)
    recovery = RecoveryRow(
        id=f"REC-{uuid.uuid4().hex}",
        loan_id=loan.id,
        external_ref=external_ref,
        amount=amount,
        currency=currency,
        value_date=value_date,
        received_at=now,
        received_by=received_by,
    )
    entry = await post_entry(
        session,
        loan_id=loan.id,
        entry_type="recovery",
        lines=recovery_lines(currency, amount),
        effective_date=value_date,
        now=now,
        reference=recovery.id,
    )
    recovery.entry_id = entry.id
    session.add(recovery)
    view = _recovery_view(recovery)
    await uow.commit()
    return view, True


async def close_loan(uow: UnitOfWork, loan_id: str, *, now: datetime, today: date) -> LoanRow:
    """Close a paid-off loan once its ledger shows nothing owed either way."""
    session = uow.session
    loan = await _loan(session, loan_id, lock=True)
    if loan.status != LoanStatus.PAID_OFF.value:
        raise LoanNotSettledError(f"loan {loan.id} is {loan.status}; only a paid-off loan closes")
    balances = (await ReportRepository(session).receivables(Cutoff(today), [loan.id])).get(
        loan.id, {}
    )
    left = {c: v for c, v in balances.items() if v}
    if left or (loan.credit_balance and loan.credit_balance > 0):
        raise LoanNotSettledError(
            f"loan {loan.id} is not settled: receivables {left or 'none'}, "
            f"credit held {loan.credit_balance}"
        )
    loan.status = LoanStatus.CLOSED.value
    loan.closed_on = today
    await stage_event(
        session,
        LoanClosedV1(loan_id=loan.id, closed_on=today, reason="paid_off", currency=loan.currency),
        source=EVENT_SOURCE,
        subject=loan.id,
        now=now,
    )
    await uow.commit()
    return loan
