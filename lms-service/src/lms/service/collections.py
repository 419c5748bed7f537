"""Collections: the close-of-business step, the prioritised queue and agents' case work.

The step (`run_collections_step`) runs in each close-of-business chunk's transaction, for
the chunk's loan-id range, after the chunk's delinquency is stored on its loans (every part
concerns one loan and its case, so chunks of the same date never share a row):

1. close open cases whose loan is current again (``cured``) or no longer active
   (``loan_inactive``), and cancel their open contact tasks;
2. open a case for each active loan past due without an open case;
3. schedule the contact tasks the dunning rules of each open case's bucket make due by
   the business date (counted from the business date the loan entered its bucket, read
   from the delinquency history); each (loan, rule, due date) is stored once;
4. resolve open promises whose date is on or before the business date: kept when posted
   payments valued from the day the promise was made up to its date reach its amount,
   otherwise broken.

Every part only acts on what is still to do, so running the step again for the same date
changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from lms.adapters.cob import LoanRange
from lms.adapters.collections import CollectionsRepository
from lms.adapters.orm import (
    CaseActionRow,
    CollectionCaseRow,
    ContactTaskRow,
    LoanRow,
    PromiseToPayRow,
)
from lms.domain.collections import (
    ActionKind,
    CaseStatus,
    PromiseStatus,
    QueueFacts,
    TaskStatus,
    check_promise,
    due_tasks,
    paid_toward,
    prioritise,
    promise_outcome,
)
from lms.domain.errors import (
    CaseClosedError,
    CaseNotFoundError,
    PromiseOpenError,
    TaskNotFoundError,
    TaskNotOpenError,
)
from lms.products import rules_for
from loanmath import round_money
from servicekit.db import UnitOfWork


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one run of the step did."""

    cases_opened: int
    cases_closed: int
    tasks_created: int
    tasks_cancelled: int
    promises_kept: int
    promises_broken: int


async def run_collections_step(
    session: AsyncSession, business_date: date, now: datetime, loans: LoanRange
) -> StepOutcome:
    """The collections step of close of business for `business_date` on the loans of one
    range (see the module)."""
    repo = CollectionsRepository(session)
    closed = await repo.close_cases(loans, business_date)
    cancelled = await repo.cancel_tasks_of_closed_cases(loans, now)

    new_cases = [
        {
            "id": _id("CASE"),
            "loan_id": loan_id,
            "open_loan_id": loan_id,
            "status": CaseStatus.OPEN.value,
            "opened_on": business_date,
            "opened_bucket": bucket,
            "closed_on": None,
            "close_reason": None,
            "assigned_to": None,
            "assigned_at": None,
            "created_at": now,
        }
        for loan_id, bucket in await repo.delinquent_without_case(loans)
    ]
    await repo.insert_cases(new_cases)

    existing = await repo.task_keys_of_open_cases(loans)
    tasks = []
    for case in await repo.dunning_inputs(loans):
        if case.entered_on is None:
            continue
        rules = rules_for(case.product_code).dunning
        for task in due_tasks(case.bucket, case.entered_on, business_date, rules):
            key = (case.loan_id, task.rule_key, task.due_on)
            if key in existing:
                continue
            existing.add(key)
            tasks.append(
                {
                    "id": _id("TASK"),
                    "case_id": case.case_id,
                    "loan_id": case.loan_id,
                    "kind": task.kind.value,
                    "rule_key": task.rule_key,
                    "due_on": task.due_on,
                    "status": TaskStatus.OPEN.value,
                    "created_at": now,
                    "done_by": None,
                    "done_at": None,
                }
            )
    await repo.insert_tasks(tasks)

    due = await repo.promises_due(loans, business_date)
    payments = (
        await repo.posted_payments(
            sorted({p.loan_id for p in due}),
            min(p.made_on for p in due),
            max(p.promised_on for p in due),
        )
        if due
        else {}
    )
    resolved = []
    for promise in due:
        paid = paid_toward(payments.get(promise.loan_id, []), promise.made_on, promise.promised_on)
        status = promise_outcome(promise.amount, paid, promise.promised_on, business_date)
        resolved.append((promise.id, status.value, business_date, paid))
    await repo.resolve_promises(resolved)
    kept = sum(1 for r in resolved if r[1] == PromiseStatus.KEPT.value)
    return StepOutcome(
        cases_opened=len(new_cases),
        cases_closed=closed,
        tasks_created=len(tasks),
        tasks_cancelled=cancelled,
        promises_kept=kept,
        promises_broken=len(resolved) - kept,
    )


# -- views -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskView:
    """A contact task as the API shows it."""

    id: str
    case_id: str
    loan_id: str
    kind: str
    rule_key: str
    due_on: date
    status: str
    assigned_to: str | None
    done_by: str | None
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One open case in the queue."""

    case_id: str
    loan_id: str
    product_code: str
    currency: str
    bucket: str
    days_past_due: int
    amount_overdue: Decimal
    open_promises: int
    broken_promises: int
    assigned_to: str | None
    opened_on: date
    next_task: TaskView | None


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action recorded on a case."""

    id: str
    kind: str
    note: str
    performed_by: str
    performed_at: datetime


@dataclass(frozen=True, slots=True)
class PromiseView:
    """A promise to pay."""

    id: str
    case_id: str
    loan_id: str
    amount: Decimal
    currency: str
    promised_on: date
    made_on: date
    status: str
    resolved_on: date | None
    amount_paid: Decimal | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case with its loan's delinquency, actions, promises and tasks."""

    id: str
    loan_id: str
    status: str
    product_code: str
    currency: str
    bucket: str
    days_past_due: int
    amount_overdue: Decimal
    opened_on: date
    opened_bucket: str
    closed_on: date | None
    close_reason: str | None
    assigned_to: str | None
    assigned_at: datetime | None
    actions: list[ActionView]
    promises: list[PromiseView]
    tasks: list[TaskView]


def _task_view(row: ContactTaskRow, assigned_to: str | None) -> TaskView:
    return TaskView(
        id=row.id,
        case_id=row.case_id,
        loan_id=row.loan_id,
        kind=row.kind,
        rule_key=row.rule_key,
        due_on=row.due_on,
        status=row.status,
        assigned_to=assigned_to,
        done_by=row.done_by,
        done_at=row.done_at,
    )


def _promise_view(row: PromiseToPayRow) -> PromiseView:
    return PromiseView(
        id=row.id,
        case_id=row.case_id,
        loan_id=row.loan_id,
        amount=row.amount,
        currency=row.currency,
        promised_on=row.promised_on,
        made_on=row.made_on,
        status=row.status,
        resolved_on=row.resolved_on,
        amount_paid=row.amount_paid,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _money(amount: Decimal, currency: str) -> Decimal:
    return round_money(amount, currency)


# -- the queue ---------------------------------------------------------------------------


async def collections_queue(
    uow: UnitOfWork,
    *,
    assigned_to: str | None,
    bucket: str | None,
    unassigned: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[QueueItem], int]:
    """Open cases in priority order (domain.collections.priority_key), one page and the total."""
    repo = CollectionsRepository(uow.session)
    cases = await repo.open_cases(assigned_to=assigned_to, bucket=bucket, unassigned=unassigned)
    if not cases:
        return [], 0
    owed = await repo.overdue_amounts()
    counts = await repo.promise_counts()
    by_loan = {c.loan_id: c for c in cases}
    facts = [
        QueueFacts(
            loan_id=c.loan_id,
            bucket=c.bucket,
            buckets=rules_for(c.product_code).buckets,
            broken_promises=counts.get(c.case_id, {}).get(PromiseStatus.BROKEN.value, 0),
            amount_overdue=owed.get(c.loan_id, Decimal(0)),
            days_past_due=c.days_past_due,
        )
        for c in cases
    ]
    page = prioritise(facts)[offset : offset + limit]
    chosen = [by_loan[f.loan_id] for f in page]
    next_tasks = await repo.next_open_tasks([c.case_id for c in chosen])
    items = []
    for case, fact in zip(chosen, page, strict=True):
        task = next_tasks.get(case.case_id)
        items.append(
            QueueItem(
                case_id=case.case_id,
                loan_id=case.loan_id,
                product_code=case.product_code,
                currency=case.currency,
                bucket=case.bucket,
                days_past_due=case.days_past_due,
                amount_overdue=_money(fact.amount_overdue, case.currency),
                open_promises=counts.get(case.case_id, {}).get(PromiseStatus.OPEN.value, 0),
                broken_promises=fact.broken_promises,
                assigned_to=case.assigned_to,
                opened_on=case.opened_on,
                next_task=_task_view(task, case.assigned_to) if task is not None else None,
            )
        )
    return items, len(cases)


# -- one case ----------------------------------------------------------------------------


async def _case_or_404(
    repo: CollectionsRepository, case_id: str, *, lock: bool = False
) -> CollectionCaseRow:
    case = await repo.case(case_id, lock=lock)
    if case is None:
        raise CaseNotFoundError(f"no collection case {case_id}")
    return case


async def _case_view(repo: CollectionsRepository, case: CollectionCaseRow) -> CaseView:
    (row,) = await repo.open_cases(case_id=case.id, include_closed=True)
    owed = (await repo.overdue_amounts([case.loan_id])).get(case.loan_id, Decimal(0))
    actions, promises, tasks = await repo.case_children(case.id)
    return CaseView(
        id=case.id,
        loan_id=case.loan_id,
        status=case.status,
        product_code=row.product_code,
        currency=row.currency,
        bucket=row.bucket,
        days_past_due=row.days_past_due,
        amount_overdue=_money(owed, row.currency),
        opened_on=case.opened_on,
        opened_bucket=case.opened_bucket,
        closed_on=case.closed_on,
        close_reason=case.close_reason,
        assigned_to=case.assigned_to,
        assigned_at=case.assigned_at,
        actions=[ActionView(a.id, a.kind, a.note, a.performed_by, a.performed_at) for a in actions],
        promises=[_promise_view(p) for p in promises],
        tasks=[_task_view(t, case.assigned_to) for t in tasks],
    )


async def get_case(uow: UnitOfWork, case_id: str) -> CaseView:
    """One case with everything recorded on it."""
    repo = CollectionsRepository(uow.session)
    return await _case_view(repo, await _case_or_404(repo, case_id))


async def assign_case(uow: UnitOfWork, case_id: str, *, agent: str, now: datetime) -> CaseView:
    """Assign an open case to an agent (again: to another agent)."""
    repo = CollectionsRepository(uow.session)
    case = await _case_or_404(repo, case_id, lock=True)
    if case.status != CaseStatus.OPEN:
        raise CaseClosedError(f"case {case_id} is closed")
    case.assigned_to = agent
    case.assigned_at = now
    await uow.session.flush()
    view = await _case_view(repo, case)
    await uow.commit()
    return view


async def record_action(
    uow: UnitOfWork, case_id: str, *, kind: ActionKind, note: str, by: str, now: datetime
) -> ActionView:
    """Record a call, message, visit or note on an open case."""
    repo = CollectionsRepository(uow.session)
    case = await _case_or_404(repo, case_id, lock=True)
    if case.status != CaseStatus.OPEN:
        raise CaseClosedError(f"case {case_id} is closed")
    row = CaseActionRow(
        id=_id("ACT"),
        case_id=case.id,
        kind=kind.value,
        note=note,
        performed_by=by,
        performed_at=now,
    )
    uow.session.add(row)
    await uow.session.flush()
    view = ActionView(row.id, row.kind, row.note, row.performed_by, row.performed_at)
    await uow.commit()
    return view


async def record_promise(
    uow: UnitOfWork,
    case_id: str,
    *,
    amount: Decimal,
    currency: str,
    promised_on: date,
    by: str,
    now: datetime,
    business_date: date,
) -> PromiseView:
    """A promise to pay on an open case; refused for a date before the business date, in
    another currency than the loan's, for a non-positive amount, or while another promise
    of the case is still open."""
    repo = CollectionsRepository(uow.session)
    case = await _case_or_404(repo, case_id, lock=True)
    loan = await uow.session.get(LoanRow, case.loan_id)
    assert loan is not None
    check_promise(
        case_status=case.status,
        amount=amount,
        currency=currency,
        loan_currency=loan.currency,
        promised_on=promised_on,
        business_date=business_date,
    )
    counts = await repo.promise_counts([case.id])
    if counts.get(case.id, {}).get(PromiseStatus.OPEN.value, 0):
        raise PromiseOpenError(f"case {case_id} already has an open promise to pay")
    row = PromiseToPayRow(
        id=_id("PTP"),
        case_id=case.id,
        loan_id=case.loan_id,
        amount=amount,
        currency=currency,
        promised_on=promised_on,
        made_on=business_date,
        created_by=by,
        created_at=now,
        status=PromiseStatus.OPEN.value,
        resolved_on=None,
        amount_paid=None,
    )
    uow.session.add(row)
    await uow.session.flush()
    view = _promise_view(row)
    await uow.commit()
    return view


# -- tasks -------------------------------------------------------------------------------


async def list_tasks(
    uow: UnitOfWork,
    *,
    assigned_to: str | None,
    status: str | None,
    due_by: date | None,
    limit: int,
    offset: int,
) -> tuple[list[TaskView], int]:
    """A page of contact tasks, earliest due first, and the total."""
    rows, total = await CollectionsRepository(uow.session).tasks(
        assigned_to=assigned_to, status=status, due_by=due_by, limit=limit, offset=offset
    )
    return [_task_view(task, agent) for task, agent in rows], total


async def complete_task(uow: UnitOfWork, task_id: str, *, by: str, now: datetime) -> TaskView:
    """Mark an open task done."""
    repo = CollectionsRepository(uow.session)
    task = await repo.task(task_id, lock=True)
    if task is None:
        raise TaskNotFoundError(f"no contact task {task_id}")
    if task.status != TaskStatus.OPEN:
        raise TaskNotOpenError(f"task {task_id} is {task.status}")
    task.status = TaskStatus.DONE.value
    task.done_by = by
    task.done_at = now
    case = await repo.case(task.case_id)
    await uow.session.flush()
    view = _task_view(task, case.assigned_to if case is not None else None)
    await uow.commit()
    return view


__all__ = [
    "CaseView",
    "QueueItem",
    "StepOutcome",
    "TaskView",
    "assign_case",
    "collections_queue",
    "complete_task",
    "get_case",
    "list_tasks",
    "record_action",
    "record_promise",
    "run_collections_step",
]
