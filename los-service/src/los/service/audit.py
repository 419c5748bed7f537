"""Writing and reading the audit trail; every use case that changes something calls `record`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from los.adapters.orm import AuditRow
from los.adapters.repository import ApplicationRepository, AuditRepository
from los.domain.audit import (
    APPLICATION_STREAM_PREFIX,
    GENESIS_HASH,
    AuditRecord,
    ChainCheck,
    record_hash,
    verify_chain,
)
from los.domain.errors import ApplicationNotFoundError, ConcurrentUpdateError
from servicekit.db import UnitOfWork, insert_rows


def application_stream(application_id: str) -> str:
    """The audit stream of an application."""
    return f"{APPLICATION_STREAM_PREFIX}{application_id}"


def applicant_stream(applicant_id: str) -> str:
    """The audit stream of an applicant (data changes, never the raw personal data)."""
    return f"applicant:{applicant_id}"


def chained(
    stream: str,
    head: tuple[int, str] | None,
    *,
    actor: str,
    action: str,
    at: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditRow:
    """The record that follows `head` (seq, hash) on a stream, or starts it (None); not
    written yet (`append` writes it)."""
    seq = 1 if head is None else head[0] + 1
    prev = GENESIS_HASH if head is None else head[1]
    before_d = None if before is None else dict(before)
    after_d = None if after is None else dict(after)
    return AuditRow(
        stream=stream,
        seq=seq,
        actor=actor,
        action=action,
        at=at,
        before=before_d,
        after=after_d,
        prev_hash=prev,
        hash=record_hash(stream, seq, actor, action, at, before_d, after_d, prev),
    )


async def append(session: AsyncSession, rows: Sequence[AuditRow]) -> None:
    """Write chained records in the caller's transaction, after the changes staged before.

    Staged changes go first: the application's version-checked update makes a concurrent
    use case lose there (409 `concurrent_update`) before its record could take a seq. A
    record whose (stream, seq) another transaction took in the meantime (a head read before
    someone else appended) is the same lost race, and is answered the same way: the chain
    never forks, (stream, seq) is unique.
    """
    await session.flush()
    try:
        await insert_rows(session, rows)
    except IntegrityError as exc:
        raise ConcurrentUpdateError(
            "The application's audit trail moved on meanwhile; read it again and retry."
        ) from exc


async def record(
    session: AsyncSession,
    stream: str,
    *,
    actor: str,
    action: str,
    at: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    new_stream: bool = False,
    previous: AuditRow | None = None,
    head: tuple[int, str] | None = None,
) -> AuditRow:
    """Append one record to a stream's hash chain, in the caller's transaction.

    The chain continues from the stream's newest record, read here unless the caller knows
    it: `previous`, the record it appended earlier in this transaction; `head`, the
    stream's (seq, hash) read with the row the use case changes; or `new_stream` for the
    first record of something created in this transaction (its id is new). Either way a
    wrong guess cannot fork the chain (see `append`).
    """
    known: tuple[int, str] | None
    if previous is not None:
        if previous.stream != stream:
            raise ValueError(f"record {previous.stream}#{previous.seq} is not of stream {stream}")
        known = (previous.seq, previous.hash)
    elif head is not None or new_stream:
        known = head
    else:
        known = await AuditRepository(session).head(stream)
    row = chained(stream, known, actor=actor, action=action, at=at, before=before, after=after)
    await append(session, [row])
    return row


def to_record(row: AuditRow) -> AuditRecord:
    """The domain form of a stored row."""
    return AuditRecord(
        row.stream,
        row.seq,
        row.actor,
        row.action,
        row.at,
        row.before,
        row.after,
        row.prev_hash,
        row.hash,
    )


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """A page of an application's audit trail and the verdict on the whole chain."""

    records: Sequence[AuditRow]
    total: int
    check: ChainCheck


async def get_audit_trail(
    uow: UnitOfWork, application_id: str, *, limit: int, offset: int
) -> AuditTrail:
    """The application's records, oldest first, with the chain verified end to end."""
    if await ApplicationRepository(uow.session).get(application_id) is None:
        raise ApplicationNotFoundError(f"No application with id {application_id}.")
    repo = AuditRepository(uow.session)
    stream = application_stream(application_id)
    rows, total = await repo.list(stream, limit, offset)
    check = verify_chain([to_record(r) for r in await repo.all(stream)])
    return AuditTrail(rows, total, check)
