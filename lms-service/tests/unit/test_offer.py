"""Comparing the booked schedule with what the LOS promised."""

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from lms.domain.offer import PromisedFigures, compare_with_offer, summarise
from loanmath import ScheduleTerms, build_schedule

D = Decimal


def schedule_10000_12pct():
    return build_schedule(
        ScheduleTerms(
            principal=D("10000.00"),
            currency="USD",
            annual_rate=D("0.12"),
            term=12,
            disbursement_date=date(2024, 5, 1),
            first_due_date=date(2024, 6, 1),
        )
    )


def test_summary_matches_the_independent_reference(reference):
    summary = summarise(schedule_10000_12pct())
    table = reference(D("10000.00"), D("0.12"), 12)
    assert summary.installment_amount == D("888.49") == table[0]["total"]
    assert summary.total_repayable == sum(r["total"] for r in table)
    assert summary.total_interest == sum(r["interest"] for r in table)
    assert summary.installments == 12
    assert (summary.first_due_date, summary.last_due_date) == (date(2024, 6, 1), date(2025, 5, 1))


def test_matching_promise_has_no_mismatches():
    s = summarise(schedule_10000_12pct())
    promised = PromisedFigures(s.installment_amount, s.total_repayable, s.total_interest)
    assert compare_with_offer(s, promised) == []


def test_equal_values_in_other_notation_match():
    s = summarise(schedule_10000_12pct())
    promised = PromisedFigures(
        D("888.490"), s.total_repayable.quantize(D("0.0001")), s.total_interest
    )
    assert compare_with_offer(s, promised) == []


def test_each_differing_figure_is_named():
    s = summarise(schedule_10000_12pct())
    promised = PromisedFigures(D("888.50"), s.total_repayable, s.total_interest + D("0.01"))
    assert compare_with_offer(s, promised) == ["installment_amount", "total_interest"]


@settings(max_examples=60, deadline=None)
@given(
    principal=st.decimals(min_value=100, max_value=1_000_000, places=2),
    rate=st.decimals(min_value=0, max_value=D("0.6"), places=4),
    term=st.integers(min_value=1, max_value=72),
)
def test_principal_parts_sum_exactly_to_the_principal(principal, rate, term):
    schedule = build_schedule(
        ScheduleTerms(
            principal=principal,
            currency="USD",
            annual_rate=rate,
            term=term,
            disbursement_date=date(2024, 1, 15),
            first_due_date=date(2024, 2, 15),
        )
    )
    assert sum(i.principal for i in schedule.installments) == principal
    s = summarise(schedule)
    assert (
        compare_with_offer(
            s,
            PromisedFigures(
                *(
                    getattr(s, f)
                    for f in ("installment_amount", "total_repayable", "total_interest")
                )
            ),
        )
        == []
    )


def test_booked_installment_columns_cover_every_required_column():
    # Booking writes installments as tuples in INSTALLMENT_COLUMNS order (COPY on
    # PostgreSQL): every listed column must exist, and every column the database cannot
    # fill itself (no default, not nullable, not the id) must be listed.
    from lms.adapters.orm import InstallmentRow
    from lms.adapters.repository import INSTALLMENT_COLUMNS, LEAN_INSTALLMENT_COLUMNS

    table = InstallmentRow.__table__
    names = {c.name for c in table.columns}
    required = {
        c.name
        for c in table.columns
        if not c.nullable and c.server_default is None and not c.primary_key
    }
    assert set(INSTALLMENT_COLUMNS) <= names
    assert required <= set(INSTALLMENT_COLUMNS)
    assert len(set(INSTALLMENT_COLUMNS)) == len(INSTALLMENT_COLUMNS)
    # The lean layout leaves out exactly the columns the database defaults to 0.00.
    defaulted = {c.name for c in table.columns if c.server_default is not None}
    assert set(INSTALLMENT_COLUMNS) - set(LEAN_INSTALLMENT_COLUMNS) == defaulted
    assert all(c.server_default.arg == "0.00" for c in table.columns if c.name in defaulted)
