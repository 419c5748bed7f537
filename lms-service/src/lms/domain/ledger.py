"""Double-entry journal entries: every money movement balances, postings are never changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from lms.domain.errors import UnbalancedEntryError


class Side(StrEnum):
    """Which side of an account a posting lands on."""

    DEBIT = "debit"
    CREDIT = "credit"


class Account(StrEnum):
    """The chart of accounts: assets, a liability, income and an expense."""

    LOANS_RECEIVABLE_PRINCIPAL = "loans_receivable_principal"
    INTEREST_RECEIVABLE = "interest_receivable"
    FEES_RECEIVABLE = "fees_receivable"
    PENALTIES_RECEIVABLE = "penalties_receivable"
    CASH_CLEARING = "cash_clearing"
    SUSPENSE = "suspense"
    INTEREST_INCOME = "interest_income"
    FEE_INCOME = "fee_income"
    PENALTY_INCOME = "penalty_income"
    WRITE_OFF_EXPENSE = "write_off_expense"
    RECOVERY_INCOME = "recovery_income"
    OVERPAYMENT_LIABILITY = "overpayment_liability"


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


# Where each allocated component of a payment is credited. Interest is recognised as
# income when close of business accrues it (debit interest_receivable, credit
# interest_income), so paid interest settles the receivable; paid before it is accrued,
# the receivable goes negative: interest received in advance.
COMPONENT_ACCOUNTS: dict[str, Account] = {
    "principal": Account.LOANS_RECEIVABLE_PRINCIPAL,
    "interest": Account.INTEREST_RECEIVABLE,
    "fees": Account.FEES_RECEIVABLE,
    "penalties": Account.PENALTIES_RECEIVABLE,
}
CHARGE_ACCOUNTS: dict[str, tuple[Account, Account]] = {
    "fees": (Account.FEES_RECEIVABLE, Account.FEE_INCOME),
    "penalties": (Account.PENALTIES_RECEIVABLE, Account.PENALTY_INCOME),
}


def payment_split(totals: Mapping[str, Decimal], credit: Decimal) -> dict[Account, Decimal]:
    """The accounts a payment credits: its allocation per component and its credit."""
    split: dict[Account, Decimal] = {}
    for component, amount in totals.items():
        if amount:
            account = COMPONENT_ACCOUNTS[component]
            split[account] = split.get(account, Decimal(0)) + amount
    if credit:
        split[Account.OVERPAYMENT_LIABILITY] = credit
    return split


def payment_lines(currency: str, amount: Decimal, split: Mapping[Account, Decimal]) -> JournalLines:
    """Cash received against what the payment paid (and any credit held for the borrower)."""
    postings = [PostingLine(Account.CASH_CLEARING, Side.DEBIT, amount)]
    postings += [PostingLine(a, Side.CREDIT, v) for a, v in sorted(split.items()) if v]
    return JournalLines(currency, tuple(postings))


def reversal_lines(
    currency: str, amount: Decimal, split: Mapping[Account, Decimal]
) -> JournalLines:
    """The exact mirror of a payment as it stands (after any reallocation)."""
    postings = [PostingLine(Account.CASH_CLEARING, Side.CREDIT, amount)]
    postings += [PostingLine(a, Side.DEBIT, v) for a, v in sorted(split.items()) if v]
    return JournalLines(currency, tuple(postings))


def reallocation_lines(
    currency: str, old: Mapping[Account, Decimal], new: Mapping[Account, Decimal]
) -> JournalLines | None:
    """Move a payment's credits from its old split to its new one; None if nothing moves.

    Both splits add up to the same payment amount, so the entry always balances.
    """
    postings: list[PostingLine] = []
    for account in sorted(set(old) | set(new)):
        delta = new.get(account, Decimal(0)) - old.get(account, Decimal(0))
        if delta > 0:
            postings.append(PostingLine(account, Side.CREDIT, delta))
        elif delta < 0:
            postings.append(PostingLine(account, Side.DEBIT, -delta))
    return JournalLines(currency, tuple(postings)) if postings else None


def charge_lines(currency: str, component: str, amount: Decimal) -> JournalLines:
    """A fee or penalty charged: the receivable against its income."""
    receivable, income = CHARGE_ACCOUNTS[component]
    return JournalLines(
        currency,
        (PostingLine(receivable, Side.DEBIT, amount), PostingLine(income, Side.CREDIT, amount)),
    )


def suspense_lines(currency: str, amount: Decimal) -> JournalLines:
    """Money on the bank statement that matches no payment waits in suspense."""
    return JournalLines(
        currency,
        (
            PostingLine(Account.CASH_CLEARING, Side.DEBIT, amount),
            PostingLine(Account.SUSPENSE, Side.CREDIT, amount),
        ),
    )


def _signed_transfer(
    currency: str, amount: Decimal, debit: Account, credit: Account
) -> JournalLines | None:
    """`amount` from `credit` to `debit` when positive, the mirror when negative; None for 0."""
    if amount == 0:
        return None
    if amount < 0:
        debit, credit = credit, debit
    return JournalLines(
        currency,
        (
            PostingLine(debit, Side.DEBIT, abs(amount)),
            PostingLine(credit, Side.CREDIT, abs(amount)),
        ),
    )


def capitalisation_lines(currency: str, amount: Decimal) -> JournalLines | None:
    """Interest added to the principal (positive: principal receivable against interest
    income) or taken back out of it (negative: the mirror); None for zero."""
    return _signed_transfer(
        currency, amount, Account.LOANS_RECEIVABLE_PRINCIPAL, Account.INTEREST_INCOME
    )


def interest_accrual_lines(currency: str, amount: Decimal) -> JournalLines | None:
    """Interest earned (positive: receivable against income) or taken back (negative:
    the mirror); None for zero. Used for the daily accrual and the closing true-up."""
    return _signed_transfer(currency, amount, Account.INTEREST_RECEIVABLE, Account.INTEREST_INCOME)
