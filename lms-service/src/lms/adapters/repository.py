"""Queries on the loan aggregate and the ledger; the only place that builds SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from lms.adapters.ledger_scope import entry_ids_touching, posting_loan_id
from lms.adapters.orm import (
    BankStatementRow,
    ChargeRow,
    InstallmentRow,
    JournalEntryRow,
    LoanFeeRow,
    LoanRestructureRow,
    LoanRow,
    PaymentRow,
    PostingRow,
    StatementLineRow,
)
from servicekit.db import one_of


@dataclass(frozen=True, slots=True)
class LoanFilters:
    """What a loan list can be narrowed by."""

    status: str | None = None
    product_code: str | None = None
    application_id: str | None = None


async def bulk_insert(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many plain rows (no JSON, no client-side defaults) in the session's transaction.

    PostgreSQL gets COPY, the fastest way in; SQLite an executemany.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    await bulk_insert_records(
        session, table, columns, [tuple(row[c] for c in columns) for row in rows]
    )


async def bulk_insert_records(
    session: AsyncSession,
    table: Table,
    columns: Sequence[str],
    records: Sequence[tuple[Any, ...]],
) -> None:
    """Like bulk_insert, for rows already laid out as tuples in `columns` order."""
    if not records:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in records])
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=list(columns))


# Core handles on the mapped tables, for bulk writes that skip the ORM's per-object work.
_LOANS = cast(Table, LoanRow.__table__)
_FEES = cast(Table, LoanFeeRow.__table__)
_INSTALLMENTS = cast(Table, InstallmentRow.__table__)
_ENTRIES = cast(Table, JournalEntryRow.__table__)
_POSTINGS = cast(Table, PostingRow.__table__)


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """An already booked loan as booking compares a new event with it."""

    id: str
    terms_fingerprint: str
    schedule_matches_offer: bool
    mismatches: list[str]


# The columns of a new installment row, in the order BookedRows.installments lays them out:
# every column, or (LEAN_INSTALLMENT_COLUMNS) those that carry figures when the database's
# zero defaults (0.00) are the right zeros, as for a two-decimal currency.
INSTALLMENT_COLUMNS = (
    "loan_id",
    "schedule_version",
    "number",
    "due_date",
    "principal",
    "interest",
    "fees",
    "penalties",
    "total",
    "paid_principal",
    "paid_interest",
    "paid_fees",
    "paid_penalties",
    "status",
)
ZERO_DEFAULT_COLUMNS = frozenset(
    ("penalties", "paid_principal", "paid_interest", "paid_fees", "paid_penalties")
)
LEAN_INSTALLMENT_COLUMNS = tuple(c for c in INSTALLMENT_COLUMNS if c not in ZERO_DEFAULT_COLUMNS)


@dataclass(frozen=True, slots=True)
class BookedRows:
    """A newly booked loan as rows: the loan, its fees and its installments.

    Installments are tuples in `installment_columns` order, the shape COPY takes.
    """

    loan: dict[str, Any]
    fees: list[dict[str, Any]]
    installments: list[tuple[Any, ...]]
    installment_columns: tuple[str, ...] = INSTALLMENT_COLUMNS


@dataclass(frozen=True, slots=True)
class NewJournalEntry:
    """A journal entry and its postings as rows, before the entry has an id."""

    entry: dict[str, Any]
    postings: list[dict[str, Any]]


class LoanRepository:
    """Loans with their fees and installments."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, loan_id: str, *, lock: bool = False) -> LoanRow | None:
        """One loan with its fees and every installment, or None.

        `lock`: the loan row is locked until the transaction ends (``FOR UPDATE`` on
        PostgreSQL, read afresh after any wait; SQLite has one writer), so a writer and a
        close-of-business chunk over the same loan take turns instead of one overwriting
        the other. Fees and installments are read after the lock is held.
        """
        stmt = (
            select(LoanRow)
            .where(LoanRow.id == loan_id)
            .options(selectinload(LoanRow.fees), selectinload(LoanRow.installments))
        )
        if lock:
            stmt = stmt.with_for_update(of=LoanRow).execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def booking_facts(self, loan_ids: Sequence[str]) -> list[BookingFacts]:
        """What booking needs of the loans among `loan_ids` already booked (one query)."""
        if not loan_ids:
            return []
        stmt = select(
            _LOANS.c.id,
            _LOANS.c.terms_fingerprint,
            _LOANS.c.schedule_matches_offer,
            _LOANS.c.mismatches,
        ).where(one_of(_LOANS.c.id, loan_ids, self.session.get_bind().dialect.name))
        return [BookingFacts(*row) for row in (await self.session.execute(stmt)).all()]

    async def insert_booked(self, booked: Sequence[BookedRows]) -> None:
        """Write new loans with their fees and installments: one statement per table."""
        if self.session.get_bind().dialect.name == "postgresql":
            # COPY applies no client-side defaults: every column is given, JSON as text.
            loans = [
                {
                    **b.loan,
                    "allocation_order": json.dumps(b.loan["allocation_order"]),
                    "mismatches": json.dumps(b.loan["mismatches"]),
                    "credit_balance": Decimal(0),
                    "event_seq": 0,
                    "row_version": 1,
                }
                for b in booked
            ]
            await bulk_insert(self.session, _LOANS, loans)
        else:
            await self.session.execute(
                insert(_LOANS), [{**b.loan, "row_version": 1} for b in booked]
            )
        await bulk_insert(self.session, _FEES, [fee for b in booked for fee in b.fees])
        layouts: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for b in booked:
            layouts.setdefault(b.installment_columns, []).extend(b.installments)
        for columns, records in layouts.items():
            await bulk_insert_records(self.session, _INSTALLMENTS, columns, records)

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

    async def insert_entries(self, entries: Sequence[NewJournalEntry]) -> list[int]:
        """Write entries and their postings: one statement for each of the two tables.

        Returns the new entries' ids in order. Every posting of one call must carry the same
        columns (COPY takes the first row's): a posting with its own `loan_id` goes in a
        call whose postings all name theirs (None for the entry's loan).
        """
        if not entries:
            return []
        ids = (
            (
                await self.session.execute(
                    insert(_ENTRIES).returning(_ENTRIES.c.id, sort_by_parameter_order=True),
                    [e.entry for e in entries],
                )
            )
            .scalars()
            .all()
        )
        postings = [
            {**posting, "entry_id": entry_id}
            for entry_id, e in zip(ids, entries, strict=True)
            for posting in e.postings
        ]
        await bulk_insert(self.session, _POSTINGS, postings)
        return list(ids)

    async def for_loan(self, loan_id: str) -> Sequence[JournalEntryRow]:
        """Every entry with a posting on the loan (its own, and another loan's entry that
        settled it) with its postings, oldest first."""
        stmt = (
            select(JournalEntryRow)
            .where(JournalEntryRow.id.in_(entry_ids_touching([loan_id])))
            .order_by(JournalEntryRow.id)
            .options(selectinload(JournalEntryRow.postings))
        )
        return (await self.session.scalars(stmt)).all()

    async def page_for_loan(
        self, loan_id: str, *, limit: int, offset: int
    ) -> tuple[Sequence[JournalEntryRow], int]:
        """A page of the entries with a posting on the loan, oldest first, with the total."""
        touching = JournalEntryRow.id.in_(entry_ids_touching([loan_id]))
        total = await self.session.scalar(
            select(func.count()).select_from(JournalEntryRow).where(touching)
        )
        stmt = (
            select(JournalEntryRow)
            .where(touching)
            .order_by(JournalEntryRow.id)
            .limit(limit)
            .offset(offset)
            .options(selectinload(JournalEntryRow.postings))
        )
        return (await self.session.scalars(stmt)).all(), int(total or 0)

    def _sums_in_sql(self) -> bool:
        # SQLite keeps exact decimals as text and would SUM them as floats: add in Python there.
        return self.session.get_bind().dialect.name == "postgresql"

    async def account_totals(self) -> list[tuple[str, str, Decimal, Decimal]]:
        """(account, currency, debits, credits) over every posting, exactly."""
        if self._sums_in_sql():
            debit = func.sum(case((PostingRow.side == "debit", PostingRow.amount), else_=0))
            credit = func.sum(case((PostingRow.side == "credit", PostingRow.amount), else_=0))
            stmt = (
                select(PostingRow.account, PostingRow.currency, debit, credit)
                .group_by(PostingRow.account, PostingRow.currency)
                .order_by(PostingRow.currency, PostingRow.account)
            )
            rows = (await self.session.execute(stmt)).all()
            return [(a, c, Decimal(d or 0), Decimal(k or 0)) for a, c, d, k in rows]
        totals: dict[tuple[str, str], list[Decimal]] = {}
        stmt2 = select(PostingRow.account, PostingRow.currency, PostingRow.side, PostingRow.amount)
        for account, currency, side, amount in (await self.session.execute(stmt2)).all():
            pair = totals.setdefault((account, currency), [Decimal(0), Decimal(0)])
            pair[0 if side == "debit" else 1] += amount
        return [
            (a, c, d, k)
            for (a, c), (d, k) in sorted(totals.items(), key=lambda item: (item[0][1], item[0][0]))
        ]

    async def loan_account_balances(self) -> dict[str, dict[str, Decimal]]:
        """Per loan and account: debits minus credits, from the postings alone (each posting
        counts for its own loan, or its entry's)."""
        balances: dict[str, dict[str, Decimal]] = {}
        loan = posting_loan_id()
        if self._sums_in_sql():
            signed = case((PostingRow.side == "debit", PostingRow.amount), else_=-PostingRow.amount)
            stmt = (
                select(loan, PostingRow.account, func.sum(signed))
                .select_from(JournalEntryRow)
                .join(PostingRow, PostingRow.entry_id == JournalEntryRow.id)
                .where(loan.is_not(None))
                .group_by(loan, PostingRow.account)
            )
            for loan_id, account, total in (await self.session.execute(stmt)).all():
                balances.setdefault(str(loan_id), {})[account] = Decimal(total or 0)
            return balances
        stmt2 = (
            select(loan, PostingRow.account, PostingRow.side, PostingRow.amount)
            .select_from(JournalEntryRow)
            .join(PostingRow, PostingRow.entry_id == JournalEntryRow.id)
            .where(loan.is_not(None))
        )
        for loan_id, account, side, amount in (await self.session.execute(stmt2)).all():
            per_loan = balances.setdefault(str(loan_id), {})
            signed_amount = amount if side == "debit" else -amount
            per_loan[account] = per_loan.get(account, Decimal(0)) + signed_amount
        return balances


class PaymentRepository:
    """Payments with their allocations, and charges."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, payment: PaymentRow) -> None:
        """Stage a new payment."""
        self.session.add(payment)

    def add_charge(self, charge: ChargeRow) -> None:
        """Stage a new charge."""
        self.session.add(charge)

    async def for_loan(self, loan_id: str) -> Sequence[PaymentRow]:
        """Every payment of a loan (reversed ones too) with allocations, in recording order."""
        stmt = (
            select(PaymentRow)
            .where(PaymentRow.loan_id == loan_id)
            .order_by(PaymentRow.seq)
            .options(selectinload(PaymentRow.allocations))
        )
        return (await self.session.scalars(stmt)).all()

    async def restructures_for_loan(self, loan_id: str) -> Sequence[LoanRestructureRow]:
        """Every approved restructure of a loan in recording order."""
        stmt = (
            select(LoanRestructureRow)
            .where(LoanRestructureRow.loan_id == loan_id)
            .order_by(LoanRestructureRow.seq)
        )
        return (await self.session.scalars(stmt)).all()

    async def accrual_adjustments(self, loan_id: str | None = None) -> dict[str, Decimal]:
        """Per loan, the accrual re-basing its restructures posted (summed exactly)."""
        stmt = select(LoanRestructureRow.loan_id, LoanRestructureRow.accrual_adjustment)
        if loan_id is not None:
            stmt = stmt.where(LoanRestructureRow.loan_id == loan_id)
        totals: dict[str, Decimal] = {}
        for loan, amount in (await self.session.execute(stmt)).all():
            totals[loan] = totals.get(loan, Decimal(0)) + amount
        return totals

    async def charges_for_loan(self, loan_id: str) -> Sequence[ChargeRow]:
        """Every charge of a loan in recording order."""
        stmt = select(ChargeRow).where(ChargeRow.loan_id == loan_id).order_by(ChargeRow.seq)
        return (await self.session.scalars(stmt)).all()

    async def get(self, loan_id: str, payment_id: str) -> PaymentRow | None:
        """One payment of a loan with its allocations."""
        stmt = (
            select(PaymentRow)
            .where(PaymentRow.loan_id == loan_id, PaymentRow.id == payment_id)
            .options(selectinload(PaymentRow.allocations))
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_external_ref(self, loan_id: str, external_ref: str) -> PaymentRow | None:
        """The payment a loan already has under this external reference."""
        stmt = (
            select(PaymentRow)
            .where(PaymentRow.loan_id == loan_id, PaymentRow.external_ref == external_ref)
            .options(selectinload(PaymentRow.allocations))
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def candidates(self, references: Sequence[str]) -> Sequence[PaymentRow]:
        """Posted payments whose external_ref is one of the references (any loan)."""
        if not references:
            return []
        stmt = select(PaymentRow).where(
            PaymentRow.external_ref.in_(list(references)), PaymentRow.status == "posted"
        )
        return (await self.session.scalars(stmt)).all()

    async def all_loans_with_installments(self) -> Sequence[LoanRow]:
        """Every loan with its installments (for reconciliation)."""
        stmt = select(LoanRow).options(selectinload(LoanRow.installments)).order_by(LoanRow.id)
        return (await self.session.scalars(stmt)).all()


class StatementRepository:
    """Imported bank statements and their lines."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_hash(self, file_hash: str) -> BankStatementRow | None:
        """A statement already imported from the same bytes."""
        stmt = select(BankStatementRow).where(BankStatementRow.file_hash == file_hash)
        return (await self.session.scalars(stmt)).one_or_none()

    async def known_line_ids(self, line_ids: Sequence[str]) -> set[str]:
        """Which of these line ids were imported before (by any file)."""
        if not line_ids:
            return set()
        stmt = select(StatementLineRow.line_id).where(StatementLineRow.line_id.in_(list(line_ids)))
        return set((await self.session.scalars(stmt)).all())

    def add(self, row: BankStatementRow | StatementLineRow) -> None:
        """Stage a statement or a line."""
        self.session.add(row)
