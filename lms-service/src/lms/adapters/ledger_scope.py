"""Which loan a posting belongs to, in one place for every per-loan ledger query.

A posting names its own loan (`postings.loan_id`) only when it is not the entry's loan: an
entry spanning two loans (a renewal settling the old loan out of the new one's disbursement)
tags the old loan's postings. NULL means the entry's loan, so a posting's loan is
``coalesce(postings.loan_id, journal_entries.loan_id)``.

Per-loan reads select through both loan indexes (the entries' and the postings'), never by
the coalesce alone, which no index serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, func, or_, select, union, union_all

from lms.adapters.orm import JournalEntryRow, PostingRow

__all__ = ["entry_ids_touching", "loan_postings", "posting_loan_id"]


def posting_loan_id() -> ColumnElement[Any]:
    """The loan a posting belongs to: its own `loan_id`, or (NULL) its entry's."""
    return func.coalesce(PostingRow.loan_id, JournalEntryRow.loan_id)


def entry_ids_touching(loan_ids: Sequence[str]) -> CompoundSelect[Any]:
    """Ids of the entries with a posting on any of these loans: the loans' own entries and
    other loans' entries with postings tagged to them."""
    ids = list(loan_ids)
    return union(
        select(JournalEntryRow.id).where(JournalEntryRow.loan_id.in_(ids)),
        select(PostingRow.entry_id).where(PostingRow.loan_id.in_(ids)),
    )


def loan_postings(columns: Sequence[Any], loan_id: str, *where: Any) -> CompoundSelect[Any]:
    """`columns` (of postings and their entries) over exactly the postings of one loan.

    Two disjoint halves, each served by an index: postings of the loan's own entries that
    are not tagged to another loan, and postings tagged to the loan in other entries.
    """

    def half(*conditions: Any) -> Select[Any]:
        return (
            select(*columns)
            .select_from(PostingRow)
            .join(JournalEntryRow, JournalEntryRow.id == PostingRow.entry_id)
            .where(*conditions, *where)
        )

    return union_all(
        half(
            JournalEntryRow.loan_id == loan_id,
            or_(PostingRow.loan_id.is_(None), PostingRow.loan_id == loan_id),
        ),
        half(
            PostingRow.loan_id == loan_id,
            or_(JournalEntryRow.loan_id.is_(None), JournalEntryRow.loan_id != loan_id),
        ),
    )
