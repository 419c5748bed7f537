"""Collections SQL: set-based reads and writes for the close-of-business step and the queue.

Each statement covers every loan or case it concerns at once (INSERT ... executemany,
UPDATE ... WHERE EXISTS). Money is never added up in SQL: SQLite keeps exact decimals as
text, so amounts come back as rows and the service adds them with Decimal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lms.adapters.cob import LoanRange
from lms.adapters.orm import (
    CaseActionRow,
    CollectionCaseRow,
    ContactTaskRow,
    DelinquencyHistoryRow,
    InstallmentRow,
    LoanRow,
    PaymentRow,
    PromiseToPayRow,
)
from lms.adapters.repository import bulk_insert
from lms.domain.collections import CaseStatus, CloseReason, PromiseStatus, TaskStatus

_CASES = cast(Table, CollectionCaseRow.__table__)
_TASKS = cast(Table, ContactTaskRow.__table__)
_PROMISES = cast(Table, PromiseToPayRow.__table__)
_LOANS = cast(Table, LoanRow.__table__)

ACTIVE = "active"
POSTED = "posted"
OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class DunningInput:
    """An open case's loan, its bucket and the business date it entered that bucket."""

    case_id: str
    loan_id: str
    product_code: str
    bucket: str
    entered_on: date | None


@dataclass(frozen=True, slots=True)
class OpenCaseRow:
    """An open case with the loan columns the queue shows."""

    case_id: str
    loan_id: str
    product_code: str
    currency: str
    bucket: str
    days_past_due: int
    assigned_to: str | None
    opened_on: date


class CollectionsRepository:
    """Reads and writes of collections, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- the close-of-business step ------------------------------------------------------
    # Each statement covers the loans of one close-of-business chunk (a loan-id range).

    async def delinquent_without_case(self, loans: LoanRange) -> list[tuple[str, str]]:
        """(loan id, bucket) of the range's active loans past due that have no open case."""
        # The range is stated on the cases too, so only the chunk's cases are read.
        has_case = exists().where(
            CollectionCaseRow.loan_id == LoanRow.id,
            CollectionCaseRow.status == CaseStatus.OPEN.value,
            loans.condition(CollectionCaseRow.loan_id),
        )
        stmt = (
            select(LoanRow.id, LoanRow.delinquency_bucket)
            .where(
                LoanRow.status == ACTIVE,
                LoanRow.days_past_due > 0,
                loans.condition(LoanRow.id),
                ~has_case,
            )
            .order_by(LoanRow.id)
        )
        return [(str(a), str(b)) for a, b in (await self.session.execute(stmt)).all()]

    async def insert_cases(self, rows: list[dict[str, Any]]) -> None:
        """New open cases (COPY on PostgreSQL)."""
        await bulk_insert(self.session, _CASES, rows)

    async def close_cases(self, loans: LoanRange, on: date) -> int:
        """Close the range's open cases whose loan is no longer active, or current again."""
        closed = 0
        for reason, condition in (
            (CloseReason.LOAN_INACTIVE, _LOANS.c.status != ACTIVE),
            (CloseReason.CURED, and_(_LOANS.c.status == ACTIVE, _LOANS.c.days_past_due == 0)),
        ):
            result = await self.session.execute(
                update(_CASES)
                .where(
                    _CASES.c.status == CaseStatus.OPEN.value,
                    loans.condition(_CASES.c.loan_id),
                    exists().where(_LOANS.c.id == _CASES.c.loan_id, condition),
                )
                .values(
                    status=CaseStatus.CLOSED.value,
                    open_loan_id=None,
                    closed_on=on,
                    close_reason=reason.value,
                )
            )
            closed += int(getattr(result, "rowcount", 0) or 0)
        return closed

    async def cancel_tasks_of_closed_cases(self, loans: LoanRange, now: datetime) -> int:
        """Open tasks of the range's closed cases are cancelled (nobody needs to chase a
        cured loan)."""
        result = await self.session.execute(
            update(_TASKS)
            .where(
                _TASKS.c.status == TaskStatus.OPEN.value,
                loans.condition(_TASKS.c.loan_id),
                exists().where(
                    _CASES.c.id == _TASKS.c.case_id, _CASES.c.status == CaseStatus.CLOSED.value
                ),
            )
            .values(status=TaskStatus.CANCELLED.value, done_at=now, done_by=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def dunning_inputs(self, loans: LoanRange) -> list[DunningInput]:
        """The range's open cases with their loan's bucket and the date of its last bucket
        change."""
        last = (
            select(
                DelinquencyHistoryRow.loan_id.label("loan_id"),
                func.max(DelinquencyHistoryRow.id).label("id"),
            )
            .join(CollectionCaseRow, CollectionCaseRow.loan_id == DelinquencyHistoryRow.loan_id)
            .where(
                CollectionCaseRow.status == CaseStatus.OPEN.value,
                loans.condition(DelinquencyHistoryRow.loan_id),
            )
            .group_by(DelinquencyHistoryRow.loan_id)
            .subquery()
        )
        stmt = (
            select(
                CollectionCaseRow.id,
                LoanRow.id,
                LoanRow.product_code,
                LoanRow.delinquency_bucket,
                DelinquencyHistoryRow.to_bucket,
                DelinquencyHistoryRow.business_date,
            )
            .join(LoanRow, LoanRow.id == CollectionCaseRow.loan_id)
            .outerjoin(last, last.c.loan_id == LoanRow.id)
            .outerjoin(DelinquencyHistoryRow, DelinquencyHistoryRow.id == last.c.id)
            .where(
                CollectionCaseRow.status == CaseStatus.OPEN.value,
                loans.condition(CollectionCaseRow.loan_id),
            )
            .order_by(LoanRow.id)
        )
        out = []
        for case_id, loan_id, product, bucket, to_bucket, changed_on in (
            await self.session.execute(stmt)
        ).all():
            entered = changed_on if to_bucket == bucket else None
            out.append(DunningInput(case_id, loan_id, product, bucket, entered))
        return out

    async def task_keys_of_open_cases(self, loans: LoanRange) -> set[tuple[str, str, date]]:
        """(loan, rule, due date) of every task already scheduled for an open case's loan in
        the range."""
        stmt = (
            select(ContactTaskRow.loan_id, ContactTaskRow.rule_key, ContactTaskRow.due_on)
            .join(
                CollectionCaseRow,
                and_(
                    CollectionCaseRow.loan_id == ContactTaskRow.loan_id,
                    CollectionCaseRow.status == CaseStatus.OPEN.value,
                ),
            )
            .where(loans.condition(ContactTaskRow.loan_id))
        )
        return {(str(a), str(b), c) for a, b, c in (await self.session.execute(stmt)).all()}

    async def insert_tasks(self, rows: list[dict[str, Any]]) -> None:
        """New contact tasks (COPY on PostgreSQL)."""
        await bulk_insert(self.session, _TASKS, rows)

    async def promises_due(self, loans: LoanRange, on: date) -> list[PromiseToPayRow]:
        """Open promises on the range's loans whose date is on or before `on`."""
        stmt = (
            select(PromiseToPayRow)
            .where(
                PromiseToPayRow.status == PromiseStatus.OPEN.value,
                PromiseToPayRow.promised_on <= on,
                loans.condition(PromiseToPayRow.loan_id),
            )
            .order_by(PromiseToPayRow.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def posted_payments(
        self, loan_ids: Sequence[str], start: date, end: date
    ) -> dict[str, list[tuple[date, Decimal]]]:
        """Per loan: (value date, amount) of its posted payments valued from start to end."""
        if not loan_ids:
            return {}
        stmt = select(PaymentRow.loan_id, PaymentRow.value_date, PaymentRow.amount).where(
            PaymentRow.loan_id.in_(list(loan_ids)),
            PaymentRow.status == POSTED,
            PaymentRow.value_date >= start,
            PaymentRow.value_date <= end,
        )
        out: dict[str, list[tuple[date, Decimal]]] = {}
        for loan_id, value_date, amount in (await self.session.execute(stmt)).all():
            out.setdefault(str(loan_id), []).append((value_date, Decimal(amount)))
        return out

    async def resolve_promises(self, rows: list[tuple[str, str, date, Decimal]]) -> None:
        """(promise id, status, resolved on, amount paid) for each resolved promise."""
        if not rows:
            return
        await self.session.execute(
            update(_PROMISES)
            .where(
                _PROMISES.c.id == bindparam("b_id"),
                _PROMISES.c.status == PromiseStatus.OPEN.value,
            )
            .values(
                status=bindparam("b_status"),
                resolved_on=bindparam("b_on"),
                amount_paid=bindparam("b_paid"),
            ),
            [{"b_id": i, "b_status": s, "b_on": d, "b_paid": p} for i, s, d, p in rows],
        )

    # -- the queue -----------------------------------------------------------------------

    async def open_cases(
        self,
        *,
        assigned_to: str | None = None,
        bucket: str | None = None,
        unassigned: bool | None = None,
        case_id: str | None = None,
        include_closed: bool = False,
    ) -> list[OpenCaseRow]:
        """Cases (open ones unless asked) with their loan's bucket, filtered."""
        conditions: list[Any] = []
        if not include_closed:
            conditions.append(CollectionCaseRow.status == CaseStatus.OPEN.value)
        if assigned_to is not None:
            conditions.append(CollectionCaseRow.assigned_to == assigned_to)
        if unassigned is True:
            conditions.append(CollectionCaseRow.assigned_to.is_(None))
        elif unassigned is False:
            conditions.append(CollectionCaseRow.assigned_to.is_not(None))
        if bucket is not None:
            conditions.append(LoanRow.delinquency_bucket == bucket)
        if case_id is not None:
            conditions.append(CollectionCaseRow.id == case_id)
        stmt = (
            select(
                CollectionCaseRow.id,
                LoanRow.id,
                LoanRow.product_code,
                LoanRow.currency,
                LoanRow.delinquency_bucket,
                LoanRow.days_past_due,
                CollectionCaseRow.assigned_to,
                CollectionCaseRow.opened_on,
            )
            .join(LoanRow, LoanRow.id == CollectionCaseRow.loan_id)
            .where(*conditions)
        )
        return [OpenCaseRow(*row) for row in (await self.session.execute(stmt)).all()]

    async def overdue_amounts(self, loan_ids: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Per loan with an open case (or of `loan_ids`): what its overdue installments of
        the current schedule still owe, every component, added here in Decimal."""
        i = InstallmentRow
        stmt = (
            select(
                i.loan_id,
                i.principal,
                i.interest,
                i.fees,
                i.penalties,
                i.paid_principal,
                i.paid_interest,
                i.paid_fees,
                i.paid_penalties,
            )
            .join(
                LoanRow,
                and_(LoanRow.id == i.loan_id, LoanRow.schedule_version == i.schedule_version),
            )
            .where(i.status == OVERDUE)
        )
        if loan_ids is None:
            stmt = stmt.where(
                exists().where(
                    CollectionCaseRow.loan_id == i.loan_id,
                    CollectionCaseRow.status == CaseStatus.OPEN.value,
                )
            )
        else:
            stmt = stmt.where(i.loan_id.in_(list(loan_ids)))
        owed: dict[str, Decimal] = {}
        for row in (await self.session.execute(stmt)).all():
            loan_id, p, it, f, pen, pp, pi, pf, ppen = row
            remaining = (p - pp) + (it - pi) + (f - pf) + (pen - ppen)
            owed[str(loan_id)] = owed.get(str(loan_id), Decimal(0)) + remaining
        return owed

    async def promise_counts(
        self, case_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Per case: promises by status (every open case, or those of `case_ids`)."""
        stmt = select(
            PromiseToPayRow.case_id, PromiseToPayRow.status, func.count(PromiseToPayRow.id)
        ).group_by(PromiseToPayRow.case_id, PromiseToPayRow.status)
        if case_ids is None:
            stmt = stmt.join(
                CollectionCaseRow, CollectionCaseRow.id == PromiseToPayRow.case_id
            ).where(CollectionCaseRow.status == CaseStatus.OPEN.value)
        else:
            stmt = stmt.where(PromiseToPayRow.case_id.in_(list(case_ids)))
        counts: dict[str, dict[str, int]] = {}
        for case_id, status, n in (await self.session.execute(stmt)).all():
            counts.setdefault(str(case_id), {})[str(status)] = int(n)
        return counts

    async def next_open_tasks(
        self, case_ids: Sequence[str] | None = None
    ) -> dict[str, ContactTaskRow]:
        """Per case: its open task due first (every open case, or those of `case_ids`)."""
        stmt = (
            select(ContactTaskRow)
            .where(ContactTaskRow.status == TaskStatus.OPEN.value)
            .order_by(ContactTaskRow.due_on.desc(), ContactTaskRow.rule_key.desc())
        )
        if case_ids is None:
            stmt = stmt.join(
                CollectionCaseRow, CollectionCaseRow.id == ContactTaskRow.case_id
            ).where(CollectionCaseRow.status == CaseStatus.OPEN.value)
        else:
            stmt = stmt.where(ContactTaskRow.case_id.in_(list(case_ids)))
        first: dict[str, ContactTaskRow] = {}
        for task in (await self.session.scalars(stmt)).all():
            first[task.case_id] = task  # the last written is the earliest due
        return first

    # -- cases and tasks -----------------------------------------------------------------

    async def case(self, case_id: str, *, lock: bool = False) -> CollectionCaseRow | None:
        """One case (row-locked on PostgreSQL when asked)."""
        stmt = select(CollectionCaseRow).where(CollectionCaseRow.id == case_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def task(self, task_id: str, *, lock: bool = False) -> ContactTaskRow | None:
        """One task (row-locked on PostgreSQL when asked)."""
        stmt = select(ContactTaskRow).where(ContactTaskRow.id == task_id)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def tasks(
        self,
        *,
        assigned_to: str | None,
        status: str | None,
        due_by: date | None,
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[ContactTaskRow, str | None]], int]:
        """A page of tasks with their case's agent, earliest due first, and the total."""
        conditions: list[Any] = []
        if assigned_to is not None:
            conditions.append(CollectionCaseRow.assigned_to == assigned_to)
        if status is not None:
            conditions.append(ContactTaskRow.status == status)
        if due_by is not None:
            conditions.append(ContactTaskRow.due_on <= due_by)
        joined = select(ContactTaskRow, CollectionCaseRow.assigned_to).join(
            CollectionCaseRow, CollectionCaseRow.id == ContactTaskRow.case_id
        )
        total = await self.session.scalar(
            select(func.count())
            .select_from(ContactTaskRow)
            .join(CollectionCaseRow, CollectionCaseRow.id == ContactTaskRow.case_id)
            .where(*conditions)
        )
        stmt = (
            joined.where(*conditions)
            .order_by(ContactTaskRow.due_on, ContactTaskRow.loan_id, ContactTaskRow.rule_key)
            .limit(limit)
            .offset(offset)
        )
        rows = [(task, agent) for task, agent in (await self.session.execute(stmt)).all()]
        return rows, int(total or 0)

    async def case_children(
        self, case_id: str
    ) -> tuple[list[CaseActionRow], list[PromiseToPayRow], list[ContactTaskRow]]:
        """A case's actions, promises and tasks, oldest first."""
        actions = await self.session.scalars(
            select(CaseActionRow)
            .where(CaseActionRow.case_id == case_id)
            .order_by(CaseActionRow.performed_at, CaseActionRow.id)
        )
        promises = await self.session.scalars(
            select(PromiseToPayRow)
            .where(PromiseToPayRow.case_id == case_id)
            .order_by(PromiseToPayRow.created_at, PromiseToPayRow.id)
        )
        tasks = await self.session.scalars(
            select(ContactTaskRow)
            .where(ContactTaskRow.case_id == case_id)
            .order_by(ContactTaskRow.due_on, ContactTaskRow.rule_key)
        )
        return list(actions.all()), list(promises.all()), list(tasks.all())
