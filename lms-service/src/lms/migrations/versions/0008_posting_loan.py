"""Postings may name their own loan: an entry that spans two loans (a renewal or top-up
settles the old loan out of the new one's disbursement) tags the old loan's postings.
NULL means the entry's loan, so every posting written before keeps its meaning.

No foreign key: it would queue a check for every posting booking writes (almost all of them
NULL); the writer takes the loan from a row it has just read in the same transaction.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends: SQLite's batch mode would copy the table and drop
    # the triggers that keep postings immutable, and a nullable column needs no rewrite.
    op.add_column("postings", sa.Column("loan_id", sa.String(length=64), nullable=True))
    op.create_index("ix_postings_loan_id", "postings", ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_postings_loan_id", table_name="postings")
    op.drop_column("postings", "loan_id")
