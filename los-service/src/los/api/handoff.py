"""GET /v1/handoff/reconciliation: loans servicing has not booked, or booked differently."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from los.api.deps import HandoffReader, LosSettingsDep
from los.api.schemas import HandoffItemOut, ReconciliationOut
from los.service.handoff import HandoffItem, reconcile_handoff
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

router = api_router(prefix="/v1/handoff", tags=["handoff"])


def _item(i: HandoffItem) -> HandoffItemOut:
    return HandoffItemOut(
        application_id=i.application_id,
        loan_id=i.loan_id,
        status=i.status,
        disbursed_at=i.disbursed_at,
        booked_at=i.booked_at,
        age_s=i.age_s,
        mismatches=i.mismatches,
    )


@router.get("/reconciliation", summary="Disbursed-but-not-booked and mismatched loans")
async def get_reconciliation(
    _: HandoffReader,
    uow: UowDep,
    clock: ClockDep,
    settings: LosSettingsDep,
    older_than_s: Annotated[int | None, Query(ge=0, le=315_360_000)] = None,
) -> ReconciliationOut:
    """Also refreshes the los_handoff_unbooked and los_handoff_mismatched gauges."""
    threshold = settings.handoff_alert_after_s if older_than_s is None else older_than_s
    result = await reconcile_handoff(uow, clock=clock, older_than_s=threshold)
    return ReconciliationOut(
        as_of=result.as_of,
        older_than_s=result.older_than_s,
        unbooked_count=len(result.unbooked),
        mismatched_count=len(result.mismatched),
        unbooked=[_item(i) for i in result.unbooked],
        mismatched=[_item(i) for i in result.mismatched],
    )
