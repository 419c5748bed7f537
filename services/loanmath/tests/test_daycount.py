"""Day count conventions and year fractions."""

from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from loanmath import DayCount, LoanMathError, year_fraction


def _as_fraction(value: Decimal) -> Fraction:
    return Fraction(value)


def test_values_are_stable() -> None:
    assert [d.value for d in DayCount] == [
        "30/360",
        "30E/360",
        "ACT/360",
        "ACT/365F",
        "ACT/ACT ISDA",
        "30/360 US",
    ]


# Expected day numerators worked by hand from the ISDA 2006 definitions 4.16(b)-(g).
@pytest.mark.parametrize(
    ("day_count", "start", "end", "expected"),
    [
        # 30/360 Bond Basis: D1 31->30; D2 31->30 only if D1 is 30 or 31; February untouched.
        (DayCount.THIRTY_360, date(2024, 1, 15), date(2024, 2, 15), Fraction(30, 360)),
        (DayCount.THIRTY_360, date(2024, 1, 31), date(2024, 2, 29), Fraction(29, 360)),
        (DayCount.THIRTY_360, date(2024, 1, 30), date(2024, 3, 31), Fraction(60, 360)),
        (DayCount.THIRTY_360, date(2024, 1, 31), date(2024, 3, 31), Fraction(60, 360)),
        (DayCount.THIRTY_360, date(2024, 1, 15), date(2024, 3, 31), Fraction(76, 360)),
        (DayCount.THIRTY_360, date(2024, 2, 29), date(2024, 3, 31), Fraction(32, 360)),
        (DayCount.THIRTY_360, date(2023, 6, 15), date(2024, 6, 15), Fraction(1)),
        (DayCount.THIRTY_360, date(2023, 12, 31), date(2024, 1, 31), Fraction(30, 360)),
        # 30E/360 Eurobond Basis: every 31st counts as the 30th.
        (DayCount.THIRTY_E_360, date(2024, 1, 15), date(2024, 3, 31), Fraction(75, 360)),
        (DayCount.THIRTY_E_360, date(2024, 2, 29), date(2024, 3, 31), Fraction(31, 360)),
        (DayCount.THIRTY_E_360, date(2024, 1, 31), date(2024, 2, 29), Fraction(29, 360)),
        # ACT/360 and ACT/365F: calendar days over a fixed basis.
        (DayCount.ACT_360, date(2024, 1, 1), date(2024, 7, 1), Fraction(182, 360)),
        (DayCount.ACT_365F, date(2024, 1, 1), date(2025, 1, 1), Fraction(366, 365)),
        (DayCount.ACT_365F, date(2023, 2, 1), date(2023, 3, 1), Fraction(28, 365)),
        # ACT/ACT ISDA: days in leap years over 366, others over 365.
        (
            DayCount.ACT_ACT_ISDA,
            date(2023, 12, 1),
            date(2024, 3, 1),
            Fraction(31, 365) + Fraction(60, 366),
        ),
        (DayCount.ACT_ACT_ISDA, date(2024, 1, 1), date(2025, 1, 1), Fraction(1)),
        (DayCount.ACT_ACT_ISDA, date(2023, 7, 1), date(2025, 7, 1), Fraction(2)),
    ],
)
def test_year_fraction(day_count: DayCount, start: date, end: date, expected: Fraction) -> None:
    assert abs(_as_fraction(year_fraction(start, end, day_count)) - expected) < Fraction(1, 10**55)


def test_isda_published_act_act_example() -> None:
    # ISDA's "EMU and market conventions" paper, 1 Nov 2003 to 1 May 2004, Actual/Actual (ISDA):
    # 61/365 + 121/366 = 0.497724380567.
    result = year_fraction(date(2003, 11, 1), date(2004, 5, 1), DayCount.ACT_ACT_ISDA)
    assert result.quantize(Decimal("1e-12")) == Decimal("0.497724380567")


def test_terminating_fractions_are_exact() -> None:
    assert year_fraction(date(2024, 1, 1), date(2024, 4, 1), DayCount.THIRTY_360) == Decimal("0.25")
    assert year_fraction(date(2024, 1, 1), date(2024, 1, 19), DayCount.ACT_360) == Decimal("0.05")
    assert year_fraction(date(2023, 1, 1), date(2023, 3, 15), DayCount.ACT_365F) == Decimal("0.2")


@pytest.mark.parametrize("day_count", list(DayCount))
def test_same_day_is_zero(day_count: DayCount) -> None:
    assert year_fraction(date(2024, 2, 29), date(2024, 2, 29), day_count) == 0


@pytest.mark.parametrize("day_count", list(DayCount))
def test_end_before_start_raises(day_count: DayCount) -> None:
    with pytest.raises(LoanMathError, match="before start date"):
        year_fraction(date(2024, 3, 1), date(2024, 2, 1), day_count)


def test_accepts_stored_value_and_rejects_unknown() -> None:
    start, end = date(2024, 1, 1), date(2024, 1, 19)
    assert year_fraction(start, end, "ACT/360") == Decimal("0.05")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid DayCount"):
        year_fraction(start, end, "ACT/366")  # type: ignore[arg-type]


def test_independent_of_global_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        result = year_fraction(date(2024, 1, 1), date(2024, 2, 1), DayCount.ACT_365F)
    assert str(result).startswith("0.08493150684931506849")
