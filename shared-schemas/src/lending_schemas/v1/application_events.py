"""``ApplicationSubmitted`` and ``ApplicationDecided`` v1: the LOS announces intake and decisions.

Keyed by the application id (``subject_field``), so each application's events stay in order.
Only an opaque ``party_ref`` identifies the borrower; no personal data travels.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from lending_schemas.base import ContractModel, EventModel
from lending_schemas.primitives import (
    CurrencyCode,
    NonEmptyStr,
    NonNegativeDecimalString,
    PositiveDecimalString,
    UtcDatetime,
)

__all__ = [
    "ApplicationDecidedV1",
    "ApplicationSubmittedV1",
    "DecisionOutcome",
    "DecisionReasonV1",
    "DecisionSource",
]

DecisionOutcome = Literal["approved", "referred", "declined"]
DecisionSource = Literal["automated", "manual_review"]


class DecisionReasonV1(ContractModel):
    """One reason code of a decision, from the LOS reason-code catalog."""

    code: NonEmptyStr
    description: NonEmptyStr


class ApplicationSubmittedV1(EventModel):
    """Published when an application is submitted for decision."""

    event_type: ClassVar[str] = "ApplicationSubmitted"
    version: ClassVar[str] = "1.0"
    subject_field: ClassVar[str] = "application_id"

    application_id: NonEmptyStr
    party_ref: NonEmptyStr = Field(
        description="Opaque borrower reference; personal data never travels in events."
    )
    product_code: NonEmptyStr
    product_version: Annotated[int, Field(strict=True, ge=1)]
    requested_amount: PositiveDecimalString
    currency: CurrencyCode
    term: Annotated[int, Field(strict=True, ge=1, description="Number of instalments.")]
    submitted_at: UtcDatetime


class ApplicationDecidedV1(EventModel):
    """Published on every decision: the automated one and each final manual review."""

    event_type: ClassVar[str] = "ApplicationDecided"
    version: ClassVar[str] = "1.0"
    subject_field: ClassVar[str] = "application_id"

    application_id: NonEmptyStr
    party_ref: NonEmptyStr
    product_code: NonEmptyStr
    outcome: DecisionOutcome
    source: DecisionSource
    score: Annotated[int, Field(strict=True, ge=0)] | None = None
    grade: NonEmptyStr | None = None
    rule_set_version: NonEmptyStr
    reasons: list[DecisionReasonV1] = Field(default_factory=list, max_length=4)
    approved_amount: PositiveDecimalString | None = None
    currency: CurrencyCode
    annual_rate: NonNegativeDecimalString | None = None
    decided_at: UtcDatetime
