"""Reading loans: the loan with what is owed as of today, its schedule, and lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lms.adapters.orm import InstallmentRow, LoanRow
from lms.adapters.repository import LoanFilters, LoanRepository
from lms.domain.errors import LoanNotFoundError, ScheduleVersionNotFoundError
from lms.domain.loan import (
    InstallmentBalance,
    InstallmentStatus,
    NextDue,
    Outstanding,
    installment_status,
    next_due,
    outstanding,
)
from loanmath import round_money
from servicekit.db import UnitOfWork


@dataclass(frozen=True, slots=True)
class LoanView:
    """A loan as servicing sees it on a given day."""

    id: str
    status: str
    application_id: str
    product_code: str
    principal: Decimal
    currency: str
    annual_rate: Decimal
    term: int
    disbursement_date: date
    booked_at: datetime
    schedule_version: int
    outstanding: Outstanding
    next_due: NextDue | None
    days_past_due: int
    delinquency_bucket: str
    schedule_matches_offer: bool
    mismatches: list[str]


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    """One installment with its status as of the day asked about."""

    installment: InstallmentBalance
    status: InstallmentStatus


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """The loan's current schedule version."""

    loan_id: str
    currency: str
    schedule_version: int
    lines: list[ScheduleLine]


def to_balance(row: InstallmentRow) -> InstallmentBalance:
    """The domain's view of a stored installment."""
    return InstallmentBalance(
        number=row.number,
        due_date=row.due_date,
        principal=row.principal,
        interest=row.interest,
        fees=row.fees,
        penalties=row.penalties,
        paid_principal=row.paid_principal,
        paid_interest=row.paid_interest,
        paid_fees=row.paid_fees,
        paid_penalties=row.paid_penalties,
    )


def _view(loan: LoanRow, today: date) -> LoanView:
    balances = [to_balance(i) for i in LoanRepository.current_installments(loan)]
    owed = outstanding(balances, today)

    def money(amount: Decimal) -> Decimal:
        # Sums of nothing are a bare 0: show every amount at the currency's minor unit.
        return round_money(amount, loan.currency)

    due = next_due(balances)
    return LoanView(
        id=loan.id,
        status=loan.status,
        application_id=loan.application_id,
        product_code=loan.product_code,
        principal=loan.principal,
        currency=loan.currency,
        annual_rate=loan.annual_rate,
        term=loan.term,
        disbursement_date=loan.disbursement_date,
        booked_at=loan.booked_at,
        schedule_version=loan.schedule_version,
        outstanding=Outstanding(
            principal=money(owed.principal),
            interest=money(owed.interest),
            fees=money(owed.fees),
            penalties=money(owed.penalties),
        ),
        next_due=NextDue(due.date, money(due.amount)) if due else None,
        # As close of business stored them for the last closed business date.
        days_past_due=loan.days_past_due,
        delinquency_bucket=loan.delinquency_bucket,
        schedule_matches_offer=loan.schedule_matches_offer,
        mismatches=list(loan.mismatches),
    )


async def _require(uow: UnitOfWork, loan_id: str) -> LoanRow:
    loan = await LoanRepository(uow.session).get(loan_id)
    if loan is None:
        raise LoanNotFoundError(f"no loan {loan_id!r} is booked")
    return loan


async def get_loan(uow: UnitOfWork, loan_id: str, *, today: date) -> LoanView:
    """The loan with its outstanding balance, next due and delinquency as of `today`."""
    return _view(await _require(uow, loan_id), today)


async def get_schedule(
    uow: UnitOfWork, loan_id: str, *, today: date, version: int | None = None
) -> ScheduleView:
    """The current schedule (or an earlier version, as it was last stored) with each
    installment's status as of `today`."""
    loan = await _require(uow, loan_id)
    wanted = loan.schedule_version if version is None else version
    rows = sorted(
        (i for i in loan.installments if i.schedule_version == wanted), key=lambda i: i.number
    )
    if not rows:
        raise ScheduleVersionNotFoundError(
            f"loan {loan.id} has schedule versions 1 to {loan.schedule_version}, not {wanted}"
        )
    lines = []
    for row in rows:
        balance = to_balance(row)
        lines.append(ScheduleLine(balance, installment_status(balance, today)))
    return ScheduleView(loan.id, loan.currency, wanted, lines)


async def list_loans(
    uow: UnitOfWork, filters: LoanFilters, *, limit: int, offset: int, today: date
) -> tuple[Sequence[LoanView], int]:
    """A page of loans matching the filters, with the total count."""
    rows, total = await LoanRepository(uow.session).page(filters, limit=limit, offset=offset)
    return [_view(row, today) for row in rows], total
