"""The pure servicing engine: waterfall, replay order, payoff, and the ledger it implies."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lms.domain.allocation import (
    DEFAULT_ORDER,
    Component,
    InstallmentState,
    allocate,
    allocation_order,
    totals_by_component,
)
from lms.domain.errors import InvalidAllocationOrderError
from lms.domain.ledger import (
    Account,
    Side,
    disbursement_lines,
    payment_lines,
    payment_split,
    reallocation_lines,
)
from lms.domain.servicing import (
    ChargeEvent,
    LoanContext,
    LoanState,
    OverpaymentPolicy,
    PaymentEvent,
    ServicingEngine,
    payoff_quote,
)
from lms.products import parse_rules, rules_for
from loanmath import DayCount, RoundingMode

D = Decimal
CTX = LoanContext(
    currency="USD",
    disbursement_date=date(2024, 5, 1),
    annual_rate=D("0.12"),
    day_count=DayCount.THIRTY_360,
    rounding_mode=RoundingMode.HALF_EVEN,
)


def schedule(reference):
    """The independent 12-month table of tests/conftest.py as engine installments."""
    rows = reference(D("10000.00"), D("0.12"), 12)
    return [
        InstallmentState(
            number=k + 1,
            due_date=date(2024 + (5 + k) // 12, (5 + k) % 12 + 1, 1),
            principal=row["principal"],
            interest=row["interest"],
            fees=D("0.00"),
        )
        for k, row in enumerate(rows)
    ]


cents = st.integers(min_value=1, max_value=1_200_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def installments(draw):
    n = draw(st.integers(1, 6))
    out = []
    for k in range(n):
        out.append(
            InstallmentState(
                number=k + 1,
                due_date=date(2024, 6, 1) + timedelta(days=30 * k),
                principal=draw(cents),
                interest=draw(cents),
                fees=draw(st.sampled_from([D("0.00"), D("5.00")])),
                penalties=draw(st.sampled_from([D("0.00"), D("15.00")])),
            )
        )
    return out


@given(installments(), cents, st.permutations(list(DEFAULT_ORDER)))
def test_a_payment_equals_its_allocations_plus_what_is_left(rows, amount, order):
    owed_before = sum((r.remaining for r in rows), D(0))
    lines, left = allocate(amount, rows, order)
    assert sum((line.amount for line in lines), D(0)) + left == amount
    assert all(line.amount > 0 for line in lines)
    # Nothing beyond what is owed: every component still owes >= 0.
    assert all(r.owed(c) >= 0 for r in rows for c in DEFAULT_ORDER)
    assert left == max(amount - owed_before, D(0))


def test_waterfall_order_within_and_across_installments():
    rows = [
        InstallmentState(1, date(2024, 6, 1), D("80"), D("10"), D("5"), D("15")),
        InstallmentState(2, date(2024, 7, 1), D("80"), D("10"), D("0")),
    ]
    lines, left = allocate(D("40"), rows, DEFAULT_ORDER, due_by=date(2024, 6, 1))
    assert [(x.installment, x.component, x.amount) for x in lines] == [
        (1, Component.PENALTIES, D("15")),
        (1, Component.FEES, D("5")),
        (1, Component.INTEREST, D("10")),
        (1, Component.PRINCIPAL, D("10")),
    ]
    assert left == 0
    assert totals_by_component(lines)[Component.PRINCIPAL] == D("10")


def test_allocation_order_validation():
    assert (
        allocation_order(["principal", "interest", "fees", "penalties"])[0] is Component.PRINCIPAL
    )
    for bad in (["principal"], ["principal", "principal", "fees", "interest"], ["x"]):
        with pytest.raises(InvalidAllocationOrderError):
            allocation_order(bad)


payments = st.lists(
    st.tuples(st.integers(0, 420), st.integers(1, 150_000).map(lambda c: D(c).scaleb(-2))),
    min_size=1,
    max_size=6,
    unique_by=lambda p: p[0],
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payments, st.randoms(use_true_random=False))
def test_backdated_replay_equals_in_order_processing(reference, items, rnd):
    booked = schedule(reference)
    engine = ServicingEngine(CTX)
    start = date(2024, 5, 2)
    in_order = sorted(items)
    arrival = list(items)
    rnd.shuffle(arrival)

    def events(seq_items):
        return [
            PaymentEvent(f"P{day}", start + timedelta(days=day), amount, seq)
            for seq, (day, amount) in enumerate(seq_items)
        ]

    a = engine.replay(booked, events(in_order))
    # Arriving in another order, each arrival replays everything recorded so far.
    recorded = []
    for seq, (day, amount) in enumerate(arrival):
        recorded.append(PaymentEvent(f"P{day}", start + timedelta(days=day), amount, seq))
        b = engine.replay(booked, recorded)
    assert [vars(i) for i in a.installments] == [vars(i) for i in b.installments]
    assert a.payments == b.payments
    assert a.credit_balance == b.credit_balance
    assert a.state == b.state
    # Balances never negative; each payment equals its allocation plus its credit.
    assert all(i.owed(c) >= 0 for i in b.installments for c in DEFAULT_ORDER)
    assert b.credit_balance >= 0
    amounts = dict(items)
    for p in b.payments.values():
        assert p.allocated + p.credit == amounts[int(p.payment_id[1:])]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payments)
def test_every_entry_balances_and_the_trial_balance_is_zero(reference, items):
    """Post the disbursement, each payment as first applied, then the reallocation the
    final replay implies: every entry balances, the accounts sum to zero and the principal
    receivable equals the principal still owed."""
    booked = schedule(reference)
    engine = ServicingEngine(CTX)
    ledger: dict[Account, Decimal] = {}

    def post(lines):
        for p in lines.postings:
            sign = 1 if p.side is Side.DEBIT else -1
            ledger[p.account] = ledger.get(p.account, D(0)) + sign * p.amount

    post(disbursement_lines("USD", D("10000.00"), D("9800.00"), [D("200.00")]))
    recorded: list[PaymentEvent] = []
    splits: dict[str, dict[Account, Decimal]] = {}
    final = None
    for seq, (day, amount) in enumerate(reversed(items)):
        event = PaymentEvent(f"P{seq}", date(2024, 5, 2) + timedelta(days=day), amount, seq)
        recorded.append(event)
        final = engine.replay(booked, recorded)
        for pid, applied in final.payments.items():
            split = payment_split(
                {c.value: v for c, v in totals_by_component(applied.lines).items()}, applied.credit
            )
            if pid == event.id:
                lines = payment_lines("USD", amount, split)
                assert lines.debits == lines.credits
                post(lines)
            else:
                moved = reallocation_lines("USD", splits[pid], split)
                if moved is not None:
                    assert moved.debits == moved.credits
                    post(moved)
            splits[pid] = split
    assert final is not None
    assert sum(ledger.values(), D(0)) == 0
    owed = sum((i.owed(Component.PRINCIPAL) for i in final.installments), D(0))
    assert ledger[Account.LOANS_RECEIVABLE_PRINCIPAL] == owed
    assert -ledger.get(Account.OVERPAYMENT_LIABILITY, D(0)) == final.credit_balance


def test_payoff_quote_golden_and_payoff(reference):
    booked = schedule(reference)
    # 10000 * 0.12 * 15/360 = 50.00 accrued in the second period (30/360, 06-01 to 06-16),
    # plus the 100.00 of interest due on 06-01.
    quote = payoff_quote(CTX, booked, date(2024, 6, 16))
    assert (quote.principal, quote.interest, quote.total) == (
        D("10000.00"),
        D("150.00"),
        D("10150.00"),
    )
    result = ServicingEngine(CTX).replay(
        booked, [PaymentEvent("P", date(2024, 6, 16), D("10150.00"), 1)]
    )
    assert result.state is LoanState.PAID_OFF
    assert result.credit_balance == 0
    assert sum(i.interest for i in result.installments) == D("150.00")
    late = ServicingEngine(CTX).replay(
        booked,
        [
            PaymentEvent("P", date(2024, 6, 16), D("10150.00"), 1),
            PaymentEvent("Q", date(2024, 6, 20), D("5.00"), 2),
        ],
    )
    assert late.payments["Q"].credit == D("5.00")


def test_charge_then_payment():
    rows = [InstallmentState(1, date(2024, 6, 1), D("100"), D("10"), D("0"))]
    result = ServicingEngine(CTX).replay(
        rows,
        [
            ChargeEvent("C", date(2024, 6, 5), 1, Component.PENALTIES, D("15"), 1),
            PaymentEvent("P", date(2024, 6, 6), D("20"), 2),
        ],
    )
    assert [(x.component, x.amount) for x in result.payments["P"].lines] == [
        (Component.PENALTIES, D("15")),
        (Component.INTEREST, D("5")),
    ]


def test_reduce_policies_fall_back_to_hold_credit_without_regeneration():
    ctx = LoanContext(
        CTX.currency,
        CTX.disbursement_date,
        CTX.annual_rate,
        CTX.day_count,
        CTX.rounding_mode,
        CTX.order,
        OverpaymentPolicy.REDUCE_TERM,
    )
    assert ServicingEngine(ctx).effective_policy is OverpaymentPolicy.HOLD_CREDIT


def test_servicing_config():
    assert rules_for("NO-SUCH-PRODUCT").overpayment is OverpaymentPolicy.HOLD_CREDIT
    assert rules_for("PERSONAL-36M").overpayment is OverpaymentPolicy.REDUCE_TERM
    with pytest.raises(ValueError, match="default"):
        parse_rules({"X": {"overpayment": "hold_credit"}})
    with pytest.raises(ValueError, match="unknown overpayment"):
        parse_rules({"default": {"overpayment": "refund"}})
