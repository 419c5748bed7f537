"""Close of business throughput on PostgreSQL: loans closed per second for one business date.

Seeding (not timed): N active loans of 12000.00 USD at 9.9% over 36 months, disbursed on
day 1..28 of January 2026 (so due dates spread over the month), written with asyncpg COPY
together with their 36 installments each. On the business date 2026-06-20 every loan has
four or five installments behind it: 90% paid them all, 10% left the latest one unpaid
(overdue), 2% the two latest; their stored days past due and bucket are those of the day
before, and each loan past due has its open collections case, as yesterday's run would
have left them, with the installment period each loan accrued in yesterday stored on it.
The seed ends with ``VACUUM (ANALYZE)``, the state autovacuum keeps a
production database in: without it the run would also pay for setting the hint bits of
every freshly loaded page it reads (the first reader of a bulk-loaded page writes it).

Ours: `close_business` for 2026-06-20 with every step (accrual, due/overdue, penalties,
delinquency with history and events), chunks of loans, one transaction per chunk.
Baseline, measured in the same run on the same rows: one bare set-based
``UPDATE loans SET row_version = row_version + 1 WHERE status = 'active'``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loanmath import ScheduleTerms, build_schedule

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def _service_concurrency() -> int:
    """The service's default number of chunks at once (LMS_COB_CONCURRENCY)."""
    from lms.settings import LmsSettings

    return int(LmsSettings.model_fields["cob_concurrency"].default)


BUSINESS_DATE = date(2026, 6, 20)
TARGET_PER_HOUR = 100_000_000


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _templates() -> dict[int, list[tuple[int, date, Decimal, Decimal]]]:
    """One schedule per disbursement day of month: (number, due, principal, interest)."""
    out = {}
    for day in range(1, 29):
        schedule = build_schedule(
            ScheduleTerms(
                principal=Decimal("12000.00"),
                currency="USD",
                annual_rate=Decimal("0.0990"),
                term=36,
                disbursement_date=date(2026, 1, day),
                first_due_date=date(2026, 2, day),
            )
        )
        out[day] = [(i.number, i.due_date, i.principal, i.interest) for i in schedule.installments]
    return out


async def _seed(url: str, count: int) -> None:
    import asyncpg

    from lms.domain.cob import delinquency_on

    templates = _templates()
    installment = templates[1][0][2] + templates[1][0][3]
    loans: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    cases: list[tuple[Any, ...]] = []
    at = datetime(2026, 1, 1, 9, tzinfo=UTC)
    yesterday = BUSINESS_DATE - timedelta(days=1)
    for n in range(count):
        day = 1 + n % 28
        behind = 2 if n % 50 == 1 else 1 if n % 10 == 0 else 0
        schedule = templates[day]
        past = [s for s in schedule if s[1] < BUSINESS_DATE]
        unpaid = {s[0] for s in past[len(past) - behind :]} if behind else set()
        oldest = min((s[1] for s in past if s[0] in unpaid), default=None)
        state = delinquency_on(oldest, yesterday) if oldest and oldest < yesterday else None
        loan_id = f"LN-{n:08d}"
        # The period yesterday's accrual ran in, as that run left it on the loan.
        k = next(k for k, s in enumerate(schedule) if s[1] >= yesterday)
        period = (
            schedule[k - 1][1] if k else date(2026, 1, day),
            schedule[k][1],
            schedule[k][3],
        )
        if state is not None and state.days_past_due > 0 and oldest is not None:
            opened = oldest + timedelta(days=1)
            cases.append(
                (
                    f"CASE-{n:08d}",
                    loan_id,
                    loan_id,
                    "open",
                    opened,
                    delinquency_on(oldest, opened).bucket,
                    at,
                )
            )
        loans.append(
            (
                loan_id,
                f"APP-{n:08d}",
                f"pty_{n:08d}",
                "PERSONAL-36M",
                "USD",
                Decimal("12000.00"),
                Decimal("11760.00"),
                Decimal("0.0990"),
                "30/360",
                "equal_periods",
                "annuity",
                "monthly",
                "half_even",
                36,
                date(2026, 1, day),
                date(2026, 2, day),
                0,
                0,
                json.dumps(["penalties", "fees", "interest", "principal"]),
                Decimal("15.00"),
                Decimal("0.05"),
                5,
                installment,
                installment * 36,
                installment * 36 - Decimal("12000.00"),
                installment,
                installment * 36,
                installment * 36 - Decimal("12000.00"),
                True,
                json.dumps([]),
                "active",
                1,
                "bench",
                f"EV-{n}",
                at,
                at,
                1,
                Decimal("0.00"),
                len(past) - behind,
                state.days_past_due if state else 0,
                state.bucket if state else "current",
                1,
                period[0],
                period[1],
                period[2],
            )
        )
        zero = Decimal("0.00")
        for number, due, principal, interest in schedule:
            paid = due < BUSINESS_DATE and number not in unpaid
            if paid:
                status = "paid"
            elif due < yesterday:
                status = "overdue"
            elif due == yesterday:
                status = "due"
            else:
                status = "pending"
            rows.append(
                (
                    loan_id,
                    1,
                    number,
                    due,
                    principal,
                    interest,
                    zero,
                    zero,
                    principal + interest,
                    principal if paid else zero,
                    interest if paid else zero,
                    zero,
                    zero,
                    status,
                )
            )
    loan_columns = [
        "id",
        "application_id",
        "party_ref",
        "product_code",
        "currency",
        "principal",
        "net_disbursed",
        "annual_rate",
        "day_count",
        "interest_basis",
        "amortization",
        "frequency",
        "rounding_mode",
        "term",
        "disbursement_date",
        "first_due_date",
        "grace_principal_periods",
        "grace_interest_periods",
        "allocation_order",
        "penalty_late_fee_flat",
        "penalty_rate_annual",
        "penalty_grace_days",
        "promised_installment_amount",
        "promised_total_repayable",
        "promised_total_interest",
        "schedule_installment_amount",
        "schedule_total_repayable",
        "schedule_total_interest",
        "schedule_matches_offer",
        "mismatches",
        "status",
        "schedule_version",
        "terms_fingerprint",
        "source_event_id",
        "disbursed_at",
        "booked_at",
        "row_version",
        "credit_balance",
        "event_seq",
        "days_past_due",
        "delinquency_bucket",
        "accrual_version",
        "accrual_start",
        "accrual_due",
        "accrual_interest",
    ]
    installment_columns = [
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
    ]
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("loans", records=loans, columns=loan_columns)
            await conn.copy_records_to_table(
                "installments", records=rows, columns=installment_columns
            )
            await conn.copy_records_to_table(
                "collection_cases",
                records=cases,
                columns=[
                    "id",
                    "loan_id",
                    "open_loan_id",
                    "status",
                    "opened_on",
                    "opened_bucket",
                    "created_at",
                ],
            )
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()


async def _close(url: str, chunk_size: int, concurrency: int) -> tuple[float, dict[str, Any]]:
    from lms.service.cob import close_business
    from servicekit.db import UnitOfWorkFactory, create_engine

    engine = create_engine(url)
    try:
        at = datetime(2026, 6, 20, 22, tzinfo=UTC)
        started = time.perf_counter()
        outcome = await close_business(
            UnitOfWorkFactory(engine),
            BUSINESS_DATE,
            requested_by="bench",
            today=BUSINESS_DATE,
            now=lambda: at,
            chunk_size=chunk_size,
            concurrency=concurrency,
        )
        elapsed = time.perf_counter() - started
        run = outcome.run
        assert run.status == "completed", run
        return elapsed, {"loans_processed": run.loans_processed, "step_seconds": run.timings}
    finally:
        await engine.dispose()


async def _bare_update(url: str) -> float:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute(
                "UPDATE loans SET row_version = row_version + 1 WHERE status = 'active'"
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url))
    try:
        out = {}
        for table in ("interest_accruals", "charges", "delinquency_history", "outbox"):
            out[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        return out
    finally:
        await conn.close()


async def _clone(seeded_url: str, name: str) -> str:
    """A copy of the seeded database (CREATE DATABASE ... TEMPLATE: a file copy)."""
    import asyncpg

    from servicekit.testing import postgres_admin_url, with_database

    admin = postgres_admin_url()
    assert admin
    conn = await asyncpg.connect(_dsn(admin))
    try:
        seeded = urlsplit(seeded_url).path.lstrip("/")
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{seeded}"')
        # PostgreSQL 15 writes the copy to the WAL, enough to start a checkpoint that would
        # otherwise run during the measured statements; every measured run (ours and the
        # baseline) starts after one instead.
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return with_database(admin, name)


def bench_cob(
    loans: int = 100_000,
    chunk_size: int = 10_000,
    repeats: int = 3,
    concurrencies: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Loans closed per second (one business date, all steps) against one bare UPDATE.

    The loans are seeded once; every measured run (close of business with each number of
    concurrent chunks, and the bare UPDATE) gets its own copy of the seeded database, and
    the runs alternate, `repeats` of each; medians are reported.
    """
    from servicekit.testing import POSTGRES_ENV, DatabaseFactory

    concurrencies = concurrencies or tuple(sorted({1, _service_concurrency()}))
    os.environ.setdefault(POSTGRES_ENV, DEFAULT_POSTGRES)
    factory = DatabaseFactory("postgresql", "lms:migrations", Path(tempfile.mkdtemp()))
    ours: dict[int, list[float]] = {c: [] for c in concurrencies}
    base: list[float] = []
    details: dict[str, Any] = {}
    steps: dict[int, dict[str, float]] = {}
    try:
        seeded = factory.new_database()
        seed_started = time.perf_counter()
        asyncio.run(_seed(seeded, loans))
        details["seed_seconds"] = round(time.perf_counter() - seed_started, 1)
        for repeat in range(max(repeats, 1)):
            for concurrency in (*concurrencies, 0):  # 0: the bare UPDATE
                url = asyncio.run(
                    _clone(seeded, f"{seeded.rsplit('/', 1)[1]}_{repeat}_{concurrency}")
                )
                try:
                    if concurrency == 0:
                        base.append(asyncio.run(_bare_update(url)))
                        continue
                    elapsed, info = asyncio.run(_close(url, chunk_size, concurrency))
                    ours[concurrency].append(elapsed)
                    steps[concurrency] = info["step_seconds"]
                    details["loans_processed"] = info["loans_processed"]
                    details["rows_written"] = asyncio.run(_counts(url))
                finally:
                    factory.drop(url)
    finally:
        factory.close()
    base_rate = loans / statistics.median(base)
    by_concurrency: dict[int, dict[str, Any]] = {
        c: {
            "loans_per_second": round(loans / statistics.median(times), 1),
            "loans_per_hour": round(loans / statistics.median(times) * 3600),
            "seconds": [round(t, 3) for t in times],
            "ratio_vs_baseline": round(loans / statistics.median(times) / base_rate, 3),
            "step_seconds_last_run": steps[c],
        }
        for c, times in ours.items()
    }
    best = max(concurrencies, key=lambda c: float(by_concurrency[c]["loans_per_second"]))
    ours_rate = float(by_concurrency[best]["loans_per_second"])
    return {
        "name": "lms_cob_one_business_date",
        "unit": "loans closed per second (PostgreSQL, all steps)",
        "value": ours_rate,
        "loans_per_hour": by_concurrency[best]["loans_per_hour"],
        "concurrency": best,
        "by_concurrency": by_concurrency,
        "loans": loans,
        "chunk_size": chunk_size,
        "repeats": repeats,
        "baseline": "one bare UPDATE loans SET row_version = row_version + 1 over the same "
        "active loans, in one transaction, on its own copy of the seeded database",
        "baseline_value": round(base_rate, 1),
        "baseline_seconds": [round(t, 3) for t in base],
        "ratio_vs_baseline": round(ours_rate / base_rate, 3),
        "ratio_meaning": "our rate / bare-UPDATE rate (1 would mean close of business costs no "
        "more than touching each loan row once)",
        "target": f"{TARGET_PER_HOUR:,} loans/hour equivalent (about 27,800 loans/s)",
        "meets_target": ours_rate * 3600 >= TARGET_PER_HOUR,
        **details,
    }


def main() -> int:
    """`python -m tests.bench.cob [--loans N] [--chunk-size N] [--repeats N] [--concurrency N]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help="chunks at once (repeatable; default 1 and the service default)",
    )
    args = parser.parse_args()
    concurrencies = tuple(args.concurrency) if args.concurrency else None
    print(json.dumps(bench_cob(args.loans, args.chunk_size, args.repeats, concurrencies), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
