"""Set-based reads for portfolio reports: everything as of an effective date, optionally as
it was recorded by an instant, so a past report can be reproduced exactly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from lms.adapters.ledger_scope import entry_ids_touching, posting_loan_id
from lms.adapters.orm import (
    DelinquencyHistoryRow,
    InstallmentRow,
    InterestAccrualRow,
    JournalEntryRow,
    LoanRow,
    PaymentAllocationRow,
    PaymentRow,
    PostingRow,
)

ZERO = Decimal(0)
# Receivable accounts by the component they hold.
RECEIVABLES = {
    "loans_receivable_principal": "principal",
    "interest_receivable": "interest",
    "fees_receivable": "fees",
    "penalties_receivable": "penalties",
}
PAYMENT_ENTRIES = ("repayment", "repayment_reversal")


@dataclass(frozen=True, slots=True)
class Cutoff:
    """Effective on or before `as_of`; recorded on or before `recorded_by` when given."""

    as_of: date
    recorded_by: datetime | None = None

    def entries(self) -> list[Any]:
        """Conditions on journal entries."""
        conditions: list[Any] = [JournalEntryRow.effective_date <= self.as_of]
        if self.recorded_by is not None:
            conditions.append(JournalEntryRow.created_at <= self.recorded_by)
        return conditions


@dataclass(frozen=True, slots=True)
class LoanHeader:
    """The columns of a loan the reports show."""

    id: str
    application_id: str
    party_ref: str
    product_code: str
    currency: str
    principal: Decimal
    annual_rate: Decimal
    term: int
    frequency: str
    disbursement_date: date
    status: str
    paid_off_on: date | None
    written_off_on: date | None
    closed_on: date | None
    schedule_version: int


@dataclass(frozen=True, slots=True)
class BucketAsOf:
    """A loan's delinquency as recorded by its last change on or before the date."""

    bucket: str
    days_past_due: int
    non_performing: bool
    since: date


class ReportRepository:
    """Queries behind the portfolio report and the loan tape.

    Sums are exact on both backends: PostgreSQL adds NUMERIC in SQL; SQLite keeps exact
    decimals as text and would add them as floats, so there the rows are added in Python.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _sums(
        self,
        keys: Sequence[Any],
        amount: Any,
        *,
        base: Any,
        side: Any = None,
        joins: Sequence[tuple[Any, ...]] = (),
        where: Sequence[Any] = (),
    ) -> dict[tuple[Any, ...], Decimal]:
        """Sum of `amount` per `keys` (debits minus credits when `side` is given), over
        `base` and its `joins`. `joins` are (target, on) pairs, or (target, on, True) for an outer join.
        """

        def joined(stmt: Any) -> Any:
            stmt = stmt.select_from(base)
            for target, on, *outer in joins:
                stmt = stmt.outerjoin(target, on) if outer else stmt.join(target, on)
            return stmt.where(*where)

        if self.session.get_bind().dialect.name == "postgresql":
            value = amount if side is None else case((side == "debit", amount), else_=-amount)
            stmt = joined(select(*keys, func.sum(value))).group_by(*keys)
            return {
                tuple(row[:-1]): Decimal(row[-1] or 0)
                for row in (await self.session.execute(stmt)).all()
            }
        columns = [*keys, amount] if side is None else [*keys, side, amount]
        totals: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        width = len(keys)
        for row in (await self.session.execute(joined(select(*columns)))).all():
            value = Decimal(row[-1] or 0)
            if side is not None and row[width] != "debit":
                value = -value
            totals[tuple(row[:width])] += value
        return dict(totals)

    async def loans(self, cutoff: Cutoff) -> list[LoanHeader]:
        """Loans disbursed on or before the date (booked by `recorded_by`, if given), by id."""
        stmt = select(
            LoanRow.id,
            LoanRow.application_id,
            LoanRow.party_ref,
            LoanRow.product_code,
            LoanRow.currency,
            LoanRow.principal,
            LoanRow.annual_rate,
            LoanRow.term,
            LoanRow.frequency,
            LoanRow.disbursement_date,
            LoanRow.status,
            LoanRow.paid_off_on,
            LoanRow.written_off_on,
            LoanRow.closed_on,
            LoanRow.schedule_version,
        ).where(LoanRow.disbursement_date <= cutoff.as_of)
        if cutoff.recorded_by is not None:
            stmt = stmt.where(LoanRow.booked_at <= cutoff.recorded_by)
        rows = (await self.session.execute(stmt.order_by(LoanRow.id))).all()
        return [LoanHeader(**row._asdict()) for row in rows]

    async def receivables(
        self, cutoff: Cutoff, loan_ids: Sequence[str] | None = None
    ) -> dict[str, dict[str, Decimal]]:
        """Per loan and component: the receivable's balance (debits minus credits); every
        loan, or those of `loan_ids`. A posting counts for its own loan, or its entry's."""
        loan = posting_loan_id()
        only_entries = (
            []
            if loan_ids is None
            else [
                JournalEntryRow.id.in_(entry_ids_touching(loan_ids)),
                loan.in_(list(loan_ids)),
            ]
        )
        only_accruals = [] if loan_ids is None else [InterestAccrualRow.loan_id.in_(list(loan_ids))]
        posted = await self._sums(
            [loan, PostingRow.account],
            PostingRow.amount,
            base=JournalEntryRow,
            side=PostingRow.side,
            joins=[(PostingRow, PostingRow.entry_id == JournalEntryRow.id)],
            where=[
                loan.is_not(None),
                PostingRow.account.in_(list(RECEIVABLES)),
                *cutoff.entries(),
                *only_entries,
            ],
        )
        balances: dict[str, dict[str, Decimal]] = defaultdict(dict)
        for (loan_id, account), amount in posted.items():
            balances[str(loan_id)][RECEIVABLES[account]] = amount
        # Close of business books accruals in one entry per chunk; the loan's share is kept
        # in the accrual detail, which belongs to that entry.
        accrued = await self._sums(
            [InterestAccrualRow.loan_id],
            InterestAccrualRow.amount,
            base=InterestAccrualRow,
            joins=[(JournalEntryRow, JournalEntryRow.id == InterestAccrualRow.entry_id)],
            where=[
                InterestAccrualRow.business_date <= cutoff.as_of,
                *cutoff.entries(),
                *only_accruals,
            ],
        )
        for (loan_id,), amount in accrued.items():
            parts = balances[str(loan_id)]
            parts["interest"] = parts.get("interest", ZERO) + amount
        return balances

    async def buckets(self, cutoff: Cutoff) -> dict[str, BucketAsOf]:
        """Per loan: its last delinquency change on or before the date (none: current)."""
        conditions: list[Any] = [DelinquencyHistoryRow.business_date <= cutoff.as_of]
        if cutoff.recorded_by is not None:
            conditions.append(DelinquencyHistoryRow.changed_at <= cutoff.recorded_by)
        last = (
            select(func.max(DelinquencyHistoryRow.id).label("id"))
            .where(*conditions)
            .group_by(DelinquencyHistoryRow.loan_id)
            .subquery()
        )
        stmt = select(
            DelinquencyHistoryRow.loan_id,
            DelinquencyHistoryRow.to_bucket,
            DelinquencyHistoryRow.days_past_due,
            DelinquencyHistoryRow.non_performing,
            DelinquencyHistoryRow.business_date,
        ).join(last, last.c.id == DelinquencyHistoryRow.id)
        return {
            str(loan_id): BucketAsOf(bucket, int(dpd), bool(npl), since)
            for loan_id, bucket, dpd, npl, since in (await self.session.execute(stmt)).all()
        }

    async def flows(
        self, start: date, end: date, recorded_by: datetime | None
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """Per currency: principal disbursed and cash collected (net of reversals) in the period."""
        where: list[Any] = [
            JournalEntryRow.effective_date >= start,
            JournalEntryRow.effective_date <= end,
            JournalEntryRow.loan_id.is_not(None),
            or_(
                and_(
                    JournalEntryRow.entry_type == "disbursement",
                    PostingRow.account == "loans_receivable_principal",
                    # A renewal's disbursement also settles the old loan's principal (a
                    # posting tagged to that loan): that is not principal disbursed.
                    posting_loan_id() == JournalEntryRow.loan_id,
                ),
                and_(
                    JournalEntryRow.entry_type.in_(PAYMENT_ENTRIES),
                    PostingRow.account == "cash_clearing",
                ),
            ),
        ]
        if recorded_by is not None:
            where.append(JournalEntryRow.created_at <= recorded_by)
        sums = await self._sums(
            [JournalEntryRow.currency, PostingRow.account],
            PostingRow.amount,
            base=JournalEntryRow,
            side=PostingRow.side,
            joins=[(PostingRow, PostingRow.entry_id == JournalEntryRow.id)],
            where=where,
        )
        flows: dict[str, tuple[Decimal, Decimal]] = {}
        for (currency, account), amount in sums.items():
            disbursed, collected = flows.get(str(currency), (ZERO, ZERO))
            if account == "cash_clearing":
                collected += amount
            else:
                disbursed += amount
            flows[str(currency)] = (disbursed, collected)
        return flows

    async def due_and_paid(
        self, start: date, end: date, recorded_by: datetime | None
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """Per currency: the scheduled principal, interest and fees that fell due in the
        period (current schedules), and how much of it payments valued by the period's end
        paid (payments reversed by then excluded)."""
        in_period = [
            InstallmentRow.schedule_version == LoanRow.schedule_version,
            InstallmentRow.due_date >= start,
            InstallmentRow.due_date <= end,
        ]
        loan = (LoanRow, LoanRow.id == InstallmentRow.loan_id)
        due: dict[str, Decimal] = defaultdict(Decimal)
        for column in (InstallmentRow.principal, InstallmentRow.interest, InstallmentRow.fees):
            part = await self._sums(
                [LoanRow.currency], column, base=InstallmentRow, joins=[loan], where=in_period
            )
            for (currency,), amount in part.items():
                due[str(currency)] += amount
        paid_where: list[Any] = [
            *in_period,
            PaymentAllocationRow.active.is_(True),
            PaymentAllocationRow.component.in_(("principal", "interest", "fees")),
            PaymentRow.value_date <= end,
            _not_reversed_by(end, recorded_by),
        ]
        if recorded_by is not None:
            paid_where.append(PaymentRow.received_at <= recorded_by)
        paid = await self._sums(
            [LoanRow.currency],
            PaymentAllocationRow.amount,
            base=InstallmentRow,
            joins=[
                loan,
                (
                    PaymentAllocationRow,
                    and_(
                        PaymentAllocationRow.loan_id == InstallmentRow.loan_id,
                        PaymentAllocationRow.installment_number == InstallmentRow.number,
                    ),
                ),
                (PaymentRow, PaymentRow.id == PaymentAllocationRow.payment_id),
                (_REVERSAL, _REVERSAL.id == PaymentRow.reversal_entry_id, True),
            ],
            where=paid_where,
        )
        return {currency: (owed, paid.get((currency,), ZERO)) for currency, owed in due.items()}

    async def maturities(self) -> dict[str, date]:
        """Per loan: the last due date of its current schedule."""
        stmt = (
            select(InstallmentRow.loan_id, func.max(InstallmentRow.due_date))
            .join(LoanRow, LoanRow.id == InstallmentRow.loan_id)
            .where(InstallmentRow.schedule_version == LoanRow.schedule_version)
            .group_by(InstallmentRow.loan_id)
        )
        return {str(k): v for k, v in (await self.session.execute(stmt)).all()}

    async def paid_to_date(self, cutoff: Cutoff) -> dict[str, tuple[Decimal, date | None]]:
        """Per loan: money received net of reversals (from the ledger) and the value date of
        the last payment not reversed by the cutoff. Money received is cash, plus what a
        renewal's disbursement settled the loan with (its postings tagged to the loan)."""
        cash = await self._sums(
            [posting_loan_id()],
            PostingRow.amount,
            base=JournalEntryRow,
            side=PostingRow.side,
            joins=[(PostingRow, PostingRow.entry_id == JournalEntryRow.id)],
            where=[
                JournalEntryRow.entry_type.in_(PAYMENT_ENTRIES),
                PostingRow.account == "cash_clearing",
                *cutoff.entries(),
            ],
        )
        settled = await self._sums(
            [PostingRow.loan_id],
            PostingRow.amount,
            base=JournalEntryRow,
            joins=[(PostingRow, PostingRow.entry_id == JournalEntryRow.id)],
            where=[
                JournalEntryRow.entry_type == "disbursement",
                PostingRow.loan_id.is_not(None),
                PostingRow.loan_id != JournalEntryRow.loan_id,
                PostingRow.side == "credit",
                *cutoff.entries(),
            ],
        )
        for key, amount in settled.items():
            cash[key] = cash.get(key, ZERO) + amount
        live = _not_reversed_by(cutoff.as_of, cutoff.recorded_by)
        conditions: list[Any] = [PaymentRow.value_date <= cutoff.as_of]
        if cutoff.recorded_by is not None:
            conditions.append(PaymentRow.received_at <= cutoff.recorded_by)
        last = (
            select(PaymentRow.loan_id, func.max(PaymentRow.value_date))
            .outerjoin(_REVERSAL, _REVERSAL.id == PaymentRow.reversal_entry_id)
            .where(live, *conditions)
            .group_by(PaymentRow.loan_id)
        )
        totals = {str(loan_id): total for (loan_id,), total in cash.items()}
        dates = {str(k): v for k, v in (await self.session.execute(last)).all()}
        return {
            loan_id: (totals.get(loan_id, ZERO), dates.get(loan_id))
            for loan_id in set(totals) | set(dates)
        }


_REVERSAL = aliased(JournalEntryRow, name="reversal")


def _not_reversed_by(as_of: date, recorded_by: datetime | None) -> Any:
    """A payment whose reversal (if any) is not yet effective, or not yet recorded, by then."""
    later = _REVERSAL.effective_date > as_of
    if recorded_by is not None:
        later = or_(later, _REVERSAL.created_at > recorded_by)
    return or_(PaymentRow.reversal_entry_id.is_(None), later)
