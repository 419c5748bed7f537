"""Day count conventions, kept as exact ratios so interest is rounded once, at the end."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from loanmath._errors import LoanMathError
from loanmath._numeric import work_context


class DayCount(StrEnum):
    """Convention turning two dates into a fraction of a year; values are stable for storage."""

    THIRTY_360 = "30/360"
    THIRTY_E_360 = "30E/360"
    ACT_360 = "ACT/360"
    ACT_365F = "ACT/365F"
    ACT_ACT_ISDA = "ACT/ACT ISDA"
    THIRTY_360_US = "30/360 US"


def _thirty_360(start: date, end: date) -> Fraction:
    """30/360 Bond Basis (ISDA 2006 4.16(f)), the US convention for 30/360 loans.

    D1 = 31 becomes 30; D2 = 31 becomes 30 only when D1 is then 30. Fraction is
    (360*(Y2-Y1) + 30*(M2-M1) + (D2-D1)) / 360. February is not adjusted.
    """
    d1 = min(start.day, 30)
    d2 = 30 if end.day == 31 and d1 == 30 else end.day
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return Fraction(days, 360)


def _is_last_of_february(day: date) -> bool:
    """Tell whether a date is 28 Feb in a common year or 29 Feb in a leap year."""
    return day.month == 2 and day.day == calendar.monthrange(day.year, 2)[1]


def _thirty_360_us(start: date, end: date) -> Fraction:
    """30/360 US (SIA, "30/360 US" with the end-of-month rule), as US mortgage servicers use it.

    Applied in this order: if both dates are the last day of February, D2 becomes 30; if D1 is
    the last day of February, D1 becomes 30; if D2 is 31 and D1 is 30 or 31, D2 becomes 30;
    if D1 is 31, D1 becomes 30. So 28 Feb -> 31 Mar counts 30 days where Bond Basis counts 33.
    """
    d1, d2 = start.day, end.day
    start_feb_end = _is_last_of_february(start)
    if start_feb_end and _is_last_of_february(end):
        d2 = 30
    if start_feb_end:
        d1 = 30
    if d2 == 31 and d1 >= 30:
        d2 = 30
    d1 = min(d1, 30)
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return Fraction(days, 360)


def _thirty_e_360(start: date, end: date) -> Fraction:
    """30E/360 Eurobond Basis (ISDA 2006 4.16(g)): any 31st counts as the 30th."""
    d1 = min(start.day, 30)
    d2 = min(end.day, 30)
    days = 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)
    return Fraction(days, 360)


def _act_360(start: date, end: date) -> Fraction:
    """ACT/360: actual days over 360, the money-market convention."""
    return Fraction((end - start).days, 360)


def _act_365f(start: date, end: date) -> Fraction:
    """ACT/365 Fixed: actual days over 365 whatever the year, common for retail loans."""
    return Fraction((end - start).days, 365)


def _act_act_isda(start: date, end: date) -> Fraction:
    """ACT/ACT ISDA: days falling in leap years over 366 plus the other days over 365."""
    total = Fraction(0)
    cursor = start
    while cursor < end:
        year_end = date(cursor.year + 1, 1, 1)
        stop = min(year_end, end)
        basis = 366 if calendar.isleap(cursor.year) else 365
        total += Fraction((stop - cursor).days, basis)
        cursor = stop
    return total


_DAY_COUNTS: dict[DayCount, Callable[[date, date], Fraction]] = {
    DayCount.THIRTY_360: _thirty_360,
    DayCount.THIRTY_E_360: _thirty_e_360,
    DayCount.ACT_360: _act_360,
    DayCount.ACT_365F: _act_365f,
    DayCount.ACT_ACT_ISDA: _act_act_isda,
    DayCount.THIRTY_360_US: _thirty_360_us,
}


def year_fraction_ratio(start: date, end: date, day_count: DayCount) -> Fraction:
    """Return the exact year fraction as a ratio so interest can be computed without rounding."""
    if end < start:
        raise LoanMathError(f"end date {end} is before start date {start}")
    return _DAY_COUNTS[DayCount(day_count)](start, end)


def year_fraction(start: date, end: date, day_count: DayCount) -> Decimal:
    """Return the year fraction between two dates under a day count convention.

    The exact ratio of each convention's day numerator over its basis (360, 365 or
    365/366 per year for ACT/ACT ISDA) is divided in a 60-digit context: exact when the
    decimal terminates (90/360 -> 0.25), else correct to 60 significant digits.
    """
    ratio = year_fraction_ratio(start, end, day_count)
    return work_context().divide(Decimal(ratio.numerator), Decimal(ratio.denominator))
