"""Async engine, sessions and the unit of work: services never commit, the unit of work does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

OUTBOX_WRITTEN = "outbox_written"


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Build the async engine; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        _, _, path = url.partition(":///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether an error is the database being unreachable or busy, worth a retry."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | SAInterfaceError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return True
    name = type(exc).__name__
    return name in {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "ConnectionFailureError",
    }


async def ping(engine: AsyncEngine) -> None:
    """Run a trivial query; raises when the database is unreachable."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


class UnitOfWork:
    """One transaction: use cases stage changes, the caller commits once.

    After a commit that wrote outbox rows the registered callbacks run, so an
    in-process relay wakes at once instead of waiting for its next poll.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_outbox_commit: Callable[[], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._on_outbox_commit = on_outbox_commit
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session; only valid inside `async with`."""
        if self._session is None:
            raise RuntimeError("unit of work is not open")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self._session_factory()
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        try:
            if session.in_transaction():
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def commit(self) -> None:
        """Commit the transaction and wake the relay if events were staged."""
        session = self.session
        wrote_outbox = bool(session.info.pop(OUTBOX_WRITTEN, False))
        await session.commit()
        if wrote_outbox and self._on_outbox_commit is not None:
            self._on_outbox_commit()

    async def rollback(self) -> None:
        """Discard everything staged in this unit of work."""
        self.session.info.pop(OUTBOX_WRITTEN, None)
        await self.session.rollback()


class UnitOfWorkFactory:
    """Builds units of work bound to one engine; the app keeps one of these."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.session_factory = create_session_factory(engine)
        self._listeners: list[Callable[[], None]] = []

    def on_outbox_commit(self, callback: Callable[[], None]) -> None:
        """Register a callback run after each commit that staged outbox rows."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, on_outbox_commit=self._notify)
