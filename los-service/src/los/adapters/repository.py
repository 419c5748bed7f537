"""Every LOS query lives here; use cases stage rows on the session and never write SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, bindparam, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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
from los.domain.applications import ApplicationStatus
from los.domain.audit import APPLICATION_STREAM_PREFIX
from los.domain.offers import Offer, OfferFee, ScheduleLine


@dataclass(frozen=True, slots=True)
class ApplicationFilter:
    """Filters of the application list."""

    status: str | None = None
    product_code: str | None = None
    applicant_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    assignee: str | None = None
    unassigned: bool = False


_APPLICANT_ID = select(ApplicantRow.id).where(ApplicantRow.id == bindparam("applicant_id"))


_AUDIT_HEAD = (
    select(AuditRow.seq, AuditRow.hash)
    .where(AuditRow.stream == bindparam("stream"))
    .order_by(AuditRow.seq.desc())
    .limit(1)
)


_WITH_DECISION_AND_OFFER = (
    select(ApplicationRow, DecisionRow, OfferRow)
    .outerjoin(DecisionRow, DecisionRow.application_id == ApplicationRow.id)
    .outerjoin(OfferRow, OfferRow.application_id == ApplicationRow.id)
    .where(ApplicationRow.id == bindparam("application_id"))
)


def _chain_head(column: Any, stream: Any) -> Any:
    """The newest record's `column` on the audit `stream` (a parameter or an expression)."""
    return (
        select(column)
        .where(AuditRow.stream == stream)
        .order_by(AuditRow.seq.desc())
        .limit(1)
        .scalar_subquery()
    )


def _stream_head(column: Any) -> Any:
    """The newest record's `column` on the stream given as the `stream` parameter."""
    return _chain_head(column, bindparam("stream"))


# What a use case changing an accepted or approved application reads, in one query: the
# application, its decision and offer, the borrower's reference and its audit chain head.
_FOR_CHANGE = _WITH_DECISION_AND_OFFER.add_columns(
    ApplicantRow.party_ref, _stream_head(AuditRow.seq), _stream_head(AuditRow.hash)
).join(ApplicantRow, ApplicantRow.id == ApplicationRow.applicant_id)
# What a submit reads: the application, its borrower (the checks need the personal data)
# and its audit chain head.
_WITH_APPLICANT = (
    select(ApplicationRow, ApplicantRow, _stream_head(AuditRow.seq), _stream_head(AuditRow.hash))
    .join(ApplicantRow, ApplicantRow.id == ApplicationRow.applicant_id)
    .where(ApplicationRow.id == bindparam("application_id"))
)


def _application_head(column: Any) -> Any:
    """The newest record's `column` on the audit stream of the application read with it."""
    return _chain_head(column, literal(APPLICATION_STREAM_PREFIX) + ApplicationRow.id)


# What recording LoanBooked reads: the application that became the loan, its offer and its
# audit chain head.
_BY_LOAN_WITH_OFFER = (
    select(
        ApplicationRow,
        OfferRow,
        _application_head(AuditRow.seq),
        _application_head(AuditRow.hash),
    )
    .outerjoin(OfferRow, OfferRow.application_id == ApplicationRow.id)
    .where(ApplicationRow.loan_id == bindparam("loan_id"))
)
_REVIEWS = (
    select(ReviewRow)
    .where(ReviewRow.application_id == bindparam("application_id"))
    .order_by(ReviewRow.id)
)
#: What counts towards a borrower's exposure: credit approved or outstanding.
_LIVE = (
    ApplicationStatus.APPROVED.value,
    ApplicationStatus.ACCEPTED.value,
    ApplicationStatus.DISBURSED.value,
    ApplicationStatus.BOOKED.value,
)
# The two amounts only, not whole rows: an applicant may have many applications.
_EXPOSURE = select(ApplicationRow.approved_amount, ApplicationRow.requested_amount).where(
    ApplicationRow.applicant_id == bindparam("applicant_id"),
    ApplicationRow.status.in_(_LIVE),
    ApplicationRow.id != bindparam("exclude_id"),
)
_EXPOSURE_BESIDE_REFINANCED = _EXPOSURE.where(
    or_(
        ApplicationRow.loan_id.is_(None),
        ApplicationRow.loan_id != bindparam("refinanced_loan_id"),
    )
)


@dataclass(frozen=True, slots=True)
class ForChange:
    """An application as a use case that changes it reads it (see `get_for_change`)."""

    application: ApplicationRow
    decision: DecisionRow | None
    offer: OfferRow | None
    party_ref: str
    audit_head: tuple[int, str] | None  # (seq, hash) of the stream's newest record


def _head(seq: Any, digest: Any) -> tuple[int, str] | None:
    return None if seq is None else (int(seq), str(digest))


class ApplicantRepository:
    """Applicants by id and by national id."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: ApplicantRow) -> None:
        """Stage a new applicant."""
        self.session.add(row)

    async def get(self, applicant_id: str) -> ApplicantRow | None:
        """The applicant with this id."""
        return await self.session.get(ApplicantRow, applicant_id)

    async def exists(self, applicant_id: str) -> bool:
        """Whether an applicant has this id (reads the key only, loads no row)."""
        found = await self.session.scalar(_APPLICANT_ID, {"applicant_id": applicant_id})
        return found is not None

    async def same_birth_date(self, date_of_birth: date) -> Sequence[ApplicantRow]:
        """Applicants born on this date (the fuzzy duplicate check compares their names)."""
        result = await self.session.scalars(
            select(ApplicantRow)
            .where(ApplicantRow.date_of_birth == date_of_birth)
            .order_by(ApplicantRow.created_at, ApplicantRow.id)
        )
        return result.all()

    async def get_by_national_id_key(self, key: str) -> ApplicantRow | None:
        """The applicant with this normalised national id."""
        return await self.session.scalar(
            select(ApplicantRow).where(ApplicantRow.national_id_key == key)
        )


class ApplicationRepository:
    """Applications and what hangs off them: decision, reviews, offer."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(
        self, row: ApplicationRow | DecisionRow | ReviewRow | OfferRow | CheckRow | DocumentRow
    ) -> None:
        """Stage a new row."""
        self.session.add(row)

    async def get(self, application_id: str) -> ApplicationRow | None:
        """The application with this id."""
        return await self.session.get(ApplicationRow, application_id)

    async def get_by_loan_id(self, loan_id: str) -> ApplicationRow | None:
        """The application that became this loan."""
        return await self.session.scalar(
            select(ApplicationRow).where(ApplicationRow.loan_id == loan_id)
        )

    async def get_with_decision_and_offer(
        self, application_id: str
    ) -> tuple[ApplicationRow, DecisionRow | None, OfferRow | None] | None:
        """The application with its decision and offer (each at most one), in one query."""
        found = (
            await self.session.execute(_WITH_DECISION_AND_OFFER, {"application_id": application_id})
        ).first()
        return None if found is None else (found[0], found[1], found[2])

    async def get_for_change(self, application_id: str, stream: str) -> ForChange | None:
        """The application with its decision, offer, borrower reference and the (seq,
        hash) head of its audit `stream`, in one query."""
        found = (
            await self.session.execute(
                _FOR_CHANGE, {"application_id": application_id, "stream": stream}
            )
        ).first()
        if found is None:
            return None
        app, decision, offer, party_ref, seq, digest = found
        return ForChange(app, decision, offer, str(party_ref), _head(seq, digest))

    async def get_with_applicant(
        self, application_id: str, stream: str
    ) -> tuple[ApplicationRow, ApplicantRow, tuple[int, str] | None] | None:
        """The application, its borrower and the (seq, hash) head of its audit `stream`,
        in one query."""
        found = (
            await self.session.execute(
                _WITH_APPLICANT, {"application_id": application_id, "stream": stream}
            )
        ).first()
        if found is None:
            return None
        app, applicant, seq, digest = found
        return app, applicant, _head(seq, digest)

    async def get_by_loan_id_with_offer(
        self, loan_id: str
    ) -> tuple[ApplicationRow, OfferRow | None, tuple[int, str] | None] | None:
        """The application that became this loan, with its offer and the (seq, hash) head
        of its audit stream, in one query."""
        found = (await self.session.execute(_BY_LOAN_WITH_OFFER, {"loan_id": loan_id})).first()
        if found is None:
            return None
        app, offer, seq, digest = found
        return app, offer, _head(seq, digest)

    async def get_decision(self, application_id: str) -> DecisionRow | None:
        """The automated decision of an application."""
        return await self.session.scalar(
            select(DecisionRow).where(DecisionRow.application_id == application_id)
        )

    async def get_offer(self, application_id: str) -> OfferRow | None:
        """The offer of an application."""
        return await self.session.get(OfferRow, application_id)

    async def list_reviews(self, application_id: str) -> Sequence[ReviewRow]:
        """Reviews of an application, oldest first."""
        result = await self.session.scalars(_REVIEWS, {"application_id": application_id})
        return result.all()

    async def list_checks(self, application_id: str) -> Sequence[CheckRow]:
        """Check records of an application, oldest first."""
        result = await self.session.scalars(
            select(CheckRow).where(CheckRow.application_id == application_id).order_by(CheckRow.id)
        )
        return result.all()

    async def list_documents(self, application_id: str) -> Sequence[DocumentRow]:
        """Documents of an application, oldest first."""
        result = await self.session.scalars(
            select(DocumentRow)
            .where(DocumentRow.application_id == application_id)
            .order_by(DocumentRow.uploaded_at, DocumentRow.id)
        )
        return result.all()

    async def get_document(self, application_id: str, document_id: str) -> DocumentRow | None:
        """One document of an application."""
        return await self.session.scalar(
            select(DocumentRow).where(
                DocumentRow.application_id == application_id, DocumentRow.id == document_id
            )
        )

    async def exposure(
        self, applicant_id: str, exclude_id: str, refinanced_loan_id: str | None = None
    ) -> Decimal:
        """Credit approved or outstanding for the applicant, other applications only.

        A renewal or top-up pays `refinanced_loan_id` off from the new loan, so that loan
        does not count on top of it.
        """
        if refinanced_loan_id is None:
            stmt, params = _EXPOSURE, {"applicant_id": applicant_id, "exclude_id": exclude_id}
        else:
            stmt = _EXPOSURE_BESIDE_REFINANCED
            params = {
                "applicant_id": applicant_id,
                "exclude_id": exclude_id,
                "refinanced_loan_id": refinanced_loan_id,
            }
        rows = await self.session.execute(stmt, params)
        return sum(
            (approved if approved is not None else requested for approved, requested in rows),
            Decimal(0),
        )

    async def refinanced_by(self, loan_id: str, exclude_id: str) -> list[str]:
        """Ids of other disbursed applications that pay `loan_id` off (renewals, top-ups)."""
        result = await self.session.scalars(
            select(ApplicationRow.id)
            .where(
                ApplicationRow.refinances_loan_id == loan_id,
                ApplicationRow.id != exclude_id,
                ApplicationRow.status.in_(
                    [ApplicationStatus.DISBURSED.value, ApplicationStatus.BOOKED.value]
                ),
            )
            .order_by(ApplicationRow.disbursed_at, ApplicationRow.id)
        )
        return list(result.all())

    async def list(
        self, filters: ApplicationFilter, limit: int, offset: int
    ) -> tuple[Sequence[ApplicationRow], int]:
        """A page of applications, newest first, and the total matching."""
        stmt = _filtered(select(ApplicationRow), filters)
        total = await self.session.scalar(
            _filtered(select(func.count()).select_from(ApplicationRow), filters)
        )
        rows = await self.session.scalars(
            stmt.order_by(ApplicationRow.created_at.desc(), ApplicationRow.id)
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)

    async def list_unbooked(self, disbursed_before: datetime) -> Sequence[ApplicationRow]:
        """Disbursed applications not booked, disbursed at or before the cut-off, oldest first."""
        result = await self.session.scalars(
            select(ApplicationRow)
            .where(
                ApplicationRow.status == ApplicationStatus.DISBURSED.value,
                ApplicationRow.disbursed_at <= disbursed_before,
            )
            .order_by(ApplicationRow.disbursed_at)
        )
        return result.all()

    async def list_mismatched(self) -> Sequence[ApplicationRow]:
        """Booked applications whose servicing schedule did not match the offer."""
        result = await self.session.scalars(
            select(ApplicationRow)
            .where(
                ApplicationRow.status == ApplicationStatus.BOOKED.value,
                ApplicationRow.schedule_matches_offer.is_(False),
            )
            .order_by(ApplicationRow.booked_at)
        )
        return result.all()


def _filtered(stmt: Select[Any], f: ApplicationFilter) -> Select[Any]:
    if f.status is not None:
        stmt = stmt.where(ApplicationRow.status == f.status)
    if f.product_code is not None:
        stmt = stmt.where(ApplicationRow.product_code == f.product_code)
    if f.applicant_id is not None:
        stmt = stmt.where(ApplicationRow.applicant_id == f.applicant_id)
    if f.created_from is not None:
        stmt = stmt.where(ApplicationRow.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(ApplicationRow.created_at <= f.created_to)
    if f.assignee is not None:
        stmt = stmt.where(ApplicationRow.assignee == f.assignee)
    if f.unassigned:
        stmt = stmt.where(ApplicationRow.assignee.is_(None))
    return stmt


class AuditRepository:
    """The append-only audit log: one hash chain per stream."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def head(self, stream: str) -> tuple[int, str] | None:
        """The sequence number and hash of a stream's newest record: what the next record
        chains to (its snapshots are not read)."""
        found = (await self.session.execute(_AUDIT_HEAD, {"stream": stream})).first()
        return None if found is None else (int(found[0]), str(found[1]))

    def add(self, row: AuditRow) -> None:
        """Stage a new record (never an update)."""
        self.session.add(row)

    async def list(self, stream: str, limit: int, offset: int) -> tuple[Sequence[AuditRow], int]:
        """A page of a stream, oldest first, and its length."""
        total = await self.session.scalar(
            select(func.count()).select_from(AuditRow).where(AuditRow.stream == stream)
        )
        rows = await self.session.scalars(
            select(AuditRow)
            .where(AuditRow.stream == stream)
            .order_by(AuditRow.seq)
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)

    async def all(self, stream: str) -> Sequence[AuditRow]:
        """The whole stream, oldest first (for verification)."""
        rows = await self.session.scalars(
            select(AuditRow).where(AuditRow.stream == stream).order_by(AuditRow.seq)
        )
        return rows.all()


def offer_to_row(application_id: str, offer: Offer) -> OfferRow:
    """Store every promised term of a domain offer."""
    return OfferRow(
        application_id=application_id,
        product_code=offer.product_code,
        product_version=offer.product_version,
        principal=offer.principal,
        currency=offer.currency,
        annual_rate=offer.annual_rate,
        grade=offer.grade,
        term=offer.term,
        installment_amount=offer.installment_amount,
        total_repayable=offer.total_repayable,
        total_interest=offer.total_interest,
        apr=offer.apr,
        fees=[
            {"code": f.code, "amount": str(f.amount), "treatment": f.treatment} for f in offer.fees
        ],
        offer_date=offer.offer_date,
        first_due_date=offer.first_due_date,
        last_due_date=offer.last_due_date,
        created_at=offer.created_at,
        expires_at=offer.expires_at,
        aprc=offer.aprc,
        schedule=[
            {
                "number": line.number,
                "due_date": line.due_date.isoformat(),
                "principal": str(line.principal),
                "interest": str(line.interest),
                "total": str(line.total),
            }
            for line in offer.schedule
        ],
    )


def offer_from_row(row: OfferRow) -> Offer:
    """Rebuild the domain offer exactly as it was stored."""
    return Offer(
        product_code=row.product_code,
        product_version=row.product_version,
        principal=row.principal,
        currency=row.currency,
        annual_rate=row.annual_rate,
        grade=row.grade,
        term=row.term,
        installment_amount=row.installment_amount,
        total_repayable=row.total_repayable,
        total_interest=row.total_interest,
        fees=tuple(OfferFee(f["code"], Decimal(f["amount"]), f["treatment"]) for f in row.fees),
        apr=row.apr,
        offer_date=row.offer_date,
        first_due_date=row.first_due_date,
        last_due_date=row.last_due_date,
        created_at=row.created_at,
        expires_at=row.expires_at,
        schedule=tuple(
            ScheduleLine(
                int(s["number"]),
                date.fromisoformat(s["due_date"]),
                Decimal(s["principal"]),
                Decimal(s["interest"]),
                Decimal(s["total"]),
            )
            for s in row.schedule
        ),
        aprc=row.aprc,
    )
