"""Repayment schedules: one engine for the offer and the booked loan, so both agree exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, localcontext
from enum import Enum, StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from loanmath._currency import is_supported_currency
from loanmath._daycount import DayCount, year_fraction_ratio
from loanmath._errors import InvalidTermsError, LoanMathError
from loanmath._frequency import Frequency, due_dates, periods_per_year
from loanmath._numeric import divide_for_rounding, work_context
from loanmath._rounding import RoundingMode, as_decimal, round_money


class AmortizationMethod(StrEnum):
    """How principal is spread over the installments; values are stable for storage."""

    ANNUITY = "annuity"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_ONLY = "interest_only"


class InterestBasis(StrEnum):
    """How each period's interest rate is derived from the nominal annual rate."""

    EQUAL_PERIODS = "equal_periods"
    DAY_COUNT = "day_count"


_E = TypeVar("_E", bound=Enum)


def _coerce_enum(enum: type[_E], value: Any, field: str) -> _E:
    """Accept an enum member or its stored value so terms can be rebuilt from a database row."""
    try:
        return enum(value)
    except ValueError:
        raise InvalidTermsError(f"{field} {value!r} is not a valid {enum.__name__}") from None


def _coerce_decimal(value: object, field: str) -> Decimal:
    """Validate a numeric term, reporting bad values as InvalidTermsError."""
    try:
        return as_decimal(value, field)
    except LoanMathError as exc:
        raise InvalidTermsError(str(exc)) from None


def _check_date(value: object, field: str) -> None:
    """Require a plain date, since a datetime would drag a clock time into due dates."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidTermsError(f"{field} must be a date, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """Everything that determines a schedule; equal terms always give an equal schedule."""

    principal: Decimal
    currency: str
    annual_rate: Decimal
    term: int
    disbursement_date: date
    first_due_date: date
    frequency: Frequency = Frequency.MONTHLY
    method: AmortizationMethod = AmortizationMethod.ANNUITY
    day_count: DayCount = DayCount.THIRTY_360
    interest_basis: InterestBasis = InterestBasis.EQUAL_PERIODS
    rounding_mode: RoundingMode = RoundingMode.HALF_EVEN

    def __post_init__(self) -> None:
        """Reject terms that cannot produce a valid schedule, before any arithmetic runs."""
        if not is_supported_currency(self.currency):
            raise InvalidTermsError(f"unknown currency {self.currency!r}")
        principal = _coerce_decimal(self.principal, "principal")
        if principal <= 0:
            raise InvalidTermsError(f"principal must be > 0, got {principal}")
        at_minor_unit = round_money(principal, self.currency)
        if principal != at_minor_unit:
            raise InvalidTermsError(
                f"principal {principal} has more decimals than {self.currency} allows"
            )
        rate = _coerce_decimal(self.annual_rate, "annual_rate")
        if rate < 0:
            raise InvalidTermsError(f"annual_rate must be >= 0, got {rate}")
        if not isinstance(self.term, int) or isinstance(self.term, bool) or self.term < 1:
            raise InvalidTermsError(f"term must be an integer >= 1, got {self.term!r}")
        _check_date(self.disbursement_date, "disbursement_date")
        _check_date(self.first_due_date, "first_due_date")
        if self.first_due_date <= self.disbursement_date:
            raise InvalidTermsError(
                f"first_due_date {self.first_due_date} must be after "
                f"disbursement_date {self.disbursement_date}"
            )
        object.__setattr__(self, "principal", at_minor_unit)
        object.__setattr__(self, "annual_rate", rate)
        for field, enum in (
            ("frequency", Frequency),
            ("method", AmortizationMethod),
            ("day_count", DayCount),
            ("interest_basis", InterestBasis),
            ("rounding_mode", RoundingMode),
        ):
            object.__setattr__(self, field, _coerce_enum(enum, getattr(self, field), field))


@dataclass(frozen=True, slots=True)
class Installment:
    """One row of the schedule; every amount is already at the currency's minor unit."""

    number: int
    due_date: date
    opening_balance: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    closing_balance: Decimal


def _exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """Add amounts in the work context so totals never depend on the global precision."""
    with localcontext(work_context()):
        return sum(amounts, Decimal(0))


@dataclass(frozen=True, slots=True)
class Schedule:
    """The terms and the installments they produce, with the totals an offer shows."""

    terms: ScheduleTerms
    installments: tuple[Installment, ...]

    @property
    def installment_amount(self) -> Decimal:
        """The regular installment quoted to the borrower (the first installment's total)."""
        return self.installments[0].total

    @property
    def total_principal(self) -> Decimal:
        """Sum of principal parts; always equals the loan principal exactly."""
        return _exact_sum(i.principal for i in self.installments)

    @property
    def total_interest(self) -> Decimal:
        """Sum of interest parts, the cost of credit before fees."""
        return _exact_sum(i.interest for i in self.installments)

    @property
    def total_repayable(self) -> Decimal:
        """Sum of all installment totals, what the borrower pays back overall."""
        return _exact_sum(i.total for i in self.installments)

    @property
    def first_due_date(self) -> date:
        """Due date of the first installment."""
        return self.installments[0].due_date

    @property
    def last_due_date(self) -> date:
        """Due date of the final installment, the loan's maturity."""
        return self.installments[-1].due_date


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a method needs: validated terms, due dates and each period's exact rate."""

    terms: ScheduleTerms
    due_dates: list[date]
    period_rates: list[Fraction]

    def money(self, amount: Decimal) -> Decimal:
        """Round with the terms' currency and mode, the only rounding a schedule uses."""
        return round_money(amount, self.terms.currency, self.terms.rounding_mode)


# A principal rule returns the principal part of a regular (not final) installment,
# given the installment number, its opening balance and its already rounded interest.
PrincipalRule = Callable[[int, Decimal, Decimal], Decimal]


def _nominal_period_rate(terms: ScheduleTerms) -> Fraction:
    """The annual rate split evenly over the periods of a year."""
    return Fraction(terms.annual_rate) / periods_per_year(terms.frequency)


def _equal_periods_rates(terms: ScheduleTerms, dates: list[date]) -> list[Fraction]:
    """Every period carries annual_rate / periods_per_year, whatever its length."""
    return [_nominal_period_rate(terms)] * len(dates)


def _day_count_rates(terms: ScheduleTerms, dates: list[date]) -> list[Fraction]:
    """Each period carries annual_rate times its year fraction, the first from disbursement."""
    rate = Fraction(terms.annual_rate)
    starts = [terms.disbursement_date, *dates[:-1]]
    return [
        rate * year_fraction_ratio(s, e, terms.day_count)
        for s, e in zip(starts, dates, strict=True)
    ]


_INTEREST_BASES: dict[InterestBasis, Callable[[ScheduleTerms, list[date]], list[Fraction]]] = {
    InterestBasis.EQUAL_PERIODS: _equal_periods_rates,
    InterestBasis.DAY_COUNT: _day_count_rates,
}


def annuity_payment(principal: Decimal, period_rate: Fraction, term: int) -> Decimal:
    """Unrounded level payment P*r/(1-(1+r)^-n), or P/n at a zero rate."""
    if period_rate == 0:
        return divide_for_rounding(principal, Decimal(term))
    with localcontext(work_context()):
        r = Decimal(period_rate.numerator) / Decimal(period_rate.denominator)
        factor = 1 - (1 + r) ** -term
        return divide_for_rounding(principal * r, factor)


def _annuity(plan: _Plan) -> PrincipalRule:
    """Equal installments (EMI): principal is what the fixed installment leaves after interest."""
    terms = plan.terms
    payment = plan.money(annuity_payment(terms.principal, _nominal_period_rate(terms), terms.term))
    return lambda _number, _opening, interest: payment - interest


def _equal_principal(plan: _Plan) -> PrincipalRule:
    """Equal principal parts with interest on the falling balance, so totals decline."""
    terms = plan.terms
    part = plan.money(divide_for_rounding(terms.principal, Decimal(terms.term)))
    return lambda _number, _opening, _interest: part


def _interest_only(plan: _Plan) -> PrincipalRule:
    """Interest only with a balloon: all principal is due with the final installment."""
    zero = plan.money(Decimal(0))
    return lambda _number, _opening, _interest: zero


_METHODS: dict[AmortizationMethod, Callable[[_Plan], PrincipalRule]] = {
    AmortizationMethod.ANNUITY: _annuity,
    AmortizationMethod.EQUAL_PRINCIPAL: _equal_principal,
    AmortizationMethod.INTEREST_ONLY: _interest_only,
}


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """Build the repayment schedule; the final installment absorbs every rounding residue.

    Each period's interest is round_money(opening_balance * period_rate) on the rounded
    balance; a regular installment's principal comes from the method, and the last one
    repays the whole remaining balance, so principal parts sum exactly to the principal.
    With DAY_COUNT a long first period can make interest exceed an annuity installment;
    the principal part is then negative and the unpaid interest is added to the balance.
    Rounding drift compounds at the period rate, so terms whose regular installments
    would repay everything before the last one (a tiny principal for the term, a high
    rate over a long term, or a much shorter first period) raise InvalidTermsError
    rather than emit zero or negative installments.
    """
    with localcontext(work_context()):
        return _build(terms)


def _build(terms: ScheduleTerms) -> Schedule:
    """Run the period loop; the caller has set a high-precision local context."""
    dates = due_dates(terms.first_due_date, terms.frequency, terms.term)
    plan = _Plan(terms, dates, _INTEREST_BASES[terms.interest_basis](terms, dates))
    principal_rule = _METHODS[terms.method](plan)
    fees = plan.money(Decimal(0))
    balance = terms.principal
    rows: list[Installment] = []
    for number, (due, rate) in enumerate(zip(dates, plan.period_rates, strict=True), start=1):
        exact_interest = divide_for_rounding(
            balance * Decimal(rate.numerator), Decimal(rate.denominator)
        )
        interest = plan.money(exact_interest)
        is_last = number == terms.term
        principal = balance if is_last else principal_rule(number, balance, interest)
        closing = balance - principal
        if not is_last and closing <= 0:
            raise InvalidTermsError(
                f"these terms repay the principal by installment {number} of {terms.term}, "
                "leaving nothing for the final one: rounding drift outgrows the final "
                "installment (principal too small for the term, or a high rate over a long "
                "term) or a short first period undercharges interest"
            )
        amortizing = terms.method is not AmortizationMethod.INTEREST_ONLY
        if not is_last and amortizing and principal + interest <= 0:
            raise InvalidTermsError(
                f"installment {number} of {terms.term} rounds to nothing: the principal is "
                "too small for the term in this currency"
            )
        rows.append(
            Installment(
                number=number,
                due_date=due,
                opening_balance=balance,
                principal=principal,
                interest=interest,
                fees=fees,
                total=principal + interest + fees,
                closing_balance=closing,
            )
        )
        balance = closing
    return Schedule(terms=terms, installments=tuple(rows))
