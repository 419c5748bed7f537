"""Canonical example payloads, shared by tests of both services and the AsyncAPI document."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lending_schemas.v1 import (
    FeeV1,
    LoanBookedV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
    ScheduleSummaryV1,
)

__all__ = ["example_loan_booked_v1", "example_loan_disbursed_v1"]


def example_loan_disbursed_v1(**overrides: Any) -> LoanDisbursedV1:
    """A valid 12-month annuity loan; ``overrides`` replace top-level fields."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "application_id": "APP-2024-004567",
        "party_ref": "pty_01HXAMPLE7Q3",
        "product_code": "PERSONAL-12M",
        "currency": "EUR",
        "principal": Decimal("10000.00"),
        "net_disbursed": Decimal("9800.00"),
        "disbursement_date": date(2024, 5, 1),
        "annual_rate": Decimal("0.1200"),
        "day_count": "30/360",
        "interest_basis": "equal_periods",
        "amortization": "annuity",
        "frequency": "monthly",
        "term": 12,
        "first_due_date": date(2024, 6, 1),
        "grace_principal_periods": 0,
        "grace_interest_periods": 0,
        "rounding_mode": "half_even",
        "fees": [FeeV1(code="ORIGINATION", amount=Decimal("200.00"), treatment="deducted")],
        "penalty": PenaltyTermsV1(
            late_fee_flat=Decimal("15.00"),
            penalty_rate_annual=Decimal("0.0500"),
            grace_days=5,
        ),
        "promised": PromisedTermsV1(
            installment_amount=Decimal("888.49"),
            total_repayable=Decimal("10661.86"),
            total_interest=Decimal("661.86"),
            apr=Decimal("0.1652"),
        ),
        "disbursed_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return LoanDisbursedV1(**fields)


def example_loan_booked_v1(**overrides: Any) -> LoanBookedV1:
    """The LMS answer to :func:`example_loan_disbursed_v1` when the schedule matches."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "application_id": "APP-2024-004567",
        "booked_at": datetime(2024, 5, 1, 9, 30, 2, tzinfo=UTC),
        "schedule": ScheduleSummaryV1(
            installment_amount=Decimal("888.49"),
            total_repayable=Decimal("10661.86"),
            total_interest=Decimal("661.86"),
            installments=12,
            first_due_date=date(2024, 6, 1),
            last_due_date=date(2025, 5, 1),
        ),
        "matches_offer": True,
        "mismatches": [],
    }
    fields.update(overrides)
    return LoanBookedV1(**fields)
