"""Servicing requests (maker-checker) as the API shows them, whatever they ask for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lms.adapters.orm import ServicingRequestRow


@dataclass(frozen=True, slots=True)
class RequestView:
    """A servicing request as the API shows it."""

    id: str
    loan_id: str
    kind: str
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    outcome: dict[str, str] | None


def request_view(row: ServicingRequestRow) -> RequestView:
    """A stored request as the API shows it."""
    return RequestView(
        id=row.id,
        loan_id=row.loan_id,
        kind=row.kind,
        status=row.status,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_comment=row.decision_comment,
        outcome=row.outcome,
    )
