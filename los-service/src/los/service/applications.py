"""Application use cases: intake, decision, review, offer acceptance, withdrawal, disbursement.

Each use case changes state, appends to the application's audit chain and stages its
events in one transaction, so nothing is ever half-done.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas.v1 import ApplicationDecidedV1, ApplicationSubmittedV1, DecisionReasonV1
from loanmath import due_dates
from los.adapters.orm import (
    ApplicantRow,
    ApplicationRow,
    AuditRow,
    CheckRow,
    DecisionRow,
    DocumentRow,
    OfferRow,
    ReviewRow,
)
from los.adapters.providers import Providers
from los.adapters.repository import (
    ApplicantRepository,
    ApplicationFilter,
    ApplicationRepository,
    ForChange,
    offer_from_row,
    offer_to_row,
)
from los.domain.applicants import EmploymentStatus, age_on, normalise_national_id
from los.domain.applications import ApplicationStatus, transition
from los.domain.checks import CheckKind, CheckResult, CheckStatus, IdentityQuery
from los.domain.decision import DecisionInputs, Outcome
from los.domain.documents import missing_documents
from los.domain.errors import (
    AlreadyReviewedError,
    ApplicantNotFoundError,
    ApplicationNotFoundError,
    DecisionNotFoundError,
    DocumentsIncompleteError,
    FourEyesViolationError,
    IllegalTransitionError,
    OfferExpiredError,
    OfferNotFoundError,
    ReviewStageError,
)
from los.domain.handoff import Disbursement, loan_disbursed_event
from los.domain.offers import Offer, build_offer
from los.domain.policy import PolicyDecision, PolicyInputs, evaluate, fingerprint
from los.domain.products import Catalog, Product
from los.domain.refinance import RefinancedLoan, check_refinance
from los.domain.reviews import check_counter_offer, may_decide_at, required_stages
from los.service.audit import append, application_stream, chained, record
from los.service.common import commit, flush
from servicekit.clock import Clock
from servicekit.db import UnitOfWork, insert_rows, is_foreign_key_violation
from servicekit.outbox import stage_event, stage_events

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
    # A renewal or top-up: the borrower's existing loan the new one pays off first.
    refinances_loan_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApplicationView:
    """An application with its decision, reviews and offer, as callers see it."""

    application: ApplicationRow
    decision: DecisionRow | None
    reviews: Sequence[ReviewRow]
    offer: OfferRow | None
    pending_stage: str | None = None


def _snapshot(row: ApplicationRow) -> dict[str, Any]:
    """The audited fields of an application."""
    return {
        "status": row.status,
        "requested_amount": str(row.requested_amount),
        "term": row.term,
        "approved_amount": None if row.approved_amount is None else str(row.approved_amount),
        "approved_term": row.approved_term,
        "assignee": row.assignee,
        "loan_id": row.loan_id,
    }


async def _audit(
    session: AsyncSession,
    row: ApplicationRow,
    *,
    actor: str,
    action: str,
    clock: Clock,
    before: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
    new_stream: bool = False,
    previous: AuditRow | None = None,
    head: tuple[int, str] | None = None,
) -> AuditRow:
    after = _snapshot(row) | (extra or {})
    return await record(
        session,
        application_stream(row.id),
        actor=actor,
        action=action,
        at=clock.now(),
        before=before,
        after=after,
        new_stream=new_stream,
        previous=previous,
        head=head,
    )


async def create_application(
    uow: UnitOfWork, catalog: Catalog, data: NewApplication, *, actor: str, clock: Clock
) -> ApplicationRow:
    """Take in a draft application within the product's limits.

    The borrower's existence is proved by the application's foreign key, not read first
    (one round trip less); a renewal reads it first, as its checks read the borrower's loans.
    """
    missing = ApplicantNotFoundError(f"No applicant with id {data.applicant_id}.")
    if data.refinances_loan_id is not None and not await ApplicantRepository(uow.session).exists(
        data.applicant_id
    ):
        raise missing
    product = catalog.get(data.product_code)
    product.check_request(data.requested_amount, data.currency, data.term)
    repo = ApplicationRepository(uow.session)
    application_id = str(uuid.uuid4())
    if data.refinances_loan_id is not None:
        await _check_refinance(
            repo,
            data.refinances_loan_id,
            applicant_id=data.applicant_id,
            currency=data.currency,
            application_id=application_id,
        )
    now = clock.now()
    row = ApplicationRow(
        id=application_id,
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
        refinances_loan_id=data.refinances_loan_id,
    )
    try:
        await insert_rows(uow.session, [row])
    except IntegrityError as exc:
        if not is_foreign_key_violation(exc):
            raise
        await uow.rollback()
        raise missing from exc
    await _audit(
        uow.session,
        row,
        actor=actor,
        action="application_created",
        clock=clock,
        before=None,
        new_stream=True,  # the application's id was made above: its chain starts here
        extra={
            "product_code": row.product_code,
            "product_version": row.product_version,
            "monthly_income": str(row.monthly_income),
            "monthly_obligations": str(row.monthly_obligations),
            "purpose": row.purpose,
            "refinances_loan_id": row.refinances_loan_id,
        },
    )
    await commit(uow)
    return row


async def _check_refinance(
    repo: ApplicationRepository,
    loan_id: str,
    *,
    applicant_id: str,
    currency: str,
    application_id: str,
) -> None:
    """The loan a renewal or top-up pays off: disbursed by this LOS to the same applicant, in
    the same currency, and not already paid off by another disbursed application."""
    found = await repo.get_by_loan_id(loan_id)
    existing = (
        None
        if found is None
        else RefinancedLoan(
            loan_id=loan_id,
            application_id=found.id,
            applicant_id=found.applicant_id,
            currency=found.currency,
            status=found.status,
        )
    )
    check_refinance(
        loan_id,
        existing,
        applicant_id=applicant_id,
        currency=currency,
        refinanced_by=await repo.refinanced_by(loan_id, application_id),
    )


def pending_stage(
    catalog: Catalog, row: ApplicationRow, reviews: Sequence[ReviewRow]
) -> str | None:
    """The approval stage a referred application waits for, given its reviews."""
    if row.status != ApplicationStatus.REFERRED.value:
        return None
    amount = _proposed_amount(row, reviews)
    stages = required_stages(catalog.get(row.product_code), amount)
    approvals = [r for r in reviews if r.outcome in ("approve", "counter_offer")]
    return stages[len(approvals)] if len(approvals) < len(stages) else None


def _proposed_amount(row: ApplicationRow, reviews: Sequence[ReviewRow]) -> Decimal:
    for review in reversed(reviews):
        if review.counter_amount is not None:
            return review.counter_amount
    return row.requested_amount


def _proposed_term(row: ApplicationRow, reviews: Sequence[ReviewRow]) -> int:
    for review in reversed(reviews):
        if review.counter_term is not None:
            return review.counter_term
    return row.term


async def get_application(
    uow: UnitOfWork, application_id: str, catalog: Catalog | None = None
) -> ApplicationView:
    """The application with everything hanging off it (two queries)."""
    repo = ApplicationRepository(uow.session)
    found = await repo.get_with_decision_and_offer(application_id)
    if found is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    row, decision, offer = found
    reviews = await repo.list_reviews(application_id)
    return ApplicationView(
        application=row,
        decision=decision,
        reviews=reviews,
        offer=offer,
        pending_stage=None if catalog is None else pending_stage(catalog, row, reviews),
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


def _query(applicant: ApplicantRow) -> IdentityQuery:
    return IdentityQuery(
        first_name=applicant.first_name,
        last_name=applicant.last_name,
        date_of_birth=applicant.date_of_birth,
        national_id=applicant.national_id,
        country=applicant.id_country or str(applicant.address.get("country", "")),
    )


async def _guarded(kind: CheckKind, provider: str, call: Any) -> Any:
    """A provider that raises anyway still yields an `error` check, never a 500."""
    try:
        return await call
    except Exception as exc:
        return CheckResult(kind, provider, CheckStatus.ERROR, error=type(exc).__name__)


def _check_row(result: CheckResult, row: ApplicationRow, *, actor: str, clock: Clock) -> CheckRow:
    return CheckRow(
        application_id=row.id,
        applicant_id=row.applicant_id,
        kind=result.kind.value,
        provider=result.provider,
        status=result.status.value,
        reference=result.reference,
        reasons=list(result.reasons),
        details=dict(result.details),
        raw=result.raw,
        error=result.error,
        attempts=result.attempts,
        requested_at=clock.now(),
        requested_by=actor,
    )


def maturity_date(product: Product, start: date, term: int) -> date:
    """The last due date of a loan of `term` installments starting on `start`."""
    return due_dates(start, product.frequency, term + 1)[-1]


async def submit_application(
    uow: UnitOfWork,
    catalog: Catalog,
    application_id: str,
    *,
    actor: str,
    clock: Clock,
    offer_validity: timedelta,
    providers: Providers,
) -> ApplicationView:
    """Run KYC, screening, the bureau pull, the scorecard and the policy rules.

    Approve (with an offer), refer to an underwriter, or decline. Check records, the
    decision with every rule evaluated, the offer, the audit records and the
    ApplicationSubmitted/ApplicationDecided events are committed together.
    """
    repo = ApplicationRepository(uow.session)
    found = await repo.get_with_applicant(application_id, application_stream(application_id))
    if found is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    row, applicant, audit_head = found
    before = _snapshot(row)
    transition(row.status, ApplicationStatus.SUBMITTED)
    product = catalog.get(row.product_code)
    now = clock.now()
    today = now.date()
    query = _query(applicant)
    id_key = normalise_national_id(applicant.national_id)
    kyc: CheckResult = await _guarded(
        CheckKind.KYC, providers.kyc.name, providers.kyc.verify(query, id_key)
    )
    sanctions = providers.watchlist.screen(query)
    try:
        bureau, report = await providers.bureau.pull(query, id_key)
    except Exception as exc:
        bureau = CheckResult(
            CheckKind.BUREAU, providers.bureau.name, CheckStatus.ERROR, error=type(exc).__name__
        )
        report = None
    inputs = PolicyInputs(
        application=DecisionInputs(
            requested_amount=row.requested_amount,
            term=row.term,
            monthly_income=row.monthly_income,
            monthly_obligations=row.monthly_obligations,
            employment_status=EmploymentStatus(applicant.employment_status),
        ),
        applicant_age=age_on(applicant.date_of_birth, today),
        age_at_maturity=age_on(applicant.date_of_birth, maturity_date(product, today, row.term)),
        kyc=kyc.status,
        sanctions=sanctions.status,
        sanctions_reasons=sanctions.reasons,
        bureau_status=bureau.status,
        bureau=report,
        existing_exposure=await repo.exposure(row.applicant_id, row.id, row.refinances_loan_id),
        possible_duplicate=bool(applicant.possible_duplicate_of),
    )
    decision = evaluate(product, inputs, today)
    target = {
        Outcome.APPROVE: ApplicationStatus.APPROVED,
        Outcome.REFER: ApplicationStatus.REFERRED,
        Outcome.DECLINE: ApplicationStatus.DECLINED,
    }[decision.outcome]
    row.status = transition(ApplicationStatus.SUBMITTED, target).value
    row.submitted_by = actor
    row.submitted_at = now
    row.updated_at = now
    new_rows: list[CheckRow | DecisionRow | OfferRow] = [
        _check_row(result, row, actor=actor, clock=clock) for result in (kyc, sanctions, bureau)
    ]
    decision_row = _decision_row(row, product, inputs, decision, now=clock)
    new_rows.append(decision_row)
    offer_row = None
    if target is ApplicationStatus.APPROVED:
        row.approved_amount = row.requested_amount
        row.approved_term = row.term
        offer_row = _make_offer(
            row, product, decision.grade, now_clock=clock, validity=offer_validity
        )
        new_rows.append(offer_row)
    await flush(uow)  # the version-checked update first: a concurrent submit loses here
    await insert_rows(uow.session, new_rows)
    stream = application_stream(row.id)
    submitted = chained(
        stream,
        audit_head,
        actor=actor,
        action="application_submitted",
        at=clock.now(),
        before=before,
        after=_snapshot(row),
    )
    decided = chained(
        stream,
        (submitted.seq, submitted.hash),
        actor="system",
        action="decision_made",
        at=clock.now(),
        after=_snapshot(row)
        | {
            "outcome": decision.outcome.value,
            "score": decision.score,
            "grade": decision.grade,
            "reasons": [r.code for r in decision.reasons],
            "rule_set_version": decision.rule_set_version,
            "fingerprint": decision_row.fingerprint,
            "checks": {r.kind.value: r.status.value for r in (kyc, sanctions, bureau)},
        },
    )
    await append(uow.session, [submitted, decided])  # one statement for both
    submitted_event = ApplicationSubmittedV1(
        application_id=row.id,
        party_ref=applicant.party_ref,
        product_code=row.product_code,
        product_version=row.product_version,
        requested_amount=row.requested_amount,
        currency=row.currency,
        term=row.term,
        submitted_at=now,
    )
    decided_event = _decided_event(row, applicant, decision_row, source="automated", clock=clock)
    # Both in one insert, in this order. An application is submitted once, from draft, and
    # nothing before staged an event about it: these are its first (sequences 1 and 2).
    await stage_events(
        uow.session,
        [(submitted_event, row.id), (decided_event, row.id)],
        source=EVENT_SOURCE,
        now=now,
        first_events=True,
    )
    await commit(uow)
    return ApplicationView(row, decision_row, [], offer_row)


def _decision_row(
    row: ApplicationRow,
    product: Product,
    inputs: PolicyInputs,
    decision: PolicyDecision,
    *,
    now: Clock,
) -> DecisionRow:
    return DecisionRow(
        application_id=row.id,
        outcome=decision.outcome.value,
        score=decision.score,
        grade=decision.grade,
        annual_rate=decision.annual_rate,
        reasons=[
            {"code": r.code, "description": r.description, "notice": r.notice}
            for r in decision.reasons
        ],
        rule_set_version=decision.rule_set_version,
        inputs=inputs.record(),
        decided_at=now.now(),
        pd=decision.pd,
        rules=[r.as_dict() for r in decision.rules],
        figures=decision.figures(),
        fingerprint=fingerprint(product, inputs, decision),
        scorecard_version=decision.scorecard_version,
    )


async def _stage_decided(
    session: AsyncSession,
    row: ApplicationRow,
    applicant: ApplicantRow,
    decision: DecisionRow | None,
    *,
    source: str,
    clock: Clock,
) -> None:
    await stage_event(
        session,
        _decided_event(row, applicant, decision, source=source, clock=clock),
        source=EVENT_SOURCE,
        subject=row.id,
        now=clock.now(),
    )


def _decided_event(
    row: ApplicationRow,
    applicant: ApplicantRow,
    decision: DecisionRow | None,
    *,
    source: str,
    clock: Clock,
) -> ApplicationDecidedV1:
    """The ApplicationDecided event of an application as its decision left it."""
    outcome = {"approved": "approved", "referred": "referred", "declined": "declined"}[row.status]
    return ApplicationDecidedV1(
        application_id=row.id,
        party_ref=applicant.party_ref,
        product_code=row.product_code,
        outcome=outcome,
        source=source,
        score=None if decision is None else decision.score,
        grade=None if decision is None else decision.grade,
        rule_set_version="manual" if decision is None else decision.rule_set_version,
        reasons=[]
        if decision is None or (row.status == "approved" and source != "automated")
        else [
            DecisionReasonV1(code=r["code"], description=r["description"]) for r in decision.reasons
        ],
        approved_amount=row.approved_amount if row.status == "approved" else None,
        currency=row.currency,
        annual_rate=None if decision is None or row.status != "approved" else decision.annual_rate,
        decided_at=clock.now(),
    )


@dataclass(frozen=True, slots=True)
class ReviewInput:
    """One reviewer's decision."""

    outcome: str  # approve | decline | counter_offer
    comment: str
    amount: Decimal | None = None
    term: int | None = None


async def review_application(
    uow: UnitOfWork,
    catalog: Catalog,
    application_id: str,
    *,
    review: ReviewInput,
    reviewer: str,
    roles: frozenset[str],
    clock: Clock,
    offer_validity: timedelta,
) -> ApplicationView:
    """A staged manual decision on a referred application.

    An underwriter decides first; above the product's threshold a credit manager must also
    approve. Four eyes: the submitter may not review, and each reviewer decides once. A
    decline at any stage declines. A counter-offer (lower amount and/or longer term) is an
    approval on the new terms.
    """
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    before = _snapshot(row)
    target = (
        ApplicationStatus.DECLINED if review.outcome == "decline" else ApplicationStatus.APPROVED
    )
    transition(row.status, target)
    if row.submitted_by == reviewer:
        raise FourEyesViolationError("The person who submitted an application cannot review it.")
    reviews = list(await repo.list_reviews(application_id))
    if any(r.reviewer == reviewer for r in reviews):
        raise AlreadyReviewedError("Each reviewer decides once on an application.")
    product = catalog.get(row.product_code)
    amount, term = _proposed_amount(row, reviews), _proposed_term(row, reviews)
    if review.outcome == "counter_offer":
        amount, term = check_counter_offer(
            product, row.requested_amount, row.term, review.amount, review.term
        )
    approvals = [r for r in reviews if r.outcome in ("approve", "counter_offer")]
    stages = required_stages(product, amount)
    stage = stages[min(len(approvals), len(stages) - 1)]
    if not may_decide_at(stage, roles):
        raise ReviewStageError(f"This application waits for a {stage} decision.")
    now = clock.now()
    review_row = ReviewRow(
        application_id=row.id,
        reviewer=reviewer,
        outcome=review.outcome,
        comment=review.comment,
        reviewed_at=now,
        stage=stage,
        counter_amount=amount if review.outcome == "counter_offer" else None,
        counter_term=term if review.outcome == "counter_offer" else None,
    )
    new_rows: list[ReviewRow | OfferRow] = [review_row]
    final = review.outcome == "decline" or len(approvals) + 1 >= len(stages)
    decision: DecisionRow | None = None
    decision_read = False
    if final:
        row.status = target.value
        if target is ApplicationStatus.APPROVED:
            row.approved_amount, row.approved_term = amount, term
            decision, decision_read = await repo.get_decision(application_id), True
            grade = decision.grade if decision is not None else "E"
            new_rows.append(
                _make_offer(row, product, grade, now_clock=clock, validity=offer_validity)
            )
    row.updated_at = now
    await flush(uow)
    await insert_rows(uow.session, new_rows)
    await _audit(
        uow.session,
        row,
        actor=reviewer,
        action="review_recorded",
        clock=clock,
        before=before,
        extra={
            "review": {
                "outcome": review.outcome,
                "stage": stage,
                "comment": review.comment,
                "counter_amount": None if review_row.counter_amount is None else str(amount),
                "counter_term": review_row.counter_term,
                "final": final,
            }
        },
    )
    if final:
        applicant = await ApplicantRepository(uow.session).get(row.applicant_id)
        assert applicant is not None
        if not decision_read:
            decision = await repo.get_decision(application_id)
        await _stage_decided(
            uow.session, row, applicant, decision, source="manual_review", clock=clock
        )
    # Read in this transaction, which has written all of it: no second transaction after.
    view = await get_application(uow, application_id, catalog)
    await commit(uow)
    return view


def _make_offer(
    row: ApplicationRow,
    product: Product,
    grade: str,
    *,
    now_clock: Clock,
    validity: timedelta,
) -> OfferRow:
    offer = build_offer(
        product,
        principal=row.approved_amount if row.approved_amount is not None else row.requested_amount,
        grade=grade,
        term=row.approved_term if row.approved_term is not None else row.term,
        now=now_clock.now(),
        validity=validity,
    )
    return offer_to_row(row.id, offer)


async def _check_documents(
    repo: ApplicationRepository, catalog: Catalog, row: ApplicationRow
) -> None:
    product = catalog.get(row.product_code)
    amount = row.approved_amount if row.approved_amount is not None else row.requested_amount
    required = product.documents_for(amount)
    if not required:
        return  # nothing can be missing: no need to read the documents
    docs: Sequence[DocumentRow] = await repo.list_documents(row.id)
    missing = missing_documents(required, docs)
    if missing:
        raise DocumentsIncompleteError(
            "Required documents are missing or not verified: " + ", ".join(missing) + ".",
            missing=missing,
        )


async def accept_offer(
    uow: UnitOfWork, catalog: Catalog, application_id: str, *, actor: str, clock: Clock
) -> ApplicationView:
    """The borrower accepts before expiry, once every required document is verified."""
    repo = ApplicationRepository(uow.session)
    loaded = await _load_for_change(repo, application_id)
    row, decision, offer_row = loaded.application, loaded.decision, loaded.offer
    before = _snapshot(row)
    transition(row.status, ApplicationStatus.ACCEPTED)
    if offer_row is None:  # pragma: no cover - approval always stores an offer
        raise OfferNotFoundError(f"Application {application_id} has no offer.")
    now = clock.now()
    if offer_from_row(offer_row).is_expired(now):
        row.status = transition(row.status, ApplicationStatus.EXPIRED).value
        row.updated_at = now
        await flush(uow)
        await _audit(
            uow.session,
            row,
            actor=actor,
            action="offer_expired",
            clock=clock,
            before=before,
            head=loaded.audit_head,
        )
        await commit(uow)
        raise OfferExpiredError(
            f"The offer expired at {offer_row.expires_at.isoformat()}; the application is expired."
        )
    await _check_documents(repo, catalog, row)
    row.status = ApplicationStatus.ACCEPTED.value
    row.updated_at = now
    offer_row.accepted_at = now
    offer_row.accepted_by = actor
    await flush(uow)
    await _audit(
        uow.session,
        row,
        actor=actor,
        action="offer_accepted",
        clock=clock,
        before=before,
        head=loaded.audit_head,
    )
    view = await _written_view(repo, catalog, row, decision, offer_row)
    await commit(uow)
    return view


async def withdraw_application(
    uow: UnitOfWork, application_id: str, *, actor: str, clock: Clock, reason: str | None = None
) -> ApplicationRow:
    """The applicant steps back before acceptance."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    before = _snapshot(row)
    row.status = transition(row.status, ApplicationStatus.WITHDRAWN).value
    row.updated_at = clock.now()
    await flush(uow)
    await _audit(
        uow.session,
        row,
        actor=actor,
        action="application_withdrawn",
        clock=clock,
        before=before,
        extra={"reason": reason},
    )
    await commit(uow)
    return row


async def assign_application(
    uow: UnitOfWork, application_id: str, *, assignee: str | None, actor: str, clock: Clock
) -> ApplicationRow:
    """Put a referred application in a reviewer's queue (or back in the shared queue)."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    if row.status != ApplicationStatus.REFERRED.value:
        raise IllegalTransitionError(row.status, "assigned")
    before = _snapshot(row)
    row.assignee = assignee
    row.updated_at = clock.now()
    await flush(uow)
    await _audit(
        uow.session, row, actor=actor, action="application_assigned", clock=clock, before=before
    )
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
) -> ApplicationView:
    """Pay out an accepted offer and stage LoanDisbursed in the same transaction."""
    repo = ApplicationRepository(uow.session)
    loaded = await _load_for_change(repo, application_id)
    row, decision, offer_row = loaded.application, loaded.decision, loaded.offer
    before = _snapshot(row)
    target = transition(row.status, ApplicationStatus.DISBURSED)
    await _check_documents(repo, catalog, row)
    if offer_row is None:  # pragma: no cover - acceptance needs an offer
        raise OfferNotFoundError(f"Application {application_id} has no offer.")
    party_ref = loaded.party_ref
    if row.refinances_loan_id is not None:
        # Checked again: another renewal of the same loan may have been disbursed since.
        await _check_refinance(
            repo,
            row.refinances_loan_id,
            applicant_id=row.applicant_id,
            currency=row.currency,
            application_id=row.id,
        )
    now = clock.now()
    disbursement = Disbursement(
        loan_id=loan_id or str(uuid.uuid4()),
        application_id=row.id,
        party_ref=party_ref,
        disbursement_date=clock.today(),
        disbursed_at=now,
        rule_set_version=None if decision is None else decision.rule_set_version,
        settles_loan_id=row.refinances_loan_id,
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
    await _audit(
        uow.session,
        row,
        actor=actor,
        action="loan_disbursed",
        clock=clock,
        before=before,
        head=loaded.audit_head,
        extra={
            "net_disbursed": str(event.net_disbursed),
            "principal": str(event.principal),
            "settles_loan_id": event.settles_loan_id,
        },
    )
    # The loan is born here: LoanDisbursed is the first event about it.
    await stage_event(
        uow.session,
        event,
        source=EVENT_SOURCE,
        subject=disbursement.loan_id,
        now=now,
        first_events=True,
    )
    view = await _written_view(repo, catalog, row, decision, offer_row)
    await commit(uow)
    return view


async def list_checks(uow: UnitOfWork, application_id: str) -> Sequence[CheckRow]:
    """The stored check records of an application."""
    repo = ApplicationRepository(uow.session)
    await _load(repo, application_id)
    return await repo.list_checks(application_id)


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored decision re-run on its stored inputs."""

    stored_outcome: str
    replayed_outcome: str
    stored_fingerprint: str | None
    replayed_fingerprint: str
    reasons: list[str]

    @property
    def identical(self) -> bool:
        """Whether the re-run reproduced the stored decision exactly."""
        return self.stored_fingerprint == self.replayed_fingerprint


async def replay_decision(uow: UnitOfWork, catalog: Catalog, application_id: str) -> Replay:
    """Re-run the policy on the stored inputs, as of the stored decision date."""
    repo = ApplicationRepository(uow.session)
    row = await _load(repo, application_id)
    stored = await repo.get_decision(application_id)
    if stored is None:
        raise DecisionNotFoundError(f"Application {application_id} has no decision yet.")
    product = catalog.get(row.product_code)
    inputs = PolicyInputs.from_record(stored.inputs)
    decision = evaluate(product, inputs, stored.decided_at.date())
    return Replay(
        stored_outcome=stored.outcome,
        replayed_outcome=decision.outcome.value,
        stored_fingerprint=stored.fingerprint,
        replayed_fingerprint=fingerprint(product, inputs, decision),
        reasons=[r.code for r in decision.reasons],
    )


async def _load_for_change(repo: ApplicationRepository, application_id: str) -> ForChange:
    """The application with its decision, offer, borrower reference and audit chain head."""
    found = await repo.get_for_change(application_id, application_stream(application_id))
    if found is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    return found


async def _written_view(
    repo: ApplicationRepository,
    catalog: Catalog,
    row: ApplicationRow,
    decision: DecisionRow | None,
    offer: OfferRow | None,
) -> ApplicationView:
    """The answer of a use case that changed the application, read in its own transaction
    (which holds everything it wrote): the reviews are the only rows left to read."""
    reviews: Sequence[ReviewRow]
    if decision is not None and decision.outcome == Outcome.APPROVE.value:
        # Approved by the automated decision: it never was referred, and only a referred
        # application is reviewed (APPROVED leads to ACCEPTED, EXPIRED or WITHDRAWN only).
        reviews = []
    else:
        reviews = await repo.list_reviews(row.id)
    return ApplicationView(
        application=row,
        decision=decision,
        reviews=reviews,
        offer=offer,
        pending_stage=pending_stage(catalog, row, reviews),
    )


async def _load(repo: ApplicationRepository, application_id: str) -> ApplicationRow:
    row = await repo.get(application_id)
    if row is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    return row
