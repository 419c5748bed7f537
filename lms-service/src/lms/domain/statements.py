"""Bank statement lines: parsing a CSV file and matching each line to a recorded payment.

The file is all or nothing: any bad row rejects the whole file (every bad row is
reported with its line number and reason), so a statement is never half imported.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from loanmath import is_supported_currency, round_money

COLUMNS = ("statement_line_id", "value_date", "amount", "currency", "reference", "counterparty")
DATE_TOLERANCE_DAYS = 3


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One parsed row: a credit (positive) or debit (negative) on the bank account."""

    line_no: int
    line_id: str
    value_date: date
    amount: Decimal
    currency: str
    reference: str
    counterparty: str


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one row could not be read."""

    line_no: int
    line_id: str | None
    reason: str


def parse_statement(text: str) -> tuple[list[StatementLine], list[LineError]]:
    """Every good row and every bad one (line numbers count the header as line 1)."""
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(name.strip() for name in (reader.fieldnames or ()))
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [LineError(1, None, f"missing columns: {', '.join(missing)}")]
    lines: list[StatementLine] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    for offset, raw in enumerate(reader, start=2):
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        line_id = row.get("statement_line_id") or None
        reason = _row_problem(row, seen)
        if reason is not None:
            errors.append(LineError(offset, line_id, reason))
            continue
        assert line_id is not None
        seen.add(line_id)
        lines.append(
            StatementLine(
                line_no=offset,
                line_id=line_id,
                value_date=date.fromisoformat(row["value_date"]),
                amount=Decimal(row["amount"]),
                currency=row["currency"],
                reference=row["reference"],
                counterparty=row["counterparty"],
            )
        )
    if not lines and not errors:
        errors.append(LineError(1, None, "the file has no statement lines"))
    return lines, errors


def _row_problem(row: dict[str, str], seen: set[str]) -> str | None:
    if any("\x00" in value for value in row.values()):
        return "a field contains a NUL character"
    line_id = row.get("statement_line_id", "")
    if not line_id:
        return "statement_line_id is empty"
    if line_id in seen:
        return f"statement_line_id {line_id!r} appears twice in the file"
    try:
        date.fromisoformat(row.get("value_date", ""))
    except ValueError:
        return f"value_date {row.get('value_date')!r} is not an ISO date (YYYY-MM-DD)"
    currency = row.get("currency", "")
    if not is_supported_currency(currency):
        return f"currency {currency!r} is not a supported ISO 4217 code"
    text = row.get("amount", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return f"amount {text!r} is not a decimal number"
    if not amount.is_finite() or amount == 0:
        return f"amount {text!r} must be a non-zero number"
    if round_money(amount, currency) != amount:
        return f"amount {text!r} has more decimals than {currency} allows"
    return None


class MatchStatus(StrEnum):
    """What became of a statement line."""

    MATCHED = "matched"
    AMOUNT_DIFFERENCE = "amount_difference"
    UNMATCHED = "unmatched"
    UNMATCHED_DEBIT = "unmatched_debit"
    ALREADY_IMPORTED = "already_imported"


@dataclass(frozen=True, slots=True)
class PaymentCandidate:
    """A recorded, unreversed payment a line may match."""

    payment_id: str
    loan_id: str
    external_ref: str
    amount: Decimal
    currency: str
    value_date: date
    reconciled: bool


@dataclass(frozen=True, slots=True)
class LineMatch:
    """The decision for one line; `difference` is line amount minus payment amount."""

    line: StatementLine
    status: MatchStatus
    payment_id: str | None = None
    loan_id: str | None = None
    difference: Decimal | None = None


def match_line(
    line: StatementLine, candidates: Sequence[PaymentCandidate], taken: set[str]
) -> LineMatch:
    """Match by reference (the payment's external_ref), then amount and date.

    Equal amount within DATE_TOLERANCE_DAYS: matched. Same reference, another amount:
    an amount difference to review (nothing posted). A credit matching nothing is
    unmatched (it goes to suspense); a debit matching nothing is only reported.
    """
    if line.amount < 0:
        return LineMatch(line, MatchStatus.UNMATCHED_DEBIT)
    same_ref = [
        c
        for c in candidates
        if c.external_ref == line.reference
        and c.currency == line.currency
        and not c.reconciled
        and c.payment_id not in taken
        and abs((c.value_date - line.value_date).days) <= DATE_TOLERANCE_DAYS
    ]
    exact = [c for c in same_ref if c.amount == line.amount]
    if exact:
        best = min(exact, key=lambda c: (abs((c.value_date - line.value_date).days), c.payment_id))
        return LineMatch(line, MatchStatus.MATCHED, best.payment_id, best.loan_id)
    if same_ref:
        best = min(same_ref, key=lambda c: (abs(c.amount - line.amount), c.payment_id))
        return LineMatch(
            line,
            MatchStatus.AMOUNT_DIFFERENCE,
            best.payment_id,
            best.loan_id,
            line.amount - best.amount,
        )
    return LineMatch(line, MatchStatus.UNMATCHED)
