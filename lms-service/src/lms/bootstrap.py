"""Wiring: settings, database, outbox relay, the loan-disbursed consumer and the API."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from lms import __version__
from lms.api.errors import DOMAIN_ERRORS
from lms.api.loans import router as loans_router
from lms.settings import LmsSettings
from lms.workers.consumers import handle_loan_disbursed
from servicekit.app import ConsumerSpec, build_runtime, create_app
from servicekit.clock import Clock, SystemClock

LOAN_DISBURSED_TOPIC = "lending.loan-disbursed.v1"


def loan_disbursed_consumer(clock: Clock) -> ConsumerSpec:
    """The consumer that books loans from the LOS handoff."""
    return ConsumerSpec(
        name="loan-disbursed-consumer",
        group_id="lms.loan-disbursed",
        topics=[LOAN_DISBURSED_TOPIC],
        handlers={"LoanDisbursed": partial(handle_loan_disbursed, clock=clock)},
    )


def build_app(settings: LmsSettings, clock: Clock | None = None) -> FastAPI:
    """The LMS app with its workers; tests pass a fixed clock and run_workers=False."""
    clock = clock or SystemClock()
    runtime = build_runtime(settings, consumers=[loan_disbursed_consumer(clock)])
    return create_app(
        runtime,
        title="Loan management service",
        version=__version__,
        description="Books disbursed loans, keeps their schedules and what is owed on them.",
        routers=[loans_router],
        domain_errors=DOMAIN_ERRORS,
        openapi_tags=[{"name": "loans", "description": "Booked loans and their schedules"}],
        clock=clock,
    )


def app_factory() -> FastAPI:
    """Build the app from `LMS_*` environment variables (used by uvicorn and the CLI)."""
    return build_app(LmsSettings())
