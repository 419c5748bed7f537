"""APR: US Reg Z actuarial method and EU CCD APRC, against independent references.

References:
- Reg Z: numpy_financial.rate (level payments) and numpy_financial.irr (uneven last
  payment), times periods per year; amount financed = principal - prepaid finance charges.
- EU: hand-worked single-payment cases, and `float_bisection_aprc` below, a plain
  float bisection of the Annex I equation written independently in this test.
"""

import math
from datetime import date
from decimal import Decimal, localcontext

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loanmath import (
    InvalidCashFlowsError,
    LoanMathError,
    ScheduleTerms,
    annual_percentage_rate,
    build_schedule,
    eu_aprc,
)

D = Decimal
# Our result is rounded to 6 places, the reference is a float: allow half a unit plus noise.
TOLERANCE = 0.0000005 + 1e-9


def schedule_payments(principal: str, rate: str, term: int) -> list[Decimal]:
    schedule = build_schedule(
        ScheduleTerms(
            principal=D(principal),
            currency="USD",
            annual_rate=D(rate),
            term=term,
            disbursement_date=date(2024, 1, 10),
            first_due_date=date(2024, 2, 10),
        )
    )
    return [i.total for i in schedule.installments]


@pytest.mark.parametrize(
    ("amount_financed", "payment", "term", "per_year"),
    [
        ("9700.00", "332.14", 36, 12),  # 10,000 at 12% over 36 months less a 300 fee
        ("5000.00", "166.07", 36, 12),  # no prepaid charges: APR is the note rate
        ("98000.00", "2326.83", 60, 12),  # 100,000 INR at 14% over 60 less a 2% fee
        ("2900.00", "63.42", 52, 52),  # weekly
        ("19000.00", "5618.27", 4, 4),  # quarterly
    ],
)
def test_reg_z_matches_numpy_rate(
    amount_financed: str, payment: str, term: int, per_year: int
) -> None:
    ours = annual_percentage_rate(D(amount_financed), [D(payment)] * term, per_year)
    reference = float(npf.rate(term, -float(payment), float(amount_financed), 0)) * per_year
    assert abs(float(ours) - reference) <= TOLERANCE
    assert ours.as_tuple().exponent == -6


@pytest.mark.parametrize(
    ("principal", "fee", "rate", "term"),
    [
        ("10000.00", "300.00", "0.12", 36),
        ("100000.00", "0.00", "0.12", 12),
        ("250000.00", "3750.00", "0.065", 360),
        ("1234.56", "49.00", "0.2499", 18),
    ],
)
def test_reg_z_on_schedule_matches_numpy_irr(
    principal: str, fee: str, rate: str, term: int
) -> None:
    payments = schedule_payments(principal, rate, term)
    amount_financed = D(principal) - D(fee)
    ours = annual_percentage_rate(amount_financed, payments, 12)
    reference = float(npf.irr([-float(amount_financed), *map(float, payments)])) * 12
    assert abs(float(ours) - reference) <= TOLERANCE


def test_reg_z_without_fees_is_close_to_note_rate() -> None:
    assert annual_percentage_rate(D("100000"), schedule_payments("100000.00", "0.12", 12), 12) == D(
        "0.120000"
    )


def test_reg_z_hand_worked() -> None:
    # 100 financed, 400 repaid one month later: periodic rate 3 (300%), APR 36.
    assert annual_percentage_rate(D(100), [D(400)], 12) == D("36.000000")
    # 100 financed, 115 two weeks later: 15% a fortnight, 26 fortnights a year.
    assert annual_percentage_rate(D(100), [D(115)], 26) == D("3.900000")
    # Payments equal to the amount: zero rate.
    assert annual_percentage_rate(D(1000), [D(500), D(500)], 12) == D("0.000000")


def test_reg_z_accepts_int_and_ignores_global_context() -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        assert annual_percentage_rate(100, [115], 26) == D("3.900000")  # type: ignore[arg-type,list-item]


@pytest.mark.parametrize(
    ("amount", "payments", "per_year", "message"),
    [
        (D(0), [D(1)], 12, "amount must be > 0"),
        (D(-5), [D(1)], 12, "amount must be > 0"),
        (D(100), [], 12, "at least one payment"),
        (D(100), [D(200), D(-1)], 12, "must not be negative"),
        (D(100), [D(50), D(49)], 12, "rate is negative"),
        (D(100), [D(110)], 0, "periods_per_year must be >= 1"),
        (D(100), [D(110)], True, "periods_per_year must be >= 1"),
    ],
)
def test_reg_z_invalid_inputs(
    amount: Decimal, payments: list[Decimal], per_year: int, message: str
) -> None:
    with pytest.raises(InvalidCashFlowsError, match=message):
        annual_percentage_rate(amount, payments, per_year)
    assert issubclass(InvalidCashFlowsError, LoanMathError)


def test_reg_z_refuses_floats() -> None:
    with pytest.raises(TypeError):
        annual_percentage_rate(100.0, [D(110)], 12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        annual_percentage_rate(D(100), [110.0], 12)  # type: ignore[list-item]


def float_bisection_aprc(amount: float, flows: list[tuple[date, float]], start: date) -> float:
    """Independent reference: bisect amount = sum(C * (1+X)^-(days/365)) in floats."""

    def npv(x: float) -> float:
        return sum(c * math.pow(1 + x, -(d - start).days / 365) for d, c in flows) - amount

    low, high = 0.0, 10.0
    for _ in range(200):
        middle = (low + high) / 2
        if npv(middle) > 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def test_eu_hand_worked_single_payments() -> None:
    # 1,000 repaid with 1,100 after 365 days: (1 + X)^1 = 1.1, X = 10%.
    assert eu_aprc(D(1000), [(date(2024, 1, 1), D(1100))], date(2023, 1, 1)) == D("0.100000")
    # 1,000 repaid with 1,210 after 730 days (2021-2023, no leap day): (1 + X)^2 = 1.21.
    assert eu_aprc(D(1000), [(date(2023, 1, 1), D(1210))], date(2021, 1, 1)) == D("0.100000")
    # 366 days in 2024: X = 1.1^(365/366) - 1 = 0.0997... (worked with a calculator:
    # ln 1.1 = 0.0953102, * 365/366 = 0.0950498, exp - 1 = 0.0997135).
    result = eu_aprc(D(1000), [(date(2025, 1, 1), D(1100))], date(2024, 1, 1))
    assert result == D("0.099714")


def test_eu_monthly_schedule_matches_float_bisection() -> None:
    start = date(2024, 1, 10)
    schedule = build_schedule(
        ScheduleTerms(
            principal=D("10000.00"),
            currency="EUR",
            annual_rate=D("0.12"),
            term=36,
            disbursement_date=start,
            first_due_date=date(2024, 2, 10),
        )
    )
    flows = [(i.due_date, i.total) for i in schedule.installments]
    amount = D("9700.00")  # 300 arrangement fee deducted from the amount paid out
    ours = eu_aprc(amount, flows, start)
    reference = float_bisection_aprc(float(amount), [(d, float(c)) for d, c in flows], start)
    assert abs(float(ours) - reference) <= TOLERANCE
    # With no fee the APRC is close to the effective rate 1.01^12 - 1 = 0.126825.
    no_fee = eu_aprc(D("10000.00"), flows, start)
    no_fee_reference = float_bisection_aprc(10000.0, [(d, float(c)) for d, c in flows], start)
    assert abs(float(no_fee) - no_fee_reference) <= TOLERANCE
    assert abs(no_fee - D("0.126825")) < D("0.001")


def test_eu_high_rate_needs_wide_bracket() -> None:
    # 100 repaid with 500 after a year: X = 4.
    assert eu_aprc(D(100), [(date(2025, 1, 1), D(500))], date(2024, 1, 2)) == D("4.000000")


def test_eu_zero_rate_and_payment_on_start() -> None:
    start = date(2024, 1, 1)
    assert eu_aprc(D(1000), [(start, D(1000))], start) == D("0.000000")
    with pytest.raises(InvalidCashFlowsError, match="no rate found"):
        eu_aprc(D(1000), [(start, D(1100))], start)


@pytest.mark.parametrize(
    ("amount", "flows", "message"),
    [
        (D(0), [(date(2024, 2, 1), D(1))], "amount must be > 0"),
        (D(100), [], "at least one payment"),
        (D(100), [(date(2024, 2, 1), D(-1))], "must not be negative"),
        (D(100), [(date(2024, 2, 1), D(99))], "rate is negative"),
        (D(100), [(date(2023, 12, 31), D(110))], "before the start date"),
    ],
)
def test_eu_invalid_inputs(
    amount: Decimal, flows: list[tuple[date, Decimal]], message: str
) -> None:
    with pytest.raises(InvalidCashFlowsError, match=message):
        eu_aprc(amount, flows, date(2024, 1, 1))


def _eu_present_value(rate: Decimal, flows: list[tuple[date, Decimal]], start: date) -> Decimal:
    """The Annex I sum written out directly: each payment discounted by (1 + X)^-(days/365)."""
    with localcontext() as ctx:
        ctx.prec = 50
        log_growth = (1 + rate).ln()
        return sum((c * (-(D((d - start).days) / 365) * log_growth).exp() for d, c in flows), D(0))


def _reg_z_present_value(rate: Decimal, payments: list[Decimal], per_year: int) -> Decimal:
    """Each payment discounted by whole periods at the periodic rate APR / periods."""
    with localcontext() as ctx:
        ctx.prec = 50
        step = 1 / (1 + rate / per_year)
        return sum((p * step**k for k, p in enumerate(payments, start=1)), D(0))


HALF_QUANTUM = D("0.0000005")


@settings(max_examples=60, deadline=None)
@given(
    principal_cents=st.integers(min_value=10_000, max_value=50_000_000),
    rate_bp=st.integers(min_value=0, max_value=15_000),
    term=st.integers(min_value=1, max_value=72),
    fee_bp=st.integers(min_value=0, max_value=800),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
)
def test_both_rates_are_the_root_to_half_a_unit_of_the_sixth_place(
    principal_cents: int, rate_bp: int, term: int, fee_bp: int, start: date
) -> None:
    # Whatever the solver does inside, the true root lies within half a unit of the sixth
    # place of the answer: the present value, written out independently above, is above the
    # amount half a unit below the answer and below it half a unit above (it falls with
    # the rate). Rates up to 150 %, fees up to 8 %, terms up to six years.
    principal = D(principal_cents) / 100
    day = min(start.day, 28)
    first_due = date(start.year + start.month // 12, start.month % 12 + 1, day)
    schedule = build_schedule(
        ScheduleTerms(
            principal=principal,
            currency="EUR",
            annual_rate=D(rate_bp) / 10_000,
            term=term,
            disbursement_date=start,
            first_due_date=first_due,
        )
    )
    fee = (principal * fee_bp / 10_000).quantize(D("0.01"))
    amount = principal - fee
    flows = [(i.due_date, i.total) for i in schedule.installments]
    aprc = eu_aprc(amount, flows, start)
    if aprc >= HALF_QUANTUM:
        assert _eu_present_value(aprc - HALF_QUANTUM, flows, start) >= amount
    assert _eu_present_value(aprc + HALF_QUANTUM, flows, start) <= amount
    payments = [i.total for i in schedule.installments]
    apr = annual_percentage_rate(amount, payments, 12)
    if apr >= HALF_QUANTUM:
        assert _reg_z_present_value(apr - HALF_QUANTUM, payments, 12) >= amount
    assert _reg_z_present_value(apr + HALF_QUANTUM, payments, 12) <= amount


def test_a_guess_that_does_not_settle_falls_back_to_the_bracketing_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A wrong start (a float estimate far off, say) must not change the answer: the
    # bracketing solve takes over. Hand-worked: 1,000 repaid with 1,210 after two years.
    import loanmath._apr as apr_module

    monkeypatch.setattr(apr_module, "_float_guess", lambda flows, target: 1e300)
    assert eu_aprc(D(1000), [(date(2023, 1, 1), D(1210))], date(2021, 1, 1)) == D("0.100000")
    monkeypatch.setattr(apr_module, "_float_guess", lambda flows, target: None)
    assert eu_aprc(D(1000), [(date(2023, 1, 1), D(1210))], date(2021, 1, 1)) == D("0.100000")


def test_the_float_estimate_gives_up_where_no_non_negative_rate_exists() -> None:
    from loanmath._apr import _float_guess

    # 1,000 repaid with 1,100 after a year: 10 %.
    guess = _float_guess([(1.0, 1100.0)], 1000.0)
    assert guess is not None
    assert abs(guess - 0.1) < 1e-12
    assert _float_guess([(0.0, 1100.0)], 1000.0) is None  # paid at once: no slope
    assert _float_guess([(1.0, 900.0)], 1000.0) is None  # the root is -10 %


def test_the_exact_polish_refuses_to_step_below_zero() -> None:
    from loanmath._apr import _polish

    def present_value(rate: Decimal) -> tuple[Decimal, Decimal]:
        # 900 after one period: the present value meets 1,000 at -10 %.
        return D(900) / (1 + rate), -D(900) / (1 + rate) ** 2

    assert _polish(present_value, D(1000), D("0.05")) is None
    with localcontext() as ctx:
        ctx.prec = 60
        found = _polish(lambda r: (D(1100) / (1 + r), -D(1100) / (1 + r) ** 2), D(1000), D("0.09"))
    assert found is not None
    assert abs(found - D("0.1")) < D("1e-20")
