"""Servicing events the LMS publishes on ``lending.loan-servicing.v1``: repayments and their
reversals, payoff, schedule changes, delinquency changes from close of business,
write-offs and closure.

Money travels as decimal strings with the loan's currency; no borrower data, only ids.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from lending_schemas.base import ContractModel, EventModel
from lending_schemas.primitives import (
    CurrencyCode,
    IsoDate,
    NonEmptyStr,
    NonNegativeDecimalString,
    PositiveDecimalString,
    StrictCount,
    UtcDatetime,
)

__all__ = [
    "AllocationSummaryV1",
    "LoanClosedV1",
    "LoanDelinquencyChangedV1",
    "LoanPaidOffV1",
    "LoanScheduleChangedV1",
    "LoanWrittenOffV1",
    "OutstandingV1",
    "RepaymentReceivedV1",
    "RepaymentReversedV1",
    "ScheduleChangeReason",
]

ScheduleChangeReason = Literal[
    "reduce_term",
    "reduce_installment",
    "payoff",
    "replay",
    "reschedule",
    "payment_holiday",
    "re_age",
]


class AllocationSummaryV1(ContractModel):
    """How a payment was split over the components owed, and what was left as credit."""

    principal: NonNegativeDecimalString
    interest: NonNegativeDecimalString
    fees: NonNegativeDecimalString
    penalties: NonNegativeDecimalString
    credit: NonNegativeDecimalString


class OutstandingV1(ContractModel):
    """What is still owed on the loan after the event, per component."""

    principal: NonNegativeDecimalString
    interest: NonNegativeDecimalString
    fees: NonNegativeDecimalString
    penalties: NonNegativeDecimalString
    total: NonNegativeDecimalString


class RepaymentReceivedV1(EventModel):
    """A repayment was posted to the loan (possibly value-dated in the past)."""

    event_type: ClassVar[str] = "RepaymentReceived"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    payment_id: NonEmptyStr
    external_ref: NonEmptyStr
    amount: PositiveDecimalString
    currency: CurrencyCode
    value_date: IsoDate
    received_at: UtcDatetime
    allocation: AllocationSummaryV1
    outstanding: OutstandingV1

    @model_validator(mode="after")
    def _check_allocation(self) -> RepaymentReceivedV1:
        """The allocation and the credit add up to the amount received."""
        a = self.allocation
        if a.principal + a.interest + a.fees + a.penalties + a.credit != self.amount:
            raise ValueError("allocation parts and credit must add up to amount")
        return self


class RepaymentReversedV1(EventModel):
    """A repayment was reversed; later payments were re-applied in value-date order."""

    event_type: ClassVar[str] = "RepaymentReversed"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    payment_id: NonEmptyStr
    amount: PositiveDecimalString
    currency: CurrencyCode
    value_date: IsoDate
    reversed_at: UtcDatetime
    loan_status: NonEmptyStr
    outstanding: OutstandingV1


class LoanPaidOffV1(EventModel):
    """Nothing is owed on the loan any more; it is closed as paid off."""

    event_type: ClassVar[str] = "LoanPaidOff"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    paid_off_on: IsoDate
    closing_payment_id: NonEmptyStr
    currency: CurrencyCode
    total_paid: PositiveDecimalString
    credit_balance: NonNegativeDecimalString


class LoanScheduleChangedV1(EventModel):
    """The loan's schedule got a new version: prepayment, payoff, replay or restructure.

    1.1 added the restructure reasons: reschedule, payment holiday and re-aging.
    """

    event_type: ClassVar[str] = "LoanScheduleChanged"
    version: ClassVar[str] = "1.1"

    loan_id: NonEmptyStr
    schedule_version: StrictCount
    previous_version: StrictCount
    reason: ScheduleChangeReason
    effective_date: IsoDate
    currency: CurrencyCode
    installments: StrictCount
    installment_amount: NonNegativeDecimalString
    principal_outstanding: NonNegativeDecimalString
    last_due_date: IsoDate | None = None


class LoanDelinquencyChangedV1(EventModel):
    """Close of business moved the loan to another delinquency bucket on a business date."""

    event_type: ClassVar[str] = "LoanDelinquencyChanged"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    business_date: IsoDate
    days_past_due: StrictCount
    from_bucket: NonEmptyStr
    to_bucket: NonEmptyStr
    currency: CurrencyCode
    overdue_amount: NonNegativeDecimalString
    non_performing: bool


class LoanWrittenOffV1(EventModel):
    """The loan was written off (approved by a second person): what it still owed is off
    the books; money received later is a recovery."""

    event_type: ClassVar[str] = "LoanWrittenOff"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    written_off_on: IsoDate
    request_id: NonEmptyStr
    currency: CurrencyCode
    principal: NonNegativeDecimalString
    interest: NonNegativeDecimalString
    fees: NonNegativeDecimalString
    penalties: NonNegativeDecimalString
    total: PositiveDecimalString


LoanClosedReason = Literal["paid_off", "written_off"]


class LoanClosedV1(EventModel):
    """Nothing is owed either way any more: the loan is closed for good."""

    event_type: ClassVar[str] = "LoanClosed"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    closed_on: IsoDate
    reason: LoanClosedReason
    currency: CurrencyCode
