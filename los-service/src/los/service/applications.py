"""Application use cases: intake, decision, review, offer acceptance, withdrawal, disbursement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from los.adapters.orm import ApplicationRow, DecisionRow, OfferRow, ReviewRow
from los.adapters.repository import (
    ApplicantRepository,
    ApplicationFilter,
    ApplicationRepository,
    offer_from_row,
    offer_to_row,
)
from los.domain.applicants import EmploymentStatus
from los.domain.applications import ApplicationStatus, transition
from los.domain.decision import DecisionInputs, Outcome, decide
from los.domain.errors import (
    ApplicantNotFoundError,
    ApplicationNotFoundError,
    FourEyesViolationError,
    OfferExpiredError,
    OfferNotFoundError,
)
from los.domain.handoff import Disbursement, loan_disbursed_event
from los.domain.offers import Offer, build_offer
from los.domain.products import Catalog, Product
from los.service.common import commit, flush
from servicekit.clock import Clock
from servicekit.db import UnitOfWork
from servicekit.outbox import stage_event

EVENT_SOURCE = "/los"


@dataclass(frozen=True, slots=True)
class NewApplication:
    """What intake asks for."""

    applicant_id: str
    product_code: str
    requested_amount: Decimal
    currency: str
    term: int
    purpose: str
    monthly_income: Decimal
    monthly_obligations: Decimal


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """An application with its decision, reviews and offer, as callers see it."""

    application: ApplicationRow
    decision: DecisionRow | None
    reviews: Sequence[ReviewRow]
    offer: OfferRow | None


async def create_application(
    uow: UnitOfWork, catalog: Catalog, data: NewApplication, *, actor: str, clock: Clock
) -> ApplicationRow:
    """Take in a draft application within the product's limits."""
    if await ApplicantRepository(uow.session).get(data.applicant_id) is None:
        raise ApplicantNotFoundError(f"No applicant with id {data.applicant_id}.")
    product = catalog.get(data.product_code)
    product.check_request(data.requested_amount, data.currency, data.term)
    now = clock.now()
    row = ApplicationRow(
        id=str(uuid.uuid4()),
        applicant_id=data.applicant_id,
        product_code=product.code,
        product_version=product.version,
        requested_amount=data.requested_amount,
        currency=data.currency,
        term=data.term,
        purpose=data.purpose,
        monthly_income=data.monthly_income,
        monthly_obligations=data.monthly_obligations,
        status=ApplicationStatus.DRAFT.value,
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    ApplicationRepository(uow.session).add(row)
    await commit(uow)
    return row


async def get_application(uow: UnitOfWork, application_id: str) -> ApplicationView:
    """The application with everything hanging off it."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    return ApplicationView(
        application=row,
        decision=await repo.get_decision(application_id),
        reviews=await repo.list_reviews(application_id),
        offer=await repo.get_offer(application_id),
    )


async def list_applications(
    uow: UnitOfWork, filters: ApplicationFilter, *, limit: int, offset: int
) -> tuple[Sequence[ApplicationRow], int]:
    """A filtered page of applications and the total."""
    return await ApplicationRepository(uow.session).list(filters, limit, offset)


async def get_offer(uow: UnitOfWork, application_id: str) -> Offer:
    """The stored offer, or OfferNotFoundError."""
    repo = ApplicationRepository(uow.session)
    await _load(repo, application_id)
    row = await repo.get_offer(application_id)
    if row is None:
        raise OfferNotFoundError(f"Application {application_id} has no offer.")
    return offer_from_row(row)


async def submit_application(
    uow: UnitOfWork,
    catalog: Catalog,
    application_id: str,
    *,
    actor: str,
    clock: Clock,
    offer_validity: timedelta,
) -> ApplicationView:
    """Decide a draft: approve (with an offer), refer to an underwriter, or decline."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    transition(row.status, ApplicationStatus.SUBMITTED)
    applicant = await ApplicantRepository(uow.session).get(row.applicant_id)
    if applicant is None:  # pragma: no cover - the foreign key forbids it
        raise ApplicantNotFoundError(f"No applicant with id {row.applicant_id}.")
    product = catalog.get(row.product_code)
    now = clock.now()
    inputs = DecisionInputs(
        requested_amount=row.requested_amount,
        term=row.term,
        monthly_income=row.monthly_income,
        monthly_obligations=row.monthly_obligations,
        employment_status=EmploymentStatus(applicant.employment_status),
    )
    decision = decide(product, inputs, now.date())
    target = {
        Outcome.APPROVE: ApplicationStatus.APPROVED,
        Outcome.REFER: ApplicationStatus.REFERRED,
        Outcome.DECLINE: ApplicationStatus.DECLINED,
    }[decision.outcome]
    row.status = transition(ApplicationStatus.SUBMITTED, target).value
    row.submitted_by = actor
    row.submitted_at = now
    row.updated_at = now
    decision_row = DecisionRow(
        application_id=row.id,
        outcome=decision.outcome.value,
        score=decision.score,
        grade=decision.grade,
        annual_rate=decision.annual_rate,
        reasons=[{"code": r.code, "description": r.description} for r in decision.reasons],
        rule_set_version=decision.rule_set_version,
        inputs=decision.inputs_record(inputs),
        decided_at=now,
    )
    repo.add(decision_row)
    offer_row = None
    if target is ApplicationStatus.APPROVED:
        offer_row = _make_offer(
            repo, row, product, decision.grade, now_clock=clock, validity=offer_validity
        )
    await commit(uow)
    return ApplicationView(row, decision_row, [], offer_row)


async def review_application(
    uow: UnitOfWork,
    catalog: Catalog,
    application_id: str,
    *,
    outcome: str,
    comment: str,
    reviewer: str,
    clock: Clock,
    offer_validity: timedelta,
) -> ApplicationView:
    """An underwriter's decision on a referred application; never by its submitter."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    target = ApplicationStatus.APPROVED if outcome == "approve" else ApplicationStatus.DECLINED
    transition(row.status, target)
    if row.submitted_by == reviewer:
        raise FourEyesViolationError("The person who submitted an application cannot review it.")
    decision = await repo.get_decision(application_id)
    now = clock.now()
    repo.add(
        ReviewRow(
            application_id=row.id,
            reviewer=reviewer,
            outcome=outcome,
            comment=comment,
            reviewed_at=now,
        )
    )
    row.status = target.value
    row.updated_at = now
    if target is ApplicationStatus.APPROVED:
        grade = decision.grade if decision is not None else "E"
        product = catalog.get(row.product_code)
        _make_offer(repo, row, product, grade, now_clock=clock, validity=offer_validity)
    await commit(uow)
    return await get_application(uow, application_id)


def _make_offer(
    repo: ApplicationRepository,
    row: ApplicationRow,
    product: Product,
    grade: str,
    *,
    now_clock: Clock,
    validity: timedelta,
) -> OfferRow:
    offer = build_offer(
        product,
        principal=row.requested_amount,
        grade=grade,
        term=row.term,
        now=now_clock.now(),
        validity=validity,
    )
    offer_row = offer_to_row(row.id, offer)
    repo.add(offer_row)
    return offer_row


async def accept_offer(
    uow: UnitOfWork, application_id: str, *, actor: str, clock: Clock
) -> ApplicationRow:
    """The borrower accepts before expiry; a late acceptance expires the application."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    transition(row.status, ApplicationStatus.ACCEPTED)
    offer_row = await repo.get_offer(application_id)
    if offer_row is None:  # pragma: no cover - approval always stores an offer
        raise OfferNotFoundError(f"Application {application_id} has no offer.")
    now = clock.now()
    if offer_from_row(offer_row).is_expired(now):
        row.status = transition(row.status, ApplicationStatus.EXPIRED).value
        row.updated_at = now
        await commit(uow)
        raise OfferExpiredError(
            f"The offer expired at {offer_row.expires_at.isoformat()}; the application is expired."
        )
    row.status = ApplicationStatus.ACCEPTED.value
    row.updated_at = now
    offer_row.accepted_at = now
    offer_row.accepted_by = actor
    await commit(uow)
    return row


async def withdraw_application(
    uow: UnitOfWork, application_id: str, *, clock: Clock
) -> ApplicationRow:
    """The applicant steps back before acceptance."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    row.status = transition(row.status, ApplicationStatus.WITHDRAWN).value
    row.updated_at = clock.now()
    await commit(uow)
    return row


async def disburse_application(
    uow: UnitOfWork,
    catalog: Catalog,
    application_id: str,
    *,
    actor: str,
    clock: Clock,
    loan_id: str | None = None,
) -> ApplicationRow:
    """Pay out an accepted offer and stage LoanDisbursed in the same transaction."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    target = transition(row.status, ApplicationStatus.DISBURSED)
    offer_row = await repo.get_offer(application_id)
    if offer_row is None:  # pragma: no cover - acceptance needs an offer
        raise OfferNotFoundError(f"Application {application_id} has no offer.")
    applicant = await ApplicantRepository(uow.session).get(row.applicant_id)
    if applicant is None:  # pragma: no cover - the foreign key forbids it
        raise ApplicantNotFoundError(f"No applicant with id {row.applicant_id}.")
    now = clock.now()
    disbursement = Disbursement(
        loan_id=loan_id or str(uuid.uuid4()),
        application_id=row.id,
        party_ref=applicant.party_ref,
        disbursement_date=clock.today(),
        disbursed_at=now,
    )
    event = loan_disbursed_event(
        catalog.get(row.product_code), offer_from_row(offer_row), disbursement
    )
    row.status = target.value
    row.loan_id = disbursement.loan_id
    row.disbursed_at = now
    row.disbursed_by = actor
    row.disbursement_date = disbursement.disbursement_date
    row.updated_at = now
    await flush(uow)
    await stage_event(
        uow.session, event, source=EVENT_SOURCE, subject=disbursement.loan_id, now=now
    )
    await commit(uow)
    return row


async def _load(repo: ApplicationRepository, application_id: str) -> ApplicationRow:
    row = await repo.get(application_id)
    if row is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    return row
