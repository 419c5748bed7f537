"""GET /v1/applications/{id}/audit: the hash-chained audit trail, verified on every read."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from los.api.deps import Auditor
from los.api.schemas import AuditRecordOut, AuditTrailOut
from los.service.audit import get_audit_trail
from servicekit.deps import UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/applications", tags=["audit"])


@router.get(
    "/{application_id}/audit",
    summary="The application's audit trail",
    responses={404: {"description": "application_not_found"}},
)
async def read_audit(
    application_id: str,
    _: Auditor,
    uow: UowDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> AuditTrailOut:
    """Oldest first; `chain_valid` says whether every hash and link still verifies."""
    trail = await get_audit_trail(uow, application_id, limit=limit, offset=offset)
    return AuditTrailOut(
        application_id=application_id,
        items=[
            AuditRecordOut(
                seq=r.seq,
                actor=r.actor,
                action=r.action,
                at=r.at,
                before=r.before,
                after=r.after,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
            for r in trail.records
        ],
        total=trail.total,
        limit=limit,
        offset=offset,
        chain_valid=trail.check.valid,
        first_invalid_seq=trail.check.first_invalid_seq,
        problem=trail.check.problem,
    )
