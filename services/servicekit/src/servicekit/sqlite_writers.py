"""SQLite writers in one process take turns in arrival order instead of polling for the lock.

SQLite lets one connection at a time write to a database file. A connection that finds the
file locked can only try again later (SQLite's busy handler sleeps between tries, growing
from 1 ms to 100 ms; servicekit.sqlite_inline sleeps in asyncio): it does not wake when the
lock is freed, and nothing is first come first served. With a few requests writing at
once, a writer can sleep through many other writers' commits.

Here each engine on a SQLite file has one `asyncio.Lock` (FIFO), taken exactly when SQLite's
write lock is: the driver (pysqlite, in its default transaction mode) opens a transaction
before the first INSERT, UPDATE, DELETE or REPLACE outside one, and that is when a connection
takes its turn. The turn is given back once the transaction's COMMIT or ROLLBACK has run (a
connection in autocommit mode gives it back after each such statement), and the next waiting
writer starts at once. Reads never take a turn; under WAL they do not block writers.

So a writer of this engine never finds the file locked by another of its connections, and
waits here only when SQLite would have made it wait: a writer that has not gained its turn
after the busy timeout gets the same `database is locked` error SQLite gives. Writers in
other processes (or other engines) are still met at the file and waited for by trying
again.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_

#: The statements before which pysqlite opens a transaction (its `is_dml` test).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")
_HOLDS_TURN = "servicekit.sqlite_writer_turn"
_QUEUES: weakref.WeakKeyDictionary[Any, WriterQueue] = weakref.WeakKeyDictionary()


def writer_queue(engine: AsyncEngine) -> WriterQueue | None:
    """The engine's writer queue; None for an engine on a server database."""
    return _QUEUES.get(engine.sync_engine)


class WriterQueue:
    """One engine's writers, one at a time, first come first served."""

    def __init__(self, engine: AsyncEngine, timeout_s: float) -> None:
        self._lock = asyncio.Lock()
        self._timeout_s = timeout_s
        sync_engine = engine.sync_engine
        _QUEUES[sync_engine] = self
        self._dialect: Dialect = sync_engine.dialect
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        event.listen(sync_engine, "after_cursor_execute", self._after_execute)
        event.listen(sync_engine, "handle_error", self._on_error)
        # COMMIT and ROLLBACK (including the pool's rollback when a connection comes back)
        # go through the dialect: the turn is given back after them, not before.
        commit, rollback = self._dialect.do_commit, self._dialect.do_rollback

        def do_commit(dbapi_connection: PoolProxiedConnection) -> None:
            commit(dbapi_connection)
            self._give_back(_info(dbapi_connection))

        def do_rollback(dbapi_connection: PoolProxiedConnection) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self._give_back(_info(dbapi_connection))

        self._dialect.do_commit = do_commit  # type: ignore[method-assign]
        self._dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        # A connection closed or discarded ends its transaction with it.
        for name in ("checkin", "invalidate", "close", "detach"):
            event.listen(sync_engine.pool, name, self._on_pool_event)

    @property
    def writing(self) -> bool:
        """Whether some connection holds the turn (for tests)."""
        return self._lock.locked()

    def _before_execute(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        info = conn.info
        if info.get(_HOLDS_TURN) or not statement.lstrip()[:6].upper().startswith(_WRITES):
            return
        await_(self._take_turn())
        info[_HOLDS_TURN] = True

    async def _take_turn(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._lock.acquire()
        except TimeoutError:
            raise self._dialect.loaded_dbapi.OperationalError("database is locked") from None

    def _after_execute(self, conn: Connection, *_: Any) -> None:
        if conn.info.get(_HOLDS_TURN) and _autocommit(conn):
            self._give_back(conn.info)

    def _on_error(self, context: Any) -> None:
        conn = context.connection
        if conn is not None and not conn.closed and _autocommit(conn):
            self._give_back(conn.info)

    def _on_pool_event(self, _dbapi_connection: Any, record: ConnectionPoolEntry, *_: Any) -> None:
        self._give_back(record.info)

    def _give_back(self, info: dict[Any, Any] | None) -> None:
        if info is not None and info.pop(_HOLDS_TURN, False) and self._lock.locked():
            self._lock.release()


def _info(dbapi_connection: PoolProxiedConnection) -> dict[Any, Any] | None:
    """The pooled connection's info; None for the engine's first, unpooled connection."""
    try:
        return dbapi_connection.info
    except NotImplementedError:
        return None


def _autocommit(conn: Connection) -> bool:
    return conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
