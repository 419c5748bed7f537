"""A loan's installments and what is owed on them as of a date.

What the borrower owes: interest (and fees and penalties) count as outstanding once their
installment is due, principal in full from disbursement. Interest earned day by day is
accrued in the ledger by close of business (lms.domain.cob), not shown here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class LoanStatus(StrEnum):
    """Where a loan is in its life; later work adds the transitions."""

    ACTIVE = "active"
    PAID_OFF = "paid_off"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"


class InstallmentStatus(StrEnum):
    """An installment's state as of a date."""

    PENDING = "pending"
    DUE = "due"
    OVERDUE = "overdue"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class InstallmentBalance:
    """One installment's amounts charged and paid, per component."""

    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalties: Decimal = ZERO
    paid_principal: Decimal = ZERO
    paid_interest: Decimal = ZERO
    paid_fees: Decimal = ZERO
    paid_penalties: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """What the installment asks for, penalties included."""
        return self.principal + self.interest + self.fees + self.penalties

    @property
    def paid(self) -> Decimal:
        """Everything paid against the installment."""
        return self.paid_principal + self.paid_interest + self.paid_fees + self.paid_penalties

    @property
    def remaining(self) -> Decimal:
        """What is still owed on the installment."""
        return self.total - self.paid

    @property
    def is_paid(self) -> bool:
        """Whether nothing is owed on it any more."""
        return self.remaining <= ZERO


def installment_status(installment: InstallmentBalance, today: date) -> InstallmentStatus:
    """Paid, or else pending before its due date, due on it and overdue after it."""
    if installment.is_paid:
        return InstallmentStatus.PAID
    if installment.due_date > today:
        return InstallmentStatus.PENDING
    if installment.due_date == today:
        return InstallmentStatus.DUE
    return InstallmentStatus.OVERDUE


@dataclass(frozen=True, slots=True)
class Outstanding:
    """What the borrower owes now, per component."""

    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalties: Decimal

    @property
    def total(self) -> Decimal:
        """The sum of the components."""
        return self.principal + self.interest + self.fees + self.penalties


def outstanding(installments: Sequence[InstallmentBalance], today: date) -> Outstanding:
    """Principal not yet repaid, plus interest, fees and penalties of installments due by today.

    Interest is not accrued day by day yet (close of business adds that): an installment's
    interest counts once its due date is reached.
    """
    due = [i for i in installments if i.due_date <= today]
    return Outstanding(
        principal=sum((i.principal - i.paid_principal for i in installments), ZERO),
        interest=sum((i.interest - i.paid_interest for i in due), ZERO),
        fees=sum((i.fees - i.paid_fees for i in due), ZERO),
        penalties=sum((i.penalties - i.paid_penalties for i in due), ZERO),
    )


@dataclass(frozen=True, slots=True)
class NextDue:
    """The next installment to pay and what is left on it."""

    date: date
    amount: Decimal


def next_due(installments: Sequence[InstallmentBalance]) -> NextDue | None:
    """The first installment not fully paid, or None when all are."""
    for installment in sorted(installments, key=lambda i: i.number):
        if not installment.is_paid:
            return NextDue(installment.due_date, installment.remaining)
    return None


def days_past_due(installments: Sequence[InstallmentBalance], today: date) -> int:
    """Days since the oldest unpaid installment fell due; 0 when none is overdue."""
    overdue = [i.due_date for i in installments if not i.is_paid and i.due_date < today]
    return (today - min(overdue)).days if overdue else 0
