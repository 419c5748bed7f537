"""Write-off and recovery: maker-checker servicing requests, recoveries, and the dates a
loan was written off or closed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Money = servicekit.types.ExactDecimal
Instant = servicekit.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("written_off_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
    op.create_table(
        "servicing_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", Instant(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", Instant(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_servicing_requests_loan_status", "servicing_requests", ["loan_id", "status"]
    )
    op.create_index(op.f("ix_servicing_requests_status"), "servicing_requests", ["status"])
    op.create_table(
        "recoveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("external_ref", sa.String(length=100), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("received_at", Instant(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loan_id", "external_ref", name="uq_recovery_external_ref"),
    )
    op.create_index(op.f("ix_recoveries_loan_id"), "recoveries", ["loan_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recoveries_loan_id"), table_name="recoveries")
    op.drop_table("recoveries")
    op.drop_index(op.f("ix_servicing_requests_status"), table_name="servicing_requests")
    op.drop_index("ix_servicing_requests_loan_status", table_name="servicing_requests")
    op.drop_table("servicing_requests")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("closed_on")
        batch_op.drop_column("written_off_on")
