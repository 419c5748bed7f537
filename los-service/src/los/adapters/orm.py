"""SQLAlchemy models of the LOS database; money is ExactDecimal, instants UTCDateTime."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from servicekit.tables import define_infrastructure_tables
from servicekit.types import ExactDecimal, UTCDateTime


class Base(DeclarativeBase):
    """Declarative base; its metadata also holds servicekit's infrastructure tables."""

    type_annotation_map = {Decimal: ExactDecimal(), datetime: UTCDateTime(), date: Date()}


INFRASTRUCTURE = define_infrastructure_tables(Base.metadata)


class ApplicantRow(Base):
    """An onboarded borrower; the only table holding personal data."""

    __tablename__ = "applicants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    party_ref: Mapped[str] = mapped_column(String(40), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date]
    national_id: Mapped[str] = mapped_column(String(64))
    national_id_key: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str] = mapped_column(String(20))
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    employment_status: Mapped[str] = mapped_column(String(20))
    monthly_income: Mapped[Decimal]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    # national_id_key is "<country>:<normalised id>" from revision 0002 on.
    id_country: Mapped[str | None] = mapped_column(String(2))
    name_key: Mapped[str | None] = mapped_column(String(200))
    possible_duplicate_of: Mapped[list[str] | None] = mapped_column(JSON)


Index("ix_applicants_date_of_birth", ApplicantRow.date_of_birth)


class ApplicationRow(Base):
    """A loan application and its handoff state; `version` guards concurrent updates."""

    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(ForeignKey("applicants.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(40))
    product_version: Mapped[int] = mapped_column(Integer)
    requested_amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    term: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(200))
    monthly_income: Mapped[Decimal]
    monthly_obligations: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    submitted_by: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime | None]
    loan_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    disbursed_at: Mapped[datetime | None]
    disbursed_by: Mapped[str | None] = mapped_column(String(200))
    disbursement_date: Mapped[date | None]
    booked_at: Mapped[datetime | None]
    schedule_matches_offer: Mapped[bool | None] = mapped_column(Boolean)
    mismatches: Mapped[list[str] | None] = mapped_column(JSON)
    assignee: Mapped[str | None] = mapped_column(String(200), index=True)
    approved_amount: Mapped[Decimal | None]
    approved_term: Mapped[int | None] = mapped_column(Integer)
    # A renewal or top-up: the loan (disbursed by this LOS) the new one pays off first.
    refinances_loan_id: Mapped[str | None] = mapped_column(String(64), index=True)

    __mapper_args__ = {"version_id_col": version}


Index("ix_applications_status_disbursed_at", ApplicationRow.status, ApplicationRow.disbursed_at)


class DecisionRow(Base):
    """The automated decision with its rule set version and inputs."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(20))
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(2))
    annual_rate: Mapped[Decimal]
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    rule_set_version: Mapped[str] = mapped_column(String(40))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    decided_at: Mapped[datetime]
    pd: Mapped[Decimal | None]
    rules: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    scorecard_version: Mapped[str | None] = mapped_column(String(40))


class ReviewRow(Base):
    """A manual review of a referred application."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    reviewed_at: Mapped[datetime]
    stage: Mapped[str | None] = mapped_column(String(20))
    counter_amount: Mapped[Decimal | None]
    counter_term: Mapped[int | None] = mapped_column(Integer)


class OfferRow(Base):
    """The terms promised to the borrower; disbursement uses exactly these."""

    __tablename__ = "offers"

    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    product_code: Mapped[str] = mapped_column(String(40))
    product_version: Mapped[int] = mapped_column(Integer)
    principal: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    annual_rate: Mapped[Decimal]
    grade: Mapped[str] = mapped_column(String(2))
    term: Mapped[int] = mapped_column(Integer)
    installment_amount: Mapped[Decimal]
    total_repayable: Mapped[Decimal]
    total_interest: Mapped[Decimal]
    apr: Mapped[Decimal]
    fees: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    offer_date: Mapped[date]
    first_due_date: Mapped[date]
    last_due_date: Mapped[date]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[str | None] = mapped_column(String(200))
    aprc: Mapped[Decimal | None]


class CheckRow(Base):
    """One KYC, screening or bureau call and its answer (or failure), kept for audit."""

    __tablename__ = "checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    applicant_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    reference: Mapped[str | None] = mapped_column(String(100))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    raw: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(200))


class DocumentRow(Base):
    """An uploaded document: metadata and digest here, content in the document store."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    doc_type: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime]
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None]
    review_comment: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """Append-only, hash-chained audit record; never updated or deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("stream", "seq", name="uq_audit_stream_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream: Mapped[str] = mapped_column(String(80), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime]
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
