"""Double-entry journal entries: every money movement balances, postings are never changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from lms.domain.errors import UnbalancedEntryError


class Side(StrEnum):
    """Which side of an account a posting lands on."""

    DEBIT = "debit"
    CREDIT = "credit"


class Account(StrEnum):
    """The chart of accounts the LMS posts to so far."""

    LOANS_RECEIVABLE_PRINCIPAL = "loans_receivable_principal"
    CASH_CLEARING = "cash_clearing"
    FEE_INCOME = "fee_income"


@dataclass(frozen=True, slots=True)
class PostingLine:
    """One side of an entry: a positive amount debited or credited to an account."""

    account: Account
    side: Side
    amount: Decimal


@dataclass(frozen=True, slots=True)
class JournalLines:
    """The postings of one entry, checked to balance when built."""

    currency: str
    postings: tuple[PostingLine, ...]

    def __post_init__(self) -> None:
        if not self.postings:
            raise UnbalancedEntryError("a journal entry needs postings")
        if any(p.amount <= 0 for p in self.postings):
            raise UnbalancedEntryError("posting amounts must be positive")
        if self.debits != self.credits:
            raise UnbalancedEntryError(f"debits {self.debits} differ from credits {self.credits}")

    @property
    def debits(self) -> Decimal:
        """Sum of debit postings."""
        return sum((p.amount for p in self.postings if p.side is Side.DEBIT), Decimal(0))

    @property
    def credits(self) -> Decimal:
        """Sum of credit postings."""
        return sum((p.amount for p in self.postings if p.side is Side.CREDIT), Decimal(0))


def disbursement_lines(
    currency: str, principal: Decimal, net_disbursed: Decimal, deducted_fees: Sequence[Decimal]
) -> JournalLines:
    """Debit the receivable with the principal; credit cash paid out and fees kept back."""
    postings = [
        PostingLine(Account.LOANS_RECEIVABLE_PRINCIPAL, Side.DEBIT, principal),
        PostingLine(Account.CASH_CLEARING, Side.CREDIT, net_disbursed),
    ]
    postings += [PostingLine(Account.FEE_INCOME, Side.CREDIT, fee) for fee in deducted_fees if fee]
    return JournalLines(currency, tuple(postings))
