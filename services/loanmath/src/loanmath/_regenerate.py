"""Schedule regeneration after a rate change or a prepayment; past installments stay as they were."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from loanmath._errors import InvalidTermsError
from loanmath._rounding import RoundingMode, round_money
from loanmath._schedule import (
    _METHODS,
    AmortizationMethod,
    GraceInterest,
    Schedule,
    ScheduleTerms,
    _check_date,
    _coerce_decimal,
    _Columns,
    _multiple,
    _Principal,
    _Run,
    _run,
    minor_units,
    nominal_period_rate,
    period_rates,
)


class PrepaymentEffect(StrEnum):
    """What a prepayment shortens; values are stable for storage."""

    # Keep the regular installment; the loan ends earlier.
    REDUCE_TERM = "reduce_term"
    # Keep the remaining number of installments; each gets smaller.
    REDUCE_INSTALLMENT = "reduce_installment"


@dataclass(frozen=True, slots=True)
class RateChange:
    """A new nominal annual rate from from_date; the remaining term is kept."""

    annual_rate: Decimal


@dataclass(frozen=True, slots=True)
class Prepayment:
    """Principal paid ahead of schedule on from_date, less than the whole outstanding."""

    amount: Decimal
    effect: PrepaymentEffect = PrepaymentEffect.REDUCE_INSTALLMENT


ScheduleChange = RateChange | Prepayment


def regenerate_schedule(
    schedule: Schedule,
    *,
    from_date: date,
    outstanding_principal: Decimal,
    change: ScheduleChange,
) -> Schedule:
    """Rebuild the installments still to fall due after from_date; earlier ones are kept as is.

    Conventions:
    - An installment is past when its due date is on or before from_date; those rows are
      returned unchanged and numbering continues after them.
    - outstanding_principal is the principal owed on from_date before the change (the
      caller's ledger figure, usually the last past installment's closing balance).
    - The period running on from_date is split in proportion to actual days: interest on
      the old balance at the old rate up to from_date, on the new balance at the new rate
      after it, rounded once. Later periods follow the terms' interest basis.
    - RateChange and Prepayment(REDUCE_INSTALLMENT) recompute the level amount (annuity
      installment or equal principal part) over the remaining installments from the new
      balance and rate; REDUCE_TERM keeps the current level and drops the installments
      it no longer needs. The last installment absorbs every residue, so the remaining
      principal parts sum exactly to outstanding_principal minus the prepayment.
    - The result's terms carry the new rate; prepaid_principal accumulates prepayments,
      so total_principal + prepaid_principal equals the loan principal whenever
      outstanding_principal matched the schedule.
    Flat-interest loans are refused: their interest is fixed at origination, and a rebate
    rule (actuarial, rule of 78) is a product decision this engine should not guess.
    """
    terms = schedule.terms
    _check_date(from_date, "from_date")
    if from_date < terms.disbursement_date:
        raise InvalidTermsError(f"from_date {from_date} is before disbursement")
    rule = _METHODS[terms.method]
    if rule.flat_interest:
        raise InvalidTermsError("flat-interest schedules cannot be regenerated")
    rows = schedule.installments
    past = sum(1 for row in rows if row.due_date <= from_date)
    remaining = len(rows) - past
    if remaining == 0:
        raise InvalidTermsError(f"no installment falls due after {from_date}")
    outstanding = _money_term(outstanding_principal, terms, "outstanding_principal")
    if outstanding <= 0:
        raise InvalidTermsError("outstanding_principal must be > 0")
    grace_interest = max(terms.grace_interest_periods - past, 0)
    grace_start = max(terms.grace_interest_periods + terms.grace_principal_periods - past, 0)
    if grace_interest and terms.grace_interest is GraceInterest.DEFER:
        raise InvalidTermsError("cannot regenerate inside a deferred-interest grace period")

    old_rate = terms.annual_rate
    new_terms = terms
    after = outstanding
    fixed_level: int | None = None
    prepaid = schedule.prepaid_principal
    if isinstance(change, RateChange):
        new_rate = _coerce_decimal(change.annual_rate, "annual_rate")
        if new_rate < 0:
            raise InvalidTermsError(f"annual_rate must be >= 0, got {new_rate}")
        new_terms = dataclasses.replace(terms, annual_rate=new_rate)
    elif isinstance(change, Prepayment):
        amount = _money_term(change.amount, terms, "prepayment amount")
        if not 0 < amount < outstanding:
            raise InvalidTermsError(
                f"a prepayment must be > 0 and below the outstanding {outstanding}, got {amount}"
            )
        after = outstanding - amount
        prepaid = round_money(prepaid + amount, terms.currency)
        if PrepaymentEffect(change.effect) is PrepaymentEffect.REDUCE_TERM:
            if rule.principal is _Principal.NONE:
                raise InvalidTermsError(f"{terms.method} has no regular principal to keep")
            if grace_start:
                raise InvalidTermsError("reduce-term needs from_date after the grace periods")
            fixed_level = _current_level(schedule, past)
    else:
        raise TypeError(f"change must be a RateChange or a Prepayment, not {type(change).__name__}")

    schedule_dates = list(schedule.schedule_dates)
    payment_dates = [row.due_date for row in rows]
    accrual = payment_dates if terms.accrue_on_payment_dates else schedule_dates
    old_rates = period_rates(terms, old_rate, accrual, len(rows))
    new_rates = period_rates(new_terms, new_terms.annual_rate, accrual, len(rows))[past:]
    start = accrual[past - 1] if past else terms.disbursement_date
    end = accrual[past]
    elapsed = (min(from_date, end) - start).days
    before = Fraction(max(elapsed, 0), (end - start).days)
    currency = terms.currency
    balance_before = minor_units(outstanding, currency)
    balance_after = minor_units(after, currency)
    # First period: old balance at the old rate before from_date, new after it, in the
    # form balance_after * rate0 + extra so the loop still rounds once.
    rate0 = new_rates[0] * (1 - before)
    extra = balance_before * old_rates[past] * before
    new_rates[0] = rate0
    run = _Run(
        balance=balance_after,
        count=remaining,
        rates=new_rates,
        nominal=nominal_period_rate(new_terms.annual_rate, terms.frequency),
        mode=RoundingMode(terms.rounding_mode),
        rule=rule,
        grace_interest_periods=grace_interest,
        grace_principal_periods=grace_start - grace_interest,
        capitalise=terms.grace_interest is GraceInterest.CAPITALISE,
        multiple=_multiple(terms),
        first_extra=extra,
        fixed_level=fixed_level,
        first_number=past + 1,
        term=len(rows),
    )
    principal, interest = _run(run)
    count = len(principal)
    columns = _Columns(
        past + 1,
        balance_after,
        principal,
        interest,
        payment_dates[past : past + count],
        schedule_dates[past : past + count],
    )
    return Schedule(
        new_terms,
        _columns=columns,
        _head=rows[:past],
        _regular_index=past + min(grace_start, count - 1),
        prepaid_principal=prepaid,
    )


def _money_term(value: object, terms: ScheduleTerms, what: str) -> Decimal:
    """A Decimal amount already at the currency's minor unit."""
    amount = _coerce_decimal(value, what)
    if round_money(amount, terms.currency) != amount:
        raise InvalidTermsError(f"{what} {amount} has more decimals than {terms.currency} allows")
    return round_money(amount, terms.currency)


def _current_level(schedule: Schedule, past: int) -> int:
    """The level a reduce-term prepayment keeps: the next regular installment's, in minor units."""
    rows = schedule.installments
    if past >= len(rows) - 1:
        return 0  # only the final installment is left, and it takes whatever remains
    row = rows[past]
    annuity = schedule.terms.method is AmortizationMethod.ANNUITY
    return minor_units(row.total if annuity else row.principal, schedule.terms.currency)
