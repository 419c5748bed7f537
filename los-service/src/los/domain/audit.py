"""The tamper-evident audit trail: each record hashes its content and the previous hash.

A stream (one per application, one per applicant) is a hash chain: record n stores
hash(n-1) and its own hash over (stream, seq, actor, action, at, before, after, prev_hash)
in canonical JSON. Editing, deleting or reordering any past record breaks every later
link, which `verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Every application's audit stream is this prefix and its id.
APPLICATION_STREAM_PREFIX = "application:"
GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record as stored."""

    stream: str
    seq: int
    actor: str
    action: str
    at: datetime
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    prev_hash: str
    hash: str


def record_hash(
    stream: str,
    seq: int,
    actor: str,
    action: str,
    at: datetime,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    prev_hash: str,
) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, UTC microsecond timestamp)."""
    body = {
        "stream": stream,
        "seq": seq,
        "actor": actor,
        "action": action,
        "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The verdict on a chain: intact, or the first record that does not verify."""

    valid: bool
    records: int
    first_invalid_seq: int | None = None
    problem: str | None = None


def verify_chain(records: Sequence[AuditRecord]) -> ChainCheck:
    """Recompute every hash and link in order of `seq`."""
    previous = GENESIS_HASH
    for expected_seq, r in enumerate(sorted(records, key=lambda x: x.seq), start=1):
        if r.seq != expected_seq:
            return ChainCheck(False, len(records), r.seq, "sequence gap")
        if r.prev_hash != previous:
            return ChainCheck(False, len(records), r.seq, "broken link to the previous record")
        computed = record_hash(
            r.stream, r.seq, r.actor, r.action, r.at, r.before, r.after, r.prev_hash
        )
        if computed != r.hash:
            return ChainCheck(False, len(records), r.seq, "content does not match its hash")
        previous = r.hash
    return ChainCheck(True, len(records))
