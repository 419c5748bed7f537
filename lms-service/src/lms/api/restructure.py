"""Restructuring requests: a servicing agent asks, a credit manager approves it through
`/v1/servicing-requests/{id}/approve` like every maker-checker request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from lms.api.schemas import RestructureIn, ServicingRequestOut
from lms.api.writeoff import request_out
from lms.domain.restructure import RestructureKind, RestructureTerms
from lms.service.restructure import request_restructure
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

Maker = Annotated[Principal, Depends(require_roles("servicing_agent"))]

router = api_router(prefix="/v1/loans", tags=["restructuring"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
    404: {"description": "loan_not_found (problem+json)"},
    409: {"description": "loan_closed, request_pending or restructure_blocked"},
    422: {"description": "validation_error or invalid_restructure (problem+json)"},
}


@router.post(
    "/{loan_id}/restructure",
    response_model=ServicingRequestOut,
    status_code=201,
    responses=_RESPONSES,
)
async def post_restructure(
    loan_id: str, body: RestructureIn, uow: UowDep, clock: ClockDep, caller: Maker
) -> ServicingRequestOut:
    """Request a reschedule, payment holiday or re-aging. The terms are checked and the new
    schedule previewed in `outcome`; a credit_manager other than the requester approves it,
    and the restructure then takes effect on that business date as a new schedule version."""
    terms = RestructureTerms(
        kind=RestructureKind(body.kind),
        extend_by=body.extend_by,
        annual_rate=body.annual_rate,
        installment_amount=body.installment_amount,
        holiday_periods=body.holiday_periods,
        capitalise_interest=body.capitalise_interest,
    )
    view = await request_restructure(
        uow,
        loan_id,
        terms=terms,
        reason=body.reason,
        requested_by=caller.sub,
        now=clock.now(),
        today=clock.today(),
    )
    return request_out(view)
