"""Installments: what is paid and charged starts at zero, filled in by the database.

Booking then writes only the columns that carry figures (a third fewer values per row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO_COLUMNS = ("penalties", "paid_principal", "paid_interest", "paid_fees", "paid_penalties")


def upgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        for column in ZERO_COLUMNS:
            batch_op.alter_column(column, server_default="0.00")


def downgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        for column in ZERO_COLUMNS:
            batch_op.alter_column(column, server_default=None)
