"""Request and response models of the LOS API: snake_case, money as decimal strings."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from los.domain.applicants import COUNTRY_CODES, EmploymentStatus

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]
"""A decimal rendered as a plain string, never a float or exponent."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_Amount = Annotated[Decimal, Field(allow_inf_nan=False, max_digits=20)]
PositiveAmount = Annotated[_Amount, Field(gt=0)]
NonNegativeAmount = Annotated[_Amount, Field(ge=0)]
LoanId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
    ),
]
"""A loan id as the LOS issues them (letters, digits, '.', '_', ':', '-'; up to 64)."""


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AddressIn(_In):
    """A postal address; `country` is ISO 3166-1 alpha-2."""

    line1: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    city: Text
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
    ]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        if value not in COUNTRY_CODES:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value


class ApplicantIn(_In):
    """Onboarding a borrower."""

    first_name: Text
    last_name: Text
    date_of_birth: date
    national_id: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./-]{3,31}$")
    ]
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
    phone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")] = Field(
        description="E.164: '+', country code and number, 7 to 15 digits."
    )
    address: AddressIn
    employment_status: EmploymentStatus
    monthly_income: NonNegativeAmount

    @field_validator("email")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError("not a valid email address")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"


class AddressOut(BaseModel):
    """A postal address."""

    line1: str
    line2: str | None = None
    city: str
    postal_code: str
    country: str


class ApplicantOut(BaseModel):
    """A borrower; identifiers masked unless the caller may see them."""

    id: str
    party_ref: str
    first_name: str
    last_name: str
    date_of_birth: str
    national_id: str
    email: str
    phone: str
    address: AddressOut
    employment_status: EmploymentStatus
    monthly_income: Money
    created_at: datetime
    pii_masked: bool
    possible_duplicate_of: list[str] = Field(
        default_factory=list,
        description="Applicants with a near-identical name and the same date of birth.",
    )


class ApplicationIn(_In):
    """Taking in a loan application."""

    applicant_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    product_code: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    requested_amount: PositiveAmount
    currency: Annotated[str, StringConstraints(min_length=1, max_length=8)]
    term: Annotated[int, Field(gt=0, le=1200, description="Number of installments.")]
    purpose: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    monthly_income: NonNegativeAmount
    monthly_obligations: NonNegativeAmount
    refinances_loan_id: LoanId | None = Field(
        default=None,
        description=(
            "A renewal or top-up: the applicant's existing loan (disbursed by this LOS, same "
            "currency) that the new loan pays off first. The LMS settles it for its payoff "
            "amount on the disbursement date; the borrower receives the rest of the payout."
        ),
    )


class ReasonOut(BaseModel):
    """One reason code of a decision, with the adverse-action notice text for the borrower."""

    code: str
    description: str
    notice: str | None = None


class DecisionOut(BaseModel):
    """The automated credit decision."""

    outcome: Literal["approve", "refer", "decline"]
    score: int
    grade: str
    reasons: list[ReasonOut]
    rule_set_version: str
    decided_at: datetime
    pd: Money | None = Field(default=None, description="Probability of default (fraction).")


class RuleOut(BaseModel):
    """One policy rule as evaluated."""

    rule_id: str
    description: str
    fired: bool
    effect: str
    reason: str
    observed: str
    threshold: str


class DecisionDetailOut(DecisionOut):
    """The full explanation: every rule, the inputs, the derived figures, the fingerprint."""

    scorecard_version: str | None
    rules: list[RuleOut]
    inputs: dict[str, Any]
    figures: dict[str, Any] | None
    fingerprint: str | None


class ReplayOut(BaseModel):
    """A stored decision re-run on its stored inputs."""

    identical: bool
    stored_outcome: str
    replayed_outcome: str
    stored_fingerprint: str | None
    replayed_fingerprint: str
    reasons: list[str]


class CheckOut(BaseModel):
    """A stored KYC, screening or bureau check."""

    id: int
    kind: str
    provider: str
    status: str
    reference: str | None
    reasons: list[str]
    details: dict[str, Any]
    raw: str | None
    error: str | None
    attempts: int
    requested_at: datetime
    requested_by: str


class CheckList(BaseModel):
    """The checks of an application."""

    items: list[CheckOut]


class ReviewIn(_In):
    """A reviewer's decision on a referred application; a comment is mandatory.

    `counter_offer` approves on a lower `amount` and/or a longer `term`.
    """

    outcome: Literal["approve", "decline", "counter_offer"]
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    amount: PositiveAmount | None = None
    term: Annotated[int, Field(gt=0, le=1200)] | None = None

    @model_validator(mode="after")
    def _counter_terms(self) -> ReviewIn:
        if self.outcome == "counter_offer" and self.amount is None and self.term is None:
            raise ValueError("a counter_offer needs an amount or a term")
        if self.outcome != "counter_offer" and (self.amount is not None or self.term is not None):
            raise ValueError("amount and term belong to a counter_offer only")
        return self


class AssignIn(_In):
    """Put a referred application in a reviewer's queue; null returns it to the pool."""

    assignee: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None


class WithdrawIn(_In):
    """Why the applicant withdraws (optional)."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class DocumentOut(BaseModel):
    """An uploaded document's metadata."""

    id: str
    application_id: str
    doc_type: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    status: str
    uploaded_by: str
    uploaded_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None


class DocumentList(BaseModel):
    """An application's documents and what the gate still misses."""

    items: list[DocumentOut]
    required: list[str]
    missing: list[str]


class DocumentVerifyIn(_In):
    """A reviewer's verdict on a document; a comment is mandatory."""

    outcome: Literal["verified", "rejected"] = "verified"
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class AuditRecordOut(BaseModel):
    """One audit record."""

    seq: int
    actor: str
    action: str
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


class AuditTrailOut(BaseModel):
    """A page of an application's audit trail and the verdict on the whole chain."""

    application_id: str
    items: list[AuditRecordOut]
    total: int
    limit: int
    offset: int
    chain_valid: bool
    first_invalid_seq: int | None
    problem: str | None


class ReviewOut(BaseModel):
    """A recorded review."""

    reviewer: str
    outcome: str
    comment: str
    reviewed_at: datetime
    stage: str | None = None
    counter_amount: Money | None = None
    counter_term: int | None = None


class FeeOut(BaseModel):
    """One fee of an offer."""

    code: str
    amount: Money
    treatment: str


class ScheduleLineOut(BaseModel):
    """One previewed installment."""

    number: int
    due_date: date
    principal: Money
    interest: Money
    total: Money


class OfferSummary(BaseModel):
    """The headline figures of an offer."""

    principal: Money
    currency: str
    annual_rate: Money
    term: int
    installment_amount: Money
    total_repayable: Money
    apr: Money = Field(description="Annual percentage rate as a fraction, e.g. '0.132417'.")
    first_due_date: date
    expires_at: datetime
    accepted_at: datetime | None = None
    aprc: Money | None = Field(
        default=None, description="EU APRC (annual effective, ACT/365) as a fraction."
    )


class OfferOut(OfferSummary):
    """The full offer: figures, fees, APR and the schedule preview."""

    grade: str
    total_interest: Money
    fees: list[FeeOut]
    amount_financed: Money = Field(description="Principal minus deducted fees; the APR's base.")
    net_disbursed: Money
    apr_percent: Money = Field(description="The APR in percent, two decimals, for display.")
    aprc_percent: Money | None = Field(
        default=None, description="The EU APRC in percent, one decimal, as the directive asks."
    )
    requested_amount: Money
    cash_to_borrower: Money = Field(description="Requested amount minus deducted fees.")
    product_code: str
    product_version: int
    offer_date: date
    last_due_date: date
    schedule: list[ScheduleLineOut]


class HandoffOut(BaseModel):
    """Where the loan is in the handoff to servicing."""

    disbursed_at: datetime | None
    booked_at: datetime | None
    schedule_matches_offer: bool | None
    mismatches: list[str]


class ApplicationOut(BaseModel):
    """An application with its decision, offer and handoff state."""

    id: str
    applicant_id: str
    product_code: str
    product_version: int
    requested_amount: Money
    currency: str
    term: int
    purpose: str
    monthly_income: Money
    monthly_obligations: Money
    status: str
    decision: DecisionOut | None
    reviews: list[ReviewOut]
    offer: OfferSummary | None
    loan_id: str | None
    handoff: HandoffOut
    version: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    approved_amount: Money | None = None
    approved_term: int | None = None
    assignee: str | None = None
    refinances_loan_id: str | None = Field(
        default=None, description="The existing loan this renewal or top-up pays off first."
    )
    pending_stage: str | None = Field(
        default=None, description="Approval stage a referred application waits for."
    )


class ApplicationPage(BaseModel):
    """A page of applications."""

    items: list[ApplicationOut]
    total: int
    limit: int
    offset: int


class ProductFeeOut(BaseModel):
    """A fee rule of a product."""

    code: str
    kind: Literal["percentage", "flat"]
    rate: Money
    min: Money
    max: Money
    treatment: str
    amount: Money | None = None


class DocumentRequirementOut(BaseModel):
    """A document a product requires, always or above an amount."""

    type: str
    above_amount: Money | None


class ProductPolicyOut(BaseModel):
    """The product's credit-policy limits."""

    min_age: int
    max_age_at_maturity: int
    eligible_employment: list[str]
    max_exposure: Money | None
    min_residual_income: Money
    min_bureau_score: int
    max_dti_approve: Money
    max_dti_refer: Money


class ProductOut(BaseModel):
    """A product of the catalog."""

    code: str
    name: str
    version: int
    currency: str
    min_amount: Money
    max_amount: Money
    min_term: int
    max_term: int
    frequency: str
    method: str
    day_count: str
    interest_basis: str
    rounding_mode: str
    fees: list[ProductFeeOut]
    min_rate: Money
    max_rate: Money
    rates: dict[str, Money]
    kind: str
    description: str
    required_documents: list[DocumentRequirementOut]
    policy: ProductPolicyOut
    second_approval_above: Money | None
    allocation_order: list[str]


class ProductList(BaseModel):
    """The catalog."""

    catalog_version: str
    items: list[ProductOut]


class HandoffItemOut(BaseModel):
    """A loan needing attention."""

    application_id: str
    loan_id: str | None
    status: str
    disbursed_at: datetime | None
    booked_at: datetime | None
    age_s: int | None
    mismatches: list[str]


class ReconciliationOut(BaseModel):
    """Disbursed-but-not-booked and mismatched loans."""

    as_of: datetime
    older_than_s: int
    unbooked_count: int
    mismatched_count: int
    unbooked: list[HandoffItemOut]
    mismatched: list[HandoffItemOut]
