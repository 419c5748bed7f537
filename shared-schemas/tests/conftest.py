"""Shared fixtures for the lending-schemas unit tests."""

from datetime import UTC, datetime

import pytest

from lending_schemas.envelope import CloudEvent
from lending_schemas.events import make_event
from lending_schemas.examples import example_loan_booked_v1, example_loan_disbursed_v1
from lending_schemas.v1 import LoanBookedV1, LoanDisbursedV1

FIXED_TIME = datetime(2024, 5, 1, 9, 30, 5, 123456, tzinfo=UTC)


@pytest.fixture
def disbursed() -> LoanDisbursedV1:
    return example_loan_disbursed_v1()


@pytest.fixture
def booked() -> LoanBookedV1:
    return example_loan_booked_v1()


@pytest.fixture
def disbursed_event(disbursed: LoanDisbursedV1) -> CloudEvent:
    return make_event(
        disbursed,
        source="/los",
        subject=disbursed.loan_id,
        sequence=7,
        event_id="evt-1",
        time=FIXED_TIME,
        correlation_id="APP-2024-004567",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
