"""Origination: checks, documents, the audit trail, staged reviews, policy decisions.

Also re-keys applicants by issuing country: national_id_key becomes
"<country>:<normalised id>" (the country comes from the stored address).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.types import ExactDecimal, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("name_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("possible_duplicate_of", sa.JSON(), nullable=True))
        batch_op.create_index("ix_applicants_date_of_birth", ["date_of_birth"], unique=False)
    applicants = sa.table(
        "applicants",
        sa.column("id", sa.String),
        sa.column("address", sa.JSON),
        sa.column("national_id_key", sa.String),
        sa.column("id_country", sa.String),
    )
    bind = op.get_bind()
    for row in bind.execute(
        sa.select(applicants.c.id, applicants.c.address, applicants.c.national_id_key)
    ):
        country = str((row.address or {}).get("country", "ZZ"))
        key = row.national_id_key
        if ":" not in key:
            key = f"{country}:{key}"
        bind.execute(
            applicants.update()
            .where(applicants.c.id == row.id)
            .values(national_id_key=key, id_country=country)
        )

    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("approved_amount", ExactDecimal(), nullable=True))
        batch_op.add_column(sa.Column("approved_term", sa.Integer(), nullable=True))
        batch_op.create_index("ix_applications_assignee", ["assignee"], unique=False)

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pd", ExactDecimal(), nullable=True))
        batch_op.add_column(sa.Column("rules", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("figures", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scorecard_version", sa.String(length=40), nullable=True))

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("counter_amount", ExactDecimal(), nullable=True))
        batch_op.add_column(sa.Column("counter_term", sa.Integer(), nullable=True))

    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aprc", ExactDecimal(), nullable=True))

    op.create_table(
        "checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("applicant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index("ix_checks_application_id", ["application_id"], unique=False)

    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("doc_type", sa.String(length=60), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index("ix_documents_application_id", ["application_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stream", sa.String(length=80), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stream", "seq", name="uq_audit_stream_seq"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_stream", ["stream"], unique=False)


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("documents")
    op.drop_table("checks")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_column("aprc")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("counter_term")
        batch_op.drop_column("counter_amount")
        batch_op.drop_column("stage")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("scorecard_version")
        batch_op.drop_column("fingerprint")
        batch_op.drop_column("figures")
        batch_op.drop_column("rules")
        batch_op.drop_column("pd")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index("ix_applications_assignee")
        batch_op.drop_column("approved_term")
        batch_op.drop_column("approved_amount")
        batch_op.drop_column("assignee")
    with op.batch_alter_table("applicants", schema=None) as batch_op:
        batch_op.drop_index("ix_applicants_date_of_birth")
        batch_op.drop_column("possible_duplicate_of")
        batch_op.drop_column("name_key")
        batch_op.drop_column("id_country")
