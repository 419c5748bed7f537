"""LMS Prometheus metrics, on servicekit's registry so /metrics serves them.

Close of business is measured where a run completes (duration, loans processed); the last
closed business date and the loans per bucket are read from the database when /metrics is
scraped, so every process reports the same figures whichever worker closed the date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import Request
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import func, select

from lms.adapters.orm import CobRunRow, LoanRow
from servicekit.metrics import REGISTRY

COB_RUN_SECONDS = Histogram(
    "lms_cob_run_duration_seconds",
    "Close of business: from a business date's run start to its completion.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    registry=REGISTRY,
)
COB_LOANS_PROCESSED = Counter(
    "lms_cob_loans_processed",
    "Loans processed by completed close-of-business runs.",
    registry=REGISTRY,
)
COB_LAST_CLOSED = Gauge(
    "lms_cob_last_closed_business_day_end_timestamp_seconds",
    "End (next midnight UTC) of the last business date close of business completed; 0 if none.",
    registry=REGISTRY,
)
COB_SCHEDULER_FAILURES = Counter(
    "lms_cob_scheduler_failures",
    "Scheduled close-of-business attempts that failed, by reason (a refusal's code, or error).",
    ["reason"],
    registry=REGISTRY,
)
LOANS_BY_BUCKET = Gauge(
    "lms_loans_by_bucket",
    "Active loans per product and delinquency bucket (as of the last close of business).",
    ["product_code", "bucket"],
    registry=REGISTRY,
)


def day_end(business_date: date) -> float:
    """The instant a business date ends (midnight UTC after it), as a Unix timestamp."""
    return datetime.combine(business_date + timedelta(days=1), time(), UTC).timestamp()


def record_completed_run(started_at: datetime, finished_at: datetime, loans: int) -> None:
    """Called where a run completes."""
    COB_RUN_SECONDS.observe(max((finished_at - started_at).total_seconds(), 0.0))
    COB_LOANS_PROCESSED.inc(loans)


async def refresh_portfolio_gauges(request: Request) -> None:
    """Scrape hook: last closed business date and active loans per bucket, from the database."""
    async with request.app.state.uow_factory() as uow:
        session = uow.session
        last = await session.scalar(
            select(func.max(CobRunRow.business_date)).where(CobRunRow.status == "completed")
        )
        rows = (
            await session.execute(
                select(LoanRow.product_code, LoanRow.delinquency_bucket, func.count())
                .where(LoanRow.status == "active")
                .group_by(LoanRow.product_code, LoanRow.delinquency_bucket)
            )
        ).all()
    COB_LAST_CLOSED.set(day_end(last) if last is not None else 0)
    LOANS_BY_BUCKET.clear()
    for product, bucket, count in rows:
        LOANS_BY_BUCKET.labels(product, bucket).set(count)
