"""Room on the page for close of business's daily updates; one duplicate index fewer.

- PostgreSQL: ``loans`` is stored with fillfactor 80 and ``installments`` with 90. Every
  night close of business rewrites a few columns of many rows: each overdue installment's
  penalties and total, each charged loan's event_seq, each delinquent loan's days past due
  and bucket. None of those columns is indexed, so PostgreSQL can write the new row
  version on the same page without touching any index (a HOT update), but only if the
  page has room; rows loaded by booking's COPY fill their pages completely. With the room,
  the benchmark's penalty and delinquency statements update in place (measured on its
  100,000-loan seed, see docs/PERFORMANCE.md). The setting applies to pages written from
  now on; an existing database gets it for old rows after ``VACUUM FULL`` (or pg_repack)
  of the two tables. Installments are written once per loan and mostly read, hence the
  smaller reserve; SQLite has no such setting.
- ``ix_charges_loan_id`` goes: ``ix_charges_installment_reason`` (loan_id,
  installment_number, reason) serves every lookup by loan id, and each charge written
  updates one index fewer.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = {"loans": 80, "installments": 90}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, percent in FILLFACTOR.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")
    op.drop_index("ix_charges_loan_id", table_name="charges")


def downgrade() -> None:
    op.create_index("ix_charges_loan_id", "charges", ["loan_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTOR:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
