"""Helpers every use case shares."""

from __future__ import annotations

from sqlalchemy.orm.exc import StaleDataError

from los.domain.errors import ConcurrentUpdateError
from servicekit.db import UnitOfWork


async def commit(uow: UnitOfWork) -> None:
    """Commit once; a lost optimistic-locking race becomes ConcurrentUpdateError."""
    try:
        await uow.commit()
    except StaleDataError as exc:
        await uow.rollback()
        raise ConcurrentUpdateError(
            "The application was changed by someone else; read it again and retry."
        ) from exc


async def flush(uow: UnitOfWork) -> None:
    """Flush staged changes early, with the same race handling as commit."""
    try:
        await uow.session.flush()
    except StaleDataError as exc:
        await uow.rollback()
        raise ConcurrentUpdateError(
            "The application was changed by someone else; read it again and retry."
        ) from exc
