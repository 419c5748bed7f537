"""Close of business: runs per business date with chunk checkpoints, the interest accrual
detail, delinquency history, days past due with the bucket stored on each loan, and an
index to find an installment's late fee among its charges.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = servicekit.types.ExactDecimal
Instant = servicekit.types.UTCDateTime

# PostgreSQL only: n / d (n >= 0, d > 0, integers: amounts in minor units) rounded to an
# integer with a loanmath rounding mode, so close of business can accrue in set-based SQL.
# It mirrors lms.domain.cob.round_fraction; SQLite runs the domain function instead.
PG_ROUND_DIV = """
CREATE OR REPLACE FUNCTION lms_round_div(n bigint, d bigint, mode text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT n / d + CASE
        WHEN n % d = 0 THEN 0
        WHEN mode = 'half_even' THEN CASE
            WHEN 2 * (n % d) > d OR (2 * (n % d) = d AND (n / d) % 2 = 1) THEN 1 ELSE 0 END
        WHEN mode = 'half_up' THEN CASE WHEN 2 * (n % d) >= d THEN 1 ELSE 0 END
        WHEN mode = 'half_down' THEN CASE WHEN 2 * (n % d) > d THEN 1 ELSE 0 END
        WHEN mode IN ('down', 'floor') THEN 0
        ELSE 1
    END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_ROUND_DIV)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("days_past_due", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "delinquency_bucket",
                sa.String(length=20),
                nullable=False,
                server_default="current",
            )
        )

    op.create_index(
        "ix_charges_installment_reason", "charges", ["loan_id", "installment_number", "reason"]
    )

    op.create_table(
        "cob_runs",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("steps_done", sa.JSON(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("loans_processed", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", Instant(timezone=True), nullable=False),
        sa.Column("finished_at", Instant(timezone=True), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("business_date"),
    )
    op.create_index(op.f("ix_cob_runs_status"), "cob_runs", ["status"])

    op.create_table(
        "cob_chunks",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("first_loan_id", sa.String(length=64), nullable=False),
        sa.Column("last_loan_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("loans_processed", sa.Integer(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=True),
        sa.Column("finished_at", Instant(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["business_date"], ["cob_runs.business_date"]),
        sa.PrimaryKeyConstraint("business_date", "chunk_no"),
    )

    op.create_table(
        "interest_accruals",
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("loan_id", "business_date"),
    )
    op.create_index(op.f("ix_interest_accruals_entry_id"), "interest_accruals", ["entry_id"])

    op.create_table(
        "delinquency_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("from_bucket", sa.String(length=20), nullable=False),
        sa.Column("to_bucket", sa.String(length=20), nullable=False),
        sa.Column("overdue_amount", Money(), nullable=False),
        sa.Column("non_performing", sa.Boolean(), nullable=False),
        sa.Column("changed_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_delinquency_history_loan_id"), "delinquency_history", ["loan_id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS lms_round_div(bigint, bigint, text)")
    op.drop_index(op.f("ix_delinquency_history_loan_id"), table_name="delinquency_history")
    op.drop_table("delinquency_history")
    op.drop_index(op.f("ix_interest_accruals_entry_id"), table_name="interest_accruals")
    op.drop_table("interest_accruals")
    op.drop_table("cob_chunks")
    op.drop_index(op.f("ix_cob_runs_status"), table_name="cob_runs")
    op.drop_table("cob_runs")
    op.drop_index("ix_charges_installment_reason", table_name="charges")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("delinquency_bucket")
        batch_op.drop_column("days_past_due")
