"""Frequencies and anchored due dates."""

import calendar
from datetime import date

import pytest

from loanmath import Frequency, LoanMathError, due_dates, periods_per_year


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.WEEKLY, 52),
        (Frequency.BIWEEKLY, 26),
        (Frequency.MONTHLY, 12),
        (Frequency.QUARTERLY, 4),
        (Frequency.SEMI_ANNUAL, 2),
        (Frequency.ANNUAL, 1),
    ],
)
def test_periods_per_year(frequency: Frequency, expected: int) -> None:
    assert periods_per_year(frequency) == expected
    assert periods_per_year(frequency.value) == expected  # type: ignore[arg-type]


def test_monthly_value_is_stable() -> None:
    assert Frequency.MONTHLY.value == "monthly"
    with pytest.raises(ValueError, match="not a valid Frequency"):
        periods_per_year("fortnightly")  # type: ignore[arg-type]


def test_jan_31_anchor_in_leap_year() -> None:
    assert due_dates(date(2024, 1, 31), Frequency.MONTHLY, 5) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]


def test_jan_31_anchor_in_common_year() -> None:
    assert due_dates(date(2023, 1, 31), Frequency.MONTHLY, 3) == [
        date(2023, 1, 31),
        date(2023, 2, 28),
        date(2023, 3, 31),
    ]


def test_jan_30_anchor_clamps_only_february() -> None:
    # Not a month end, so dates keep day 30 where it exists: computed from the anchor, not
    # chained (chaining would give 29 Mar after 29 Feb).
    assert due_dates(date(2024, 1, 30), Frequency.MONTHLY, 4) == [
        date(2024, 1, 30),
        date(2024, 2, 29),
        date(2024, 3, 30),
        date(2024, 4, 30),
    ]


def test_apr_30_anchor_stays_on_month_end() -> None:
    assert due_dates(date(2024, 4, 30), Frequency.MONTHLY, 4) == [
        date(2024, 4, 30),
        date(2024, 5, 31),
        date(2024, 6, 30),
        date(2024, 7, 31),
    ]


def test_feb_28_common_year_is_month_end() -> None:
    assert due_dates(date(2023, 2, 28), Frequency.MONTHLY, 3) == [
        date(2023, 2, 28),
        date(2023, 3, 31),
        date(2023, 4, 30),
    ]


def test_feb_28_leap_year_is_not_month_end() -> None:
    assert due_dates(date(2024, 2, 28), Frequency.MONTHLY, 3) == [
        date(2024, 2, 28),
        date(2024, 3, 28),
        date(2024, 4, 28),
    ]


def test_feb_29_anchor_is_month_end() -> None:
    assert due_dates(date(2024, 2, 29), Frequency.MONTHLY, 3) == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_year_rollover() -> None:
    assert due_dates(date(2024, 11, 15), Frequency.MONTHLY, 4) == [
        date(2024, 11, 15),
        date(2024, 12, 15),
        date(2025, 1, 15),
        date(2025, 2, 15),
    ]


def test_quarterly_from_month_end() -> None:
    assert due_dates(date(2023, 11, 30), Frequency.QUARTERLY, 3) == [
        date(2023, 11, 30),
        date(2024, 2, 29),
        date(2024, 5, 31),
    ]


def test_semi_annual_and_annual() -> None:
    assert due_dates(date(2024, 8, 31), Frequency.SEMI_ANNUAL, 3) == [
        date(2024, 8, 31),
        date(2025, 2, 28),
        date(2025, 8, 31),
    ]
    assert due_dates(date(2024, 2, 29), Frequency.ANNUAL, 5) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_weekly_and_biweekly_step_in_days() -> None:
    assert due_dates(date(2024, 2, 26), Frequency.WEEKLY, 3) == [
        date(2024, 2, 26),
        date(2024, 3, 4),
        date(2024, 3, 11),
    ]
    assert due_dates(date(2024, 12, 20), Frequency.BIWEEKLY, 3) == [
        date(2024, 12, 20),
        date(2025, 1, 3),
        date(2025, 1, 17),
    ]


def test_long_schedule_never_drifts() -> None:
    dates = due_dates(date(2024, 1, 31), Frequency.MONTHLY, 360)
    assert len(dates) == 360
    assert dates[-1] == date(2053, 12, 31)
    assert all(d.day == calendar.monthrange(d.year, d.month)[1] for d in dates)


def test_count_zero_and_negative() -> None:
    assert due_dates(date(2024, 1, 31), Frequency.MONTHLY, 0) == []
    with pytest.raises(LoanMathError, match="count must be >= 0"):
        due_dates(date(2024, 1, 31), Frequency.MONTHLY, -1)
