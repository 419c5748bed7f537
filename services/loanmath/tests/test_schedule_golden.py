"""Golden annuity schedules checked against numpy-financial and an exact rational oracle.

Where each figure comes from:
- The regular installment must equal numpy_financial.pmt rounded half-even to the minor unit.
- Period 1 interest and principal must equal numpy_financial.ipmt / ppmt for period 1,
  rounded: both start from the same unrounded principal.
- Later periods: numpy-financial amortises the unrounded balance with the unrounded payment,
  while a booked schedule rounds the installment and each interest on the rounded balance.
  So every installment is compared exactly against `rational_reference` below, which
  applies that documented rule in exact Fraction arithmetic with hand-written half-even
  rounding (no loanmath code), and numpy's balances are used as a bound: our opening
  balance may drift from numpy's by at most the compounded rounding errors.
- Published figures: 100,000 at 12% over 12 months = 8,884.88 and the US mortgage tables'
  200,000 at 6% over 30 years = 1,199.10 and 100,000 at 5% over 30 years = 536.82.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

import numpy_financial as npf
import pytest

from loanmath import (
    Frequency,
    Schedule,
    ScheduleTerms,
    build_schedule,
    get_currency,
    periods_per_year,
)


@dataclass(frozen=True)
class Case:
    principal: str
    currency: str
    annual_rate: str
    term: int
    frequency: Frequency = Frequency.MONTHLY
    published_installment: str | None = None


CASES = [
    Case("100000.00", "USD", "0.12", 12, published_installment="8884.88"),
    Case("200000.00", "USD", "0.06", 360, published_installment="1199.10"),
    Case("100000.00", "USD", "0.05", 360, published_installment="536.82"),
    Case("250000.00", "EUR", "0.045", 240),
    Case("500000.00", "INR", "0.105", 60),
    Case("1000000", "JPY", "0.03", 36),
    Case("5000.000", "KWD", "0.0725", 24),
    Case("1234.56", "GBP", "0.2499", 18),
    Case("15000.00", "KES", "0.18", 8, Frequency.QUARTERLY),
    Case("10000.00", "CHF", "0", 12),
    Case("7500.00", "USD", "0.0899", 104, Frequency.BIWEEKLY),
]


def half_even(value: Fraction, places: int) -> Fraction:
    """Round an exact rational half-even to `places` decimals, independently of loanmath."""
    scaled = value * 10**places
    floor = scaled.numerator // scaled.denominator
    remainder = scaled - floor
    if remainder > Fraction(1, 2) or (remainder == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return Fraction(floor, 10**places)


def rational_reference(case: Case) -> list[tuple[Fraction, Fraction, Fraction]]:
    """(interest, principal, total) per period by the documented rule, in exact rationals."""
    places = get_currency(case.currency).minor_units
    principal = Fraction(case.principal)
    r = Fraction(case.annual_rate) / periods_per_year(case.frequency)
    n = case.term
    exact = principal / n if r == 0 else principal * r / (1 - (1 + r) ** -n)
    installment = half_even(exact, places)
    balance = principal
    rows = []
    for k in range(1, n + 1):
        interest = half_even(balance * r, places)
        part = balance if k == n else installment - interest
        rows.append((interest, part, interest + part))
        balance -= part
    return rows


def to_money(value: float, places: int) -> Decimal:
    """numpy's float result, rounded half-even to the minor unit via its shortest repr."""
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places))


def build(case: Case) -> Schedule:
    return build_schedule(
        ScheduleTerms(
            principal=Decimal(case.principal),
            currency=case.currency,
            annual_rate=Decimal(case.annual_rate),
            term=case.term,
            disbursement_date=date(2024, 1, 10),
            first_due_date=date(2024, 2, 10),
            frequency=case.frequency,
        )
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.principal}{c.currency}-{c.term}")
def test_matches_numpy_financial_and_rational_oracle(case: Case) -> None:
    schedule = build(case)
    places = get_currency(case.currency).minor_units
    r = float(case.annual_rate) / periods_per_year(case.frequency)
    pv = float(case.principal)

    # Regular installment: numpy_financial.pmt, rounded.
    numpy_payment = -float(npf.pmt(r, case.term, pv))
    assert schedule.installment_amount == to_money(numpy_payment, places)
    if case.published_installment is not None:
        assert schedule.installment_amount == Decimal(case.published_installment)

    # Period 1: numpy_financial.ipmt / ppmt agree once rounded (ppmt to within the one
    # minor unit by which the rounded installment may differ). numpy's ipmt/ppmt divide
    # by the rate, so at a zero rate the reference is simply interest 0, principal pmt.
    first = schedule.installments[0]
    numpy_interest = -float(npf.ipmt(r, 1, case.term, pv)) if r else 0.0
    numpy_principal = -float(npf.ppmt(r, 1, case.term, pv)) if r else numpy_payment
    assert first.interest == to_money(numpy_interest, places)
    assert first.principal == schedule.installment_amount - first.interest
    assert abs(first.principal - to_money(numpy_principal, places)) <= Decimal(1).scaleb(-places)

    # Every period: exact match with the rational oracle of the documented rule.
    reference = rational_reference(case)
    for installment, (interest, principal, total) in zip(
        schedule.installments, reference, strict=True
    ):
        assert Fraction(installment.interest) == interest, installment.number
        assert Fraction(installment.principal) == principal, installment.number
        assert Fraction(installment.total) == total, installment.number

    # Drift bound against numpy's unrounded amortisation: each period adds at most half a
    # minor unit of interest rounding plus the installment's own rounding, compounded at r.
    unit = 10.0**-places
    error_per_period = 0.5 * unit + abs(float(schedule.installment_amount) - numpy_payment)
    numpy_balance = pv
    for k, installment in enumerate(schedule.installments, start=1):
        growth = k - 1 if r == 0 else ((1 + r) ** (k - 1) - 1) / r
        assert abs(float(installment.opening_balance) - numpy_balance) <= (
            error_per_period * growth + 1e-6 * pv
        ), k
        numpy_balance -= -float(npf.ppmt(r, k, case.term, pv)) if r else numpy_payment
    assert abs(numpy_balance) < 1e-6 * pv
    assert schedule.total_principal == Decimal(case.principal)
