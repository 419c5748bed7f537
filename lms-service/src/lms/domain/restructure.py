"""Restructuring, pure: reschedule, payment holiday and re-aging as events of the replay.

A restructure takes effect on its effective date D (the business date it was approved on).
Installments due on or before D are kept as they are (re-aging clears what they still owe,
see below); the installments due after D are replaced by a fresh loanmath schedule for the
principal they still carry, numbered on from the kept ones. What changes:

- ``reschedule``: a new annual rate (``annual_rate``), a longer term (``extend_by``
  installments more), or a new installment (``installment_amount``: the fewest
  installments whose regular amount does not exceed it). The period in progress keeps its
  start, so interest from that start is charged at the new rate.
- ``payment_holiday``: the next ``holiday_periods`` due dates pay nothing; the remaining
  installments keep their number and move that many periods later. Interest for the
  holiday (the principal x rate x the day count's year fraction from the period start to
  the holiday's end, rounded once) is either capitalised (added to the principal the new
  schedule amortises, ``capitalise_interest``) or deferred: spread evenly, without
  interest on it, over the new installments.
- ``re_age``: the arrears of the kept installments move to the new ones, so the loan is
  current again: overdue principal joins the principal that is re-amortised; overdue
  interest, fees and penalties are spread evenly over the new installments. ``extend_by``
  may lengthen the term at the same time.

Spreads give every installment the same amount in the currency's minor unit and the last
one the residue, so spread parts sum exactly to what was spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from lms.domain.allocation import ZERO, Component, InstallmentState
from lms.domain.errors import InvalidRestructureError
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    LoanMathError,
    RoundingMode,
    Schedule,
    ScheduleTerms,
    build_schedule,
    due_dates,
    get_currency,
    round_money,
    year_fraction,
)

MAX_EXTENSION = 120
"""The most installments one restructure may add."""
MAX_HOLIDAY_PERIODS = 12
"""The longest payment holiday, in periods."""
MAX_TERM = 600
"""The most installments a restructured schedule may have."""


class RestructureKind(StrEnum):
    """What a restructure does; values are stable for storage and the API."""

    RESCHEDULE = "reschedule"
    PAYMENT_HOLIDAY = "payment_holiday"
    RE_AGE = "re_age"


@dataclass(frozen=True, slots=True)
class RestructureTerms:
    """What was asked for; which fields apply depends on the kind (see `validate`)."""

    kind: RestructureKind
    extend_by: int = 0
    annual_rate: Decimal | None = None
    installment_amount: Decimal | None = None
    holiday_periods: int = 0
    capitalise_interest: bool = False

    def validate(self, currency: str) -> None:
        """Refuse combinations that mean nothing, before any schedule is built."""
        kind = self.kind
        if not 0 <= self.extend_by <= MAX_EXTENSION:
            raise InvalidRestructureError(f"extend_by must be 0 to {MAX_EXTENSION}")
        if self.annual_rate is not None and not (0 <= self.annual_rate < 1):
            raise InvalidRestructureError("annual_rate is a fraction from 0 up to 1 (0.12 = 12%)")
        if self.installment_amount is not None and (
            self.installment_amount <= 0
            or round_money(self.installment_amount, currency) != self.installment_amount
        ):
            raise InvalidRestructureError(
                f"installment_amount must be a positive amount in {currency}'s minor units"
            )
        if kind is RestructureKind.RESCHEDULE:
            if self.holiday_periods or self.capitalise_interest:
                raise InvalidRestructureError("a reschedule takes no holiday fields")
            if self.installment_amount is not None and self.extend_by:
                raise InvalidRestructureError(
                    "give either installment_amount or extend_by: the one sets the other"
                )
            if not (self.extend_by or self.annual_rate is not None or self.installment_amount):
                raise InvalidRestructureError(
                    "a reschedule changes something: extend_by, annual_rate or installment_amount"
                )
        elif kind is RestructureKind.PAYMENT_HOLIDAY:
            if not 1 <= self.holiday_periods <= MAX_HOLIDAY_PERIODS:
                raise InvalidRestructureError(f"holiday_periods must be 1 to {MAX_HOLIDAY_PERIODS}")
            if self.extend_by or self.annual_rate is not None or self.installment_amount:
                raise InvalidRestructureError(
                    "a payment holiday takes holiday_periods and capitalise_interest only"
                )
        else:
            if self.holiday_periods or self.capitalise_interest:
                raise InvalidRestructureError("a re-aging takes no holiday fields")
            if self.annual_rate is not None or self.installment_amount:
                raise InvalidRestructureError("a re-aging takes extend_by only")


@dataclass(frozen=True, slots=True)
class RestructureEvent:
    """An approved restructure in the loan's event stream."""

    id: str
    effective_date: date
    seq: int
    terms: RestructureTerms


@dataclass(frozen=True, slots=True)
class ScheduleBasis:
    """The loan's terms a new schedule is built with."""

    currency: str
    disbursement_date: date
    annual_rate: Decimal
    frequency: Frequency
    method: AmortizationMethod
    day_count: DayCount
    interest_basis: InterestBasis
    rounding_mode: RoundingMode


@dataclass
class RestructureOutcome:
    """The installments after the restructure and what it moved."""

    installments: list[InstallmentState]
    annual_rate: Decimal
    released: dict[int, dict[Component, Decimal]] = field(default_factory=dict)
    capitalised: Decimal = ZERO
    deferred_interest: Decimal = ZERO
    re_aged: dict[Component, Decimal] = field(default_factory=dict)
    first_new: int = 0
    new_count: int = 0
    installment_amount: Decimal = ZERO
    last_due_date: date | None = None
    period_start: date | None = None


def spread(total: Decimal, count: int, currency: str) -> list[Decimal]:
    """`total` in `count` equal parts at the minor unit; the last takes the residue."""
    if count <= 0:
        raise ValueError("spread over at least one installment")
    scale = Decimal(10) ** -get_currency(currency).minor_units
    units = int(total / scale)
    if Decimal(units) * scale != total:
        raise ValueError(f"{total} is not in {currency}'s minor units")
    base = int(units / count)  # toward zero, like the residue rule of the schedule
    parts = [Decimal(base) * scale] * count
    parts[-1] = (Decimal(units - base * (count - 1)) * scale).quantize(scale)
    return [p.quantize(scale) for p in parts]


def _build(
    basis: ScheduleBasis, principal: Decimal, rate: Decimal, count: int, start: date, first: date
) -> Schedule:
    if count > MAX_TERM:
        raise InvalidRestructureError(f"the new schedule would have {count} installments")
    try:
        return build_schedule(
            ScheduleTerms(
                principal=principal,
                currency=basis.currency,
                annual_rate=rate,
                term=count,
                disbursement_date=start,
                first_due_date=first,
                frequency=basis.frequency,
                method=basis.method,
                day_count=basis.day_count,
                interest_basis=basis.interest_basis,
                rounding_mode=basis.rounding_mode,
            )
        )
    except LoanMathError as exc:
        raise InvalidRestructureError(f"no schedule for these terms: {exc}") from exc


def _fewest_installments(
    basis: ScheduleBasis,
    principal: Decimal,
    rate: Decimal,
    amount: Decimal,
    start: date,
    first: date,
) -> int:
    """The smallest count whose regular installment is at most `amount` (binary search:
    a longer term never raises the installment of an amortising method)."""

    def fits(n: int) -> bool:
        return _build(basis, principal, rate, n, start, first).installment_amount <= amount

    if not fits(MAX_TERM):
        raise InvalidRestructureError(
            f"an installment of {amount} does not repay {principal} within {MAX_TERM} installments"
        )
    low, high = 1, MAX_TERM
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    return low


def _release_future(future: Sequence[InstallmentState]) -> dict[int, dict[Component, Decimal]]:
    """Money already paid on installments being replaced, per installment and component."""
    released: dict[int, dict[Component, Decimal]] = {}
    for installment in future:
        paid = {
            c: getattr(installment, f"paid_{c.value}")
            for c in Component
            if getattr(installment, f"paid_{c.value}") > 0
        }
        if paid:
            released[installment.number] = paid
    return released


def restructure(
    basis: ScheduleBasis,
    installments: Sequence[InstallmentState],
    event: RestructureEvent,
) -> RestructureOutcome:
    """The installments after `event`, from the installments before it (not modified)."""
    terms = event.terms
    if basis.method is AmortizationMethod.FLAT:
        raise InvalidRestructureError(
            "flat-interest loans are not restructured: their interest was fixed at origination"
        )
    on = event.effective_date
    currency = basis.currency
    kept = [i.copy() for i in installments if i.due_date <= on]
    future = sorted((i for i in installments if i.due_date > on), key=lambda i: i.due_date)
    released = _release_future(future)
    principal = round_money(sum((i.principal for i in future), ZERO), currency)
    last_kept = max((i.due_date for i in kept), default=None)
    count = len(future)
    if future:
        start = last_kept or basis.disbursement_date
        dates = due_dates(future[0].due_date, basis.frequency, count + terms.extend_by + 1)
    else:
        # Past maturity: the new schedule runs from the restructure date.
        start = on
        anchor = last_kept or basis.disbursement_date
        ahead = due_dates(anchor, basis.frequency, MAX_TERM)
        dates = [d for d in ahead if d > on]
    rate = basis.annual_rate if terms.annual_rate is None else terms.annual_rate
    re_aged: dict[Component, Decimal] = {}
    deferred: dict[Component, Decimal] = {}
    capitalised = ZERO
    first_start: date | None = None

    if terms.kind is RestructureKind.RE_AGE:
        for component in Component:
            owed = sum((i.owed(component) for i in kept), ZERO)
            if owed:
                re_aged[component] = owed
        if not re_aged:
            raise InvalidRestructureError("the loan has no arrears to re-age")
        for installment in kept:
            for component in Component:
                name = component.value
                setattr(installment, name, getattr(installment, f"paid_{name}"))
        principal += re_aged.get(Component.PRINCIPAL, ZERO)
        deferred = {c: v for c, v in re_aged.items() if c is not Component.PRINCIPAL}

    new_count = count + terms.extend_by
    first_due_index = 0
    if terms.kind is RestructureKind.PAYMENT_HOLIDAY:
        if not future:
            raise InvalidRestructureError("a loan past maturity has no installments to defer")
        holiday = terms.holiday_periods
        dates = due_dates(future[0].due_date, basis.frequency, count + holiday + 1)
        holiday_end = dates[holiday - 1]
        interest = round_money(
            principal * rate * year_fraction(start, holiday_end, basis.day_count),
            currency,
            basis.rounding_mode,
        )
        if terms.capitalise_interest:
            capitalised = interest
            principal += interest
        elif interest:
            deferred = {Component.INTEREST: interest}
        start = holiday_end
        first_start = holiday_end
        first_due_index = holiday
    if new_count < 1:
        raise InvalidRestructureError(
            "the loan is past maturity: give extend_by for the installments it gets"
        )
    if principal <= 0:
        raise InvalidRestructureError("no principal is left to restructure")
    first_due = dates[first_due_index]
    if terms.installment_amount is not None:
        new_count = _fewest_installments(
            basis, principal, rate, terms.installment_amount, start, first_due
        )
    schedule = _build(basis, principal, rate, new_count, start, first_due)

    base_number = max((i.number for i in kept), default=0)
    fresh = [
        InstallmentState(base_number + row.number, row.due_date, row.principal, row.interest, ZERO)
        for row in schedule.installments
    ]
    for component, total in deferred.items():
        for installment, part in zip(fresh, spread(total, len(fresh), currency), strict=True):
            name = component.value
            setattr(installment, name, getattr(installment, name) + part)
    if first_start is not None:
        fresh[0].starts = first_start
    return RestructureOutcome(
        installments=kept + fresh,
        annual_rate=rate,
        released=released,
        capitalised=capitalised,
        deferred_interest=deferred.get(Component.INTEREST, ZERO),
        re_aged=re_aged,
        first_new=base_number + 1,
        new_count=len(fresh),
        installment_amount=schedule.installment_amount,
        last_due_date=fresh[-1].due_date,
        period_start=start,
    )
