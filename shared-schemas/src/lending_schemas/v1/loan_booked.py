"""``LoanBooked`` v1: the LMS confirms the booking and whether it matches the offer."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StrictBool, model_validator

from lending_schemas.base import ContractModel, EventModel
from lending_schemas.primitives import (
    IsoDate,
    NonEmptyStr,
    NonNegativeDecimalString,
    PositiveDecimalString,
    UtcDatetime,
)

__all__ = ["LoanBookedV1", "ScheduleSummaryV1"]


class ScheduleSummaryV1(ContractModel):
    """Headline figures of the booked schedule, compared by the LOS with the promise."""

    installment_amount: PositiveDecimalString
    total_repayable: PositiveDecimalString
    total_interest: NonNegativeDecimalString
    installments: Annotated[int, Field(strict=True, ge=1)]
    first_due_date: IsoDate
    last_due_date: IsoDate

    @model_validator(mode="after")
    def _check_dates(self) -> ScheduleSummaryV1:
        """A schedule cannot end before it starts."""
        if self.last_due_date < self.first_due_date:
            raise ValueError("last_due_date must not be before first_due_date")
        return self


class LoanBookedV1(EventModel):
    """Published by the LMS after booking, so the LOS can close the application."""

    event_type: ClassVar[str] = "LoanBooked"
    version: ClassVar[str] = "1.0"

    loan_id: NonEmptyStr
    application_id: NonEmptyStr
    booked_at: UtcDatetime
    schedule: ScheduleSummaryV1
    matches_offer: StrictBool
    mismatches: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Names of promised figures that differ from the booked schedule.",
    )

    @model_validator(mode="after")
    def _check_mismatches(self) -> LoanBookedV1:
        """``matches_offer`` and ``mismatches`` must tell the same story."""
        if self.matches_offer and self.mismatches:
            raise ValueError("mismatches must be empty when matches_offer is true")
        if not self.matches_offer and not self.mismatches:
            raise ValueError("mismatches must name the differing fields if matches_offer is false")
        return self
