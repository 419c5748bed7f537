"""ORM models: the loan aggregate (loan, fees, installments per schedule version) and the ledger.

Money and rates are ExactDecimal, instants UTCDateTime, on both backends. The metadata
also carries servicekit's outbox, inbox, dead-letter and idempotency tables.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column, relationship

from servicekit.tables import define_infrastructure_tables
from servicekit.types import ExactDecimal, UTCDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base; its metadata is what the migrations describe."""


INFRASTRUCTURE_TABLES = define_infrastructure_tables(Base.metadata)


class LoanRow(Base):
    """A booked loan: its terms as agreed, the promise, and where it stands."""

    # PostgreSQL stores it with fillfactor 80 (migration 0011): room for close of
    # business's nightly in-place updates.
    __tablename__ = "loans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(64), index=True)
    party_ref: Mapped[str] = mapped_column(String(100))
    product_code: Mapped[str] = mapped_column(String(64), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    principal: Mapped[Decimal] = mapped_column(ExactDecimal())
    net_disbursed: Mapped[Decimal] = mapped_column(ExactDecimal())
    annual_rate: Mapped[Decimal] = mapped_column(ExactDecimal())
    day_count: Mapped[str] = mapped_column(String(20))
    interest_basis: Mapped[str] = mapped_column(String(20))
    amortization: Mapped[str] = mapped_column(String(30))
    frequency: Mapped[str] = mapped_column(String(20))
    rounding_mode: Mapped[str] = mapped_column(String(20))
    term: Mapped[int] = mapped_column(Integer)
    disbursement_date: Mapped[date] = mapped_column(Date)
    first_due_date: Mapped[date] = mapped_column(Date)
    grace_principal_periods: Mapped[int] = mapped_column(Integer)
    grace_interest_periods: Mapped[int] = mapped_column(Integer)
    allocation_order: Mapped[list[str]] = mapped_column(JSON)
    penalty_late_fee_flat: Mapped[Decimal] = mapped_column(ExactDecimal())
    penalty_rate_annual: Mapped[Decimal] = mapped_column(ExactDecimal())
    penalty_grace_days: Mapped[int] = mapped_column(Integer)
    promised_installment_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    promised_total_repayable: Mapped[Decimal] = mapped_column(ExactDecimal())
    promised_total_interest: Mapped[Decimal] = mapped_column(ExactDecimal())
    promised_apr: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    schedule_installment_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    schedule_total_repayable: Mapped[Decimal] = mapped_column(ExactDecimal())
    schedule_total_interest: Mapped[Decimal] = mapped_column(ExactDecimal())
    schedule_matches_offer: Mapped[bool] = mapped_column(Boolean)
    mismatches: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    schedule_version: Mapped[int] = mapped_column(Integer)
    terms_fingerprint: Mapped[str] = mapped_column(String(64))
    source_event_id: Mapped[str] = mapped_column(String(64))
    disbursed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    row_version: Mapped[int] = mapped_column(Integer)
    credit_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal("0"))
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    paid_off_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closing_payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    written_off_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Stored by close of business for the last closed business date.
    days_past_due: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delinquency_bucket: Mapped[str] = mapped_column(
        String(20), default="current", server_default="current"
    )
    # The installment period the loan last accrued in, kept by close of business on
    # PostgreSQL (migration 0012): schedule version, first day (exclusive), due date and
    # scheduled interest. Used only while the version is the loan's and the business date
    # falls in the period; NULL until the first accrual.
    accrual_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    accrual_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    accrual_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    accrual_interest: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)

    fees: Mapped[list[LoanFeeRow]] = relationship(
        back_populates="loan", order_by="LoanFeeRow.id", cascade="all, delete-orphan"
    )
    installments: Mapped[list[InstallmentRow]] = relationship(
        back_populates="loan",
        order_by="(InstallmentRow.schedule_version, InstallmentRow.number)",
        cascade="all, delete-orphan",
    )

    # Optimistic locking, so concurrent payments and close of business never lose an update.
    __mapper_args__: Any = {"version_id_col": row_version}


class LoanFeeRow(Base):
    """An origination fee agreed with the loan and how it was paid."""

    __tablename__ = "loan_fees"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    treatment: Mapped[str] = mapped_column(String(20))

    loan: Mapped[LoanRow] = relationship(back_populates="fees")


ZERO_DEFAULT = "0.00"


class InstallmentRow(Base):
    """One installment of one schedule version, with what has been paid per component."""

    # PostgreSQL stores it with fillfactor 90 (migration 0011).
    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "schedule_version", "number", name="uq_installment_number"),
        Index("ix_installments_due", "status", "due_date"),
        # Close of business reads a chunk's overdue installments by loan id.
        Index(
            "ix_installments_overdue",
            "loan_id",
            postgresql_where=text("status = 'overdue'"),
            sqlite_where=text("status = 'overdue'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Looked up by loan through uq_installment_number (loan_id leads it); no index of its own.
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    schedule_version: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(ExactDecimal())
    interest: Mapped[Decimal] = mapped_column(ExactDecimal())
    fees: Mapped[Decimal] = mapped_column(ExactDecimal())
    # Zero at booking: the database fills them (0.00, the zero of a two-decimal currency),
    # so booking sends less; loans in other currencies are written with explicit zeros.
    penalties: Mapped[Decimal] = mapped_column(ExactDecimal(), server_default=ZERO_DEFAULT)
    total: Mapped[Decimal] = mapped_column(ExactDecimal())
    paid_principal: Mapped[Decimal] = mapped_column(ExactDecimal(), server_default=ZERO_DEFAULT)
    paid_interest: Mapped[Decimal] = mapped_column(ExactDecimal(), server_default=ZERO_DEFAULT)
    paid_fees: Mapped[Decimal] = mapped_column(ExactDecimal(), server_default=ZERO_DEFAULT)
    paid_penalties: Mapped[Decimal] = mapped_column(ExactDecimal(), server_default=ZERO_DEFAULT)
    status: Mapped[str] = mapped_column(String(20))

    loan: Mapped[LoanRow] = relationship(back_populates="installments")


class JournalEntryRow(Base):
    """One balanced money movement; corrections are new (reversing) entries."""

    __tablename__ = "journal_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # None for entries of no loan (statement money held in suspense).
    loan_id: Mapped[str | None] = mapped_column(ForeignKey("loans.id"), index=True, nullable=True)
    entry_type: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    effective_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)

    postings: Mapped[list[PostingRow]] = relationship(
        back_populates="entry", order_by="PostingRow.id"
    )


class PostingRow(Base):
    """One debit or credit of an entry; never updated or deleted."""

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("side IN ('debit', 'credit')", name="ck_posting_side"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    # The loan this posting belongs to when it is not the entry's own (NULL: the entry's
    # loan); an entry spanning two loans, e.g. a renewal settling the old loan (0008).
    loan_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)

    entry: Mapped[JournalEntryRow] = relationship(back_populates="postings")


class PaymentRow(Base):
    """A repayment as received; reversal marks it, the money movements are journal entries."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("loan_id", "external_ref", name="uq_payment_external_ref"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(100), index=True)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    credit: Mapped[Decimal] = mapped_column(ExactDecimal())
    closed_loan: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_by: Mapped[str] = mapped_column(String(100))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reversal_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("journal_entries.id"), nullable=True
    )
    statement_line_id: Mapped[str | None] = mapped_column(String(100), nullable=True)

    allocations: Mapped[list[PaymentAllocationRow]] = relationship(
        back_populates="payment", order_by="PaymentAllocationRow.id"
    )


class PaymentAllocationRow(Base):
    """One part of a payment applied to one component of one installment.

    A replay that changes a payment's split deactivates its rows and adds new ones,
    so every split the payment ever had stays visible.
    """

    __tablename__ = "payment_allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    installment_number: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    active: Mapped[bool] = mapped_column(Boolean)
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)

    payment: Mapped[PaymentRow] = relationship(back_populates="allocations")


class ChargeRow(Base):
    """A fee or penalty charged to one installment."""

    __tablename__ = "charges"
    # Close of business asks, per overdue installment, whether its late fee was charged;
    # the same index serves every lookup by loan id (migration 0011).
    __table_args__ = (
        Index("ix_charges_installment_reason", "loan_id", "installment_number", "reason"),
    )

    # No foreign keys (migration 0010): every writer takes the loan id from the loan it
    # holds locked and the entry id from the entry it writes in the same transaction; the
    # ledger reconciliation reports a charge whose loan or entry is missing.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    installment_number: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    charge_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[int] = mapped_column(BigId)


class BankStatementRow(Base):
    """One imported statement file; its hash makes a re-import a no-op."""

    __tablename__ = "bank_statements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_hash: Mapped[str] = mapped_column(String(64), unique=True)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(100))
    line_count: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)


class StatementLineRow(Base):
    """One statement line and what it was matched to (or posted as)."""

    __tablename__ = "statement_lines"

    line_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    value_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(100))
    counterparty: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))
    payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    loan_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    difference: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)


class CobRunRow(Base):
    """Close of business for one business date: its status, progress and timings."""

    __tablename__ = "cob_runs"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    steps_done: Mapped[list[str]] = mapped_column(JSON)
    chunks_total: Mapped[int] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer)
    loans_processed: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON)


class CobChunkRow(Base):
    """The checkpoint of one loan-id range of a run; done commits with the chunk's work."""

    __tablename__ = "cob_chunks"

    business_date: Mapped[date] = mapped_column(
        ForeignKey("cob_runs.business_date"), primary_key=True
    )
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_loan_id: Mapped[str] = mapped_column(String(64))
    last_loan_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    loans_processed: Mapped[int] = mapped_column(Integer)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InterestAccrualRow(Base):
    """One loan's interest accrued on one business date (the detail of the day's entry)."""

    __tablename__ = "interest_accruals"

    # No foreign keys (migration 0009): close of business writes these rows set-based from
    # the loans it reads and the entry it writes in the same transaction.
    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    entry_id: Mapped[int] = mapped_column(BigId, index=True)


class DelinquencyHistoryRow(Base):
    """Every change of a loan's delinquency bucket, as close of business found it."""

    __tablename__ = "delinquency_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(Integer)
    from_bucket: Mapped[str] = mapped_column(String(20))
    to_bucket: Mapped[str] = mapped_column(String(20))
    overdue_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    non_performing: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServicingRequestRow(Base):
    """A change to a loan that one person requests and another approves (maker-checker)."""

    __tablename__ = "servicing_requests"
    __table_args__ = (Index("ix_servicing_requests_loan_status", "loan_id", "status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)


class LoanRestructureRow(Base):
    """An approved restructure: an event of the loan's replay (reschedule, payment holiday
    or re-aging from its effective date), with the accrual re-basing it posted."""

    __tablename__ = "loan_restructures"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("servicing_requests.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    effective_date: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    accrual_adjustment: Mapped[Decimal] = mapped_column(ExactDecimal())
    schedule_version_from: Mapped[int] = mapped_column(Integer)
    schedule_version_to: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryRow(Base):
    """Money received on a written-off loan (recovery income, not a repayment)."""

    __tablename__ = "recoveries"
    __table_args__ = (UniqueConstraint("loan_id", "external_ref", name="uq_recovery_external_ref"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    external_ref: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[date] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_by: Mapped[str] = mapped_column(String(100))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))


class CollectionCaseRow(Base):
    """Collections work on one delinquent loan, opened and closed by close of business.

    `open_loan_id` holds the loan id while the case is open and is NULL once closed; its
    unique constraint allows one open case per loan on every backend.
    """

    __tablename__ = "collection_cases"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    open_loan_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    opened_on: Mapped[date] = mapped_column(Date)
    opened_bucket: Mapped[str] = mapped_column(String(20))
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    close_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseActionRow(Base):
    """A call, message, visit or note an agent recorded on a case."""

    __tablename__ = "case_actions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(1000))
    performed_by: Mapped[str] = mapped_column(String(100))
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PromiseToPayRow(Base):
    """A borrower's promise to pay an amount by a date; close of business resolves it."""

    __tablename__ = "promises_to_pay"
    __table_args__ = (Index("ix_promises_to_pay_status_date", "status", "promised_on"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    promised_on: Mapped[date] = mapped_column(Date)
    made_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    resolved_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    amount_paid: Mapped[Decimal | None] = mapped_column(ExactDecimal(), nullable=True)


class ContactTaskRow(Base):
    """A contact a dunning rule scheduled; one per loan, rule and due date."""

    __tablename__ = "contact_tasks"
    __table_args__ = (
        UniqueConstraint("loan_id", "rule_key", "due_on", name="uq_contact_task_rule_date"),
        Index("ix_contact_tasks_status_due", "status", "due_on"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(20))
    rule_key: Mapped[str] = mapped_column(String(60))
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ImmutablePostingError(RuntimeError):
    """Raised when code tries to change a posting; corrections are reversals."""


@event.listens_for(PostingRow, "before_update")
@event.listens_for(PostingRow, "before_delete")
def _refuse_posting_change(_mapper: Mapper[Any], _connection: Any, target: PostingRow) -> None:
    raise ImmutablePostingError(f"posting {target.id} is immutable; post a reversal instead")


@event.listens_for(JournalEntryRow, "before_update")
@event.listens_for(JournalEntryRow, "before_delete")
def _refuse_entry_change(_mapper: Mapper[Any], _connection: Any, target: JournalEntryRow) -> None:
    raise ImmutablePostingError(f"journal entry {target.id} is immutable; post a reversal instead")
