"""Mapping contract terms onto loanmath, and refusing what the LMS cannot service."""

from decimal import Decimal

import pytest

from lending_schemas import FeeV1
from lms.domain.errors import InconsistentTermsError, UnsupportedTermsError
from lms.domain.terms import (
    DAY_COUNTS,
    FREQUENCIES,
    INTEREST_BASES,
    METHODS,
    ROUNDING_MODES,
    build_loan_schedule,
    check_currency,
    map_term,
    terms_fingerprint,
    terms_from_event,
)
from loanmath import (
    AmortizationMethod,
    DayCount,
    Frequency,
    InterestBasis,
    RoundingMode,
)


def test_event_terms_map_onto_loanmath_enums(disbursed):
    terms = terms_from_event(disbursed(day_count="ACT/365F", interest_basis="day_count"))
    assert terms.method is AmortizationMethod.ANNUITY
    assert terms.frequency is Frequency.MONTHLY
    assert terms.day_count is DayCount.ACT_365F
    assert terms.interest_basis is InterestBasis.DAY_COUNT
    assert terms.rounding_mode is RoundingMode.HALF_EVEN
    assert terms.deducted_fees == Decimal("200.00")
    schedule_terms = terms.schedule_terms()
    assert schedule_terms.principal == Decimal("10000.00")
    assert schedule_terms.currency == "USD"


@pytest.mark.parametrize(
    ("table", "value", "expected"),
    [
        (METHODS, "annuity", AmortizationMethod.ANNUITY),
        (METHODS, "equal_principal", AmortizationMethod.EQUAL_PRINCIPAL),
        (FREQUENCIES, "monthly", Frequency.MONTHLY),
        (DAY_COUNTS, "30/360", DayCount.THIRTY_360),
        (DAY_COUNTS, "ACT/360", DayCount.ACT_360),
        (INTEREST_BASES, "equal_periods", InterestBasis.EQUAL_PERIODS),
        (ROUNDING_MODES, "half_up", RoundingMode.HALF_UP),
    ],
)
def test_known_values_map(table, value, expected):
    assert map_term(table, value, "term") is expected


@pytest.mark.parametrize(
    ("table", "value"),
    [
        (METHODS, "balloon"),
        (FREQUENCIES, "fortnightly"),
        (DAY_COUNTS, "ACT/366"),
        (INTEREST_BASES, "compound"),
        (ROUNDING_MODES, "bankers"),
        (METHODS, "ANNUITY"),
    ],
)
def test_unknown_values_are_refused(table, value):
    with pytest.raises(UnsupportedTermsError, match=repr(value)) as info:
        map_term(table, value, "term")
    assert info.value.code == "unsupported_terms"


def test_unknown_currency_is_refused(disbursed):
    with pytest.raises(UnsupportedTermsError, match="XXX"):
        terms_from_event(disbursed(currency="XXX"))
    assert check_currency("EUR") == "EUR"


def test_grace_periods_are_refused_until_the_engine_supports_them(disbursed):
    with pytest.raises(UnsupportedTermsError, match="grace"):
        terms_from_event(disbursed(grace_interest_periods=1))


def test_net_disbursed_must_be_principal_minus_deducted_fees(disbursed):
    with pytest.raises(InconsistentTermsError) as info:
        terms_from_event(disbursed(net_disbursed=Decimal("9900.00")))
    assert info.value.code == "inconsistent_terms"


def test_financed_and_upfront_fees_are_not_deducted(disbursed):
    fees = [
        FeeV1(code="A", amount=Decimal("50.00"), treatment="financed"),
        FeeV1(code="B", amount=Decimal("25.00"), treatment="upfront"),
    ]
    terms = terms_from_event(disbursed(fees=fees, net_disbursed=Decimal("10000.00")))
    assert terms.deducted_fees == Decimal(0)


def test_amounts_below_the_minor_unit_are_refused(disbursed):
    with pytest.raises(UnsupportedTermsError, match="decimals"):
        terms_from_event(
            disbursed(
                currency="JPY",
                principal=Decimal("10000.50"),
                net_disbursed=Decimal("10000.50"),
                fees=[],
            )
        )


def test_schedule_terms_refuse_a_loan_too_small_to_amortise(disbursed):
    terms = terms_from_event(
        disbursed(principal=Decimal("0.05"), net_disbursed=Decimal("0.05"), fees=[])
    )
    with pytest.raises(UnsupportedTermsError, match="too small"):
        build_loan_schedule(terms)


def test_loanmath_refusals_become_unsupported_terms(disbursed):
    terms = terms_from_event(
        disbursed(principal=Decimal("0.02"), net_disbursed=Decimal("0.02"), fees=[], term=3)
    )
    with pytest.raises(UnsupportedTermsError, match="too small"):
        build_loan_schedule(terms)
    # the schedule of a normal loan is built
    assert len(build_loan_schedule(terms_from_event(disbursed())).installments) == 12


def test_fingerprint_is_equal_for_equal_terms_and_differs_for_changed_ones(disbursed):
    base = terms_fingerprint(disbursed())
    assert terms_fingerprint(disbursed()) == base
    assert terms_fingerprint(disbursed(annual_rate=Decimal("0.1200"))) == base
    assert terms_fingerprint(disbursed(annual_rate=Decimal("0.13"))) != base
    assert terms_fingerprint(disbursed(product_code="OTHER")) != base
