"""Close of business rules, pure: the day's interest accrual, penalties on overdue
installments, days past due and the business dates a run must close.

Accrual is cumulative and linear within each installment period: by day d of a period that
started on ``start`` and ends on its due date, ``accrued_to(d) = round(period_interest x
(d - start) / (due - start))`` and the day's accrual is ``accrued_to(d) - accrued_to(d - 1)``.
Daily runs and one catch-up over the same dates therefore give the same total, and a whole
period accrues exactly its scheduled interest. Every division is done on fractions and
rounded once, with the loan's rounding mode, to the currency's minor unit.

Penalties per product terms (carried on the loan): a flat late fee, once per installment,
when it is overdue by more than the grace days; and from then on, daily penalty interest of
``round(overdue principal and interest x penalty_rate_annual / 365)`` per loan. Penalties
never earn penalties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from lms.domain.delinquency import DEFAULT_BUCKETS, Bucket, delinquency_bucket
from loanmath import RoundingMode, get_currency

ZERO = Decimal(0)
PENALTY_DAY_BASIS = 365
NON_PERFORMING_DAYS = 90
"""A loan this many days past due (or more) is non-performing."""

LATE_FEE_REASON = "late_fee"
PENALTY_INTEREST_REASON = "penalty_interest"


def round_fraction(value: Fraction, currency: str, mode: RoundingMode) -> Decimal:
    """An exact fraction rounded once to the currency's minor unit with a named mode."""
    units = get_currency(currency).minor_units
    numerator = value.numerator * 10**units
    denominator = value.denominator  # always positive
    sign = -1 if numerator < 0 else 1
    whole, rest = divmod(abs(numerator), denominator)
    up: bool
    if rest == 0:
        up = False
    elif mode is RoundingMode.HALF_EVEN:
        up = 2 * rest > denominator or (2 * rest == denominator and whole % 2 == 1)
    elif mode is RoundingMode.HALF_UP:
        up = 2 * rest >= denominator
    elif mode is RoundingMode.HALF_DOWN:
        up = 2 * rest > denominator
    elif mode is RoundingMode.DOWN:
        up = False
    elif mode is RoundingMode.UP:
        up = True
    elif mode is RoundingMode.CEILING:
        up = sign > 0
    else:  # FLOOR
        up = sign < 0
    return Decimal(sign * (whole + (1 if up else 0))).scaleb(-units)


@dataclass(frozen=True, slots=True)
class AccrualPeriod:
    """One installment period of a loan: interest earned from `start` (exclusive) to `due`."""

    start: date
    due: date
    interest: Decimal


def accrued_to(
    period: AccrualPeriod, on: date, currency: str, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> Decimal:
    """Interest of the period accrued by the end of `on`; all of it from the due date on."""
    if on <= period.start:
        return round_fraction(Fraction(0), currency, mode)
    if on >= period.due:
        return round_fraction(Fraction(period.interest), currency, mode)
    elapsed = (on - period.start).days
    length = (period.due - period.start).days
    return round_fraction(Fraction(period.interest) * elapsed / length, currency, mode)


def accrual_for_day(
    period: AccrualPeriod, on: date, currency: str, mode: RoundingMode = RoundingMode.HALF_EVEN
) -> Decimal:
    """The accrual posted for business date `on` (zero outside the period)."""
    if on <= period.start or on > period.due:
        return round_fraction(Fraction(0), currency, mode)
    return accrued_to(period, on, currency, mode) - accrued_to(
        period, on - timedelta(days=1), currency, mode
    )


def accrued_through(
    periods: Sequence[AccrualPeriod],
    on: date,
    currency: str,
    mode: RoundingMode = RoundingMode.HALF_EVEN,
) -> Decimal:
    """Everything accrued over a schedule by the end of `on` (whole periods plus the current)."""
    return sum((accrued_to(p, on, currency, mode) for p in periods), ZERO)


@dataclass(frozen=True, slots=True)
class OverdueInstallment:
    """An installment past its due date and not fully paid, as penalties see it."""

    number: int
    due_date: date
    principal_interest_owed: Decimal
    late_fee_charged: bool


@dataclass(frozen=True, slots=True)
class PenaltyTerms:
    """The loan's penalty terms, fixed at booking from the product."""

    late_fee_flat: Decimal
    rate_annual: Decimal
    grace_days: int


@dataclass(frozen=True, slots=True)
class PenaltyCharge:
    """A penalty to charge to one installment on the business date."""

    installment: int
    amount: Decimal
    reason: str


def days_overdue(due_date: date, on: date) -> int:
    """Days an installment has been overdue on `on` (0 on or before its due date)."""
    return max((on - due_date).days, 0)


def penalties_for_day(
    overdue: Iterable[OverdueInstallment],
    terms: PenaltyTerms,
    on: date,
    currency: str,
    mode: RoundingMode = RoundingMode.HALF_EVEN,
) -> list[PenaltyCharge]:
    """Late fees and the day's penalty interest for a loan's overdue installments.

    Only installments overdue beyond the grace days count. The late fee goes once to each
    such installment; the day's penalty interest on their principal and interest owed goes
    to the oldest of them.
    """
    late = sorted(
        (i for i in overdue if days_overdue(i.due_date, on) > terms.grace_days),
        key=lambda i: (i.due_date, i.number),
    )
    charges: list[PenaltyCharge] = []
    if terms.late_fee_flat > 0:
        fee = round_fraction(Fraction(terms.late_fee_flat), currency, mode)
        charges += [
            PenaltyCharge(i.number, fee, LATE_FEE_REASON) for i in late if not i.late_fee_charged
        ]
    if late and terms.rate_annual > 0:
        base = sum((i.principal_interest_owed for i in late), ZERO)
        amount = round_fraction(
            Fraction(base) * Fraction(terms.rate_annual) / PENALTY_DAY_BASIS, currency, mode
        )
        if amount > 0:
            charges.append(PenaltyCharge(late[0].number, amount, PENALTY_INTEREST_REASON))
    return charges


@dataclass(frozen=True, slots=True)
class Delinquency:
    """Where a loan stands on a business date."""

    days_past_due: int
    bucket: str
    non_performing: bool


def delinquency_on(
    oldest_overdue_due_date: date | None,
    on: date,
    buckets: Sequence[Bucket] = DEFAULT_BUCKETS,
    non_performing_days: int = NON_PERFORMING_DAYS,
) -> Delinquency:
    """Days past due from the oldest unpaid installment past its due date, and its bucket."""
    dpd = 0 if oldest_overdue_due_date is None else days_overdue(oldest_overdue_due_date, on)
    return Delinquency(dpd, delinquency_bucket(dpd, buckets), dpd >= non_performing_days)


class BusinessDateError(ValueError):
    """A business date a run cannot close (before the last closed one)."""


def dates_to_close(last_closed: date | None, requested: date) -> list[date]:
    """The business dates a run for `requested` closes, in order, one at a time.

    Nothing closed yet: just the requested date. The last closed date again: nothing (the
    run exists). Skipped dates are caught up first. A date before the last closed one is
    refused.
    """
    if last_closed is None:
        return [requested]
    if requested < last_closed:
        raise BusinessDateError(
            f"business date {requested} is before the last closed date {last_closed}"
        )
    days = (requested - last_closed).days
    return [last_closed + timedelta(days=k) for k in range(1, days + 1)]


def business_date_due(local_now: datetime, cutoff: time) -> date:
    """The latest business date whose close is due at `local_now` (the lender's local time).

    A business date is closed once the next day's cut-off has passed: from `cutoff` on day D
    the due date is D - 1, before it D - 2 (yesterday's close is not due yet).
    """
    today = local_now.date()
    return today - timedelta(days=1 if local_now.time() >= cutoff else 2)
