"""Close of business SQL: set-based reads and writes over one loan-id range at a time.

Every statement covers a whole chunk (a range of loan ids). On PostgreSQL the day's
accrual and penalties are computed and written by one statement each, on exact numerics
and integers in minor units (the domain's rules, rounded by ``lms_round_div``). SQLite keeps
exact decimals as text and would add them up as floats, so there money is never added up
in SQL: one SELECT per step brings in only the rows the step needs (the installment in
progress, the overdue ones), the service computes with the domain's exact functions, and
the writes are multi-row statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from lms.adapters.ledger_scope import loan_postings
from lms.adapters.orm import (
    ChargeRow,
    CobChunkRow,
    CobRunRow,
    DelinquencyHistoryRow,
    InstallmentRow,
    InterestAccrualRow,
    JournalEntryRow,
    LoanRow,
    PostingRow,
)
from lms.adapters.repository import NewJournalEntry, bulk_insert

_LOANS = cast(Table, LoanRow.__table__)
_INSTALLMENTS = cast(Table, InstallmentRow.__table__)
_ENTRIES = cast(Table, JournalEntryRow.__table__)
_POSTINGS = cast(Table, PostingRow.__table__)
_CHARGES = cast(Table, ChargeRow.__table__)
_ACCRUALS = cast(Table, InterestAccrualRow.__table__)
_HISTORY = cast(Table, DelinquencyHistoryRow.__table__)
_CHUNKS = cast(Table, CobChunkRow.__table__)

ACTIVE = "active"
OVERDUE = "overdue"
DUE = "due"
PENDING = "pending"
CHUNK_DONE = "done"
CHUNK_PENDING = "pending"


def penalty_reference(on: date) -> str:
    """The reference of a loan's journal entry for the penalties close of business charged
    it on one business date."""
    return f"COB:{on}:penalties"


@dataclass(frozen=True, slots=True)
class LoanRange:
    """Loan ids from `low` (inclusive, '' for no bound) to `high` (exclusive, '' for none)."""

    low: str
    high: str

    def condition(self, column: Any) -> Any:
        """The WHERE clause that selects this range on a loan-id column."""
        parts = []
        if self.low:
            parts.append(column >= self.low)
        if self.high:
            parts.append(column < self.high)
        return and_(literal(True), *parts)


@dataclass(frozen=True, slots=True)
class AccrualInput:
    """A loan's installment in progress on the business date."""

    loan_id: str
    currency: str
    rounding_mode: str
    interest: Decimal
    start: date
    due: date


@dataclass(frozen=True, slots=True)
class OverdueRow:
    """An overdue installment with its loan's penalty terms and delinquency state."""

    loan_id: str
    number: int
    due_date: date
    remaining_principal_interest: Decimal
    remaining: Decimal
    late_fee_charged: bool
    currency: str
    rounding_mode: str
    product_code: str
    late_fee_flat: Decimal
    penalty_rate_annual: Decimal
    penalty_grace_days: int
    event_seq: int


@dataclass(frozen=True, slots=True)
class LoanDelinquencyState:
    """A loan's stored delinquency (for loans that are or were delinquent)."""

    loan_id: str
    status: str
    currency: str
    product_code: str
    days_past_due: int
    bucket: str


class CobRepository:
    """The close-of-business reads and writes of one chunk, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def is_postgresql(self) -> bool:
        """Whether the database is PostgreSQL (row locks, COPY, UPDATE ... FROM)."""
        return self.session.get_bind().dialect.name == "postgresql"

    # -- runs and checkpoints ---------------------------------------------------------

    async def last_closed_date(self) -> date | None:
        """The latest business date whose run completed."""
        return cast(
            date | None,
            await self.session.scalar(
                select(func.max(CobRunRow.business_date)).where(CobRunRow.status == "completed")
            ),
        )

    async def run(self, business_date: date, *, lock: bool = False) -> CobRunRow | None:
        """The run of a business date (row-locked on PostgreSQL when asked)."""
        stmt = select(CobRunRow).where(CobRunRow.business_date == business_date)
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def runs(self, *, limit: int, offset: int) -> tuple[Sequence[CobRunRow], int]:
        """A page of runs, latest business date first, and the total."""
        total = await self.session.scalar(select(func.count()).select_from(CobRunRow))
        stmt = (
            select(CobRunRow).order_by(CobRunRow.business_date.desc()).limit(limit).offset(offset)
        )
        return (await self.session.scalars(stmt)).all(), int(total or 0)

    async def chunk_bounds(self, size: int) -> list[str]:
        """The first loan id of every chunk of `size` active loans after the first (ids in
        the database's own order); the database numbers the loans, only the bounds come
        back."""
        numbered = (
            select(
                LoanRow.id.label("id"),
                func.row_number().over(order_by=LoanRow.id).label("k"),
            )
            .where(LoanRow.status == ACTIVE)
            .subquery()
        )
        stmt = (
            select(numbered.c.id)
            .where(numbered.c.k > size, (numbered.c.k - 1) % size == 0)
            .order_by(numbered.c.k)
        )
        return [str(i) for i in (await self.session.scalars(stmt)).all()]

    async def add_chunks(self, business_date: date, ranges: Sequence[LoanRange]) -> None:
        """The chunk plan of a run, every chunk pending."""
        await self.session.execute(
            insert(_CHUNKS),
            [
                {
                    "business_date": business_date,
                    "chunk_no": k,
                    "first_loan_id": r.low,
                    "last_loan_id": r.high,
                    "status": CHUNK_PENDING,
                    "loans_processed": 0,
                    "timings": None,
                    "finished_at": None,
                }
                for k, r in enumerate(ranges)
            ],
        )

    async def chunks(self, business_date: date) -> Sequence[CobChunkRow]:
        """Every chunk of a run, in order."""
        stmt = (
            select(CobChunkRow)
            .where(CobChunkRow.business_date == business_date)
            .order_by(CobChunkRow.chunk_no)
        )
        return (await self.session.scalars(stmt)).all()

    async def claim_chunk(self, business_date: date, chunk_no: int) -> CobChunkRow | None:
        """The chunk, locked, if it is still pending (another worker may have done it)."""
        stmt = (
            select(CobChunkRow)
            .where(CobChunkRow.business_date == business_date, CobChunkRow.chunk_no == chunk_no)
            .with_for_update()
        )
        chunk = (await self.session.scalars(stmt)).one_or_none()
        return chunk if chunk is not None and chunk.status == CHUNK_PENDING else None

    # -- the chunk's loans ------------------------------------------------------------

    async def tune_chunk_transaction(self) -> None:
        """PostgreSQL, for the chunk's transaction only:

        - no JIT: the chunk's plans cost enough to cross the JIT threshold, but compiling
          (about 0.1 s per statement, measured with EXPLAIN ANALYZE on a 10,000-loan
          chunk) costs more than it saves on that many rows;
        - a plan for each statement's own values: the driver prepares statements, and after
          five runs PostgreSQL may keep a generic plan that cannot see how few installments
          ``status = 'pending' AND due_date < <the date>`` selects, and walks the chunk's
          every installment instead of the (status, due_date) index. Planning a chunk's
          statement takes about a millisecond; running it, tens to hundreds.
        """
        if self.is_postgresql:
            await self.session.execute(text("SET LOCAL jit = off"))
            await self.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    async def lock_loans(self, loans: LoanRange) -> int:
        """Make the chunk's active loans its own until commit; returns how many it holds.

        PostgreSQL: one ``SELECT ... FOR UPDATE`` over them. It waits for any writer that
        holds one of them (a writer locks its loan before reading it), and a writer that
        comes later waits for the chunk and then reads what the chunk wrote. A row lock
        writes no new row version and touches no index: on 100,000 loans it cost 0.09 to
        0.15 s against 1.9 to 2.2 s for bumping every row_version (measured on a copy of
        the benchmark's seed).

        SQLite has one writer, and a reader's snapshot may predate the chunk: there every
        active loan of the chunk gets a new row_version, so a payment that read its loan
        before the chunk committed fails its optimistic version check (409
        ``concurrent_update``) instead of overwriting the chunk's work.
        """
        if self.is_postgresql:
            locked = (
                select(_LOANS.c.id)
                .where(_LOANS.c.status == ACTIVE, loans.condition(_LOANS.c.id))
                .with_for_update()
                .subquery()
            )
            return int(await self.session.scalar(select(func.count()).select_from(locked)) or 0)
        result = await self.session.execute(
            update(_LOANS)
            .where(_LOANS.c.status == ACTIVE, loans.condition(_LOANS.c.id))
            .values(row_version=_LOANS.c.row_version + 1)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- accrual ----------------------------------------------------------------------

    async def accrual_inputs(self, loans: LoanRange, on: date) -> list[AccrualInput]:
        """Per active loan, the installment whose period holds `on` (start < on <= due)."""
        i = aliased(InstallmentRow, name="i")
        p = aliased(InstallmentRow, name="p")
        start = func.coalesce(p.due_date, LoanRow.disbursement_date)
        stmt = (
            select(
                LoanRow.id,
                LoanRow.currency,
                LoanRow.rounding_mode,
                i.interest,
                start,
                i.due_date,
            )
            .join(
                i,
                and_(i.loan_id == LoanRow.id, i.schedule_version == LoanRow.schedule_version),
            )
            .outerjoin(
                p,
                and_(
                    p.loan_id == i.loan_id,
                    p.schedule_version == i.schedule_version,
                    p.number == i.number - 1,
                ),
            )
            .where(
                LoanRow.status == ACTIVE,
                loans.condition(LoanRow.id),
                i.due_date >= on,
                start < on,
            )
        )
        rows = (await self.session.execute(stmt)).all()
        return [AccrualInput(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def _range_sql(self, loans: LoanRange, column: str) -> tuple[str, dict[str, Any]]:
        parts, params = ["TRUE"], {}
        if loans.low:
            parts.append(f"{column} >= :low")
            params["low"] = loans.low
        if loans.high:
            parts.append(f"{column} < :high")
            params["high"] = loans.high
        return " AND ".join(parts), params

    async def reserve_accrual_entries(self, loans: LoanRange) -> dict[str, int]:
        """PostgreSQL: a journal entry id per currency of the range's active loans, drawn
        from the entries' sequence (one statement); a currency that accrues nothing that
        day leaves its id unused."""
        where, params = self._range_sql(loans, "l.id")
        rows = await self.session.execute(
            text(
                # Only fixed SQL is interpolated (the range uses bind parameters).
                "SELECT c.currency, nextval(pg_get_serial_sequence('journal_entries', 'id'))"  # noqa: S608
                " FROM (SELECT DISTINCT l.currency FROM loans AS l"
                f" WHERE l.status = 'active' AND {where}) AS c"
            ),
            params,
        )
        return {str(c): int(i) for c, i in rows.all()}

    async def accrue_day(
        self, loans: LoanRange, on: date, minor_units: dict[str, int], entry_ids: dict[str, int]
    ) -> dict[str, Decimal]:
        """PostgreSQL: the day's accrual of every active loan of the range, computed and
        written as detail rows (each with its currency's entry id) in one INSERT ... SELECT
        on exact numerics (lms_round_div, the domain's cumulative rule); returns the total
        per currency, from the rows written.

        The period a loan accrues in comes from the loan row (``accrual_version``,
        ``accrual_start``, ``accrual_due``, ``accrual_interest``) while that is the loan's
        schedule version and `on` falls in it; a schedule version's installments never
        change their dates or interest, so such a period is the one the schedule gives.
        Otherwise the installment in progress and the one before it are found through the
        (loan_id, schedule_version, number) index, and the same statement stores the
        period on the loan for the next days."""
        if not entry_ids:
            return {}
        where, params = self._range_sql(loans, "l.id")
        # `hit` is a condition on the loan row alone: inside the lateral lookup PostgreSQL
        # evaluates it once per loan before touching the index (a one-time filter).
        # Amounts go to integer minor units. Schedule amounts are at the currency's minor
        # unit; anything else gives a NULL amount, which the NOT NULL column refuses (the
        # whole chunk rolls back).
        statement = text(
            # Only fixed SQL is interpolated (the range uses bind parameters).
            "WITH period AS MATERIALIZED ("  # noqa: S608
            " SELECT l.id AS loan_id, l.currency, l.rounding_mode, c.units, e.id AS entry_id,"
            "  k.hit,"
            "  CASE WHEN k.hit THEN l.accrual_start"
            "   ELSE COALESCE(p.due_date, l.disbursement_date) END AS start,"
            "  CASE WHEN k.hit THEN l.accrual_due ELSE i.due_date END AS due,"
            "  CASE WHEN k.hit THEN l.accrual_interest ELSE i.interest END AS interest"
            " FROM loans AS l"
            " CROSS JOIN LATERAL (SELECT COALESCE(l.accrual_version = l.schedule_version"
            "  AND l.accrual_start < CAST(:on AS date)"
            "  AND l.accrual_due >= CAST(:on AS date), FALSE) AS hit) AS k"
            " LEFT JOIN LATERAL (SELECT i.number, i.due_date, i.interest"
            "  FROM installments AS i WHERE NOT k.hit AND i.loan_id = l.id"
            "  AND i.schedule_version = l.schedule_version"
            "  AND i.due_date >= CAST(:on AS date) ORDER BY i.number LIMIT 1) AS i ON TRUE"
            " LEFT JOIN LATERAL (SELECT p.due_date FROM installments AS p"
            "  WHERE i.number IS NOT NULL AND p.loan_id = l.id"
            "  AND p.schedule_version = l.schedule_version"
            "  AND p.number = i.number - 1 LIMIT 1) AS p ON TRUE"
            " JOIN unnest(CAST(:codes AS varchar[]), CAST(:units AS integer[]))"
            "  AS c(code, units) ON c.code = l.currency"
            " JOIN unnest(CAST(:currencies AS varchar[]), CAST(:ids AS bigint[]))"
            "  AS e(currency, id) ON e.currency = l.currency"
            f" WHERE l.status = 'active' AND {where}"
            "), kept AS ("
            " UPDATE loans AS l SET accrual_version = l.schedule_version,"
            "  accrual_start = t.start, accrual_due = t.due, accrual_interest = t.interest"
            " FROM period AS t WHERE l.id = t.loan_id AND NOT t.hit AND t.due IS NOT NULL"
            "  AND t.start < CAST(:on AS date)"
            "), written AS ("
            " INSERT INTO interest_accruals (loan_id, business_date, currency, amount, entry_id)"
            " SELECT loan_id, CAST(:on AS date), currency, CASE WHEN exact"
            "  THEN round((a1 - a0)::numeric / power(10::numeric, units), units) END, entry_id"
            " FROM ("
            " SELECT b.loan_id, b.currency, b.units, b.entry_id, b.exact,"
            "  lms_round_div(b.m * b.e, b.n, b.rounding_mode) AS a1,"
            "  lms_round_div(b.m * (b.e - 1), b.n, b.rounding_mode) AS a0"
            " FROM ("
            " SELECT t.loan_id, t.currency, t.units, t.entry_id, t.rounding_mode,"
            "  x.m = trunc(x.m) AS exact, x.m::bigint AS m,"
            "  CAST(:on AS date) - t.start AS e, t.due - t.start AS n"
            " FROM period AS t"
            " CROSS JOIN LATERAL (SELECT t.interest * power(10::numeric, t.units) AS m) AS x"
            " WHERE t.due IS NOT NULL AND t.start < CAST(:on AS date)"
            # OFFSET 0 keeps each level a subquery of its own, so the numeric arithmetic
            # runs once per loan instead of once per use in the inlined lms_round_div.
            " OFFSET 0) AS b OFFSET 0) AS a WHERE a1 <> a0 OR NOT exact"
            " RETURNING currency, amount"
            ") SELECT currency, sum(amount) FROM written GROUP BY currency"
        )
        try:
            rows = await self.session.execute(
                statement,
                {
                    **params,
                    "on": on,
                    "codes": list(minor_units),
                    "units": list(minor_units.values()),
                    "currencies": list(entry_ids),
                    "ids": list(entry_ids.values()),
                },
            )
        except IntegrityError as exc:
            raise ValueError(
                f"loans {loans.low or '(first)'}..{loans.high or '(last)'}: an installment's"
                " interest is not in the currency's minor units"
            ) from exc
        return {str(c): Decimal(a) for c, a in rows.all()}

    async def insert_accruals(self, rows: list[dict[str, Any]]) -> None:
        """The accrual detail rows (COPY on PostgreSQL)."""
        await bulk_insert(self.session, _ACCRUALS, rows)

    async def insert_entries(
        self, entries: Sequence[NewJournalEntry], ids: Sequence[int] | None = None
    ) -> list[int]:
        """Journal entries with their postings, two statements; returns the entry ids.

        PostgreSQL: `ids` already drawn from the entries' sequence (one per entry) are used
        as they are; otherwise they are drawn here."""
        if not entries:
            return []
        if self.is_postgresql:
            # Ids drawn from the sequence in one query, then COPY for both tables.
            ids = (
                ids
                if ids is not None
                else list(
                    (
                        await self.session.execute(
                            text(
                                "SELECT nextval(pg_get_serial_sequence('journal_entries', 'id')) "
                                "FROM generate_series(1, :n)"
                            ),
                            {"n": len(entries)},
                        )
                    )
                    .scalars()
                    .all()
                )
            )
            await bulk_insert(
                self.session,
                _ENTRIES,
                [{"id": i, **e.entry} for i, e in zip(ids, entries, strict=True)],
            )
            await bulk_insert(
                self.session,
                _POSTINGS,
                [
                    {**posting, "entry_id": entry_id}
                    for entry_id, e in zip(ids, entries, strict=True)
                    for posting in e.postings
                ],
            )
            return [int(i) for i in ids]
        ids = list(
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
        return ids

    # -- due and overdue --------------------------------------------------------------

    def _current_active(self, loans: LoanRange) -> Any:
        """Installments of the current schedule of an active loan in the range (the range
        is stated on both tables, so the loans side reads only the chunk's rows)."""
        return and_(
            loans.condition(_INSTALLMENTS.c.loan_id),
            exists().where(
                _LOANS.c.id == _INSTALLMENTS.c.loan_id,
                _LOANS.c.status == ACTIVE,
                _LOANS.c.schedule_version == _INSTALLMENTS.c.schedule_version,
                loans.condition(_LOANS.c.id),
            ),
        )

    async def mark_due_and_overdue(self, loans: LoanRange, on: date) -> tuple[int, int]:
        """Pending installments falling due on `on` become due; unpaid ones past it overdue.

        One statement per status change, each selective on the (status, due_date) index:
        the pending ones due that day, the due ones whose day has passed, and the pending
        ones already past their day (a schedule written after that date closed)."""
        counts = []
        for status, when, to in (
            (PENDING, _INSTALLMENTS.c.due_date == on, DUE),
            (DUE, _INSTALLMENTS.c.due_date < on, OVERDUE),
            (PENDING, _INSTALLMENTS.c.due_date < on, OVERDUE),
        ):
            result = await self.session.execute(
                update(_INSTALLMENTS)
                .where(_INSTALLMENTS.c.status == status, when, self._current_active(loans))
                .values(status=to)
            )
            counts.append(int(getattr(result, "rowcount", 0) or 0))
        return counts[0], counts[1] + counts[2]

    # -- penalties and delinquency ----------------------------------------------------

    async def overdue_installments(self, loans: LoanRange) -> list[OverdueRow]:
        """Overdue installments of the chunk's active loans with their penalty terms."""
        i = _INSTALLMENTS
        l_ = _LOANS
        late_fee = (
            exists()
            .where(
                _CHARGES.c.loan_id == i.c.loan_id,
                _CHARGES.c.installment_number == i.c.number,
                _CHARGES.c.reason == "late_fee",
            )
            .label("late_fee_charged")
        )
        stmt = (
            select(
                i.c.loan_id,
                i.c.number,
                i.c.due_date,
                i.c.principal,
                i.c.interest,
                i.c.fees,
                i.c.penalties,
                i.c.paid_principal,
                i.c.paid_interest,
                i.c.paid_fees,
                i.c.paid_penalties,
                late_fee,
                l_.c.currency,
                l_.c.rounding_mode,
                l_.c.product_code,
                l_.c.penalty_late_fee_flat,
                l_.c.penalty_rate_annual,
                l_.c.penalty_grace_days,
                l_.c.event_seq,
            )
            .join(l_, and_(l_.c.id == i.c.loan_id, l_.c.schedule_version == i.c.schedule_version))
            .where(i.c.status == OVERDUE, l_.c.status == ACTIVE, loans.condition(i.c.loan_id))
            .order_by(i.c.loan_id, i.c.number)
        )
        out = []
        for r in (await self.session.execute(stmt)).all():
            m = r._mapping
            pi = (m["principal"] - m["paid_principal"]) + (m["interest"] - m["paid_interest"])
            remaining = pi + (m["fees"] - m["paid_fees"]) + (m["penalties"] - m["paid_penalties"])
            out.append(
                OverdueRow(
                    loan_id=m["loan_id"],
                    number=m["number"],
                    due_date=m["due_date"],
                    remaining_principal_interest=pi,
                    remaining=remaining,
                    late_fee_charged=bool(m["late_fee_charged"]),
                    currency=m["currency"],
                    rounding_mode=m["rounding_mode"],
                    product_code=m["product_code"],
                    late_fee_flat=m["penalty_late_fee_flat"],
                    penalty_rate_annual=m["penalty_rate_annual"],
                    penalty_grace_days=m["penalty_grace_days"],
                    event_seq=m["event_seq"],
                )
            )
        return out

    async def charge_penalties_in_sql(
        self,
        loans: LoanRange,
        on: date,
        now: datetime,
        minor_units: dict[str, int],
        accounts: tuple[str, str],
    ) -> tuple[dict[str, date], dict[str, Decimal]]:
        """PostgreSQL: the day's penalties of the range's active loans, computed and written
        in one statement, which also returns what delinquency needs: per loan with anything
        owed on an overdue installment (the day's penalties included), the oldest such
        installment's due date and the total owed on them.

        The rule is lms.domain.cob.penalties_for_day, on exact integers in minor units
        (lms_round_div with the loan's rounding mode): installments overdue by more than
        the loan's grace days are late; each late one not yet charged its late fee gets
        ``round(late_fee_flat)``; the oldest late one gets ``round(principal and interest
        owed on all late ones x penalty_rate_annual / 365)`` when that is above zero. Each
        charge is written as the service path writes it: a charge row (numbered from the
        loan's event_seq: late fees oldest first, then penalty interest), one balanced entry
        per loan for the day's charges (`accounts`: receivable debited, income credited,
        reference penalty_reference(on)), the installment's penalties and total raised, and
        the loan's event_seq moved past its charges. An
        amount that is not in the currency's minor units gives NULL, which the NOT NULL
        columns refuse (the chunk rolls back).
        """
        # The range is stated on both tables: the chunk's overdue installments come from
        # the partial index ix_installments_overdue.
        where, params = self._range_sql(loans, "l.id")
        where_i, _ = self._range_sql(loans, "i.loan_id")
        receivable, income = accounts
        statement = text(
            # Only fixed SQL is interpolated (the range uses bind parameters).
            "WITH overdue AS MATERIALIZED ("  # noqa: S608
            " SELECT i.loan_id, i.number, i.due_date, l.currency, l.rounding_mode,"
            "  l.event_seq, c.units, l.penalty_late_fee_flat AS fee,"
            "  l.penalty_rate_annual AS rate,"
            "  CAST(:on AS date) - i.due_date > l.penalty_grace_days AS late,"
            "  (i.principal - i.paid_principal) + (i.interest - i.paid_interest) AS pi,"
            "  (i.principal - i.paid_principal) + (i.interest - i.paid_interest)"
            "  + (i.fees - i.paid_fees) + (i.penalties - i.paid_penalties) AS owed"
            " FROM installments AS i"
            " JOIN loans AS l ON l.id = i.loan_id AND l.schedule_version = i.schedule_version"
            " JOIN unnest(CAST(:codes AS varchar[]), CAST(:units AS integer[]))"
            "  AS c(code, units) ON c.code = l.currency"
            f" WHERE i.status = 'overdue' AND l.status = 'active' AND {where} AND {where_i}"
            "), late AS ("
            " SELECT o.*, o.pi * power(10::numeric, o.units) AS pi_minor,"
            "  EXISTS (SELECT 1 FROM charges AS f WHERE f.loan_id = o.loan_id"
            "   AND f.installment_number = o.number AND f.reason = 'late_fee') AS fee_charged,"
            "  row_number() OVER (PARTITION BY o.loan_id ORDER BY o.due_date, o.number) AS k"
            " FROM overdue AS o WHERE o.late"
            # The numerators and denominators are worked out once per row in a subquery of
            # their own (OFFSET 0), not once per use in the inlined lms_round_div.
            "), raw AS ("
            " SELECT loan_id, number, currency, event_seq, units, 0 AS kind, k,"
            "  'late_fee' AS reason, lms_round_div(n, d, rounding_mode) AS minor"
            " FROM (SELECT loan_id, number, currency, event_seq, units, k, rounding_mode,"
            "  (fee * power(10::numeric, units + scale(fee)))::bigint AS n,"
            "  power(10::numeric, scale(fee))::bigint AS d"
            "  FROM late WHERE fee > 0 AND NOT fee_charged OFFSET 0) AS f"
            " UNION ALL"
            " SELECT loan_id, number, currency, event_seq, units, 1, 1, 'penalty_interest',"
            "  CASE WHEN exact THEN lms_round_div(n, d, rounding_mode) END"
            " FROM (SELECT loan_id, min(number) FILTER (WHERE k = 1) AS number, currency,"
            "  event_seq, units, rounding_mode, bool_and(pi_minor = trunc(pi_minor)) AS exact,"
            "  sum(pi_minor)::bigint * (rate * power(10::numeric, scale(rate)))::bigint AS n,"
            "  365 * power(10::numeric, scale(rate))::bigint AS d"
            "  FROM late WHERE rate > 0"
            "  GROUP BY loan_id, currency, event_seq, units, rate, rounding_mode OFFSET 0) AS p"
            "), charged AS MATERIALIZED ("
            " SELECT loan_id, number, currency, reason,"
            "  'CHG-' || replace(gen_random_uuid()::text, '-', '') AS id,"
            "  event_seq + row_number() OVER (PARTITION BY loan_id ORDER BY kind, k) AS seq,"
            "  round(minor::numeric / power(10::numeric, units), units) AS amount"
            " FROM raw WHERE kind = 0 OR minor IS NULL OR minor > 0"
            "), added AS ("
            " SELECT loan_id, number, sum(amount) AS amount FROM charged"
            " GROUP BY loan_id, number"
            "), day_entries AS MATERIALIZED ("
            " SELECT loan_id, currency, sum(amount) AS amount,"
            "  nextval(pg_get_serial_sequence('journal_entries', 'id')) AS entry_id"
            " FROM charged GROUP BY loan_id, currency"
            "), entries AS ("
            " INSERT INTO journal_entries (id, loan_id, entry_type, currency, effective_date,"
            "  created_at, source_event_id, reference)"
            " SELECT entry_id, loan_id, 'charge_penalties', currency, CAST(:on AS date),"
            "  CAST(:now AS timestamptz), NULL, CAST(:reference AS varchar) FROM day_entries"
            "), posted AS ("
            " INSERT INTO postings (entry_id, account, side, amount, currency)"
            " SELECT entry_id, CAST(:receivable AS varchar), 'debit', amount, currency"
            "  FROM day_entries UNION ALL"
            " SELECT entry_id, CAST(:income AS varchar), 'credit', amount, currency"
            "  FROM day_entries"
            "), charge_rows AS ("
            " INSERT INTO charges (id, loan_id, installment_number, component, amount,"
            "  currency, charge_date, reason, seq, created_at, entry_id)"
            " SELECT c.id, c.loan_id, c.number, 'penalties', c.amount, c.currency,"
            "  CAST(:on AS date), c.reason, c.seq, CAST(:now AS timestamptz), e.entry_id"
            " FROM charged AS c JOIN day_entries AS e ON e.loan_id = c.loan_id"
            "), raised AS ("
            " UPDATE installments AS i SET penalties = i.penalties + a.amount,"
            "  total = i.total + a.amount"
            " FROM added AS a, loans AS l"
            " WHERE i.loan_id = a.loan_id AND i.number = a.number"
            "  AND l.id = i.loan_id AND i.schedule_version = l.schedule_version"
            "), numbered AS ("
            " UPDATE loans AS l SET event_seq = a.seq"
            " FROM (SELECT loan_id, max(seq) AS seq FROM charged GROUP BY loan_id) AS a"
            " WHERE l.id = a.loan_id"
            ") SELECT loan_id, min(due_date), sum(owed) FROM ("
            " SELECT o.loan_id, o.due_date, o.owed + COALESCE(a.amount, 0) AS owed"
            " FROM overdue AS o"
            " LEFT JOIN added AS a ON a.loan_id = o.loan_id AND a.number = o.number"
            ") AS t WHERE owed > 0 GROUP BY loan_id"
        )
        try:
            rows = await self.session.execute(
                statement,
                {
                    **params,
                    "on": on,
                    "now": now,
                    "codes": list(minor_units),
                    "units": list(minor_units.values()),
                    "receivable": receivable,
                    "income": income,
                    "reference": penalty_reference(on),
                },
            )
        except IntegrityError as exc:
            raise ValueError(
                f"loans {loans.low or '(first)'}..{loans.high or '(last)'}: an overdue"
                " installment or penalty term is not in the currency's minor units"
            ) from exc
        oldest: dict[str, date] = {}
        owed: dict[str, Decimal] = {}
        for loan_id, due, amount in rows.all():
            oldest[loan_id] = due
            owed[loan_id] = Decimal(amount)
        return oldest, owed

    async def delinquency_states(self, loans: LoanRange) -> list[LoanDelinquencyState]:
        """Loans of the range that are stored as delinquent or have an overdue installment:
        every loan whose delinquency can differ from what is stored (a few more at most,
        whose state then comes out unchanged). The overdue ones are read once, from the
        partial index ix_installments_overdue."""
        overdue = select(_INSTALLMENTS.c.loan_id).where(
            _INSTALLMENTS.c.status == OVERDUE, loans.condition(_INSTALLMENTS.c.loan_id)
        )
        conditions = [
            LoanRow.days_past_due > 0,
            LoanRow.delinquency_bucket != "current",
            LoanRow.id.in_(overdue),
        ]
        stmt = select(
            LoanRow.id,
            LoanRow.status,
            LoanRow.currency,
            LoanRow.product_code,
            LoanRow.days_past_due,
            LoanRow.delinquency_bucket,
        ).where(loans.condition(LoanRow.id), or_(*conditions))
        return [LoanDelinquencyState(*r) for r in (await self.session.execute(stmt)).all()]

    async def insert_charges(self, rows: list[dict[str, Any]]) -> None:
        """Penalty charges (their entries already written)."""
        await bulk_insert(self.session, _CHARGES, rows)

    async def add_installment_penalties(self, rows: list[tuple[str, int, Decimal]]) -> None:
        """Add each (loan, installment number, amount) to the current installment's penalties
        and total: numeric addition in SQL on PostgreSQL; on SQLite (text decimals) the
        figures are read once for the set, added exactly in Python and written back."""
        if not rows:
            return
        if self.is_postgresql:
            await self.session.execute(
                text(
                    "UPDATE installments AS i SET penalties = i.penalties + v.amount,"
                    " total = i.total + v.amount"
                    " FROM (SELECT unnest(CAST(:loans AS varchar[])) AS loan_id,"
                    " unnest(CAST(:numbers AS integer[])) AS number,"
                    " unnest(CAST(:amounts AS numeric[])) AS amount) AS v, loans AS l"
                    " WHERE i.loan_id = v.loan_id AND i.number = v.number"
                    " AND l.id = i.loan_id AND i.schedule_version = l.schedule_version"
                ),
                {
                    "loans": [r[0] for r in rows],
                    "numbers": [r[1] for r in rows],
                    "amounts": [r[2] for r in rows],
                },
            )
            return
        current = (
            select(_LOANS.c.schedule_version)
            .where(_LOANS.c.id == _INSTALLMENTS.c.loan_id)
            .scalar_subquery()
        )
        stmt = (
            update(_INSTALLMENTS)
            .where(
                _INSTALLMENTS.c.loan_id == bindparam("b_loan"),
                _INSTALLMENTS.c.number == bindparam("b_number"),
                _INSTALLMENTS.c.schedule_version == current,
            )
            .values(penalties=bindparam("b_penalties"), total=bindparam("b_total"))
        )
        # Read the current figures once for the whole set, add exactly, write back.
        keys = {(loan, number) for loan, number, _ in rows}
        loan_ids = sorted({loan for loan, _ in keys})
        found = (
            await self.session.execute(
                select(
                    _INSTALLMENTS.c.loan_id,
                    _INSTALLMENTS.c.number,
                    _INSTALLMENTS.c.penalties,
                    _INSTALLMENTS.c.total,
                )
                .join(
                    _LOANS,
                    and_(
                        _LOANS.c.id == _INSTALLMENTS.c.loan_id,
                        _LOANS.c.schedule_version == _INSTALLMENTS.c.schedule_version,
                    ),
                )
                .where(_INSTALLMENTS.c.loan_id.in_(loan_ids))
            )
        ).all()
        figures = {(r[0], r[1]): [r[2], r[3]] for r in found if (r[0], r[1]) in keys}
        for loan, number, amount in rows:
            figures[(loan, number)][0] += amount
            figures[(loan, number)][1] += amount
        params = [
            {"b_loan": loan, "b_number": number, "b_penalties": p, "b_total": t}
            for (loan, number), (p, t) in figures.items()
        ]
        await self.session.execute(stmt, params)

    async def set_event_seqs(self, seqs: dict[str, int]) -> None:
        """Each loan's event_seq after the chunk's charges took their numbers."""
        if not seqs:
            return
        if self.is_postgresql:
            await self.session.execute(
                text(
                    "UPDATE loans AS l SET event_seq = v.seq "
                    "FROM (SELECT unnest(CAST(:ids AS varchar[])) AS id, "
                    "unnest(CAST(:seqs AS integer[])) AS seq) AS v WHERE l.id = v.id"
                ),
                {"ids": list(seqs), "seqs": list(seqs.values())},
            )
            return
        await self.session.execute(
            update(_LOANS)
            .where(_LOANS.c.id == bindparam("b_id"))
            .values(event_seq=bindparam("b_seq")),
            [{"b_id": k, "b_seq": v} for k, v in seqs.items()],
        )

    async def set_delinquency(self, rows: list[tuple[str, int, str]]) -> None:
        """Store (loan, days past due, bucket) on each loan."""
        if not rows:
            return
        if self.is_postgresql:
            await self.session.execute(
                text(
                    "UPDATE loans AS l SET days_past_due = v.dpd, delinquency_bucket = v.bucket "
                    "FROM (SELECT unnest(CAST(:ids AS varchar[])) AS id, "
                    "unnest(CAST(:dpds AS integer[])) AS dpd, "
                    "unnest(CAST(:buckets AS varchar[])) AS bucket) AS v WHERE l.id = v.id"
                ),
                {
                    "ids": [r[0] for r in rows],
                    "dpds": [r[1] for r in rows],
                    "buckets": [r[2] for r in rows],
                },
            )
            return
        await self.session.execute(
            update(_LOANS)
            .where(_LOANS.c.id == bindparam("b_id"))
            .values(days_past_due=bindparam("b_dpd"), delinquency_bucket=bindparam("b_bucket")),
            [{"b_id": r[0], "b_dpd": r[1], "b_bucket": r[2]} for r in rows],
        )

    async def insert_history(self, rows: list[dict[str, Any]]) -> None:
        """Delinquency bucket changes (COPY on PostgreSQL)."""
        await bulk_insert(self.session, _HISTORY, rows)

    async def finish_chunk(
        self,
        business_date: date,
        chunk_no: int,
        loans: int,
        timings: dict[str, float],
        now: datetime,
    ) -> None:
        """The checkpoint: the chunk is done, in the same transaction as its work."""
        await self.session.execute(
            update(_CHUNKS)
            .where(_CHUNKS.c.business_date == business_date, _CHUNKS.c.chunk_no == chunk_no)
            .values(status=CHUNK_DONE, loans_processed=loans, timings=timings, finished_at=now)
        )

    # -- per-loan reads for payments --------------------------------------------------

    async def accrued_for_loan(self, loan_id: str) -> Decimal:
        """Everything close of business accrued on a loan (summed exactly in Python)."""
        stmt = select(InterestAccrualRow.amount).where(InterestAccrualRow.loan_id == loan_id)
        return sum((a for a in (await self.session.scalars(stmt)).all()), Decimal(0))

    async def loan_account_balance(
        self, loan_id: str, account: str, entry_type: str | None = None
    ) -> Decimal:
        """Debits minus credits on one account over the loan's postings (in entries of one
        type): its own entries' and those tagged to it in other loans' entries."""
        conditions: list[Any] = [PostingRow.account == account]
        if entry_type is not None:
            conditions.append(JournalEntryRow.entry_type == entry_type)
        stmt = loan_postings([PostingRow.side, PostingRow.amount], loan_id, *conditions)
        total = Decimal(0)
        for side, amount in (await self.session.execute(stmt)).all():
            total += amount if side == "debit" else -amount
        return total

    async def dangling_references(self) -> dict[str, int]:
        """Charges and accrual detail rows whose loan or journal entry does not exist, per
        kind (those tables carry no per-row foreign keys; see migrations 0009 and 0010)."""
        checks = {
            "charges_without_loan": (_CHARGES, _CHARGES.c.loan_id, _LOANS.c.id),
            "charges_without_entry": (_CHARGES, _CHARGES.c.entry_id, _ENTRIES.c.id),
            "accruals_without_loan": (_ACCRUALS, _ACCRUALS.c.loan_id, _LOANS.c.id),
            "accruals_without_entry": (_ACCRUALS, _ACCRUALS.c.entry_id, _ENTRIES.c.id),
        }
        out = {}
        for name, (table, column, target) in checks.items():
            stmt = select(func.count()).select_from(table).where(~exists().where(target == column))
            out[name] = int(await self.session.scalar(stmt) or 0)
        return out

    async def accrual_totals(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """Per loan the accrual detail total, and per currency the detail and the posted
        accrual entries' receivable debits net of credits (for reconciliation)."""
        per_loan: dict[str, Decimal] = {}
        per_currency: dict[str, Decimal] = {}
        stmt = select(
            InterestAccrualRow.loan_id, InterestAccrualRow.currency, InterestAccrualRow.amount
        )
        for loan_id, currency, amount in (await self.session.execute(stmt)).all():
            per_loan[loan_id] = per_loan.get(loan_id, Decimal(0)) + amount
            per_currency[currency] = per_currency.get(currency, Decimal(0)) + amount
        posted: dict[str, Decimal] = {}
        stmt2 = (
            select(PostingRow.currency, PostingRow.side, PostingRow.amount)
            .join(JournalEntryRow, JournalEntryRow.id == PostingRow.entry_id)
            .where(
                JournalEntryRow.entry_type == "interest_accrual",
                PostingRow.account == "interest_receivable",
            )
        )
        for currency, side, amount in (await self.session.execute(stmt2)).all():
            posted[currency] = posted.get(currency, Decimal(0)) + (
                amount if side == "debit" else -amount
            )
        return per_loan, {
            c: per_currency.get(c, Decimal(0)) - posted.get(c, Decimal(0))
            for c in set(per_currency) | set(posted)
        }
