"""Test support both services use: fresh migrated databases on SQLite and PostgreSQL.

Each test gets its own database copied from a template migrated once per session
(`alembic upgrade head`, never `create_all`): a file copy on SQLite, `CREATE DATABASE
... TEMPLATE` on PostgreSQL. Every database created here is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

POSTGRES_ENV = "LENDING_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    """The PostgreSQL server tests may create databases on, if one is given."""
    return os.environ.get(POSTGRES_ENV) or None


def backends() -> list[str]:
    """Backends the database-backed tests run on."""
    return ["sqlite", "postgresql"] if postgres_admin_url() else ["sqlite"]


def _asyncpg_dsn(url: str) -> str:
    parts = urlsplit(url)
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database, with the asyncpg driver."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _pg_execute(admin_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@dataclass
class DatabaseFactory:
    """Hands out fresh copies of a migrated template database for one backend."""

    backend: str
    migrations: str
    workdir: Path
    _template: str | None = None
    _created: list[str] = field(default_factory=list)

    def _prefix(self) -> str:
        return f"lt_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    def template(self) -> str:
        """Migrate the template once (blocking)."""
        from servicekit.migrations import upgrade

        if self._template is not None:
            return self._template
        if self.backend == "sqlite":
            path = self.workdir / f"{self._prefix()}_template.db"
            upgrade(self.migrations, f"sqlite+aiosqlite:///{path}")
            self._template = str(path)
        else:
            admin = postgres_admin_url()
            assert admin, f"{POSTGRES_ENV} is not set"
            name = f"{self._prefix()}_tpl"
            _run(_pg_execute(admin, f'CREATE DATABASE "{name}"'))
            self._created.append(name)
            upgrade(self.migrations, with_database(admin, name))
            self._template = name
        return self._template

    def new_database(self) -> str:
        """A fresh migrated database URL (blocking)."""
        template = self.template()
        if self.backend == "sqlite":
            path = self.workdir / f"{self._prefix()}.db"
            shutil.copyfile(template, path)
            return f"sqlite+aiosqlite:///{path}"
        admin = postgres_admin_url()
        assert admin
        name = self._prefix()
        _run(_pg_execute(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self._created.append(name)
        return with_database(admin, name)

    def drop(self, url: str) -> None:
        """Drop one database made by `new_database`."""
        if self.backend == "sqlite":
            path = Path(url.partition(":///")[2])
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        name = urlsplit(url).path.lstrip("/")
        admin = postgres_admin_url()
        assert admin
        _run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self._created:
            self._created.remove(name)

    def close(self) -> None:
        """Drop every database still around, the template last."""
        if self.backend == "sqlite":
            return
        admin = postgres_admin_url()
        if not admin:
            return
        for name in reversed(self._created):
            _run(_pg_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._created.clear()


def database_factories(migrations: str, workdir: Path) -> Iterator[dict[str, DatabaseFactory]]:
    """A session-long set of factories, one per backend, cleaned up at the end."""
    factories = {b: DatabaseFactory(b, migrations, workdir) for b in backends()}
    try:
        yield factories
    finally:
        for factory in factories.values():
            factory.close()


_SPAN_EXPORTER: list[object] = []


def memory_span_exporter() -> InMemorySpanExporter:
    """An in-memory span exporter on this process's SDK tracer provider, emptied for a test.

    The global provider can be set only once per process: an SDK provider already there
    (a service's `configure_tracing`) gets the exporter added; otherwise one is installed.
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    if not _SPAN_EXPORTER:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _SPAN_EXPORTER.append(exporter)
    found = _SPAN_EXPORTER[0]
    assert isinstance(found, InMemorySpanExporter)
    found.clear()
    return found
