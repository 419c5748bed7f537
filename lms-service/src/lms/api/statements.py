"""Bank statement reconciliation: import a CSV statement and get the match report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response

from lms.domain.errors import StatementRejectedError
from lms.service.statements import import_statement
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.errors import ProblemError
from servicekit.routing import api_router

Finance = Annotated[Principal, Depends(require_roles("finance"))]

router = api_router(prefix="/v1/reconciliation", tags=["reconciliation"])


@router.post(
    "/statements",
    status_code=201,
    responses={
        200: {"description": "The same file was imported before: its first report"},
        422: {"description": "statement_rejected: bad rows listed in `errors`, nothing imported"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def post_statement(
    request: Request, response: Response, uow: UowDep, clock: ClockDep, caller: Finance
) -> dict[str, Any]:
    """Import a bank statement sent as the request body (`Content-Type: text/csv`, UTF-8).

    Columns (header row required, any order, extra columns ignored):
    `statement_line_id` (unique per bank line), `value_date` (YYYY-MM-DD), `amount`
    (decimal, positive for money in, negative for money out, at the currency's minor
    unit), `currency` (ISO 4217), `reference` (the payment's external_ref),
    `counterparty` (kept with the line, never reported or published).

    Each line is matched to a posted payment by reference, then amount and value date
    (within 3 days): `matched`; same reference and another amount: `amount_difference`
    (reported with the difference, nothing posted); a credit matching nothing:
    `unmatched`, posted to suspense (debit cash_clearing, credit suspense); a debit
    matching nothing: `unmatched_debit`, only reported; a line id imported before:
    `already_imported`. Any bad row rejects the whole file (422, every bad row listed),
    so nothing is posted from a bad file. The same file again returns the first report
    (200) and changes nothing.
    """
    content = await request.body()
    try:
        report, created = await import_statement(
            uow, content, imported_by=caller.sub, now=clock.now()
        )
    except StatementRejectedError as exc:
        raise ProblemError(422, exc.code, str(exc), errors=exc.errors) from exc
    if not created:
        response.status_code = 200
    return report
