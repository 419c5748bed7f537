"""Renewals and top-ups: the LOS-side checks on the loan to pay off, and the event field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from lending_schemas import make_event
from los.domain.errors import (
    InvalidRefinanceError,
    LoanAlreadyRefinancedError,
    RefinancedLoanNotFoundError,
)
from los.domain.handoff import Disbursement, loan_disbursed_event
from los.domain.offers import build_offer
from los.domain.refinance import RefinancedLoan, check_refinance
from los.products import load_catalog

PRODUCT = load_catalog().get("PL-STD")
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
OLD = RefinancedLoan(
    loan_id="LN-OLD", application_id="APP-OLD", applicant_id="A-1", currency="USD", status="booked"
)


def _check(existing=OLD, *, applicant_id="A-1", currency="USD", refinanced_by=()):
    check_refinance(
        "LN-OLD",
        existing,
        applicant_id=applicant_id,
        currency=currency,
        refinanced_by=refinanced_by,
    )


def _with(**changes):
    return dataclasses.replace(OLD, **changes)


@pytest.mark.parametrize("status", ["disbursed", "booked"])
def test_the_borrowers_own_disbursed_loan_in_the_same_currency_may_be_refinanced(status):
    _check(_with(status=status))  # no error


def test_an_unknown_loan_is_not_found():
    with pytest.raises(RefinancedLoanNotFoundError) as info:
        _check(None)
    assert info.value.code == "refinanced_loan_not_found"


@pytest.mark.parametrize(
    ("existing", "kwargs", "words"),
    [
        (_with(applicant_id="A-2"), {}, "another applicant"),
        (OLD, {"currency": "EUR"}, "same currency"),
        (_with(status="accepted"), {}, "was not disbursed"),
    ],
)
def test_what_the_los_can_tell_is_wrong_is_refused(existing, kwargs, words):
    with pytest.raises(InvalidRefinanceError, match=words) as info:
        _check(existing, **kwargs)
    assert info.value.code == "invalid_refinance"


def test_a_loan_already_paid_off_by_another_disbursement_is_a_conflict():
    with pytest.raises(LoanAlreadyRefinancedError, match="APP-9") as info:
        _check(refinanced_by=["APP-9"])
    assert info.value.code == "loan_already_refinanced"


def _offer():
    return build_offer(
        PRODUCT,
        principal=Decimal("10000.00"),
        grade="A",
        term=36,
        now=NOW,
        validity=timedelta(days=14),
    )


def _disbursement(**extra):
    return Disbursement(
        loan_id="LN-NEW",
        application_id="APP-NEW",
        party_ref="PTY-ABC",
        disbursement_date=date(2025, 3, 12),
        disbursed_at=datetime(2025, 3, 12, 10, tzinfo=UTC),
        **extra,
    )


def test_the_event_carries_the_loan_to_settle_and_passes_the_contract():
    event = loan_disbursed_event(PRODUCT, _offer(), _disbursement(settles_loan_id="LN-OLD"))
    assert event.settles_loan_id == "LN-OLD"
    assert event.net_disbursed == Decimal("9800.00")  # the whole payout; the LMS splits it
    envelope = make_event(event, source="/los", subject="LN-NEW", sequence=1)
    assert envelope.data["settles_loan_id"] == "LN-OLD"
    assert envelope.dataschema == "urn:lending:schema:LoanDisbursed:1.2"


def test_an_ordinary_disbursement_settles_nothing():
    event = loan_disbursed_event(PRODUCT, _offer(), _disbursement())
    assert event.settles_loan_id is None
