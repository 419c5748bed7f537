"""Booking throughput: loans booked per second from LoanDisbursed on PostgreSQL.

Ours: each loan goes through the real path, the LMS inbox (InboxProcessor, de-duplication
record) and the booking use case (36 monthly installments, the disbursement journal
entry, LoanBooked staged in the outbox), a fetch of BATCH records per transaction as the
consumer loop does, into a fresh migrated database. Baseline, measured in the same run: the bare cost of writing exactly the rows
booking produced, with asyncpg COPY per table into another fresh migrated database.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lending_schemas import (
    FeeV1,
    LoanDisbursedV1,
    PenaltyTermsV1,
    PromisedTermsV1,
    make_event,
    to_kafka,
)
from loanmath import ScheduleTerms, build_schedule

LOANS_PER_RUN = 200
# Records applied per transaction, as the consumer loop applies one fetch (up to 500).
BATCH = 200
TABLES = ("loans", "loan_fees", "installments", "journal_entries", "postings", "outbox", "inbox")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _disbursed(n: int) -> LoanDisbursedV1:
    terms = ScheduleTerms(
        principal=Decimal("12000.00"),
        currency="USD",
        annual_rate=Decimal("0.0990"),
        term=36,
        disbursement_date=date(2026, 1, 15),
        first_due_date=date(2026, 2, 15),
    )
    schedule = build_schedule(terms)
    return LoanDisbursedV1(
        loan_id=f"LN-BENCH-{n:06d}",
        application_id=f"APP-BENCH-{n:06d}",
        party_ref=f"pty_{n:06d}",
        product_code="PERSONAL-36M",
        currency="USD",
        principal=Decimal("12000.00"),
        net_disbursed=Decimal("11760.00"),
        disbursement_date=date(2026, 1, 15),
        annual_rate=Decimal("0.0990"),
        day_count="30/360",
        interest_basis="equal_periods",
        amortization="annuity",
        frequency="monthly",
        term=36,
        first_due_date=date(2026, 2, 15),
        rounding_mode="half_even",
        fees=[FeeV1(code="ORIGINATION", amount=Decimal("240.00"), treatment="deducted")],
        penalty=PenaltyTermsV1(
            late_fee_flat=Decimal("15.00"), penalty_rate_annual=Decimal("0.05"), grace_days=5
        ),
        promised=PromisedTermsV1(
            installment_amount=schedule.installment_amount,
            total_repayable=schedule.total_repayable,
            total_interest=schedule.total_interest,
        ),
        disbursed_at=datetime(2026, 1, 15, 9, 0, tzinfo=UTC),
    )


async def _book_all(url: str, loans: list[LoanDisbursedV1]) -> float:
    """Seconds to book every loan through the inbox, a fetch-sized batch per transaction."""
    from lms.bootstrap import loan_disbursed_consumer
    from servicekit.clock import FixedClock
    from servicekit.db import UnitOfWorkFactory, create_engine
    from servicekit.inbox import InboxProcessor, Message

    engine = create_engine(url)
    try:
        uow_factory = UnitOfWorkFactory(engine)
        spec = loan_disbursed_consumer(FixedClock(datetime(2026, 1, 15, 10, tzinfo=UTC)))

        async def refuse(message: Message, code: str, reason: str, attempts: int) -> None:
            raise RuntimeError(f"booking benchmark: dead letter {code}: {reason}")

        processor = InboxProcessor(
            "lms",
            uow_factory,
            spec.handlers,
            dead_letter=refuse,
            batch_handlers=spec.batch_handlers,
        )
        messages = []
        for offset, loan in enumerate(loans):
            record = to_kafka(make_event(loan, source="/los", subject=loan.loan_id, sequence=1))
            messages.append(
                Message(
                    "lending.loan-disbursed.v1",
                    0,
                    offset,
                    record.key,
                    record.value,
                    record.headers,
                )
            )
        # As a service process does once started (servicekit's app lifespan).
        gc.freeze()
        started = time.perf_counter()
        for first in range(0, len(messages), BATCH):
            outcomes = await processor.process_batch(messages[first : first + BATCH])
            if set(outcomes) != {"processed"}:
                raise RuntimeError(f"booking benchmark: messages not processed ({outcomes})")
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _copy_same_rows(source_url: str, target_url: str) -> float:
    """Seconds to COPY the rows booking wrote into an empty migrated database."""
    import asyncpg

    source = await asyncpg.connect(_dsn(source_url))
    try:
        data: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table in TABLES:
            rows = await source.fetch(f'SELECT * FROM "{table}"')
            columns = list(rows[0].keys()) if rows else []
            data[table] = (columns, [tuple(r.values()) for r in rows])
    finally:
        await source.close()
    target = await asyncpg.connect(_dsn(target_url))
    try:
        started = time.perf_counter()
        async with target.transaction():
            for table in TABLES:
                columns, records = data[table]
                if records:
                    await target.copy_records_to_table(table, records=records, columns=columns)
        return time.perf_counter() - started
    finally:
        await target.close()


def bench_booking(repeats: int) -> dict[str, Any]:
    """Loans booked per second (inbox + booking use case) against COPY of the same rows."""
    from servicekit.testing import POSTGRES_ENV, DatabaseFactory

    os.environ.setdefault(POSTGRES_ENV, DEFAULT_POSTGRES)
    loans = [_disbursed(n) for n in range(LOANS_PER_RUN)]
    factory = DatabaseFactory("postgresql", "lms:migrations", Path(tempfile.mkdtemp()))
    ours: list[float] = []
    base: list[float] = []
    try:
        for _ in range(max(repeats, 1)):
            booked_url = factory.new_database()
            copy_url = factory.new_database()
            try:
                ours.append(asyncio.run(_book_all(booked_url, loans)))
                base.append(asyncio.run(_copy_same_rows(booked_url, copy_url)))
            finally:
                factory.drop(booked_url)
                factory.drop(copy_url)
    finally:
        factory.close()
    ours_rate = LOANS_PER_RUN / statistics.median(ours)
    base_rate = LOANS_PER_RUN / statistics.median(base)
    return {
        "name": "lms_booking_36_installments",
        "unit": "loans booked per second (PostgreSQL)",
        "value": round(ours_rate, 1),
        "baseline": "asyncpg COPY of the same rows (loan, fee, 36 installments, journal, "
        "outbox, inbox) in one transaction",
        "baseline_value": round(base_rate, 1),
        "ratio_vs_baseline": round(ours_rate / base_rate, 3),
        "ratio_meaning": "our rate / baseline rate (1 would mean booking costs no more than "
        "bulk-writing its rows)",
        "target": "at least 0.5 of the COPY rate",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_booking(3), indent=2))
