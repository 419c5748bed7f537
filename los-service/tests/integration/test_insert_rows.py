"""`servicekit.db.insert_rows`: new rows written without the unit of work's flush.

Checked against the ORM's own flush on both backends, with the LOS models: the same row
written both ways reads back the same, column for column; autoincrement keys come back in
order; a row written this way is then updated with the version check the ORM would apply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from los.adapters.orm import ApplicantRow, ApplicationRow, AuditRow
from servicekit.db import UnitOfWorkFactory, create_engine, insert_rows, is_foreign_key_violation

AT = datetime(2025, 3, 10, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
async def uow_factory(database_url: str) -> AsyncIterator[UnitOfWorkFactory]:
    engine = create_engine(database_url)
    yield UnitOfWorkFactory(engine)
    await engine.dispose()


def _applicant() -> ApplicantRow:
    return ApplicantRow(
        id="applicant-1",
        party_ref="PTY-1",
        first_name="Ada",
        last_name="Lovelace",
        date_of_birth=date(1985, 6, 15),
        national_id="***",
        national_id_key="US:123456789",
        email="ada@example.com",
        phone="+15551234567",
        address={"line1": "1 Main St", "country": "US"},
        employment_status="employed",
        monthly_income=Decimal("6000.00"),
        created_at=AT,
        created_by="agent",
    )


def _application(application_id: str) -> ApplicationRow:
    # Money beyond a binary float's 15-16 digits, so a lossy round trip would show.
    return ApplicationRow(
        id=application_id,
        applicant_id="applicant-1",
        product_code="PL-STD",
        product_version=3,
        requested_amount=Decimal("12345678901234.57"),
        currency="USD",
        term=24,
        purpose="home improvement",
        monthly_income=Decimal("6500.10"),
        monthly_obligations=Decimal("300.01"),
        status="draft",
        created_at=AT,
        created_by="agent",
        updated_at=AT,
        mismatches=["rate"],
    )


def _columns(row: ApplicationRow) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in ApplicationRow.__table__.columns if c.key != "id"}


async def test_a_row_reads_back_as_the_orm_flush_writes_it(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        uow.session.add(_applicant())
        uow.session.add(_application("by-flush"))
        await uow.session.flush()
        fresh = _application("by-insert")
        await insert_rows(uow.session, [fresh])
        # Every attribute is loaded: nothing is read again (no I/O outside the await).
        assert fresh.version == 1
        assert fresh.approved_amount is None
        assert fresh.loan_id is None
        await uow.commit()
    async with uow_factory() as uow:
        by_flush = await uow.session.get(ApplicationRow, "by-flush")
        by_insert = await uow.session.get(ApplicationRow, "by-insert")
        assert by_flush is not None
        assert by_insert is not None
        assert _columns(by_insert) == _columns(by_flush)
        assert by_insert.requested_amount == Decimal("12345678901234.57")
        assert by_insert.version == 1
        assert by_insert.created_at == AT


async def test_autoincrement_keys_come_back_in_row_order(uow_factory: UnitOfWorkFactory) -> None:
    rows = [
        AuditRow(
            stream="application:x",
            seq=seq,
            actor="agent",
            action=f"step-{seq}",
            at=AT,
            before=None,
            after={"n": seq},
            prev_hash="0" * 64,
            hash=f"{seq:064d}",
        )
        for seq in (1, 2, 3)
    ]
    async with uow_factory() as uow:
        await insert_rows(uow.session, rows)
        await uow.commit()
    assert all(isinstance(r.id, int) for r in rows)
    async with uow_factory() as uow:
        stored = (
            await uow.session.execute(select(AuditRow.id, AuditRow.seq, AuditRow.action))
        ).all()
    assert sorted(stored) == sorted((r.id, r.seq, r.action) for r in rows)


async def test_a_written_row_is_updated_under_its_version(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        uow.session.add(_applicant())
        await uow.session.flush()
        row = _application("app-1")
        await insert_rows(uow.session, [row])
        row.status = "submitted"
        await uow.commit()
        assert row.version == 2
    async with uow_factory() as uow:
        stored = await uow.session.get(ApplicationRow, "app-1")
        assert stored is not None
        assert (stored.status, stored.version) == ("submitted", 2)

    # Someone else moves the version on between this transaction's insert and its update.
    async with uow_factory() as uow:
        other = _application("app-2")
        await insert_rows(uow.session, [other])
        await uow.session.execute(
            update(ApplicationRow.__table__)
            .where(ApplicationRow.__table__.c.id == "app-2")
            .values(version=5)
        )
        other.status = "submitted"
        with pytest.raises(StaleDataError):
            await uow.session.flush()


async def test_nothing_to_write_is_no_statement(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await insert_rows(uow.session, [])
        assert not uow.session.new
        assert not uow.session.identity_map


async def test_a_missing_parent_is_told_apart_from_other_integrity_errors(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError) as orphan:
            await insert_rows(uow.session, [_application("no-applicant")])
        assert is_foreign_key_violation(orphan.value)
    async with uow_factory() as uow:
        uow.session.add(_applicant())
        await uow.session.flush()
        await insert_rows(uow.session, [_application("twice")])
        with pytest.raises(IntegrityError) as duplicate:
            await insert_rows(uow.session, [_application("twice")])
        assert not is_foreign_key_violation(duplicate.value)
