"""The migrated schema is exactly what the ORM describes, on every backend."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from lms.adapters.orm import Base
from servicekit.db import create_engine

pytestmark = pytest.mark.integration


async def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def diff(sync_conn):
                context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
                return compare_metadata(context, Base.metadata), inspect(
                    sync_conn
                ).get_table_names()

            changes, tables = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert changes == []
    expected = {"loans", "loan_fees", "installments", "journal_entries", "postings"}
    expected |= {"outbox", "inbox", "dead_letters", "idempotency_keys"}
    assert expected <= set(tables)


async def test_postgresql_keeps_room_on_the_page_for_nightly_updates(database_url):
    # Migration 0011: loans and installments leave room for HOT updates; SQLite has no
    # storage parameters.
    if not database_url.startswith("postgresql"):
        pytest.skip("storage parameters are PostgreSQL's")
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT relname, reloptions FROM pg_class"
                " WHERE relname IN ('loans', 'installments', 'charges') AND relkind = 'r'"
            )
            options = {name: opts for name, opts in rows.all()}
    finally:
        await engine.dispose()
    assert options == {
        "loans": ["fillfactor=80"],
        "installments": ["fillfactor=90"],
        "charges": None,
    }
