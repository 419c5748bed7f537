"""Write-off behind maker-checker, recoveries, and closure of settled loans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Response

from lms.api.schemas import (
    DecisionIn,
    LoanClosedOut,
    RecoveryOut,
    RepaymentIn,
    ServicingRequestOut,
    WriteOffIn,
)
from lms.service.requests import RequestView
from lms.service.writeoff import (
    RecoveryView,
    close_loan,
    decide_request,
    get_request,
    list_requests,
    record_recovery,
    request_write_off,
)
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

Maker = Annotated[Principal, Depends(require_roles("servicing_agent", "collections_agent"))]
Checker = Annotated[Principal, Depends(require_roles("credit_manager"))]
Cashier = Annotated[Principal, Depends(require_roles("servicing_agent", "finance"))]
Viewer = Annotated[
    Principal,
    Depends(
        require_roles(
            "servicing_agent", "collections_agent", "credit_manager", "finance", "auditor"
        )
    ),
]

loans_router = api_router(prefix="/v1/loans", tags=["write-off"])
requests_router = api_router(prefix="/v1/servicing-requests", tags=["write-off"])

_COMMON: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed, or four_eyes_violation (problem+json)"},
    404: {"description": "loan_not_found or request_not_found (problem+json)"},
    422: {"description": "validation_error (problem+json)"},
}


def request_out(view: RequestView) -> ServicingRequestOut:
    return ServicingRequestOut(
        id=view.id,
        loan_id=view.loan_id,
        kind=view.kind,
        status=view.status,
        reason=view.reason,
        requested_by=view.requested_by,
        requested_at=view.requested_at,
        decided_by=view.decided_by,
        decided_at=view.decided_at,
        decision_comment=view.decision_comment,
        outcome=view.outcome,
    )


def _recovery_out(view: RecoveryView) -> RecoveryOut:
    return RecoveryOut(
        id=view.id,
        loan_id=view.loan_id,
        external_ref=view.external_ref,
        amount=view.amount,
        currency=view.currency,
        value_date=view.value_date,
        received_at=view.received_at,
    )


@loans_router.post(
    "/{loan_id}/write-off",
    response_model=ServicingRequestOut,
    status_code=201,
    responses={**_COMMON, 409: {"description": "loan_closed or request_pending"}},
)
async def post_write_off(
    loan_id: str, body: WriteOffIn, uow: UowDep, clock: ClockDep, caller: Maker
) -> ServicingRequestOut:
    """Request a write-off; a credit_manager other than the requester approves or rejects it."""
    view = await request_write_off(
        uow, loan_id, reason=body.reason, requested_by=caller.sub, now=clock.now()
    )
    return request_out(view)


@loans_router.post(
    "/{loan_id}/recoveries",
    response_model=RecoveryOut,
    status_code=201,
    responses={
        **_COMMON,
        200: {"description": "Same external_ref and amount again"},
        409: {"description": "loan_not_written_off or external_ref_conflict"},
        422: {"description": "currency_mismatch, invalid_amount, invalid_value_date"},
    },
)
async def post_recovery(
    loan_id: str,
    body: RepaymentIn,
    response: Response,
    uow: UowDep,
    clock: ClockDep,
    caller: Cashier,
) -> RecoveryOut:
    """Money received on a written-off loan: recovery income, idempotent on external_ref."""
    view, created = await record_recovery(
        uow,
        loan_id,
        amount=body.amount,
        currency=body.currency,
        value_date=body.value_date,
        external_ref=body.external_ref,
        received_by=caller.sub,
        now=clock.now(),
        today=clock.today(),
    )
    if not created:
        response.status_code = 200
    return _recovery_out(view)


@loans_router.post(
    "/{loan_id}/close",
    response_model=LoanClosedOut,
    responses={**_COMMON, 409: {"description": "loan_not_settled"}},
)
async def post_close(loan_id: str, uow: UowDep, clock: ClockDep, _caller: Cashier) -> LoanClosedOut:
    """Close a paid-off loan whose ledger shows nothing owed either way."""
    loan = await close_loan(uow, loan_id, now=clock.now(), today=clock.today())
    assert loan.closed_on is not None
    return LoanClosedOut(loan_id=loan.id, status=loan.status, closed_on=loan.closed_on)


@requests_router.get("", response_model=list[ServicingRequestOut], responses=_COMMON)
async def get_requests(
    uow: UowDep,
    _caller: Viewer,
    status: str | None = None,
    loan_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ServicingRequestOut]:
    """Servicing requests, oldest first: `status=pending` is the checkers' queue."""
    views = await list_requests(uow, status=status, loan_id=loan_id, limit=limit, offset=offset)
    return [request_out(v) for v in views]


@requests_router.get("/{request_id}", response_model=ServicingRequestOut, responses=_COMMON)
async def get_one_request(request_id: str, uow: UowDep, _caller: Viewer) -> ServicingRequestOut:
    """One servicing request."""
    return request_out(await get_request(uow, request_id))


async def _decide(
    request_id: str, body: DecisionIn, uow: Any, clock: Any, caller: Principal, approve: bool
) -> ServicingRequestOut:
    view = await decide_request(
        uow,
        request_id,
        approve=approve,
        comment=body.comment,
        decided_by=caller.sub,
        now=clock.now(),
        today=clock.today(),
    )
    return request_out(view)


@requests_router.post(
    "/{request_id}/approve",
    response_model=ServicingRequestOut,
    responses={
        **_COMMON,
        409: {
            "description": "request_decided, loan_closed, nothing_to_write_off, credit_balance_held"
        },
    },
)
async def approve(
    request_id: str, body: DecisionIn, uow: UowDep, clock: ClockDep, caller: Checker
) -> ServicingRequestOut:
    """Approve and apply: one balanced entry takes what the loan owes off the books."""
    return await _decide(request_id, body, uow, clock, caller, approve=True)


@requests_router.post(
    "/{request_id}/reject",
    response_model=ServicingRequestOut,
    responses={**_COMMON, 409: {"description": "request_decided"}},
)
async def reject(
    request_id: str, body: DecisionIn, uow: UowDep, clock: ClockDep, caller: Checker
) -> ServicingRequestOut:
    """Reject: nothing changes on the loan."""
    return await _decide(request_id, body, uow, clock, caller, approve=False)
