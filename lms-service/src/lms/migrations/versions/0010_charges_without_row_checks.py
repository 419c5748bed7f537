"""Penalty charges without per-row foreign-key checks.

``charges`` loses its two foreign keys (``loan_id`` to loans, ``entry_id`` to
journal_entries). Close of business writes a chunk's penalty charges in one statement that
takes each loan id from a loans row it holds locked and each entry id from the entry the
same statement writes; servicing writes a charge beside the entry it has just written for
the loan it holds locked. Loans and journal entries are never deleted. The per-row checks
were about a third of the penalty step's time (measured with ``auto_explain`` on a
10,000-loan chunk of the benchmark: 127 ms of 420 ms for 2,145 charges). The ledger
reconciliation (``GET /v1/ledger/reconciliation``) reports any charge or accrual detail
row whose loan or entry does not exist, so integrity is still checked, set-based.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's reflected foreign keys have no names; batch mode names them by this convention
# so they can be dropped (PostgreSQL's carry its own default names, used below).
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s"}
_FOREIGN_KEYS = (("loan_id", "loans", "id"), ("entry_id", "journal_entries", "id"))


def _fk_name(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"charges_{column}_fkey"
    return f"fk_charges_{column}"


def upgrade() -> None:
    with op.batch_alter_table("charges", naming_convention=_NAMING) as batch_op:
        for column, _, _ in _FOREIGN_KEYS:
            batch_op.drop_constraint(_fk_name(column), type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("charges", naming_convention=_NAMING) as batch_op:
        for column, table, remote in _FOREIGN_KEYS:
            batch_op.create_foreign_key(_fk_name(column), table, [column], [remote])
