"""Close of business rules: accrual, penalties, delinquency and the dates a run closes.

Expected figures are worked out by hand in the comments or with Fraction arithmetic here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lms.domain.cob import (
    AccrualPeriod,
    BusinessDateError,
    OverdueInstallment,
    PenaltyTerms,
    accrual_for_day,
    accrued_through,
    accrued_to,
    business_date_due,
    dates_to_close,
    delinquency_on,
    penalties_for_day,
    round_fraction,
)
from lms.domain.delinquency import Bucket
from lms.products import parse_rules
from loanmath import RoundingMode

D = Decimal


def test_round_fraction_modes_on_exact_halves():
    half = Fraction(1005, 100000)  # 0.01005 USD -> 1.005 cents
    assert round_fraction(half, "USD", RoundingMode.HALF_EVEN) == D("0.01")
    assert round_fraction(half, "USD", RoundingMode.HALF_UP) == D("0.01")
    assert round_fraction(Fraction(15, 1000), "USD", RoundingMode.HALF_EVEN) == D("0.02")
    assert round_fraction(Fraction(25, 1000), "USD", RoundingMode.HALF_EVEN) == D("0.02")
    assert round_fraction(Fraction(25, 1000), "USD", RoundingMode.HALF_UP) == D("0.03")
    assert round_fraction(Fraction(25, 1000), "USD", RoundingMode.HALF_DOWN) == D("0.02")
    assert round_fraction(Fraction(-25, 1000), "USD", RoundingMode.FLOOR) == D("-0.03")
    assert round_fraction(Fraction(-25, 1000), "USD", RoundingMode.CEILING) == D("-0.02")
    assert round_fraction(Fraction(1, 3), "JPY", RoundingMode.UP) == D("1")
    assert round_fraction(Fraction(2, 3), "BHD", RoundingMode.DOWN) == D("0.666")
    assert str(round_fraction(Fraction(0), "USD", RoundingMode.HALF_EVEN)) == "0.00"


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=1, max_value=10**6),
)
def test_round_fraction_matches_decimal_quantize(numerator, denominator):
    value = Fraction(numerator, denominator)
    # Decimal with ample precision is exact enough here: a half can only be hit exactly.
    exact = D(numerator) / D(denominator)
    for mode, rounding in (
        (RoundingMode.HALF_EVEN, ROUND_HALF_EVEN),
        (RoundingMode.HALF_UP, ROUND_HALF_UP),
    ):
        assert round_fraction(value, "USD", mode) == exact.quantize(D("0.01"), rounding)


def test_first_period_accrues_day_by_day_to_the_scheduled_interest():
    period = AccrualPeriod(date(2024, 5, 1), date(2024, 6, 1), D("100.00"))
    days = [date(2024, 5, 1) + timedelta(days=k) for k in range(1, 32)]
    amounts = [accrual_for_day(period, d, "USD") for d in days]
    # 100 / 31 = 3.2258...: cumulative rounding gives 3.23 or 3.22 a day, 100.00 in all.
    assert set(amounts) == {D("3.22"), D("3.23")}
    assert sum(amounts) == D("100.00")
    assert accrued_to(period, date(2024, 5, 16), "USD") == D("48.39")  # 1500/31 = 48.387
    assert accrual_for_day(period, date(2024, 5, 1), "USD") == 0
    assert accrual_for_day(period, date(2024, 6, 2), "USD") == 0


@settings(max_examples=200)
@given(
    interest=st.decimals(min_value=0, max_value=D("1000000"), places=2),
    length=st.integers(min_value=1, max_value=400),
    split=st.integers(min_value=0, max_value=400),
    mode=st.sampled_from(list(RoundingMode)),
)
def test_daily_runs_equal_one_catch_up_and_a_period_accrues_its_interest(
    interest, length, split, mode
):
    start = date(2024, 1, 1)
    period = AccrualPeriod(start, start + timedelta(days=length), interest)
    days = [start + timedelta(days=k) for k in range(1, length + 1)]
    daily = [accrual_for_day(period, d, "USD", mode) for d in days]
    assert sum(daily) == interest
    cut = min(split, length)
    assert sum(daily[:cut]) == accrued_to(period, start + timedelta(days=cut), "USD", mode)
    if mode in (RoundingMode.HALF_EVEN, RoundingMode.DOWN, RoundingMode.UP):
        assert all(a >= 0 for a in daily)


def test_accrued_through_a_schedule():
    periods = [
        AccrualPeriod(date(2024, 5, 1), date(2024, 6, 1), D("100.00")),
        AccrualPeriod(date(2024, 6, 1), date(2024, 7, 1), D("92.12")),
    ]
    # 100.00 + round(92.12 x 10 / 30) = 100.00 + 30.71 (30.7066...).
    assert accrued_through(periods, date(2024, 6, 11), "USD") == D("130.71")


TERMS = PenaltyTerms(D("15.00"), D("0.05"), 5)


def test_penalties_wait_for_the_grace_days_then_charge_fee_once_and_daily_interest():
    due = date(2024, 6, 1)
    owed = [OverdueInstallment(1, due, D("888.49"), late_fee_charged=False)]
    assert penalties_for_day(owed, TERMS, due + timedelta(days=5), "USD") == []
    charges = penalties_for_day(owed, TERMS, due + timedelta(days=6), "USD")
    # 888.49 x 0.05 / 365 = 0.12171... -> 0.12
    assert [(c.installment, c.amount, c.reason) for c in charges] == [
        (1, D("15.00"), "late_fee"),
        (1, D("0.12"), "penalty_interest"),
    ]
    charged = [OverdueInstallment(1, due, D("888.49"), late_fee_charged=True)]
    charges = penalties_for_day(charged, TERMS, due + timedelta(days=7), "USD")
    assert [(c.amount, c.reason) for c in charges] == [(D("0.12"), "penalty_interest")]


def test_penalty_interest_sums_late_installments_onto_the_oldest():
    owed = [
        OverdueInstallment(2, date(2024, 7, 1), D("888.49"), late_fee_charged=False),
        OverdueInstallment(1, date(2024, 6, 1), D("888.49"), late_fee_charged=True),
    ]
    charges = penalties_for_day(owed, TERMS, date(2024, 7, 7), "USD")
    # 1776.98 x 0.05 / 365 = 0.24342 -> 0.24, on installment 1; fee for installment 2.
    assert [(c.installment, c.amount, c.reason) for c in charges] == [
        (2, D("15.00"), "late_fee"),
        (1, D("0.24"), "penalty_interest"),
    ]
    assert penalties_for_day(owed, PenaltyTerms(D(0), D(0), 5), date(2024, 7, 7), "USD") == []


@given(dpd=st.integers(min_value=0, max_value=2000))
def test_delinquency_bucket_and_non_performing(dpd):
    on = date(2030, 1, 1)
    state = delinquency_on(on - timedelta(days=dpd) if dpd else None, on)
    assert state.days_past_due == dpd
    assert state.non_performing is (dpd >= 90)
    expected = "current" if dpd == 0 else "1-30" if dpd <= 30 else "31-60" if dpd <= 60 else "61-90"
    assert state.bucket == (expected if dpd <= 90 else "90+")


def test_custom_buckets_from_the_product_rules():
    rules = parse_rules(
        {
            "default": {"overpayment": "hold_credit"},
            "MICRO": {
                "overpayment": "hold_credit",
                "buckets": [["ok", 0], ["watch", 7], ["bad"]],
                "non_performing_days": 30,
            },
        }
    )
    micro = rules["MICRO"]
    assert delinquency_on(date(2024, 1, 1), date(2024, 1, 9), micro.buckets, 30).bucket == "bad"
    assert delinquency_on(date(2024, 1, 1), date(2024, 1, 31), micro.buckets, 30).non_performing
    assert rules["default"].buckets[-1] == Bucket("90+", None)
    for bad in ([["a", 1], ["b"]], [["a", 0], ["b", 5]], [["a", 0], ["b", 0], ["c"]], "x"):
        with pytest.raises(ValueError, match=r"servicing\.toml"):
            parse_rules({"default": {"overpayment": "hold_credit", "buckets": bad}})


def test_business_date_due_turns_at_the_cutoff():
    cutoff = time(0, 30)
    # Before the cut-off on 7 December, 6 December is still open: the 5th is the latest due.
    assert business_date_due(datetime(2026, 12, 7, 0, 29, 59), cutoff) == date(2026, 12, 5)
    assert business_date_due(datetime(2026, 12, 7, 0, 30), cutoff) == date(2026, 12, 6)
    assert business_date_due(datetime(2026, 12, 7, 23, 59), cutoff) == date(2026, 12, 6)
    # Across a month and a year end.
    assert business_date_due(datetime(2027, 1, 1, 1, 0), cutoff) == date(2026, 12, 31)
    assert business_date_due(datetime(2027, 3, 1, 0, 0), cutoff) == date(2027, 2, 27)
    # A cut-off late in the day leaves the previous date open most of the day.
    assert business_date_due(datetime(2026, 12, 7, 17, 0), time(18, 0)) == date(2026, 12, 5)


def test_business_date_due_in_the_lenders_time_zone():
    # 15:45 UTC on 6 December is 00:45 on 7 December in Tokyo (UTC+9): the 6th is due there,
    # while in New York (UTC-5) it is 10:45 on the 6th, so the 5th.
    at = datetime(2026, 12, 6, 15, 45, tzinfo=UTC)
    cutoff = time(0, 30)
    assert business_date_due(at.astimezone(ZoneInfo("Asia/Tokyo")), cutoff) == date(2026, 12, 6)
    assert business_date_due(at.astimezone(ZoneInfo("America/New_York")), cutoff) == date(
        2026, 12, 5
    )


def test_dates_to_close():
    assert dates_to_close(None, date(2024, 5, 2)) == [date(2024, 5, 2)]
    assert dates_to_close(date(2024, 5, 2), date(2024, 5, 2)) == []
    assert dates_to_close(date(2024, 5, 2), date(2024, 5, 5)) == [
        date(2024, 5, 3),
        date(2024, 5, 4),
        date(2024, 5, 5),
    ]
    with pytest.raises(BusinessDateError):
        dates_to_close(date(2024, 5, 2), date(2024, 5, 1))
