"""Repayment schedules: one engine for the offer and the booked loan, so both agree exactly.

The period loop runs in integer minor units with exact integer rounding per the product's
mode (the same result round_money gives on the exact rational), and the schedule keeps its
columns as integers: Installment rows with Decimal amounts are built on first access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal, localcontext
from enum import Enum, StrEnum
from fractions import Fraction
from typing import Any, NamedTuple, TypeVar

from loanmath._calendar import BusinessDayConvention, HolidayCalendar, adjust_date
from loanmath._currency import get_currency, is_supported_currency
from loanmath._daycount import DayCount, year_fraction_ratio
from loanmath._errors import InvalidTermsError, LoanMathError
from loanmath._frequency import Frequency, due_dates, periods_per_year, regular_period_start
from loanmath._numeric import WORK_PRECISION, divide_for_rounding, work_context
from loanmath._rounding import RoundingMode, as_decimal, round_money


class AmortizationMethod(StrEnum):
    """How principal is spread over the installments; values are stable for storage."""

    ANNUITY = "annuity"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_ONLY = "interest_only"
    # Interest on the original principal for the whole term, spread evenly over the
    # installments that pay interest; principal in equal parts.
    FLAT = "flat"
    # Principal and interest in one installment at maturity (the term must be 1).
    BULLET = "bullet"


class InterestBasis(StrEnum):
    """How each period's interest rate is derived from the nominal annual rate."""

    EQUAL_PERIODS = "equal_periods"
    DAY_COUNT = "day_count"


class GraceInterest(StrEnum):
    """What happens to interest accrued in installments that pay nothing (interest grace)."""

    # Added to the balance (the row shows it as interest with an equal negative principal
    # part), so it bears interest afterwards and is repaid with the principal.
    CAPITALISE = "capitalise"
    # Kept aside without bearing interest and charged with the first installment after the
    # interest grace, on top of that installment's own interest.
    DEFER = "defer"


class BrokenPeriodInterest(StrEnum):
    """How an irregular first period (disbursement to first due date) is charged.

    Only matters under EQUAL_PERIODS: DAY_COUNT always charges each period by its days.
    """

    # As a regular period (annual_rate / periods_per_year), whatever its length.
    REGULAR = "regular"
    # annual_rate * year_fraction(disbursement, first due date) when the first period is
    # longer or shorter than a regular one; regular periods stay annual_rate / per year.
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


def _check_count(value: object, field: str) -> int:
    """Require a non-negative int (not a bool) for a count of periods."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidTermsError(f"{field} must be an integer >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """Everything that determines a schedule; equal terms always give an equal schedule.

    Fields after rounding_mode are optional additions whose defaults keep the original
    behaviour: no grace, a first period charged as a regular one under EQUAL_PERIODS,
    unadjusted due dates and no rounding of the installment beyond the minor unit.

    - grace_interest_periods: the first installments pay nothing; their interest is
      capitalised or deferred per grace_interest.
    - grace_principal_periods: the installments after those pay interest only.
    - business_day_convention / calendar: due dates on closed days move per the
      convention (calendar None means Saturday and Sunday only). The moved dates are the
      payment dates (Installment.due_date); interest accrues between the unadjusted
      schedule dates unless accrue_on_payment_dates is set.
    - installment_multiple: the regular installment is rounded up to a multiple of this
      amount (e.g. 1.00 or 0.05); the last installment absorbs the difference.
    """

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
    grace_principal_periods: int = 0
    grace_interest_periods: int = 0
    grace_interest: GraceInterest = GraceInterest.CAPITALISE
    broken_period_interest: BrokenPeriodInterest = BrokenPeriodInterest.REGULAR
    business_day_convention: BusinessDayConvention = BusinessDayConvention.UNADJUSTED
    calendar: HolidayCalendar | None = None
    accrue_on_payment_dates: bool = False
    installment_multiple: Decimal | None = None

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
            ("grace_interest", GraceInterest),
            ("broken_period_interest", BrokenPeriodInterest),
            ("business_day_convention", BusinessDayConvention),
        ):
            object.__setattr__(self, field, _coerce_enum(enum, getattr(self, field), field))
        self._check_additions()

    def _check_additions(self) -> None:
        """Validate the optional fields that came after the original ones."""
        single = self.frequency is Frequency.WHOLE_TERM or self.method is AmortizationMethod.BULLET
        if single and self.term != 1:
            what = "whole_term frequency" if self.frequency is Frequency.WHOLE_TERM else "bullet"
            raise InvalidTermsError(f"{what} needs term 1 (one installment), got {self.term}")
        grace = _check_count(self.grace_principal_periods, "grace_principal_periods")
        grace += _check_count(self.grace_interest_periods, "grace_interest_periods")
        if grace > self.term - 1:
            raise InvalidTermsError(
                f"grace periods ({grace}) must leave at least one installment that repays "
                f"principal in a term of {self.term}"
            )
        if self.calendar is not None and not isinstance(self.calendar, HolidayCalendar):
            raise InvalidTermsError("calendar must have an is_business_day(date) method")
        if not isinstance(self.accrue_on_payment_dates, bool):
            raise InvalidTermsError("accrue_on_payment_dates must be a bool")
        if self.installment_multiple is not None:
            multiple = _coerce_decimal(self.installment_multiple, "installment_multiple")
            if multiple <= 0 or round_money(multiple, self.currency) != multiple:
                raise InvalidTermsError(
                    f"installment_multiple must be a positive amount in {self.currency}'s "
                    f"minor units, got {multiple}"
                )
            object.__setattr__(self, "installment_multiple", round_money(multiple, self.currency))


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


class MinorRow(NamedTuple):
    """One installment's amounts as integer counts of the currency's minor unit."""

    number: int
    due_date: date
    principal: int
    interest: int
    fees: int

    @property
    def total(self) -> int:
        """Principal, interest and fees together."""
        return self.principal + self.interest + self.fees


def _exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """Add amounts in the work context so totals never depend on the global precision."""
    with localcontext(work_context()):
        return sum(amounts, Decimal(0))


@dataclass(frozen=True, slots=True)
class _Columns:
    """A computed run of installments in integer minor units, turned into rows on demand."""

    first_number: int
    opening: int
    principal: list[int]
    interest: list[int]
    payment_dates: list[date] | None
    schedule_dates: list[date] | None


_DECIMAL_CONTEXT = Context(prec=WORK_PRECISION)


def _materialise(terms: ScheduleTerms, columns: _Columns) -> tuple[Installment, ...]:
    """Build the Installment rows of a run, sharing each closing Decimal with the next opening."""
    places = -get_currency(terms.currency).minor_units
    context = _DECIMAL_CONTEXT
    dates = columns.payment_dates
    if dates is None:
        dates = _payment_dates(terms, _schedule_dates(terms))
    fees = Decimal(0).scaleb(places, context)
    balance = columns.opening
    opening = Decimal(balance).scaleb(places, context)
    rows = []
    number = columns.first_number
    for due, principal, interest in zip(dates, columns.principal, columns.interest, strict=True):
        balance -= principal
        closing = Decimal(balance).scaleb(places, context)
        rows.append(
            Installment(
                number,
                due,
                opening,
                Decimal(principal).scaleb(places, context),
                Decimal(interest).scaleb(places, context),
                fees,
                Decimal(principal + interest).scaleb(places, context),
                closing,
            )
        )
        opening = closing
        number += 1
    return tuple(rows)


def _first_regular_index(terms: ScheduleTerms) -> int:
    """The first installment after grace that carries no deferred interest."""
    index = terms.grace_interest_periods + terms.grace_principal_periods
    deferred = terms.grace_interest is GraceInterest.DEFER and terms.grace_interest_periods
    return index + 1 if deferred and not terms.grace_principal_periods else index


class Schedule:
    """The terms and the installments they produce, with the totals an offer shows.

    Built by build_schedule (or regenerate_schedule) from integer columns; the
    installments tuple is materialised on first access and then kept. It can also be
    built directly from installments, as before: Schedule(terms=..., installments=...).
    """

    __slots__ = (
        "_columns",
        "_head",
        "_installments",
        "_minor",
        "_minor_sums",
        "_prepaid",
        "_regular_index",
        "terms",
    )

    terms: ScheduleTerms
    _installments: tuple[Installment, ...] | None
    _columns: _Columns | None
    _head: tuple[Installment, ...]
    _regular_index: int
    _prepaid: Decimal | None
    _minor: tuple[MinorRow, ...] | None
    _minor_sums: dict[str, int] | None

    def __init__(
        self,
        terms: ScheduleTerms,
        installments: Sequence[Installment] | None = None,
        *,
        _columns: _Columns | None = None,
        _head: tuple[Installment, ...] = (),
        _regular_index: int | None = None,
        prepaid_principal: Decimal | None = None,
    ) -> None:
        """Keep either the rows themselves or the columns that produce them."""
        if (installments is None) == (_columns is None):
            raise TypeError("Schedule needs installments (or, internally, columns)")
        setter = object.__setattr__
        setter(self, "terms", terms)
        setter(self, "_installments", None if installments is None else tuple(installments))
        setter(self, "_columns", _columns)
        setter(self, "_head", _head)
        if _regular_index is None:
            _regular_index = _first_regular_index(terms)
        setter(self, "_regular_index", _regular_index)
        setter(self, "_prepaid", prepaid_principal)
        setter(self, "_minor", None)
        setter(self, "_minor_sums", None)

    def __setattr__(self, name: str, value: object) -> None:
        """Schedules are immutable, like the frozen dataclass they used to be."""
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        """Schedules are immutable."""
        raise AttributeError(f"cannot delete field {name!r}")

    @property
    def prepaid_principal(self) -> Decimal:
        """Principal repaid outside the installments (prepayments folded in by regeneration)."""
        prepaid = self._prepaid
        return round_money(Decimal(0), self.terms.currency) if prepaid is None else prepaid

    @property
    def installments(self) -> tuple[Installment, ...]:
        """Every installment in order; the rows are built on first access and then kept."""
        rows = self._installments
        if rows is None:
            assert self._columns is not None
            rows = self._head + _materialise(self.terms, self._columns)
            object.__setattr__(self, "_installments", rows)
        return rows

    def minor_rows(self) -> tuple[MinorRow, ...]:
        """Every installment as integers of the currency's minor unit, without building rows.

        What a writer of many schedules needs (number, due date, principal, interest,
        fees): computed straight from the integer columns when the rows have not been
        built, so booking a loan skips the Decimal rows it would only take apart again.
        """
        minor = self._minor
        if minor is None:
            columns = self._columns
            if columns is None or self._head or self._installments is not None:
                currency = self.terms.currency
                minor = tuple(
                    MinorRow(
                        i.number,
                        i.due_date,
                        minor_units(i.principal, currency),
                        minor_units(i.interest, currency),
                        minor_units(i.fees, currency),
                    )
                    for i in self.installments
                )
            else:
                dates = columns.payment_dates
                if dates is None:
                    dates = _payment_dates(self.terms, _schedule_dates(self.terms))
                first = columns.first_number
                make = tuple.__new__  # MinorRow(...) without its generated __new__ frame
                minor = tuple(
                    make(MinorRow, (first + index, due, principal, interest, 0))
                    for index, (due, principal, interest) in enumerate(
                        zip(dates, columns.principal, columns.interest, strict=True)
                    )
                )
            object.__setattr__(self, "_minor", minor)
        return minor

    def _minor_total(self, *parts: str) -> Decimal:
        """Sum of the named MinorRow fields over all installments, as an amount."""
        sums = self._minor_sums
        if sums is None:
            rows = self.minor_rows()
            sums = {
                "principal": sum(row.principal for row in rows),
                "interest": sum(row.interest for row in rows),
                "fees": sum(row.fees for row in rows),
            }
            object.__setattr__(self, "_minor_sums", sums)
        places = -get_currency(self.terms.currency).minor_units
        return Decimal(sum(sums[part] for part in parts)).scaleb(places, _DECIMAL_CONTEXT)

    @property
    def installment_count(self) -> int:
        """How many installments the schedule has."""
        rows = self._installments
        return len(rows) if rows is not None else len(self.minor_rows())

    def __eq__(self, other: object) -> bool:
        """Equal when the terms and every installment are equal."""
        if not isinstance(other, Schedule):
            return NotImplemented
        return (self.terms, self.installments, self.prepaid_principal) == (
            other.terms,
            other.installments,
            other.prepaid_principal,
        )

    def __hash__(self) -> int:
        """Hash like the equality above."""
        return hash((self.terms, self.installments))

    def __repr__(self) -> str:
        """Show the terms and the installments, like a dataclass would."""
        return f"Schedule(terms={self.terms!r}, installments={self.installments!r})"

    @property
    def installment_amount(self) -> Decimal:
        """The regular installment quoted to the borrower: the first one after any grace."""
        if self._installments is None:
            minor = self.minor_rows()
            row = minor[min(self._regular_index, len(minor) - 1)]
            places = -get_currency(self.terms.currency).minor_units
            return Decimal(row.principal + row.interest + row.fees).scaleb(places, _DECIMAL_CONTEXT)
        rows = self.installments
        return rows[min(self._regular_index, len(rows) - 1)].total

    @property
    def total_principal(self) -> Decimal:
        """Sum of principal parts; with prepaid_principal it equals the loan principal."""
        if self._installments is None:
            return self._minor_total("principal")
        return _exact_sum(i.principal for i in self.installments)

    @property
    def total_interest(self) -> Decimal:
        """Sum of interest parts, the cost of credit before fees."""
        if self._installments is None:
            return self._minor_total("interest")
        return _exact_sum(i.interest for i in self.installments)

    @property
    def total_repayable(self) -> Decimal:
        """Sum of all installment totals, what the borrower pays back overall."""
        if self._installments is None:
            return self._minor_total("principal", "interest", "fees")
        return _exact_sum(i.total for i in self.installments)

    @property
    def first_due_date(self) -> date:
        """Due date of the first installment."""
        if self._installments is None:
            return self.minor_rows()[0].due_date
        return self.installments[0].due_date

    @property
    def last_due_date(self) -> date:
        """Due date of the final installment, the loan's maturity."""
        if self._installments is None:
            return self.minor_rows()[-1].due_date
        return self.installments[-1].due_date

    @property
    def schedule_dates(self) -> tuple[date, ...]:
        """Unadjusted schedule dates, one per installment: where interest periods end."""
        columns = self._columns
        if columns is None:
            return tuple(_schedule_dates(self.terms)[: len(self.installments)])
        tail = columns.schedule_dates
        if tail is None:
            tail = _schedule_dates(self.terms)
        head = _schedule_dates(self.terms)[: len(self._head)] if self._head else []
        return (*head, *tail)


# --- exact integer rounding -------------------------------------------------------------


def round_div(numerator: int, denominator: int, mode: RoundingMode) -> int:
    """Round numerator/denominator (denominator > 0) to an integer exactly, per the mode."""
    quotient, remainder = divmod(numerator, denominator)
    if not remainder:
        return quotient
    positive = numerator > 0
    if mode is RoundingMode.FLOOR:
        return quotient
    if mode is RoundingMode.CEILING:
        return quotient + 1
    if mode is RoundingMode.DOWN:
        return quotient if positive else quotient + 1
    if mode is RoundingMode.UP:
        return quotient + 1 if positive else quotient
    twice = 2 * remainder
    if twice != denominator:
        return quotient + 1 if twice > denominator else quotient
    if mode is RoundingMode.HALF_UP:
        return quotient + 1 if positive else quotient
    if mode is RoundingMode.HALF_DOWN:
        return quotient if positive else quotient + 1
    return quotient + (quotient & 1)


def _round_fraction(value: Fraction, mode: RoundingMode) -> int:
    """Round an exact rational amount of minor units to an integer per the mode."""
    return round_div(value.numerator, value.denominator, mode)


# --- dates and rates --------------------------------------------------------------------


def _schedule_dates(terms: ScheduleTerms) -> list[date]:
    """The unadjusted due dates from the frequency rule."""
    return due_dates(terms.first_due_date, terms.frequency, terms.term)


def _payment_dates(terms: ScheduleTerms, dates: list[date]) -> list[date]:
    """Move each schedule date onto a business day; they must stay after disbursement, in order."""
    convention = terms.business_day_convention
    if convention is BusinessDayConvention.UNADJUSTED:
        return dates
    moved = [adjust_date(d, convention, terms.calendar) for d in dates]
    previous = terms.disbursement_date
    for number, day in enumerate(moved, start=1):
        if day <= previous:
            raise InvalidTermsError(
                f"the {convention} adjustment moves installment {number} to {day}, not after "
                f"{previous}: choose another convention or frequency"
            )
        previous = day
    return moved


def nominal_period_rate(annual_rate: Decimal, frequency: Frequency) -> Fraction:
    """The annual rate split evenly over the periods of a year."""
    if frequency is Frequency.WHOLE_TERM:
        return Fraction(0)  # never used: a whole-term loan has no regular installment
    return Fraction(annual_rate) / periods_per_year(frequency)


def _stub_rate(terms: ScheduleTerms, annual: Fraction, end: date) -> Fraction | None:
    """The first period's rate under EQUAL_PERIODS when it is irregular, else None."""
    regular_start = regular_period_start(terms.first_due_date, terms.frequency)
    if terms.frequency is not Frequency.WHOLE_TERM and (
        terms.broken_period_interest is BrokenPeriodInterest.REGULAR
        or regular_start == terms.disbursement_date
    ):
        return None
    return annual * year_fraction_ratio(terms.disbursement_date, end, terms.day_count)


def period_rates(
    terms: ScheduleTerms,
    annual_rate: Decimal,
    accrual_dates: list[date] | None,
    count: int,
    nominal: Fraction | None = None,
) -> list[Fraction]:
    """Each period's exact rate: by its days under DAY_COUNT, else the nominal rate.

    Under EQUAL_PERIODS only an irregular first period (with BrokenPeriodInterest.DAY_COUNT,
    or any WHOLE_TERM period) is charged by its days. accrual_dates may be None when only
    the nominal rate is needed.
    """
    annual = Fraction(annual_rate)
    if terms.interest_basis is InterestBasis.DAY_COUNT:
        assert accrual_dates is not None
        starts = [terms.disbursement_date, *accrual_dates[: count - 1]]
        return [
            annual * year_fraction_ratio(s, e, terms.day_count)
            for s, e in zip(starts, accrual_dates[:count], strict=True)
        ]
    if nominal is None:
        nominal = nominal_period_rate(annual_rate, terms.frequency)
    rates = [nominal] * count
    if count and (
        terms.broken_period_interest is BrokenPeriodInterest.DAY_COUNT
        or terms.frequency is Frequency.WHOLE_TERM
    ):
        end = terms.first_due_date if accrual_dates is None else accrual_dates[0]
        stub = _stub_rate(terms, annual, end)
        if stub is not None:
            rates[0] = stub
    return rates


def _needs_accrual_dates(terms: ScheduleTerms) -> bool:
    """Tell whether interest depends on actual dates (else dates can wait until rows are read)."""
    return terms.interest_basis is InterestBasis.DAY_COUNT or (
        terms.accrue_on_payment_dates
        and terms.business_day_convention is not BusinessDayConvention.UNADJUSTED
    )


# --- methods ----------------------------------------------------------------------------


class _Principal(Enum):
    """What a method keeps level across its regular installments."""

    TOTAL = "total"  # the installment (principal = level - interest)
    PART = "part"  # the principal part
    NONE = "none"  # nothing: all principal is due with the last installment


@dataclass(frozen=True, slots=True)
class _MethodRule:
    """One registry entry: how a method spreads principal and charges interest."""

    principal: _Principal
    flat_interest: bool = False


_METHODS: dict[AmortizationMethod, _MethodRule] = {
    AmortizationMethod.ANNUITY: _MethodRule(_Principal.TOTAL),
    AmortizationMethod.EQUAL_PRINCIPAL: _MethodRule(_Principal.PART),
    AmortizationMethod.INTEREST_ONLY: _MethodRule(_Principal.NONE),
    AmortizationMethod.FLAT: _MethodRule(_Principal.PART, flat_interest=True),
    AmortizationMethod.BULLET: _MethodRule(_Principal.NONE),
}


def annuity_payment(principal: Decimal, period_rate: Fraction, term: int) -> Decimal:
    """Unrounded level payment P*r/(1-(1+r)^-n), or P/n at a zero rate."""
    if period_rate == 0:
        return divide_for_rounding(principal, Decimal(term))
    with localcontext(work_context()):
        r = Decimal(period_rate.numerator) / Decimal(period_rate.denominator)
        factor = 1 - (1 + r) ** -term
        return divide_for_rounding(principal * r, factor)


def _annuity_minor(balance: int, rate: Fraction, count: int, mode: RoundingMode) -> int:
    """The level installment B*r/(1-(1+r)^-n) in minor units, rounded once from the exact value."""
    if not rate:
        return round_div(balance, count, mode)
    a, b = rate.numerator, rate.denominator
    grown = (a + b) ** count
    return round_div(balance * a * grown, b * (grown - b**count), mode)


def _round_up_to(amount: int, multiple: int | None) -> int:
    """Round an amount of minor units up to a multiple, when the terms ask for one."""
    if multiple is None or amount <= 0:
        return amount
    return -(-amount // multiple) * multiple


# --- the period loop --------------------------------------------------------------------

_EARLY_REPAYMENT = (
    "these terms repay the principal by installment {number} of {term}, leaving nothing "
    "for the final one: rounding drift outgrows the final installment (principal too small "
    "for the term, or a high rate over a long term) or a short first period undercharges "
    "interest"
)
_ROUNDS_TO_NOTHING = (
    "installment {number} of {term} rounds to nothing: the principal is too small for the "
    "term in this currency"
)


@dataclass(slots=True)
class _Run:
    """Inputs of one pass of the period loop, in minor units and exact rates."""

    balance: int
    count: int
    rates: list[Fraction]
    nominal: Fraction
    mode: RoundingMode
    rule: _MethodRule
    grace_interest_periods: int = 0
    grace_principal_periods: int = 0
    capitalise: bool = True
    multiple: int | None = None
    # Exact minor units of interest to add to the first period (a prepayment mid-period).
    first_extra: Fraction = Fraction(0)
    # Keep this level (reduce-term) and stop once it repays the balance.
    fixed_level: int | None = None
    # Flat method: total flat interest in minor units for the whole run.
    flat_interest: int = 0
    # Index from which every rate is the nominal one, when known by construction.
    uniform_from: int | None = None
    # Numbering and the term used in error messages.
    first_number: int = 1
    term: int = 0


def _run(run: _Run) -> tuple[list[int], list[int]]:
    """Compute (principal, interest) per installment; the last absorbs every residue."""
    mode = run.mode
    rates = run.rates
    count = run.count
    term = run.term or count
    offset = run.first_number - 1
    principal_col: list[int] = []
    interest_col: list[int] = []
    balance = run.balance
    deferred = 0
    grace_interest = run.grace_interest_periods
    start = grace_interest + run.grace_principal_periods
    rule = run.rule
    flat_shares = _flat_shares(run) if rule.flat_interest else None

    def accrue(k: int) -> int:
        rate = rates[k]
        if k == 0 and run.first_extra:
            return _round_fraction(balance * rate + run.first_extra, mode)
        return round_div(balance * rate.numerator, rate.denominator, mode)

    # Grace: nothing paid, then interest only.
    for k in range(min(start, count - 1)):
        interest = flat_shares[k] if flat_shares is not None else accrue(k)
        if k < grace_interest:
            if flat_shares is None and run.capitalise:
                principal_col.append(-interest)
                interest_col.append(interest)
                balance += interest
            else:
                deferred += interest  # flat shares are zero in interest grace
                principal_col.append(0)
                interest_col.append(0)
            continue
        principal_col.append(0)
        interest_col.append(interest + deferred)
        deferred = 0

    # Regular installments.
    last = count - 1
    k = min(start, last)
    level = 0
    if k < last:
        level = _level(run, balance, count - k, flat_shares)
        if run.fixed_level is None and level <= 0 and rule.principal is _Principal.TOTAL:
            raise InvalidTermsError(_ROUNDS_TO_NOTHING.format(number=offset + k + 1, term=term))
    kind = rule.principal
    fast = (
        kind is _Principal.TOTAL
        and run.fixed_level is None
        and flat_shares is None
        and not deferred
        and not (k == 0 and run.first_extra)
    )
    if fast:
        # Level installments: each stretch of periods at the nominal rate runs in the
        # integer hot loop; other periods (a stub, a short month by days) one at a time.
        nominal = run.nominal
        uniform = run.uniform_from
        while k < last:
            end = k
            if uniform is not None and k >= uniform:
                end = last
            else:
                while end < last and rates[end] == nominal:
                    end += 1
            if end > k:
                balance, k = _annuity_stretch(
                    principal_col, interest_col, balance, level, nominal, mode, k, end
                )
                if balance <= 0:
                    raise InvalidTermsError(_EARLY_REPAYMENT.format(number=offset + k, term=term))
                continue
            interest = accrue(k)
            balance = _regular_row(principal_col, interest_col, balance, level - interest, interest)
            _check_balance(balance, offset + k + 1, term)
            k += 1
    while k < last:
        interest = flat_shares[k] if flat_shares is not None else accrue(k)
        own = interest
        interest += deferred
        deferred = 0
        if run.fixed_level is not None and _repays(kind, balance, own, level):
            break
        if kind is _Principal.TOTAL:
            principal = level - own
        elif kind is _Principal.PART:
            principal = level
        else:
            principal = 0
        balance = _regular_row(principal_col, interest_col, balance, principal, interest)
        _check_balance(balance, offset + k + 1, term)
        if kind is not _Principal.NONE and principal + interest <= 0:
            raise InvalidTermsError(_ROUNDS_TO_NOTHING.format(number=offset + k + 1, term=term))
        k += 1
    interest = flat_shares[-1] if flat_shares is not None else accrue(k)
    principal_col.append(balance)
    interest_col.append(interest + deferred)
    return principal_col, interest_col


def _regular_row(
    principal_col: list[int], interest_col: list[int], balance: int, principal: int, interest: int
) -> int:
    """Append one regular installment and return the closing balance."""
    principal_col.append(principal)
    interest_col.append(interest)
    return balance - principal


def _check_balance(closing: int, number: int, term: int) -> None:
    """A regular installment must leave something for the final one."""
    if closing <= 0:
        raise InvalidTermsError(_EARLY_REPAYMENT.format(number=number, term=term))


def _repays(kind: _Principal, balance: int, interest: int, level: int) -> bool:
    """Reduce-term: tell whether this installment can repay the whole balance at the level."""
    if kind is _Principal.TOTAL:
        return balance + interest <= level
    return balance <= level


def _annuity_stretch(
    principal_col: list[int],
    interest_col: list[int],
    balance: int,
    level: int,
    rate: Fraction,
    mode: RoundingMode,
    k: int,
    last: int,
) -> tuple[int, int]:
    """The hot loop: level installments at one rate, interest rounded in integers per mode.

    Returns the closing balance and the next index; stops early on a non-positive balance.
    """
    a, b = rate.numerator, rate.denominator
    interests = interest_col.append
    first = len(interest_col)
    opening = balance
    if mode is RoundingMode.HALF_EVEN and a:
        # Track t = 2*a*balance + b, so each step is one floor division: q = t // 2b is
        # the half-up quotient, and an exact tie (t divisible by 2b) goes back to even.
        a2, b2 = 2 * a, 2 * b
        t = balance * a2 + b
        step = level * a2
        for _ in range(k, last):
            q = t // b2
            if q & 1 and t == q * b2:
                q -= 1
            interests(q)
            t += q * a2 - step
            if t <= b:
                break
    else:
        for _ in range(k, last):
            q = round_div(balance * a, b, mode)
            interests(q)
            balance += q - level
            if balance <= 0:
                break
    added = interest_col[first:]
    principal_col.extend([level - q for q in added])
    return opening + sum(added) - level * len(added), k + len(added)


def _level(run: _Run, balance: int, remaining: int, flat_shares: list[int] | None) -> int:
    """The amount a method keeps level over the remaining installments, from this balance."""
    if run.fixed_level is not None:
        return run.fixed_level
    kind = run.rule.principal
    if kind is _Principal.TOTAL:
        payment = _annuity_minor(balance, run.nominal, remaining, run.mode)
        return _round_up_to(payment, run.multiple)
    if kind is _Principal.PART:
        part = round_div(balance, remaining, run.mode)
        if flat_shares is None or run.multiple is None:
            return _round_up_to(part, run.multiple)
        share = flat_shares[0]
        return _round_up_to(part + share, run.multiple) - share
    return 0


def _flat_shares(run: _Run) -> list[int]:
    """Flat interest per installment: none in interest grace, equal shares, residue last.

    Shares round per the terms' mode; when that would give out more than the total (a
    tiny total rounded up over many installments) they round down instead, so the last
    share is never negative.
    """
    paying = run.count - run.grace_interest_periods
    share = round_div(run.flat_interest, paying, run.mode)
    if share * (paying - 1) > run.flat_interest:
        share = run.flat_interest // paying
    last = run.flat_interest - share * (paying - 1)
    return [0] * run.grace_interest_periods + [share] * (paying - 1) + [last]


# --- building ---------------------------------------------------------------------------


def minor_units(amount: Decimal, currency: str) -> int:
    """An amount already at the currency's minor unit, as an integer count of minor units."""
    return int(amount.scaleb(get_currency(currency).minor_units, _DECIMAL_CONTEXT))


def build_schedule(terms: ScheduleTerms) -> Schedule:
    """Build the repayment schedule; the final installment absorbs every rounding residue.

    Each period's interest is the exact opening balance times the period rate, rounded
    once per the terms' mode; a regular installment's principal comes from the method,
    and the last one repays the whole remaining balance, so principal parts sum exactly
    to the principal. With DAY_COUNT (or BrokenPeriodInterest.DAY_COUNT) the first
    period is charged by its actual length while the annuity installment stays level: the
    stub's extra interest is taken from (or a short stub's saving added to) the first
    installment's principal part. A long first period can make interest exceed an annuity
    installment; the principal part is then negative and the unpaid interest is added to
    the balance. Rounding drift compounds at the period rate, so terms whose regular
    installments would repay everything before the last one (a tiny principal for the term,
    a high rate over a long term, or a much shorter first period) raise InvalidTermsError
    rather than emit zero or negative installments.
    """
    dates: list[date] | None = None
    payment: list[date] | None = None
    accrual: list[date] | None = None
    if (
        _needs_accrual_dates(terms)
        or terms.business_day_convention is not BusinessDayConvention.UNADJUSTED
    ):
        dates = _schedule_dates(terms)
        payment = _payment_dates(terms, dates)
        accrual = payment if terms.accrue_on_payment_dates else dates
    nominal = nominal_period_rate(terms.annual_rate, terms.frequency)
    rates = period_rates(terms, terms.annual_rate, accrual, terms.term, nominal)
    run = _Run(
        balance=minor_units(terms.principal, terms.currency),
        count=terms.term,
        rates=rates,
        nominal=nominal,
        mode=terms.rounding_mode,
        rule=_METHODS[terms.method],
        grace_interest_periods=terms.grace_interest_periods,
        grace_principal_periods=terms.grace_principal_periods,
        capitalise=terms.grace_interest is GraceInterest.CAPITALISE,
        multiple=_multiple(terms),
    )
    if terms.interest_basis is InterestBasis.EQUAL_PERIODS:
        run.uniform_from = 0 if not rates or rates[0] is nominal else 1
    if run.rule.flat_interest:
        run.flat_interest = _round_fraction(run.balance * sum(rates, Fraction(0)), run.mode)
    principal, interest = _run(run)
    columns = _Columns(1, run.balance, principal, interest, payment, dates)
    return Schedule(terms, _columns=columns)


def _multiple(terms: ScheduleTerms) -> int | None:
    """The installment multiple in minor units, if any."""
    multiple = terms.installment_multiple
    return None if multiple is None else minor_units(multiple, terms.currency)


PrincipalRule = Callable[[int, Decimal, Decimal], Decimal]
