"""GET /v1/reviews/queue: referred applications waiting for a decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from los.adapters.repository import ApplicationFilter
from los.api.applications import application_out
from los.api.deps import CatalogDep, Reviewer
from los.api.schemas import ApplicationPage
from los.domain.applications import ApplicationStatus
from los.service.applications import get_application, list_applications
from servicekit.deps import UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/reviews", tags=["reviews"])


@router.get("/queue", summary="The review queue")
async def review_queue(
    principal: Reviewer,
    uow: UowDep,
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    assignee: Annotated[
        str | None, Query(description="A reviewer's queue; 'me' for the caller's own.")
    ] = None,
    unassigned: bool = False,
    product_code: str | None = None,
) -> ApplicationPage:
    """Referred applications, newest first; each item shows the stage it waits for."""
    filters = ApplicationFilter(
        status=ApplicationStatus.REFERRED.value,
        product_code=product_code,
        assignee=principal.sub if assignee == "me" else assignee,
        unassigned=unassigned,
    )
    rows, total = await list_applications(uow, filters, limit=limit, offset=offset)
    items = [application_out(await get_application(uow, r.id, catalog)) for r in rows]
    return ApplicationPage(items=items, total=total, limit=limit, offset=offset)
