"""Loan endpoints: read a loan, its schedule, and lists of loans."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query

from lms.adapters.repository import LoanFilters
from lms.api.schemas import (
    InstallmentOut,
    LoanOut,
    LoanPage,
    NextDueOut,
    OutstandingOut,
    ScheduleOut,
    ScheduleTotalsOut,
)
from lms.service.loans import LoanView, get_loan, get_schedule, list_loans
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

READ_ROLES = ("servicing_agent", "collections_agent", "finance", "auditor", "credit_manager")
Reader = Annotated[Principal, Depends(require_roles(*READ_ROLES))]

router = api_router(prefix="/v1/loans", tags=["loans"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
}


def _loan_out(view: LoanView) -> LoanOut:
    o = view.outstanding
    return LoanOut(
        id=view.id,
        status=view.status,
        application_id=view.application_id,
        product_code=view.product_code,
        principal=view.principal,
        currency=view.currency,
        annual_rate=view.annual_rate,
        term=view.term,
        disbursement_date=view.disbursement_date,
        booked_at=view.booked_at,
        schedule_version=view.schedule_version,
        outstanding=OutstandingOut(
            principal=o.principal,
            interest=o.interest,
            fees=o.fees,
            penalties=o.penalties,
            total=o.total,
        ),
        next_due=(
            NextDueOut(date=view.next_due.date, amount=view.next_due.amount)
            if view.next_due
            else None
        ),
        days_past_due=view.days_past_due,
        delinquency_bucket=view.delinquency_bucket,
        schedule_matches_offer=view.schedule_matches_offer,
        mismatches=view.mismatches,
    )


@router.get("", response_model=LoanPage, responses=_PROBLEMS)
async def list_loans_endpoint(
    uow: UowDep,
    clock: ClockDep,
    _caller: Reader,
    status: str | None = None,
    product_code: str | None = None,
    application_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> LoanPage:
    """Booked loans, newest first, filterable by status, product and application."""
    filters = LoanFilters(status=status, product_code=product_code, application_id=application_id)
    views, total = await list_loans(uow, filters, limit=limit, offset=offset, today=clock.today())
    return LoanPage(items=[_loan_out(v) for v in views], total=total, limit=limit, offset=offset)


@router.get(
    "/{loan_id}",
    response_model=LoanOut,
    responses={**_PROBLEMS, 404: {"description": "Unknown loan (code loan_not_found)"}},
)
async def get_loan_endpoint(loan_id: str, uow: UowDep, clock: ClockDep, _caller: Reader) -> LoanOut:
    """The loan with what is owed as of today, the next installment and its delinquency."""
    return _loan_out(await get_loan(uow, loan_id, today=clock.today()))


@router.get(
    "/{loan_id}/schedule",
    response_model=ScheduleOut,
    responses={
        **_PROBLEMS,
        404: {
            "description": "Unknown loan or version (loan_not_found, schedule_version_not_found)"
        },
    },
)
async def get_schedule_endpoint(
    loan_id: str,
    uow: UowDep,
    clock: ClockDep,
    _caller: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> ScheduleOut:
    """The current schedule version with paid amounts and each installment's status today;
    `version` shows an earlier one (a restructure or re-amortisation keeps the old ones)."""
    view = await get_schedule(uow, loan_id, today=clock.today(), version=version)
    items = [
        InstallmentOut(
            number=line.installment.number,
            due_date=line.installment.due_date,
            principal=line.installment.principal,
            interest=line.installment.interest,
            fees=line.installment.fees,
            penalties=line.installment.penalties,
            total=line.installment.total,
            paid=line.installment.paid,
            status=line.status.value,
        )
        for line in view.lines
    ]

    def total_of(field: str) -> Decimal:
        return sum((getattr(i, field) for i in items), Decimal(0))

    totals = ScheduleTotalsOut(
        principal=total_of("principal"),
        interest=total_of("interest"),
        fees=total_of("fees"),
        penalties=total_of("penalties"),
        total=total_of("total"),
        paid=total_of("paid"),
    )
    return ScheduleOut(
        loan_id=view.loan_id,
        currency=view.currency,
        schedule_version=view.schedule_version,
        installments=items,
        totals=totals,
    )
