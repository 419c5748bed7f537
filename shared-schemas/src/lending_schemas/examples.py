"""Canonical example payloads, shared by tests of both services and the AsyncAPI document."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from lending_schemas.v1 import (
    ApplicationDecidedV1,
    ApplicationSubmittedV1,
    FeeV1,
    LoanBookedV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
    ScheduleSummaryV1,
)
from lending_schemas.v1.loan_servicing import (
    AllocationSummaryV1,
    LoanClosedV1,
    LoanDelinquencyChangedV1,
    LoanPaidOffV1,
    LoanScheduleChangedV1,
    LoanWrittenOffV1,
    OutstandingV1,
    RepaymentReceivedV1,
    RepaymentReversedV1,
)

__all__ = [
    "example_application_decided_v1",
    "example_application_submitted_v1",
    "example_loan_booked_v1",
    "example_loan_closed_v1",
    "example_loan_delinquency_changed_v1",
    "example_loan_disbursed_v1",
    "example_loan_paid_off_v1",
    "example_loan_schedule_changed_v1",
    "example_loan_written_off_v1",
    "example_repayment_received_v1",
    "example_repayment_reversed_v1",
]


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


def example_application_submitted_v1(**overrides: Any) -> ApplicationSubmittedV1:
    """A submitted personal-loan application; ``overrides`` replace top-level fields."""
    fields: dict[str, Any] = {
        "application_id": "APP-2024-004567",
        "party_ref": "pty_01HXAMPLE7Q3",
        "product_code": "PERSONAL-12M",
        "product_version": 1,
        "requested_amount": Decimal("10000.00"),
        "currency": "EUR",
        "term": 12,
        "submitted_at": datetime(2024, 4, 30, 14, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return ApplicationSubmittedV1(**fields)


def example_application_decided_v1(**overrides: Any) -> ApplicationDecidedV1:
    """An automated approval; ``overrides`` replace top-level fields."""
    fields: dict[str, Any] = {
        "application_id": "APP-2024-004567",
        "party_ref": "pty_01HXAMPLE7Q3",
        "product_code": "PERSONAL-12M",
        "outcome": "approved",
        "source": "automated",
        "score": 742,
        "grade": "B",
        "rule_set_version": "policy-2025.2",
        "reasons": [],
        "approved_amount": Decimal("10000.00"),
        "currency": "EUR",
        "annual_rate": Decimal("0.1199"),
        "decided_at": datetime(2024, 4, 30, 14, 0, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return ApplicationDecidedV1(**fields)


def example_repayment_received_v1(**overrides: Any) -> RepaymentReceivedV1:
    """The first installment of :func:`example_loan_disbursed_v1`, paid on its due date."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "payment_id": "PAY-01HXAMPLE0001",
        "external_ref": "BANK-REF-0001",
        "amount": Decimal("888.49"),
        "currency": "EUR",
        "value_date": date(2024, 6, 1),
        "received_at": datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
        "allocation": AllocationSummaryV1(
            principal=Decimal("788.49"),
            interest=Decimal("100.00"),
            fees=Decimal("0.00"),
            penalties=Decimal("0.00"),
            credit=Decimal("0.00"),
        ),
        "outstanding": OutstandingV1(
            principal=Decimal("9211.51"),
            interest=Decimal("0.00"),
            fees=Decimal("0.00"),
            penalties=Decimal("0.00"),
            total=Decimal("9211.51"),
        ),
    }
    fields.update(overrides)
    return RepaymentReceivedV1(**fields)


def example_repayment_reversed_v1(**overrides: Any) -> RepaymentReversedV1:
    """The payment of :func:`example_repayment_received_v1` reversed (e.g. bounced)."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "payment_id": "PAY-01HXAMPLE0001",
        "amount": Decimal("888.49"),
        "currency": "EUR",
        "value_date": date(2024, 6, 1),
        "reversed_at": datetime(2024, 6, 3, 8, 0, tzinfo=UTC),
        "loan_status": "active",
        "outstanding": OutstandingV1(
            principal=Decimal("10000.00"),
            interest=Decimal("100.00"),
            fees=Decimal("0.00"),
            penalties=Decimal("0.00"),
            total=Decimal("10100.00"),
        ),
    }
    fields.update(overrides)
    return RepaymentReversedV1(**fields)


def example_loan_paid_off_v1(**overrides: Any) -> LoanPaidOffV1:
    """The loan closed early by paying its payoff quote."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "paid_off_on": date(2024, 6, 16),
        "closing_payment_id": "PAY-01HXAMPLE0002",
        "currency": "EUR",
        "total_paid": Decimal("10938.73"),
        "credit_balance": Decimal("0.00"),
    }
    fields.update(overrides)
    return LoanPaidOffV1(**fields)


def example_loan_schedule_changed_v1(**overrides: Any) -> LoanScheduleChangedV1:
    """A prepayment re-amortised the rest of the schedule over fewer installments."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "schedule_version": 2,
        "previous_version": 1,
        "reason": "reduce_term",
        "effective_date": date(2024, 6, 1),
        "currency": "EUR",
        "installments": 9,
        "installment_amount": Decimal("888.49"),
        "principal_outstanding": Decimal("7211.51"),
        "last_due_date": date(2025, 2, 1),
    }
    fields.update(overrides)
    return LoanScheduleChangedV1(**fields)


def example_loan_delinquency_changed_v1(**overrides: Any) -> LoanDelinquencyChangedV1:
    """Close of business found the loan 31 days past due: it moved from 1-30 to 31-60."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "business_date": date(2024, 7, 2),
        "days_past_due": 31,
        "from_bucket": "1-30",
        "to_bucket": "31-60",
        "currency": "EUR",
        "overdue_amount": Decimal("1776.98"),
        "non_performing": False,
    }
    fields.update(overrides)
    return LoanDelinquencyChangedV1(**fields)


def example_loan_written_off_v1(**overrides: Any) -> LoanWrittenOffV1:
    """A loan 120 days past due written off after a second person approved it."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "written_off_on": date(2024, 10, 1),
        "request_id": "SRQ-01HXAMPLE0001",
        "currency": "EUR",
        "principal": Decimal("9211.51"),
        "interest": Decimal("276.35"),
        "fees": Decimal("0.00"),
        "penalties": Decimal("61.20"),
        "total": Decimal("9549.06"),
    }
    fields.update(overrides)
    return LoanWrittenOffV1(**fields)


def example_loan_closed_v1(**overrides: Any) -> LoanClosedV1:
    """A paid-off loan with nothing left either way is closed."""
    fields: dict[str, Any] = {
        "loan_id": "LN-2024-000123",
        "closed_on": date(2024, 6, 16),
        "reason": "paid_off",
        "currency": "EUR",
    }
    fields.update(overrides)
    return LoanClosedV1(**fields)
