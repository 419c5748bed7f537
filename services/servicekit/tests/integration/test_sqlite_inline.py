"""SQLite connections that run statements in place (servicekit.sqlite_inline).

The engine's SQLite connections run each call on the event loop's thread. When another
process (here: a plain sqlite3 connection) holds the file, a write waits in asyncio, so the
event loop keeps running, and goes through once the file is free; past the busy timeout it
fails with `database is locked`. Money and times keep every digit through the round trip.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.db import create_engine
from servicekit.sqlite_inline import InlineConnection, inline_creator, when_free
from servicekit.types import ExactDecimal, UTCDateTime

METADATA = MetaData()
T = Table(
    "t",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("who", String(20), nullable=False),
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "inline.db"


@pytest.fixture
async def engine(path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{path}")
    async with made.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield made
    await made.dispose()


@pytest.fixture
def other_process(path: Path, engine: AsyncEngine) -> Iterator[sqlite3.Connection]:
    """A connection from outside the engine (as another process's would be)."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    yield conn
    conn.close()


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(T.c.id))).all())


async def test_the_engine_runs_sqlite_in_place(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
        await conn.execute(insert(T), [{"who": "a"}, {"who": "b"}])
        await conn.commit()
        rows = (await conn.execute(select(T.c.who).order_by(T.c.id))).scalars().all()
        assert rows == ["a", "b"]
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_a_write_waits_for_another_process_without_holding_the_loop(
    engine: AsyncEngine, other_process: sqlite3.Connection
) -> None:
    other_process.execute("BEGIN IMMEDIATE")
    other_process.execute("INSERT INTO t (who) VALUES ('other')")

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(who="ours"))

    writer = asyncio.ensure_future(write())
    # The loop keeps running other tasks while the write waits for the file.
    for _ in range(5):
        await asyncio.sleep(0.01)
        assert not writer.done()
    other_process.execute("COMMIT")
    await writer
    async with engine.connect() as conn:
        rows = (await conn.execute(select(T.c.who).order_by(T.c.id))).scalars().all()
    assert rows == ["other", "ours"]


async def test_a_refused_first_write_starts_again_from_the_newest_state(
    engine: AsyncEngine, other_process: sqlite3.Connection
) -> None:
    """The retried write and what its transaction reads next include the other commit."""
    other_process.execute("BEGIN IMMEDIATE")
    other_process.execute("INSERT INTO t (who) VALUES ('first')")

    async def write() -> list[str]:
        async with engine.begin() as conn:
            await conn.execute(insert(T).values(who="second"))
            return list((await conn.execute(select(T.c.who).order_by(T.c.id))).scalars())

    writer = asyncio.ensure_future(write())
    await asyncio.sleep(0.02)
    other_process.execute("COMMIT")
    assert await writer == ["first", "second"]


async def test_a_file_held_past_the_busy_timeout_is_database_locked(
    path: Path, engine: AsyncEngine, other_process: sqlite3.Connection
) -> None:
    short = create_async_engine(
        f"sqlite+aiosqlite:///{path}", async_creator=inline_creator(str(path), 0.1)
    )
    try:
        other_process.execute("BEGIN IMMEDIATE")
        other_process.execute("INSERT INTO t (who) VALUES ('other')")
        async with short.connect() as conn:
            with pytest.raises(OperationalError, match="database is locked"):
                await conn.execute(insert(T).values(who="ours"))
            await conn.rollback()
        other_process.execute("ROLLBACK")
        async with short.begin() as conn:
            await conn.execute(insert(T).values(who="ours"))
        assert await _count(engine) == 1
    finally:
        await short.dispose()


async def test_money_and_times_keep_every_digit(engine: AsyncEngine) -> None:
    """The project's column types through these connections: no float on the way."""
    amounts = Table(
        "amounts",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("amount", ExactDecimal()),
        Column("rate", ExactDecimal()),
        Column("at", UTCDateTime()),
    )
    amount, rate = Decimal("123456789012345.67"), Decimal("0.0123456789")
    at = datetime(2026, 12, 7, 23, 59, 59, 999999, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.run_sync(amounts.metadata.create_all)
        await conn.execute(insert(amounts).values(amount=amount, rate=rate, at=at))
    async with engine.connect() as conn:
        row = (await conn.execute(select(amounts))).one()
    assert (row.amount, row.rate, row.at) == (amount, rate, at)
    assert str(row.amount) == "123456789012345.67"


def _busy(code: int) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


async def test_only_a_busy_file_is_tried_again() -> None:
    calls: list[int] = []

    def busy_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _busy(5)
        return "done"

    assert await when_free(busy_twice, 5) == "done"
    assert len(calls) == 3

    def stale_snapshot() -> None:
        calls.append(2)
        raise _busy(517)  # SQLITE_BUSY_SNAPSHOT: waiting cannot help

    with pytest.raises(sqlite3.OperationalError):
        await when_free(stale_snapshot, 5)
    assert calls.count(2) == 1

    def partly_written() -> None:
        calls.append(3)
        raise _busy(5)

    with pytest.raises(sqlite3.OperationalError):
        await when_free(partly_written, 5, may_retry=lambda: False)
    assert calls.count(3) == 1


class _RefusedAfter:
    """A cursor whose executemany writes `rows_first` rows, then meets a busy file once."""

    def __init__(self, real: sqlite3.Cursor, rows_first: int) -> None:
        self.real = real
        self.rows_first = rows_first
        self.calls = 0

    def executemany(self, sql: str, rows: list[tuple[str]]) -> None:
        self.calls += 1
        if self.calls == 1:
            for row in rows[: self.rows_first]:
                self.real.execute(sql, row)
            raise _busy(5)
        self.real.executemany(sql, rows[self.rows_first :])


@pytest.mark.parametrize(("rows_first", "calls", "stored"), [(0, 2, 3), (1, 1, 1)])
async def test_an_executemany_is_repeated_only_if_no_row_went_in(
    path: Path, engine: AsyncEngine, rows_first: int, calls: int, stored: int
) -> None:
    """In autocommit mode each row commits alone: a refusal after the first row is final."""
    connection = await inline_creator(str(path), 5)()
    try:
        raw = connection._open()
        raw.isolation_level = None
        cursor = connection.cursor()
        fake = _RefusedAfter(raw.cursor(), rows_first)
        cursor._cursor = fake  # type: ignore[assignment]
        rows = [("a",), ("b",), ("c",)]
        if calls == 1:
            with pytest.raises(sqlite3.OperationalError):
                await cursor.executemany("INSERT INTO t (who) VALUES (?)", rows)
        else:
            await cursor.executemany("INSERT INTO t (who) VALUES (?)", rows)
        assert fake.calls == calls
        assert await _count(engine) == stored
    finally:
        await connection.close()
