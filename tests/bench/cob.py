"""Close of business throughput on PostgreSQL: loans closed per second for one business date.

Seeding (not timed): N active loans of 12000.00 USD at 9.9% over 36 months, disbursed on
day 1..28 of January 2026 (so due dates spread over the month), written with asyncpg COPY
together with their 36 installments each. On the business date 2026-06-20 every loan has
four or five installments behind it: 90% paid them all, 10% left the latest one unpaid
(overdue), 2% the two latest; their stored days past due and bucket are those of the day
before, as yesterday's run would have left them.

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

from loanmath import ScheduleTerms, build_schedule

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
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
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _close(url: str, chunk_size: int) -> tuple[float, dict[str, Any]]:
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


def bench_cob(loans: int = 100_000, chunk_size: int = 10_000, repeats: int = 1) -> dict[str, Any]:
    """Loans closed per second (one business date, all steps) against one bare UPDATE."""
    from servicekit.testing import POSTGRES_ENV, DatabaseFactory

    os.environ.setdefault(POSTGRES_ENV, DEFAULT_POSTGRES)
    factory = DatabaseFactory("postgresql", "lms:migrations", Path(tempfile.mkdtemp()))
    ours: list[float] = []
    base: list[float] = []
    details: dict[str, Any] = {}
    try:
        for _ in range(max(repeats, 1)):
            url = factory.new_database()
            try:
                seed_started = time.perf_counter()
                asyncio.run(_seed(url, loans))
                details["seed_seconds"] = round(time.perf_counter() - seed_started, 1)
                elapsed, info = asyncio.run(_close(url, chunk_size))
                ours.append(elapsed)
                details.update(info)
                details["rows_written"] = asyncio.run(_counts(url))
                base.append(statistics.median([asyncio.run(_bare_update(url)) for _ in range(3)]))
            finally:
                factory.drop(url)
    finally:
        factory.close()
    ours_rate = loans / statistics.median(ours)
    base_rate = loans / statistics.median(base)
    return {
        "name": "lms_cob_one_business_date",
        "unit": "loans closed per second (PostgreSQL, all steps)",
        "value": round(ours_rate, 1),
        "loans_per_hour": round(ours_rate * 3600),
        "loans": loans,
        "chunk_size": chunk_size,
        "seconds": round(statistics.median(ours), 3),
        "baseline": "one bare UPDATE loans SET row_version = row_version + 1 over the same "
        "active loans, in one transaction",
        "baseline_value": round(base_rate, 1),
        "ratio_vs_baseline": round(ours_rate / base_rate, 3),
        "ratio_meaning": "our rate / bare-UPDATE rate (1 would mean close of business costs no "
        "more than touching each loan row once)",
        "target": f"{TARGET_PER_HOUR:,} loans/hour equivalent (about 27,800 loans/s)",
        "meets_target": ours_rate * 3600 >= TARGET_PER_HOUR,
        **details,
    }


def main() -> int:
    """`python -m tests.bench.cob [--loans N] [--chunk-size N]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    args = parser.parse_args()
    print(json.dumps(bench_cob(args.loans, args.chunk_size), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
