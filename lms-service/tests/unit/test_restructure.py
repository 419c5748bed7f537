"""Restructuring rules, pure: terms validation, spreads, the new schedule and the replay.

Golden figures: the `reference` fixture's annuity table (lms-service/tests/conftest.py, written out independently of
loanmath) for the new installments, numpy-financial's `pmt` for the installment-amount
search, and hand arithmetic written next to each figure.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy_financial as npf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lms.domain.allocation import Component, InstallmentState
from lms.domain.errors import InvalidRestructureError
from lms.domain.restructure import (
    RestructureEvent,
    RestructureKind,
    RestructureTerms,
    spread,
)
from lms.domain.servicing import LoanContext, PaymentEvent, ServicingEngine, payoff_quote
from loanmath import AmortizationMethod, DayCount, RoundingMode, ScheduleTerms, build_schedule

D = Decimal
CENT = D("0.01")
START = date(2026, 1, 1)
CTX = LoanContext("USD", START, D("0.12"), DayCount.THIRTY_360, RoundingMode.HALF_EVEN)


def _booked(method: AmortizationMethod = AmortizationMethod.ANNUITY) -> list[InstallmentState]:
    schedule = build_schedule(
        ScheduleTerms(
            principal=D("12000.00"),
            currency="USD",
            annual_rate=D("0.12"),
            term=12,
            disbursement_date=START,
            first_due_date=date(2026, 2, 1),
            method=method,
        )
    )
    return [
        InstallmentState(r.number, r.due_date, r.principal, r.interest, r.fees)
        for r in schedule.installments
    ]


def _paid(booked: list[InstallmentState], count: int) -> list[PaymentEvent]:
    return [
        PaymentEvent(f"P{i.number}", i.due_date, i.principal + i.interest, i.number)
        for i in booked[:count]
    ]


def _event(on: date = date(2026, 4, 15), **fields: object) -> RestructureEvent:
    return RestructureEvent("R1", on, 100, RestructureTerms(**fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": RestructureKind.RESCHEDULE},
        {"kind": RestructureKind.RESCHEDULE, "extend_by": 2, "installment_amount": D("100")},
        {"kind": RestructureKind.RESCHEDULE, "extend_by": 121},
        {"kind": RestructureKind.RESCHEDULE, "annual_rate": D("1.5")},
        {"kind": RestructureKind.RESCHEDULE, "annual_rate": D("-0.01")},
        {"kind": RestructureKind.RESCHEDULE, "installment_amount": D("10.001")},
        {"kind": RestructureKind.RESCHEDULE, "extend_by": 1, "holiday_periods": 1},
        {"kind": RestructureKind.PAYMENT_HOLIDAY},
        {"kind": RestructureKind.PAYMENT_HOLIDAY, "holiday_periods": 13},
        {"kind": RestructureKind.PAYMENT_HOLIDAY, "holiday_periods": 1, "extend_by": 1},
        {"kind": RestructureKind.RE_AGE, "annual_rate": D("0.05")},
        {"kind": RestructureKind.RE_AGE, "capitalise_interest": True},
    ],
)
def test_meaningless_terms_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidRestructureError):
        RestructureTerms(**fields).validate("USD")  # type: ignore[arg-type]


def test_spread_gives_equal_parts_and_the_residue_to_the_last() -> None:
    assert spread(D("100.00"), 3, "USD") == [D("33.33"), D("33.33"), D("33.34")]
    assert spread(D("7"), 2, "JPY") == [D("3"), D("4")]
    assert spread(D("1.000"), 3, "BHD") == [D("0.333"), D("0.333"), D("0.334")]
    assert spread(D("0.00"), 2, "USD") == [D("0.00"), D("0.00")]


@given(
    total=st.integers(min_value=0, max_value=10**9),
    count=st.integers(min_value=1, max_value=400),
)
def test_spread_sums_exactly(total: int, count: int) -> None:
    amount = D(total).scaleb(-2)
    parts = spread(amount, count, "USD")
    assert sum(parts, D(0)) == amount
    assert len({p for p in parts[:-1]}) <= 1
    assert all(p >= 0 for p in parts)


def test_reschedule_re_amortises_what_is_left_at_the_new_rate_over_the_longer_term(
    reference,
) -> None:
    booked = _booked()
    table = reference(D("12000.00"), D("0.12"), 12)
    replay = ServicingEngine(CTX).replay(
        booked,
        [
            *_paid(booked, 3),
            _event(kind=RestructureKind.RESCHEDULE, extend_by=3, annual_rate=D("0.06")),
        ],
    )
    carried = D("12000.00") - sum((r["principal"] for r in table[:3]), D(0))
    golden = reference(carried, D("0.06"), 12)
    new = replay.installments[3:]
    assert [i.number for i in replay.installments] == list(range(1, 16))
    assert [(i.principal, i.interest) for i in new] == [
        (g["principal"], g["interest"]) for g in golden
    ]
    assert new[0].due_date == date(2026, 5, 1)
    assert new[-1].due_date == date(2027, 4, 1)
    assert replay.ctx is not None
    assert replay.ctx.annual_rate == D("0.06")
    assert replay.schedule_changes == ["reschedule"]
    # A payoff quote on 16 May owes installment 4 (due 1 May, unpaid) and the period in
    # progress at the new rate: 30/360 from 1 May is 15 days, carried x 6% x 15/360.
    quote = payoff_quote(replay.ctx, replay.installments, date(2026, 5, 16))
    accrued = (carried * D("0.06") * 15 / 360).quantize(CENT, ROUND_HALF_EVEN)
    assert quote.interest == golden[0]["interest"] + accrued


def test_a_new_installment_amount_sets_the_fewest_installments_that_fit(reference) -> None:
    booked = _booked()
    table = reference(D("12000.00"), D("0.12"), 12)
    carried = D("12000.00") - sum((r["principal"] for r in table[:3]), D(0))
    replay = ServicingEngine(CTX).replay(
        booked,
        [
            *_paid(booked, 3),
            _event(kind=RestructureKind.RESCHEDULE, installment_amount=D("500.00")),
        ],
    )
    outcome = replay.restructures["R1"]
    # numpy-financial: the level payment for n installments at 1% a month.
    level = {
        n: D(str(-npf.pmt(0.01, n, float(carried)))).quantize(CENT, ROUND_HALF_EVEN)
        for n in range(1, 40)
    }
    fewest = min(n for n, amount in level.items() if amount <= D("500.00"))
    assert outcome.new_count == fewest
    assert outcome.installment_amount == level[fewest] <= D("500.00") < level[fewest - 1]


def test_payment_holiday_moves_the_installments_and_capitalises_or_defers_its_interest(
    reference,
) -> None:
    booked = _booked()
    table = reference(D("12000.00"), D("0.12"), 12)
    carried = D("12000.00") - sum((r["principal"] for r in table[:3]), D(0))
    # 30/360 from 1 April (period start) to 1 June (the second skipped due date): 60 days.
    holiday_interest = (carried * D("0.12") * 60 / 360).quantize(CENT, ROUND_HALF_EVEN)
    engine = ServicingEngine(CTX)
    capitalised = engine.replay(
        booked,
        [
            *_paid(booked, 3),
            _event(
                kind=RestructureKind.PAYMENT_HOLIDAY, holiday_periods=2, capitalise_interest=True
            ),
        ],
    )
    new = capitalised.installments[3:]
    golden = reference(carried + holiday_interest, D("0.12"), 9)
    assert [(i.principal, i.interest) for i in new] == [
        (g["principal"], g["interest"]) for g in golden
    ]
    assert new[0].due_date == date(2026, 7, 1)
    assert new[0].starts == date(2026, 6, 1)
    assert capitalised.capitalised == holiday_interest

    deferred = engine.replay(
        booked,
        [*_paid(booked, 3), _event(kind=RestructureKind.PAYMENT_HOLIDAY, holiday_periods=2)],
    )
    golden = reference(carried, D("0.12"), 9)
    parts = spread(holiday_interest, 9, "USD")
    assert [i.interest for i in deferred.installments[3:]] == [
        g["interest"] + p for g, p in zip(golden, parts, strict=True)
    ]
    assert deferred.capitalised == 0
    # During the holiday nothing is due, and a payoff owes the principal only: the holiday
    # has not earned anything yet in the deferred case (its period starts on 1 June).
    quote = payoff_quote(CTX, deferred.installments, date(2026, 5, 1))
    assert (quote.principal, quote.interest) == (carried, D("0.00"))


def test_re_aging_moves_the_arrears_onto_the_new_installments(reference) -> None:
    booked = _booked()
    replay = ServicingEngine(CTX).replay(
        booked, [*_paid(booked, 1), _event(kind=RestructureKind.RE_AGE, extend_by=2)]
    )
    kept, new = replay.installments[:3], replay.installments[3:]
    assert all(i.remaining == 0 for i in kept)
    arrears_principal = booked[1].principal + booked[2].principal
    arrears_interest = booked[1].interest + booked[2].interest
    outcome = replay.restructures["R1"]
    assert outcome.re_aged == {
        Component.PRINCIPAL: arrears_principal,
        Component.INTEREST: arrears_interest,
    }
    carried = sum((i.principal for i in booked[3:]), D(0)) + arrears_principal
    golden = reference(carried, D("0.12"), 11)
    parts = spread(arrears_interest, 11, "USD")
    assert [i.principal for i in new] == [g["principal"] for g in golden]
    assert [i.interest for i in new] == [
        g["interest"] + p for g, p in zip(golden, parts, strict=True)
    ]


def test_a_backdated_payment_that_paid_ahead_becomes_credit_at_the_restructure() -> None:
    booked = _booked()
    ahead = PaymentEvent("AHEAD", date(2026, 4, 10), D("300.00"), 50)
    replay = ServicingEngine(CTX).replay(
        booked,
        [
            *_paid(booked, 3),
            ahead,
            _event(kind=RestructureKind.RESCHEDULE, extend_by=1),
        ],
    )
    assert replay.payments["AHEAD"].lines == ()
    assert replay.payments["AHEAD"].credit == D("300.00")
    assert replay.credit_balance == D("300.00")
    assert all(i.paid_principal == i.paid_interest == 0 for i in replay.installments[3:])


def test_flat_loans_and_loans_without_arrears_are_refused() -> None:
    flat = _booked(AmortizationMethod.FLAT)
    flat_ctx = LoanContext(
        "USD",
        START,
        D("0.12"),
        DayCount.THIRTY_360,
        RoundingMode.HALF_EVEN,
        method=AmortizationMethod.FLAT,
    )
    with pytest.raises(InvalidRestructureError, match="flat"):
        ServicingEngine(flat_ctx).replay(
            flat, [_event(kind=RestructureKind.RESCHEDULE, extend_by=1)]
        )
    booked = _booked()
    with pytest.raises(InvalidRestructureError, match="arrears"):
        ServicingEngine(CTX).replay(
            booked, [*_paid(booked, 3), _event(kind=RestructureKind.RE_AGE)]
        )


def test_past_maturity_a_reschedule_needs_new_installments() -> None:
    booked = _booked()
    late = date(2027, 3, 15)
    with pytest.raises(InvalidRestructureError, match="past maturity"):
        ServicingEngine(CTX).replay(booked, [_event(late, kind=RestructureKind.RE_AGE)])
    replay = ServicingEngine(CTX).replay(
        booked, [_event(late, kind=RestructureKind.RE_AGE, extend_by=6)]
    )
    new = replay.installments[12:]
    assert len(new) == 6
    assert new[0].due_date == date(2027, 4, 1)
    assert sum((i.principal for i in new), D(0)) == D("12000.00")


@given(
    paid=st.integers(min_value=0, max_value=6),
    day=st.integers(min_value=1, max_value=28),
    month=st.integers(min_value=2, max_value=10),
    kind=st.sampled_from(list(RestructureKind)),
    extend_by=st.integers(min_value=0, max_value=24),
    holiday=st.integers(min_value=1, max_value=6),
    capitalise=st.booleans(),
    extra=st.integers(min_value=0, max_value=3000),
)
def test_restructures_keep_every_amount_whole(
    paid: int,
    day: int,
    month: int,
    kind: RestructureKind,
    extend_by: int,
    holiday: int,
    capitalise: bool,
    extra: int,
) -> None:
    """Whatever is restructured when: the principal parts still sum to the principal plus
    anything capitalised, nothing is negative, and every payment is its allocation plus
    credit (a later payment included)."""
    booked = _booked()
    on = date(2026, month, day)
    fields: dict[str, object] = {"kind": kind}
    if kind is RestructureKind.PAYMENT_HOLIDAY:
        fields |= {"holiday_periods": holiday, "capitalise_interest": capitalise}
    else:
        fields["extend_by"] = extend_by if kind is RestructureKind.RE_AGE else extend_by + 1
    later = PaymentEvent("LATER", date(2026, 12, 1), D(extra).scaleb(-1) + D("0.10"), 999)
    events = [
        *_paid(booked, paid),
        RestructureEvent("R1", on, 100, RestructureTerms(**fields)),
        later,
    ]  # type: ignore[arg-type]
    try:
        replay = ServicingEngine(CTX).replay(booked, events)
    except InvalidRestructureError:
        return  # e.g. nothing in arrears to re-age: refused, as the service would
    principal = sum((i.principal for i in replay.installments), D(0))
    assert principal == D("12000.00") + replay.capitalised
    for installment in replay.installments:
        for component in Component:
            assert installment.owed(component) >= 0
            assert getattr(installment, component.value) >= 0
    for event in events:
        if isinstance(event, PaymentEvent):
            result = replay.payments[event.id]
            assert result.allocated + result.credit == event.amount
