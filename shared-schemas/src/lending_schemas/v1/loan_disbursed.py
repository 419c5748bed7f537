"""``LoanDisbursed`` v1: the LOS tells the LMS what was disbursed and what was promised."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

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
    "DEFAULT_ALLOCATION_ORDER",
    "AllocationBucket",
    "AmortizationMethod",
    "DayCount",
    "FeeTreatment",
    "FeeV1",
    "InterestBasis",
    "LoanDisbursedV1",
    "PaymentFrequency",
    "PenaltyTermsV1",
    "PromisedTermsV1",
    "RoundingMode",
]

DayCount = Literal["30/360", "ACT/360", "ACT/365F", "30E/360", "ACT/ACT ISDA"]
InterestBasis = Literal["equal_periods", "day_count"]
AmortizationMethod = Literal["annuity", "equal_principal", "interest_only", "bullet", "flat"]
PaymentFrequency = Literal[
    "monthly",
    "weekly",
    "biweekly",
    "quarterly",
    "semi_annual",
    "annual",
    "daily",
    "whole_term",
]
RoundingMode = Literal["half_even", "half_up", "half_down", "down", "up", "ceiling", "floor"]
FeeTreatment = Literal["deducted", "financed", "upfront"]
AllocationBucket = Literal["penalties", "fees", "interest", "principal"]

DEFAULT_ALLOCATION_ORDER: tuple[AllocationBucket, ...] = (
    "penalties",
    "fees",
    "interest",
    "principal",
)


class FeeV1(ContractModel):
    """One origination fee and how it is paid, so the LMS books it the same way."""

    code: NonEmptyStr
    amount: PositiveDecimalString
    treatment: FeeTreatment


class PenaltyTermsV1(ContractModel):
    """Late-payment terms agreed at origination, applied by the LMS during servicing."""

    late_fee_flat: NonNegativeDecimalString
    penalty_rate_annual: NonNegativeDecimalString
    grace_days: StrictCount


class PromisedTermsV1(ContractModel):
    """Figures shown to the borrower, so the LMS can prove its schedule matches the offer."""

    installment_amount: PositiveDecimalString
    total_repayable: PositiveDecimalString
    total_interest: NonNegativeDecimalString
    apr: NonNegativeDecimalString | None = None


class LoanDisbursedV1(EventModel):
    """Published by the LOS once funds leave, so the LMS can book the loan."""

    event_type: ClassVar[str] = "LoanDisbursed"
    version: ClassVar[str] = "1.2"

    loan_id: NonEmptyStr
    application_id: NonEmptyStr
    party_ref: NonEmptyStr = Field(
        description="Opaque borrower reference; personal data never travels in events."
    )
    product_code: NonEmptyStr
    currency: CurrencyCode
    principal: PositiveDecimalString
    net_disbursed: PositiveDecimalString = Field(
        description="Principal minus deducted fees: the amount actually paid out."
    )
    disbursement_date: IsoDate
    annual_rate: NonNegativeDecimalString = Field(
        description="Nominal annual rate as a fraction, e.g. '0.1200' for 12%."
    )
    day_count: DayCount
    interest_basis: InterestBasis
    amortization: AmortizationMethod
    frequency: PaymentFrequency
    term: Annotated[int, Field(strict=True, ge=1, description="Number of instalments.")]
    first_due_date: IsoDate
    grace_principal_periods: StrictCount = 0
    grace_interest_periods: StrictCount = 0
    rounding_mode: RoundingMode
    fees: list[FeeV1]
    allocation_order: list[AllocationBucket] = Field(
        default=list(DEFAULT_ALLOCATION_ORDER),
        description="Order in which repayments settle buckets; a permutation of all four.",
    )
    penalty: PenaltyTermsV1
    promised: PromisedTermsV1
    disbursed_at: UtcDatetime
    # Added in 1.1 (optional): what the offer was priced on, so servicing can trace it back.
    product_version: Annotated[int, Field(strict=True, ge=1)] | None = Field(
        default=None, description="Catalog version of the product the offer was priced on."
    )
    risk_grade: NonEmptyStr | None = Field(
        default=None, description="Risk grade the rate was taken from (A best)."
    )
    decision_rule_set: NonEmptyStr | None = Field(
        default=None, description="Version of the decision rule set that approved the loan."
    )
    aprc: NonNegativeDecimalString | None = Field(
        default=None, description="EU APRC (annual effective, ACT/365) as a fraction."
    )
    # Added in 1.2 (optional): a renewal or top-up pays an existing loan off first.
    settles_loan_id: NonEmptyStr | None = Field(
        default=None,
        description=(
            "An existing loan (booked by the LMS) this disbursement pays off first: a renewal "
            "or top-up. The LMS settles it for its payoff amount on the disbursement date, "
            "out of net_disbursed, in the same transaction as the booking; the borrower "
            "receives the rest."
        ),
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> LoanDisbursedV1:
        """Reject internally inconsistent loans before the LMS books them."""
        if self.net_disbursed > self.principal:
            raise ValueError("net_disbursed must not exceed principal")
        if self.settles_loan_id is not None and self.settles_loan_id == self.loan_id:
            raise ValueError("settles_loan_id must name another loan than loan_id")
        if self.first_due_date <= self.disbursement_date:
            raise ValueError("first_due_date must be after disbursement_date")
        if self.grace_principal_periods >= self.term:
            raise ValueError("grace_principal_periods must be smaller than term")
        if self.grace_interest_periods >= self.term:
            raise ValueError("grace_interest_periods must be smaller than term")
        if sorted(self.allocation_order) != sorted(DEFAULT_ALLOCATION_ORDER):
            raise ValueError(
                "allocation_order must list penalties, fees, interest and principal exactly once"
            )
        return self
