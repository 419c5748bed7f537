"""Repayment frequencies and due-date generation anchored on the first due date."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from loanmath._errors import LoanMathError


class Frequency(StrEnum):
    """How often installments fall due; values are stable for storage."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"
    DAILY = "daily"
    # One period from disbursement to the only due date (bullet loans, short-term credit):
    # the term must be 1 and the period's interest always follows the day count.
    WHOLE_TERM = "whole_term"


@dataclass(frozen=True, slots=True)
class _FrequencyRule:
    """How one frequency steps: by whole months (calendar) or by whole days (fixed)."""

    periods_per_year: int
    months: int = 0
    days: int = 0


_FREQUENCIES: dict[Frequency, _FrequencyRule] = {
    Frequency.WEEKLY: _FrequencyRule(periods_per_year=52, days=7),
    Frequency.BIWEEKLY: _FrequencyRule(periods_per_year=26, days=14),
    Frequency.MONTHLY: _FrequencyRule(periods_per_year=12, months=1),
    Frequency.QUARTERLY: _FrequencyRule(periods_per_year=4, months=3),
    Frequency.SEMI_ANNUAL: _FrequencyRule(periods_per_year=2, months=6),
    Frequency.ANNUAL: _FrequencyRule(periods_per_year=1, months=12),
    # A daily rate is the annual rate over 365 (the retail convention), whatever the year.
    Frequency.DAILY: _FrequencyRule(periods_per_year=365, days=1),
    Frequency.WHOLE_TERM: _FrequencyRule(periods_per_year=0),
}


def periods_per_year(frequency: Frequency) -> int:
    """Return how many periods make a year, the divisor of the nominal annual rate.

    WHOLE_TERM has no fixed period, so asking for it raises LoanMathError.
    """
    per_year = _FREQUENCIES[Frequency(frequency)].periods_per_year
    if not per_year:
        raise LoanMathError(f"{frequency} has no fixed number of periods per year")
    return per_year


def _is_month_end(day: date) -> bool:
    """Tell whether a date is the last day of its month."""
    return day.day == calendar.monthrange(day.year, day.month)[1]


def add_months(anchor: date, months: int, *, month_end: bool) -> date:
    """Shift by whole months, clamping to the month's length or pinning to month end."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    day = last if month_end else min(anchor.day, last)
    return date(year, month + 1, day)


def regular_period_start(first_due_date: date, frequency: Frequency) -> date | None:
    """Return where a regular first period would start: one period before the first due date.

    None for WHOLE_TERM, whose single period has no regular length to compare against.
    """
    rule = _FREQUENCIES[Frequency(frequency)]
    if rule.months:
        return add_months(first_due_date, -rule.months, month_end=_is_month_end(first_due_date))
    if rule.days:
        return first_due_date - timedelta(days=rule.days)
    return None


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def due_dates(first_due_date: date, frequency: Frequency, count: int) -> list[date]:
    """Return count due dates, each computed from the anchor so short months never drift.

    The n-th date (0-based) is first_due_date + n periods. With month-based frequencies
    a day missing from a month falls back to that month's last day (31 Jan -> 28/29 Feb
    -> 31 Mar), and an anchor on its month's last day keeps every date on a month end.
    WHOLE_TERM gives at most one date.
    """
    if count < 0:
        raise LoanMathError(f"count must be >= 0, got {count}")
    rule = _FREQUENCIES[Frequency(frequency)]
    if rule.months:
        return _month_steps(first_due_date, rule.months, count)
    if rule.days:
        step = timedelta(days=rule.days)
        return [first_due_date + n * step for n in range(count)]
    if count > 1:
        raise LoanMathError(f"{frequency} has a single due date, not {count}")
    return [first_due_date][:count]


def _month_steps(anchor: date, months: int, count: int) -> list[date]:
    """The add_months rule for n = 0..count-1, with the month lengths looked up, not computed."""
    month_end = _is_month_end(anchor)
    day = anchor.day
    base = anchor.year * 12 + anchor.month - 1
    isleap = calendar.isleap
    result = []
    for n in range(count):
        year, month0 = divmod(base + n * months, 12)
        last = _MONTH_DAYS[month0]
        if month0 == 1 and isleap(year):
            last = 29
        result.append(date(year, month0 + 1, last if month_end or day > last else day))
    return result
