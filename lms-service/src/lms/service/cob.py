"""Close of business: closes business dates one at a time, in chunks of loans.

A run belongs to one business date. Its chunk plan (loan-id ranges of the active loans)
is fixed when the run starts; each chunk runs every step for its loans in one transaction
that also marks the chunk done, so a run killed half-way resumes at the first chunk not
done, and running a chunk twice is impossible. Steps, per chunk and in order:

1. interest accrual for the day (domain.cob.accrual_for_day), one detail row per loan and
   one balanced entry per chunk and currency (debit interest_receivable, credit
   interest_income, loan_id empty, reference ``COB:<date>:<chunk>``); the entry commits
   with the chunk's checkpoint, so the ledger never holds half a chunk;
2. installments falling due (``due``) and past due (``overdue``);
3. penalties for overdue installments beyond the grace days (late fee once per
   installment, daily penalty interest), each a charge that the servicing replay applies
   like any other charge, with one balanced entry per loan for the day's charges
   (penalties_receivable / penalty_income, reference ``COB:<date>:penalties``);
4. days past due and delinquency bucket stored on the loan, a history row and a
   ``LoanDelinquencyChanged`` event (through the outbox) for each bucket change;
5. collections for the chunk's loans (lms.service.collections.run_collections_step):
   cases opened and closed, dunning tasks scheduled, promises kept or broken.

Concurrency with real-time payments (and every other change to a loan): each use case
that changes a loan locks its row first (``LoanRepository.get(lock=True)``), and the
chunk's transaction starts by locking its active loans (``CobRepository.lock_loans``). On
PostgreSQL both are ``FOR UPDATE`` row locks: a chunk waits for the payments in flight on
its loans to commit and then reads what they wrote; a payment that arrives during the
chunk waits for it and then reads the chunk's penalties and statuses. SQLite has a single
writer, but a payment's read may predate the chunk, so there the chunk gives its loans a
new row_version instead, and such a payment fails the ORM's optimistic version check (409
``concurrent_update``, safe to retry) rather than overwriting the chunk's work. Nothing is
lost or applied twice.

Partitioning: ``--partition i/n`` runs the chunks whose number is i modulo n, so several
workers share one date by loan-id ranges; whichever finishes the last chunk completes
the run. Catching up skipped dates is for the unpartitioned run. Within one worker,
``concurrency`` chunks run at once on PostgreSQL (``LMS_COB_CONCURRENCY``), each in its own
transaction: chunks hold disjoint loans, so they never wait for each other's locks.

On PostgreSQL accrual and penalties are computed and written by set-based statements (the
domain's rules on exact integers in minor units, see ``lms_round_div``); on SQLite the
service computes them with the domain functions. The integration tests run both.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import EventModel, LoanDelinquencyChangedV1
from lms.adapters.cob import CobRepository, LoanRange, OverdueRow, penalty_reference
from lms.adapters.orm import CobRunRow
from lms.adapters.repository import NewJournalEntry
from lms.domain.cob import (
    AccrualPeriod,
    BusinessDateError,
    OverdueInstallment,
    PenaltyTerms,
    accrual_for_day,
    dates_to_close,
    delinquency_on,
    penalties_for_day,
)
from lms.domain.errors import (
    CobDateClosedError,
    CobDateInFutureError,
    CobPreviousDateOpenError,
    CobRunNotFoundError,
)
from lms.domain.ledger import (
    CHARGE_ACCOUNTS,
    JournalLines,
    charge_lines,
    interest_accrual_lines,
)
from lms.metrics import record_completed_run
from lms.products import rules_for
from lms.service.collections import run_collections_step  # collections step
from loanmath import CURRENCIES, RoundingMode, round_money
from servicekit.db import UnitOfWorkFactory
from servicekit.faults import crash_point
from servicekit.outbox import stage_events

EVENT_SOURCE = "/lms"
_PENALTY_ACCOUNTS = (
    CHARGE_ACCOUNTS["penalties"][0].value,  # receivable, debited
    CHARGE_ACCOUNTS["penalties"][1].value,  # income, credited
)
STEPS = ("accrual", "due_overdue", "penalties", "delinquency", "collections")
DEFAULT_CHUNK_SIZE = 5000
RUNNING = "running"
COMPLETED = "completed"
COB_AFTER_CHUNK = "cob.after_chunk"
"""Crash point: after a chunk's transaction committed."""

AfterChunk = Callable[[date, int], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Partition:
    """Worker `index` of `count` (0-based): it takes chunks numbered index modulo count."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Partition:
        """`i/n` with 0 <= i < n."""
        try:
            left, right = text.split("/")
            index, count = int(left), int(right)
        except ValueError:
            raise ValueError(f"partition must look like i/n, got {text!r}") from None
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"partition {text!r} needs 0 <= i < n")
        return cls(index, count)

    def takes(self, chunk_no: int) -> bool:
        """Whether this worker runs that chunk."""
        return chunk_no % self.count == self.index


@dataclass(frozen=True, slots=True)
class CobRunView:
    """A run as read, detached from any session."""

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


def _view(row: CobRunRow) -> CobRunView:
    return CobRunView(
        business_date=row.business_date,
        status=row.status,
        steps_done=list(row.steps_done),
        chunks_total=row.chunks_total,
        chunks_done=row.chunks_done,
        loans_processed=row.loans_processed,
        requested_by=row.requested_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
        timings={k: float(v) for k, v in (row.timings or {}).items()},
    )


@dataclass(frozen=True, slots=True)
class CobOutcome:
    """The run of the requested date and whether this call closed anything."""

    run: CobRunView
    created: bool
    dates_closed: list[date]


async def get_run(factory: UnitOfWorkFactory, business_date: date) -> CobRunView:
    """One run."""
    async with factory() as uow:
        run = await CobRepository(uow.session).run(business_date)
        if run is None:
            raise CobRunNotFoundError(f"no close of business run for {business_date}")
        return _view(run)


async def list_runs(
    factory: UnitOfWorkFactory, *, limit: int, offset: int
) -> tuple[list[CobRunView], int]:
    """A page of runs, latest first."""
    async with factory() as uow:
        rows, total = await CobRepository(uow.session).runs(limit=limit, offset=offset)
        return [_view(r) for r in rows], total


async def close_business(
    factory: UnitOfWorkFactory,
    business_date: date,
    *,
    requested_by: str,
    today: date,
    now: Callable[[], datetime],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    partition: Partition | None = None,
    after_chunk: AfterChunk | None = None,
    concurrency: int = 1,
) -> CobOutcome:
    """Close `business_date`, catching up skipped dates first (one date at a time).

    The last closed date again returns its run and changes nothing; an earlier date is
    refused (409) and so is a date after today (422). `concurrency` chunks of a date run
    at once, each in its own transaction on its own connection (PostgreSQL; SQLite runs
    one at a time).
    """
    if business_date > today:
        raise CobDateInFutureError(f"business date {business_date} is after today {today}")
    async with factory() as uow:
        repo = CobRepository(uow.session)
        last = await repo.last_closed_date()
        row = await repo.run(business_date)
        existing = _view(row) if row is not None else None
    if last is not None and business_date == last and existing is not None:
        return CobOutcome(existing, created=False, dates_closed=[])
    try:
        dates = dates_to_close(last, business_date)
    except BusinessDateError as exc:
        raise CobDateClosedError(str(exc)) from None
    part = partition or Partition()
    if part.count > 1 and len(dates) > 1:
        raise CobPreviousDateOpenError(
            f"{dates[0]} is not closed yet; a partitioned worker closes one date only"
        )
    run: CobRunView | None = None
    for day in dates:
        run = await _close_date(
            factory,
            day,
            requested_by=requested_by,
            now=now,
            chunk_size=chunk_size,
            partition=part,
            after_chunk=after_chunk,
            concurrency=concurrency,
        )
        if run.status != COMPLETED:
            break  # other partitions still hold chunks of this date
    assert run is not None
    return CobOutcome(run, created=True, dates_closed=[d for d in dates if d <= run.business_date])


def _plan(bounds: list[str]) -> list[LoanRange]:
    """Loan-id ranges split at `bounds`; the first open below and the last open above."""
    lows = ["", *bounds]
    highs = [*bounds, ""]
    return [LoanRange(lo, hi) for lo, hi in zip(lows, highs, strict=True)]


async def _start_run(
    factory: UnitOfWorkFactory,
    business_date: date,
    *,
    requested_by: str,
    now: datetime,
    chunk_size: int,
) -> None:
    """Create the run and its chunk plan once (a concurrent starter loses the insert)."""
    try:
        async with factory() as uow:
            repo = CobRepository(uow.session)
            if await repo.run(business_date) is not None:
                return
            ranges = _plan(await repo.chunk_bounds(chunk_size))
            uow.session.add(
                CobRunRow(
                    business_date=business_date,
                    status=RUNNING,
                    steps_done=[],
                    chunks_total=len(ranges),
                    chunks_done=0,
                    loans_processed=0,
                    requested_by=requested_by,
                    started_at=now,
                    finished_at=None,
                    timings={},
                )
            )
            await uow.session.flush()
            await repo.add_chunks(business_date, ranges)
            await uow.commit()
    except IntegrityError:
        return  # another worker created it first


async def _close_date(
    factory: UnitOfWorkFactory,
    business_date: date,
    *,
    requested_by: str,
    now: Callable[[], datetime],
    chunk_size: int,
    partition: Partition,
    after_chunk: AfterChunk | None,
    concurrency: int,
) -> CobRunView:
    await _start_run(
        factory, business_date, requested_by=requested_by, now=now(), chunk_size=chunk_size
    )
    async with factory() as uow:
        chunks = await CobRepository(uow.session).chunks(business_date)
        todo = iter(
            [
                (c.chunk_no, c.first_loan_id, c.last_loan_id)
                for c in chunks
                if c.status != "done" and partition.takes(c.chunk_no)
            ]
        )

    async def stream() -> None:
        # Streams share one iterator: each chunk goes to whichever stream is free next.
        for chunk_no, low, high in todo:
            async with factory() as uow:
                done = await run_chunk(
                    uow.session, business_date, chunk_no, LoanRange(low, high), now=now()
                )
                if done:
                    await uow.commit()
            crash_point(COB_AFTER_CHUNK)
            if after_chunk is not None:
                maybe = after_chunk(business_date, chunk_no)
                if maybe is not None:
                    await maybe

    # SQLite has one writer: its chunks run one at a time whatever was asked.
    streams = concurrency if factory.engine.dialect.name == "postgresql" else 1
    if streams <= 1:
        await stream()
    else:
        tasks = [asyncio.ensure_future(stream()) for _ in range(streams)]
        try:
            await asyncio.gather(*tasks)  # the first failure is raised as it is
        finally:
            # On a failure the other streams stop too (their open chunk rolls back).
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return await _finish_run(factory, business_date, now=now())


async def _finish_run(
    factory: UnitOfWorkFactory, business_date: date, *, now: datetime
) -> CobRunView:
    """Complete the run when every chunk is done (whichever worker gets here last)."""
    async with factory() as uow:
        repo = CobRepository(uow.session)
        run = await repo.run(business_date, lock=True)
        assert run is not None
        if run.status == COMPLETED:
            return _view(run)
        chunks = await repo.chunks(business_date)
        done = [c for c in chunks if c.status == "done"]
        run.chunks_done = len(done)
        run.loans_processed = sum(c.loans_processed for c in done)
        timings: dict[str, float] = {}
        for c in done:
            for step, seconds in (c.timings or {}).items():
                timings[step] = round(timings.get(step, 0.0) + float(seconds), 6)
        run.timings = timings
        if len(done) == len(chunks):
            run.status = COMPLETED
            run.steps_done = list(STEPS)
            run.finished_at = now
        view = _view(run)
        await uow.commit()
        if run.status == COMPLETED:
            record_completed_run(run.started_at, now, run.loans_processed)
        return view


# -- one chunk ---------------------------------------------------------------------------


async def run_chunk(
    session: AsyncSession, business_date: date, chunk_no: int, loans: LoanRange, *, now: datetime
) -> bool:
    """Every step for one chunk in the caller's transaction; False if it was already done."""
    repo = CobRepository(session)
    if await repo.claim_chunk(business_date, chunk_no) is None:
        return False
    timings: dict[str, float] = {}
    clock = time.perf_counter
    started = clock()
    await repo.tune_chunk_transaction()
    # First statement: the chunk's active loans are locked until commit (see the module
    # docstring).
    count = await repo.lock_loans(loans)
    timings["lock"] = clock() - started

    mark = clock()
    await _accrue(repo, loans, business_date, chunk_no, now)
    timings["accrual"] = clock() - mark

    mark = clock()
    await repo.mark_due_and_overdue(loans, business_date)
    timings["due_overdue"] = clock() - mark

    mark = clock()
    if repo.is_postgresql:
        # Set-based: the same rule computed and written in one statement, which also
        # returns what is owed on each loan's overdue installments afterwards.
        oldest, owed = await repo.charge_penalties_in_sql(
            loans, business_date, now, _minor_units(), _PENALTY_ACCOUNTS
        )
        timings["penalties"] = clock() - mark
        mark = clock()
    else:
        overdue = await repo.overdue_installments(loans)
        overdue = await _charge_penalties(repo, overdue, business_date, now)
        timings["penalties"] = clock() - mark
        mark = clock()
        oldest, owed = _owed_by_loan(overdue)
    await _delinquency(repo, loans, oldest, owed, business_date, now)
    timings["delinquency"] = clock() - mark

    # Collections (cases, dunning tasks, promises) of the chunk's loans, their delinquency
    # now stored.
    mark = clock()
    await run_collections_step(session, business_date, now, loans)
    timings["collections"] = clock() - mark

    await repo.finish_chunk(
        business_date, chunk_no, count, {k: round(v, 6) for k, v in timings.items()}, now
    )
    return True


def _minor_units() -> dict[str, int]:
    return {code: currency.minor_units for code, currency in CURRENCIES.items()}


async def _accrue(
    repo: CobRepository, loans: LoanRange, on: date, chunk_no: int, now: datetime
) -> None:
    if repo.is_postgresql:
        # Set-based: the same rule computed in SQL on exact numerics (see lms_round_div),
        # the detail rows written by the statement that computes them, then each
        # currency's entry under the id those rows already carry.
        reserved = await repo.reserve_accrual_entries(loans)
        totals = await repo.accrue_day(loans, on, _minor_units(), reserved)
        currencies = sorted(totals)
        entries = []
        for currency in currencies:
            # Detail rows are written only for non-zero amounts, all positive.
            lines = interest_accrual_lines(currency, totals[currency])
            assert lines is not None
            entries.append(_entry(None, "interest_accrual", lines, on, now, f"COB:{on}:{chunk_no}"))
        await repo.insert_entries(entries, ids=[reserved[c] for c in currencies])
        return
    details: list[dict[str, Any]] = []
    per_currency: dict[str, Decimal] = {}
    for row in await repo.accrual_inputs(loans, on):
        amount = accrual_for_day(
            AccrualPeriod(row.start, row.due, row.interest),
            on,
            row.currency,
            RoundingMode(row.rounding_mode),
        )
        if amount == 0:
            continue
        details.append(
            {
                "loan_id": row.loan_id,
                "business_date": on,
                "currency": row.currency,
                "amount": amount,
            }
        )
        per_currency[row.currency] = per_currency.get(row.currency, Decimal(0)) + amount
    entries = []
    currencies = sorted(per_currency)
    for currency in currencies:
        lines = interest_accrual_lines(currency, per_currency[currency])
        assert lines is not None
        entries.append(_entry(None, "interest_accrual", lines, on, now, f"COB:{on}:{chunk_no}"))
    entry_ids = dict(zip(currencies, await repo.insert_entries(entries), strict=True))
    for detail in details:
        detail["entry_id"] = entry_ids[detail["currency"]]
    await repo.insert_accruals(details)


def _entry(
    loan_id: str | None,
    entry_type: str,
    lines: JournalLines,
    on: date,
    now: datetime,
    reference: str,
) -> NewJournalEntry:
    return NewJournalEntry(
        entry={
            "loan_id": loan_id,
            "entry_type": entry_type,
            "currency": lines.currency,
            "effective_date": on,
            "created_at": now,
            "source_event_id": None,
            "reference": reference,
        },
        postings=[
            {
                "account": p.account.value,
                "side": p.side.value,
                "amount": p.amount,
                "currency": lines.currency,
            }
            for p in lines.postings
        ],
    )


async def _charge_penalties(
    repo: CobRepository, overdue: list[OverdueRow], on: date, now: datetime
) -> list[OverdueRow]:
    """Charge the day's penalties; returns the overdue rows with the charges added."""
    by_loan: dict[str, list[OverdueRow]] = {}
    for row in overdue:
        by_loan.setdefault(row.loan_id, []).append(row)
    charges: list[dict[str, Any]] = []
    entries: list[NewJournalEntry] = []
    seqs: dict[str, int] = {}
    added: dict[tuple[str, int], Decimal] = {}
    for loan_id, rows in by_loan.items():
        first = rows[0]
        terms = PenaltyTerms(
            first.late_fee_flat, first.penalty_rate_annual, first.penalty_grace_days
        )
        due = [
            OverdueInstallment(
                r.number, r.due_date, r.remaining_principal_interest, r.late_fee_charged
            )
            for r in rows
        ]
        seq = first.event_seq
        day_total = Decimal(0)
        for charge in penalties_for_day(
            due, terms, on, first.currency, RoundingMode(first.rounding_mode)
        ):
            seq += 1
            charge_id = f"CHG-{uuid.uuid4().hex}"
            day_total += charge.amount
            charges.append(
                {
                    "id": charge_id,
                    "loan_id": loan_id,
                    "installment_number": charge.installment,
                    "component": "penalties",
                    "amount": charge.amount,
                    "currency": first.currency,
                    "charge_date": on,
                    "reason": charge.reason,
                    "seq": seq,
                    "created_at": now,
                }
            )
            key = (loan_id, charge.installment)
            added[key] = added.get(key, Decimal(0)) + charge.amount
        if seq != first.event_seq:
            seqs[loan_id] = seq
            # One entry per loan for the day's charges.
            entries.append(
                _entry(
                    loan_id,
                    "charge_penalties",
                    charge_lines(first.currency, "penalties", day_total),
                    on,
                    now,
                    penalty_reference(on),
                )
            )
    entry_of = dict(zip(seqs, await repo.insert_entries(entries), strict=True))
    for charge_row in charges:
        charge_row["entry_id"] = entry_of[charge_row["loan_id"]]
    await repo.insert_charges(charges)
    await repo.add_installment_penalties([(k[0], k[1], v) for k, v in added.items()])
    await repo.set_event_seqs(seqs)
    return [_with_added(row, added.get((row.loan_id, row.number), Decimal(0))) for row in overdue]


def _with_added(row: OverdueRow, amount: Decimal) -> OverdueRow:
    return replace(row, remaining=row.remaining + amount) if amount else row


def _owed_by_loan(overdue: list[OverdueRow]) -> tuple[dict[str, date], dict[str, Decimal]]:
    """Per loan with something owed on an overdue installment: the oldest one's due date
    and the total owed on them."""
    oldest: dict[str, date] = {}
    owed: dict[str, Decimal] = {}
    for row in overdue:
        if row.remaining <= 0:
            continue
        oldest[row.loan_id] = min(oldest.get(row.loan_id, row.due_date), row.due_date)
        owed[row.loan_id] = owed.get(row.loan_id, Decimal(0)) + row.remaining
    return oldest, owed


async def _delinquency(
    repo: CobRepository,
    loans: LoanRange,
    oldest: dict[str, date],
    owed: dict[str, Decimal],
    on: date,
    now: datetime,
) -> None:
    updates: list[tuple[str, int, str]] = []
    history: list[dict[str, Any]] = []
    events: list[tuple[EventModel, str]] = []
    for state in await repo.delinquency_states(loans):
        rules = rules_for(state.product_code)
        since = oldest.get(state.loan_id) if state.status == "active" else None
        now_state = delinquency_on(since, on, rules.buckets, rules.non_performing_days)
        if (now_state.days_past_due, now_state.bucket) == (state.days_past_due, state.bucket):
            continue
        updates.append((state.loan_id, now_state.days_past_due, now_state.bucket))
        if now_state.bucket == state.bucket:
            continue
        amount = round_money(owed.get(state.loan_id, Decimal(0)), state.currency)
        history.append(
            {
                "loan_id": state.loan_id,
                "business_date": on,
                "days_past_due": now_state.days_past_due,
                "from_bucket": state.bucket,
                "to_bucket": now_state.bucket,
                "overdue_amount": amount,
                "non_performing": now_state.non_performing,
                "changed_at": now,
            }
        )
        events.append(
            (
                LoanDelinquencyChangedV1(
                    loan_id=state.loan_id,
                    business_date=on,
                    days_past_due=now_state.days_past_due,
                    from_bucket=state.bucket,
                    to_bucket=now_state.bucket,
                    currency=state.currency,
                    overdue_amount=amount,
                    non_performing=now_state.non_performing,
                ),
                state.loan_id,
            )
        )
    await repo.set_delinquency(updates)
    await repo.insert_history(history)
    await stage_events(repo.session, events, source=EVENT_SOURCE, now=now)


__all__ = [
    "COB_AFTER_CHUNK",
    "STEPS",
    "CobOutcome",
    "CobRunView",
    "Partition",
    "close_business",
    "get_run",
    "list_runs",
    "run_chunk",
]
