"""The close-of-business scheduler: closes each business date once its cut-off has passed.

It runs beside the relay and the consumers (``LMS_COB_SCHEDULE_ENABLED``). Every
``LMS_COB_SCHEDULE_POLL_S`` it works out, in the lender's time zone (``LMS_COB_TIMEZONE``),
the latest business date whose close is due (``LMS_COB_CUTOFF`` on the next day has passed)
and, if that date is not closed yet, calls the same use case as ``POST /v1/cob/runs``: skipped
dates are caught up in order, and a run killed half-way resumes at its first chunk not done.

Several replicas may run the scheduler at once: a run and its chunk plan are created once
(the second starter loses the insert), each chunk is claimed under a row lock and marked
done in its own transaction, so replicas share a date's chunks and never run one twice.
A failure (database down, a refused date) is logged and counted, and the next poll tries
again; the ``LendingCloseOfBusinessOverdue`` alert fires if no date gets closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from lms.adapters.cob import CobRepository
from lms.domain.cob import business_date_due
from lms.domain.errors import LmsError
from lms.metrics import COB_SCHEDULER_FAILURES
from lms.service.cob import CobOutcome, close_business
from servicekit.clock import Clock
from servicekit.db import UnitOfWorkFactory

logger = logging.getLogger("lms.cob.scheduler")
REQUESTED_BY = "scheduler"


@dataclass(frozen=True, slots=True)
class CobSchedule:
    """When business dates close: the local cut-off time and the lender's time zone."""

    cutoff: time
    timezone: str
    chunk_size: int
    concurrency: int


class CobScheduler:
    """Closes the due business date (and any skipped before it) on every poll."""

    def __init__(
        self,
        factory: UnitOfWorkFactory,
        clock: Clock,
        schedule: CobSchedule,
        *,
        poll_s: float,
    ) -> None:
        self.factory = factory
        self.clock = clock
        self.schedule = schedule
        self.zone = ZoneInfo(schedule.timezone)
        self.poll_s = poll_s

    def due_date(self, local_now: datetime | None = None) -> date:
        """The latest business date whose close is due now (or at `local_now`)."""
        local_now = local_now or self.clock.now().astimezone(self.zone)
        return business_date_due(local_now, self.schedule.cutoff)

    async def tick(self) -> CobOutcome | None:
        """Close the due date if it is not closed yet; None when there was nothing to do."""
        local_now = self.clock.now().astimezone(self.zone)
        due = self.due_date(local_now)
        async with self.factory() as uow:
            last = await CobRepository(uow.session).last_closed_date()
        if last is not None and last >= due:
            return None
        outcome = await close_business(
            self.factory,
            due,
            requested_by=REQUESTED_BY,
            today=local_now.date(),
            now=self.clock.now,
            chunk_size=self.schedule.chunk_size,
            concurrency=self.schedule.concurrency,
        )
        logger.info(
            "close of business for %s: %s, closed %s",
            due,
            outcome.run.status,
            ", ".join(d.isoformat() for d in outcome.dates_closed) or "nothing",
        )
        return outcome

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until stopped; a failed poll is logged and counted, the next one retries."""
        while not stop.is_set():
            try:
                await self.tick()
            except LmsError as exc:
                COB_SCHEDULER_FAILURES.labels(exc.code).inc()
                logger.warning("scheduled close of business refused: %s", exc)
            except Exception:
                COB_SCHEDULER_FAILURES.labels("error").inc()
                logger.exception("scheduled close of business failed; retrying next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
