"""Servicing: payments and their allocations, charges, bank statements, and an append-only
journal enforced by the database itself.

Journal entries may now belong to no loan (statement money in suspense) and carry a
reference (payment, charge or statement line). Triggers refuse UPDATE and DELETE on
journal_entries and postings on both backends: corrections are reversing entries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = servicekit.types.ExactDecimal
Instant = servicekit.types.UTCDateTime
IMMUTABLE = ("journal_entries", "postings")

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION lms_refuse_ledger_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are immutable: % on % refused (post a reversal instead)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'raise_exception';
END;
$$ LANGUAGE plpgsql
"""


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in IMMUTABLE:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lms_refuse_ledger_change()"
            )
    elif dialect == "sqlite":
        for table in IMMUTABLE:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable: {action} on "
                    f"{table} refused (post a reversal instead)'); END"
                )


def _drop_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in IMMUTABLE:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        op.execute("DROP FUNCTION IF EXISTS lms_refuse_ledger_change()")
    elif dialect == "sqlite":
        for table in IMMUTABLE:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credit_balance", Money(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("event_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("paid_off_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closing_payment_id", sa.String(length=64), nullable=True))

    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.alter_column("loan_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("reference", sa.String(length=100), nullable=True))
        batch_op.create_index(batch_op.f("ix_journal_entries_reference"), ["reference"])

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("external_ref", sa.String(length=100), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("credit", Money(), nullable=False),
        sa.Column("closed_loan", sa.Boolean(), nullable=False),
        sa.Column("received_at", Instant(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("reversed_at", Instant(timezone=True), nullable=True),
        sa.Column("reversal_entry_id", BigId, nullable=True),
        sa.Column("statement_line_id", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.ForeignKeyConstraint(["reversal_entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loan_id", "external_ref", name="uq_payment_external_ref"),
    )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payments_loan_id"), ["loan_id"])
        batch_op.create_index(batch_op.f("ix_payments_external_ref"), ["external_ref"])

    op.create_table(
        "payment_allocations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("component", sa.String(length=20), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("allocated_at", Instant(timezone=True), nullable=False),
        sa.Column("entry_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_allocations_payment_id"), ["payment_id"])
        batch_op.create_index(batch_op.f("ix_payment_allocations_loan_id"), ["loan_id"])

    op.create_table(
        "charges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("component", sa.String(length=20), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("charge_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charges_loan_id"), ["loan_id"])

    op.create_table(
        "bank_statements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("imported_at", Instant(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_hash"),
    )
    op.create_table(
        "statement_lines",
        sa.Column("line_id", sa.String(length=100), nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("loan_id", sa.String(length=64), nullable=True),
        sa.Column("difference", Money(), nullable=True),
        sa.Column("entry_id", BigId, nullable=True),
        sa.ForeignKeyConstraint(["statement_id"], ["bank_statements.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("line_id"),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statement_lines_statement_id"), ["statement_id"])

    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_lines_statement_id"))
    op.drop_table("statement_lines")
    op.drop_table("bank_statements")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charges_loan_id"))
    op.drop_table("charges")
    with op.batch_alter_table("payment_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_allocations_loan_id"))
        batch_op.drop_index(batch_op.f("ix_payment_allocations_payment_id"))
    op.drop_table("payment_allocations")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payments_external_ref"))
        batch_op.drop_index(batch_op.f("ix_payments_loan_id"))
    op.drop_table("payments")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_reference"))
        batch_op.drop_column("reference")
        batch_op.alter_column("loan_id", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("closing_payment_id")
        batch_op.drop_column("paid_off_on")
        batch_op.drop_column("event_seq")
        batch_op.drop_column("credit_balance")
