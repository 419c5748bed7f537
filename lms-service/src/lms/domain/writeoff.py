"""Write-off, recovery and closure: the entries, and the four-eyes rule for approvals.

Writing a loan off takes everything it still owes off the books in one entry: the principal
to the write-off expense; interest, fees and penalties that were recognised as income but
never paid come back out of that income. Money received later on a written-off loan is a
recovery: income of its own, not a repayment (the loan owes nothing any more).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum

from lms.domain.errors import FourEyesViolationError, NothingToWriteOffError
from lms.domain.ledger import Account, JournalLines, PostingLine, Side

ZERO = Decimal(0)

# component -> (the receivable, the account that takes it off the books)
WRITE_OFF_ACCOUNTS: dict[str, tuple[Account, Account]] = {
    "principal": (Account.LOANS_RECEIVABLE_PRINCIPAL, Account.WRITE_OFF_EXPENSE),
    "interest": (Account.INTEREST_RECEIVABLE, Account.INTEREST_INCOME),
    "fees": (Account.FEES_RECEIVABLE, Account.FEE_INCOME),
    "penalties": (Account.PENALTIES_RECEIVABLE, Account.PENALTY_INCOME),
}


class RequestKind(StrEnum):
    """What a servicing request asks for (each needs a second person's approval)."""

    WRITE_OFF = "write_off"
    RESCHEDULE = "reschedule"
    PAYMENT_HOLIDAY = "payment_holiday"
    RE_AGE = "re_age"


RESTRUCTURE_KINDS = (
    RequestKind.RESCHEDULE.value,
    RequestKind.PAYMENT_HOLIDAY.value,
    RequestKind.RE_AGE.value,
)
"""Request kinds that restructure the loan (one pending at a time per loan)."""


class RequestStatus(StrEnum):
    """Where a servicing request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_four_eyes(requested_by: str, decided_by: str) -> None:
    """The person who asked may not decide."""
    if requested_by == decided_by:
        raise FourEyesViolationError(
            f"{decided_by!r} requested this; another person must approve or reject it"
        )


def write_off_lines(currency: str, balances: Mapping[str, Decimal]) -> JournalLines:
    """Close every receivable of the loan: positive balances are credited away (against
    the expense or the income they came from); a negative interest balance (interest paid
    before it accrued) is recognised as income."""
    postings: list[PostingLine] = []
    for component, (receivable, counter) in WRITE_OFF_ACCOUNTS.items():
        balance = balances.get(component, ZERO)
        if balance > 0:
            postings.append(PostingLine(counter, Side.DEBIT, balance))
            postings.append(PostingLine(receivable, Side.CREDIT, balance))
        elif balance < 0:
            postings.append(PostingLine(receivable, Side.DEBIT, -balance))
            postings.append(PostingLine(counter, Side.CREDIT, -balance))
    if not postings:
        raise NothingToWriteOffError("the loan owes nothing: there is nothing to write off")
    return JournalLines(currency, tuple(postings))


def recovery_lines(currency: str, amount: Decimal) -> JournalLines:
    """Cash received on a written-off loan, as recovery income."""
    return JournalLines(
        currency,
        (
            PostingLine(Account.CASH_CLEARING, Side.DEBIT, amount),
            PostingLine(Account.RECOVERY_INCOME, Side.CREDIT, amount),
        ),
    )
