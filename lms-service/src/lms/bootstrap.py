"""Wiring: settings, database, outbox relay, the loan-disbursed consumer, the close-of-business
scheduler and the API."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from lms import __version__
from lms.api.cob import router as cob_router
from lms.api.collections import router as collections_router
from lms.api.errors import DOMAIN_ERRORS
from lms.api.ledger import router as ledger_router
from lms.api.loans import router as loans_router
from lms.api.reports import router as reports_router
from lms.api.restructure import router as restructure_router
from lms.api.servicing import router as servicing_router
from lms.api.statements import router as statements_router
from lms.api.writeoff import loans_router as writeoff_loans_router
from lms.api.writeoff import requests_router
from lms.metrics import refresh_portfolio_gauges
from lms.settings import LmsSettings
from lms.workers.cob import CobSchedule, CobScheduler
from lms.workers.consumers import handle_loan_disbursed, handle_loan_disbursed_batch
from servicekit.app import ConsumerSpec, Runtime, build_runtime, create_app
from servicekit.clock import Clock, SystemClock

LOAN_DISBURSED_TOPIC = "lending.loan-disbursed.v1"


def loan_disbursed_consumer(clock: Clock) -> ConsumerSpec:
    """The consumer that books loans from the LOS handoff."""
    return ConsumerSpec(
        name="loan-disbursed-consumer",
        group_id="lms.loan-disbursed",
        topics=[LOAN_DISBURSED_TOPIC],
        handlers={"LoanDisbursed": partial(handle_loan_disbursed, clock=clock)},
        batch_handlers={"LoanDisbursed": partial(handle_loan_disbursed_batch, clock=clock)},
    )


def cob_scheduler(settings: LmsSettings, runtime: Runtime, clock: Clock) -> CobScheduler:
    """The worker that closes each business date after its cut-off."""
    return CobScheduler(
        runtime.uow_factory,
        clock,
        CobSchedule(
            cutoff=settings.cob_cutoff,
            timezone=settings.cob_timezone,
            chunk_size=settings.cob_chunk_size,
            concurrency=settings.cob_concurrency,
        ),
        poll_s=settings.cob_schedule_poll_s,
    )


def build_app(settings: LmsSettings, clock: Clock | None = None) -> FastAPI:
    """The LMS app with its workers; tests pass a fixed clock and run_workers=False."""
    clock = clock or SystemClock()
    runtime = build_runtime(settings, consumers=[loan_disbursed_consumer(clock)])
    if settings.cob_schedule_enabled:
        runtime.add_worker("cob-scheduler", cob_scheduler(settings, runtime, clock).run)
    return create_app(
        runtime,
        title="Loan management service",
        version=__version__,
        description=(
            "Books disbursed loans, keeps their schedules, takes repayments and keeps a "
            "double-entry ledger."
        ),
        routers=[
            loans_router,
            servicing_router,
            ledger_router,
            statements_router,
            cob_router,
            reports_router,
            collections_router,
            writeoff_loans_router,
            requests_router,
            restructure_router,
        ],
        domain_errors=DOMAIN_ERRORS,
        scrape_hooks=[refresh_portfolio_gauges],
        openapi_tags=[
            {"name": "loans", "description": "Booked loans and their schedules"},
            {"name": "servicing", "description": "Repayments, reversals, charges, payoff"},
            {"name": "ledger", "description": "Trial balance and reconciliation"},
            {"name": "reports", "description": "Portfolio as of a date and the loan tape"},
            {"name": "write-off", "description": "Maker-checker write-off, recoveries, closure"},
            {"name": "reconciliation", "description": "Bank statement import and matching"},
            {"name": "cob", "description": "Close of business runs per business date"},
            {"name": "collections", "description": "Queue, cases, promises to pay, tasks"},
        ],
        clock=clock,
    )


def app_factory() -> FastAPI:
    """Build the app from `LMS_*` environment variables (used by uvicorn and the CLI)."""
    return build_app(LmsSettings())
