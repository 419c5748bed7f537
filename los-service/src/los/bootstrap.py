"""Wiring: settings, catalog, database, outbox relay, the LoanBooked consumer and the API."""

from __future__ import annotations

from fastapi import FastAPI

from lending_schemas import topic_for_event
from los.api import applicants, applications, handoff, products
from los.api.errors import DOMAIN_ERRORS, applicant_exists_handler
from los.domain.errors import ApplicantExistsError
from los.products import load_catalog
from los.settings import LosSettings
from los.workers.consumers import handle_loan_booked
from servicekit.app import ConsumerSpec, build_runtime, create_app
from servicekit.clock import Clock

LOAN_BOOKED_TOPIC = topic_for_event("LoanBooked", 1).name


def consumers() -> list[ConsumerSpec]:
    """The LOS's inbox consumers."""
    return [
        ConsumerSpec(
            name="loan-booked-consumer",
            group_id="los.loan-booked",
            topics=[LOAN_BOOKED_TOPIC],
            handlers={"LoanBooked": handle_loan_booked},
        )
    ]


def build_app(settings: LosSettings, clock: Clock | None = None) -> FastAPI:
    """The LOS app; the catalog is loaded (and validated) here, so a bad file stops start-up."""
    catalog = load_catalog(settings.catalog_path)
    runtime = build_runtime(settings, consumers=consumers())
    app = create_app(
        runtime,
        title="Loan origination service",
        version="0.1.0",
        description="Applicant onboarding, applications, decisions, offers and disbursement.",
        routers=[products.router, applicants.router, applications.router, handoff.router],
        domain_errors=DOMAIN_ERRORS,
        clock=clock,
    )
    app.add_exception_handler(ApplicantExistsError, applicant_exists_handler)
    app.state.catalog = catalog
    return app


def app_factory() -> FastAPI:
    """Build the app from `LOS_*` environment variables (uvicorn and the CLI use this)."""
    return build_app(LosSettings())
