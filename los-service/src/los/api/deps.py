"""LOS-specific FastAPI dependencies as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from los.domain.products import Catalog
from los.settings import LosSettings
from servicekit.auth import ROLES, Principal, require_roles


def get_catalog(request: Request) -> Catalog:
    """The product catalog loaded at start-up."""
    catalog: Catalog = request.app.state.catalog
    return catalog


def get_los_settings(request: Request) -> LosSettings:
    """The LOS settings the app was built with."""
    settings: LosSettings = request.app.state.settings
    return settings


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
LosSettingsDep = Annotated[LosSettings, Depends(get_los_settings)]
AnyRole = Annotated[Principal, Depends(require_roles(*ROLES))]
ApplicantAgent = Annotated[Principal, Depends(require_roles("applicant_agent"))]
Reviewer = Annotated[Principal, Depends(require_roles("underwriter", "credit_manager"))]
Disburser = Annotated[Principal, Depends(require_roles("credit_manager", "finance"))]
HandoffReader = Annotated[Principal, Depends(require_roles("credit_manager", "finance", "auditor"))]
