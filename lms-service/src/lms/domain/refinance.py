"""Renewals and top-ups: a new loan whose disbursement pays an existing loan off first.

Booked from a LoanDisbursed that names `settles_loan_id`, in the booking's transaction:
the old loan takes a payment of exactly its payoff amount on the new loan's disbursement
date, and the money moves in ONE balanced entry that spans both loans (the entry is the
new loan's disbursement; the old loan's postings are tagged with its id):

    Dr loans_receivable_principal  (new loan)  principal
       Cr cash_clearing            (new loan)  net_disbursed - payoff   (omitted when 0)
       Cr fee_income               (new loan)  each deducted fee
       Cr <receivables>            (old loan)  the payoff as allocated (principal,
                                               interest, fees, penalties)

Policy: refuse, never half-book. If the old loan is unknown, not active, in another
currency, disbursed after the new one, or owes more than the new loan pays out, the event
is refused as a permanent business error (dead letter with the code below) and nothing of
it is booked: neither the new loan nor a payment on the old one. A lender re-issues the
offer (or books a plain loan) once the cause is fixed, and re-drives the dead letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lms.domain.errors import LmsError
from lms.domain.ledger import Account, JournalLines, PostingLine, Side
from lms.domain.loan import LoanStatus

ZERO = Decimal(0)
ENTRY_TYPE = "disbursement"
"""The entry is the new loan's disbursement: reports count its principal as disbursed."""


def settlement_ref(new_loan_id: str) -> str:
    """The external reference of the payment that settles the old loan (one per new loan)."""
    return f"renewal:{new_loan_id}"


class RefinanceRefusedError(LmsError):
    """A renewal or top-up that cannot be booked as sent; nothing of it is posted."""

    code = "refinance_refused"


class RefinancedLoanNotFoundError(RefinanceRefusedError):
    """The loan to settle was never booked here."""

    code = "refinanced_loan_not_found"


class RefinancedLoanNotActiveError(RefinanceRefusedError):
    """The loan to settle is paid off, written off or closed already."""

    code = "refinanced_loan_not_active"


class RefinanceCurrencyMismatchError(RefinanceRefusedError):
    """The new loan pays out in another currency than the old loan's."""

    code = "refinance_currency_mismatch"


class RefinanceDateError(RefinanceRefusedError):
    """The new loan is disbursed before the old one was: it cannot settle it."""

    code = "refinance_date_invalid"


class PayoffExceedsDisbursementError(RefinanceRefusedError):
    """The old loan owes more than the new loan pays out."""

    code = "payoff_exceeds_disbursement"


class RefinanceNotSettledError(RefinanceRefusedError):
    """Paying the quote did not leave the old loan paid off (a later event reopened it)."""

    code = "refinance_not_settled"


@dataclass(frozen=True, slots=True)
class SettledLoan:
    """What the checks need of the loan to settle."""

    loan_id: str
    status: str
    currency: str
    disbursement_date: date


def check_settleable(
    old: SettledLoan | None, *, loan_id: str, currency: str, disbursement_date: date
) -> SettledLoan:
    """The old loan must be booked, active, in the new loan's currency, and disbursed no
    later than the new one."""
    if old is None:
        raise RefinancedLoanNotFoundError(f"loan {loan_id} to settle is not booked")
    if old.status != LoanStatus.ACTIVE.value:
        raise RefinancedLoanNotActiveError(
            f"loan {old.loan_id} to settle is {old.status}, not active"
        )
    if old.currency != currency:
        raise RefinanceCurrencyMismatchError(
            f"loan {old.loan_id} to settle is in {old.currency}; the new loan pays out {currency}"
        )
    if disbursement_date < old.disbursement_date:
        raise RefinanceDateError(
            f"the new loan is disbursed on {disbursement_date}, before loan {old.loan_id} "
            f"was ({old.disbursement_date})"
        )
    return old


def check_payoff(loan_id: str, payoff: Decimal, net_disbursed: Decimal, currency: str) -> None:
    """The payoff must be positive and fit in what the new loan pays out."""
    if payoff <= 0:
        raise RefinancedLoanNotActiveError(f"loan {loan_id} to settle owes nothing")
    if payoff > net_disbursed:
        raise PayoffExceedsDisbursementError(
            f"loan {loan_id} pays off at {payoff} {currency}, more than the new loan's "
            f"net disbursement of {net_disbursed} {currency}"
        )


@dataclass(frozen=True, slots=True)
class SettlementLines:
    """The entry's postings (checked to balance) and, for each, the loan it belongs to
    (None: the entry's loan, the new one)."""

    lines: JournalLines
    loans: tuple[str | None, ...]


def settlement_lines(
    currency: str,
    *,
    principal: Decimal,
    net_disbursed: Decimal,
    deducted_fees: Sequence[Decimal],
    settled_loan_id: str,
    settled_split: Mapping[Account, Decimal],
) -> SettlementLines:
    """The new loan's disbursement with the old loan's payoff inside it, as one entry.

    `settled_split` is how the payoff payment was allocated on the old loan, per account
    (as `payment_split` gives it); it adds up to the payoff.
    """
    payoff = sum(settled_split.values(), ZERO)
    cash = net_disbursed - payoff
    if cash < 0:
        raise PayoffExceedsDisbursementError(
            f"payoff {payoff} exceeds the net disbursement {net_disbursed}"
        )
    postings: list[tuple[PostingLine, str | None]] = [
        (PostingLine(Account.LOANS_RECEIVABLE_PRINCIPAL, Side.DEBIT, principal), None)
    ]
    if cash:
        postings.append((PostingLine(Account.CASH_CLEARING, Side.CREDIT, cash), None))
    postings += [
        (PostingLine(Account.FEE_INCOME, Side.CREDIT, fee), None) for fee in deducted_fees if fee
    ]
    postings += [
        (PostingLine(account, Side.CREDIT, amount), settled_loan_id)
        for account, amount in sorted(settled_split.items())
        if amount
    ]
    lines = JournalLines(currency, tuple(p for p, _ in postings))
    return SettlementLines(lines, tuple(loan for _, loan in postings))
