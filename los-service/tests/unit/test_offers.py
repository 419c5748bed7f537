"""Offers: schedule, fees, APR, dates and expiry; and the handoff event built from them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending_schemas import LoanBookedV1, ScheduleSummaryV1, make_event
from loanmath import Frequency
from los.domain.errors import OfferStaleError
from los.domain.handoff import (
    Disbursement,
    booking_mismatches,
    compare_booking,
    loan_disbursed_event,
)
from los.domain.offers import build_offer, first_due_date_for
from los.domain.products import GRADES
from los.products import load_catalog

PRODUCT = load_catalog().get("PL-STD")
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def _offer(principal="10000.00", grade="A", term=36, now=NOW):
    return build_offer(
        PRODUCT,
        principal=Decimal(principal),
        grade=grade,
        term=term,
        now=now,
        validity=timedelta(days=14),
    )


@pytest.mark.parametrize(
    ("offer_date", "first_due"),
    [
        (date(2025, 3, 10), date(2025, 4, 10)),
        (date(2025, 1, 31), date(2025, 2, 28)),  # a 31st stays at the month's end
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2025, 3, 31), date(2025, 4, 30)),
        (date(2025, 12, 15), date(2026, 1, 15)),
    ],
)
def test_first_due_date(offer_date, first_due):
    assert first_due_date_for(offer_date, Frequency.MONTHLY) == first_due


def test_month_end_offer_keeps_month_ends():
    offer = _offer(now=datetime(2025, 1, 31, 12, tzinfo=UTC))
    assert [s.due_date for s in offer.schedule[:3]] == [
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_offer_figures():
    offer = _offer()
    # numpy-financial pmt(0.0899/12, 36, 10000) = 317.9507..., to cents 317.95.
    assert offer.installment_amount == Decimal(str(round(-npf.pmt(0.0899 / 12, 36, 10000), 2)))
    assert offer.total_repayable == sum(s.total for s in offer.schedule)
    assert offer.total_interest == offer.total_repayable - offer.principal
    assert offer.fees[0].amount == Decimal("200.00")
    assert offer.net_disbursed == Decimal("9800.00")
    assert offer.expires_at == NOW + timedelta(days=14)
    assert not offer.is_expired(NOW + timedelta(days=14) - timedelta(microseconds=1))
    assert offer.is_expired(NOW + timedelta(days=14))
    # The deducted fee makes the APR exceed the nominal rate.
    assert offer.apr > offer.annual_rate
    periodic = npf.rate(36, float(offer.installment_amount), -9800.0, 0.0)
    assert abs(offer.apr - Decimal(str(periodic * 12))) < Decimal("0.0001")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=100_000, max_value=5_000_000).map(lambda c: Decimal(c) / 100),
    st.integers(min_value=6, max_value=60),
    st.sampled_from(GRADES),
)
def test_schedule_invariants(principal, term, grade):
    offer = _offer(principal=str(principal), grade=grade, term=term)
    assert sum(s.principal for s in offer.schedule) == principal
    assert sum(s.total for s in offer.schedule) == offer.total_repayable
    assert len(offer.schedule) == term
    assert all(s.total == offer.installment_amount for s in offer.schedule[:-1])
    assert abs(offer.schedule[-1].total - offer.installment_amount) < Decimal("1.00")
    assert offer.first_due_date == offer.schedule[0].due_date
    assert Decimal("25.00") <= offer.fees[0].amount <= Decimal("500.00")


def _disbursement(day=date(2025, 3, 12)):
    return Disbursement(
        loan_id="loan-1",
        application_id="app-1",
        party_ref="PTY-ABC",
        disbursement_date=day,
        disbursed_at=datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
    )


def test_loan_disbursed_event_carries_the_offer():
    offer = _offer()
    event = loan_disbursed_event(PRODUCT, offer, _disbursement())
    make_event(event, source="/los", subject="loan-1", sequence=1)  # passes the contract
    assert event.promised.installment_amount == offer.installment_amount
    assert event.promised.apr == offer.apr
    assert event.first_due_date == offer.first_due_date
    assert event.net_disbursed == Decimal("9800.00")
    assert event.penalty.late_fee_flat == Decimal("15.00")
    assert event.allocation_order == ["penalties", "fees", "interest", "principal"]
    assert event.day_count == "30/360"


def test_disbursing_on_the_first_due_date_is_stale():
    offer = _offer()
    with pytest.raises(OfferStaleError):
        loan_disbursed_event(PRODUCT, offer, _disbursement(offer.first_due_date))


def _booked(offer, **overrides):
    schedule = {
        "installment_amount": offer.installment_amount,
        "total_repayable": offer.total_repayable,
        "total_interest": offer.total_interest,
        "installments": offer.term,
        "first_due_date": offer.first_due_date,
        "last_due_date": offer.last_due_date,
    }
    schedule.update(overrides)
    return LoanBookedV1(
        loan_id="loan-1",
        application_id="app-1",
        booked_at=NOW,
        schedule=ScheduleSummaryV1(**schedule),
        matches_offer=True,
    )


def test_compare_booking():
    offer = _offer()
    assert compare_booking(offer, _booked(offer)) == []
    assert booking_mismatches(offer, _booked(offer)) == (True, [])
    off = _booked(
        offer,
        total_repayable=offer.total_repayable + 1,
        installments=offer.term + 1,
        first_due_date=offer.first_due_date + timedelta(days=1),
    )
    assert compare_booking(offer, off) == ["total_repayable", "installments", "first_due_date"]
    lms_says_no = _booked(offer).model_copy(update={"matches_offer": False, "mismatches": ["apr"]})
    assert booking_mismatches(offer, lms_says_no) == (False, ["apr"])


def test_an_offer_from_another_product_version_is_stale():
    from dataclasses import replace

    offer = _offer()
    with pytest.raises(OfferStaleError, match="v2"):
        loan_disbursed_event(replace(PRODUCT, version=2), offer, _disbursement())
