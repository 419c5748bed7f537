"""The hash chain: intact chains verify, any edit, deletion or reordering is detected."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from los.domain.audit import GENESIS_HASH, AuditRecord, record_hash, verify_chain

T0 = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def _chain(n: int) -> list[AuditRecord]:
    records, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        before, after = {"status": "draft"}, {"status": f"s{seq}"}
        h = record_hash("application:a", seq, "u", "act", at, before, after, prev)
        records.append(AuditRecord("application:a", seq, "u", "act", at, before, after, prev, h))
        prev = h
    return records


def test_intact_chain_verifies():
    check = verify_chain(_chain(5))
    assert check.valid
    assert check.records == 5


def test_edited_past_record_is_detected():
    chain = _chain(5)
    chain[1] = replace(chain[1], after={"status": "approved"})
    check = verify_chain(chain)
    assert (check.valid, check.first_invalid_seq) == (False, 2)
    assert check.problem == "content does not match its hash"


def test_rehashed_edit_breaks_the_next_link():
    chain = _chain(5)
    r = replace(chain[1], actor="mallory")
    chain[1] = replace(
        r,
        hash=record_hash(r.stream, r.seq, r.actor, r.action, r.at, r.before, r.after, r.prev_hash),
    )
    check = verify_chain(chain)
    assert (check.valid, check.first_invalid_seq) == (False, 3)


def test_deleted_record_is_detected():
    chain = _chain(5)
    del chain[2]
    assert verify_chain(chain).first_invalid_seq == 4
