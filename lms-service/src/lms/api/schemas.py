"""Response models: money as decimal strings, dates ISO 8601, snake_case."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

Money = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutstandingOut(_Out):
    """What is owed now per component (interest counts once its installment is due)."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money


class NextDueOut(_Out):
    """The next installment not fully paid."""

    date: date
    amount: Money


class LoanOut(_Out):
    """A booked loan as of today."""

    id: str
    status: str
    application_id: str
    product_code: str
    principal: Money
    currency: str
    annual_rate: Money
    term: int
    disbursement_date: date
    booked_at: datetime
    schedule_version: int
    outstanding: OutstandingOut
    next_due: NextDueOut | None
    days_past_due: int
    delinquency_bucket: str
    schedule_matches_offer: bool
    mismatches: list[str]


class LoanPage(_Out):
    """One page of loans."""

    items: list[LoanOut]
    total: int
    limit: int
    offset: int


class InstallmentOut(_Out):
    """One installment with what has been paid and its status today."""

    number: int
    due_date: date
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money
    paid: Money
    status: str


class ScheduleTotalsOut(_Out):
    """Sums over the schedule."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money
    paid: Money


class ScheduleOut(_Out):
    """The loan's current schedule version."""

    loan_id: str
    currency: str
    schedule_version: int
    installments: list[InstallmentOut]
    totals: ScheduleTotalsOut


class RepaymentIn(BaseModel):
    """A repayment as the bank or the agent reports it; amount as a string or number."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal
    currency: str
    value_date: date
    external_ref: str = Field(min_length=1, max_length=100)


class AllocationLineOut(_Out):
    """A part of a payment applied to one component of one installment."""

    installment: int
    component: str
    amount: Money


class AllocationTotalsOut(_Out):
    """A payment's allocation summed per component, and what was held as credit."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    credit: Money


class PaymentOut(_Out):
    """A payment and how it is allocated now (after any replay)."""

    id: str
    loan_id: str
    external_ref: str
    amount: Money
    currency: str
    value_date: date
    status: str
    received_at: datetime
    reversed_at: datetime | None
    allocation: list[AllocationLineOut]
    totals: AllocationTotalsOut
    closed_loan: bool
    loan_status: str


class PayoffQuoteOut(_Out):
    """What closes the loan on `date`."""

    loan_id: str
    date: date
    currency: str
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money


class ChargeIn(BaseModel):
    """A fee or penalty charged to one installment."""

    model_config = ConfigDict(extra="forbid")

    component: str = Field(description="fees or penalties")
    amount: Decimal
    currency: str
    installment_number: int
    charge_date: date
    reason: str = Field(min_length=1, max_length=200)


class ChargeOut(_Out):
    """A recorded charge."""

    id: str
    loan_id: str
    component: str
    amount: Money
    currency: str
    installment_number: int
    charge_date: date
    reason: str


class PostingOut(_Out):
    """One side of a journal entry."""

    account: str
    side: str
    amount: Money
    loan_id: str | None = Field(
        default=None,
        description=(
            "The loan the posting belongs to: the entry's, or another loan's when the entry "
            "spans two (a renewal's disbursement settling the old loan)."
        ),
    )


class MovementOut(_Out):
    """One journal entry of a loan, with the payment (and its allocation) it belongs to."""

    entry_id: int
    entry_type: str
    effective_date: date
    created_at: datetime
    currency: str
    reference: str | None
    postings: list[PostingOut]
    payment: PaymentOut | None


class MovementPage(_Out):
    """One page of a loan's money movements, oldest first."""

    loan_id: str
    items: list[MovementOut]
    total: int
    limit: int
    offset: int


class TrialBalanceLineOut(_Out):
    """One account in one currency; balance is debits minus credits."""

    account: str
    currency: str
    debits: Money
    credits: Money
    balance: Money


class TrialBalanceTotalOut(_Out):
    """The sums of one currency; `balance` is zero when the books balance."""

    currency: str
    debits: Money
    credits: Money
    balance: Money


class TrialBalanceOut(_Out):
    """The trial balance over every posting."""

    accounts: list[TrialBalanceLineOut]
    totals: list[TrialBalanceTotalOut]
    balanced: bool


class DifferenceOut(_Out):
    """A balance on which the ledger and the installments disagree."""

    loan_id: str
    balance: str
    ledger: Money
    installments: Money


class ReconciliationOut(_Out):
    """The ledger against the installments, loan by loan."""

    loans_checked: int
    ok: bool
    differences: list[DifferenceOut]


Ratio = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{4}$"}),
]


class PortfolioLineOut(_Out):
    """Loans of one product in one delinquency bucket."""

    product_code: str
    bucket: str
    loans: int
    outstanding: OutstandingOut


class CurrencyPortfolioOut(_Out):
    """The portfolio in one currency.

    par30/par60/par90: outstanding principal of loans more than 30/60/90 days past due over
    all outstanding principal; npa_ratio: the non-performing share; collections_efficiency:
    paid_of_due over due_in_period. Ratios have four decimals; null when nothing is
    outstanding (or nothing fell due).
    """

    currency: str
    loans: int
    outstanding: OutstandingOut
    par30: Ratio | None
    par60: Ratio | None
    par90: Ratio | None
    npa_ratio: Ratio | None
    disbursed: Money
    collected: Money
    due_in_period: Money
    paid_of_due: Money
    collections_efficiency: Ratio | None
    lines: list[PortfolioLineOut]


class PortfolioOut(_Out):
    """The portfolio as of a date, with the flows of a period."""

    as_of: date
    period_from: date
    period_to: date
    recorded_by: datetime | None
    currencies: list[CurrencyPortfolioOut]


class WriteOffIn(BaseModel):
    """Why the loan should be written off (the approver reads it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class RestructureIn(BaseModel):
    """A restructure request; which fields apply depends on `kind` (see the guide)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["reschedule", "payment_holiday", "re_age"]
    reason: str = Field(min_length=1, max_length=500)
    extend_by: int = Field(default=0, ge=0, le=120, description="Installments added.")
    annual_rate: Decimal | None = Field(
        default=None, ge=0, lt=1, description="New nominal annual rate (0.12 = 12%)."
    )
    installment_amount: Decimal | None = Field(
        default=None, gt=0, description="New regular installment; the term follows from it."
    )
    holiday_periods: int = Field(default=0, ge=0, le=12, description="Due dates skipped.")
    capitalise_interest: bool = Field(
        default=False,
        description="Holiday interest added to principal (else spread, no interest on it).",
    )


class DecisionIn(BaseModel):
    """The checker's comment on an approval or rejection."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=500)


class ServicingRequestOut(_Out):
    """A maker-checker request; `outcome` holds what an approved write-off took off the books."""

    id: str
    loan_id: str
    kind: str
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    outcome: dict[str, str] | None


class RecoveryOut(_Out):
    """Money received on a written-off loan."""

    id: str
    loan_id: str
    external_ref: str
    amount: Money
    currency: str
    value_date: date
    received_at: datetime


class LoanClosedOut(_Out):
    """A loan closed for good."""

    loan_id: str
    status: str
    closed_on: date
