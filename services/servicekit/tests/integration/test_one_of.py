"""`one_of`: the same rows as an IN list on both backends, one SQL text on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql

from servicekit.db import UnitOfWorkFactory, one_of
from servicekit.outbox import utcnow
from servicekit.tables import INBOX

IDS = [f"evt-{n}" for n in range(7)]


@pytest.mark.parametrize("wanted", [[], ["evt-3"], ["evt-0", "evt-6", "absent"], [*IDS, "x"]])
async def test_one_of_finds_what_an_in_list_finds(
    uow_factory: UnitOfWorkFactory, wanted: list[str]
) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(
            insert(INBOX),
            [
                {
                    "event_id": event_id,
                    "event_type": "t",
                    "topic": "t",
                    "partition": 0,
                    "offset": n,
                    "subject": "s",
                    "processed_at": utcnow(),
                }
                for n, event_id in enumerate(IDS)
            ],
        )
        await uow.commit()
    async with uow_factory() as uow:
        dialect = uow.session.get_bind().dialect.name
        ours = await uow.session.scalars(
            select(INBOX.c.event_id).where(one_of(INBOX.c.event_id, wanted, dialect))
        )
        theirs = await uow.session.scalars(
            select(INBOX.c.event_id).where(INBOX.c.event_id.in_(wanted))
        )
        assert sorted(ours.all()) == sorted(theirs.all()) == sorted(set(wanted) & set(IDS))


def test_on_postgresql_the_statement_text_does_not_change_with_the_count() -> None:
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]

    def sql(values: list[str]) -> str:
        stmt = select(INBOX.c.event_id).where(one_of(INBOX.c.event_id, values, "postgresql"))
        return str(stmt.compile(dialect=dialect))

    assert sql(["a"]) == sql(["a", "b", "c"]) == sql([f"v{n}" for n in range(500)])
    assert "ANY" in sql(["a"])
