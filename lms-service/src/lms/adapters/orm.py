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


class InstallmentRow(Base):
    """One installment of one schedule version, with what has been paid per component."""

    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "schedule_version", "number", name="uq_installment_number"),
        Index("ix_installments_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    schedule_version: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(ExactDecimal())
    interest: Mapped[Decimal] = mapped_column(ExactDecimal())
    fees: Mapped[Decimal] = mapped_column(ExactDecimal())
    penalties: Mapped[Decimal] = mapped_column(ExactDecimal())
    total: Mapped[Decimal] = mapped_column(ExactDecimal())
    paid_principal: Mapped[Decimal] = mapped_column(ExactDecimal())
    paid_interest: Mapped[Decimal] = mapped_column(ExactDecimal())
    paid_fees: Mapped[Decimal] = mapped_column(ExactDecimal())
    paid_penalties: Mapped[Decimal] = mapped_column(ExactDecimal())
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

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loan_id: Mapped[str] = mapped_column(ForeignKey("loans.id"), index=True)
    installment_number: Mapped[int] = mapped_column(Integer)
    component: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    charge_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))


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
