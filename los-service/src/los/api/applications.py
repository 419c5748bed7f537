"""The application journey over REST: intake, submit, review, offer, accept, withdraw, disburse."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, status

from los.adapters.orm import OfferRow
from los.adapters.repository import ApplicationFilter
from los.api.deps import (
    AnyRole,
    ApplicantAgent,
    CatalogDep,
    DecisionReader,
    Disburser,
    LosSettingsDep,
    ProvidersDep,
    Reviewer,
)
from los.api.schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    AssignIn,
    CheckList,
    CheckOut,
    DecisionDetailOut,
    DecisionOut,
    FeeOut,
    HandoffOut,
    OfferOut,
    OfferSummary,
    ReasonOut,
    ReplayOut,
    ReviewIn,
    ReviewOut,
    RuleOut,
    ScheduleLineOut,
    WithdrawIn,
)
from los.domain.applications import ApplicationStatus
from los.domain.errors import DecisionNotFoundError
from los.domain.offers import Offer
from los.service.applications import (
    ApplicationView,
    NewApplication,
    ReviewInput,
    accept_offer,
    assign_application,
    create_application,
    disburse_application,
    get_application,
    get_offer,
    list_applications,
    list_checks,
    pending_stage,
    replay_decision,
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
        aprc=row.aprc,
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
        aprc=offer.aprc,
        aprc_percent=None if offer.aprc is None else (offer.aprc * 100).quantize(Decimal("0.1")),
        requested_amount=offer.requested_amount,
        cash_to_borrower=offer.requested_amount - offer.deducted_fees,
        product_code=offer.product_code,
        product_version=offer.product_version,
        grade=offer.grade,
        total_interest=offer.total_interest,
        fees=[FeeOut(code=f.code, amount=f.amount, treatment=f.treatment) for f in offer.fees],
        amount_financed=offer.amount_financed,
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
            pd=d.pd,
        ),
        reviews=[
            ReviewOut(
                reviewer=r.reviewer,
                outcome=r.outcome,
                comment=r.comment,
                reviewed_at=r.reviewed_at,
                stage=r.stage,
                counter_amount=r.counter_amount,
                counter_term=r.counter_term,
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
        approved_amount=a.approved_amount,
        approved_term=a.approved_term,
        assignee=a.assignee,
        refinances_loan_id=a.refinances_loan_id,
        pending_stage=view.pending_stage,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Take in an application",
    responses={
        404: {"description": "applicant_not_found or refinanced_loan_not_found"},
        409: {"description": "loan_already_refinanced"},
    },
)
async def post_application(
    body: ApplicationIn,
    principal: ApplicantAgent,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
) -> ApplicationOut:
    """A draft application within the product's currency, amount and term limits.

    A renewal or top-up names the applicant's existing loan in `refinances_loan_id`
    (422 `invalid_refinance` for another applicant's loan or another currency)."""
    data = NewApplication(**body.model_dump())
    row = await create_application(uow, catalog, data, actor=principal.sub, clock=clock)
    # A new application has no decision, review or offer yet: nothing to read back.
    return application_out(ApplicationView(row, decision=None, reviews=[], offer=None))


@router.get("", summary="List applications")
async def get_applications(
    _: AnyRole,
    uow: UowDep,
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    status_: Annotated[ApplicationStatus | None, Query(alias="status")] = None,
    product_code: str | None = None,
    applicant_id: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    assignee: str | None = None,
) -> ApplicationPage:
    """Newest first, filtered by status, product, applicant, creation time and assignee."""
    filters = ApplicationFilter(
        status=status_.value if status_ else None,
        product_code=product_code,
        applicant_id=applicant_id,
        created_from=created_from,
        created_to=created_to,
        assignee=assignee,
    )
    rows, total = await list_applications(uow, filters, limit=limit, offset=offset)
    items = [application_out(await get_application(uow, r.id, catalog)) for r in rows]
    return ApplicationPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{application_id}", summary="One application", responses=_NOT_FOUND)
async def read_application(
    application_id: str, _: AnyRole, uow: UowDep, catalog: CatalogDep
) -> ApplicationOut:
    """The application with its decision, offer summary, loan id and handoff state."""
    return application_out(await get_application(uow, application_id, catalog))


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
    providers: ProvidersDep,
) -> ApplicationOut:
    """KYC, screening, bureau, scorecard and policy: approved (with an offer), referred or
    declined. A provider that times out or answers garbage is stored as a failed check and
    the application is referred."""
    view = await submit_application(
        uow,
        catalog,
        application_id,
        actor=principal.sub,
        clock=clock,
        offer_validity=timedelta(days=settings.offer_validity_days),
        providers=providers,
    )
    # The application, decision and offer as this request committed them (no reviews yet):
    # nothing to read back.
    stage = pending_stage(catalog, view.application, view.reviews)
    return application_out(replace(view, pending_stage=stage))


@router.post(
    "/{application_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    summary="Review a referred application",
    responses=_NOT_FOUND
    | _CONFLICT
    | {403: {"description": "four_eyes_violation or review_stage_forbidden"}},
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
    """Approve, counter-offer or decline; staged by role, four eyes, one decision each."""
    view = await review_application(
        uow,
        catalog,
        application_id,
        review=ReviewInput(body.outcome, body.comment, body.amount, body.term),
        reviewer=principal.sub,
        roles=principal.roles,
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
    application_id: str,
    principal: ApplicantAgent,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
) -> ApplicationOut:
    """The borrower accepts before expiry (409 offer_expired after; 409
    documents_incomplete while a required document is missing or unverified)."""
    return application_out(
        await accept_offer(uow, catalog, application_id, actor=principal.sub, clock=clock)
    )


@router.post("/{application_id}/withdraw", summary="Withdraw", responses=_NOT_FOUND | _CONFLICT)
async def post_withdraw(
    application_id: str,
    principal: ApplicantAgent,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
    body: WithdrawIn | None = None,
) -> ApplicationOut:
    """The applicant withdraws a draft, referred or approved application."""
    await withdraw_application(
        uow,
        application_id,
        actor=principal.sub,
        clock=clock,
        reason=None if body is None else body.reason,
    )
    return application_out(await get_application(uow, application_id, catalog))


@router.post(
    "/{application_id}/assign", summary="Assign for review", responses=_NOT_FOUND | _CONFLICT
)
async def post_assign(
    application_id: str,
    body: AssignIn,
    principal: Reviewer,
    uow: UowDep,
    clock: ClockDep,
    catalog: CatalogDep,
) -> ApplicationOut:
    """Put a referred application in a reviewer's queue (null: back to the shared queue)."""
    await assign_application(
        uow, application_id, assignee=body.assignee, actor=principal.sub, clock=clock
    )
    return application_out(await get_application(uow, application_id, catalog))


@router.get("/{application_id}/decision", summary="The decision explained", responses=_NOT_FOUND)
async def read_decision(application_id: str, _: DecisionReader, uow: UowDep) -> DecisionDetailOut:
    """Every rule evaluated, the inputs, the derived figures and the fingerprint."""
    view = await get_application(uow, application_id)
    d = view.decision
    if d is None:
        raise DecisionNotFoundError(f"Application {application_id} has no decision yet.")
    return DecisionDetailOut(
        outcome=d.outcome,
        score=d.score,
        grade=d.grade,
        reasons=[ReasonOut(**r) for r in d.reasons],
        rule_set_version=d.rule_set_version,
        decided_at=d.decided_at,
        pd=d.pd,
        scorecard_version=d.scorecard_version,
        rules=[RuleOut(**r) for r in d.rules or []],
        inputs=d.inputs,
        figures=d.figures,
        fingerprint=d.fingerprint,
    )


@router.post(
    "/{application_id}/decision/replay",
    summary="Re-run the decision on its stored inputs",
    responses=_NOT_FOUND,
)
async def post_replay(
    application_id: str, _: DecisionReader, uow: UowDep, catalog: CatalogDep
) -> ReplayOut:
    """Proves reproducibility: the same inputs and rule set give the same fingerprint."""
    replay = await replay_decision(uow, catalog, application_id)
    return ReplayOut(
        identical=replay.identical,
        stored_outcome=replay.stored_outcome,
        replayed_outcome=replay.replayed_outcome,
        stored_fingerprint=replay.stored_fingerprint,
        replayed_fingerprint=replay.replayed_fingerprint,
        reasons=replay.reasons,
    )


@router.get("/{application_id}/checks", summary="KYC, screening and bureau checks")
async def read_checks(application_id: str, _: DecisionReader, uow: UowDep) -> CheckList:
    """The stored check records, including failed provider calls."""
    rows = await list_checks(uow, application_id)
    return CheckList(
        items=[
            CheckOut(
                id=r.id,
                kind=r.kind,
                provider=r.provider,
                status=r.status,
                reference=r.reference,
                reasons=list(r.reasons),
                details=dict(r.details),
                raw=r.raw,
                error=r.error,
                attempts=r.attempts,
                requested_at=r.requested_at,
                requested_by=r.requested_by,
            )
            for r in rows
        ]
    )


@router.post("/{application_id}/disburse", summary="Disburse", responses=_NOT_FOUND | _CONFLICT)
async def post_disburse(
    application_id: str, principal: Disburser, uow: UowDep, clock: ClockDep, catalog: CatalogDep
) -> ApplicationOut:
    """Pay out an accepted offer; LoanDisbursed leaves through the outbox."""
    return application_out(
        await disburse_application(uow, catalog, application_id, actor=principal.sub, clock=clock)
    )
