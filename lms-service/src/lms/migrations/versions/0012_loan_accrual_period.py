"""The installment period a loan accrues in, kept on the loan by close of business.

Four nullable columns on ``loans``: ``accrual_version`` (the schedule version),
``accrual_start`` (the period's first day, exclusive: the previous installment's due date
or the disbursement date), ``accrual_due`` (the installment's due date) and
``accrual_interest`` (its scheduled interest). PostgreSQL's accrual statement uses them
while ``accrual_version`` is the loan's schedule version and ``accrual_start < business
date <= accrual_due``; otherwise it finds the period in the schedule, as before, and stores
it. The installments of one schedule version never change their dates or interest (a
changed schedule is a new version), so a stored period that passes the check is the one
the schedule gives. Most loans stay in the same period from one day to the next, and for
them the day's accrual reads the loan row only, not two installments.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("accrual_version", "accrual_start", "accrual_due", "accrual_interest")


def upgrade() -> None:
    op.add_column("loans", sa.Column("accrual_version", sa.Integer(), nullable=True))
    op.add_column("loans", sa.Column("accrual_start", sa.Date(), nullable=True))
    op.add_column("loans", sa.Column("accrual_due", sa.Date(), nullable=True))
    op.add_column(
        "loans",
        sa.Column("accrual_interest", servicekit.types.ExactDecimal(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("loans") as batch_op:
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column)
