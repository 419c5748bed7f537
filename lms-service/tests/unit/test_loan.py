"""Outstanding balances, next due, days past due and installment status as of a date."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from lms.domain.loan import (
    InstallmentBalance,
    InstallmentStatus,
    days_past_due,
    installment_status,
    next_due,
    outstanding,
)

D = Decimal


def inst(number, due, principal="100.00", interest="10.00", fees="0.00", **paid):
    return InstallmentBalance(
        number=number,
        due_date=due,
        principal=D(principal),
        interest=D(interest),
        fees=D(fees),
        **{k: D(v) for k, v in paid.items()},
    )


SCHEDULE = [
    inst(1, date(2024, 6, 1)),
    inst(2, date(2024, 7, 1), interest="9.00", fees="1.50"),
    inst(3, date(2024, 8, 1), interest="8.00"),
]


def test_before_anything_is_due_only_principal_is_outstanding():
    o = outstanding(SCHEDULE, date(2024, 5, 15))
    assert (o.principal, o.interest, o.fees, o.penalties) == (D("300.00"), 0, 0, 0)
    assert o.total == D("300.00")


def test_interest_and_fees_count_once_due_on_the_due_date_itself():
    o = outstanding(SCHEDULE, date(2024, 7, 1))
    assert o.interest == D("19.00")
    assert o.fees == D("1.50")
    assert o.total == D("320.50")


def test_paid_amounts_reduce_outstanding():
    paid = [
        inst(1, date(2024, 6, 1), paid_principal="100.00", paid_interest="10.00"),
        inst(2, date(2024, 7, 1), interest="9.00", paid_principal="40.00", paid_interest="9.00"),
    ]
    o = outstanding(paid, date(2024, 7, 15))
    assert o.principal == D("60.00")
    assert o.interest == D("0.00")


def test_next_due_is_the_first_installment_not_fully_paid_with_what_is_left():
    rows = [
        inst(1, date(2024, 6, 1), paid_principal="100.00", paid_interest="10.00"),
        inst(2, date(2024, 7, 1), interest="9.00", paid_interest="9.00"),
        inst(3, date(2024, 8, 1)),
    ]
    nd = next_due(rows)
    assert nd is not None
    assert nd.date == date(2024, 7, 1)
    assert nd.amount == D("100.00")


def test_no_next_due_when_everything_is_paid():
    rows = [inst(1, date(2024, 6, 1), paid_principal="100.00", paid_interest="10.00")]
    assert next_due(rows) is None


def test_days_past_due_counts_from_the_oldest_unpaid_installment():
    assert days_past_due(SCHEDULE, date(2024, 6, 1)) == 0
    assert days_past_due(SCHEDULE, date(2024, 6, 2)) == 1
    assert days_past_due(SCHEDULE, date(2024, 8, 15)) == (date(2024, 8, 15) - date(2024, 6, 1)).days
    first_paid = [
        inst(1, date(2024, 6, 1), paid_principal="100.00", paid_interest="10.00"),
        *SCHEDULE[1:],
    ]
    assert days_past_due(first_paid, date(2024, 7, 11)) == 10


def test_installment_status_as_of_a_date():
    row = SCHEDULE[0]
    assert installment_status(row, date(2024, 5, 31)) is InstallmentStatus.PENDING
    assert installment_status(row, date(2024, 6, 1)) is InstallmentStatus.DUE
    assert installment_status(row, date(2024, 6, 2)) is InstallmentStatus.OVERDUE
    paid = inst(1, date(2024, 6, 1), paid_principal="100.00", paid_interest="10.00")
    assert installment_status(paid, date(2030, 1, 1)) is InstallmentStatus.PAID


money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def schedules(draw):
    n = draw(st.integers(min_value=1, max_value=24))
    start = date(2024, 1, 1)
    rows = []
    for k in range(1, n + 1):
        principal = draw(money)
        interest = draw(money)
        rows.append(
            InstallmentBalance(
                number=k,
                due_date=start + timedelta(days=30 * k),
                principal=principal,
                interest=interest,
                fees=D("0.00"),
                paid_principal=draw(st.sampled_from([D(0), principal])),
                paid_interest=draw(st.sampled_from([D(0), interest])),
            )
        )
    return rows


@given(schedules(), st.integers(min_value=0, max_value=1000))
def test_outstanding_principal_is_principal_minus_paid_whatever_the_date(rows, offset):
    today = date(2024, 1, 1) + timedelta(days=offset)
    o = outstanding(rows, today)
    assert o.principal == sum(r.principal for r in rows) - sum(r.paid_principal for r in rows)
    assert o.total == o.principal + o.interest + o.fees + o.penalties
    assert o.interest >= 0


@given(schedules(), st.integers(min_value=0, max_value=1000))
def test_days_past_due_is_zero_exactly_when_nothing_unpaid_is_late(rows, offset):
    today = date(2024, 1, 1) + timedelta(days=offset)
    late = [r for r in rows if not r.is_paid and r.due_date < today]
    dpd = days_past_due(rows, today)
    assert (dpd == 0) == (not late)
    assert dpd >= 0
