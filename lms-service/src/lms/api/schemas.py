"""Response models: money as decimal strings, dates ISO 8601, snake_case."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

Money = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}),
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class OutstandingOut(_Out):
    """What is owed now per component (interest counts once its installment is due)."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money


class NextDueOut(_Out):
    """The next installment not fully paid."""

    date: date
    amount: Money


class LoanOut(_Out):
    """A booked loan as of today."""

    id: str
    status: str
    application_id: str
    product_code: str
    principal: Money
    currency: str
    annual_rate: Money
    term: int
    disbursement_date: date
    booked_at: datetime
    schedule_version: int
    outstanding: OutstandingOut
    next_due: NextDueOut | None
    days_past_due: int
    delinquency_bucket: str
    schedule_matches_offer: bool
    mismatches: list[str]


class LoanPage(_Out):
    """One page of loans."""

    items: list[LoanOut]
    total: int
    limit: int
    offset: int


class InstallmentOut(_Out):
    """One installment with what has been paid and its status today."""

    number: int
    due_date: date
    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money
    paid: Money
    status: str


class ScheduleTotalsOut(_Out):
    """Sums over the schedule."""

    principal: Money
    interest: Money
    fees: Money
    penalties: Money
    total: Money
    paid: Money


class ScheduleOut(_Out):
    """The loan's current schedule version."""

    loan_id: str
    currency: str
    schedule_version: int
    installments: list[InstallmentOut]
    totals: ScheduleTotalsOut
