"""Major version 1 of the lending event contract."""

from lending_schemas.base import EventModel
from lending_schemas.v1.loan_booked import LoanBookedV1, ScheduleSummaryV1
from lending_schemas.v1.loan_disbursed import (
    DEFAULT_ALLOCATION_ORDER,
    FeeV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
)

__all__ = [
    "DEFAULT_ALLOCATION_ORDER",
    "EventModel",
    "FeeV1",
    "LoanBookedV1",
    "LoanDisbursedV1",
    "PenaltyTermsV1",
    "PromisedTermsV1",
    "ScheduleSummaryV1",
]
