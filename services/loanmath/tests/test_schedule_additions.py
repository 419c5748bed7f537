"""Day count 30/360 US, new frequencies, calendars, grace, multiples, laziness, regeneration."""

import itertools
import os
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from loanmath import (
    AmortizationMethod,
    BrokenPeriodInterest,
    BusinessDayConvention,
    DayCount,
    Frequency,
    GraceInterest,
    InterestBasis,
    InvalidTermsError,
    LoanMathError,
    Prepayment,
    PrepaymentEffect,
    RateChange,
    RoundingMode,
    Schedule,
    ScheduleTerms,
    WeekendCalendar,
    adjust_date,
    build_schedule,
    due_dates,
    holiday_calendar,
    periods_per_year,
    regenerate_schedule,
    year_fraction,
)

D = Decimal
SETTINGS = settings(
    max_examples=int(os.environ.get("LOANMATH_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    database=None,
)


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


# --- 30/360 US ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        # Worked by hand from the SIA rules (Standard Securities Calculation Methods).
        (date(2023, 2, 28), date(2023, 3, 31), 30),  # D1 Feb end -> 30, then D2 31 -> 30
        (date(2024, 2, 29), date(2024, 3, 31), 30),  # Bond Basis counts 32 here
        (date(2024, 2, 28), date(2024, 3, 31), 33),  # 28 Feb 2024 is not February's end
        (date(2023, 2, 28), date(2024, 2, 29), 360),  # both February ends: D2 -> 30
        (date(2024, 1, 31), date(2024, 2, 29), 29),  # D2 Feb end alone is not adjusted
        (date(2024, 1, 15), date(2024, 3, 31), 76),
    ],
)
def test_thirty_360_us(start: date, end: date, days: int) -> None:
    result = Fraction(year_fraction(start, end, DayCount.THIRTY_360_US))
    assert abs(result - Fraction(days, 360)) < Fraction(1, 10**55)


# --- frequencies -------------------------------------------------------------------------


def test_daily_and_whole_term_frequencies() -> None:
    assert periods_per_year(Frequency.DAILY) == 365
    assert due_dates(date(2024, 2, 28), Frequency.DAILY, 3) == [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
    ]
    assert due_dates(date(2024, 5, 1), Frequency.WHOLE_TERM, 1) == [date(2024, 5, 1)]
    with pytest.raises(LoanMathError, match="single due date"):
        due_dates(date(2024, 5, 1), Frequency.WHOLE_TERM, 2)
    with pytest.raises(LoanMathError, match="no fixed number of periods"):
        periods_per_year(Frequency.WHOLE_TERM)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"frequency": Frequency.WHOLE_TERM}, "whole_term frequency needs term 1"),
        ({"method": AmortizationMethod.BULLET}, "bullet needs term 1"),
        ({"grace_principal_periods": 12}, "must leave at least one installment"),
        ({"grace_interest_periods": 6, "grace_principal_periods": 6}, "at least one"),
        ({"grace_interest_periods": -1}, "grace_interest_periods must be an integer >= 0"),
        ({"installment_multiple": D("0.001")}, "installment_multiple must be a positive"),
        ({"installment_multiple": D("0")}, "installment_multiple must be a positive"),
        ({"grace_interest": "forgive"}, "not a valid GraceInterest"),
        ({"business_day_convention": "nearest"}, "not a valid BusinessDayConvention"),
        ({"calendar": "US"}, "calendar must have an is_business_day"),
    ],
)
def test_invalid_additions(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTermsError, match=message):
        make_terms(**overrides)


# --- calendars ---------------------------------------------------------------------------


def test_business_day_conventions_on_the_us_calendar() -> None:
    us = holiday_calendar("US")
    july_4 = date(2026, 7, 4)  # a Saturday: observed on Friday 3 July
    assert not us.is_business_day(date(2026, 7, 3))
    assert adjust_date(july_4, BusinessDayConvention.FOLLOWING, us) == date(2026, 7, 6)
    assert adjust_date(july_4, BusinessDayConvention.PRECEDING, us) == date(2026, 7, 2)
    # Saturday 31 Aug 2024: following is Tuesday 3 Sep (2 Sep is Labor Day), which leaves
    # the month, so modified following goes back to Friday 30 Aug.
    aug_31 = date(2024, 8, 31)
    assert adjust_date(aug_31, BusinessDayConvention.FOLLOWING, us) == date(2024, 9, 3)
    assert adjust_date(aug_31, BusinessDayConvention.MODIFIED_FOLLOWING, us) == date(2024, 8, 30)
    assert adjust_date(aug_31, BusinessDayConvention.UNADJUSTED, us) == aug_31
    # Without a calendar only weekends close.
    assert adjust_date(date(2024, 9, 1), BusinessDayConvention.FOLLOWING) == date(2024, 9, 2)
    assert holiday_calendar("US") == us
    assert hash(holiday_calendar("US")) == hash(us)
    with pytest.raises(LoanMathError, match="no holiday calendar"):
        holiday_calendar("XX")


def test_weekend_of_the_country_is_used() -> None:
    # Saudi Arabia's weekend is Friday and Saturday.
    sa = holiday_calendar("SA")
    assert not sa.is_business_day(date(2024, 3, 8))  # Friday
    assert sa.is_business_day(date(2024, 3, 10))  # Sunday
    assert WeekendCalendar(frozenset({5, 6})).is_business_day(date(2024, 3, 10))


def test_adjusted_dates_are_payment_dates_and_accrual_follows_schedule_dates() -> None:
    base = {
        "interest_basis": InterestBasis.DAY_COUNT,
        "day_count": DayCount.ACT_365F,
        "disbursement_date": date(2024, 7, 4),
        "first_due_date": date(2024, 8, 4),  # a Sunday
    }
    plain = build_schedule(make_terms(**base))
    moved = build_schedule(
        make_terms(
            **base,
            business_day_convention=BusinessDayConvention.FOLLOWING,
            calendar=holiday_calendar("US"),
        )
    )
    assert moved.installments[0].due_date == date(2024, 8, 5)
    assert moved.schedule_dates[0] == date(2024, 8, 4)
    assert [i.due_date for i in moved.installments][1] == date(2024, 9, 4)
    # Interest still accrues between the unadjusted dates.
    assert [i.interest for i in moved.installments] == [i.interest for i in plain.installments]
    by_payment = build_schedule(
        make_terms(
            **base,
            business_day_convention=BusinessDayConvention.FOLLOWING,
            calendar=holiday_calendar("US"),
            accrue_on_payment_dates=True,
        )
    )
    # 4 Jul -> 5 Aug is 32 days: 100000 * 0.12 * 32/365 = 1052.05 (half-even).
    assert by_payment.installments[0].interest == D("1052.05")
    assert plain.installments[0].interest == D("1019.18")  # 31 days


def test_daily_following_collision_is_rejected() -> None:
    terms = make_terms(
        frequency=Frequency.DAILY,
        term=10,
        disbursement_date=date(2024, 3, 1),
        first_due_date=date(2024, 3, 2),
        business_day_convention=BusinessDayConvention.FOLLOWING,
    )
    with pytest.raises(InvalidTermsError, match="following adjustment moves installment 2"):
        build_schedule(terms)


# --- grace, multiples, stubs -------------------------------------------------------------


def test_capitalised_grace_rows_pay_nothing_and_grow_the_balance() -> None:
    schedule = build_schedule(make_terms(grace_interest_periods=2, grace_principal_periods=1))
    first, second, third, fourth = schedule.installments[:4]
    assert (first.total, first.interest, first.principal) == (D("0.00"), D("1000.00"), D(-1000))
    assert second.opening_balance == D("101000.00")
    assert second.interest == D("1010.00")
    assert third.principal == 0
    assert third.interest == D("1020.10")
    assert third.total == D("1020.10")
    assert schedule.installment_amount == fourth.total
    assert schedule.total_principal == D("100000.00")


def test_deferred_grace_interest_is_charged_after_the_grace() -> None:
    schedule = build_schedule(
        make_terms(grace_interest_periods=2, grace_interest=GraceInterest.DEFER)
    )
    first, second, third, fourth = schedule.installments[:4]
    assert first.total == second.total == 0
    assert third.opening_balance == D("100000.00")
    assert third.interest == D("3000.00")  # two deferred months plus its own
    assert third.total == fourth.total + D("2000.00")
    assert schedule.installment_amount == fourth.total


def test_installment_multiple_rounds_up_and_last_absorbs() -> None:
    schedule = build_schedule(make_terms(installment_multiple=D("10.00")))
    assert schedule.installment_amount == D("8890.00")
    assert all(i.total == D("8890.00") for i in schedule.installments[:-1])
    assert schedule.installments[-1].total < D("8890.00")
    assert schedule.total_principal == D("100000.00")


def test_regular_first_period_is_not_a_stub() -> None:
    regular = build_schedule(make_terms(day_count=DayCount.ACT_365F))
    stub_rule = build_schedule(
        make_terms(day_count=DayCount.ACT_365F, broken_period_interest="day_count")
    )
    assert stub_rule.installments == regular.installments


# --- lazy rows ---------------------------------------------------------------------------


def test_lazy_schedule_equals_one_built_from_its_rows() -> None:
    schedule = build_schedule(make_terms(term=360))
    rebuilt = Schedule(terms=schedule.terms, installments=list(schedule.installments))
    assert rebuilt == schedule
    assert hash(rebuilt) == hash(schedule)
    assert schedule.installments is schedule.installments  # built once, then kept
    with pytest.raises(AttributeError):
        schedule.terms = make_terms()


# --- regeneration ------------------------------------------------------------------------


def test_rate_change_on_a_due_date_keeps_the_past() -> None:
    original = build_schedule(make_terms())
    sixth = original.installments[5]
    changed = regenerate_schedule(
        original,
        from_date=sixth.due_date,
        outstanding_principal=sixth.closing_balance,
        change=RateChange(D("0.06")),
    )
    assert changed.installments[:6] == original.installments[:6]
    seventh = changed.installments[6]
    assert seventh.number == 7
    assert seventh.opening_balance == sixth.closing_balance
    # Reference: 6 remaining months at 0.5% on the balance, rounded half-even by hand.
    r = Fraction(5, 1000)
    balance = Fraction(sixth.closing_balance)
    exact = balance * r / (1 - (1 + r) ** -6)
    assert seventh.total == D(round(exact * 100)) / 100
    assert seventh.interest == D(round(balance * r * 100)) / 100
    assert changed.terms.annual_rate == D("0.06")
    assert changed.total_principal == D("100000.00")


def test_mid_period_prepayment_splits_the_period_by_days() -> None:
    original = build_schedule(make_terms())
    third = original.installments[2]  # due 15 Apr 2024
    outstanding = third.closing_balance
    regenerated = regenerate_schedule(
        original,
        from_date=date(2024, 4, 25),
        outstanding_principal=outstanding,
        change=Prepayment(D("20000.00")),
    )
    fourth = regenerated.installments[3]
    # 15 Apr -> 15 May is 30 days; 10 at the old balance, 20 at the new, 1% a month.
    exact = (Fraction(outstanding) * 10 + Fraction(outstanding - 20000) * 20) / 30 / 100
    assert fourth.interest == D(round(exact * 100)) / 100
    assert regenerated.prepaid_principal == D("20000.00")
    assert regenerated.total_principal + regenerated.prepaid_principal == D("100000.00")


def test_reduce_term_keeps_the_installment_and_ends_earlier() -> None:
    original = build_schedule(make_terms(term=24))
    row = original.installments[5]
    shorter = regenerate_schedule(
        original,
        from_date=row.due_date,
        outstanding_principal=row.closing_balance,
        change=Prepayment(D("30000.00"), PrepaymentEffect.REDUCE_TERM),
    )
    assert len(shorter.installments) < 24
    assert all(i.total == original.installment_amount for i in shorter.installments[6:-1])
    assert shorter.installments[-1].total <= original.installment_amount
    assert shorter.total_principal + D("30000.00") == D("100000.00")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"from_date": date(2025, 1, 15)}, "no installment falls due"),
        ({"from_date": date(2023, 1, 1)}, "before disbursement"),
        ({"change": Prepayment(D("100000.00"))}, "below the outstanding"),
        ({"change": Prepayment(D("0.001"))}, "more decimals"),
        ({"outstanding_principal": D("0")}, "must be > 0"),
    ],
)
def test_regeneration_refusals(kwargs: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "from_date": date(2024, 1, 20),
        "outstanding_principal": D("100000.00"),
        "change": RateChange(D("0.1")),
    }
    values.update(kwargs)
    with pytest.raises(InvalidTermsError, match=message):
        regenerate_schedule(build_schedule(make_terms()), **values)
    flat = build_schedule(make_terms(method=AmortizationMethod.FLAT))
    with pytest.raises(InvalidTermsError, match="flat-interest"):
        regenerate_schedule(flat, **{**values, "from_date": date(2024, 1, 20)})


# --- properties --------------------------------------------------------------------------

CURRENCIES = ["USD", "JPY", "KWD", "EUR"]


@st.composite
def rich_terms(draw: st.DrawFn, methods: tuple[AmortizationMethod, ...] = ()) -> ScheduleTerms:
    method = draw(st.sampled_from(methods or list(AmortizationMethod)))
    term = 1 if method is AmortizationMethod.BULLET else draw(st.integers(1, 120))
    grace_i = draw(st.integers(0, min(3, term - 1)))
    grace_p = draw(st.integers(0, min(3, term - 1 - grace_i)))
    currency = draw(st.sampled_from(CURRENCIES))
    disbursed = draw(st.dates(date(2000, 1, 1), date(2060, 1, 1)))
    gap = draw(st.integers(15, 45))
    multiple = draw(st.sampled_from([None, D(1), D(5)]))
    return ScheduleTerms(
        principal=D(draw(st.integers(1000 * term, 1_000_000 * term))),
        currency=currency,
        annual_rate=D(draw(st.integers(0, 30_000))).scaleb(-5),
        term=term,
        disbursement_date=disbursed,
        first_due_date=disbursed + timedelta(days=gap),
        method=method,
        day_count=draw(st.sampled_from(list(DayCount))),
        interest_basis=draw(st.sampled_from(list(InterestBasis))),
        rounding_mode=draw(st.sampled_from(list(RoundingMode))),
        grace_interest_periods=grace_i,
        grace_principal_periods=grace_p,
        grace_interest=draw(st.sampled_from(list(GraceInterest))),
        broken_period_interest=draw(st.sampled_from(list(BrokenPeriodInterest))),
        business_day_convention=draw(st.sampled_from(list(BusinessDayConvention))),
        installment_multiple=multiple,
    )


def build_or_reject(terms: ScheduleTerms) -> Schedule:
    """The schedule, or a rejected example when build_schedule refuses the terms by design.

    Random terms can hit the documented refusal (rounding drift, notably with installment
    multiples, repays everything before the last installment); such terms prove nothing here.
    """
    try:
        return build_schedule(terms)
    except InvalidTermsError as exc:
        if "repay the principal" not in str(exc):
            raise
        reject()


@SETTINGS
@given(rich_terms())
def test_every_method_sums_principal_and_never_goes_negative(terms: ScheduleTerms) -> None:
    schedule = build_or_reject(terms)
    rows = schedule.installments
    assert len(rows) == terms.term
    assert schedule.total_principal == terms.principal
    assert all(i.closing_balance >= 0 and i.opening_balance > 0 for i in rows)
    assert all(i.interest >= 0 and i.total >= 0 for i in rows)
    assert rows[-1].closing_balance == 0
    assert all(a.due_date < b.due_date for a, b in itertools.pairwise(rows))
    assert rows[0].due_date > terms.disbursement_date


@SETTINGS
@given(
    rich_terms(methods=(AmortizationMethod.ANNUITY, AmortizationMethod.EQUAL_PRINCIPAL)),
    st.data(),
)
def test_prepayment_regeneration_invariants(terms: ScheduleTerms, data: st.DataObject) -> None:
    schedule = build_or_reject(terms)
    rows = schedule.installments
    grace = terms.grace_interest_periods + terms.grace_principal_periods
    past = data.draw(st.integers(grace, len(rows) - 1))
    start = rows[past - 1].due_date if past else terms.disbursement_date
    from_date = start + timedelta(days=data.draw(st.integers(0, 20)))
    if from_date >= rows[past].due_date:
        from_date = start
    outstanding = rows[past - 1].closing_balance if past else terms.principal
    unit = D(1).scaleb(-{"JPY": 0, "KWD": 3}.get(terms.currency, 2))
    amount = (outstanding * data.draw(st.integers(1, 90)) / 100).quantize(unit)
    if amount <= 0 or amount >= outstanding:
        return
    effect = data.draw(st.sampled_from(list(PrepaymentEffect)))
    regenerated = regenerate_schedule(
        schedule,
        from_date=from_date,
        outstanding_principal=outstanding,
        change=Prepayment(amount, effect),
    )
    new_rows = regenerated.installments
    assert new_rows[:past] == rows[:past]
    repaid_before = sum((r.principal for r in rows[:past]), D(0))
    remaining = sum((r.principal for r in new_rows[past:]), D(0))
    # Principal parts plus what was already repaid (installments and the prepayment).
    assert remaining + repaid_before + amount == terms.principal
    assert regenerated.total_principal + regenerated.prepaid_principal == terms.principal
    assert all(r.closing_balance >= 0 for r in new_rows)
    assert new_rows[-1].closing_balance == 0
    assert len(new_rows) <= len(rows)
    if effect is PrepaymentEffect.REDUCE_INSTALLMENT:
        assert len(new_rows) == len(rows)


@SETTINGS
@given(rich_terms(methods=(AmortizationMethod.ANNUITY,)), st.data())
def test_rate_change_regeneration_invariants(terms: ScheduleTerms, data: st.DataObject) -> None:
    schedule = build_or_reject(terms)
    rows = schedule.installments
    past = data.draw(st.integers(0, len(rows) - 1))
    outstanding = rows[past - 1].closing_balance if past else terms.principal
    new_rate = D(data.draw(st.integers(0, 30_000))).scaleb(-5)
    from_date = rows[past - 1].due_date if past else terms.disbursement_date
    try:
        changed = regenerate_schedule(
            schedule,
            from_date=from_date,
            outstanding_principal=outstanding,
            change=RateChange(new_rate),
        )
    except InvalidTermsError as exc:
        # Same refusals as build_schedule: drift or a deferred grace still running.
        if "repay the principal" not in str(exc) and "deferred-interest grace" not in str(exc):
            raise
        return
    assert changed.installments[:past] == rows[:past]
    assert len(changed.installments) == len(rows)
    assert changed.total_principal == terms.principal
    assert all(r.closing_balance >= 0 for r in changed.installments)


def _from_rows(schedule: Schedule) -> tuple[Any, ...]:
    """The headline figures and minor-unit rows computed from the built Installment rows."""
    rows = schedule.installments
    unit = {"JPY": 0, "KWD": 3}.get(schedule.terms.currency, 2)

    def minor(amount: D) -> int:
        return int(amount.scaleb(unit))

    return (
        tuple(
            (i.number, i.due_date, minor(i.principal), minor(i.interest), minor(i.fees))
            for i in rows
        ),
        sum((i.principal for i in rows), D(0)),
        sum((i.interest for i in rows), D(0)),
        sum((i.total for i in rows), D(0)),
        rows[0].due_date,
        rows[-1].due_date,
        len(rows),
    )


def _from_columns(schedule: Schedule) -> tuple[Any, ...]:
    """The same figures as a fresh schedule gives them before any row is built."""
    return (
        tuple(tuple(row) for row in schedule.minor_rows()),
        schedule.total_principal,
        schedule.total_interest,
        schedule.total_repayable,
        schedule.first_due_date,
        schedule.last_due_date,
        schedule.installment_count,
    )


@SETTINGS
@given(rich_terms(), st.data())
def test_minor_rows_and_totals_agree_with_the_built_rows(
    terms: ScheduleTerms, data: st.DataObject
) -> None:
    # Figures read before the rows exist (the booking path) against the rows themselves,
    # summed here with plain Decimal arithmetic.
    fresh = build_or_reject(terms)
    before = _from_columns(fresh)
    amount_before = fresh.installment_amount
    assert fresh.installment_count == terms.term
    assert before == _from_rows(build_schedule(terms))
    assert amount_before == fresh.installment_amount
    for row in fresh.minor_rows():
        assert row.total == row.principal + row.interest + row.fees
    # A regenerated schedule (kept rows plus new columns) answers the same way.
    if (
        terms.method is AmortizationMethod.ANNUITY
        and terms.term > 1
        and not (terms.grace_interest_periods or terms.grace_principal_periods)
    ):
        rows = fresh.installments
        past = data.draw(st.integers(1, len(rows) - 1))
        try:
            changed = regenerate_schedule(
                fresh,
                from_date=rows[past - 1].due_date,
                outstanding_principal=rows[past - 1].closing_balance,
                change=RateChange(D("0.05")),
            )
        except InvalidTermsError as exc:
            if "repay the principal" not in str(exc):
                raise
            return
        assert _from_columns(changed) == _from_rows(changed)
