"""Queries on the loan aggregate and the ledger; the only place that builds SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from lms.adapters.orm import InstallmentRow, JournalEntryRow, LoanRow


@dataclass(frozen=True, slots=True)
class LoanFilters:
    """What a loan list can be narrowed by."""

    status: str | None = None
    product_code: str | None = None
    application_id: str | None = None


class LoanRepository:
    """Loans with their fees and installments."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, loan_id: str) -> LoanRow | None:
        """One loan with its fees and every installment, or None."""
        stmt = (
            select(LoanRow)
            .where(LoanRow.id == loan_id)
            .options(selectinload(LoanRow.fees), selectinload(LoanRow.installments))
        )
        return (await self.session.scalars(stmt)).one_or_none()

    def add(self, loan: LoanRow) -> None:
        """Stage a new loan (and its children) in the session."""
        self.session.add(loan)

    async def page(
        self, filters: LoanFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[LoanRow], int]:
        """A page of loans, newest booking first, and how many match in all."""
        conditions = []
        if filters.status is not None:
            conditions.append(LoanRow.status == filters.status)
        if filters.product_code is not None:
            conditions.append(LoanRow.product_code == filters.product_code)
        if filters.application_id is not None:
            conditions.append(LoanRow.application_id == filters.application_id)
        total = await self.session.scalar(
            select(func.count()).select_from(LoanRow).where(*conditions)
        )
        stmt = (
            select(LoanRow)
            .where(*conditions)
            .order_by(LoanRow.booked_at.desc(), LoanRow.id)
            .limit(limit)
            .offset(offset)
            .options(selectinload(LoanRow.installments))
        )
        rows = (await self.session.scalars(stmt)).all()
        return rows, int(total or 0)

    @staticmethod
    def current_installments(loan: LoanRow) -> list[InstallmentRow]:
        """The installments of the loan's current schedule version, in order."""
        rows = [i for i in loan.installments if i.schedule_version == loan.schedule_version]
        return sorted(rows, key=lambda i: i.number)


class JournalRepository:
    """Journal entries and their postings (append only)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, entry: JournalEntryRow) -> None:
        """Stage a new entry with its postings."""
        self.session.add(entry)

    async def for_loan(self, loan_id: str) -> Sequence[JournalEntryRow]:
        """Every entry of a loan with its postings, oldest first."""
        stmt = (
            select(JournalEntryRow)
            .where(JournalEntryRow.loan_id == loan_id)
            .order_by(JournalEntryRow.id)
            .options(selectinload(JournalEntryRow.postings))
        )
        return (await self.session.scalars(stmt)).all()
