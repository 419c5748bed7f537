"""Collections: cases on delinquent loans, dunning rules, promises to pay, queue priority.

Pure rules only; the collections step of close of business and the API apply them.

- A loan with days past due gets one open case; the case closes when the loan is current
  again or no longer active.
- Dunning rules, per delinquency bucket, schedule contact tasks: a rule
  ``{after_days, action}`` of the loan's current bucket falls due ``after_days`` after the
  business date on which the loan entered that bucket.
- A promise to pay (amount, currency, date) is resolved by the close of business of its
  date: kept if posted payments valued from the day it was made up to its date reach the
  amount, otherwise broken.
- The queue puts the most severe bucket first, then more broken promises, then the larger
  amount overdue (see `priority_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from lms.domain.delinquency import Bucket
from lms.domain.errors import (
    CaseClosedError,
    CurrencyMismatchError,
    InvalidAmountError,
    PromiseInPastError,
)
from lms.domain.reports import bucket_floor
from loanmath import CURRENCIES

NOTE_MAX_LENGTH = 1000
MAX_AMOUNT_DIGITS = 15  # integer digits of a promised amount


class ActionKind(StrEnum):
    """What an agent did on a case."""

    CALL = "call"
    MESSAGE = "message"
    VISIT = "visit"
    NOTE = "note"


class TaskKind(StrEnum):
    """The contact a dunning rule schedules."""

    CALL = "call"
    MESSAGE = "message"
    VISIT = "visit"


class CaseStatus(StrEnum):
    """A collection case is open while its loan is delinquent."""

    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    """Why close of business closed a case."""

    CURED = "cured"
    LOAN_INACTIVE = "loan_inactive"


class PromiseStatus(StrEnum):
    """A promise to pay is open until the close of business of its date."""

    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"


class TaskStatus(StrEnum):
    """A contact task: open, done by an agent, or cancelled when its case closed."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class DunningRule:
    """Contact the borrower (`action`) once the loan has been `after_days` in the bucket."""

    bucket: str
    after_days: int
    action: TaskKind

    @property
    def key(self) -> str:
        """Stable name of the rule, part of the task's uniqueness (loan, rule, due date)."""
        return f"{self.bucket}:{self.after_days}:{self.action.value}"


DunningRules = Mapping[str, tuple[DunningRule, ...]]


def parse_dunning(
    code: str, value: Any, buckets: Sequence[Bucket]
) -> dict[str, tuple[DunningRule, ...]]:
    """`dunning = {"1-30" = [{after_days = 0, action = "message"}, ...], ...}`, validated.

    Every key must be a delinquency bucket of the product other than the first (current);
    `after_days` a whole number from 0; `action` one of call, message, visit; a rule
    appears once per bucket.
    """
    where = f"servicing.toml entry {code!r}"
    if not isinstance(value, dict):
        raise ValueError(f"{where}: dunning must be a table of bucket = [rules]")
    labels = [b.label for b in buckets]
    rules: dict[str, tuple[DunningRule, ...]] = {}
    for label, items in value.items():
        if label not in labels[1:]:
            raise ValueError(f"{where}: dunning names {label!r}, not a delinquent bucket")
        if not isinstance(items, list):
            raise ValueError(f"{where}: dunning for {label!r} must be a list of rules")
        parsed: list[DunningRule] = []
        for item in items:
            if not isinstance(item, dict) or set(item) != {"after_days", "action"}:
                raise ValueError(f"{where}: bad dunning rule {item!r} (after_days, action)")
            days = item["after_days"]
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise ValueError(f"{where}: bad after_days {days!r} in dunning for {label!r}")
            try:
                action = TaskKind(item["action"])
            except ValueError:
                raise ValueError(
                    f"{where}: unknown dunning action {item['action']!r} for {label!r}"
                ) from None
            rule = DunningRule(label, days, action)
            if rule in parsed:
                raise ValueError(f"{where}: dunning rule {rule.key} appears twice")
            parsed.append(rule)
        rules[label] = tuple(sorted(parsed, key=lambda r: (r.after_days, r.action.value)))
    return rules


@dataclass(frozen=True, slots=True)
class DueTask:
    """A contact task a dunning rule schedules for one loan."""

    rule_key: str
    kind: TaskKind
    due_on: date


def due_tasks(bucket: str, entered_on: date, on: date, rules: DunningRules) -> list[DueTask]:
    """Tasks of the bucket's rules due by `on` for a loan in `bucket` since `entered_on`.

    The due date is `entered_on + after_days`; rules whose due date is after `on` are not
    due yet. The same loan, bucket and entry date always give the same tasks, so the
    caller stores each (loan, rule, due date) once.
    """
    out = []
    for rule in rules.get(bucket, ()):
        due_on = entered_on + timedelta(days=rule.after_days)
        if due_on <= on:
            out.append(DueTask(rule.key, rule.action, due_on))
    return out


def promise_outcome(amount: Decimal, paid: Decimal, promised_on: date, on: date) -> PromiseStatus:
    """Where a promise stands at the close of business of `on`.

    Open before its date; from the close of its date on: kept when `paid` (posted payments
    valued from the day it was made up to its date) reaches the amount, else broken.
    """
    if on < promised_on:
        return PromiseStatus.OPEN
    return PromiseStatus.KEPT if paid >= amount else PromiseStatus.BROKEN


def paid_toward(
    payments: Iterable[tuple[date, Decimal]], made_on: date, promised_on: date
) -> Decimal:
    """Sum of the payments valued from `made_on` to `promised_on`, both included."""
    return sum(
        (amount for value_date, amount in payments if made_on <= value_date <= promised_on),
        Decimal(0),
    )


def check_promise(
    *,
    case_status: str,
    amount: Decimal,
    currency: str,
    loan_currency: str,
    promised_on: date,
    business_date: date,
) -> None:
    """Refuse a promise on a closed case, in another currency, of a non-positive or
    over-precise amount, or for a date before the business date."""
    if case_status != CaseStatus.OPEN:
        raise CaseClosedError("the case is closed; the loan is no longer delinquent")
    if currency != loan_currency:
        raise CurrencyMismatchError(f"the loan is in {loan_currency}, the promise in {currency}")
    minor = CURRENCIES[loan_currency].minor_units
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmountError(f"a promise needs a positive amount, got {amount}")
    if amount.adjusted() >= MAX_AMOUNT_DIGITS:
        raise InvalidAmountError(f"{amount} has more than {MAX_AMOUNT_DIGITS} integer digits")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > minor:
        raise InvalidAmountError(
            f"{amount} has more decimals than {loan_currency} allows ({minor})"
        )
    if promised_on < business_date:
        raise PromiseInPastError(
            f"the promised date {promised_on} is before the business date {business_date}"
        )


@dataclass(frozen=True, slots=True)
class QueueFacts:
    """What the queue orders an open case by."""

    loan_id: str
    bucket: str
    buckets: Sequence[Bucket]
    broken_promises: int
    amount_overdue: Decimal
    days_past_due: int


def bucket_severity(bucket: str, buckets: Sequence[Bucket]) -> int:
    """How severe a bucket is: the fewest days past due it holds (1-30: 1, 31-60: 31...)."""
    return bucket_floor(bucket, buckets)


def priority_key(facts: QueueFacts) -> tuple[int, int, Decimal, int, str]:
    """Sort key of the queue (ascending sort puts the first case to work first).

    1. bucket severity, most severe first (the bucket's lowest days past due, so products
       with their own buckets compare by days);
    2. broken promises on the case, more first;
    3. amount overdue, larger first (compared as a number, whatever the currency);
    4. days past due, more first; then loan id, for a stable order.
    """
    return (
        -bucket_severity(facts.bucket, facts.buckets),
        -facts.broken_promises,
        -facts.amount_overdue,
        -facts.days_past_due,
        facts.loan_id,
    )


def prioritise(cases: Iterable[QueueFacts]) -> list[QueueFacts]:
    """Cases in queue order."""
    return sorted(cases, key=priority_key)
