"""Wiring: settings, catalog, database, outbox relay, the LoanBooked consumer and the API."""

from __future__ import annotations

from fastapi import FastAPI

from lending_schemas import topic_for_event
from los.adapters.documents import DocumentStore, LocalDocumentStore
from los.adapters.providers import (
    HttpBureau,
    HttpCaller,
    HttpKyc,
    HttpPolicy,
    Providers,
    SandboxBureau,
    SandboxKyc,
    load_watchlist,
)
from los.api import applicants, applications, audit, documents, handoff, products, reviews
from los.api.errors import (
    DOMAIN_ERRORS,
    applicant_exists_handler,
    documents_incomplete_handler,
)
from los.domain.errors import ApplicantExistsError, DocumentsIncompleteError
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


def build_providers(settings: LosSettings) -> Providers:
    """Sandbox or HTTP KYC and bureau providers, per settings, and the shipped watchlist."""
    policy = HttpPolicy(
        timeout_s=settings.provider_timeout_s,
        retries=settings.provider_retries,
        backoff_s=settings.provider_backoff_s,
        breaker_threshold=settings.provider_breaker_threshold,
        breaker_reset_s=settings.provider_breaker_reset_s,
    )
    kyc = (
        HttpKyc(HttpCaller(settings.kyc_url, policy))
        if settings.kyc_provider == "http"
        else SandboxKyc()
    )
    bureau = (
        HttpBureau(HttpCaller(settings.bureau_url, policy))
        if settings.bureau_provider == "http"
        else SandboxBureau()
    )
    return Providers(kyc=kyc, bureau=bureau, watchlist=load_watchlist())


def build_app(
    settings: LosSettings,
    clock: Clock | None = None,
    *,
    providers: Providers | None = None,
    document_store: DocumentStore | None = None,
) -> FastAPI:
    """The LOS app; the catalog is loaded (and validated) here, so a bad file stops start-up."""
    catalog = load_catalog(settings.catalog_path)
    runtime = build_runtime(settings, consumers=consumers())
    app = create_app(
        runtime,
        title="Loan origination service",
        version="0.1.0",
        description="Applicant onboarding, applications, decisions, offers and disbursement.",
        routers=[
            products.router,
            applicants.router,
            applications.router,
            documents.router,
            audit.router,
            reviews.router,
            handoff.router,
        ],
        domain_errors=DOMAIN_ERRORS,
        clock=clock,
    )
    app.add_exception_handler(ApplicantExistsError, applicant_exists_handler)
    app.add_exception_handler(DocumentsIncompleteError, documents_incomplete_handler)
    app.state.catalog = catalog
    app.state.providers = providers or build_providers(settings)
    app.state.document_store = document_store or LocalDocumentStore(settings.document_dir)
    return app


def app_factory() -> FastAPI:
    """Build the app from `LOS_*` environment variables (uvicorn and the CLI use this)."""
    return build_app(LosSettings())
