"""The application journey over REST: intake, submit, review, offer, accept, withdraw, disburse."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, status

from los.adapters.orm import OfferRow
from los.adapters.repository import ApplicationFilter
from los.api.deps import AnyRole, ApplicantAgent, CatalogDep, Disburser, LosSettingsDep, Reviewer
from los.api.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    DecisionOut,
    FeeOut,
    HandoffOut,
    OfferOut,
    OfferSummary,
    ReasonOut,
    ReviewIn,
    ReviewOut,
    ScheduleLineOut,
)
from los.domain.applications import ApplicationStatus
from los.domain.offers import Offer
from los.service.applications import (
    ApplicationView,
    NewApplication,
    accept_offer,
    create_application,
    disburse_application,
    get_application,
    get_offer,
    list_applications,
    review_application,
    submit_application,
    withdraw_application,
)
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/applications", tags=["applications"])

_Responses = dict[int | str, dict[str, Any]]
_CONFLICT: _Responses = {
    409: {"description": "illegal_transition, concurrent_update or offer conflicts"}
}
_NOT_FOUND: _Responses = {404: {"description": "application_not_found"}}


def offer_summary(row: OfferRow) -> OfferSummary:
    """Headline figures of a stored offer."""
    return OfferSummary(
        principal=row.principal,
        currency=row.currency,
        annual_rate=row.annual_rate,
        term=row.term,
        installment_amount=row.installment_amount,
        total_repayable=row.total_repayable,
        apr=row.apr,
        first_due_date=row.first_due_date,
        expires_at=row.expires_at,
        accepted_at=row.accepted_at,
    )


def offer_out(offer: Offer, accepted_at: datetime | None = None) -> OfferOut:
    """The full offer."""
    return OfferOut(
        principal=offer.principal,
        currency=offer.currency,
        annual_rate=offer.annual_rate,
        term=offer.term,
        installment_amount=offer.installment_amount,
        total_repayable=offer.total_repayable,
        apr=offer.apr,
        first_due_date=offer.first_due_date,
        expires_at=offer.expires_at,
        accepted_at=accepted_at,
        grade=offer.grade,
        total_interest=offer.total_interest,
        fees=[FeeOut(code=f.code, amount=f.amount, treatment=f.treatment) for f in offer.fees],
        amount_financed=offer.principal - offer.deducted_fees,
        net_disbursed=offer.net_disbursed,
        apr_percent=(offer.apr * 100).quantize(Decimal("0.01")),
        offer_date=offer.offer_date,
        last_due_date=offer.last_due_date,
        schedule=[
            ScheduleLineOut(
                number=s.number,
                due_date=s.due_date,
                principal=s.principal,
                interest=s.interest,
                total=s.total,
            )
            for s in offer.schedule
        ],
    )


def application_out(view: ApplicationView) -> ApplicationOut:
    """The API view of an application."""
    a = view.application
    d = view.decision
    return ApplicationOut(
        id=a.id,
        applicant_id=a.applicant_id,
        product_code=a.product_code,
        product_version=a.product_version,
        requested_amount=a.requested_amount,
        currency=a.currency,
        term=a.term,
        purpose=a.purpose,
        monthly_income=a.monthly_income,
        monthly_obligations=a.monthly_obligations,
        status=a.status,
        decision=None
        if d is None
        else DecisionOut(
            outcome=d.outcome,
            score=d.score,
            grade=d.grade,
            reasons=[ReasonOut(**r) for r in d.reasons],
            rule_set_version=d.rule_set_version,
            decided_at=d.decided_at,
        ),
        reviews=[
            ReviewOut(
                reviewer=r.reviewer, outcome=r.outcome, comment=r.comment, reviewed_at=r.reviewed_at
            )
            for r in view.reviews
        ],
        offer=None if view.offer is None else offer_summary(view.offer),
        loan_id=a.loan_id,
        handoff=HandoffOut(
            disbursed_at=a.disbursed_at,
            booked_at=a.booked_at,
            schedule_matches_offer=a.schedule_matches_offer,
            mismatches=list(a.mismatches or []),
        ),
        version=a.version,
        created_at=a.created_at,
        updated_at=a.updated_at,
        submitted_at=a.submitted_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Take in an application",
    responses={404: {"description": "applicant_not_found"}},
)
async def post_application(
    body: ApplicationIn,
    principal: ApplicantAgent,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
) -> ApplicationOut:
    """A draft application within the product's currency, amount and term limits."""
    data = NewApplication(**body.model_dump())
    row = await create_application(uow, catalog, data, actor=principal.sub, clock=clock)
    return application_out(await get_application(uow, row.id))


@router.get("", summary="List applications")
async def get_applications(
    _: AnyRole,
    uow: UowDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    product_code: str | None = None,
    applicant_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> ApplicationPage:
    """Newest first, filtered by status, product, applicant and creation time."""
    filters = ApplicationFilter(
        status=status_.value if status_ else None,
        product_code=product_code,
        applicant_id=applicant_id,
        created_from=created_from,
        created_to=created_to,
    )
    rows, total = await list_applications(uow, filters, limit=limit, offset=offset)
    items = [application_out(await get_application(uow, r.id)) for r in rows]
    return ApplicationPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{application_id}", summary="One application", responses=_NOT_FOUND)
async def read_application(application_id: str, _: AnyRole, uow: UowDep) -> ApplicationOut:
    """The application with its decision, offer summary, loan id and handoff state."""
    return application_out(await get_application(uow, application_id))


@router.post(
    "/{application_id}/submit", summary="Submit for decision", responses=_NOT_FOUND | _CONFLICT
)
async def post_submit(
    application_id: str,
    principal: ApplicantAgent,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
    settings: LosSettingsDep,
) -> ApplicationOut:
    """Run affordability and scoring: approved (with an offer), referred or declined."""
    view = await submit_application(
        uow,
        catalog,
        application_id,
        actor=principal.sub,
        clock=clock,
        offer_validity=timedelta(days=settings.offer_validity_days),
    )
    return application_out(view)


@router.post(
    "/{application_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    summary="Review a referred application",
    responses=_NOT_FOUND | _CONFLICT | {403: {"description": "four_eyes_violation"}},
)
async def post_review(
    application_id: str,
    body: ReviewIn,
    principal: Reviewer,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
    settings: LosSettingsDep,
) -> ApplicationOut:
    """Approve (creating the offer) or decline; the submitter may not review."""
    view = await review_application(
        uow,
        catalog,
        application_id,
        outcome=body.outcome,
        comment=body.comment,
        reviewer=principal.sub,
        clock=clock,
        offer_validity=timedelta(days=settings.offer_validity_days),
    )
    return application_out(view)


@router.get(
    "/{application_id}/offer",
    summary="The offer",
    responses={404: {"description": "application_not_found or offer_not_found"}},
)
async def read_offer(application_id: str, _: AnyRole, uow: UowDep) -> OfferOut:
    """Principal, rate, installment, totals, fees, APR, dates and the schedule preview."""
    view = await get_application(uow, application_id)
    offer = await get_offer(uow, application_id)
    return offer_out(offer, view.offer.accepted_at if view.offer else None)


@router.post(
    "/{application_id}/offer/accept", summary="Accept the offer", responses=_NOT_FOUND | _CONFLICT
)
async def post_accept(
    application_id: str, principal: ApplicantAgent, uow: UowDep, clock: ClockDep
) -> ApplicationOut:
    """The borrower accepts before expiry (409 offer_expired after)."""
    await accept_offer(uow, application_id, actor=principal.sub, clock=clock)
    return application_out(await get_application(uow, application_id))


@router.post("/{application_id}/withdraw", summary="Withdraw", responses=_NOT_FOUND | _CONFLICT)
async def post_withdraw(
    application_id: str, _: ApplicantAgent, uow: UowDep, clock: ClockDep
) -> ApplicationOut:
    """Withdraw a draft, referred or approved application."""
    await withdraw_application(uow, application_id, clock=clock)
    return application_out(await get_application(uow, application_id))


@router.post("/{application_id}/disburse", summary="Disburse", responses=_NOT_FOUND | _CONFLICT)
async def post_disburse(
    application_id: str, principal: Disburser, uow: UowDep, clock: ClockDep, catalog: CatalogDep
) -> ApplicationOut:
    """Pay out an accepted offer; LoanDisbursed leaves through the outbox."""
    await disburse_application(uow, catalog, application_id, actor=principal.sub, clock=clock)
    return application_out(await get_application(uow, application_id))
