"""The LOS→LMS handoff in one process under a seeded scheduler and a faulty transport.

Real code on real (SQLite) databases: the LOS disbursement use case stages LoanDisbursed in
its outbox, servicekit's `OutboxRelay.publish_pending` publishes it, servicekit's
`KafkaInboxConsumer` (one poll per step) hands it to the LMS `InboxProcessor` with the
handlers the LMS registers (batch booking, de-duplication), the LMS relay publishes
LoanBooked and the LOS consumer records it. Only the transport is fake
(`tests.sim.transport`), and time is a `FixedClock` the scheduler moves.

One seed decides everything: how hostile the transport is, how big relay batches are,
the order of steps, where consumers crash (mid-transaction, or after the database commit and
before the offset commit) and where the database answers with a transient error. After the
hostile phase the faults stop and the world settles; then the invariants are checked.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from lms.bootstrap import LOAN_DISBURSED_TOPIC, loan_disbursed_consumer
from los.bootstrap import LOAN_BOOKED_TOPIC
from los.bootstrap import consumers as los_consumers
from los.domain.products import Catalog
from los.service.applications import disburse_application
from servicekit.auth import issue_token
from servicekit.clock import FixedClock
from servicekit.db import UnitOfWorkFactory, create_engine
from servicekit.inbox import DeadLetterSink, InboxProcessor, KafkaInboxConsumer
from servicekit.outbox import OutboxRelay
from servicekit.testing import DatabaseFactory
from tests.sim.transport import Faults, SimBroker, SimConsumer

START = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
LOANS_AVAILABLE = 6  # accepted applications in the LOS template; a seed disburses 1..6
HOSTILE_STEPS = 60
SETTLE_ROUNDS = 40


class SimCrash(BaseException):
    """The process dies here: nothing below this point runs, open transactions roll back."""


# ---------------------------------------------------------------------------------------------
# Templates: built once per test session, copied per seed.


@dataclass(frozen=True)
class Templates:
    """Migrated SQLite files: the LOS with accepted offers, the LMS empty."""

    los: Path
    lms: Path
    application_ids: tuple[str, ...]


def _national_id(n: int) -> str:
    # Valid US SSN shape; the last two digits "07" pick the sandbox's clean outcome.
    return f"{120 + n:03d}-{11 + n:02d}-{(n * 37) % 100:02d}07"


async def accepted_applications(url: str, workdir: Path, count: int) -> list[str]:
    """Drive the LOS API to `count` applications with an accepted offer."""
    from los.bootstrap import build_app
    from los.settings import LosSettings

    settings = LosSettings(
        database_url=url,
        run_workers=False,
        environment="test",
        document_dir=workdir / "documents",
    )
    app = build_app(settings, clock=FixedClock(START))
    secret = settings.jwt_secret.get_secret_value()
    agent = {"Authorization": f"Bearer {issue_token(secret, 'sim-agent', ['applicant_agent'])}"}
    ids = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sim"
        ) as client:
            for n in range(count):
                applicant = {
                    "first_name": "Sim",
                    "last_name": f"Borrower{n}",
                    "date_of_birth": f"198{n % 10}-0{1 + n % 9}-15",
                    "national_id": _national_id(n),
                    "email": f"sim{n}@example.com",
                    "phone": "+15551234567",
                    "address": {
                        "line1": f"{n} Main St",
                        "city": "Springfield",
                        "postal_code": "12345",
                        "country": "US",
                    },
                    "employment_status": "employed",
                    "monthly_income": "6000.00",
                }
                r = await client.post("/v1/applicants", json=applicant, headers=agent)
                assert r.status_code == 201, r.text
                body = {
                    "applicant_id": r.json()["id"],
                    "product_code": "PL-STD",
                    "requested_amount": str(5000 + 750 * n) + ".00",
                    "currency": "USD",
                    "term": 12 + 6 * (n % 4),
                    "purpose": "home improvement",
                    "monthly_income": "6000.00",
                    "monthly_obligations": "500.00",
                }
                r = await client.post("/v1/applications", json=body, headers=agent)
                assert r.status_code == 201, r.text
                app_id = r.json()["id"]
                r = await client.post(f"/v1/applications/{app_id}/submit", headers=agent)
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "approved", r.text
                r = await client.post(f"/v1/applications/{app_id}/offer/accept", headers=agent)
                assert r.status_code == 200, r.text
                ids.append(app_id)
    finally:
        await app.state.engine.dispose()
    return ids


def build_templates(workdir: Path) -> Templates:
    """Migrate both databases and prepare the LOS template (blocking, once per session)."""
    los = Path(DatabaseFactory("sqlite", "los:migrations", workdir).template())
    lms = Path(DatabaseFactory("sqlite", "lms:migrations", workdir).template())
    los_ready = workdir / "los-accepted.db"
    shutil.copyfile(los, los_ready)
    ids = asyncio.run(
        accepted_applications(f"sqlite+aiosqlite:///{los_ready}", workdir, LOANS_AVAILABLE)
    )

    async def checkpoint() -> None:
        # Application events staged so far are not the handoff's business: mark them sent,
        # and fold the WAL into the file so a plain copy carries everything.
        engine = create_engine(f"sqlite+aiosqlite:///{los_ready}")
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE outbox SET published_at = created_at"))
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        await engine.dispose()

    asyncio.run(checkpoint())
    return Templates(los_ready, lms, tuple(ids))


class Databases:
    """The two databases a run plays on, reset to the templates before each seed.

    The engines live for the whole run (their statement caches and connections are most of
    what a seed would otherwise spend); a reset copies every table back from the template.
    """

    def __init__(self, templates: Templates, workdir: Path) -> None:
        self.templates = templates
        self.paths = {"los": workdir / "sim-los.db", "lms": workdir / "sim-lms.db"}
        for name, path in self.paths.items():
            shutil.copyfile(getattr(templates, name), path)
        self.engines = {
            name: create_engine(f"sqlite+aiosqlite:///{path}") for name, path in self.paths.items()
        }

    async def reset(self) -> None:
        """Every table back to the template's rows (the engines' connections are idle here)."""
        for name, path in self.paths.items():
            template = getattr(self.templates, name)
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                conn.execute("PRAGMA foreign_keys=OFF")
                conn.execute("ATTACH DATABASE ? AS tpl", (str(template),))
                tables = [
                    r[0]
                    for r in conn.execute("SELECT name FROM tpl.sqlite_master WHERE type = 'table'")
                ]
                triggers = conn.execute(
                    "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger'"
                ).fetchall()
                conn.execute("BEGIN IMMEDIATE")
                # The ledger's and audit log's append-only triggers step aside for the reset.
                for trigger, _ in triggers:
                    conn.execute(f'DROP TRIGGER main."{trigger}"')
                for table in tables:
                    conn.execute(f'DELETE FROM main."{table}"')
                    conn.execute(f'INSERT INTO main."{table}" SELECT * FROM tpl."{table}"')
                for _, sql in triggers:
                    conn.execute(sql)
                conn.execute("COMMIT")
                conn.execute("DETACH DATABASE tpl")
            finally:
                conn.close()

    async def close(self) -> None:
        for engine in self.engines.values():
            await engine.dispose()


# ---------------------------------------------------------------------------------------------
# One seed.


@dataclass
class SeedReport:
    """What one seed did and what it found wrong (nothing, if `problems` is empty)."""

    seed: int
    loans: int = 0
    steps: int = 0
    trace: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class _OnePoll:
    """Wraps the long-lived consumer so `KafkaInboxConsumer.run` makes exactly one poll.

    The second `getmany` sets the stop flag; `stop()` does not leave the group (the member
    lives on between steps). A crash planned for this step is raised from `commit`, that
    is after the database transaction and before the offset commit.
    """

    def __init__(self, inner: SimConsumer, stop: asyncio.Event, crash_on_commit: bool) -> None:
        self.inner = inner
        self.stop_flag = stop
        self.crash_on_commit = crash_on_commit
        self.polls = 0
        self.fetched = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(self, timeout_ms: int = 0) -> Any:
        self.polls += 1
        if self.polls > 1:
            self.stop_flag.set()
            return {}
        batches = await self.inner.getmany(timeout_ms=timeout_ms)
        self.fetched = sum(len(records) for records in batches.values())
        return batches

    async def commit(self, offsets: Any) -> None:
        if self.crash_on_commit:
            raise SimCrash("consumer died after the database commit, before the offset commit")
        await self.inner.commit(offsets)

    def assignment(self) -> Any:
        return self.inner.assignment()

    async def end_offsets(self, partitions: Any) -> Any:
        return await self.inner.end_offsets(partitions)

    async def position(self, tp: Any) -> Any:
        return await self.inner.position(tp)


Handler = Callable[..., Awaitable[None]]


class _Side:
    """One service as the simulation sees it: database, relay and one inbox consumer."""

    def __init__(
        self,
        name: str,
        engine: AsyncEngine,
        broker: SimBroker,
        rng: random.Random,
        report: SeedReport,
        *,
        group_id: str,
        topic: str,
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, Handler],
        batch_size: int,
    ) -> None:
        self.name = name
        self.broker = broker
        self.rng = rng
        self.report = report
        self.engine = engine
        self.uow = UnitOfWorkFactory(self.engine)
        self.relay = OutboxRelay(
            name, self.uow.session_factory, broker.producer, batch_size=batch_size
        )
        self.group_id = group_id
        self.topic = topic
        self.hostile = True
        self.transient_p = rng.choice([0.0, 0.1, 0.3])
        self.crash_p = rng.choice([0.0, 0.1, 0.25])
        sink = DeadLetterSink(f"{name}-consumer", self.uow, broker.producer())
        self.processor = InboxProcessor(
            name,
            self.uow,
            {k: self._faulty(v) for k, v in handlers.items()},
            batch_handlers={k: self._faulty(v) for k, v in batch_handlers.items()},
            dead_letter=sink,
            max_attempts=5,
            backoff_initial_s=0.0,
            backoff_max_s=0.0,
        )
        self.sink = sink
        self.member = broker.consumer(group_id, [topic])

    def _faulty(self, handler: Handler) -> Handler:
        """The real handler, after which the database may fail or the process may die."""

        async def wrapped(*args: Any, **kwargs: Any) -> None:
            await handler(*args, **kwargs)
            if self.hostile and self.rng.random() < self.transient_p:
                self.report.faults[f"{self.name}.transient_db_error"] += 1
                raise OperationalError("COMMIT", {}, Exception("database is locked"))
            if self.hostile and self.rng.random() < self.crash_p / 2:
                self.report.faults[f"{self.name}.crash_mid_transaction"] += 1
                raise SimCrash("consumer died inside its database transaction")

        return wrapped

    async def start(self) -> None:
        await self.member.start()

    async def relay_step(self) -> int:
        """One `publish_pending`; a failed send leaves the rows pending for the next one."""
        try:
            return await self.relay.publish_pending(self.broker.producer())
        except Exception as exc:
            self.report.faults[f"{self.name}.relay_send_failed"] += 1
            self.report.trace.append(f"{self.name}.relay failed: {exc}")
            return 0

    async def consume_step(self) -> int:
        """One poll of the real consumer loop; a crash restarts the member from its commits."""
        crash_on_commit = self.hostile and self.rng.random() < self.crash_p
        stop = asyncio.Event()
        poll = _OnePoll(self.member, stop, crash_on_commit)
        loop = KafkaInboxConsumer(
            f"{self.name}-consumer", lambda: poll, self.processor, dead_letter_sink=self.sink
        )
        try:
            await loop.run(stop)
        except SimCrash as crash:
            self.report.faults[f"{self.name}.consumer_crash"] += 1
            self.report.trace.append(f"{self.name}.consumer crashed: {crash}")
            await self.restart_member()
        return poll.fetched

    async def restart_member(self) -> None:
        """A new member of the group: it resumes from the committed offsets."""
        await self.member.stop()
        self.member = self.broker.consumer(self.group_id, [self.topic])
        await self.member.start()

    async def rows(self, sql: str) -> list[Any]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())


async def run_seed(seed: int, databases: Databases, catalog: Catalog) -> SeedReport:
    """Play one seed to the end and check the invariants; never raises for a broken one."""
    report = SeedReport(seed)
    rng = random.Random(seed)
    faults = Faults.random(rng)
    broker = SimBroker(rng=random.Random(rng.random()), faults=faults)
    clock = FixedClock(START)
    await databases.reset()
    templates = databases.templates
    lms_spec = loan_disbursed_consumer(clock)
    los_spec = los_consumers()[0]
    lms = _Side(
        "lms",
        databases.engines["lms"],
        broker,
        rng,
        report,
        group_id=lms_spec.group_id,
        topic=LOAN_DISBURSED_TOPIC,
        handlers=lms_spec.handlers,
        batch_handlers=lms_spec.batch_handlers,
        batch_size=rng.choice([1, 2, 3, 500]),
    )
    los = _Side(
        "los",
        databases.engines["los"],
        broker,
        rng,
        report,
        group_id=los_spec.group_id,
        topic=LOAN_BOOKED_TOPIC,
        handlers=los_spec.handlers,
        batch_handlers=los_spec.batch_handlers,
        batch_size=rng.choice([1, 2, 3, 500]),
    )
    to_disburse = rng.sample(list(templates.application_ids), rng.randint(1, LOANS_AVAILABLE))
    loan_ids = {app_id: f"LN-{seed}-{i}" for i, app_id in enumerate(to_disburse)}
    report.loans = len(to_disburse)
    pending = list(to_disburse)
    try:
        await lms.start()
        await los.start()

        async def disburse() -> None:
            app_id = pending.pop(0)
            async with los.uow() as uow:
                await disburse_application(
                    uow, catalog, app_id, actor="sim", clock=clock, loan_id=loan_ids[app_id]
                )

        actions: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("los.relay", los.relay_step),
            ("lms.relay", lms.relay_step),
            ("lms.consume", lms.consume_step),
            ("los.consume", los.consume_step),
        ]
        for step in range(HOSTILE_STEPS):
            report.steps += 1
            broker.now += rng.choice([0.0, 0.5, 5.0, 30.0])
            clock.advance(timedelta(seconds=rng.choice([0, 1, 60])))
            if pending and rng.random() < 0.3:
                report.trace.append(f"{step}: disburse {pending[0]}")
                await disburse()
                continue
            name, action = rng.choice(actions)
            outcome = await action()
            report.trace.append(f"{step}: {name} -> {outcome}")

        # Heal: the transport keeps its promises again, nothing crashes, time moves on.
        broker.faults = Faults.none()
        broker.now += 1e6
        lms.hostile = los.hostile = False
        # A reordered batch may have committed less than it applied (the loop commits the
        # last record's offset); a restart re-reads from the commits, as after a rebalance.
        await lms.restart_member()
        await los.restart_member()
        while pending:
            await disburse()
        for _ in range(SETTLE_ROUNDS):
            moved = 0
            for name, action in actions:
                report.steps += 1
                outcome = await action()
                moved += int(outcome)
                report.trace.append(f"settle: {name} -> {outcome}")
            if moved == 0:
                break
        else:
            report.problems.append(f"did not settle in {SETTLE_ROUNDS} rounds")
        report.faults.update(broker.counts)
        report.faults["lms.duplicates_skipped"] += lms.processor.stats.duplicates
        report.faults["los.duplicates_skipped"] += los.processor.stats.duplicates
        await _check(report, los, lms, set(loan_ids.values()))
    except BaseException as exc:  # a bug in the code under test: report it with the seed
        if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError):
            raise
        report.problems.append(f"raised {type(exc).__name__}: {exc}")
    return report


async def _check(report: SeedReport, los: _Side, lms: _Side, expected: set[str]) -> None:
    problems = report.problems

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    disbursed = {
        r[0] for r in await los.rows("SELECT loan_id FROM applications WHERE loan_id IS NOT NULL")
    }
    expect(disbursed == expected, f"LOS disbursed {sorted(disbursed)}, expected {sorted(expected)}")

    booked = Counter(r[0] for r in await lms.rows("SELECT id FROM loans"))
    expect(set(booked) == expected, f"LMS booked {sorted(booked)}, expected {sorted(expected)}")
    expect(all(n == 1 for n in booked.values()), f"a loan booked twice: {booked}")
    applied = Counter(
        r[0]
        for r in await lms.rows("SELECT subject FROM inbox WHERE event_type LIKE '%Disbursed%'")
    )
    expect(applied == Counter(expected), f"LoanDisbursed applied {dict(applied)}")
    entries = Counter(
        r[0]
        for r in await lms.rows(
            "SELECT loan_id FROM journal_entries WHERE entry_type = 'disbursement'"
        )
    )
    expect(entries == Counter(expected), f"disbursement entries {dict(entries)}")

    statuses = Counter(
        r[0] for r in await los.rows("SELECT status FROM applications WHERE loan_id IS NOT NULL")
    )
    expect(statuses == Counter({"booked": len(expected)}), f"LOS statuses {dict(statuses)}")
    recorded = Counter(
        r[0] for r in await los.rows("SELECT subject FROM inbox WHERE event_type LIKE '%Booked%'")
    )
    expect(recorded == Counter(expected), f"LoanBooked recorded {dict(recorded)}")
    audited = Counter(
        r[0] for r in await los.rows("SELECT stream FROM audit_log WHERE action = 'loan_booked'")
    )
    expect(
        sorted(audited.values()) == [1] * len(expected), f"loan_booked audit rows {dict(audited)}"
    )

    for side, event_type in ((los, "%LoanDisbursed%"), (lms, "%LoanBooked%")):
        outbox = await side.rows(
            "SELECT aggregate_id, sequence, event_type, published_at FROM outbox"
        )
        per: dict[str, list[int]] = {}
        for aggregate, sequence, _, _ in outbox:
            per.setdefault(aggregate, []).append(int(sequence))
        gaps = {a: s for a, s in per.items() if sorted(s) != list(range(1, len(s) + 1))}
        expect(not gaps, f"{side.name} outbox sequence gaps: {gaps}")
        staged = Counter(
            r[0]
            for r in await side.rows(
                f"SELECT aggregate_id FROM outbox WHERE event_type LIKE '{event_type}'"
            )
        )
        expect(staged == Counter(expected), f"{side.name} staged {dict(staged)}")
        unsent = [r for r in outbox if r[3] is None]
        expect(not unsent, f"{side.name} outbox rows never published: {len(unsent)}")
        dead = await side.rows("SELECT error_code, reason FROM dead_letters")
        expect(not dead, f"{side.name} dead letters: {dead}")

    postings = await lms.rows("SELECT entry_id, side, amount FROM postings")
    per_entry: dict[int, Decimal] = {}
    for entry_id, side_name, amount in postings:
        signed = Decimal(str(amount)) * (1 if side_name == "debit" else -1)
        per_entry[entry_id] = per_entry.get(entry_id, Decimal(0)) + signed
    unbalanced = {e: d for e, d in per_entry.items() if d != 0}
    expect(bool(postings) and not unbalanced, f"unbalanced entries: {unbalanced}")

    for side in (lms, los):
        for tp in side.broker.topic_partitions([side.topic]):
            end = side.broker.end_offset(tp)
            done = side.broker.committed.get((side.group_id, tp), 0)
            expect(done == end, f"{side.name} group left {tp} at {done} of {end}")
