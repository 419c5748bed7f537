"""Major version 1 of the lending event contract."""

from lending_schemas.base import EventModel
from lending_schemas.v1.application_events import (
    ApplicationDecidedV1,
    ApplicationSubmittedV1,
    DecisionReasonV1,
)
from lending_schemas.v1.loan_booked import LoanBookedV1, ScheduleSummaryV1
from lending_schemas.v1.loan_disbursed import (
    DEFAULT_ALLOCATION_ORDER,
    FeeV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
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
    "DEFAULT_ALLOCATION_ORDER",
    "AllocationSummaryV1",
    "ApplicationDecidedV1",
    "ApplicationSubmittedV1",
    "DecisionReasonV1",
    "EventModel",
    "FeeV1",
    "LoanBookedV1",
    "LoanClosedV1",
    "LoanDelinquencyChangedV1",
    "LoanDisbursedV1",
    "LoanPaidOffV1",
    "LoanScheduleChangedV1",
    "LoanWrittenOffV1",
    "OutstandingV1",
    "PenaltyTermsV1",
    "PromisedTermsV1",
    "RepaymentReceivedV1",
    "RepaymentReversedV1",
    "ScheduleSummaryV1",
]
