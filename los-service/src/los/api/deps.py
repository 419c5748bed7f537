"""LOS-specific FastAPI dependencies as Annotated aliases.

All `async def`: FastAPI would run a plain `def` dependency in its thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from los.adapters.documents import DocumentStore
from los.adapters.providers import Providers
from los.domain.products import Catalog
from los.settings import LosSettings
from servicekit.auth import ROLES, Principal, require_roles


async def get_catalog(request: Request) -> Catalog:
    """The product catalog loaded at start-up."""
    catalog: Catalog = request.app.state.catalog
    return catalog


async def get_los_settings(request: Request) -> LosSettings:
    """The LOS settings the app was built with."""
    settings: LosSettings = request.app.state.settings
    return settings


async def get_providers(request: Request) -> Providers:
    """KYC, bureau and watchlist wired at start-up."""
    providers: Providers = request.app.state.providers
    return providers


async def get_document_store(request: Request) -> DocumentStore:
    """Where document content is kept."""
    store: DocumentStore = request.app.state.document_store
    return store


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ProvidersDep = Annotated[Providers, Depends(get_providers)]
DocumentStoreDep = Annotated[DocumentStore, Depends(get_document_store)]
Auditor = Annotated[Principal, Depends(require_roles("auditor", "credit_manager"))]
DecisionReader = Annotated[
    Principal, Depends(require_roles("underwriter", "credit_manager", "auditor"))
]
DocumentUploader = Annotated[
    Principal, Depends(require_roles("applicant_agent", "underwriter", "credit_manager"))
]
LosSettingsDep = Annotated[LosSettings, Depends(get_los_settings)]
AnyRole = Annotated[Principal, Depends(require_roles(*ROLES))]
ApplicantAgent = Annotated[Principal, Depends(require_roles("applicant_agent"))]
Reviewer = Annotated[Principal, Depends(require_roles("underwriter", "credit_manager"))]
Disburser = Annotated[Principal, Depends(require_roles("credit_manager", "finance"))]
HandoffReader = Annotated[Principal, Depends(require_roles("credit_manager", "finance", "auditor"))]
