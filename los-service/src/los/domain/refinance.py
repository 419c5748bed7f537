"""Renewals and top-ups: an application that pays an existing loan off from the new one.

The LOS checks what it knows: the loan is one it disbursed, to the same applicant, in the
same currency, and no other disbursed application pays it off already. What the loan still
owes is servicing's to say: the LMS settles it for its payoff amount when it books the new
loan, and refuses the booking (a dead letter, nothing posted) if the payoff is more than the
new loan pays out or the old loan is no longer active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from los.domain.applications import ApplicationStatus
from los.domain.errors import (
    InvalidRefinanceError,
    LoanAlreadyRefinancedError,
    RefinancedLoanNotFoundError,
)

#: Application states in which the loan has left the LOS (booked or on its way).
DISBURSED_STATES = frozenset({ApplicationStatus.DISBURSED.value, ApplicationStatus.BOOKED.value})


@dataclass(frozen=True, slots=True)
class RefinancedLoan:
    """The application that became the loan to pay off, as the LOS recorded it."""

    loan_id: str
    application_id: str
    applicant_id: str
    currency: str
    status: str


def check_refinance(
    loan_id: str,
    existing: RefinancedLoan | None,
    *,
    applicant_id: str,
    currency: str,
    refinanced_by: Sequence[str] = (),
) -> None:
    """Refuse a renewal or top-up the LOS can already tell is wrong.

    `refinanced_by` lists the other disbursed applications that pay the same loan off.
    """
    if existing is None:
        raise RefinancedLoanNotFoundError(f"No loan with id {loan_id} was disbursed.")
    if existing.status not in DISBURSED_STATES:
        raise InvalidRefinanceError(f"Loan {loan_id} was not disbursed.")
    if existing.applicant_id != applicant_id:
        raise InvalidRefinanceError(
            f"Loan {loan_id} belongs to another applicant; only the borrower's own loan "
            "can be renewed or topped up."
        )
    if existing.currency != currency:
        raise InvalidRefinanceError(
            f"Loan {loan_id} is in {existing.currency}; a renewal or top-up must be in the "
            f"same currency, not {currency}."
        )
    if refinanced_by:
        raise LoanAlreadyRefinancedError(
            f"Loan {loan_id} is already paid off by application {refinanced_by[0]}."
        )
