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
