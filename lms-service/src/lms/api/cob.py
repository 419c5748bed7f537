"""Close of business endpoints: start (or catch up to) a business date, read the runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from lms.service.cob import CobRunView, close_business, get_run, list_runs
from lms.settings import LmsSettings
from servicekit.auth import Principal, require_roles
from servicekit.db import UnitOfWorkFactory
from servicekit.deps import ClockDep
from servicekit.routing import api_router

Operator = Annotated[Principal, Depends(require_roles("admin", "finance"))]
Reader = Annotated[Principal, Depends(require_roles("admin", "finance", "auditor"))]

router = api_router(prefix="/v1/cob", tags=["cob"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
}


class CobRunIn(BaseModel):
    """The business date to close (skipped dates before it are closed first)."""

    model_config = ConfigDict(extra="forbid")

    business_date: date


class CobRunOut(BaseModel):
    """A close of business run of one business date."""

    business_date: date
    status: str
    steps_done: list[str]
    chunks_total: int
    chunks_done: int
    loans_processed: int
    requested_by: str
    started_at: datetime
    finished_at: datetime | None
    timings: dict[str, float]
    dates_closed: list[date] | None = None


class CobRunPage(BaseModel):
    """One page of runs, latest business date first."""

    items: list[CobRunOut]
    total: int
    limit: int
    offset: int


def _out(run: CobRunView, dates_closed: list[date] | None = None) -> CobRunOut:
    return CobRunOut(
        business_date=run.business_date,
        status=run.status,
        steps_done=list(run.steps_done),
        chunks_total=run.chunks_total,
        chunks_done=run.chunks_done,
        loans_processed=run.loans_processed,
        requested_by=run.requested_by,
        started_at=run.started_at,
        finished_at=run.finished_at,
        timings=run.timings,
        dates_closed=dates_closed,
    )


def _factory(request: Request) -> UnitOfWorkFactory:
    factory: UnitOfWorkFactory = request.app.state.uow_factory
    return factory


@router.post(
    "/runs",
    response_model=CobRunOut,
    status_code=201,
    responses={
        **_PROBLEMS,
        200: {"description": "The last closed date again: its run, nothing changed"},
        409: {"description": "cob_date_closed (before the last closed date)"},
        422: {"description": "cob_date_in_future, validation_error (malformed date)"},
    },
)
async def post_run(
    body: CobRunIn, request: Request, response: Response, clock: ClockDep, caller: Operator
) -> CobRunOut:
    """Close the business date: accrual, due and overdue, penalties, delinquency.

    Skipped dates are closed first, one at a time, in order. Runs synchronously and
    answers with the run of the requested date; `lms cob run` does the same from a
    scheduler, optionally partitioned across workers.
    """
    settings: LmsSettings = request.app.state.settings
    outcome = await close_business(
        _factory(request),
        body.business_date,
        requested_by=caller.sub,
        today=clock.today(),
        now=clock.now,
        chunk_size=settings.cob_chunk_size,
        concurrency=settings.cob_concurrency,
    )
    if not outcome.created:
        response.status_code = 200
    return _out(outcome.run, outcome.dates_closed)


@router.get("/runs", response_model=CobRunPage, responses=_PROBLEMS)
async def get_runs(
    request: Request,
    _caller: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> CobRunPage:
    """Runs, latest business date first."""
    rows, total = await list_runs(_factory(request), limit=limit, offset=offset)
    return CobRunPage(items=[_out(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get(
    "/runs/{business_date}",
    response_model=CobRunOut,
    responses={**_PROBLEMS, 404: {"description": "cob_run_not_found"}},
)
async def get_one_run(business_date: date, request: Request, _caller: Reader) -> CobRunOut:
    """The run of one business date with its progress and step timings (seconds)."""
    return _out(await get_run(_factory(request), business_date))
