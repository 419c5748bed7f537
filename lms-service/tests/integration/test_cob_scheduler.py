"""The close-of-business scheduler on every backend: which dates it closes, when, and that a
failing poll neither stops it nor changes anything.

One loan of the shared test terms is booked (disbursed 2024-05-01); the clock is frozen and
moved by hand, so each tick's due date is known from the cut-off alone.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from lms.adapters.orm import CobRunRow, InterestAccrualRow
from lms.bootstrap import build_app
from lms.service.cob import close_business
from lms.settings import LmsSettings
from lms.workers.cob import REQUESTED_BY, CobSchedule, CobScheduler
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.metrics import REGISTRY

pytestmark = pytest.mark.integration

DISBURSED = date(2024, 5, 1)


def scheduler(factory, clock, *, cutoff=time(0, 30), zone="UTC", poll_s=60.0) -> CobScheduler:
    schedule = CobSchedule(cutoff=cutoff, timezone=zone, chunk_size=5000, concurrency=2)
    return CobScheduler(factory, clock, schedule, poll_s=poll_s)


@pytest.fixture
async def booked(inbox, to_message, disbursed, uow_factory, clock):
    """One booked loan and its disbursement date closed by an operator."""
    event = disbursed(loan_id="SCHED-1", application_id="APP-SCHED-1")
    assert await inbox.process(to_message(event)) == "processed"
    at = datetime(2024, 5, 1, 22, tzinfo=UTC)
    await close_business(
        uow_factory, DISBURSED, requested_by="ops", today=DISBURSED, now=lambda: at
    )


async def runs(factory: UnitOfWorkFactory) -> dict[date, tuple[str, str]]:
    async with factory() as uow:
        rows = await uow.session.execute(
            select(CobRunRow.business_date, CobRunRow.status, CobRunRow.requested_by)
        )
        return {d: (status, who) for d, status, who in rows.all()}


async def accrual_dates(factory: UnitOfWorkFactory) -> list[date]:
    async with factory() as uow:
        rows = await uow.session.execute(
            select(InterestAccrualRow.business_date, func.count())
            .group_by(InterestAccrualRow.business_date)
            .order_by(InterestAccrualRow.business_date)
        )
        return [d for d, n in rows.all() if n == 1]


async def until(condition, what: str) -> None:
    """Poll (bounded: 20 s) until `condition()` holds."""
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


async def test_it_catches_up_to_the_due_date_once_the_cutoff_passed(booked, uow_factory, clock):
    worker = scheduler(uow_factory, clock)
    # 00:10 on the 5th: the 4th is not due before 00:30, so the 3rd is the latest due date.
    clock.set(datetime(2024, 5, 5, 0, 10, tzinfo=UTC))
    outcome = await worker.tick()
    assert outcome is not None
    assert outcome.dates_closed == [date(2024, 5, 2), date(2024, 5, 3)]
    assert outcome.run.status == "completed"
    # Closed already: a second poll changes nothing.
    assert await worker.tick() is None
    clock.set(datetime(2024, 5, 5, 0, 30, tzinfo=UTC))
    outcome = await worker.tick()
    assert outcome is not None
    assert outcome.dates_closed == [date(2024, 5, 4)]
    found = await runs(uow_factory)
    assert found == {
        DISBURSED: ("completed", "ops"),
        date(2024, 5, 2): ("completed", REQUESTED_BY),
        date(2024, 5, 3): ("completed", REQUESTED_BY),
        date(2024, 5, 4): ("completed", REQUESTED_BY),
    }
    # The loan accrued once on each date after its disbursement.
    assert await accrual_dates(uow_factory) == [date(2024, 5, d) for d in (2, 3, 4)]


async def test_business_dates_follow_the_lenders_time_zone(booked, uow_factory, clock):
    # 15:45 UTC on 4 May is 00:45 on 5 May in Tokyo: the 4th is due there, not yet in UTC.
    clock.set(datetime(2024, 5, 4, 15, 45, tzinfo=UTC))
    assert scheduler(uow_factory, clock).due_date() == date(2024, 5, 3)
    tokyo = scheduler(uow_factory, clock, zone="Asia/Tokyo")
    assert tokyo.due_date() == date(2024, 5, 4)
    outcome = await tokyo.tick()
    assert outcome is not None
    assert outcome.dates_closed[-1] == date(2024, 5, 4)


async def test_a_date_closed_ahead_by_an_operator_is_left_alone(booked, uow_factory, clock):
    at = datetime(2024, 5, 9, 22, tzinfo=UTC)
    day = date(2024, 5, 9)
    await close_business(uow_factory, day, requested_by="ops", today=day, now=lambda: at)
    before = await runs(uow_factory)
    clock.set(datetime(2024, 5, 6, 1, 0, tzinfo=UTC))  # due: the 5th, already behind
    assert await scheduler(uow_factory, clock).tick() is None
    assert await runs(uow_factory) == before


async def test_the_worker_loop_closes_dates_and_stops_when_asked(booked, uow_factory, clock):
    clock.set(datetime(2024, 5, 3, 1, 0, tzinfo=UTC))
    worker = scheduler(uow_factory, clock, poll_s=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:

        async def closed(day: date) -> bool:
            return day in await runs(uow_factory)

        await until(lambda: closed(date(2024, 5, 2)), "2 May closed")
        clock.set(datetime(2024, 5, 4, 1, 0, tzinfo=UTC))
        await until(lambda: closed(date(2024, 5, 3)), "3 May closed")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert task.exception() is None
    assert (await runs(uow_factory))[date(2024, 5, 3)] == ("completed", REQUESTED_BY)


async def test_a_failing_poll_is_counted_and_the_next_one_tries_again(tmp_path, clock):
    # A database that is not there: every poll fails, none stops the loop.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/lms.db")
    clock.set(datetime(2024, 5, 3, 1, 0, tzinfo=UTC))
    worker = scheduler(UnitOfWorkFactory(engine), clock, poll_s=0.01)

    def failures() -> float:
        return (
            REGISTRY.get_sample_value("lms_cob_scheduler_failures_total", {"reason": "error"})
            or 0.0
        )

    start = failures()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:

        async def failed_thrice() -> bool:
            return failures() >= start + 3

        await until(failed_thrice, "three failed polls")
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await engine.dispose()


async def test_the_app_runs_the_scheduler_only_when_enabled(database_url, clock):
    for enabled in (False, True):
        settings = LmsSettings(
            database_url=database_url,
            run_workers=False,
            environment="test",
            cob_schedule_enabled=enabled,
        )
        app = build_app(settings, clock=clock)
        try:
            assert ("cob-scheduler" in app.state.runtime.workers) is enabled
        finally:
            await app.state.engine.dispose()
