"""Async engine, sessions and the unit of work: services never commit, the unit of work does.

Dead connections: there is no pre-ping (a `BEGIN`, a query and a `ROLLBACK`, three round
trips on every checkout). Instead a pooled connection is checked locally when it is checked
out: the driver marks a connection closed as soon as the server closes it (a restart, a
fast shutdown, `pg_terminate_backend`, an idle timeout), so such a connection is replaced
with a fresh one before anyone uses it, at no cost. A connection that dies without the
server closing it is found by its first statement's error: SQLAlchemy then invalidates it
and every pooled connection opened before it, and the request gets a 503
`database_unavailable` (servicekit.errors).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from sqlalchemy import ColumnElement, Table, any_, event, insert, inspect, literal, make_url, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from servicekit.sqlite_inline import inline_creator
from servicekit.sqlite_writers import WriterQueue

OUTBOX_WRITTEN = "outbox_written"
#: How long a SQLite writer waits for the database file before `database is locked`.
_SQLITE_BUSY_S = 30


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """Build the async engine.

    SQLite gets WAL, foreign keys, connections that run each statement in place
    (servicekit.sqlite_inline) and writers queued in the process (servicekit.sqlite_writers).

    On a server database the pool holds up to `2 * pool_size` connections and keeps them
    all open once opened. (It used to be `pool_size` kept plus as many again as overflow,
    the same ceiling; but under load the overflow connections were closed on return and
    opened again moments later, each time paying a connect, the driver's type
    introspection and the re-preparation of every statement.)
    """
    if url.startswith("sqlite"):
        engine = sqlite_engine(url, echo=echo)
        WriterQueue(engine, timeout_s=_SQLITE_BUSY_S)
        return engine
    engine = create_async_engine(url, echo=echo, pool_size=2 * pool_size, max_overflow=0)
    event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
    return engine


def sqlite_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """A SQLite engine as `create_engine` builds it, without the writer queue (which
    `create_engine` adds; the writer-queue benchmark's baseline uses this alone)."""
    database = make_url(url).database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, async_creator=inline_creator(database, _SQLITE_BUSY_S)
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def one_of(column: ColumnElement[Any], values: Sequence[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN (values)` whose SQL text does not depend on how many values there are.

    On PostgreSQL the values travel as one array parameter (`= ANY($1)`), so a batch of
    any size reuses one prepared statement; an expanded IN list is a new statement, parsed
    and prepared again, for every new count. SQLite has no arrays: there it is an IN list.
    """
    if dialect == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(list(values))


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    """What writing one mapped class's new rows needs, worked out once per class."""

    attributes: tuple[str, ...]  # every column attribute, the key's included
    columns: tuple[str, ...]  # their column names, the statement's parameter names
    version: str | None  # the version counter's attribute
    serial: str | None  # the autoincrement key's attribute
    serial_column: str | None  # and its column
    statement: Any  # INSERT of every column
    returning: Any  # INSERT of every column but the key, RETURNING the key

    @classmethod
    def of(cls, model: type[Any]) -> _InsertPlan:
        mapper = inspect(model)
        table: Table = mapper.local_table
        props = list(mapper.column_attrs)
        serial = table.autoincrement_column
        version = mapper.version_id_col
        returning = None
        if serial is not None:
            returning = insert(table).returning(serial, sort_by_parameter_order=True)
        return cls(
            attributes=tuple(p.key for p in props),
            columns=tuple(p.columns[0].key for p in props),
            version=None if version is None else mapper.get_property_by_column(version).key,
            serial=None if serial is None else mapper.get_property_by_column(serial).key,
            serial_column=None if serial is None else serial.key,
            statement=insert(table),
            returning=returning,
        )


_INSERT_PLANS: dict[type[Any], _InsertPlan] = {}


async def insert_rows(session: AsyncSession, rows: Sequence[Any]) -> None:
    """Write new mapped rows at once with one Core INSERT per model, in the session's
    transaction, and keep them in the session as loaded rows.

    The unit of work's flush costs several times its INSERT statement (state tracking,
    dependency sorting, history bookkeeping), and most of a request's writes are new rows
    nobody changes afterwards. Each row goes in exactly as it stands: every column is sent,
    unset attributes as NULL (no column default of the model applies); a version counter
    left unset starts at 1, as the ORM would start it; an unset autoincrement key is taken
    from the INSERT's RETURNING. Afterwards each row is persistent in the session as if
    just loaded, so later changes to it are flushed as UPDATEs (version-checked where the
    model has a version counter).
    """
    by_model: dict[type[Any], list[Any]] = {}
    for row in rows:
        by_model.setdefault(type(row), []).append(row)
    for model, group in by_model.items():
        plan = _INSERT_PLANS.get(model)
        if plan is None:
            plan = _INSERT_PLANS[model] = _InsertPlan.of(model)
        fill = plan.serial is not None and any(
            row.__dict__.get(plan.serial) is None for row in group
        )
        params = []
        for row in group:
            # The instance's own dict: a transient row has no history to keep, and an
            # attribute left out of it would be expired by the attach below (read again).
            loaded = row.__dict__
            for attr in plan.attributes:
                if attr not in loaded:
                    loaded[attr] = None
            if plan.version is not None and loaded[plan.version] is None:
                loaded[plan.version] = 1
            values = dict(zip(plan.columns, [loaded[a] for a in plan.attributes], strict=True))
            if fill and plan.serial_column is not None:
                del values[plan.serial_column]  # the INSERT's RETURNING gives it
            params.append(values)
        statement = plan.returning if fill else plan.statement
        # One row: a plain execute; more: one executemany (insertmanyvalues batches them).
        result = await session.execute(statement, params[0] if len(params) == 1 else params)
        if fill:
            for row, (value,) in zip(group, result.all(), strict=True):
                row.__dict__[plan.serial] = value
    for row in rows:
        make_transient_to_detached(row)
        session.add(row)


#: SQLSTATE of a foreign key violation (PostgreSQL), and SQLite's extended result code for it.
_PG_FOREIGN_KEY_VIOLATION = "23503"
_SQLITE_CONSTRAINT_FOREIGNKEY = 787


def is_foreign_key_violation(exc: BaseException) -> bool:
    """Whether a statement failed because a row it wrote refers to a row that is not there."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    if _PG_FOREIGN_KEY_VIOLATION in (
        getattr(orig, "pgcode", None),
        getattr(orig, "sqlstate", None),
    ):
        return True
    return getattr(orig, "sqlite_errorcode", None) == _SQLITE_CONSTRAINT_FOREIGNKEY


def driver_connection_closed(record: ConnectionPoolEntry) -> bool:
    """Whether the driver already knows this pooled connection is closed (no round trip).

    asyncpg notices the server closing the socket at once (`is_closed()`); psycopg keeps a
    `closed` flag. Other drivers answer False and rely on invalidation on first error.
    """
    driver = record.driver_connection
    is_closed = getattr(driver, "is_closed", None)
    if callable(is_closed):
        return bool(is_closed())
    closed = getattr(driver, "closed", False)
    return closed if isinstance(closed, bool) else False


def _replace_closed_connection(
    _dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Checkout hook: a connection the server has closed is swapped for a fresh one."""
    if driver_connection_closed(record):
        # The pool invalidates this connection and connects again (up to twice).
        raise DisconnectionError("the server closed this pooled connection")


class DriverStatement:
    """A Core statement compiled once, to run on a pooled connection's own asyncpg connection.

    For the hottest single statements in autocommit mode (the idempotency claim and
    completion of every POST): an autocommit `Connection` spends most of such a statement's
    cost in SQLAlchemy (checkout characteristics, execution context, result), about 2.5 to
    3 times what the driver itself takes (docs/PERFORMANCE.md). The SQL is SQLAlchemy's own
    compilation and every parameter is bound as SQLAlchemy binds it: fixed values from the
    statement, each parameter type's bind processor (a TypeDecorator's included).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        self._fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
        self._processors = {
            name: processor
            for name, bind in binds.items()
            if (processor := bind.type.bind_processor(dialect)) is not None
        }

    def arguments(self, params: dict[str, Any]) -> list[Any]:
        """The positional arguments for `params` (by bind parameter name)."""
        values = self._fixed | params
        processors = self._processors
        return [
            processors[name](values[name]) if name in processors else values[name]
            for name in self._names
        ]


async def fetch_row_on_driver(
    engine: AsyncEngine, statement: DriverStatement, params: dict[str, Any]
) -> Any:
    """Run one statement in autocommit mode on a pooled asyncpg connection; its first row.

    The connection comes from and goes back to the engine's pool, with no transaction
    opened (asyncpg outside a transaction block commits each statement). A statement that
    fails or is cancelled leaves the connection in an unknown state: it is closed, never
    handed out again.
    """
    pooled = await engine.raw_connection()
    driver: Any = pooled.driver_connection
    try:
        return await driver.fetchrow(statement.sql, *statement.arguments(params))
    except BaseException:
        pooled.invalidate()
        raise
    finally:
        pooled.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


_TRANSIENT_DRIVER_ERRORS = frozenset(
    {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "ConnectionFailureError",
    }
)


def is_transient_db_error(exc: BaseException) -> bool:
    """Whether an error is the database being unreachable or busy, worth a retry."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | SAInterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | OSError):
        return True
    if type(exc).__name__ in _TRANSIENT_DRIVER_ERRORS:
        return True
    # SQLAlchemy wraps the driver's error (for asyncpg, a DB-API error caused by asyncpg's).
    original: BaseException | None = exc.orig if isinstance(exc, DBAPIError) else None
    for _ in range(4):
        if original is None:
            break
        if type(original).__name__ in _TRANSIENT_DRIVER_ERRORS:
            return True
        original = original.__cause__
    return False


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
        # The session begins its transaction on first use (autobegin): an explicit begin
        # here cost a greenlet hand-off on every request, even those that read nothing.
        self._session = self._session_factory()
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
                # Closing rolls back the open transaction and gives the connection back:
                # one hand-off to SQLAlchemy's greenlet, not one for a rollback and one more.
                await session.close()
            else:
                # Committed or never used: no transaction and no connection, so closing
                # does no I/O and needs no hand-off to the greenlet.
                session.sync_session.close()
        finally:
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
        # The same pool, with each statement its own transaction: no BEGIN and COMMIT round
        # trips, for single statements that need no transaction around them.
        self.autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
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
