"""Portfolio report and loan tape, as of any date, rebuilt from the ledger each time.

Everything is read as of an effective date: postings of entries effective on or before it,
the close-of-business accrual detail up to it, and each loan's last delinquency change on or
before it. Given `recorded_by` as well, only what had been recorded by that instant counts,
so a report made on some day can be reproduced later to the cent even after backdated
payments arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from lms.adapters.reports import BucketAsOf, Cutoff, LoanHeader, ReportRepository
from lms.domain.errors import InvalidReportPeriodError
from lms.domain.loan import LoanStatus
from lms.domain.reports import (
    CurrencyPortfolio,
    LoanFacts,
    Outstanding,
    aggregate,
    bucket_floor,
)
from lms.products import rules_for
from loanmath import round_money
from servicekit.db import UnitOfWork

CURRENT = BucketAsOf("current", 0, False, date.min)

# The loan tape's columns, in order (docs/REPORTING.md describes each).
LOAN_TAPE_COLUMNS = (
    "as_of",
    "loan_id",
    "application_id",
    "party_ref",
    "product_code",
    "currency",
    "principal",
    "annual_rate",
    "term",
    "frequency",
    "disbursement_date",
    "maturity_date",
    "status",
    "outstanding_principal",
    "outstanding_interest",
    "outstanding_fees",
    "outstanding_penalties",
    "outstanding_total",
    "interest_paid_in_advance",
    "paid_to_date",
    "last_payment_date",
    "delinquency_bucket",
    "days_past_due_at_last_change",
    "bucket_since",
    "non_performing",
)


@dataclass(frozen=True, slots=True)
class PortfolioReport:
    """The portfolio as of a date, per currency, with the period's flows."""

    as_of: date
    period_start: date
    period_end: date
    recorded_by: datetime | None
    currencies: list[CurrencyPortfolio]


def _money(amount: Decimal, currency: str) -> str:
    """An amount as text at the currency's minor unit (0 shows as 0.00 in USD)."""
    return str(round_money(amount, currency))


def _status_as_of(loan: LoanHeader, as_of: date) -> str:
    """The loan's status on the date, from the dates it was paid off, written off, closed."""
    if loan.closed_on is not None and loan.closed_on <= as_of:
        return LoanStatus.CLOSED.value
    if loan.written_off_on is not None and loan.written_off_on <= as_of:
        return LoanStatus.WRITTEN_OFF.value
    if loan.paid_off_on is not None and loan.paid_off_on <= as_of:
        return LoanStatus.PAID_OFF.value
    return LoanStatus.ACTIVE.value


def _facts(
    loan: LoanHeader, balances: dict[str, Decimal], bucket: BucketAsOf, as_of: date
) -> LoanFacts:
    buckets = rules_for(loan.product_code).buckets
    return LoanFacts(
        loan_id=loan.id,
        product_code=loan.product_code,
        currency=loan.currency,
        status=_status_as_of(loan, as_of),
        bucket=bucket.bucket,
        days_past_due_floor=bucket_floor(bucket.bucket, buckets),
        non_performing=bucket.non_performing,
        outstanding=Outstanding.owed(balances),
    )


async def portfolio_report(
    uow: UnitOfWork,
    *,
    as_of: date,
    period_start: date | None = None,
    period_end: date | None = None,
    recorded_by: datetime | None = None,
) -> PortfolioReport:
    """Outstanding by product and bucket, PAR30/60/90, NPA and the period's flows.

    The period defaults to the month of `as_of` up to `as_of`.
    """
    start = period_start or as_of.replace(day=1)
    end = period_end or as_of
    if start > end:
        raise InvalidReportPeriodError(f"the period starts ({start}) after it ends ({end})")
    repo = ReportRepository(uow.session)
    cutoff = Cutoff(as_of, recorded_by)
    loans = await repo.loans(cutoff)
    balances = await repo.receivables(cutoff)
    buckets = await repo.buckets(cutoff)
    books = aggregate(
        _facts(loan, balances.get(loan.id, {}), buckets.get(loan.id, CURRENT), as_of)
        for loan in loans
    )
    for currency, (disbursed, collected) in (await repo.flows(start, end, recorded_by)).items():
        book = books.setdefault(currency, CurrencyPortfolio(currency))
        book.disbursed, book.collected = disbursed, collected
    for currency, (due, paid) in (await repo.due_and_paid(start, end, recorded_by)).items():
        book = books.setdefault(currency, CurrencyPortfolio(currency))
        book.due_in_period, book.paid_of_due = due, paid
    return PortfolioReport(as_of, start, end, recorded_by, [books[c] for c in sorted(books)])


async def loan_tape(
    uow: UnitOfWork, *, as_of: date, recorded_by: datetime | None = None
) -> list[dict[str, str]]:
    """One row per loan disbursed by `as_of`, in LOAN_TAPE_COLUMNS order, as text."""
    repo = ReportRepository(uow.session)
    cutoff = Cutoff(as_of, recorded_by)
    loans = await repo.loans(cutoff)
    balances = await repo.receivables(cutoff)
    buckets = await repo.buckets(cutoff)
    maturities = await repo.maturities()
    paid = await repo.paid_to_date(cutoff)
    rows = []
    for loan in loans:
        parts = balances.get(loan.id, {})
        owed = Outstanding.owed(parts)
        bucket = buckets.get(loan.id, CURRENT)
        received, last_paid = paid.get(loan.id, (Decimal(0), None))
        advance = -min(parts.get("interest", Decimal(0)), Decimal(0))
        maturity = maturities.get(loan.id)
        values = {
            "as_of": as_of.isoformat(),
            "loan_id": loan.id,
            "application_id": loan.application_id,
            "party_ref": loan.party_ref,
            "product_code": loan.product_code,
            "currency": loan.currency,
            "principal": _money(loan.principal, loan.currency),
            "annual_rate": str(loan.annual_rate),
            "term": str(loan.term),
            "frequency": loan.frequency,
            "disbursement_date": loan.disbursement_date.isoformat(),
            "maturity_date": maturity.isoformat() if maturity else "",
            "status": _status_as_of(loan, as_of),
            "outstanding_principal": _money(owed.principal, loan.currency),
            "outstanding_interest": _money(owed.interest, loan.currency),
            "outstanding_fees": _money(owed.fees, loan.currency),
            "outstanding_penalties": _money(owed.penalties, loan.currency),
            "outstanding_total": _money(owed.total, loan.currency),
            "interest_paid_in_advance": _money(advance, loan.currency),
            "paid_to_date": _money(received, loan.currency),
            "last_payment_date": last_paid.isoformat() if last_paid else "",
            "delinquency_bucket": bucket.bucket,
            "days_past_due_at_last_change": str(bucket.days_past_due),
            "bucket_since": "" if bucket is CURRENT else bucket.since.isoformat(),
            "non_performing": "true" if bucket.non_performing else "false",
        }
        rows.append({column: values[column] for column in LOAN_TAPE_COLUMNS})
    return rows
