"""Restructuring: approved reschedules, payment holidays and re-agings, each an event in
the loan's replay, with the accrual and capitalisation it brought.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Money = servicekit.types.ExactDecimal
Instant = servicekit.types.UTCDateTime
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "loan_restructures",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("accrual_adjustment", Money(), nullable=False),
        sa.Column("schedule_version_from", sa.Integer(), nullable=False),
        sa.Column("schedule_version_to", sa.Integer(), nullable=False),
        sa.Column("entry_id", BigId, nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["request_id"], ["servicing_requests.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", name="uq_loan_restructures_request"),
    )
    op.create_index("ix_loan_restructures_loan_id", "loan_restructures", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_loan_restructures_loan_id", table_name="loan_restructures")
    op.drop_table("loan_restructures")
