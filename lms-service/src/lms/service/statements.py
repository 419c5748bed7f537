"""Importing a bank statement: match lines to payments, hold unmatched credits in suspense.

All or nothing: a file with any bad row is rejected whole (each bad row reported), so
nothing is posted from it. The same bytes again return the first import's report; a
line id already imported by another file is reported and skipped.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from lms.adapters.orm import BankStatementRow, JournalEntryRow, PostingRow, StatementLineRow
from lms.adapters.repository import JournalRepository, PaymentRepository, StatementRepository
from lms.domain.errors import StatementRejectedError
from lms.domain.ledger import suspense_lines
from lms.domain.statements import (
    LineMatch,
    MatchStatus,
    PaymentCandidate,
    match_line,
    parse_statement,
)
from servicekit.db import UnitOfWork


def _line_report(match: LineMatch) -> dict[str, Any]:
    line = match.line
    return {
        "line_no": line.line_no,
        "statement_line_id": line.line_id,
        "value_date": line.value_date.isoformat(),
        "amount": format(line.amount, "f"),
        "currency": line.currency,
        "reference": line.reference,
        "status": match.status.value,
        "payment_id": match.payment_id,
        "loan_id": match.loan_id,
        "difference": None if match.difference is None else format(match.difference, "f"),
    }


async def import_statement(
    uow: UnitOfWork, content: bytes, *, imported_by: str, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Import a statement CSV; returns the report and whether this call imported it."""
    session = uow.session
    file_hash = hashlib.sha256(content).hexdigest()
    statements = StatementRepository(session)
    previous = await statements.by_hash(file_hash)
    if previous is not None:
        return dict(previous.report), False
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementRejectedError(
            "the statement is not UTF-8 text", [{"line_no": 0, "reason": "not UTF-8"}]
        ) from None
    lines, errors = parse_statement(text)
    if errors:
        raise StatementRejectedError(
            f"{len(errors)} bad row(s); nothing was imported",
            [
                {"line_no": e.line_no, "statement_line_id": e.line_id, "reason": e.reason}
                for e in errors
            ],
        )
    statement_id = f"STM-{uuid.uuid4().hex}"
    statements.add(
        BankStatementRow(
            id=statement_id,
            file_hash=file_hash,
            imported_at=now,
            imported_by=imported_by,
            line_count=len(lines),
            report={},
        )
    )
    await session.flush()
    known = await statements.known_line_ids([line.line_id for line in lines])
    payments = PaymentRepository(session)
    rows = await payments.candidates(sorted({line.reference for line in lines}))
    by_id = {p.id: p for p in rows}
    candidates = [
        PaymentCandidate(
            p.id,
            p.loan_id,
            p.external_ref,
            p.amount,
            p.currency,
            p.value_date,
            p.statement_line_id is not None,
        )
        for p in rows
    ]
    taken: set[str] = set()
    report_lines: list[dict[str, Any]] = []
    suspense_total: dict[str, Decimal] = {}
    for line in lines:
        if line.line_id in known:
            report_lines.append(_line_report(LineMatch(line, MatchStatus.ALREADY_IMPORTED)))
            continue
        match = match_line(line, candidates, taken)
        entry_id: int | None = None
        if match.status is MatchStatus.MATCHED:
            assert match.payment_id is not None
            taken.add(match.payment_id)
            by_id[match.payment_id].statement_line_id = line.line_id
        elif match.status is MatchStatus.UNMATCHED:
            entry_id = await _post_suspense(
                session, line.line_id, line.currency, line.amount, line.value_date, now
            )
            suspense_total[line.currency] = (
                suspense_total.get(line.currency, Decimal(0)) + line.amount
            )
        statements.add(
            StatementLineRow(
                line_id=line.line_id,
                statement_id=statement_id,
                value_date=line.value_date,
                amount=line.amount,
                currency=line.currency,
                reference=line.reference,
                counterparty=line.counterparty,
                status=match.status.value,
                payment_id=match.payment_id,
                loan_id=match.loan_id,
                difference=match.difference,
                entry_id=entry_id,
            )
        )
        report_lines.append(_line_report(match))
    counts = {s.value: sum(1 for r in report_lines if r["status"] == s.value) for s in MatchStatus}
    report: dict[str, Any] = {
        "statement_id": statement_id,
        "file_hash": file_hash,
        "lines": report_lines,
        "counts": counts,
        "posted_to_suspense": {c: format(v, "f") for c, v in sorted(suspense_total.items())},
    }
    stored = await session.get(BankStatementRow, statement_id)
    assert stored is not None
    stored.report = report
    await uow.commit()
    return report, True


async def _post_suspense(
    session: Any, line_id: str, currency: str, amount: Decimal, value_date: Any, now: datetime
) -> int:
    lines = suspense_lines(currency, amount)
    entry = JournalEntryRow(
        loan_id=None,
        entry_type="statement_suspense",
        currency=currency,
        effective_date=value_date,
        created_at=now,
        reference=line_id,
    )
    entry.postings = [
        PostingRow(account=p.account.value, side=p.side.value, amount=p.amount, currency=currency)
        for p in lines.postings
    ]
    JournalRepository(session).add(entry)
    await session.flush()
    return entry.id
