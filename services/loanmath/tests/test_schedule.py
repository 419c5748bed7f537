"""Schedule terms validation and build_schedule behaviour."""

import dataclasses
from datetime import date, datetime
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest

from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    InvalidTermsError,
    RoundingMode,
    ScheduleTerms,
    build_schedule,
)

D = Decimal


def make_terms(**overrides: Any) -> ScheduleTerms:
    values: dict[str, Any] = {
        "principal": D("100000.00"),
        "currency": "USD",
        "annual_rate": D("0.12"),
        "term": 12,
        "disbursement_date": date(2024, 1, 15),
        "first_due_date": date(2024, 2, 15),
    }
    values.update(overrides)
    return ScheduleTerms(**values)


def round_half_even(value: Fraction, places: int = 2) -> Decimal:
    """Independent half-even rounding of an exact rational, used only as a test oracle."""
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Decimal(floor).scaleb(-places)


def test_defaults() -> None:
    terms = make_terms()
    assert terms.frequency is Frequency.MONTHLY
    assert terms.method is AmortizationMethod.ANNUITY
    assert terms.day_count is DayCount.THIRTY_360
    assert terms.interest_basis is InterestBasis.EQUAL_PERIODS
    assert terms.rounding_mode is RoundingMode.HALF_EVEN
    assert AmortizationMethod.ANNUITY.value == "annuity"
    assert InterestBasis.EQUAL_PERIODS.value == "equal_periods"
    assert InterestBasis.DAY_COUNT.value == "day_count"


def test_terms_are_frozen_and_comparable() -> None:
    terms = make_terms()
    assert terms == make_terms()
    assert hash(terms) == hash(make_terms())
    with pytest.raises(dataclasses.FrozenInstanceError):
        terms.term = 6  # type: ignore[misc]


def test_stored_values_are_coerced_to_enums() -> None:
    terms = make_terms(
        frequency="quarterly",
        method="equal_principal",
        day_count="ACT/365F",
        interest_basis="day_count",
        rounding_mode="half_up",
    )
    assert terms.frequency is Frequency.QUARTERLY
    assert terms.method is AmortizationMethod.EQUAL_PRINCIPAL
    assert terms.day_count is DayCount.ACT_365F
    assert terms.interest_basis is InterestBasis.DAY_COUNT
    assert terms.rounding_mode is RoundingMode.HALF_UP


def test_principal_is_normalised_to_minor_unit() -> None:
    assert str(make_terms(principal=100000).principal) == "100000.00"
    assert str(make_terms(principal=D("5.000")).principal) == "5.00"
    assert str(make_terms(principal=D("1E+3"), currency="KWD").principal) == "1000.000"
    assert make_terms(annual_rate=0).annual_rate == D(0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"principal": D("0")}, "principal must be > 0"),
        ({"principal": D("-1.00")}, "principal must be > 0"),
        ({"principal": D("100.001")}, "more decimals than USD allows"),
        ({"principal": D("100.5"), "currency": "JPY"}, "more decimals than JPY allows"),
        ({"principal": D("NaN")}, "finite"),
        ({"currency": "usd"}, "unknown currency"),
        ({"currency": "XYZ"}, "unknown currency"),
        ({"annual_rate": D("-0.01")}, "annual_rate must be >= 0"),
        ({"annual_rate": D("Infinity")}, "finite"),
        ({"term": 0}, "term must be an integer >= 1"),
        ({"term": -3}, "term must be an integer >= 1"),
        ({"term": True}, "term must be an integer >= 1"),
        ({"term": "12"}, "term must be an integer >= 1"),
        ({"term": 12.0}, "term must be an integer >= 1"),
        ({"first_due_date": date(2024, 1, 15)}, "must be after disbursement_date"),
        ({"first_due_date": date(2023, 12, 15)}, "must be after disbursement_date"),
        ({"disbursement_date": datetime(2024, 1, 15, 9, 0)}, "disbursement_date must be a date"),
        ({"first_due_date": "2024-02-15"}, "first_due_date must be a date"),
        ({"frequency": "fortnightly"}, "frequency 'fortnightly' is not a valid Frequency"),
        ({"method": "balloon"}, "not a valid AmortizationMethod"),
        ({"day_count": "ACT/366"}, "not a valid DayCount"),
        ({"interest_basis": "simple"}, "not a valid InterestBasis"),
        ({"rounding_mode": "bankers"}, "not a valid RoundingMode"),
    ],
)
def test_invalid_terms(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTermsError, match=message):
        make_terms(**overrides)


def test_invalid_terms_error_is_value_error() -> None:
    assert issubclass(InvalidTermsError, ValueError)


def test_float_amounts_are_type_errors() -> None:
    with pytest.raises(TypeError, match="float"):
        make_terms(principal=100000.0)
    with pytest.raises(TypeError, match="float"):
        make_terms(annual_rate=0.12)


def test_published_emi_100000_at_12_percent_over_12_months() -> None:
    # Widely published EMI example: 100,000 at 12% a year over 12 months is 8,884.88 a month.
    schedule = build_schedule(make_terms())
    assert schedule.installment_amount == D("8884.88")
    first = schedule.installments[0]
    assert (first.interest, first.principal, first.closing_balance) == (
        D("1000.00"),
        D("7884.88"),
        D("92115.12"),
    )
    last = schedule.installments[-1]
    # The final installment absorbs the rounding residue (figures from the documented rule).
    assert (last.principal, last.interest, last.total) == (D("8796.88"), D("87.97"), D("8884.85"))
    assert schedule.total_principal == D("100000.00")
    assert schedule.total_interest == D("6618.53")
    assert schedule.total_repayable == D("106618.53")
    assert schedule.first_due_date == date(2024, 2, 15)
    assert schedule.last_due_date == date(2025, 1, 15)
    assert [i.number for i in schedule.installments] == list(range(1, 13))
    assert all(i.fees == 0 and str(i.fees) == "0.00" for i in schedule.installments)


def test_zero_rate_splits_principal() -> None:
    schedule = build_schedule(make_terms(principal=D("1000.00"), annual_rate=D(0), term=3))
    assert [i.total for i in schedule.installments] == [D("333.33"), D("333.33"), D("333.34")]
    assert schedule.total_interest == 0


def test_rounding_mode_applies_to_installment_and_interest() -> None:
    # Exact installment is 8884.8788...: DOWN gives 8884.87, UP gives 8884.88.
    assert build_schedule(make_terms(rounding_mode=RoundingMode.DOWN)).installment_amount == D(
        "8884.87"
    )
    schedule = build_schedule(make_terms(rounding_mode=RoundingMode.UP))
    assert schedule.installment_amount == D("8884.88")
    # 92115.12 * 0.01 = 921.1512 rounds up to 921.16 (HALF_EVEN would give 921.15).
    assert schedule.installments[1].interest == D("921.16")


def test_zero_decimal_and_three_decimal_currencies() -> None:
    jpy = build_schedule(make_terms(principal=D(1000000), currency="JPY"))
    assert jpy.installment_amount == D(88849)
    assert all(i.total.as_tuple().exponent == 0 for i in jpy.installments)
    kwd = build_schedule(make_terms(principal=D("1000.000"), currency="KWD"))
    assert kwd.installment_amount == D("88.849")
    assert all(i.interest.as_tuple().exponent == -3 for i in kwd.installments)


def test_quarterly_uses_four_periods_a_year() -> None:
    schedule = build_schedule(
        make_terms(frequency=Frequency.QUARTERLY, term=4, first_due_date=date(2024, 4, 15))
    )
    assert schedule.installments[0].interest == D("3000.00")
    assert schedule.last_due_date == date(2025, 1, 15)


def test_build_is_independent_of_global_context() -> None:
    expected = build_schedule(make_terms(term=360))
    with localcontext() as ctx:
        ctx.prec = 4
        ctx.rounding = "ROUND_FLOOR"
        assert build_schedule(make_terms(term=360)) == expected


def test_equal_principal() -> None:
    schedule = build_schedule(
        make_terms(principal=D("1000.00"), term=4, method=AmortizationMethod.EQUAL_PRINCIPAL)
    )
    assert [i.principal for i in schedule.installments] == [D("250.00")] * 4
    assert [i.interest for i in schedule.installments] == [
        D("10.00"),
        D("7.50"),
        D("5.00"),
        D("2.50"),
    ]
    assert schedule.installment_amount == D("260.00")


def test_equal_principal_residue_goes_to_last() -> None:
    schedule = build_schedule(
        make_terms(principal=D("1000.00"), term=3, method=AmortizationMethod.EQUAL_PRINCIPAL)
    )
    assert [i.principal for i in schedule.installments] == [D("333.33"), D("333.33"), D("333.34")]


def test_interest_only_balloon() -> None:
    schedule = build_schedule(
        make_terms(principal=D("1200.00"), term=3, method=AmortizationMethod.INTEREST_ONLY)
    )
    assert [i.principal for i in schedule.installments] == [D("0.00"), D("0.00"), D("1200.00")]
    assert [i.interest for i in schedule.installments] == [D("12.00")] * 3
    assert [i.closing_balance for i in schedule.installments] == [
        D("1200.00"),
        D("1200.00"),
        D("0.00"),
    ]


def test_single_installment() -> None:
    schedule = build_schedule(make_terms(principal=D("500.00"), term=1))
    (only,) = schedule.installments
    assert (only.principal, only.interest, only.total) == (D("500.00"), D("5.00"), D("505.00"))


def test_day_count_with_regular_first_period_matches_equal_periods() -> None:
    # 30/360 makes every 15th-to-15th month exactly 1/12, so both bases must agree.
    equal = build_schedule(make_terms(term=24))
    by_days = build_schedule(make_terms(term=24, interest_basis=InterestBasis.DAY_COUNT))
    assert by_days.installments == equal.installments


def test_day_count_broken_first_period() -> None:
    terms = make_terms(
        disbursement_date=date(2024, 1, 1),
        first_due_date=date(2024, 2, 15),
        day_count=DayCount.ACT_365F,
        interest_basis=InterestBasis.DAY_COUNT,
        term=12,
    )
    schedule = build_schedule(terms)
    # The installment stays the annuity figure on 12% / 12.
    assert schedule.installment_amount == D("8884.88")
    first, second = schedule.installments[:2]
    # Oracle: exact rational interest, rounded half-even by hand.
    # 1 Jan -> 15 Feb is 45 days: 100000 * 0.12 * 45/365 = 1479.452...
    assert first.interest == round_half_even(
        Fraction(100000) * Fraction(12, 100) * Fraction(45, 365)
    )
    assert first.interest == D("1479.45")
    assert first.principal == D("7405.43")
    # 15 Feb -> 15 Mar 2024 is 29 days.
    expected = round_half_even(
        Fraction(first.closing_balance) * Fraction(12, 100) * Fraction(29, 365)
    )
    assert second.interest == expected
    assert schedule.total_principal == terms.principal
    assert schedule.installments[-1].closing_balance == 0


def test_day_count_long_first_period_capitalises_interest() -> None:
    terms = make_terms(
        annual_rate=D("0.36"),
        disbursement_date=date(2024, 1, 1),
        first_due_date=date(2024, 12, 1),
        day_count=DayCount.ACT_360,
        interest_basis=InterestBasis.DAY_COUNT,
    )
    schedule = build_schedule(terms)
    first = schedule.installments[0]
    assert first.interest > first.total
    assert first.principal < 0
    assert first.closing_balance > first.opening_balance
    assert schedule.total_principal == terms.principal
    assert all(i.closing_balance >= 0 for i in schedule.installments)
    assert schedule.installments[-1].closing_balance == 0


def test_too_small_principal_for_term_is_rejected() -> None:
    # 10 JPY over 12 installments: 10/12 rounds to 1, which repays it by installment 10.
    terms = make_terms(principal=D(10), currency="JPY", annual_rate=D(0))
    with pytest.raises(InvalidTermsError, match="repay the principal by installment 10 of 12"):
        build_schedule(terms)


def test_high_rate_long_term_drift_is_rejected() -> None:
    # 36% over 30 years: the regular principal part starts near 0.03% of the balance, and
    # the sub-cent rounding of each installment compounds at 3% a month to about 14,000,
    # more than the final installment (about 5,300), so no valid schedule exists.
    terms = make_terms(
        principal=D("181258.00"),
        annual_rate=D("0.36"),
        term=360,
        rounding_mode=RoundingMode.UP,
    )
    with pytest.raises(InvalidTermsError, match="high rate over a long term"):
        build_schedule(terms)


def test_short_first_period_that_repays_early_is_rejected() -> None:
    # A 1-day first period of a semi-annual loan charges almost no interest, so the nominal
    # annuity installment repays the loan before the 39th installment.
    terms = make_terms(
        principal=D("19500.00"),
        annual_rate=D("0.03649"),
        term=39,
        disbursement_date=date(2000, 1, 1),
        first_due_date=date(2000, 1, 2),
        frequency=Frequency.SEMI_ANNUAL,
        interest_basis=InterestBasis.DAY_COUNT,
    )
    with pytest.raises(InvalidTermsError, match="short first period"):
        build_schedule(terms)


def test_regular_installment_that_rounds_to_nothing_is_refused() -> None:
    """0.05 USD over 12 months would give eleven installments of 0.00 and one of 0.05."""
    from datetime import date
    from decimal import Decimal

    import pytest

    from loanmath import InvalidTermsError, ScheduleTerms, build_schedule

    terms = ScheduleTerms(
        principal=Decimal("0.05"),
        currency="USD",
        annual_rate=Decimal("0.12"),
        term=12,
        disbursement_date=date(2026, 1, 1),
        first_due_date=date(2026, 2, 1),
    )
    with pytest.raises(InvalidTermsError, match="rounds to nothing"):
        build_schedule(terms)
