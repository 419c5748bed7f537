"""The servicing engine: a loan's state is a pure function of its booked schedule and its
money events (payments and charges) taken in value-date order.

Every change (a new payment, a backdated one, a reversal) replays all active events from
the booked schedule, so each balance is what it would have been had the events arrived
in order. The caller compares the replay with what it stored and posts the differences.

Overpayment (what is left after every installment due by the value date is paid):

- ``hold_credit``: no re-amortisation; the excess is held against the coming
  installments (paid in advance, in due-date order, with the same waterfall); whatever
  exceeds the whole schedule is a credit balance owed to the borrower.
- ``reduce_term`` / ``reduce_installment``: the excess repays principal (an allocation
  line on installment 0, "principal prepayment") and loanmath's `regenerate_schedule`
  rebuilds the installments not yet due (fewer of them, or smaller ones). Without the
  booked loanmath schedule, or when the excess reaches the principal not yet due, or
  loanmath refuses the change, these behave as ``hold_credit``.

Early payoff: a payment that covers the payoff quote at its value date closes the loan;
interest not yet accrued is waived (installments after the quote date keep only the
interest already paid on them) and any excess becomes a credit balance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from lms.domain.allocation import (
    DEFAULT_ORDER,
    ZERO,
    AllocationLine,
    Component,
    InstallmentState,
    allocate,
)
from lms.domain.restructure import (
    RestructureEvent,
    RestructureOutcome,
    ScheduleBasis,
    restructure,
)
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    LoanMathError,
    Prepayment,
    PrepaymentEffect,
    RoundingMode,
    Schedule,
    regenerate_schedule,
    round_money,
    year_fraction,
)


class OverpaymentPolicy(StrEnum):
    """What a product does with money beyond what is due."""

    REDUCE_TERM = "reduce_term"
    REDUCE_INSTALLMENT = "reduce_installment"
    HOLD_CREDIT = "hold_credit"


@dataclass(frozen=True, slots=True)
class LoanContext:
    """The terms the engine needs, fixed at booking."""

    currency: str
    disbursement_date: date
    annual_rate: Decimal
    day_count: DayCount
    rounding_mode: RoundingMode
    order: tuple[Component, ...] = DEFAULT_ORDER
    policy: OverpaymentPolicy = OverpaymentPolicy.HOLD_CREDIT
    frequency: Frequency = Frequency.MONTHLY
    method: AmortizationMethod = AmortizationMethod.ANNUITY
    interest_basis: InterestBasis = InterestBasis.EQUAL_PERIODS

    def basis(self) -> ScheduleBasis:
        """The terms a restructured schedule is built with."""
        return ScheduleBasis(
            currency=self.currency,
            disbursement_date=self.disbursement_date,
            annual_rate=self.annual_rate,
            frequency=self.frequency,
            method=self.method,
            day_count=self.day_count,
            interest_basis=self.interest_basis,
            rounding_mode=self.rounding_mode,
        )


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A payment to apply; `seq` breaks ties between events of the same value date."""

    id: str
    value_date: date
    amount: Decimal
    seq: int


@dataclass(frozen=True, slots=True)
class ChargeEvent:
    """A fee or penalty charged to one installment on a date."""

    id: str
    charge_date: date
    installment: int
    component: Component
    amount: Decimal
    seq: int


Event = PaymentEvent | ChargeEvent | RestructureEvent

PREPAYMENT_INSTALLMENT = 0
"""The installment number of a principal prepayment that re-amortised the schedule."""


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """How one payment was applied in the replay."""

    payment_id: str
    lines: tuple[AllocationLine, ...]
    credit: Decimal
    closed_loan: bool

    @property
    def allocated(self) -> Decimal:
        """The sum of the lines (without credit)."""
        return sum((line.amount for line in self.lines), ZERO)


class LoanState(StrEnum):
    """Where the replay leaves the loan."""

    ACTIVE = "active"
    PAID_OFF = "paid_off"


@dataclass
class ReplayResult:
    """The outcome of replaying every active event."""

    installments: list[InstallmentState]
    payments: dict[str, PaymentResult]
    credit_balance: Decimal
    state: LoanState
    paid_off_on: date | None = None
    closing_payment_id: str | None = None
    schedule_changes: list[str] = field(default_factory=list)
    schedule: Schedule | None = None
    # The terms in force at the end of the replay (a reschedule may change the rate).
    ctx: LoanContext | None = None
    # Interest a payment holiday added to the principal, over the whole replay.
    capitalised: Decimal = ZERO
    restructures: dict[str, RestructureOutcome] = field(default_factory=dict)


def event_key(event: Event) -> tuple[date, int]:
    """Value-date order, then the order events were recorded in."""
    return event_date(event), event.seq


def event_date(event: Event) -> date:
    """The date an event takes effect on."""
    if isinstance(event, PaymentEvent):
        return event.value_date
    if isinstance(event, ChargeEvent):
        return event.charge_date
    return event.effective_date


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    """What closes the loan on a date, per component."""

    on: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalties: Decimal

    @property
    def total(self) -> Decimal:
        """The amount that closes the loan."""
        return self.principal + self.interest + self.fees + self.penalties


def _period_start(
    installments: Sequence[InstallmentState], current: InstallmentState, disbursed: date
) -> date:
    if current.starts is not None:
        return current.starts
    earlier = [i.due_date for i in installments if i.due_date < current.due_date]
    return max(earlier) if earlier else disbursed


def accrued_interest(
    ctx: LoanContext, installments: Sequence[InstallmentState], on: date
) -> tuple[InstallmentState | None, Decimal]:
    """Interest earned in the period in progress on `on`, on the principal then outstanding.

    Principal outstanding x annual rate x year fraction (the loan's day count) from the
    period start to `on`, rounded once with the loan's mode and capped at the interest
    still owed on that installment. Returns the installment in progress (None if past the
    last due date) and the amount.
    """
    future = sorted((i for i in installments if i.due_date > on), key=lambda i: i.due_date)
    if not future:
        return None, ZERO
    current = future[0]
    start = _period_start(installments, current, ctx.disbursement_date)
    if start >= on:
        return current, ZERO
    principal = sum((i.owed(Component.PRINCIPAL) for i in installments), ZERO)
    raw = principal * ctx.annual_rate * year_fraction(start, on, ctx.day_count)
    earned = round_money(raw, ctx.currency, ctx.rounding_mode)
    return current, min(earned, current.owed(Component.INTEREST))


def payoff_quote(
    ctx: LoanContext, installments: Sequence[InstallmentState], on: date
) -> PayoffQuote:
    """Principal outstanding + interest due and accrued to `on` + fees + penalties."""
    due = [i for i in installments if i.due_date <= on]
    _current, accrued = accrued_interest(ctx, installments, on)
    return PayoffQuote(
        on=on,
        principal=sum((i.owed(Component.PRINCIPAL) for i in installments), ZERO),
        interest=sum((i.owed(Component.INTEREST) for i in due), ZERO) + accrued,
        fees=sum((i.owed(Component.FEES) for i in installments), ZERO),
        penalties=sum((i.owed(Component.PENALTIES) for i in installments), ZERO),
    )


def _waive_unearned_interest(
    ctx: LoanContext, installments: list[InstallmentState], on: date
) -> dict[int, dict[Component, Decimal]]:
    """At payoff: interest not yet earned is no longer owed, and interest already paid for
    time after the payoff date is given back.

    Only the period in progress has earned interest (to `on`, on the principal then
    outstanding, as `accrued_interest` computes it); later periods have earned none.
    Returns, per installment number, the interest that had been paid beyond what was
    earned: the caller takes it back from the payments that paid it.
    """
    current, _ = accrued_interest(ctx, installments, on)
    earned_current = ZERO
    if current is not None:
        start = _period_start(installments, current, ctx.disbursement_date)
        principal = sum((i.owed(Component.PRINCIPAL) for i in installments), ZERO)
        raw = principal * ctx.annual_rate * year_fraction(start, on, ctx.day_count)
        earned_current = min(
            max(round_money(raw, ctx.currency, ctx.rounding_mode), ZERO), current.interest
        )
    refunds: dict[int, dict[Component, Decimal]] = {}
    for installment in installments:
        if installment.due_date <= on:
            continue
        earned = earned_current if current is not None and installment is current else ZERO
        if installment.paid_interest > earned:
            refunds[installment.number] = {Component.INTEREST: installment.paid_interest - earned}
            installment.paid_interest = earned
        installment.interest = earned
    return refunds


def _take_back(
    payments: dict[str, PaymentResult], refunds: dict[int, dict[Component, Decimal]]
) -> tuple[dict[str, PaymentResult], Decimal]:
    """Move money that no longer pays what it paid (per installment and component) out of
    the payments' allocation into their credit, latest payment first. Returns the payments
    that changed and the amount moved."""
    changed: dict[str, PaymentResult] = {}
    total = ZERO
    left = {(n, c): v for n, parts in refunds.items() for c, v in parts.items() if v > 0}
    for payment_id in reversed(list(payments)):
        if not left:
            break
        result = payments[payment_id]
        lines: list[AllocationLine] = []
        moved = ZERO
        for line in result.lines:
            key = (line.installment, line.component)
            owed_back = left.get(key, ZERO)
            if owed_back > 0:
                take = min(owed_back, line.amount)
                if owed_back > take:
                    left[key] = owed_back - take
                else:
                    del left[key]
                moved += take
                if line.amount > take:
                    lines.append(
                        AllocationLine(line.installment, line.component, line.amount - take)
                    )
                continue
            lines.append(line)
        if moved:
            total += moved
            changed[payment_id] = PaymentResult(
                payment_id, tuple(lines), result.credit + moved, result.closed_loan
            )
    return changed, total


def _all_paid(installments: Sequence[InstallmentState]) -> bool:
    return all(i.remaining <= 0 for i in installments)


class ServicingEngine:
    """Replays events over a booked schedule (pure; no clock, no storage)."""

    def __init__(self, ctx: LoanContext, booked_schedule: Schedule | None = None) -> None:
        self.ctx = ctx
        self.booked_schedule = booked_schedule

    @property
    def effective_policy(self) -> OverpaymentPolicy:
        """The policy actually applied: re-amortising needs the booked loanmath schedule."""
        if self.booked_schedule is None:
            return OverpaymentPolicy.HOLD_CREDIT
        return self.ctx.policy

    def replay(self, booked: Sequence[InstallmentState], events: Sequence[Event]) -> ReplayResult:
        """Apply every event in value-date order to a copy of the booked schedule."""
        result = ReplayResult(
            installments=[i.copy() for i in booked],
            payments={},
            credit_balance=ZERO,
            state=LoanState.ACTIVE,
            schedule=self.booked_schedule,
            ctx=self.ctx,
        )
        for event in sorted(events, key=event_key):
            if isinstance(event, ChargeEvent):
                self._charge(result, event)
            elif isinstance(event, RestructureEvent):
                self._restructure(result, event)
            else:
                self._pay(result, event)
        return result

    def _restructure(self, result: ReplayResult, event: RestructureEvent) -> None:
        """Replace the installments after the effective date; money paid on them ahead of
        time (a backdated payment can do that after approval) becomes credit held."""
        if result.state is LoanState.PAID_OFF:
            return  # paid off before it took effect: nothing left to restructure
        ctx = result.ctx or self.ctx
        outcome = restructure(ctx.basis(), result.installments, event)
        if outcome.released:
            changed, moved = _take_back(result.payments, outcome.released)
            result.payments.update(changed)
            result.credit_balance += moved
        result.installments = outcome.installments
        result.ctx = dataclasses.replace(ctx, annual_rate=outcome.annual_rate)
        result.capitalised += outcome.capitalised
        # Later overpayments are held, not re-amortised: the booked loanmath schedule no
        # longer describes the loan.
        result.schedule = None
        result.schedule_changes.append(event.terms.kind.value)
        result.restructures[event.id] = outcome

    def _charge(self, result: ReplayResult, event: ChargeEvent) -> None:
        target = next((i for i in result.installments if i.number == event.installment), None)
        if target is None:
            raise ValueError(f"no installment {event.installment} to charge")
        if event.component not in (Component.FEES, Component.PENALTIES):
            raise ValueError(f"only fees and penalties can be charged, not {event.component}")
        name = event.component.value
        setattr(target, name, getattr(target, name) + event.amount)
        if result.state is LoanState.PAID_OFF:
            # A charge dated after a payoff reopens the loan; held credit stays a liability
            # until it is refunded or applied by an explicit transaction.
            result.state = LoanState.ACTIVE
            result.paid_off_on = None
            result.closing_payment_id = None

    def _pay(self, result: ReplayResult, event: PaymentEvent) -> None:
        installments = result.installments
        if result.state is LoanState.PAID_OFF:
            result.payments[event.id] = PaymentResult(event.id, (), event.amount, False)
            result.credit_balance += event.amount
            return
        quote = payoff_quote(result.ctx or self.ctx, installments, event.value_date)
        if event.amount >= quote.total:
            self._payoff(result, event)
            return
        lines, left = allocate(event.amount, installments, self.ctx.order, due_by=event.value_date)
        if left > 0:
            more, left = self._overpay(result, left, event.value_date)
            lines += more
        result.credit_balance += left
        closed = _all_paid(installments)
        if closed:
            result.state = LoanState.PAID_OFF
            result.paid_off_on = event.value_date
            result.closing_payment_id = event.id
        result.payments[event.id] = PaymentResult(event.id, tuple(lines), left, closed)

    def _overpay(
        self, result: ReplayResult, excess: Decimal, on: date
    ) -> tuple[list[AllocationLine], Decimal]:
        policy = self.effective_policy
        regenerated = None
        if policy is not OverpaymentPolicy.HOLD_CREDIT and result.schedule is not None:
            regenerated = self._regenerate(result, excess, on, policy)
        if regenerated is None:
            return allocate(excess, result.installments, self.ctx.order)
        result.schedule = regenerated
        kept = [i for i in result.installments if i.due_date <= on]
        fresh = [
            InstallmentState(row.number, row.due_date, row.principal, row.interest, row.fees)
            for row in regenerated.installments
            if row.due_date > on
        ]
        result.installments = kept + fresh
        result.schedule_changes.append(policy.value)
        return [AllocationLine(PREPAYMENT_INSTALLMENT, Component.PRINCIPAL, excess)], ZERO

    def _regenerate(
        self, result: ReplayResult, excess: Decimal, on: date, policy: OverpaymentPolicy
    ) -> Schedule | None:
        """loanmath's re-amortisation, or None when the excess must be held instead."""
        assert result.schedule is not None
        future = [i for i in result.installments if i.due_date > on]
        untouched = all(i.paid_principal == 0 and i.paid_interest == 0 for i in future)
        outstanding = sum((i.owed(Component.PRINCIPAL) for i in future), ZERO)
        if not future or not untouched or excess >= outstanding:
            return None
        try:
            return regenerate_schedule(
                result.schedule,
                from_date=on,
                outstanding_principal=outstanding,
                change=Prepayment(excess, PrepaymentEffect(policy.value)),
            )
        except LoanMathError:
            return None

    def _payoff(self, result: ReplayResult, event: PaymentEvent) -> None:
        installments = result.installments
        refunds = _waive_unearned_interest(result.ctx or self.ctx, installments, event.value_date)
        if refunds:
            # Interest paid ahead for time after the payoff is the borrower's again: it
            # leaves the earlier payments' allocation and becomes credit held for them.
            changed, moved = _take_back(result.payments, refunds)
            result.payments.update(changed)
            result.credit_balance += moved
        lines, left = allocate(event.amount, installments, self.ctx.order)
        result.credit_balance += left
        result.state = LoanState.PAID_OFF
        result.paid_off_on = event.value_date
        result.closing_payment_id = event.id
        result.schedule_changes.append("payoff")
        result.payments[event.id] = PaymentResult(event.id, tuple(lines), left, True)
