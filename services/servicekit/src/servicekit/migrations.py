"""Alembic driven from code: each service keeps its own history; tests and start-up call `upgrade`."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from servicekit.db import create_engine


def alembic_config(script_location: str, database_url: str) -> Config:
    """An Alembic config for a service's migrations package (e.g. 'los:migrations')."""
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


def upgrade(script_location: str, database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking; run outside an event loop)."""
    create_engine(database_url)  # creates the SQLite parent folder if needed
    command.upgrade(alembic_config(script_location, database_url), revision)


async def upgrade_async(script_location: str, database_url: str, revision: str = "head") -> None:
    """`upgrade` from inside an event loop."""
    await asyncio.to_thread(upgrade, script_location, database_url, revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's migrations/env.py: online migrations over the async driver."""
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        section: dict[str, Any] = {"sqlalchemy.url": url}
        engine = async_engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run(connection)
        return
    asyncio.run(run_async())


def create_infrastructure_tables() -> None:
    """In a service's first migration: the outbox, inbox, dead-letter and idempotency tables.

    Their one definition is servicekit.tables, so both services' histories create them alike.
    """
    from alembic import op

    from servicekit.tables import define_infrastructure_tables

    metadata = MetaData()
    define_infrastructure_tables(metadata)
    metadata.create_all(op.get_bind())


def drop_infrastructure_tables() -> None:
    """The reverse of create_infrastructure_tables, for a first migration's downgrade."""
    from alembic import op

    from servicekit.tables import define_infrastructure_tables

    metadata = MetaData()
    define_infrastructure_tables(metadata)
    metadata.drop_all(op.get_bind())
