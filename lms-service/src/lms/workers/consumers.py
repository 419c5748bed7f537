"""Inbox handlers: parse has been done by the inbox, so each calls one use case and maps errors."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import CloudEvent, LoanDisbursedV1
from lms.domain.errors import LmsError
from lms.service.booking import book_loan
from servicekit.clock import Clock, SystemClock
from servicekit.inbox import PermanentError

logger = logging.getLogger("lms.consumers")


async def handle_loan_disbursed(
    session: AsyncSession,
    event: LoanDisbursedV1,
    envelope: CloudEvent,
    *,
    clock: Clock | None = None,
) -> None:
    """Book the loan; a domain refusal becomes a PermanentError so the event is dead-lettered."""
    now = (clock or SystemClock()).now()
    try:
        result = await book_loan(session, event, now=now, event_id=envelope.id)
    except LmsError as exc:
        raise PermanentError(exc.code, str(exc)) from exc
    logger.info(
        "loan %s %s (matches offer: %s)",
        result.loan_id,
        "booked" if result.booked else "already booked with the same terms",
        result.matches_offer,
    )
