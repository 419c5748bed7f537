"""SQLite connections that run each statement on the event loop's thread.

The aiosqlite driver gives every connection a thread and hands each call to it: creating a
cursor, executing, fetching and closing are four hand-offs per statement, each a queue put,
a thread wake-up, the GIL changing hands and a wake-up of the event loop through its
self-pipe. SQLite itself answers a typical statement here in tens of microseconds, so the
hand-offs cost more than the work. Under load they also stretch every write transaction
(SQLite's one writer at a time holds the file while its connection's results wait for the
loop), which caps how many transactions a second the file can take.

These connections offer the part of aiosqlite's interface SQLAlchemy's aiosqlite dialect
uses (the engine is built with `async_creator`), and run each call at once, in place. Two
things keep the event loop from ever waiting on SQLite:

- in this process, writers take turns in an `asyncio` queue (servicekit.sqlite_writers)
  before SQLite's write lock is asked for, so a writer never finds the file locked by
  another connection of the same engine;
- SQLite's busy timeout is zero: when another process (or another engine) holds the file,
  the call fails at once with `SQLITE_BUSY` and is tried again after an `asyncio` sleep
  (1 ms, doubling up to 20 ms), until the busy timeout of `busy_timeout_s` has passed; then
  the error stands (`database is locked`), as with SQLite's own busy handler.

A statement is tried again only where no row can have changed: SQLite refuses a statement
that cannot get its lock before it changes anything, and an `executemany` is tried again
only if the connection's change count shows that none of its rows went in. A write refused
inside a transaction is that transaction's first statement (the driver opens it just before
its first INSERT, UPDATE or DELETE, and reads before that run outside it), and SQLite lets
go of the refused statement's snapshot, so the retry reads the newest committed state.
Nothing else runs on the connection while it waits. A COMMIT refused for a busy file is
retried as it stands.

The trade-off: a long statement (a report over a large portfolio) holds the event loop
for its duration, where the threaded driver held only its own request. SQLite serves the
embedded, single-node setup; PostgreSQL serves production.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")
#: SQLite's primary result code for "the database file is locked" (extended codes in the
#: high bits: SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT).
_SQLITE_BUSY = 5
#: A read snapshot that is out of date for writing: waiting does not help.
_SQLITE_BUSY_SNAPSHOT = 517
_FIRST_PAUSE_S = 0.001
_LONGEST_PAUSE_S = 0.02


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


async def when_free(
    function: Callable[[], _T],
    busy_timeout_s: float,
    *,
    may_retry: Callable[[], bool] | None = None,
) -> _T:
    """Call `function`; while it meets a locked file, call it again after short sleeps."""
    deadline: float | None = None
    pause = _FIRST_PAUSE_S
    while True:
        try:
            return function()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or (may_retry is not None and not may_retry()):
                raise
            now = asyncio.get_running_loop().time()
            if deadline is None:
                deadline = now + busy_timeout_s
            elif now >= deadline:
                raise
        await asyncio.sleep(min(pause, max(deadline - now, 0)))
        pause = min(pause * 2, _LONGEST_PAUSE_S)


class InlineCursor:
    """A sqlite3 cursor behind aiosqlite's cursor interface; every call runs in place."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._open().cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = self._cursor
        await when_free(
            lambda: cursor.execute(sql, parameters or ()), self._connection.busy_timeout_s
        )
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        rows = list(parameters)
        conn = self._connection._open()
        changes = conn.total_changes
        await when_free(
            lambda: self._cursor.executemany(sql, rows),
            self._connection.busy_timeout_s,
            may_retry=lambda: conn.total_changes == changes,
        )
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's call queue (SQLAlchemy sets the isolation level through it)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection:
    """A sqlite3 connection behind aiosqlite's connection interface."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout_s: float) -> None:
        self._conn: sqlite3.Connection | None = conn
        self.busy_timeout_s = busy_timeout_s
        self._tx = _RunNow()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """Set while open (SQLAlchemy checks it before a commit or rollback)."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")
        return self._conn

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        conn = self._open()
        await when_free(conn.commit, self.busy_timeout_s)

    async def rollback(self) -> None:
        self._open().rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close without awaiting (a connection dropped by the pool's garbage collection)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)


def inline_creator(
    database: str, busy_timeout_s: float
) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for `create_async_engine` opening `database` (a path or `:memory:`)."""

    async def connect() -> InlineConnection:
        # timeout=0: a locked file fails at once and the wait happens in asyncio (above).
        conn = sqlite3.connect(database, timeout=0, check_same_thread=False, cached_statements=256)
        return InlineConnection(conn, busy_timeout_s)

    return connect
