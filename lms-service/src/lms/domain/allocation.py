"""The allocation waterfall: how one payment is spread over what is owed.

Installments are taken oldest first (due ones before not-yet-due ones, which is the same
as due date order); inside one installment the components follow the product's order
(default penalties, fees, interest, principal). Nothing is allocated beyond what is owed;
what is left over is returned as the remainder for the caller's overpayment policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from lms.domain.errors import InvalidAllocationOrderError

ZERO = Decimal(0)


class Component(StrEnum):
    """The parts of an installment a payment can pay."""

    PENALTIES = "penalties"
    FEES = "fees"
    INTEREST = "interest"
    PRINCIPAL = "principal"


DEFAULT_ORDER: tuple[Component, ...] = (
    Component.PENALTIES,
    Component.FEES,
    Component.INTEREST,
    Component.PRINCIPAL,
)


def allocation_order(names: Sequence[str]) -> tuple[Component, ...]:
    """A product's waterfall from the event's names; each component exactly once."""
    try:
        order = tuple(Component(name) for name in names)
    except ValueError:
        raise InvalidAllocationOrderError(f"unknown component in {list(names)}") from None
    if sorted(order) != sorted(DEFAULT_ORDER):
        raise InvalidAllocationOrderError(
            f"allocation order {list(names)} must name each component exactly once"
        )
    return order


@dataclass
class InstallmentState:
    """One installment while payments are applied: amounts owed and paid per component."""

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
    # Where the installment's interest period starts when that is not the previous due
    # date (the first installment after a payment holiday).
    starts: date | None = None

    def owed(self, component: Component) -> Decimal:
        """What is still owed on one component."""
        charged: Decimal = getattr(self, component.value)
        paid: Decimal = getattr(self, f"paid_{component.value}")
        return charged - paid

    def pay(self, component: Component, amount: Decimal) -> None:
        """Record a payment on one component (never beyond what is owed)."""
        if amount < 0 or amount > self.owed(component):
            raise ValueError(f"cannot pay {amount} on {component} of installment {self.number}")
        field = f"paid_{component.value}"
        setattr(self, field, getattr(self, field) + amount)

    @property
    def remaining(self) -> Decimal:
        """Everything still owed on the installment."""
        return sum((self.owed(c) for c in DEFAULT_ORDER), ZERO)

    def copy(self) -> InstallmentState:
        """An independent copy, so a replay never touches its input."""
        return InstallmentState(
            self.number,
            self.due_date,
            self.principal,
            self.interest,
            self.fees,
            self.penalties,
            self.paid_principal,
            self.paid_interest,
            self.paid_fees,
            self.paid_penalties,
            self.starts,
        )


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """An amount of one payment applied to one component of one installment."""

    installment: int
    component: Component
    amount: Decimal


def allocate(
    amount: Decimal,
    installments: Sequence[InstallmentState],
    order: Sequence[Component],
    *,
    due_by: date | None = None,
) -> tuple[list[AllocationLine], Decimal]:
    """Apply `amount` to the installments (those due by `due_by` only, when given).

    Returns the lines applied (the installments are updated in place) and what is left.
    """
    if amount < 0:
        raise ValueError(f"cannot allocate a negative amount {amount}")
    lines: list[AllocationLine] = []
    left = amount
    for installment in sorted(installments, key=lambda i: (i.due_date, i.number)):
        if left <= 0:
            break
        if due_by is not None and installment.due_date > due_by:
            continue
        for component in order:
            owed = installment.owed(component)
            if owed <= 0 or left <= 0:
                continue
            part = min(owed, left)
            installment.pay(component, part)
            lines.append(AllocationLine(installment.number, component, part))
            left -= part
    return lines, left


def totals_by_component(lines: Sequence[AllocationLine]) -> dict[Component, Decimal]:
    """Sum of the lines per component (every component present, zero when unpaid)."""
    totals = dict.fromkeys(DEFAULT_ORDER, ZERO)
    for line in lines:
        totals[line.component] += line.amount
    return totals
