"""Reports: the portfolio as of a date and the loan tape (CSV) for regulatory reporting."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

from lms.api.schemas import (
    CurrencyPortfolioOut,
    OutstandingOut,
    PortfolioLineOut,
    PortfolioOut,
)
from lms.domain.reports import Outstanding
from lms.service.reports import LOAN_TAPE_COLUMNS, loan_tape, portfolio_report
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

Analyst = Annotated[Principal, Depends(require_roles("finance", "auditor", "credit_manager"))]

router = api_router(prefix="/v1/reports", tags=["reports"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
}
AsOf = Annotated[date | None, Query(description="Effective date of the figures (default: today).")]
RecordedBy = Annotated[
    AwareDatetime | None,
    Query(
        description="Count only what had been recorded by this instant (ISO 8601 with a "
        "zone), to reproduce a report made earlier."
    ),
]


def _outstanding(o: Outstanding) -> OutstandingOut:
    return OutstandingOut(
        principal=o.principal,
        interest=o.interest,
        fees=o.fees,
        penalties=o.penalties,
        total=o.total,
    )


@router.get(
    "/portfolio",
    response_model=PortfolioOut,
    responses={
        **_PROBLEMS,
        422: {"description": "Bad date or period (code invalid_report_period)"},
    },
)
async def get_portfolio(
    uow: UowDep,
    clock: ClockDep,
    _caller: Analyst,
    as_of: AsOf = None,
    period_from: Annotated[
        date | None,
        Query(alias="from", description="First day of the flows period (default: the month)."),
    ] = None,
    period_to: Annotated[
        date | None, Query(alias="to", description="Last day of the flows period (default: as_of).")
    ] = None,
    recorded_by: RecordedBy = None,
) -> PortfolioOut:
    """Outstanding by product and delinquency bucket, PAR30/60/90 and NPA ratio as of a date;
    principal disbursed, cash collected and collections efficiency over a period.

    Rebuilt from the ledger on every call: the same `as_of` and `recorded_by` give the same
    figures whenever it is asked. Amounts of different currencies are never added together.
    """
    report = await portfolio_report(
        uow,
        as_of=as_of or clock.today(),
        period_start=period_from,
        period_end=period_to,
        recorded_by=recorded_by,
    )
    return PortfolioOut(
        as_of=report.as_of,
        period_from=report.period_start,
        period_to=report.period_end,
        recorded_by=report.recorded_by,
        currencies=[
            CurrencyPortfolioOut(
                currency=book.currency,
                loans=book.loans,
                outstanding=_outstanding(book.outstanding),
                par30=book.par(30),
                par60=book.par(60),
                par90=book.par(90),
                npa_ratio=book.npa_ratio,
                disbursed=book.disbursed,
                collected=book.collected,
                due_in_period=book.due_in_period,
                paid_of_due=book.paid_of_due,
                collections_efficiency=book.collections_efficiency,
                lines=[
                    PortfolioLineOut(
                        product_code=line.product_code,
                        bucket=line.bucket,
                        loans=line.loans,
                        outstanding=_outstanding(line.outstanding),
                    )
                    for _, line in sorted(book.lines.items())
                ],
            )
            for book in report.currencies
        ],
    )


@router.get(
    "/loan-tape",
    response_class=Response,
    responses={
        **_PROBLEMS,
        200: {
            "description": "One row per loan disbursed by `as_of`; columns in "
            "docs/REPORTING.md. A header row first.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        422: {"description": "Bad date (problem+json)"},
    },
)
async def get_loan_tape(
    uow: UowDep,
    clock: ClockDep,
    _caller: Analyst,
    as_of: AsOf = None,
    recorded_by: RecordedBy = None,
) -> Response:
    """The loan tape as CSV: terms, balances from the ledger and delinquency, as of a date."""
    on = as_of or clock.today()
    rows = await loan_tape(uow, as_of=on, recorded_by=recorded_by)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOAN_TAPE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return Response(
        content=buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="loan-tape-{on}.csv"'},
    )
