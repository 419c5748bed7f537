"""Renewals and top-ups: an application may name an existing loan it pays off first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refinances_loan_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_applications_refinances_loan_id", ["refinances_loan_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_refinances_loan_id")
        batch_op.drop_column("refinances_loan_id")
