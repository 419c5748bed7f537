"""Collections: cases on delinquent loans, case actions, promises to pay and the contact
tasks dunning rules schedule.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import servicekit.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Money = servicekit.types.ExactDecimal
Instant = servicekit.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "collection_cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("open_loan_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("opened_bucket", sa.String(length=20), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=20), nullable=True),
        sa.Column("assigned_to", sa.String(length=100), nullable=True),
        sa.Column("assigned_at", Instant(timezone=True), nullable=True),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_loan_id"),
    )
    op.create_index(op.f("ix_collection_cases_loan_id"), "collection_cases", ["loan_id"])
    op.create_index(op.f("ix_collection_cases_status"), "collection_cases", ["status"])
    op.create_index(op.f("ix_collection_cases_assigned_to"), "collection_cases", ["assigned_to"])

    op.create_table(
        "case_actions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("performed_by", sa.String(length=100), nullable=False),
        sa.Column("performed_at", Instant(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["collection_cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_case_actions_case_id"), "case_actions", ["case_id"])

    op.create_table(
        "promises_to_pay",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("amount_paid", Money(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["collection_cases.id"]),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_promises_to_pay_case_id"), "promises_to_pay", ["case_id"])
    op.create_index(op.f("ix_promises_to_pay_loan_id"), "promises_to_pay", ["loan_id"])
    op.create_index("ix_promises_to_pay_status_date", "promises_to_pay", ["status", "promised_on"])

    op.create_table(
        "contact_tasks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("rule_key", sa.String(length=60), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", Instant(timezone=True), nullable=False),
        sa.Column("done_by", sa.String(length=100), nullable=True),
        sa.Column("done_at", Instant(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["collection_cases.id"]),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loan_id", "rule_key", "due_on", name="uq_contact_task_rule_date"),
    )
    op.create_index(op.f("ix_contact_tasks_case_id"), "contact_tasks", ["case_id"])
    op.create_index("ix_contact_tasks_status_due", "contact_tasks", ["status", "due_on"])


def downgrade() -> None:
    op.drop_index("ix_contact_tasks_status_due", table_name="contact_tasks")
    op.drop_index(op.f("ix_contact_tasks_case_id"), table_name="contact_tasks")
    op.drop_table("contact_tasks")
    op.drop_index("ix_promises_to_pay_status_date", table_name="promises_to_pay")
    op.drop_index(op.f("ix_promises_to_pay_loan_id"), table_name="promises_to_pay")
    op.drop_index(op.f("ix_promises_to_pay_case_id"), table_name="promises_to_pay")
    op.drop_table("promises_to_pay")
    op.drop_index(op.f("ix_case_actions_case_id"), table_name="case_actions")
    op.drop_table("case_actions")
    op.drop_index(op.f("ix_collection_cases_assigned_to"), table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_status"), table_name="collection_cases")
    op.drop_index(op.f("ix_collection_cases_loan_id"), table_name="collection_cases")
    op.drop_table("collection_cases")
