"""Does the booked schedule keep the promise the LOS made to the borrower?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from loanmath import Schedule

COMPARED_FIELDS = ("installment_amount", "total_repayable", "total_interest")


@dataclass(frozen=True, slots=True)
class ScheduleSummary:
    """The headline figures of a schedule, the ones an offer shows."""

    installment_amount: Decimal
    total_repayable: Decimal
    total_interest: Decimal
    installments: int
    first_due_date: date
    last_due_date: date


@dataclass(frozen=True, slots=True)
class PromisedFigures:
    """What the borrower was shown at origination."""

    installment_amount: Decimal
    total_repayable: Decimal
    total_interest: Decimal


def summarise(schedule: Schedule) -> ScheduleSummary:
    """Headline figures of a loanmath schedule."""
    return ScheduleSummary(
        installment_amount=schedule.installment_amount,
        total_repayable=schedule.total_repayable,
        total_interest=schedule.total_interest,
        installments=schedule.installment_count,
        first_due_date=schedule.first_due_date,
        last_due_date=schedule.last_due_date,
    )


def compare_with_offer(summary: ScheduleSummary, promised: PromisedFigures) -> list[str]:
    """Names of the promised figures the booked schedule differs from (by value, to the cent)."""
    return [name for name in COMPARED_FIELDS if getattr(summary, name) != getattr(promised, name)]
