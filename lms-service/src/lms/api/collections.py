"""Collections: the prioritised queue, cases (assignment, actions, promises to pay) and the
contact tasks dunning rules schedule.

Close of business opens a case for each delinquent active loan, closes it when the loan is
current again, schedules dunning tasks and resolves promises to pay (kept or broken) on
their date; agents work the queue here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from lms.api.schemas import Money
from lms.domain.collections import NOTE_MAX_LENGTH, ActionKind
from lms.service.collections import (
    ActionView,
    CaseView,
    PromiseView,
    QueueItem,
    TaskView,
    assign_case,
    collections_queue,
    complete_task,
    get_case,
    list_tasks,
    record_action,
    record_promise,
)
from servicekit.auth import Principal, require_roles
from servicekit.deps import ClockDep, UowDep
from servicekit.routing import api_router

Worker = Annotated[Principal, Depends(require_roles("collections_agent", "credit_manager"))]
Reader = Annotated[
    Principal, Depends(require_roles("collections_agent", "credit_manager", "auditor"))
]

router = api_router(prefix="/v1/collections", tags=["collections"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid token (problem+json)"},
    403: {"description": "Role not allowed (problem+json)"},
    422: {"description": "validation_error (problem+json)"},
}
_CASE_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "case_not_found (problem+json)"},
}
_CLOSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "case_closed: the loan is current again or no longer active"},
}

AgentName = Annotated[str, Field(min_length=1, max_length=100)]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class TaskOut(_Out):
    """A contact task a dunning rule scheduled."""

    id: str
    case_id: str
    loan_id: str
    kind: str = Field(description="call, message or visit")
    rule_key: str = Field(description="<bucket>:<after_days>:<action> of the dunning rule")
    due_on: date
    status: str = Field(description="open, done, or cancelled (its case closed)")
    assigned_to: str | None = Field(description="The agent of the task's case")
    done_by: str | None
    done_at: datetime | None = Field(description="When it was done, or cancelled")


class TaskPage(_Out):
    """One page of tasks, earliest due first."""

    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class QueueItemOut(_Out):
    """An open case as the queue shows it."""

    case_id: str
    loan_id: str
    product_code: str
    currency: str
    bucket: str
    days_past_due: int
    amount_overdue: Money = Field(
        description="What the loan's overdue installments still owe, every component"
    )
    open_promises: int
    broken_promises: int
    assigned_to: str | None
    opened_on: date
    next_task: TaskOut | None = Field(description="The case's open task due first")


class QueuePage(_Out):
    """One page of the queue, in priority order."""

    items: list[QueueItemOut]
    total: int
    limit: int
    offset: int


class ActionOut(_Out):
    """A call, message, visit or note recorded on a case."""

    id: str
    kind: str
    note: str
    performed_by: str
    performed_at: datetime


class PromiseOut(_Out):
    """A promise to pay; close of business of `promised_on` marks it kept or broken."""

    id: str
    case_id: str
    loan_id: str
    amount: Money
    currency: str
    promised_on: date
    made_on: date = Field(description="Business date the promise was made")
    status: str = Field(description="open, kept or broken")
    resolved_on: date | None
    amount_paid: Money | None = Field(
        description="Posted payments valued from made_on to promised_on, once resolved"
    )
    created_by: str
    created_at: datetime


class CaseOut(_Out):
    """A collection case with its loan's delinquency and what was done on it."""

    id: str
    loan_id: str
    status: str = Field(description="open or closed")
    product_code: str
    currency: str
    bucket: str
    days_past_due: int
    amount_overdue: Money
    opened_on: date
    opened_bucket: str
    closed_on: date | None
    close_reason: str | None = Field(description="cured or loan_inactive")
    assigned_to: str | None
    assigned_at: datetime | None
    actions: list[ActionOut]
    promises: list[PromiseOut]
    tasks: list[TaskOut]


class AssignIn(BaseModel):
    """The agent who works the case."""

    model_config = ConfigDict(extra="forbid")

    agent: AgentName


class ActionIn(BaseModel):
    """What the agent did."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["call", "message", "visit", "note"]
    note: str = Field(default="", max_length=NOTE_MAX_LENGTH)


class PromiseIn(BaseModel):
    """The borrower promises to pay `amount` by `promised_on` (the business date or later)."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(description="Positive, at most the currency's decimals")
    currency: str = Field(min_length=3, max_length=3, description="The loan's currency")
    promised_on: date


def _task_out(view: TaskView) -> TaskOut:
    return TaskOut(
        id=view.id,
        case_id=view.case_id,
        loan_id=view.loan_id,
        kind=view.kind,
        rule_key=view.rule_key,
        due_on=view.due_on,
        status=view.status,
        assigned_to=view.assigned_to,
        done_by=view.done_by,
        done_at=view.done_at,
    )


def _queue_out(item: QueueItem) -> QueueItemOut:
    return QueueItemOut(
        case_id=item.case_id,
        loan_id=item.loan_id,
        product_code=item.product_code,
        currency=item.currency,
        bucket=item.bucket,
        days_past_due=item.days_past_due,
        amount_overdue=item.amount_overdue,
        open_promises=item.open_promises,
        broken_promises=item.broken_promises,
        assigned_to=item.assigned_to,
        opened_on=item.opened_on,
        next_task=_task_out(item.next_task) if item.next_task is not None else None,
    )


def _action_out(view: ActionView) -> ActionOut:
    return ActionOut(
        id=view.id,
        kind=view.kind,
        note=view.note,
        performed_by=view.performed_by,
        performed_at=view.performed_at,
    )


def _promise_out(view: PromiseView) -> PromiseOut:
    return PromiseOut(
        id=view.id,
        case_id=view.case_id,
        loan_id=view.loan_id,
        amount=view.amount,
        currency=view.currency,
        promised_on=view.promised_on,
        made_on=view.made_on,
        status=view.status,
        resolved_on=view.resolved_on,
        amount_paid=view.amount_paid,
        created_by=view.created_by,
        created_at=view.created_at,
    )


def _case_out(view: CaseView) -> CaseOut:
    return CaseOut(
        id=view.id,
        loan_id=view.loan_id,
        status=view.status,
        product_code=view.product_code,
        currency=view.currency,
        bucket=view.bucket,
        days_past_due=view.days_past_due,
        amount_overdue=view.amount_overdue,
        opened_on=view.opened_on,
        opened_bucket=view.opened_bucket,
        closed_on=view.closed_on,
        close_reason=view.close_reason,
        assigned_to=view.assigned_to,
        assigned_at=view.assigned_at,
        actions=[_action_out(a) for a in view.actions],
        promises=[_promise_out(p) for p in view.promises],
        tasks=[_task_out(t) for t in view.tasks],
    )


Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
AgentFilter = Annotated[str | None, Query(max_length=100, description="Cases of this agent")]


@router.get("/queue", response_model=QueuePage, responses=_PROBLEMS)
async def get_queue(
    uow: UowDep,
    _caller: Worker,
    assigned_to: AgentFilter = None,
    bucket: Annotated[str | None, Query(max_length=20, description="Delinquency bucket")] = None,
    unassigned: Annotated[
        bool | None, Query(description="true: only unassigned cases; false: only assigned")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> QueuePage:
    """Open collection cases, the one to work first first.

    Priority, compared in this order:

    1. bucket severity, most severe first: the fewest days past due the loan's bucket
       holds (90+ before 61-90 before 31-60 before 1-30);
    2. broken promises to pay on the case, more first;
    3. amount overdue (what the overdue installments still owe, every component), larger
       first, compared as a number;
    4. days past due, more first; then loan id.

    Buckets and days past due are as of the last close of business; amounts overdue
    include payments taken since.
    """
    items, total = await collections_queue(
        uow,
        assigned_to=assigned_to,
        bucket=bucket,
        unassigned=unassigned,
        limit=limit,
        offset=offset,
    )
    return QueuePage(items=[_queue_out(i) for i in items], total=total, limit=limit, offset=offset)


@router.get("/cases/{case_id}", response_model=CaseOut, responses={**_PROBLEMS, **_CASE_404})
async def get_one_case(case_id: str, uow: UowDep, _caller: Reader) -> CaseOut:
    """One case (open or closed) with its actions, promises to pay and tasks."""
    return _case_out(await get_case(uow, case_id))


@router.post(
    "/cases/{case_id}/assign",
    response_model=CaseOut,
    responses={**_PROBLEMS, **_CASE_404, **_CLOSED},
)
async def post_assign(
    case_id: str, body: AssignIn, uow: UowDep, clock: ClockDep, _caller: Worker
) -> CaseOut:
    """Assign an open case to an agent (reassigning replaces the agent)."""
    return _case_out(await assign_case(uow, case_id, agent=body.agent, now=clock.now()))


@router.post(
    "/cases/{case_id}/actions",
    response_model=ActionOut,
    status_code=201,
    responses={**_PROBLEMS, **_CASE_404, **_CLOSED},
)
async def post_action(
    case_id: str, body: ActionIn, uow: UowDep, clock: ClockDep, caller: Worker
) -> ActionOut:
    """Record a call, message, visit or note (up to 1000 characters) on an open case."""
    view = await record_action(
        uow, case_id, kind=ActionKind(body.kind), note=body.note, by=caller.sub, now=clock.now()
    )
    return _action_out(view)


@router.post(
    "/cases/{case_id}/promises",
    response_model=PromiseOut,
    status_code=201,
    responses={
        **_PROBLEMS,
        **_CASE_404,
        409: {"description": "case_closed, or promise_open (the case has an open promise)"},
        422: {
            "description": "promise_in_past (a date before the business date), "
            "currency_mismatch, invalid_amount (not positive, or too many decimals), "
            "validation_error"
        },
    },
)
async def post_promise(
    case_id: str, body: PromiseIn, uow: UowDep, clock: ClockDep, caller: Worker
) -> PromiseOut:
    """Record a promise to pay; close of business of `promised_on` marks it kept (posted
    payments valued from today up to that date reach the amount) or broken."""
    view = await record_promise(
        uow,
        case_id,
        amount=body.amount,
        currency=body.currency,
        promised_on=body.promised_on,
        by=caller.sub,
        now=clock.now(),
        business_date=clock.today(),
    )
    return _promise_out(view)


@router.get("/tasks", response_model=TaskPage, responses=_PROBLEMS)
async def get_tasks(
    uow: UowDep,
    _caller: Reader,
    assigned_to: AgentFilter = None,
    status: Annotated[
        Literal["open", "done", "cancelled"] | None, Query(description="Task status")
    ] = None,
    due_by: Annotated[date | None, Query(description="Tasks due on or before this date")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TaskPage:
    """Contact tasks, earliest due first."""
    items, total = await list_tasks(
        uow, assigned_to=assigned_to, status=status, due_by=due_by, limit=limit, offset=offset
    )
    return TaskPage(items=[_task_out(t) for t in items], total=total, limit=limit, offset=offset)


@router.post(
    "/tasks/{task_id}/done",
    response_model=TaskOut,
    responses={
        **_PROBLEMS,
        404: {"description": "task_not_found (problem+json)"},
        409: {"description": "task_not_open: already done, or cancelled with its case"},
    },
)
async def post_task_done(task_id: str, uow: UowDep, clock: ClockDep, caller: Worker) -> TaskOut:
    """Mark an open contact task done."""
    return _task_out(await complete_task(uow, task_id, by=caller.sub, now=clock.now()))
