"""Inbox handlers: each runs inside the inbox transaction that records the event id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from lending_schemas import CloudEvent, LoanBookedV1
from los.service.handoff import record_loan_booked


async def handle_loan_booked(
    session: AsyncSession, event: LoanBookedV1, envelope: CloudEvent
) -> None:
    """The LMS booked a loan: record when, and whether its schedule matches the offer."""
    await record_loan_booked(session, event)
