"""Tables every service owns a copy of: outbox, inbox, dead letters and idempotency keys."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from servicekit.types import UTCDateTime

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def define_infrastructure_tables(metadata: MetaData) -> dict[str, Table]:
    """Attach the outbox, inbox, dead-letter and idempotency tables to a service's metadata."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("aggregate_id", String(64), nullable=False),
        Column("sequence", Integer, nullable=False),
        Column("key", String(200), nullable=False),
        Column("headers", JSON, nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        UniqueConstraint("aggregate_id", "sequence", name="uq_outbox_aggregate_sequence"),
    )
    Index("ix_outbox_pending", outbox.c.published_at, outbox.c.id)
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("subject", String(64), nullable=True),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=True),
        Column("headers", JSON, nullable=False),
        Column("error_code", String(100), nullable=False),
        Column("reason", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", UTCDateTime(), nullable=False),
        Column("status", String(20), nullable=False, server_default="pending"),
        Column("redriven_at", UTCDateTime(), nullable=True),
        UniqueConstraint(
            "topic", "partition", "offset", "consumer", name="uq_dead_letter_position"
        ),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(300), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("state", String(20), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_headers", JSON, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False),
    )
    return {
        "outbox": outbox,
        "inbox": inbox,
        "dead_letters": dead_letters,
        "idempotency_keys": idempotency,
    }


# servicekit's own handle on those tables for its queries; each service's metadata
# holds a copy of the same definitions for its migrations.
_INFRA = define_infrastructure_tables(MetaData())
OUTBOX = _INFRA["outbox"]
INBOX = _INFRA["inbox"]
DEAD_LETTERS = _INFRA["dead_letters"]
IDEMPOTENCY_KEYS = _INFRA["idempotency_keys"]
