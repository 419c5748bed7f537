"""Leaving a unit of work: what was not committed is rolled back, and the connection goes back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from servicekit.db import UnitOfWorkFactory
from servicekit.outbox import utcnow
from servicekit.tables import IDEMPOTENCY_KEYS


def _key(scope: str) -> dict[str, object]:
    now = utcnow()
    return {
        "scope": scope,
        "request_hash": "h",
        "state": "in_flight",
        "created_at": now,
        "expires_at": now,
    }


async def _scopes(uow_factory: UnitOfWorkFactory) -> list[str]:
    async with uow_factory() as uow:
        found = await uow.session.scalars(
            select(IDEMPOTENCY_KEYS.c.scope).order_by(IDEMPOTENCY_KEYS.c.scope)
        )
        return list(found)


async def _insert_then_fail(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(IDEMPOTENCY_KEYS.insert().values(**_key("failed")))
        raise RuntimeError("boom")


def _checked_out(uow_factory: UnitOfWorkFactory) -> int:
    return int(uow_factory.engine.pool.checkedout())  # type: ignore[attr-defined]


async def test_work_left_uncommitted_is_rolled_back_and_the_connection_returned(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        await uow.session.execute(IDEMPOTENCY_KEYS.insert().values(**_key("kept")))
        await uow.commit()
    async with uow_factory() as uow:
        await uow.session.execute(IDEMPOTENCY_KEYS.insert().values(**_key("dropped")))
        assert _checked_out(uow_factory) == 1
    assert _checked_out(uow_factory) == 0
    with pytest.raises(RuntimeError, match="boom"):
        await _insert_then_fail(uow_factory)
    assert _checked_out(uow_factory) == 0
    assert await _scopes(uow_factory) == ["kept"]


async def test_a_committed_or_unused_unit_of_work_leaves_nothing_open(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        pass  # never used: no connection was taken
    assert _checked_out(uow_factory) == 0
    async with uow_factory() as uow:
        await uow.session.execute(IDEMPOTENCY_KEYS.insert().values(**_key("first")))
        await uow.commit()
        session = uow.session
    assert not session.in_transaction()
    assert _checked_out(uow_factory) == 0
    # The next unit of work on the same pool sees the committed row.
    async with uow_factory() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(IDEMPOTENCY_KEYS))
    assert count == 1
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session
