"""Inbox handlers: parse has been done by the inbox, so each calls one use case and maps errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import CloudEvent, LoanDisbursedV1
from lms.domain.errors import LmsError
from lms.service.booking import book_loan, book_loans
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


async def handle_loan_disbursed_batch(
    session: AsyncSession,
    items: Sequence[tuple[LoanDisbursedV1, CloudEvent]],
    *,
    clock: Clock | None = None,
) -> None:
    """Book a fetched batch in one transaction; a refusal sends the batch back one by one."""
    now = (clock or SystemClock()).now()
    try:
        results = await book_loans(
            session, [(event, envelope.id) for event, envelope in items], now=now
        )
    except LmsError as exc:
        raise PermanentError(exc.code, str(exc)) from exc
    logger.info("booked %d of a batch of %d", sum(r.booked for r in results), len(results))
