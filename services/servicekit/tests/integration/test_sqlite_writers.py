"""SQLite writers in one process take turns in arrival order (servicekit.sqlite_writers).

The turn is taken when SQLite's own write lock would be (the first INSERT, UPDATE or DELETE
of a transaction) and given back after COMMIT or ROLLBACK, or after each statement in
autocommit mode. Reads never take it. A writer kept waiting past the busy timeout gets
`database is locked`, as from SQLite itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from servicekit.db import create_engine
from servicekit.sqlite_writers import WriterQueue, writer_queue


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    async with made.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT NOT NULL)"))
    yield made
    await made.dispose()


def _queue(engine: AsyncEngine) -> WriterQueue:
    queue = writer_queue(engine)
    assert queue is not None
    return queue


async def test_the_turn_is_held_from_the_first_write_to_the_commit(engine: AsyncEngine) -> None:
    queue = _queue(engine)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT count(*) FROM t"))
        assert not queue.writing  # a read takes no turn
        await conn.execute(text("INSERT INTO t (who) VALUES ('a')"))
        assert queue.writing
        await conn.execute(text("SELECT count(*) FROM t"))
        await conn.execute(text("UPDATE t SET who = 'b'"))
        assert queue.writing
        await conn.commit()
        assert not queue.writing
        await conn.execute(text("DELETE FROM t"))
        assert queue.writing
        await conn.rollback()
        assert not queue.writing
        assert (await conn.execute(text("SELECT who FROM t"))).scalars().all() == ["b"]


async def test_autocommit_gives_the_turn_back_after_each_statement(engine: AsyncEngine) -> None:
    queue = _queue(engine)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text("INSERT INTO t (who) VALUES ('a')"))
        assert not queue.writing
        with pytest.raises(OperationalError):
            await conn.execute(text("INSERT INTO nowhere (who) VALUES ('b')"))
        assert not queue.writing
        await conn.execute(text("UPDATE t SET who = 'c'"))
        assert not queue.writing


async def test_a_connection_returned_mid_transaction_gives_the_turn_back(
    engine: AsyncEngine,
) -> None:
    queue = _queue(engine)
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (who) VALUES ('a')"))
        assert queue.writing
    # Returned to the pool without a commit: the pool rolled it back.
    assert not queue.writing
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (who) VALUES ('b')"))
        assert queue.writing
        await conn.invalidate()
    assert not queue.writing
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_waiting_writers_go_in_arrival_order(engine: AsyncEngine) -> None:
    queue = _queue(engine)
    order: list[str] = []

    async def writer(name: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (who) VALUES (:who)"), {"who": name})
            order.append(name)

    async with engine.connect() as first:
        await first.execute(text("INSERT INTO t (who) VALUES ('first')"))
        waiting = []
        for name in ("w1", "w2", "w3", "w4"):
            waiting.append(asyncio.ensure_future(writer(name)))
            # Each has reached the queue before the next starts.
            await asyncio.sleep(0.05)
        assert order == []
        assert queue.writing
        await first.commit()
    await asyncio.gather(*waiting)
    assert order == ["w1", "w2", "w3", "w4"]
    assert not queue.writing
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT who FROM t ORDER BY id"))).scalars().all() == [
            "first",
            "w1",
            "w2",
            "w3",
            "w4",
        ]


async def test_many_concurrent_transactions_all_commit(engine: AsyncEngine) -> None:
    async def writer(index: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT count(*) FROM t"))
            await conn.execute(text("INSERT INTO t (who) VALUES (:who)"), {"who": f"a{index}"})
            await asyncio.sleep(0)
            await conn.execute(text("INSERT INTO t (who) VALUES (:who)"), {"who": f"b{index}"})

    await asyncio.gather(*(writer(i) for i in range(100)))
    assert not _queue(engine).writing
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 200


async def test_a_writer_kept_waiting_past_the_timeout_gets_database_locked(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'short.db'}")
    queue = WriterQueue(engine, timeout_s=0.2)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        async with engine.connect() as holder:
            await holder.execute(text("INSERT INTO t DEFAULT VALUES"))
            async with engine.connect() as late:
                with pytest.raises(OperationalError, match="database is locked"):
                    await late.execute(text("INSERT INTO t DEFAULT VALUES"))
            assert queue.writing
            await holder.commit()
        assert not queue.writing
    finally:
        await engine.dispose()


def test_a_server_database_has_no_queue() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    assert writer_queue(engine) is None
